"""One answer whatever the order: the same input set gives the same rows.

Runs (tests/conftest.py ``runs``): p1 reads the real capture files as they are, p2 the same
lines shuffled into randomly named files at parallelism 2, p3 every file reversed and listed in
reverse order; all three in BATCH mode. ps reads them as one time-ordered file in STREAMING
mode: the reference the jobs were checked against before (tests/minicluster/test_naap_metrics.py
holds the hand-computed values), identical but for the one event it calls late.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
import pytest
from conftest import canonical

pytestmark = pytest.mark.slow

# Where a row was read from names the input file: it differs when files are renamed, and so
# does the dead-letter key derived from it. Everything else must be equal.
POSITION = ("source_position", "reject_key")
LATE_EVENT, LATE_STREAM = "corpus-late", "corpus-s-late"


def _tables(run: Any) -> dict[str, list[str]]:
    return {table: canonical(rows, POSITION) for table, rows in run.tables().items()}


@pytest.mark.parametrize("variant", ["p2", "p3"])
def test_every_table_identical_for_any_file_order_naming_and_parallelism(runs, variant: str) -> None:  # type: ignore[no-untyped-def]
    expected, actual = _tables(runs["p1"]), _tables(runs[variant])
    assert sorted(actual) == sorted(expected)
    for table in expected:
        assert actual[table] == expected[table], table
    assert len(expected["calculated_metrics"]) > 50 and len(expected["orchestrator_metadata"]) > 100


def _parquet_rows(root: Path) -> dict[str, list[str]]:
    out = {}
    for table in ("calculated_metrics", "raw_events"):
        rows = ds.dataset(root / table, format="parquet", partitioning=None).to_table().to_pylist()
        out[table] = canonical([json.loads(json.dumps(r, default=str)) for r in rows], POSITION)
    return out


def test_parquet_identical_for_any_file_order(runs) -> None:  # type: ignore[no-untyped-def]
    runs["p1"].tables(), runs["p3"].tables()
    p1, p3 = runs["p1"].var_dir / "parquet", runs["p3"].var_dir / "parquet"
    names = {run: sorted(str(p.relative_to(root)) for p in root.rglob("*.parquet")) for run, root in (("p1", p1), ("p3", p3))}
    assert names["p1"] == names["p3"] and len(names["p1"]) > 10  # the same deterministic files
    assert _parquet_rows(p1) == _parquet_rows(p3)


LATE_DATE = "2026-02-05"  # the late event's day: no other input falls on it


def _without_late(rows: list[dict]) -> list[dict]:
    """p1's rows less those of the event that the streaming reference calls late (its raw,
    status and metric rows, and the aggregate rows of its 5-minute window and its hour)."""
    return [
        r for r in rows
        if r.get("event_id") != LATE_EVENT and r.get("stream_id") != LATE_STREAM
        and r.get("metric_date") != LATE_DATE
        and not str(r.get("metric_timestamp") or "").startswith(LATE_DATE)
    ]


def test_batch_equals_the_streaming_reference_on_time_ordered_input(runs) -> None:  # type: ignore[no-untyped-def]
    batch, stream = runs["p1"].tables(), runs["ps"].tables()
    late = [r for r in stream["dead_letter"] if r["reason"] == "late"]
    assert [(r["stage"], r["event_id"]) for r in late] == [("late", LATE_EVENT)]
    for table in batch:
        expected = [r for r in stream[table] if r.get("reason") != "late"]
        assert canonical(_without_late(batch[table]), POSITION) == canonical(expected, POSITION), table
    # the late event was accepted in BATCH mode: one raw row, one status row, its window rows
    assert [r["event_id"] for r in batch["raw_events"] if r["event_id"] == LATE_EVENT] == [LATE_EVENT]
    assert {r["metric_name"] for r in batch["calculated_metrics"] if r["stream_id"] == LATE_STREAM} == {
        "output_fps_mean", "status_sample_count"}
