"""naap.orchestrator_scorecard (sql/clickhouse/naap/0017) against a hand computation.

The view places each orchestrator-hour's quality inputs against the same pipeline's previous 7
whole days. The bundled fixtures hold too few requests for a cohort of 3 latency samples (every
quality score there is neutral), so the cohort here is written by hand, with weights that make
every quantile unambiguous, and the expected score is computed below from the catalog's
formula, independently of the SQL.
"""

from __future__ import annotations

import datetime as dt
import json

from jobs.connectors import clickhouse

PIPELINE = "scorecard-view-test"
ORCH = "0x00000000000000000000000000000000000000aa"
DAY = dt.datetime(2026, 3, 10, 14)


def _row(hour: dt.datetime, pipeline: str, orchestrator: str, reliability: float, **meta: float) -> dict:
    metadata = {"coverage": 0.5, "startup_success": 1.0, "no_swap": 1.0, "viability": 1.0, "attempts": 1,
                "covered_minutes": 30, "ptff_n": 0, "ptff_mean_ms": None, "playable_n": 0,
                "playable_mean_ms": None, "fps_n": 0, "fps_mean": None} | meta
    return {"metric_timestamp": hour, "window_start": hour, "window_end": hour + dt.timedelta(hours=1),
            "stream_id": "", "request_id": None, "gateway": "", "orchestrator_address": orchestrator,
            "orchestrator_url": "", "gpu_id": None, "region": "", "pipeline": pipeline, "model_id": pipeline,
            "metric_name": "orchestrator_reliability", "metric_category": "scorecard", "metric_version": 1,
            "metric_value": reliability, "metric_unit": "ratio", "metric_metadata": json.dumps(metadata)}


def _weighted_quantile(pairs: list[tuple[float, int]], level: float) -> float:
    total = sum(w for _, w in pairs)
    seen = 0
    for value, weight in sorted(pairs):
        seen += weight
        if seen >= level * total:
            return value
    raise AssertionError("empty cohort")


def _shrunk(raw: float | None, n: int) -> float:
    return 0.5 if raw is None else (n * raw + 3 * 0.5) / (n + 3)


def test_score_against_the_previous_seven_days(migrated) -> None:  # type: ignore[no-untyped-def]
    cohort_ptff = [(1000.0, 6), (2000.0, 2), (5000.0, 2)]
    cohort_fps = [(10.0, 2), (20.0, 8)]
    rows = [
        _row(DAY - dt.timedelta(days=3), PIPELINE, "0xc1", 1.0, ptff_n=6, ptff_mean_ms=1000.0, fps_n=2, fps_mean=10.0),
        _row(DAY - dt.timedelta(days=1), PIPELINE, "0xc2", 1.0, ptff_n=2, ptff_mean_ms=2000.0, fps_n=8, fps_mean=20.0),
        _row(DAY - dt.timedelta(days=7, hours=14), PIPELINE, "0xc3", 1.0, ptff_n=2, ptff_mean_ms=5000.0),
        # outside the window (8 days before) and another pipeline: not in the cohort
        _row(DAY - dt.timedelta(days=8), PIPELINE, "0xc4", 1.0, ptff_n=50, ptff_mean_ms=99999.0, fps_n=50, fps_mean=1.0),
        _row(DAY - dt.timedelta(days=1), "other-pipeline", "0xc5", 1.0, ptff_n=50, ptff_mean_ms=1.0),
        # the hour scored: ptff 2000 ms (1 sample), no playable sample, fps 18 (6 samples)
        _row(DAY, PIPELINE, ORCH, 0.9, coverage=0.5, ptff_n=1, ptff_mean_ms=2000.0, fps_n=6, fps_mean=18.0),
    ]
    client = clickhouse.connect(migrated)
    client.insert("naap.calculated_metrics", [list(r.values()) for r in rows], column_names=list(rows[0]))
    result = client.query(
        "SELECT * FROM naap.orchestrator_scorecard WHERE pipeline = {p:String} AND orchestrator_address = {o:String}",
        parameters={"p": PIPELINE, "o": ORCH})
    (got,) = [dict(zip(result.column_names, r, strict=True)) for r in result.result_rows]

    p50, p90 = _weighted_quantile(cohort_ptff, 0.5), _weighted_quantile(cohort_ptff, 0.9)
    f10, f50 = _weighted_quantile(cohort_fps, 0.1), _weighted_quantile(cohort_fps, 0.5)
    assert (p50, p90, f10, f50) == (1000.0, 5000.0, 10.0, 20.0)
    ptff = _shrunk(min(1.0, max(0.0, (p90 - 2000.0) / (p90 - p50))), 1)  # raw 0.75 -> 0.5625
    playable = _shrunk(None, 0)  # no sample: neutral
    fps = _shrunk(min(1.0, max(0.0, (18.0 - f10) / (f50 - f10))), 6)  # raw 0.8 -> 0.7
    quality = 0.6 * (0.6 * ptff + 0.4 * playable) + 0.4 * fps
    score = 100 * 0.5 * (0.7 * 0.9 + 0.3 * quality)
    assert (got["cohort_ptff_p50"], got["cohort_ptff_p90"], got["cohort_ptff_n"]) == (p50, p90, 10)
    assert (got["cohort_fps_p10"], got["cohort_fps_p50"], got["cohort_fps_n"]) == (f10, f50, 10)
    assert got["ptff_score"] == ptff == 0.5625
    assert got["playable_score"] == playable and got["cohort_playable_n"] == 0
    assert abs(got["fps_score"] - fps) < 1e-12 and abs(fps - 0.7) < 1e-12
    assert abs(got["quality"] - quality) < 1e-12
    assert abs(got["score"] - score) < 1e-9 and abs(score - 40.5375) < 1e-9
    assert (got["metric_name"], got["metric_version"]) == ("orchestrator_score", 1)
