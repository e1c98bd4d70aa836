"""An hours-late record read right after a restore is dead-lettered as ``late``, never lost.

Flink does not checkpoint a source's watermark: a restored job's source has none until its
splits emit again, while the deduplication window restores its own. The late marker
(java/netpulse/operators/LateMarker.java) restores the watermark it had seen; without it the
record below passed the late check and the window dropped it without a trace
(docs/reliability.md, "Exactly-once from Kafka").

The job runs in a helper process (tests/restore_late_run.py: chDB allows one process per
database directory, and the job's writer runs in the driver process): real events, a
stop-with-savepoint, a restore, then an event 3 hours behind, one on time and one that closes
the on-time event's batch.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from conftest import ROOT
from restore_late_run import LATE_ID, ON_TIME_ID

pytestmark = [pytest.mark.slow, pytest.mark.long]  # two job starts and a savepoint: 1-2.5 min


@pytest.fixture(scope="module")
def restored(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    var = tmp_path_factory.mktemp("restore-late")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NETPULSE_")}
    env.update({
        "NETPULSE_VAR_DIR": str(var),
        "NETPULSE_MONITOR_INTERVAL_S": "1",   # streaming: the job watches the input directory
        "NETPULSE_ALLOWED_LATENESS_S": "1",   # part A's batches are written while the job runs
        "NETPULSE_BATCH_INTERVAL_S": "1",
        "PYTHONPATH": str(ROOT),
    })
    result = var / "result.json"
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "restore_late_run.py"), str(var), str(result)],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    return json.loads(result.read_text())


def test_the_job_wrote_rows_before_the_savepoint(restored: dict[str, Any]) -> None:
    assert restored["rows_before_savepoint"] > 100
    assert restored["savepoint"]


def test_an_hours_late_record_after_a_restore_is_a_late_dead_letter(restored: dict[str, Any]) -> None:
    late = [r for r in restored["dead_letter"] if r[0] == LATE_ID]
    assert [(stage, reason) for _, stage, reason, _ in late] == [("late", "late")], restored["dead_letter"]
    assert "at or before the watermark" in late[0][3]
    assert LATE_ID not in restored["raw_events"]


def test_the_record_on_time_after_the_restore_is_written_once(restored: dict[str, Any]) -> None:
    assert restored["raw_events"] == [ON_TIME_ID]
    assert not [r for r in restored["dead_letter"] if r[0] == ON_TIME_ID]
