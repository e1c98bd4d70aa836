"""A private network namespace for test runs (PyFlink's Python runtime listens on all interfaces).

Nothing started inside (cluster, Python workers, brokers) is reachable from outside the machine or
from other processes, and its ports cannot collide with anything outside.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from jobs.ops.flink_dist import ClusterError

NETNS_MARKER = "NETPULSE_IN_PRIVATE_NETNS"


def netns_available() -> bool:
    """True when ``unshare --net`` works here (root, or user namespaces allowed)."""
    if os.environ.get(NETNS_MARKER) == "1":
        return True
    if not shutil.which("unshare") or not shutil.which("ip"):
        return False
    try:
        proc = subprocess.run(
            ["unshare", "--net", "--", "ip", "link", "set", "lo", "up"],
            capture_output=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


def in_private_netns() -> bool:
    """True inside a namespace made by :func:`netns_command`."""
    return os.environ.get(NETNS_MARKER) == "1"


def netns_command(argv: Sequence[str]) -> list[str]:
    """``argv`` wrapped to run in a fresh network namespace with only loopback up.

    Nothing started inside (cluster, Python workers, brokers) is reachable from outside the
    machine or from other processes, and its ports cannot collide with anything outside.
    Every process inside must be stopped before the command returns: a namespace lives as long
    as any process in it.
    """
    return [
        "unshare",
        "--net",
        "--",
        "sh",
        "-c",
        f'ip link set lo up && export {NETNS_MARKER}=1 && exec "$@"',
        "netns",
        *argv,
    ]


def run_isolated(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 600.0,
    require: bool = False,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` in a private network namespace when available, else directly.

    Args:
        argv: the command.
        env: its environment (default: this process's).
        timeout: seconds before it is killed.
        require: raise instead of falling back when namespaces are not permitted.
        cwd: working directory.
    """
    isolated = netns_available() and not in_private_netns()
    if require and not (isolated or in_private_netns()):
        raise ClusterError("unshare --net is not permitted here (needs root or user namespaces)")
    cmd = netns_command(argv) if isolated else list(argv)
    return subprocess.run(
        cmd,
        env=dict(env) if env is not None else None,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=cwd,
    )
