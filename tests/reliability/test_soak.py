"""The soak (issue 18, item 4): minutes at half the measured peak rate, nothing growing, nothing lost.

tests/reliability/soak_scenario.py feeds ``naap`` from a 4-partition Kafka topic at ``SOAK_RATE``
events/s (default 2,200: half of the ~4,400 events/s at which ``naap`` drained a 300k backlog
from a 4-partition topic on the development machine, 2026-12-04) for ``SOAK_MINUTES`` (default
20), sampling every 10 s the checkpointed state size and duration, the JVM heap, the RSS of the
job's processes and the lag. Asserted: the verdicts of soak_verdicts.py after the warm-up (state
size, checkpoint duration, heap floor and RSS flat within 10%; the lag and the records not yet
read not growing), every jitter window written, every fed record accounted for and none twice.

``SOAK_SEED`` picks the generated events (default 42). ``SOAK_WORK`` is the work directory (default ``var/soak``: the plot ``soak.html`` and
``result.json`` stay there); ``SOAK_REUSE=1`` checks the result.json of a finished soak there
again instead of running one. Last results: docs/reliability.md, "Soak".
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from jobs.ops import flink_dist
from jobs.settings import PROJECT_ROOT

pytestmark = [pytest.mark.slow, pytest.mark.long]

SCENARIO = Path(__file__).resolve().parent / "soak_scenario.py"
MINUTES = float(os.environ.get("SOAK_MINUTES", "20"))
RATE = int(os.environ.get("SOAK_RATE", "2200"))
# The verdicts leave out the first 3 minutes (soak_verdicts.WARMUP_S); a shorter trial run
# leaves out its first quarter instead, so that its verdicts have points.
WARMUP_S = float(os.environ.get("SOAK_WARMUP_S", str(min(180.0, MINUTES * 60 / 4))))
WORK = Path(os.environ.get("SOAK_WORK", str(PROJECT_ROOT / "var" / "soak")))
SEED = int(os.environ.get("SOAK_SEED", "42"))  # the generated events' seed (bench/generate.py)


@pytest.fixture(scope="module")
def soak() -> dict[str, Any]:
    if os.environ.get("SOAK_REUSE") != "1":
        env = {k: v for k, v in os.environ.items() if not k.startswith("NETPULSE_") and k != "FLINK_CONF_DIR"}
        env["PYTHONPATH"] = str(PROJECT_ROOT)
        env.pop(flink_dist.REST_URL_ENV, None)
        argv = [sys.executable, str(SCENARIO), str(WORK), "--minutes", str(MINUTES), "--rate", str(RATE),
                "--warmup-s", str(WARMUP_S), "--seed", str(SEED)]
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=MINUTES * 60 + 1800,
                              cwd=PROJECT_ROOT, check=False)
        WORK.mkdir(parents=True, exist_ok=True)
        (WORK / "scenario.log").write_text(proc.stdout + "\n" + proc.stderr)
        if proc.returncode != 0:
            pytest.fail(f"soak failed (exit {proc.returncode}):\n{proc.stdout[-6000:]}\n{proc.stderr[-8000:]}")
        print(proc.stdout[-4000:])
    return json.loads((WORK / "result.json").read_text())


def test_fed_at_the_rate_for_the_duration(soak: dict[str, Any], record_property: Any) -> None:
    record_property("figures", {"fed": soak["events_fed"], "feed_s": soak["timings"]["feed_s"],
                                "rate": soak["achieved_rate"], "load_mean": (soak["load_during"] or {}).get("mean"),
                                "samples": sum(1 for s in soak["samples"] if s["phase"] == "feed")})
    assert soak["events_fed"] == int(RATE * MINUTES * 60)
    assert soak["achieved_rate"] >= 0.95 * RATE, "the producer fell behind: the soak did not run at its rate"
    feed_samples = [s for s in soak["samples"] if s["phase"] == "feed"]
    assert len(feed_samples) >= 0.9 * MINUTES * 6  # one every 10 s
    assert soak["job_exit"] == 0


@pytest.mark.parametrize("series", ["state_size", "over_aggregate_state", "checkpoint_duration", "heap_floor", "rss"])
def test_series_flat_after_the_warm_up(soak: dict[str, Any], series: str, record_property: Any) -> None:
    verdict = soak["verdicts"][series]
    record_property("figures", {"trend_pct": verdict["trend_pct"], "points": verdict["points"],
                                "start": round(verdict.get("fitted_start") or 0), "end": round(verdict.get("fitted_end") or 0)})
    assert verdict["flat"], verdict


@pytest.mark.parametrize("series", ["lag", "unread"])
def test_lag_not_growing(soak: dict[str, Any], series: str, record_property: Any) -> None:
    verdict = soak["verdicts"][series]
    record_property("figures", {k: verdict.get(k) for k in ("first_quarter_mean", "last_quarter_mean", "allowance", "max")})
    assert verdict["not_growing"], verdict


def test_every_window_written(soak: dict[str, Any], record_property: Any) -> None:
    w = soak["windows"]
    record_property("figures", {"written": w["written"], "closed_during_feed": w["closed_during_feed"],
                                "missing": len(w["missing"])})
    assert w["closed_during_feed"] > 0
    assert w["written"] >= w["closed_during_feed"]
    assert not w["missing"], w["missing"][:10]


def test_every_fed_record_accounted_for_and_none_twice(soak: dict[str, Any], record_property: Any) -> None:
    a = soak["accounting"]
    record_property("figures", {k: a[k] for k in ("fed", "raw_events", "source_dead_letters", "folded_repeats",
                                                  "unaccounted", "not_read_at_stop", "doubled_in_raw_events")})
    assert a["doubled_in_raw_events"] == 0
    assert a["raw_and_dead_letter_positions"] == 0
    assert a["not_read_at_stop"] == 0, "the job had not read every record when the soak stopped it"
    assert a["unaccounted"] == 0, a
