"""Start every service the suite uses, list what listens where, plant secrets, grep the logs.

Run by tests/reliability/test_security.py inside a private network namespace when permitted
(``unshare --net``: every listening socket seen there belongs to this scenario). Usage::

    python tests/reliability/security_scenario.py <work_dir>

Services: the seaweedfs S3 server (tests/s3server.py), the Kafka broker (jobs/ops/kafka_broker.py),
a standalone Flink cluster (jobs/ops/) running the sample job (a Python UDF, so Python
workers start), and a local MiniCluster job built by ``runtime.create_environment`` (as every
job is) with a Python UDF. The
ClickHouse password and the S3 secret key are planted as ``NETPULSE_*`` settings with values
that appear nowhere else, so any occurrence in a log is a leak. Prints ``RESULT <json>``:
every listening socket (address, port, process kind), where the secrets were present (the
processes' environments: a leak was possible) and where they were found in the logs.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "cluster"))

import s3server  # noqa: E402
import scenario as cluster_scenario  # noqa: E402

from jobs import settings  # noqa: E402
from jobs.ops import deploy, kafka_broker, lifecycle  # noqa: E402
from tests import netns  # noqa: E402


def process_kind(pid: int) -> str:
    """What a process is, from its command line."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "gone"
    for needle, kind in (
        ("StandaloneSessionClusterEntrypoint", "flink-jobmanager"), ("TaskManagerRunner", "flink-taskmanager"),
        ("kafka.Kafka", "kafka"), ("weed", "seaweedfs"), ("beam_boot", "python-worker"),
        ("pyflink.fn_execution", "python-worker"), ("PythonGatewayServer", "pyflink-gateway"),
        ("netpulse-local-job", "local-run"), ("netpulse-control-job", "local-run"), ("CliFrontend", "flink-client"),
        ("cluster_sample", "flink-client"),
    ):
        if needle in cmdline:
            return kind
    return cmdline[:80]


def listeners() -> set[tuple[str, str, str]]:
    """(address, port, process kind) of every listening TCP socket (``ss -ltnp``)."""
    out = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True, check=False).stdout
    found = set()
    for line in out.splitlines():
        fields = line.split()
        address, _, port = fields[3].rpartition(":")
        pids = [int(part.split(",")[0]) for part in line.split("pid=")[1:]]
        kinds = sorted({process_kind(pid) for pid in pids}) or ["?"]
        found.add((address.strip("[]"), port, "+".join(kinds)))
    return found


class Sampler:
    """Samples the listening sockets every half second in the background."""

    def __init__(self) -> None:
        self.seen: set[tuple[str, str, str]] = set()
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.seen |= listeners()
            except Exception as error:  # a process gone between ss and /proc: sample again
                self.errors.append(repr(error))
            time.sleep(0.5)

    def stop(self) -> list[tuple[str, str, str]]:
        """Every socket seen; one seen once without its owner (a process starting or exiting
        between ``ss`` and /proc) is kept only when no sample attributed it."""
        self._stop.set()
        self._thread.join()
        self.seen |= listeners()
        attributed = {(a, p) for a, p, k in self.seen if k not in ("?", "gone")}
        return sorted((a, p, k) for a, p, k in self.seen if k not in ("?", "gone") or (a, p) not in attributed)


def environ_holds(pid: int, values: list[str]) -> bool:
    try:
        data = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False
    return any(v.encode() in data for v in values)


def pids_of(kind: str) -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and process_kind(int(p.name)) == kind]


def found_in(paths: list[Path], values: list[str]) -> dict[str, list[str]]:
    """log file -> planted values it contains."""
    hits: dict[str, list[str]] = {}
    for path in paths:
        data = path.read_bytes()
        present = [v for v in values if v.encode() in data]
        if present:
            hits[str(path)] = present
    return hits


# A local job with one Python UDF, built like every job (runtime.create_environment).
LOCAL_JOB = """
import time
from pyflink.table import DataTypes
from pyflink.table.udf import udf
from jobs import runtime, settings
env, t_env = runtime.create_environment(settings.load(), "security-probe")
t_env.create_temporary_function("add_one", udf(lambda x: x + 1, result_type=DataTypes.BIGINT()))
with t_env.execute_sql("SELECT add_one(x) FROM (VALUES (1), (2), (3)) AS t(x)").collect() as rows:
    print(sorted(r[0] for r in rows))
"""


def local_env(directory: Path, planted: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NETPULSE_") and k != "LOG4J_PROPERTIES"}
    env.update({"NETPULSE_VAR_DIR": str(directory / "var"), "PYTHONPATH": str(ROOT),
                "FLINK_LOG_DIR": str(directory / "flink-log"), **planted})
    return env


# A local job with one Python UDF: enough for Beam to start a Python environment and log it.
CONTROL_JOB = """
import sys
from pyflink.table import DataTypes, EnvironmentSettings, TableEnvironment
from pyflink.table.udf import udf
env = TableEnvironment.create(EnvironmentSettings.in_batch_mode())
env.get_config().set("python.executable", sys.executable)
env.create_temporary_function("add_one", udf(lambda x: x + 1, result_type=DataTypes.BIGINT()))
with env.execute_sql("SELECT add_one(x) FROM (VALUES (1), (2)) AS t(x)").collect() as rows:
    print(sorted(r[0] for r in rows))
"""


def control_leaks(directory: Path, secret: str) -> int:
    """Lines holding ``secret`` in the log of a local job run with the wheel's own log
    configuration (no filter): shows the leak the filter prevents is real."""
    from jobs.ops.flink_dist import flink_home

    directory.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NETPULSE_")}
    env.update({"NETPULSE_S3_SECRET_KEY": secret, "FLINK_LOG_DIR": str(directory),
                "LOG4J_PROPERTIES": str(flink_home() / "conf" / "log4j-cli.properties")})
    subprocess.run([sys.executable, "-c", CONTROL_JOB, "netpulse-control-job"], env=env, check=True, capture_output=True, timeout=300)
    return sum(path.read_text(errors="replace").count(secret) for path in directory.glob("*.log"))


def main(work: Path) -> dict[str, Any]:
    planted = {"NETPULSE_CLICKHOUSE_PASSWORD": "planted-ch-" + secrets.token_hex(8),
               "NETPULSE_S3_SECRET_KEY": "planted-s3-" + secrets.token_hex(8)}
    values = list(planted.values())
    result: dict[str, Any] = {"netns": netns.in_private_netns(), "secret_names": sorted(planted)}
    sampler = Sampler()
    s3 = s3server.start(work / "s3")
    broker = kafka_broker.start(work / "kafka")
    env_holds: dict[str, bool] = {}
    try:
        # A standalone cluster whose processes carry the planted secrets (flink_conf.flink_env
        # passes every setting as a NETPULSE_* variable), running a job with a Python UDF.
        s = settings.load({"NETPULSE_VAR_DIR": str(work / "var"), **planted})
        lifecycle.start_cluster(s)
        try:
            out_dir = work / "out"
            deploy.submit("sample", s, target=cluster_scenario.target(out_dir, "v1"))
            cluster_scenario.wait_for_commits(out_dir, 5)
            env_holds["flink-taskmanager"] = any(environ_holds(p, values) for p in pids_of("flink-taskmanager"))
            env_holds["python-worker"] = any(environ_holds(p, values) for p in pids_of("python-worker"))
            deploy.stop("sample", s)  # closes the Python environment: Beam's dump would come now
        finally:
            lifecycle.stop_cluster(s)
        # A local MiniCluster job built by the jobs' own entry point (runtime.create_environment:
        # log configuration, loopback binds) with a Python UDF, the secrets in its environment.
        local = work / "local"
        local.mkdir()
        proc = subprocess.Popen(
            [sys.executable, "-c", LOCAL_JOB, "netpulse-local-job"], env=local_env(work / "local", planted),
            stdout=(local / "run.log").open("w"), stderr=subprocess.STDOUT, cwd=ROOT,
        )
        while proc.poll() is None:
            if not env_holds.get("pyflink-gateway"):
                env_holds["pyflink-gateway"] = any(environ_holds(p, values) for p in pids_of("pyflink-gateway"))
            time.sleep(0.5)
        result["local_run_exit"] = proc.returncode
        result["control_leaks"] = control_leaks(work / "control", values[0])
    finally:
        broker.stop()
        s3.stop()
        result["listening"] = sampler.stop()
        result["sampler_errors"] = sampler.errors[:5]
    logs = sorted(p for p in (work / "var" / "flink-log").glob("*") if p.is_file())
    logs += sorted(p for p in (work / "local" / "flink-log").glob("*") if p.is_file())
    logs += [work / "local" / "run.log"]
    result["local_run_output"] = (work / "local" / "run.log").read_text(errors="replace")[-300:]
    result["logs"] = {str(p.relative_to(work)): p.stat().st_size for p in logs}
    result["secrets_in_logs"] = found_in(logs, values)
    # Where the MiniCluster's BLOB server and REST endpoint listened (its log says so): the
    # local job (built by runtime.create_environment) and, for contrast, the control job.
    for name, directory in (("local", work / "local" / "flink-log"), ("control", work / "control")):
        text = "".join(p.read_text(errors="replace") for p in directory.glob("*.log"))
        result[f"{name}_minicluster_servers"] = sorted(set(re.findall(r"(?:Started BLOB server|Rest endpoint listening) at (\S+)", text)))
    result["secrets_in_environment"] = env_holds
    return result


if __name__ == "__main__":
    print("RESULT " + json.dumps(main(Path(sys.argv[1]).resolve())))
