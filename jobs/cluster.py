"""A local standalone Flink cluster, job submission and savepoint redeploys.

Wraps the real Flink CLI that ships inside the ``apache-flink`` wheel (``pyflink/bin``): nothing
in the venv is edited; ``FLINK_CONF_DIR``, ``FLINK_LOG_DIR`` and the pid directory point at
project folders under ``var/``. Every server binds 127.0.0.1 (PyFlink's Python workers are the
exception, see docs/operations.md).

Submitting a job ships an immutable copy of the project's Python packages (a *release*,
``var/releases/<code hash>/``), so the exact code behind every deployment stays on disk. That is
what makes a refused redeploy safe: when the new version cannot restore the savepoint, the
previous release is resubmitted from the same savepoint and keeps running.

Every submit, stop and redeploy appends one JSON line to ``var/deployments.jsonl``: job name,
job id, the savepoint restored from or taken, the code version and the job's operator (vertex)
ids, which is the plan fingerprint a redeploy compares.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from jobs import settings as settings_module
from jobs.settings import PROJECT_ROOT, Settings

CONF_TEMPLATE = PROJECT_ROOT / "flink-conf" / "config.yaml"
# What a release holds: the importable packages, the DDL the jobs may read and the sources of
# the Java functions (the jar is built from them inside the release, see jobs/java_udfs.py).
RELEASE_DIRS = ("jobs", "udfs", "sql", "java")
# What `flink run -pyfs` ships to the Python workers (directories keep their package name).
SHIPPED_PACKAGES = ("jobs", "udfs")
DEFAULT_REST_URL = "http://127.0.0.1:8081"
REST_URL_ENV = settings_module.FLINK_REST_URL_VAR

# A savepoint that cannot be mapped onto the new program (Flink's own wording, 1.x and 2.x).
_NON_RESTORED = re.compile(r"Cannot map (?:checkpoint/savepoint )?state for operator", re.I)
_SAVEPOINT_DONE = re.compile(r"Savepoint completed\.\s+Path:\s*(\S+)")
_JOB_ID = re.compile(r"JobID\s+([0-9a-f]{32})")
_TERMINAL = {"FINISHED", "FAILED", "CANCELED", "SUSPENDED"}


class ClusterError(RuntimeError):
    """The Flink CLI or REST API did not do what was asked; the message says what to check."""

    def __init__(self, message: str, output: str = "") -> None:
        super().__init__(message)
        self.output = output  # the full CLI output, when a CLI call failed


class IncompatiblePlanError(ClusterError):
    """A new job version cannot restore the savepoint of the running one."""


# --------------------------------------------------------------------------------------------
# Paths and environment
# --------------------------------------------------------------------------------------------


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


def _rest_address() -> str | None:
    """``host:port`` for ``flink -m`` when a non-default REST URL is configured."""
    url = settings_module.flink_rest_url()
    if not url:
        return None
    return re.sub(r"^https?://", "", url.rstrip("/"))


def flatten_conf(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested config.yaml mapping -> flat ``a.b.c`` keys (how Flink itself reads them)."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_conf(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def load_conf(
    var_dir: Path,
    *,
    python: str | None = None,
    template: Path = CONF_TEMPLATE,
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The project's Flink config with the template tokens filled in, as flat keys.

    Args:
        var_dir: absolute root for checkpoints, savepoints, logs, pid and tmp files.
        python: interpreter for ``python.executable`` / ``python.client.executable``.
        template: the project's config.yaml with ``@VAR_DIR@`` and ``@PYTHON@`` tokens.
        overrides: flat keys that replace template values (e.g. ``rest.port``).
    """
    var_dir = Path(var_dir)
    if not var_dir.is_absolute():
        raise ClusterError(f"var_dir={var_dir!s} is relative; Flink needs absolute directories")
    text = template.read_text()
    text = text.replace("@VAR_DIR@", str(var_dir)).replace(
        "@PYTHON@", python or python_executable()
    )
    leftover = sorted(set(re.findall(r"@[A-Z_]+@", text)))
    if leftover:
        raise ClusterError(
            f"{template}: unknown template tokens {leftover}; fill them in load_conf"
        )
    flat = flatten_conf(yaml.safe_load(text))
    flat.update(overrides or {})
    return flat


def render_conf(
    var_dir: Path,
    out_dir: Path,
    *,
    python: str | None = None,
    template: Path = CONF_TEMPLATE,
    overrides: Mapping[str, Any] | None = None,
    logging_files: bool = True,
) -> Path:
    """Write a runnable Flink conf dir: config.yaml with absolute paths (+ the wheel's log files).

    The output uses flat keys (``execution.checkpointing.dir: ...``), which Flink 2.x reads like
    the nested form, so overrides can never collide with a nested duplicate.

    Args:
        var_dir: absolute root for checkpoints, savepoints, logs, pid and tmp files.
        out_dir: the directory to write (``FLINK_CONF_DIR``).
        python: interpreter for the Flink Python client and workers (default: this venv's).
        template: the project's config.yaml.
        overrides: flat keys that replace template values.
        logging_files: also copy log4j/logback files and write masters/workers (local cluster).

    Returns:
        The path of the written config.yaml.
    """
    flat = load_conf(var_dir, python=python, template=template, overrides=overrides)
    out_dir.mkdir(parents=True, exist_ok=True)
    conf = out_dir / "config.yaml"
    header = f"# Generated from {template.name} by jobs.cluster.render_conf; edit the template.\n"
    conf.write_text(header + yaml.safe_dump(flat, sort_keys=True, width=100_000))
    if "s3.secret-key" in flat:
        conf.chmod(0o600)  # holds the S3 credentials of the checkpoint store
    if logging_files:
        wheel_conf = flink_home() / "conf"
        for source in sorted(wheel_conf.glob("log*")):
            shutil.copyfile(source, out_dir / source.name)
        rest_port = flat.get("rest.port", 8081)
        (out_dir / "masters").write_text(f"127.0.0.1:{rest_port}\n")
        (out_dir / "workers").write_text("127.0.0.1\n")
        for sub in ("flink-log", "flink-run", "flink-tmp", "flink-checkpoints", "flink-savepoints"):
            (Path(var_dir) / sub).mkdir(parents=True, exist_ok=True)
    return conf


def _ensure_conf(settings: Settings) -> None:
    """Render var/flink-conf for the CLI when no FLINK_CONF_DIR is given and none exists yet."""
    paths = ClusterPaths.of(settings)
    if not os.environ.get("FLINK_CONF_DIR") and not (paths.conf_dir / "config.yaml").exists():
        render_conf(paths.var_dir, paths.conf_dir, overrides=state_overrides(settings))


S3_PLUGIN_SET = "flink-s3"  # jars.lock: Flink's S3 filesystem plugin (Presto-based)
S3_PLUGIN_DIR = "s3-fs-presto"  # its folder under plugins/, as in Flink's distribution


def state_on_s3(settings: Settings) -> bool:
    """True when checkpoints or savepoints go to an ``s3://`` URL."""
    return any(
        url.startswith("s3://")
        for url in (settings.flink_checkpoint_dir, settings.flink_savepoint_dir)
    )


def state_overrides(settings: Settings) -> dict[str, Any]:
    """Flat config keys for where checkpoints and savepoints go (and how S3 is reached).

    Empty when both directories are the template's ``file://`` folders under ``var_dir``. For
    ``s3://`` directories: the S3 filesystem plugin's endpoint, path-style requests (MinIO and
    SeaweedFS serve buckets as paths, not as host names) and credentials, from the ``s3_*``
    settings that the Parquet output uses too.
    """
    out: dict[str, Any] = {}
    if settings.flink_checkpoint_dir:
        out["execution.checkpointing.dir"] = settings.flink_checkpoint_dir
    if settings.flink_savepoint_dir:
        out["execution.checkpointing.savepoint-dir"] = settings.flink_savepoint_dir
    if state_on_s3(settings):
        if settings.s3_endpoint:
            out["s3.endpoint"] = settings.s3_endpoint
            out["s3.path.style.access"] = True
        if settings.s3_access_key:
            out["s3.access-key"] = settings.s3_access_key
            out["s3.secret-key"] = settings.s3_secret_key
    return out


def ensure_plugins(settings: Settings) -> Path | None:
    """The plugins folder of the local cluster: the distribution's own plus the S3 filesystem.

    Flink loads filesystems from ``plugins/<name>/`` of the distribution it runs. The wheel's
    distribution lives in the shared venv, which is not edited: ``var/flink-plugins/`` holds a
    link to each of the wheel's plugin folders and ``s3-fs-presto/`` with the jar of jars.lock
    (sha256-checked; fetched with Maven when state is on S3 and the jar is missing), and
    ``FLINK_PLUGINS_DIR`` points every Flink process there. A distribution named by
    ``NETPULSE_FLINK_HOME`` (the image's /opt/flink, whose Dockerfile installs the same jar)
    keeps its own plugins/: returns None.
    """
    if settings_module.flink_home_override():
        return None
    from jobs import jars

    jar_set = jars.get(S3_PLUGIN_SET)
    if state_on_s3(settings):
        jar_files = jars.ensure(S3_PLUGIN_SET)
    else:  # not needed: linked if already fetched, so a later restore from s3:// still works
        jar_files = [p for p in jars.paths(S3_PLUGIN_SET) if p.exists()]
        if len(jar_files) != len(jar_set.jars):
            jar_files = []
    root = ClusterPaths.of(settings).plugins
    root.mkdir(parents=True, exist_ok=True)
    bundled = flink_home() / "plugins"
    for plugin in sorted(p for p in bundled.iterdir() if p.is_dir()) if bundled.is_dir() else []:
        link = root / plugin.name
        if not link.exists():
            link.symlink_to(plugin, target_is_directory=True)
    if jar_files:
        s3_dir = root / S3_PLUGIN_DIR
        s3_dir.mkdir(exist_ok=True)
        for jar in jar_files:
            link = s3_dir / jar.name
            if not link.exists():
                link.symlink_to(jar.resolve())
    return root


_PROCESS_LOCAL_PYFLINK_VARS = (
    "PYTHON_LOOPBACK_SERVER_ADDRESS",
    "PYFLINK_GATEWAY_PORT",
    "PYFLINK_GATEWAY_DISABLED",
    "WORKER_ID",
    "PIPELINE_OPTIONS",
    "SEMI_PERSISTENT_DIRECTORY",
    "LOGGING_API_SERVICE_DESCRIPTOR",
    "CONTROL_API_SERVICE_DESCRIPTOR",
)


def flink_env(settings: Settings, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for every Flink script: project conf/log/pid dirs, the venv first on PATH."""
    paths = ClusterPaths.of(settings)
    # Not inherited: a process that ran a local PyFlink job (MiniCluster) carries the address
    # of its own loopback worker pool; a cluster started with it would send every Python
    # worker of every job to that (dead) address instead of starting it.
    env = {k: v for k, v in os.environ.items() if k not in _PROCESS_LOCAL_PYFLINK_VARS}
    env.update(settings_env(settings))
    # An explicit FLINK_CONF_DIR wins (the image's /opt/flink/conf in the compose stack).
    env["FLINK_CONF_DIR"] = os.environ.get("FLINK_CONF_DIR") or str(paths.conf_dir)
    env["FLINK_LOG_DIR"] = str(paths.log_dir)
    env["FLINK_PID_DIR"] = str(paths.run_dir)
    if not os.environ.get("FLINK_PLUGINS_DIR"):
        plugins = ensure_plugins(settings)
        if plugins is not None:
            env["FLINK_PLUGINS_DIR"] = str(plugins)
    env["PATH"] = f"{Path(python_executable()).parent}{os.pathsep}{env.get('PATH', '')}"
    if extra:
        env.update(extra)
    return env


def settings_env(settings: Settings) -> dict[str, str]:
    """The settings as ``NETPULSE_*`` variables, so a submitted job sees exactly these settings.

    The job's client process (``flink run``) reads its settings from the environment; passing
    every field explicitly keeps a release copy from falling back to its own directory.
    """
    env: dict[str, str] = {}
    for f in dataclasses.fields(Settings):
        if f.name == "extra":
            continue
        value = getattr(settings, f.name)
        env[f"NETPULSE_{f.name.upper()}"] = str(value)
    return env


def _run(cmd: Sequence[str], env: Mapping[str, str], timeout: float, what: str) -> str:
    """Run a Flink script; return stdout+stderr, or raise with its tail on failure."""
    try:
        proc = subprocess.run(
            list(cmd), env=dict(env), capture_output=True, text=True, timeout=timeout, check=False
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


# --------------------------------------------------------------------------------------------
# REST
# --------------------------------------------------------------------------------------------


def rest_get(path: str, *, timeout: float = 5.0) -> Any:
    """GET a JobManager REST path and decode the JSON answer."""
    url = f"{rest_url()}/{path.lstrip('/')}"
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback URL
        return json.load(response)


def cluster_running() -> bool:
    """True when the REST API answers and at least one TaskManager is registered."""
    try:
        return int(rest_get("overview", timeout=2).get("taskmanagers", 0)) > 0
    except (OSError, urllib.error.URLError, ValueError):
        return False


@dataclass(frozen=True)
class JobInfo:
    """One job as the JobManager reports it."""

    job_id: str
    name: str
    state: str
    start_time_ms: int = 0


def list_jobs(settings: Settings | None = None) -> list[JobInfo]:
    """All jobs the cluster knows (running and finished), newest first, via the REST API."""
    del settings  # the REST URL comes from NETPULSE_FLINK_REST_URL
    jobs = rest_get("jobs/overview").get("jobs", [])
    found = [
        JobInfo(j["jid"], j.get("name", ""), j.get("state", ""), int(j.get("start-time", 0)))
        for j in jobs
    ]
    return sorted(found, key=lambda j: j.start_time_ms, reverse=True)


def find_running(job_name: str) -> JobInfo | None:
    """The non-terminal job called ``job_name``, if any (refuses ambiguous duplicates)."""
    live = [j for j in list_jobs() if j.name == job_name and j.state not in _TERMINAL]
    if len(live) > 1:
        ids = ", ".join(j.job_id for j in live)
        raise ClusterError(
            f"{len(live)} live jobs are named {job_name!r} ({ids}); stop the extra ones"
        )
    return live[0] if live else None


def job_vertices(job_id: str) -> list[dict[str, str]]:
    """The job's vertices (operator chains): id and name, in plan order."""
    detail = rest_get(f"jobs/{job_id}")
    return [{"id": v["id"], "name": v.get("name", "")} for v in detail.get("vertices", [])]


def job_failure(job_id: str) -> str:
    """The root exception text of a failed job ('' when none is recorded)."""
    try:
        data = rest_get(f"jobs/{job_id}/exceptions")
    except (OSError, urllib.error.URLError, ValueError):
        return ""
    history = data.get("exceptionHistory", {}).get("entries", [])
    if history:
        return str(history[0].get("stacktrace") or history[0].get("exceptionName", ""))
    return str(data.get("root-exception") or "")


def wait_for_state(
    job_id: str, states: set[str], *, timeout: float = 120.0, running_tasks: bool = True
) -> str:
    """Wait until the job reaches one of ``states`` (or a terminal state); return the state.

    With ``running_tasks``, RUNNING only counts once every vertex runs (sources really read).
    """
    deadline = time.monotonic() + timeout
    state = ""
    while time.monotonic() < deadline:
        try:
            detail = rest_get(f"jobs/{job_id}")
        except urllib.error.HTTPError as exc:
            if exc.code != 404:  # not yet known right after submission
                raise
            time.sleep(0.3)
            continue
        state = detail.get("state", "")
        if state in states and not (
            state == "RUNNING" and running_tasks and not _all_running(detail)
        ):
            return state
        if state in _TERMINAL:
            return state
        time.sleep(0.3)
    failure = job_failure(job_id)
    raise ClusterError(
        f"job {job_id} stayed {state or 'unknown'} for {timeout:.0f} s, expected {sorted(states)}"
        + (f"; last failure:\n{failure[:2000]}" if failure else "")
    )


def _all_running(detail: Mapping[str, Any]) -> bool:
    vertices = detail.get("vertices", [])
    return bool(vertices) and all(v.get("status") in ("RUNNING", "FINISHED") for v in vertices)


# --------------------------------------------------------------------------------------------
# Cluster lifecycle
# --------------------------------------------------------------------------------------------


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
    _run(
        [str(flink_home() / "bin" / "start-cluster.sh")],
        flink_env(settings),
        60,
        "start-cluster.sh",
    )
    deadline = started + timeout
    while time.monotonic() < deadline:
        if cluster_running():
            return time.monotonic() - started
        time.sleep(0.3)
    raise ClusterError(
        f"the cluster did not come up within {timeout:.0f} s; read the logs in {paths.log_dir}"
    )


def stop_cluster(settings: Settings, *, timeout: float = 60.0) -> float:
    """Stop the local cluster started by :func:`start_cluster`; returns the seconds it took."""
    paths = ClusterPaths.of(settings)
    started = time.monotonic()
    if not paths.conf_dir.joinpath("config.yaml").exists():
        return 0.0
    _run(
        [str(flink_home() / "bin" / "stop-cluster.sh")],
        flink_env(settings),
        timeout,
        "stop-cluster.sh",
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
    _run(
        [str(flink_home() / "bin" / "taskmanager.sh"), "start"],
        flink_env(settings),
        60,
        "taskmanager.sh start",
    )


# --------------------------------------------------------------------------------------------
# Releases and code versions
# --------------------------------------------------------------------------------------------


def code_hash(root: Path = PROJECT_ROOT, dirs: Sequence[str] = RELEASE_DIRS) -> str:
    """sha256 (first 16 hex) over the .py, .sql and .java files of ``dirs``: the deployed code's identity."""
    digest = hashlib.sha256()
    for name in dirs:
        base = root / name
        if not base.exists():
            continue
        for path in sorted(base.rglob("*")):
            if (
                path.is_file()
                and path.suffix in (".py", ".sql", ".java")
                and "__pycache__" not in path.parts
            ):
                digest.update(path.relative_to(root).as_posix().encode() + b"\0")
                digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def git_describe(root: Path = PROJECT_ROOT) -> str:
    """``git describe --always --dirty`` of the work tree, or '' outside a git checkout."""
    try:
        proc = subprocess.run(
            ["git", "-C", str(root), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return proc.stdout.strip() if proc.returncode == 0 else ""


def make_release(settings: Settings, root: Path = PROJECT_ROOT) -> Path:
    """Copy the project's packages to ``var/releases/<code hash>/`` (once) and return that dir."""
    release = ClusterPaths.of(settings).releases / code_hash(root)
    if release.exists():
        return release
    staging = release.with_name(release.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    for name in RELEASE_DIRS:
        if (root / name).exists():
            shutil.copytree(
                root / name, staging / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
            )
    (staging / "RELEASE.json").write_text(
        json.dumps({"code_hash": release.name, "git": git_describe(root), "source": str(root)})
        + "\n"
    )
    staging.rename(release)
    return release


# --------------------------------------------------------------------------------------------
# Submit, stop, redeploy
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobTarget:
    """What ``flink run`` executes.

    Attributes:
        name: the job name; the entry must set ``pipeline.name`` to it (list/redeploy find jobs
            by name).
        root: directory holding the shipped packages (a release, or the work tree in tests).
        module: the entry module, run as ``python -m <module> <args>`` (``-pym``).
        packages: directories under ``root`` shipped with ``-pyfs`` (importable by name).
        args: program arguments.
    """

    name: str
    root: Path
    module: str = "jobs"
    packages: tuple[str, ...] = SHIPPED_PACKAGES
    args: tuple[str, ...] = ()

    def command(
        self,
        flink: Path,
        python: str,
        *,
        savepoint: str | None,
        allow_non_restored: bool,
        address: str | None,
        parallelism: int | None = None,
    ) -> list[str]:
        """The full ``flink run -d`` command line."""
        cmd = [str(flink), "run", "-d"]
        if address:
            cmd += ["-m", address]
        if savepoint:
            cmd += ["-s", savepoint]
            if allow_non_restored:
                cmd.append("--allowNonRestoredState")
        if parallelism:
            cmd += ["-p", str(parallelism)]
        cmd += [
            "-pym",
            self.module,
            # A -pyfs directory itself goes on PYTHONPATH (client and workers), so shipping the
            # release root makes its packages importable by name.
            "-pyfs",
            str(self.root),
            "-pyexec",
            python,
            "-pyclientexec",
            python,
            *self.args,
        ]
        return cmd


def project_target(job_name: str, release: Path) -> JobTarget:
    """The project's own job: ``python -m jobs run <job_name>`` from a release directory."""
    return JobTarget(name=job_name, root=release, module="jobs", args=("run", job_name))


@dataclass
class Deployment:
    """The result of a submit or redeploy, also one line of the deploy ledger."""

    action: str
    job_name: str
    job_id: str
    code_hash: str
    git: str
    release: str
    restored_from: str | None = None
    savepoint_taken: str | None = None
    previous_job_id: str | None = None
    vertices: list[dict[str, str]] = field(default_factory=list)
    target: dict[str, Any] = field(default_factory=dict)
    savepoint_bytes: int | None = None
    plan_changed: bool | None = None
    forced: bool = False
    flink_version: str = ""
    timings_s: dict[str, float] = field(default_factory=dict)
    at: str = ""

    def record(self, settings: Settings) -> None:
        """Append this deployment to ``var/deployments.jsonl``."""
        self.at = datetime.now(UTC).isoformat(timespec="seconds")
        ledger = ClusterPaths.of(settings).ledger
        ledger.parent.mkdir(parents=True, exist_ok=True)
        with ledger.open("a") as out:
            out.write(json.dumps(dataclasses.asdict(self), sort_keys=True) + "\n")


def read_ledger(settings: Settings) -> list[dict[str, Any]]:
    """Every ledger line, oldest first."""
    ledger = ClusterPaths.of(settings).ledger
    if not ledger.exists():
        return []
    return [json.loads(line) for line in ledger.read_text().splitlines() if line.strip()]


def last_deployment(settings: Settings, job_name: str) -> dict[str, Any] | None:
    """The newest ledger line that started ``job_name`` (submit or redeploy)."""
    for entry in reversed(read_ledger(settings)):
        if entry["job_name"] == job_name and entry["action"] in ("submit", "redeploy", "rollback"):
            return entry
    return None


def submit(
    job_name: str,
    settings: Settings,
    savepoint: str | None = None,
    *,
    allow_non_restored: bool = False,
    target: JobTarget | None = None,
    wait: bool = True,
    timeout: float = 180.0,
    action: str = "submit",
    record: bool = True,
) -> Deployment:
    """Submit a job to the cluster (``flink run -d``), optionally restoring a savepoint.

    The project's packages are copied to a release dir first, and the job runs from that copy.
    With ``wait`` the call returns once every operator runs, and raises if the job fails while
    starting (e.g. its plan cannot restore ``savepoint``).

    Args:
        job_name: the job (``python -m jobs run <job_name>``); also its Flink job name.
        settings: passed to the job's client as ``NETPULSE_*`` variables.
        savepoint: a savepoint or retained checkpoint path to restore from.
        allow_non_restored: let Flink drop savepoint state that maps to no operator.
        target: what to run instead of the project job (tests use a small sample job).
        wait: wait for the job to run.
        timeout: seconds to wait for the CLI and for the job to run.
        action: the ledger action name.
        record: append the deployment to the ledger.

    Raises:
        IncompatiblePlanError: the job could not restore ``savepoint``.
        ClusterError: the CLI failed or the job failed while starting.
    """
    if action == "submit" and find_running(job_name) is not None:
        raise ClusterError(f"{job_name!r} is already running; use redeploy to replace it")
    if target is None:
        release = make_release(settings)
        target = project_target(job_name, release)
    _ensure_conf(settings)
    started = time.monotonic()
    cmd = target.command(
        flink_home() / "bin" / "flink",
        python_executable(),
        savepoint=savepoint,
        allow_non_restored=allow_non_restored,
        address=_rest_address(),
    )
    try:
        out = _run(cmd, flink_env(settings), timeout, f"flink run ({job_name})")
    except ClusterError as exc:
        # The JobMaster checks the savepoint against the new plan while the client submits.
        if savepoint and _NON_RESTORED.search(exc.output):
            raise IncompatiblePlanError(
                _incompatible_message(job_name, savepoint, exc.output)
            ) from exc
        raise
    match = _JOB_ID.search(out)
    if not match:
        raise ClusterError(f"flink run printed no JobID for {job_name}; output:\n{out[-3000:]}")
    job_id = match.group(1)
    deployment = Deployment(
        action=action,
        job_name=job_name,
        job_id=job_id,
        code_hash=target.root.name
        if target.root.parent.name == "releases"
        else code_hash(target.root, target.packages),
        git=git_describe(),
        release=str(target.root),
        restored_from=savepoint,
        forced=allow_non_restored,
        flink_version=flink_version(),
        target={
            "module": target.module,
            "packages": list(target.packages),
            "args": list(target.args),
        },
    )
    deployment.timings_s["submit"] = round(time.monotonic() - started, 2)
    if wait:
        state = wait_for_state(job_id, {"RUNNING"}, timeout=timeout)
        deployment.timings_s["running"] = round(time.monotonic() - started, 2)
        if state != "RUNNING":
            failure = job_failure(job_id)
            if savepoint and _NON_RESTORED.search(failure):
                raise IncompatiblePlanError(_incompatible_message(job_name, savepoint, failure))
            raise ClusterError(
                f"job {job_name} ({job_id}) ended {state} while starting:\n{failure[:3000]}"
            )
        deployment.vertices = job_vertices(job_id)
    if record:
        deployment.record(settings)
    return deployment


def _incompatible_message(job_name: str, savepoint: str, failure: str) -> str:
    operators = sorted(set(re.findall(r"state for operator ([0-9a-f]{32})", failure)))
    which = ", ".join(operators) if operators else "see the client log in var/flink-log"
    return (
        f"the new version of {job_name!r} cannot restore savepoint {savepoint}: state of "
        f"operator(s) {which} maps to no operator of the new plan (its SQL or topology changed). "
        "To keep the state, revert the change or make it state-compatible (same statements and "
        "topology, same uids); to drop that state on purpose, redeploy with --force (that "
        "state is lost: source positions, buffered rows, open windows)."
    )


def stop_with_savepoint(
    job_id: str,
    settings: Settings | None = None,
    *,
    drain: bool = False,
    timeout: float = 180.0,
    job_name: str | None = None,
) -> str:
    """Stop a job with a savepoint (``flink stop --savepointPath``) and return the savepoint path.

    Savepoints go to ``var/flink-savepoints/<job name>/``. ``drain`` emits MAX_WATERMARK first,
    flushing event-time windows: use it only when the job will not be resumed.
    """
    settings = settings or settings_module.load()
    if job_name is None:
        job_name = next((j.name for j in list_jobs() if j.job_id == job_id), job_id)
    target_dir = ClusterPaths.of(settings).savepoints / _safe(job_name)
    target_dir.mkdir(parents=True, exist_ok=True)
    cmd = [str(flink_home() / "bin" / "flink"), "stop"]
    if _rest_address():
        cmd += ["-m", str(_rest_address())]
    cmd += ["--savepointPath", _savepoint_uri(target_dir, settings)]
    if drain:
        cmd.append("--drain")
    cmd.append(job_id)
    _ensure_conf(settings)
    out = _run(cmd, flink_env(settings), timeout, f"flink stop {job_id}")
    match = _SAVEPOINT_DONE.search(out)
    if not match:
        raise ClusterError(
            f"flink stop printed no savepoint path for {job_id}; output:\n{out[-3000:]}"
        )
    return match.group(1)


def _savepoint_uri(local_dir: Path, settings: Settings) -> str:
    """Savepoint target: the local dir, or under the configured savepoint dir (e.g. s3://)."""
    remote = settings.flink_savepoint_dir
    return f"{remote.rstrip('/')}/{local_dir.name}" if remote else f"file://{local_dir}"


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name) or "job"


def savepoint_size(path: str, settings: Settings | None = None) -> int:
    """Bytes under a savepoint directory: ``file:`` URIs, plain paths, or ``s3://`` URLs."""
    if path.startswith("s3://"):
        return sum(size for _, size in s3_objects(path, settings or settings_module.load()))
    local = Path(re.sub(r"^file:(//)?", "", path))
    return sum(p.stat().st_size for p in local.rglob("*") if p.is_file()) if local.exists() else 0


def s3_objects(url: str, settings: Settings) -> list[tuple[str, int]]:
    """(key, size) of every object under an ``s3://bucket/prefix`` URL (the ``s3_*`` settings)."""
    import boto3
    from botocore.config import Config

    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    client = boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint or None,
        aws_access_key_id=settings.s3_access_key or None,
        aws_secret_access_key=settings.s3_secret_key or None,
        region_name=settings.s3_region,
        config=Config(s3={"addressing_style": "path"}),
    )
    found: list[tuple[str, int]] = []
    for page in client.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=prefix.rstrip("/") + "/" if prefix else ""
    ):
        found += [(o["Key"], int(o["Size"])) for o in page.get("Contents", [])]
    return found


def stop(job_name: str, settings: Settings) -> Deployment:
    """Stop the running job called ``job_name`` with a savepoint and record it in the ledger."""
    job = find_running(job_name)
    if job is None:
        raise ClusterError(f"no running job is named {job_name!r}; see `jobs` for what runs")
    started = time.monotonic()
    path = stop_with_savepoint(job.job_id, settings, job_name=job_name)
    last = last_deployment(settings, job_name) or {}
    entry = Deployment(
        action="stop",
        job_name=job_name,
        job_id=job.job_id,
        code_hash=last.get("code_hash", ""),
        git=last.get("git", ""),
        release=last.get("release", ""),
        savepoint_taken=path,
        flink_version=flink_version(),
        timings_s={"stop_with_savepoint": round(time.monotonic() - started, 2)},
    )
    entry.record(settings)
    return entry


def redeploy(
    job_name: str,
    settings: Settings | None = None,
    force: bool = False,
    *,
    target: JobTarget | None = None,
    timeout: float = 180.0,
) -> Deployment:
    """Stop ``job_name`` with a savepoint and start the current code from it.

    If the new version cannot restore the savepoint (its operators changed), the previous
    release is resubmitted from the same savepoint, so the old version keeps running, and
    :class:`IncompatiblePlanError` explains what happened. ``force`` starts the new version
    anyway with ``--allowNonRestoredState`` (the state of vanished operators is dropped).

    Raises:
        ClusterError: no such job is running, or the CLI failed.
        IncompatiblePlanError: refused (without ``force``); the old version runs again.
    """
    settings = settings or settings_module.load()
    job = find_running(job_name)
    if job is None:
        raise ClusterError(f"no running job is named {job_name!r}; submit it first")
    previous = last_deployment(settings, job_name)
    if target is None:
        target = project_target(job_name, make_release(settings))
    started = time.monotonic()
    savepoint = stop_with_savepoint(job.job_id, settings, job_name=job_name, timeout=timeout)
    stopped = time.monotonic()
    try:
        deployment = submit(
            job_name,
            settings,
            savepoint,
            allow_non_restored=force,
            target=target,
            timeout=timeout,
            action="redeploy",
            record=False,
        )
    except IncompatiblePlanError as exc:
        rolled_back = _rollback(job_name, settings, savepoint, previous, timeout)
        where = (
            f"The previous version runs again from that savepoint as job {rolled_back}."
            if rolled_back
            else "No previous release is recorded, so the job is NOT running now: resubmit a "
            f"compatible version with `submit {job_name} --savepoint {savepoint}`."
        )
        raise IncompatiblePlanError(f"redeploy refused: {exc} {where}") from exc
    deployment.previous_job_id = job.job_id
    deployment.savepoint_taken = savepoint
    deployment.savepoint_bytes = savepoint_size(savepoint, settings)
    deployment.timings_s.update(
        stop_with_savepoint=round(stopped - started, 2), total=round(time.monotonic() - started, 2)
    )
    if previous and previous.get("vertices") and deployment.vertices:
        old = {v["id"] for v in previous["vertices"]}
        new = {v["id"] for v in deployment.vertices}
        # Informational: a changed plan that still restored (e.g. a new stateless operator).
        deployment.plan_changed = old != new
    deployment.record(settings)
    return deployment


def _rollback(
    job_name: str,
    settings: Settings,
    savepoint: str,
    previous: Mapping[str, Any] | None,
    timeout: float,
) -> str | None:
    """Resubmit the previously recorded release from ``savepoint``; return the new job id."""
    if not previous or not previous.get("release") or not Path(previous["release"]).exists():
        return None
    old = dict(previous)
    old_root = Path(old["release"])
    target = _target_from_ledger(job_name, old_root, old)
    deployment = submit(
        job_name,
        settings,
        savepoint,
        target=target,
        timeout=timeout,
        action="rollback",
    )
    return deployment.job_id


def _target_from_ledger(job_name: str, root: Path, entry: Mapping[str, Any]) -> JobTarget:
    spec = entry.get("target") or {}
    return JobTarget(
        name=job_name,
        root=root,
        module=spec.get("module", "jobs"),
        packages=tuple(spec.get("packages", SHIPPED_PACKAGES)),
        args=tuple(spec.get("args", ("run", job_name))),
    )


# --------------------------------------------------------------------------------------------
# Private network namespace (PyFlink's Python runtime listens on all interfaces)
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, sort_keys=True, default=str))


def _cmd_cluster(args: argparse.Namespace, settings: Settings) -> int:
    if args.action == "start":
        print(f"cluster up in {start_cluster(settings):.1f} s; REST {rest_url()}")
    elif args.action == "stop":
        print(f"cluster stopped in {stop_cluster(settings):.1f} s")
    else:
        print("running" if cluster_running() else "not running")
        return 0 if cluster_running() else 1
    return 0


def _cmd_render_conf(args: argparse.Namespace, settings: Settings) -> int:
    overrides: dict[str, Any] = state_overrides(settings)
    overrides.update(item.split("=", 1) for item in args.set)
    var_dir = Path(args.var_dir).resolve() if args.var_dir else ClusterPaths.of(settings).var_dir
    out = render_conf(
        var_dir,
        Path(args.out).resolve(),
        python=args.python,
        overrides=overrides,
        logging_files=not args.config_only,
    )
    print(out)
    return 0


def _cmd_submit(args: argparse.Namespace, settings: Settings) -> int:
    deployment = submit(
        args.job, settings, args.savepoint, allow_non_restored=args.allow_non_restored
    )
    print(
        f"submitted {args.job} as {deployment.job_id} ({deployment.code_hash}) in {deployment.timings_s}"
    )
    return 0


def _cmd_jobs(args: argparse.Namespace, settings: Settings) -> int:
    for job in list_jobs(settings):
        if args.all or job.state not in _TERMINAL:
            print(f"{job.job_id}  {job.state:<12} {job.name}")
    return 0


def _cmd_stop(args: argparse.Namespace, settings: Settings) -> int:
    entry = stop(args.job, settings)
    print(f"stopped {args.job}; savepoint {entry.savepoint_taken}")
    return 0


def _cmd_redeploy(args: argparse.Namespace, settings: Settings) -> int:
    try:
        deployment = redeploy(args.job, settings, force=args.force)
    except IncompatiblePlanError as exc:
        print(str(exc), file=sys.stderr)
        return 3
    print(
        f"redeployed {args.job}: {deployment.previous_job_id} -> {deployment.job_id} from "
        f"{deployment.savepoint_taken} ({deployment.timings_s})"
    )
    return 0


def _cmd_deployments(args: argparse.Namespace, settings: Settings) -> int:
    entries = [e for e in read_ledger(settings) if not args.job or e["job_name"] == args.job]
    for e in entries:
        print(
            f"{e['at']}  {e['action']:<9} {e['job_name']:<16} {e['job_id']}  code={e['code_hash']}"
            f" git={e['git'] or '-'}  savepoint={e.get('savepoint_taken') or e.get('restored_from') or '-'}"
        )
    return 0


def register(subparsers: Any) -> None:
    """Add the cluster commands to an ``argparse`` subparsers object (``python -m jobs``).

    Every command sets ``func(args, settings) -> int`` as its handler.
    """
    p = subparsers.add_parser("cluster", help="start/stop/status of the local standalone cluster")
    p.add_argument("action", choices=("start", "stop", "status"))
    p.set_defaults(func=_cmd_cluster)

    p = subparsers.add_parser(
        "render-conf", help="write a runnable Flink conf dir from flink-conf/"
    )
    p.add_argument("--out", required=True, help="directory to write config.yaml into")
    p.add_argument("--var-dir", help="absolute state root (default: NETPULSE_VAR_DIR)")
    p.add_argument("--python", help="python.executable for client and workers (default: this venv)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a key")
    p.add_argument(
        "--config-only", action="store_true", help="only config.yaml (no log4j, masters)"
    )
    p.set_defaults(func=_cmd_render_conf)

    p = subparsers.add_parser("submit", help="submit a job (flink run -d) from a release copy")
    p.add_argument("job")
    p.add_argument("--savepoint", help="restore from this savepoint / retained checkpoint")
    p.add_argument(
        "--allow-non-restored", action="store_true", help="drop unmatched savepoint state"
    )
    p.set_defaults(func=_cmd_submit)

    p = subparsers.add_parser("jobs", help="list the cluster's jobs")
    p.add_argument("--all", action="store_true", help="include finished/failed/cancelled jobs")
    p.set_defaults(func=_cmd_jobs)

    p = subparsers.add_parser("stop", help="stop a running job with a savepoint")
    p.add_argument("job")
    p.set_defaults(func=_cmd_stop)

    p = subparsers.add_parser(
        "redeploy", help="stop with savepoint, resubmit the current code from it"
    )
    p.add_argument("job")
    p.add_argument("--force", action="store_true", help="start even if savepoint state is dropped")
    p.set_defaults(func=_cmd_redeploy)

    p = subparsers.add_parser("deployments", help="show the deploy ledger (var/deployments.jsonl)")
    p.add_argument("job", nargs="?")
    p.set_defaults(func=_cmd_deployments)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m jobs.cluster <command>``: the cluster commands on their own."""
    parser = argparse.ArgumentParser(
        prog="python -m jobs.cluster", description=__doc__.splitlines()[0]
    )
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return int(args.func(args, settings_module.load()))
    except ClusterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
