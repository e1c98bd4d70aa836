"""jobs/connectors/sinks.py BatchSink and jobs/connectors/parquet.py ParquetSink: tokens and lake files of one batch.

The ClickHouse insert is recorded instead of sent (no database here); the Parquet files are
written for real to a temporary lake and read back.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from jobs.connectors.sinks import BatchSink, batch_end_ms, batch_token
from jobs.settings import Settings


def _raw(i: int) -> str:
    day = "2026-01-01" if i % 2 else "2026-01-02"
    kind = "stream_trace" if i % 3 else "ai_stream_status"
    return json.dumps({
        "event_id": f"e{i:03d}", "dedup_key": f"k{i}", "event_timestamp": f"{day} 00:{59 - i % 60:02d}:00.000",
        "event_type": kind, "stream_id": "s", "request_id": "r", "gateway": "g",
        "orchestrator_address": "", "orchestrator_url": "", "raw_data": "{}", "source_position": str(i),
    })


@pytest.fixture
def sink(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[BatchSink, list[Any]]:
    sink = BatchSink(Settings(var_dir=tmp_path, parquet_url=str(tmp_path / "lake")))
    inserts: list[Any] = []
    monkeypatch.setattr(sink.clickhouse, "insert", lambda target, lines, token, arrow=None: inserts.append((token, arrow)))
    return sink, inserts


def test_a_presorted_batch_carries_the_token_of_its_rows(sink: tuple[BatchSink, list[Any]]) -> None:
    writer, inserts = sink
    lines = [_raw(i) for i in range(30)]
    writer.write("naap.raw_events", "b1", lines)
    writer.write("naap.raw_events", "b1", sorted(lines), presorted=True)
    assert inserts[0][0] == inserts[1][0] == batch_token("naap.raw_events", "b1", lines)
    assert inserts[0][1].num_rows == 30


def test_each_partition_is_one_file_sorted_by_time(tmp_path: Path, sink: tuple[BatchSink, list[Any]]) -> None:
    writer, _ = sink
    lines = [_raw(i) for i in range(30)]
    writer.write("naap.raw_events", "b1", lines)
    files = sorted((tmp_path / "lake" / "raw_events").rglob("*.parquet"))
    names = {str(f.relative_to(tmp_path / "lake" / "raw_events")) for f in files}
    assert names == {
        f"event_date={day}/event_type={kind}/part-b1.parquet"
        for day in ("2026-01-01", "2026-01-02") for kind in ("stream_trace", "ai_stream_status")
    }
    total = 0
    for path in files:
        table = pq.read_table(path, partitioning=None)
        day = path.parent.parent.name.split("=")[1]
        kind = path.parent.name.split("=")[1]
        assert set(table.column("event_type").to_pylist()) == {kind}
        assert {d.isoformat() for d in table.column("event_date").to_pylist()} == {day}
        times = table.column("event_timestamp").to_pylist()
        assert times == sorted(times)
        total += table.num_rows
    assert total == 30


def test_a_failing_parquet_write_is_retried_logged_then_raised(
    tmp_path: Path, sink: tuple[BatchSink, list[Any]], monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An S3 outage: each attempt logged with table, batch and rows; pauses double; then the
    writer raises (the job restarts) and the newest written batch does not move."""
    writer, inserts = sink
    writer.first_backoff_s = 0.001
    pauses: list[float] = []
    monkeypatch.setattr("jobs.connectors.sinks.time.sleep", pauses.append)
    written: list[str] = []

    def down(target: str, batch_id: str, table: Any) -> list[str]:
        written.append(batch_id)
        if len(written) <= 8:
            raise ConnectionError("S3 endpoint refused the connection")
        return []

    monkeypatch.setattr(writer.parquet, "write", down)
    lines = [_raw(i) for i in range(5)]
    with pytest.raises(RuntimeError, match="Parquet write of naap.raw_events batch 20260101-000000-60s .5 rows. failed 6 times"):
        writer.write("naap.raw_events", "20260101-000000-60s", lines)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert [w.split("(attempt ")[1][:3] for w in warnings] == [f"{i}/6" for i in range(1, 7)]
    assert all("S3 endpoint refused" in w for w in warnings)
    assert pauses == [0.001, 0.002, 0.004, 0.008, 0.016]
    assert writer.newest_batch_end_ms == 0 and len(inserts) == 1
    # Back up after two more failures: the replayed batch is written, the gauge moves.
    writer.write("naap.raw_events", "20260101-000000-60s", lines)
    assert len(written) == 9 and writer.newest_batch_end_ms == batch_end_ms("20260101-000000-60s")


def test_batch_end_ms_reads_the_window_end_from_the_batch_id() -> None:
    assert batch_end_ms("20260223-001000-60s") == 1_771_805_460_000  # 2026-02-23 00:11:00 UTC
    assert batch_end_ms("20260223-001000-5s") == 1_771_805_405_000
    assert batch_end_ms("b1") == 0
