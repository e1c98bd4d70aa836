"""Start and stop the local standalone cluster (JobManager + TaskManagers on 127.0.0.1)."""

from __future__ import annotations

import time
import urllib.parse
from pathlib import Path

from jobs.ops.flink_conf import flink_env, render_conf, state_overrides
from jobs.ops.flink_dist import ClusterError, ClusterPaths, flink_home, rest_url, run_script
from jobs.ops.rest import cluster_running
from jobs.settings import Settings


def start_cluster(settings: Settings, *, timeout: float = 120.0) -> float:
    """Render the conf into ``var/flink-conf`` and start a JobManager + TaskManager on 127.0.0.1.

    Returns:
        Seconds until the REST API answered with a registered TaskManager.

    Raises:
        ClusterError: a cluster already answers on the REST port, or start-up timed out.
    """
    paths = ClusterPaths.of(settings)
    if cluster_running():
        raise ClusterError(
            f"a Flink cluster already answers on {rest_url()}; stop it first (cluster stop)"
        )
    port = urllib.parse.urlsplit(rest_url()).port or 8081
    overrides = state_overrides(settings)
    if port != 8081:
        overrides["rest.port"] = port
    render_conf(paths.var_dir, paths.conf_dir, overrides=overrides)
    started = time.monotonic()
    paths.run_dir.mkdir(parents=True, exist_ok=True)
    run_script(
        [str(flink_home() / "bin" / "start-cluster.sh")],
        flink_env(settings),
        60,
        "start-cluster.sh",
        cwd=daemon_cwd(paths),
    )
    deadline = started + timeout
    while time.monotonic() < deadline:
        if cluster_running():
            return time.monotonic() - started
        time.sleep(0.3)
    raise ClusterError(
        f"the cluster did not come up within {timeout:.0f} s; read the logs in {paths.log_dir}"
    )


def daemon_cwd(paths: ClusterPaths) -> Path:
    """The working directory of the cluster's daemons: the cluster's own run directory.

    Never the project: a TaskManager's Python workers start as ``python -m ...`` in the
    TaskManager's working directory, which Python puts first on ``sys.path``, ahead of the
    release the job shipped. Started in the work tree, the workers of every job ran the work
    tree's ``jobs`` package, not their release's: after a change of the work tree a restarted
    job of an older release failed (``No module named 'jobs.sinks'``), and a rollback would have
    run new code.
    """
    return paths.run_dir


def stop_cluster(settings: Settings, *, timeout: float = 60.0) -> float:
    """Stop the local cluster started by :func:`start_cluster`; returns the seconds it took."""
    paths = ClusterPaths.of(settings)
    started = time.monotonic()
    if not paths.conf_dir.joinpath("config.yaml").exists():
        return 0.0
    run_script(
        [str(flink_home() / "bin" / "stop-cluster.sh")],
        flink_env(settings),
        timeout,
        "stop-cluster.sh",
        cwd=daemon_cwd(paths),
    )
    while time.monotonic() - started < timeout and _daemon_pids(paths):
        time.sleep(0.3)
    return time.monotonic() - started


def _daemon_pids(paths: ClusterPaths) -> list[int]:
    """Pids recorded by flink-daemon.sh under the project pid dir that are still alive."""
    pids = []
    for pid_file in paths.run_dir.glob("*.pid"):
        for line in pid_file.read_text().split():
            if line.isdigit() and Path(f"/proc/{line}").exists():
                pids.append(int(line))
    return pids


def taskmanager_pids(settings: Settings) -> list[int]:
    """Live TaskManager pids of the local cluster (tests kill one to simulate a crash)."""
    paths = ClusterPaths.of(settings)
    pids = []
    for pid_file in paths.run_dir.glob("*taskexecutor*.pid"):
        pids += [
            int(p)
            for p in pid_file.read_text().split()
            if p.isdigit() and Path(f"/proc/{p}").exists()
        ]
    return pids


def start_taskmanager(settings: Settings) -> None:
    """Start one more TaskManager (e.g. after killing one); a standalone cluster never does."""
    paths = ClusterPaths.of(settings)
    paths.run_dir.mkdir(parents=True, exist_ok=True)
    run_script(
        [str(flink_home() / "bin" / "taskmanager.sh"), "start"],
        flink_env(settings),
        60,
        "taskmanager.sh start",
        cwd=daemon_cwd(paths),
    )
