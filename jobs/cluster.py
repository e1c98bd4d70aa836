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
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jobs import settings as settings_module
from jobs.settings import PROJECT_ROOT, Settings

CONF_TEMPLATE = PROJECT_ROOT / "flink-conf" / "config.yaml"
# What a release holds: the importable packages plus the DDL the jobs may read.
RELEASE_DIRS = ("jobs", "udfs", "sql")
# What `flink run -pyfs` ships to the Python workers (directories keep their package name).
SHIPPED_PACKAGES = ("jobs", "udfs")
DEFAULT_REST_URL = "http://127.0.0.1:8081"
REST_URL_ENV = "NETPULSE_FLINK_REST_URL"

# A savepoint that cannot be mapped onto the new program (Flink's own wording, 1.x and 2.x).
_NON_RESTORED = re.compile(r"Cannot map (?:checkpoint/savepoint )?state for operator", re.I)
_SAVEPOINT_DONE = re.compile(r"Savepoint completed\.\s+Path:\s*(\S+)")
_JOB_ID = re.compile(r"JobID\s+([0-9a-f]{32})")
_TERMINAL = {"FINISHED", "FAILED", "CANCELED", "SUSPENDED"}


class ClusterError(RuntimeError):
    """The Flink CLI or REST API did not do what was asked; the message says what to check."""


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
    def releases(self) -> Path:
        return self.var_dir / "releases"

    @property
    def ledger(self) -> Path:
        return self.var_dir / "deployments.jsonl"

    @classmethod
    def of(cls, settings: Settings) -> ClusterPaths:
        return cls(Path(settings.var_dir).resolve())


def flink_home() -> Path:
    """The Flink distribution inside the installed ``apache-flink`` wheel."""
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
    return str(Path(sys.prefix) / "bin" / "python") if sys.prefix != sys.base_prefix else sys.executable


def rest_url() -> str:
    """Base URL of the JobManager REST API (``NETPULSE_FLINK_REST_URL``, default loopback)."""
    return os.environ.get(REST_URL_ENV, DEFAULT_REST_URL).rstrip("/")


def _rest_address() -> str | None:
    """``host:port`` for ``flink -m`` when a non-default REST URL is configured."""
    url = os.environ.get(REST_URL_ENV)
    if not url:
        return None
    return re.sub(r"^https?://", "", url.rstrip("/"))


def render_conf(
    var_dir: Path,
    out_dir: Path,
    *,
    python: str | None = None,
    template: Path = CONF_TEMPLATE,
    overrides: Mapping[str, str] | None = None,
) -> Path:
    """Write a runnable Flink conf dir: config.yaml with absolute paths, plus the wheel's logging files.

    Args:
        var_dir: absolute root for checkpoints, savepoints, logs, pid and tmp files.
        out_dir: the directory to write (``FLINK_CONF_DIR``).
        python: interpreter for ``python.executable`` / ``python.client.executable``.
        template: the project's config.yaml with ``@VAR_DIR@`` and ``@PYTHON@`` tokens.
        overrides: flat ``key: value`` lines appended last (Flink takes the last value).

    Returns:
        The path of the written config.yaml.
    """
    var_dir = Path(var_dir)
    if not var_dir.is_absolute():
        raise ClusterError(f"var_dir={var_dir!s} must be an absolute path (Flink needs absolute dirs)")
    text = template.read_text()
    text = text.replace("@VAR_DIR@", str(var_dir)).replace("@PYTHON@", python or python_executable())
    if "@" in re.sub(r"#.*", "", text).replace("ALL-UNNAMED", ""):
        leftover = sorted(set(re.findall(r"@[A-Z_]+@", text)))
        if leftover:
            raise ClusterError(f"{template}: unknown template tokens {leftover}; fill them in render_conf")
    if overrides:
        # Flat keys after the nested tree are valid YAML for Flink 2.x's parser as long as they
        # do not repeat a top-level key; render them as a separate document-level block.
        text += "\n# --- overrides ---\n" + "".join(f"{k}: {v}\n" for k, v in overrides.items())
    out_dir.mkdir(parents=True, exist_ok=True)
    conf = out_dir / "config.yaml"
    conf.write_text(text)
    wheel_conf = flink_home() / "conf"
    for name in ("log4j.properties", "log4j-cli.properties", "log4j-console.properties",
                 "log4j-session.properties", "logback.xml", "logback-console.xml",
                 "logback-session.xml"):
        if (wheel_conf / name).exists():
            shutil.copyfile(wheel_conf / name, out_dir / name)
    (out_dir / "masters").write_text("127.0.0.1:8081\n")
    (out_dir / "workers").write_text("127.0.0.1\n")
    for sub in ("flink-log", "flink-run", "flink-tmp", "flink-checkpoints", "flink-savepoints"):
        (var_dir / sub).mkdir(parents=True, exist_ok=True)
    return conf


def flink_env(settings: Settings, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for every Flink script: project conf/log/pid dirs, the venv first on PATH."""
    paths = ClusterPaths.of(settings)
    env = dict(os.environ)
    env.update(settings_env(settings))
    env["FLINK_CONF_DIR"] = str(paths.conf_dir)
    env["FLINK_LOG_DIR"] = str(paths.log_dir)
    env["FLINK_PID_DIR"] = str(paths.run_dir)
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
        raise ClusterError(f"{what} did not finish within {timeout:.0f} s: {' '.join(cmd)}") from exc
    out = (proc.stdout or "") + (proc.stderr or "")
    if proc.returncode != 0:
        tail = "\n".join(out.strip().splitlines()[-30:])
        raise ClusterError(f"{what} failed (exit {proc.returncode}): {' '.join(cmd)}\n{tail}")
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
        raise ClusterError(f"{len(live)} live jobs are named {job_name!r} ({ids}); stop the extra ones")
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
        if state in states and not (state == "RUNNING" and running_tasks and not _all_running(detail)):
            return state
        if state in _TERMINAL:
            return state
        time.sleep(0.3)
    raise ClusterError(f"job {job_id} stayed {state or 'unknown'} for {timeout:.0f} s, expected {sorted(states)}")


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
        raise ClusterError(f"a Flink cluster already answers on {rest_url()}; stop it first (cluster stop)")
    render_conf(paths.var_dir, paths.conf_dir)
    started = time.monotonic()
    _run([str(flink_home() / "bin" / "start-cluster.sh")], flink_env(settings), 60, "start-cluster.sh")
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
    _run([str(flink_home() / "bin" / "stop-cluster.sh")], flink_env(settings), timeout, "stop-cluster.sh")
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
        pids += [int(p) for p in pid_file.read_text().split() if p.isdigit() and Path(f"/proc/{p}").exists()]
    return pids


def start_taskmanager(settings: Settings) -> None:
    """Start one more TaskManager (e.g. after killing one); a standalone cluster never does."""
    _run([str(flink_home() / "bin" / "taskmanager.sh"), "start"], flink_env(settings), 60, "taskmanager.sh start")


# --------------------------------------------------------------------------------------------
# Releases and code versions
# --------------------------------------------------------------------------------------------


def code_hash(root: Path = PROJECT_ROOT, dirs: Sequence[str] = RELEASE_DIRS) -> str:
    """sha256 (first 16 hex) over the .py and .sql files of ``dirs``: the deployed code's identity."""
    digest = hashlib.sha256()
    for name in dirs:
        base = root / name
        if not base.exists():
            continue
        for path in sorted(base.rglob("*")):
            if path.is_file() and path.suffix in (".py", ".sql") and "__pycache__" not in path.parts:
                digest.update(path.relative_to(root).as_posix().encode() + b"\0")
                digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def git_describe(root: Path = PROJECT_ROOT) -> str:
    """``git describe --always --dirty`` of the work tree, or '' outside a git checkout."""
    try:
        proc = subprocess.run(
            ["git", "-C", str(root), "describe", "--always", "--dirty"],
            capture_output=True, text=True, timeout=10, check=False,
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
            shutil.copytree(root / name, staging / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (staging / "RELEASE.json").write_text(
        json.dumps({"code_hash": release.name, "git": git_describe(root), "source": str(root)}) + "\n"
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

    def command(self, flink: Path, python: str, *, savepoint: str | None, allow_non_restored: bool,
                address: str | None, parallelism: int | None = None) -> list[str]:
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
            "-pym", self.module,
            # A -pyfs directory itself goes on PYTHONPATH (client and workers), so shipping the
            # release root makes its packages importable by name.
            "-pyfs", str(self.root),
            "-pyexec", python,
            "-pyclientexec", python,
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
    if target is None:
        release = make_release(settings)
        target = project_target(job_name, release)
    started = time.monotonic()
    cmd = target.command(
        flink_home() / "bin" / "flink", python_executable(), savepoint=savepoint,
        allow_non_restored=allow_non_restored, address=_rest_address(),
    )
    out = _run(cmd, flink_env(settings), timeout, f"flink run ({job_name})")
    match = _JOB_ID.search(out)
    if not match:
        raise ClusterError(f"flink run printed no JobID for {job_name}; output:\n{out[-3000:]}")
    job_id = match.group(1)
    deployment = Deployment(
        action=action, job_name=job_name, job_id=job_id,
        code_hash=target.root.name if target.root.parent.name == "releases" else code_hash(target.root),
        git=git_describe(), release=str(target.root), restored_from=savepoint,
        forced=allow_non_restored, flink_version=flink_version(),
    )
    deployment.timings_s["submit"] = round(time.monotonic() - started, 2)
    if wait:
        state = wait_for_state(job_id, {"RUNNING"}, timeout=timeout)
        deployment.timings_s["running"] = round(time.monotonic() - started, 2)
        if state != "RUNNING":
            failure = job_failure(job_id)
            if savepoint and _NON_RESTORED.search(failure):
                raise IncompatiblePlanError(_incompatible_message(job_name, savepoint, failure))
            raise ClusterError(f"job {job_name} ({job_id}) ended {state} while starting:\n{failure[:3000]}")
        deployment.vertices = job_vertices(job_id)
    if record:
        deployment.record(settings)
    return deployment


def _incompatible_message(job_name: str, savepoint: str, failure: str) -> str:
    first = next((line for line in failure.splitlines() if _NON_RESTORED.search(line)), failure[:500])
    return (
        f"the new version of {job_name!r} cannot restore savepoint {savepoint}: its operators "
        f"changed ({first.strip()}). Keep the state: revert the change, or make it "
        "state-compatible (same SQL/topology, same uids). Drop the unmatched state on purpose: "
        "redeploy --force (rows held in that state are lost)."
    )


def stop_with_savepoint(
    job_id: str, settings: Settings | None = None, *, drain: bool = False, timeout: float = 180.0,
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
    out = _run(cmd, flink_env(settings), timeout, f"flink stop {job_id}")
    match = _SAVEPOINT_DONE.search(out)
    if not match:
        raise ClusterError(f"flink stop printed no savepoint path for {job_id}; output:\n{out[-3000:]}")
    return match.group(1)


def _savepoint_uri(local_dir: Path, settings: Settings) -> str:
    """Savepoint target: the local dir, or under the configured remote savepoint dir."""
    remote = os.environ.get("NETPULSE_FLINK_SAVEPOINT_DIR")
    del settings
    return f"{remote.rstrip('/')}/{local_dir.name}" if remote else f"file://{local_dir}"


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name) or "job"


def savepoint_size(path: str) -> int:
    """Bytes under a local savepoint directory (``file:`` URIs or plain paths)."""
    local = Path(re.sub(r"^file:(//)?", "", path))
    return sum(p.stat().st_size for p in local.rglob("*") if p.is_file()) if local.exists() else 0


def stop(job_name: str, settings: Settings) -> Deployment:
    """Stop the running job called ``job_name`` with a savepoint and record it in the ledger."""
    job = find_running(job_name)
    if job is None:
        raise ClusterError(f"no running job is named {job_name!r}; see `jobs` for what runs")
    started = time.monotonic()
    path = stop_with_savepoint(job.job_id, settings, job_name=job_name)
    last = last_deployment(settings, job_name) or {}
    entry = Deployment(
        action="stop", job_name=job_name, job_id=job.job_id, code_hash=last.get("code_hash", ""),
        git=last.get("git", ""), release=last.get("release", ""), savepoint_taken=path,
        flink_version=flink_version(), timings_s={"stop_with_savepoint": round(time.monotonic() - started, 2)},
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
            job_name, settings, savepoint, allow_non_restored=force, target=target,
            timeout=timeout, action="redeploy", record=False,
        )
    except IncompatiblePlanError as exc:
        rolled_back = _rollback(job_name, settings, savepoint, previous, timeout)
        where = f"; the previous version runs again as {rolled_back}" if rolled_back else (
            "; no previous release is recorded, so nothing runs now: resubmit an older version with "
            f"`submit {job_name} --savepoint {savepoint}`"
        )
        raise IncompatiblePlanError(f"redeploy refused: {exc}{where}") from exc
    deployment.previous_job_id = job.job_id
    deployment.savepoint_taken = savepoint
    deployment.timings_s.update(
        stop_with_savepoint=round(stopped - started, 2),
        savepoint_bytes=float(savepoint_size(savepoint)),
        total=round(time.monotonic() - started, 2),
    )
    if previous and previous.get("vertices") and deployment.vertices:
        old = {v["id"] for v in previous["vertices"]}
        new = {v["id"] for v in deployment.vertices}
        deployment.timings_s["plan_changed"] = float(old != new)
    deployment.record(settings)
    return deployment


def _rollback(
    job_name: str, settings: Settings, savepoint: str, previous: Mapping[str, Any] | None, timeout: float
) -> str | None:
    """Resubmit the previously recorded release from ``savepoint``; return the new job id."""
    if not previous or not previous.get("release") or not Path(previous["release"]).exists():
        return None
    old = dict(previous)
    old_root = Path(old["release"])
    target = _target_from_ledger(job_name, old_root, old)
    deployment = submit(
        job_name, settings, savepoint, target=target, timeout=timeout, action="rollback",
    )
    return deployment.job_id


def _target_from_ledger(job_name: str, root: Path, entry: Mapping[str, Any]) -> JobTarget:
    spec = entry.get("target") or {}
    return JobTarget(
        name=job_name, root=root, module=spec.get("module", "jobs"),
        packages=tuple(spec.get("packages", SHIPPED_PACKAGES)),
        args=tuple(spec.get("args", ("run", job_name))),
    )
