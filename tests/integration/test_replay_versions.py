"""Metric versions across a replay: what ``replay --replace`` deletes before it recomputes a range.

Rows of catalog version 1 (a latency that version 2 redefines, one it removed, a jitter row it
kept) are written to the session's chDB and to Parquet in a far-away range (2019) that no other
test uses; a replace of the range's trace-derived metrics must take out every version of the
latencies and the removed metric, in both stores, and nothing else.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
import pytest

from jobs import replay
from jobs.connectors import clickhouse
from jobs.connectors.parquet import ParquetSink
from jobs.naap import catalog
from jobs.settings import Settings

DAY, OTHER_DAY = dt.date(2019, 3, 1), dt.date(2019, 3, 3)


def _row(name: str, version: int, day: dt.date, category: str = "performance") -> dict[str, Any]:
    ts = f"{day} 10:00:00.000"
    return {
        "metric_timestamp": ts, "window_start": ts, "window_end": ts, "stream_id": "s", "request_id": "r",
        "gateway": "g", "orchestrator_address": "0xabc", "orchestrator_url": "", "gpu_id": None, "region": "",
        "pipeline": "p", "model_id": "p", "metric_name": name, "metric_category": category,
        "metric_version": version, "metric_value": 1.0, "metric_unit": "ms", "metric_metadata": "{}",
    }


@pytest.fixture
def versioned(migrated: Settings, tmp_path: Path) -> Iterator[tuple[Settings, Any]]:
    settings = migrated.replace(parquet_url=str(tmp_path / "parquet"))
    client = clickhouse.connect(settings)
    rows = [
        _row("prompt_to_first_frame_latency", 1, DAY),
        _row("runner_processing_latency", 1, DAY),
        _row("jitter_coefficient", 1, DAY),
        _row("trace_latency_rejects", 1, DAY, "data_quality"),
        _row("runner_processing_latency", 1, OTHER_DAY),
    ]
    lines = [json.dumps(r) for r in rows]
    client.raw_insert("naap.calculated_metrics", insert_block=("\n".join(lines) + "\n").encode(), fmt="JSONEachRow",
                      settings={"date_time_input_format": "best_effort"})
    sink = ParquetSink(settings)
    sink.write("naap.calculated_metrics", "20190301-100000-60s", sink.parse("naap.calculated_metrics", lines))
    yield settings, client
    client.command("ALTER TABLE naap.calculated_metrics DELETE WHERE toYear(metric_timestamp) = 2019",
                   settings={"mutations_sync": 2})


def _clickhouse_rows(client: Any) -> list[tuple[str, int, str]]:
    result = client.query("SELECT metric_name, metric_version, toString(metric_date) FROM naap.calculated_metrics "
                          "WHERE toYear(metric_timestamp) = 2019 ORDER BY 1, 3")
    return [tuple(r) for r in result.result_rows]


def test_replace_deletes_every_version_of_recomputed_and_removed_metrics(versioned) -> None:  # type: ignore[no-untyped-def]
    settings, client = versioned
    plan = replay.ReplayPlan(DAY, DAY + dt.timedelta(days=1), ("stream_trace",))
    replay.delete_range(settings, plan)
    # the hourly analytics read trace and status events, so replaying stream_trace replays
    # ai_stream_status too (replay.complete_types): the jitter row goes as well; the other day
    # is outside the range
    assert "ai_stream_status" in plan.event_types
    assert _clickhouse_rows(client) == [("runner_processing_latency", 1, "2019-03-03")]
    root = Path(settings.parquet_url) / "calculated_metrics"
    table = ds.dataset(str(root), format="parquet", partitioning=None).to_table()
    assert sorted(zip(table.column("metric_name").to_pylist(), table.column("metric_date").to_pylist(), strict=True)) == [
        ("runner_processing_latency", OTHER_DAY)]
    # the data_quality file held only the rejects row: deleted, not left empty
    assert not list((root / "metric_date=2019-03-01" / "metric_category=data_quality").glob("*.parquet"))


def test_a_replace_replay_writes_metrics_under_its_own_file_names(tmp_path: Path) -> None:
    settings = Settings(parquet_url=str(tmp_path), token_salt="replay-0123abcd/")
    sink = ParquetSink(settings)
    lines = [json.dumps(_row("prompt_to_first_frame_latency", 2, DAY))]
    (metrics,) = sink.write("naap.calculated_metrics", "20190301-100000-60s", sink.parse("naap.calculated_metrics", lines))
    assert metrics.endswith("/part-20190301-100000-60s-replay-0123abcd.parquet")
    # the raw archive keeps its names: a replay rewrites the same events into the same files
    assert ParquetSink(settings)._suffix("naap.raw_events") == ""


def test_the_replay_rewrites_the_removed_metrics_only_with_the_trace_events() -> None:
    assert set(catalog.REMOVED) <= set(replay._metrics_of(None))
    assert set(catalog.REMOVED) <= set(replay._metrics_of(["stream_trace"]))
    assert not set(catalog.REMOVED) & set(replay._metrics_of(["ai_stream_status"]))
