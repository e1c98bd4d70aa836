"""The soak's verdicts (tests/reliability/soak_verdicts.py) on made-up series."""

from __future__ import annotations

import math
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reliability"))

import soak_verdicts as sv  # noqa: E402

TIMES = [180.0 + 10 * i for i in range(103)]  # 3 to 20 minutes, every 10 s


def test_a_flat_noisy_series_passes() -> None:
    rng = random.Random(1)
    points = [(t, 100.0 + rng.uniform(-5, 5)) for t in TIMES]
    verdict = sv.flat(points)
    assert verdict["flat"] and abs(verdict["trend_pct"]) < 3


def test_a_15_percent_ramp_fails() -> None:
    span = TIMES[-1] - TIMES[0]
    points = [(t, 100.0 * (1 + 0.15 * (t - TIMES[0]) / span)) for t in TIMES]
    verdict = sv.flat(points)
    assert not verdict["flat"]
    assert verdict["trend_pct"] == 15.0


def test_a_ramp_just_under_the_limit_passes_and_a_falling_series_passes() -> None:
    span = TIMES[-1] - TIMES[0]
    assert sv.flat([(t, 100.0 * (1 + 0.09 * (t - TIMES[0]) / span)) for t in TIMES])["flat"]
    assert sv.flat([(t, 100.0 * (1 - 0.5 * (t - TIMES[0]) / span)) for t in TIMES])["flat"]


def test_a_sawtooth_heap_with_a_flat_floor_passes_on_its_per_minute_minimum() -> None:
    # Fills by 60 MB over 40 s, collected back to a 200 MB floor; the teeth are not aligned to minutes.
    heap = [(t, 200e6 + 60e6 * ((t % 40) / 40)) for t in TIMES]
    floor = sv.per_minute_minimum(heap)
    assert len(floor) == 18 and all(v < 220e6 for _, v in floor)
    assert sv.flat(floor)["flat"]
    # The same teeth on a rising floor (+20% over the span) fail.
    span = TIMES[-1] - TIMES[0]
    rising = [(t, v + 40e6 * (t - TIMES[0]) / span) for t, v in heap]
    assert not sv.flat(sv.per_minute_minimum(rising))["flat"]


def test_trend_needs_three_points_and_a_span() -> None:
    assert sv.trend([(0.0, 1.0), (10.0, 2.0)]) is None
    assert sv.trend([(5.0, 1.0), (5.0, 2.0), (5.0, 3.0)]) is None
    assert sv.flat([])["flat"] is False
    fitted = sv.trend([(0.0, 0.0), (10.0, 1.0), (20.0, 2.0)])
    assert fitted is not None and math.isinf(fitted["relative"])


def test_lag_not_growing_allows_one_checkpoint_interval_of_records() -> None:
    steady = [(t, 10_000.0 + (5_000 if i % 2 else 0)) for i, t in enumerate(TIMES)]
    assert sv.lag_not_growing(steady, allowance=22_000)["not_growing"]
    growing = [(t, 10_000.0 + 300 * i) for i, t in enumerate(TIMES)]  # +30k over the run
    verdict = sv.lag_not_growing(growing, allowance=22_000)
    assert not verdict["not_growing"]
    assert verdict["last_quarter_mean"] > verdict["first_quarter_mean"] + 22_000


def test_verdicts_leave_out_the_warm_up_and_the_samples_after_the_feed() -> None:
    samples = []
    for i, t in enumerate([10.0 * i for i in range(121)]):
        warm = t < sv.WARMUP_S
        samples.append({
            "t_s": t, "phase": "feed", "checkpoint_id": i // 2,
            "state_bytes": (1e6 * (1 + t / 60)) if warm else 4e6,  # fills during the warm-up only
            "over_state_bytes": (1e4 * t) if warm else 2e6,  # bounded by the state TTL after the warm-up
            "checkpoint_ms": 500.0, "heap_bytes": 3e8 + 1e8 * ((t % 40) / 40), "rss_kb": 2e6,
            "lag": 20_000.0, "unread": 1_000.0,
        })
    samples.append({"t_s": 1300.0, "phase": "settle", "state_bytes": 9e9, "checkpoint_id": 999, "lag": 9e9})
    result = sv.verdicts(samples, checkpoint_interval_s=10, rate=2200)
    assert result["all_pass"], result
    assert result["state_size"]["points"] == len({i // 2 for i in range(18, 121)})
    samples[100]["state_bytes"] = samples[110]["state_bytes"] = 5e6  # the same checkpoints seen twice
    grown = [dict(s, state_bytes=4e6 * (1 + 0.2 * max(0.0, s["t_s"] - 180) / 1020)) if s["phase"] == "feed" else s
             for s in samples]
    result = sv.verdicts(grown, checkpoint_interval_s=10, rate=2200)
    assert not result["state_size"]["flat"] and not result["all_pass"]
    # Per-key state without a TTL: +0.8 MB of 2 MB over the run fails on its own.
    unbounded = [dict(s, over_state_bytes=2e6 + 800 * max(0.0, s["t_s"] - 180)) if s["phase"] == "feed" else s
                 for s in samples]
    result = sv.verdicts(unbounded, checkpoint_interval_s=10, rate=2200)
    assert not result["over_aggregate_state"]["flat"] and not result["all_pass"]
