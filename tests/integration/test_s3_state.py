"""Checkpoints and savepoints on a real S3 server through Flink's S3 filesystem plugin.

The short form, in the default run: the plugin of jars.lock loaded by the local MiniCluster
(tests/integration/s3_state_run.py, a process of its own), a job checkpointing to SeaweedFS
(tests/s3server.py), stopped with a savepoint there and restored from it, writes exactly the
rows of one uninterrupted run. The cluster form (a standalone cluster, the Tor job, stop,
resume, redeploy) is tests/cluster/test_tor_cluster.py in the long suite.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import s3server  # noqa: E402

from jobs.ops import flink_conf, jars  # noqa: E402
from jobs.settings import PROJECT_ROOT  # noqa: E402

pytestmark = pytest.mark.slow

RUN = Path(__file__).resolve().with_name("s3_state_run.py")
BUCKET = "flink-state"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    if not all(p.exists() for p in jars.paths(flink_conf.S3_PLUGIN_SET)):
        pytest.skip("the flink-s3 jar set is not fetched (python -m jobs.ops.jars fetch flink-s3)")
    work = tmp_path_factory.mktemp("s3-state")
    server = s3server.start(work / "s3")
    try:
        server.client().create_bucket(Bucket=BUCKET)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("NETPULSE_", "FLINK_"))}
        env.update(
            PYTHONPATH=str(PROJECT_ROOT),
            NETPULSE_VAR_DIR=str(work / "var"),
            NETPULSE_S3_ENDPOINT=server.endpoint,
            NETPULSE_S3_ACCESS_KEY=s3server.ACCESS_KEY,
            NETPULSE_S3_SECRET_KEY=s3server.SECRET_KEY,
            NETPULSE_FLINK_CHECKPOINT_DIR=f"s3://{BUCKET}/checkpoints",
            NETPULSE_FLINK_SAVEPOINT_DIR=f"s3://{BUCKET}/savepoints",
            FLINK_LOG_DIR=str(work / "flink-log"),
        )
        proc = subprocess.run(
            [sys.executable, str(RUN), str(work)],
            env=env, capture_output=True, text=True, timeout=300, check=False,
        )
    finally:
        server.stop()
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        pytest.fail(f"run failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
    result = json.loads(lines[-1].removeprefix("RESULT "))
    print(json.dumps(result, indent=2))
    return result


def test_checkpoints_and_the_savepoint_are_written_to_s3(run: dict[str, Any]) -> None:
    assert run["checkpoint_objects"] > 0
    assert str(run["savepoint"]).startswith(f"s3://{BUCKET}/savepoints/savepoint-")
    assert run["savepoint_objects"] > 0


def test_restored_job_writes_exactly_the_rows_of_one_uninterrupted_run(run: dict[str, Any]) -> None:
    assert 0 < run["rows_at_stop"] < 500  # stopped half-way: the restore had work to do
    assert run["rows"] == run["distinct"] == 500
    assert run["exactly_1_to_n"] is True
