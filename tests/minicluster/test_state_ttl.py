"""Per-key state without a window expires after the state TTL, and turning the TTL on keeps a savepoint.

The warm-up flag of a stream (the first positive-fps time, an OVER aggregate in
jobs/naap/metrics.py) is state that no window closes: without a TTL it stays for every stream
ever seen (docs/reliability.md, "Soak"). ``NETPULSE_STATE_TTL_S`` drops it a while after the
stream's last sample. The scenario (tests/state_ttl_run.py) takes a savepoint of a job without
the TTL, restores it into one with a TTL of 2 s, and lets a stream fall silent for 8 s in the
middle of its 5-minute window.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from conftest import ROOT

pytestmark = [pytest.mark.slow]


@pytest.fixture(scope="module")
def silent(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    var = tmp_path_factory.mktemp("state-ttl")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NETPULSE_")}
    env.update({
        "NETPULSE_VAR_DIR": str(var),
        "NETPULSE_MONITOR_INTERVAL_S": "1",   # streaming: the job watches the input directory
        "NETPULSE_ALLOWED_LATENESS_S": "1",
        "NETPULSE_BATCH_INTERVAL_S": "1",
        "NETPULSE_METRICS_BATCH_INTERVAL_S": "1",
        "PYTHONPATH": str(ROOT),
    })
    result = var / "result.json"
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "state_ttl_run.py"), str(var), str(result)],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    return json.loads(result.read_text())


def test_one_window_row(silent: dict[str, Any]) -> None:
    assert len(silent["window"]) == 1, silent["window"]
    value, _ = silent["window"][0]
    assert value == 5  # every sample of the stream: +0, +10, +20, +30, +40 s


def test_the_restored_state_then_its_expiry_decide_the_warm_up(silent: dict[str, Any]) -> None:
    _, metadata = silent["window"][0]
    # warm-up: +0 s (before the first positive sample) and +30 s (after 8 s of silence the
    # stream's state had expired); +20 s is not warm-up: the state restored from the savepoint
    # of the job without TTL still knew the positive sample at +10 s.
    assert (metadata["warmup_sample_count"], metadata["sample_count"]) == (2, 3), metadata
