"""The Flink distribution this project drives: where it is, its paths, its scripts.

Wraps the real Flink CLI that ships inside the ``apache-flink`` wheel (``pyflink/bin``): nothing
in the venv is edited; ``FLINK_CONF_DIR``, ``FLINK_LOG_DIR`` and the pid directory point at
project folders under ``var/``. Every server binds 127.0.0.1 (PyFlink's Python workers are the
exception, see docs/operations.md).
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from jobs import settings as settings_module
from jobs.settings import Settings

DEFAULT_REST_URL = "http://127.0.0.1:8081"
REST_URL_ENV = settings_module.FLINK_REST_URL_VAR


class ClusterError(RuntimeError):
    """The Flink CLI or REST API did not do what was asked; the message says what to check."""

    def __init__(self, message: str, output: str = "") -> None:
        super().__init__(message)
        self.output = output  # the full CLI output, when a CLI call failed


class IncompatiblePlanError(ClusterError):
    """A new job version cannot restore the savepoint of the running one."""


class StartFailedError(ClusterError):
    """A new job version failed to start from the savepoint (not a plan incompatibility)."""


@dataclass(frozen=True)
class ClusterPaths:
    """Every local folder the cluster and the deploy tooling use, all under ``var_dir``."""

    var_dir: Path

    @property
    def conf_dir(self) -> Path:
        return self.var_dir / "flink-conf"

    @property
    def log_dir(self) -> Path:
        return self.var_dir / "flink-log"

    @property
    def run_dir(self) -> Path:
        return self.var_dir / "flink-run"

    @property
    def tmp_dir(self) -> Path:
        return self.var_dir / "flink-tmp"

    @property
    def checkpoints(self) -> Path:
        return self.var_dir / "flink-checkpoints"

    @property
    def savepoints(self) -> Path:
        return self.var_dir / "flink-savepoints"

    @property
    def plugins(self) -> Path:
        return self.var_dir / "flink-plugins"

    @property
    def releases(self) -> Path:
        return self.var_dir / "releases"

    @property
    def ledger(self) -> Path:
        return self.var_dir / "deployments.jsonl"

    @classmethod
    def of(cls, settings: Settings) -> ClusterPaths:
        return cls(Path(settings.var_dir).resolve())


FLINK_HOME_ENV = settings_module.FLINK_HOME_VAR


def flink_home() -> Path:
    """The Flink distribution whose CLI and scripts are used.

    ``NETPULSE_FLINK_HOME`` when set (the image's /opt/flink, whose lib/ holds the Kafka
    connector the client needs to plan a Kafka source), else the one inside the installed
    ``apache-flink`` wheel.
    """
    override = settings_module.flink_home_override()
    if override:
        home = Path(override)
        if not (home / "bin" / "flink").exists():
            raise ClusterError(
                f"{FLINK_HOME_ENV}={override}: no bin/flink there; unset it or fix it"
            )
        return home
    spec = importlib.util.find_spec("pyflink")
    if spec is None or spec.origin is None:
        raise ClusterError("pyflink is not installed in this interpreter; install apache-flink")
    home = Path(spec.origin).parent
    if not (home / "bin" / "flink").exists():
        raise ClusterError(f"{home}/bin/flink is missing: the apache-flink install is incomplete")
    return home


def flink_version() -> str:
    """Version of the Flink distribution (from the flink-dist jar name)."""
    jars = sorted((flink_home() / "lib").glob("flink-dist-*.jar"))
    return jars[0].stem.removeprefix("flink-dist-") if jars else "unknown"


def python_executable() -> str:
    """The interpreter Flink should use for clients and workers: this venv's python."""
    # sys.executable of a venv is a symlink into the base install; keep the venv path so the
    # venv's site-packages (pyflink, the project deps) are on the workers' path.
    return (
        str(Path(sys.prefix) / "bin" / "python")
        if sys.prefix != sys.base_prefix
        else sys.executable
    )


def rest_url() -> str:
    """Base URL of the JobManager REST API (``NETPULSE_FLINK_REST_URL``, default loopback)."""
    return (settings_module.flink_rest_url() or DEFAULT_REST_URL).rstrip("/")


def rest_address() -> str | None:
    """``host:port`` for ``flink -m`` when a non-default REST URL is configured."""
    url = settings_module.flink_rest_url()
    if not url:
        return None
    return re.sub(r"^https?://", "", url.rstrip("/"))


def run_script(
    cmd: Sequence[str], env: Mapping[str, str], timeout: float, what: str, cwd: Path | None = None
) -> str:
    """Run a Flink script; return stdout+stderr, or raise with its tail on failure."""
    try:
        proc = subprocess.run(
            list(cmd), env=dict(env), capture_output=True, text=True, timeout=timeout, check=False,
            cwd=cwd,
        )
    except subprocess.TimeoutExpired as exc:
        raise ClusterError(
            f"{what} did not finish within {timeout:.0f} s: {' '.join(cmd)}"
        ) from exc
    out = (proc.stdout or "") + (proc.stderr or "")
    if proc.returncode != 0:
        tail = "\n".join(out.strip().splitlines()[-30:])
        raise ClusterError(f"{what} failed (exit {proc.returncode}): {' '.join(cmd)}\n{tail}", out)
    return out
