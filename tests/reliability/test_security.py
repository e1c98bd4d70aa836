"""Security basics: every service binds loopback; planted secrets never reach a log.

tests/reliability/security_scenario.py starts the S3 server, the Kafka broker, a standalone
Flink cluster running a job with Python workers, and a local MiniCluster run of the naap
pipeline, inside a private network namespace (``unshare --net``) when permitted, with the
ClickHouse password and the S3 secret key planted as settings. Beam's gRPC servers for the
Python workers bind every interface and no option changes that (docs/operations.md, "Network
exposure"): they are the only listeners allowed off loopback, and only in the processes that
host Beam (TaskManager, the local run's gateway JVM and Python process, Python workers).
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from jobs.settings import PROJECT_ROOT
from tests import netns

# A cluster, a broker, an S3 server and two local jobs: minutes of work, so a long test (the
# filter itself is checked in the default run by tests/integration/test_flink_conf.py).
pytestmark = [pytest.mark.slow, pytest.mark.long]

SCENARIO = Path(__file__).resolve().parent / "security_scenario.py"
LOOPBACK = ("127.0.0.1", "::1", "::ffff:127.0.0.1")
# Processes whose off-loopback listeners are Beam's gRPC servers: the TaskManager (and in a
# local run the gateway JVM hosting the MiniCluster), the Python workers, and a local run's
# Python process (its loopback worker pool).
BEAM_HOSTS = {"flink-taskmanager", "pyflink-gateway", "python-worker", "local-run"}
# Fixed Flink ports of the standalone cluster (flink-conf/config.yaml): never off loopback.
FLINK_PORTS = {"8081", "6123", "6124"}


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("security")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NETPULSE_") and k != "FLINK_CONF_DIR"}
    env["PYTHONPATH"] = str(PROJECT_ROOT)
    proc = netns.run_isolated([sys.executable, str(SCENARIO), str(work)], env=env, timeout=900)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        pytest.fail(f"scenario failed (exit {proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}")
    result = json.loads(lines[-1].removeprefix("RESULT "))
    (work / "result.json").write_text(json.dumps(result, indent=2))
    return result


def test_every_service_binds_loopback(scenario: dict[str, Any], record_property: Any) -> None:
    assert scenario["netns"] == netns.netns_available()
    listening = [tuple(entry) for entry in scenario["listening"]]
    kinds = {kind for _, _, kind in listening}
    # Everything was seen listening: the check below is not vacuous.
    assert {"seaweedfs", "kafka", "flink-jobmanager", "flink-taskmanager"} <= kinds, kinds
    off_loopback = [(a, p, k) for a, p, k in listening if a not in LOOPBACK]
    by_kind = Counter(k for _, _, k in off_loopback)
    record_property("figures", {"listening": len(listening), "on_loopback": len(listening) - len(off_loopback),
                                **{f"beam_{k}": n for k, n in sorted(by_kind.items())}})
    for address, port, kind in off_loopback:
        assert kind in BEAM_HOSTS and port not in FLINK_PORTS, (address, port, kind)
    for address, port, kind in listening:
        if kind in ("seaweedfs", "kafka", "flink-jobmanager"):
            assert address in LOOPBACK, (address, port, kind)
    # The local MiniCluster's own servers (in the gateway JVM, next to Beam's): loopback when
    # built by runtime.create_environment; a plain PyFlink job binds its BLOB server to 0.0.0.0.
    local = scenario["local_minicluster_servers"]
    assert local and all(a.startswith(("127.0.0.1:", "localhost:")) for a in local), local
    assert any(a.startswith("0.0.0.0:") for a in scenario["control_minicluster_servers"])


def test_planted_secrets_never_reach_a_log(scenario: dict[str, Any], record_property: Any) -> None:
    assert scenario["local_run_exit"] == 0
    # The secrets were there to leak: in the environment of the TaskManager and its Python
    # workers, and of the local run's JVM (whose Beam dumps them unless filtered).
    assert scenario["secrets_in_environment"]["flink-taskmanager"] is True
    assert scenario["secrets_in_environment"]["pyflink-gateway"] is True
    logs = scenario["logs"]
    assert any("taskexecutor" in name and size > 0 for name, size in logs.items()), logs
    assert any("python" in name and size > 0 for name, size in logs.items()), logs
    record_property("figures", {"log_files": len(logs), "log_bytes": sum(logs.values()),
                                "secret_hits": len(scenario["secrets_in_logs"]),
                                "control_hits_without_filter": scenario["control_leaks"]})
    assert scenario["secrets_in_logs"] == {}
    # The same kind of job with Flink's own log configuration does write the secret.
    assert scenario["control_leaks"] > 0
