"""bench.latency: window close (from the published event times) to the Parquet write; the Kafka leg's parts."""

import datetime as dt
import json
import os
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute  # noqa: F401 - pa.compute
import pyarrow.parquet as pq

from bench import latency_kafka
from bench.latency import window_closes, window_latencies
from bench.latency_kafka import prepare, watermark_input
from bench.report import latency_markdown

END = dt.datetime(2026, 2, 23, 0, 5, tzinfo=dt.UTC)
END_MS = int(END.timestamp() * 1000)


def test_latency_runs_from_the_file_that_moved_the_watermark_past_the_window(tmp_path: Path) -> None:
    part = tmp_path / "calculated_metrics" / "metric_date=2026-02-23" / "metric_category=performance"
    part.mkdir(parents=True)
    path = part / "part-x.parquet"
    table = pa.table({
        "metric_name": ["status_sample_count", "jitter_coefficient", "status_sample_count"],
        "window_end": pa.array([END, END, END + dt.timedelta(minutes=5)], pa.timestamp("ms", tz="UTC")),
    })
    pq.write_table(table, path)
    os.utime(path, (1000.0, 1000.0))
    lateness = 120_000
    published = [
        (990.0, END_MS - 60_000),       # watermark still 3 minutes behind the window end
        (995.0, END_MS + lateness),     # this file closes the window ending at END
        (996.0, END_MS + 60_000),       # an older event does not move the watermark back
    ]
    # The window ending 5 minutes later never closed during the feed: not counted.
    assert window_latencies(tmp_path, published, lateness, stopped_at=1010.0) == ([5.0], 0)
    # A window that closed but was never written counts with the time it waited (a lower bound).
    later = published + [(1002.0, END_MS + 5 * 60_000 + lateness)]
    pq.write_table(table.filter(pa.compute.equal(table.column("window_end"), table.column("window_end")[0])), path)
    os.utime(path, (1000.0, 1000.0))
    assert window_latencies(tmp_path, later, lateness, stopped_at=1010.0) == ([5.0, 8.0], 1)


# -- the Kafka leg (bench/latency_kafka.py): records, partitions, the watermark it drives ---------------
def _line(event_id: str, stream: str | None, ms: int) -> str:
    data = {"stream_id": stream} if stream else {}
    return json.dumps({"id": event_id, "type": "ai_stream_status", "timestamp": str(ms), "data": data})


def test_records_are_keyed_by_stream_and_streams_dealt_over_the_partitions() -> None:
    lines = [_line(f"e{i}", f"s{i % 6}", 1000 + i) for i in range(12)] + ["garbage{", _line("e-x", None, 5)]
    records = prepare(lines, partitions=4)
    by_stream: dict[bytes | None, set[int]] = {}
    for _, key, partition, _ in records:
        by_stream.setdefault(key, set()).add(partition)
    # one partition per stream; six streams in order of first appearance: 0 1 2 3 0 1
    assert {k: sorted(v) for k, v in by_stream.items() if k and k.startswith(b"s")} == {
        b"s0": [0], b"s1": [1], b"s2": [2], b"s3": [3], b"s4": [0], b"s5": [1],
    }
    assert records[0][0] == lines[0].encode() and records[0][3] == 1000
    # not JSON: unkeyed, no event time; an envelope without a stream: keyed by its event id
    assert records[12][1:] == (None, 2, 0)
    assert records[13][1:] == (b"e-x", 3, 5)


def test_the_slowest_partition_drives_the_watermark() -> None:
    assert watermark_input([5, 7, 9, 11]) == 5
    assert watermark_input([5, 0, 9, 11]) == 0  # a partition without a record holds it back


class _Producer:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, bytes | None, int]] = []
        self.flushes = 0

    def produce(self, topic: str, value: bytes, key: bytes | None, partition: int) -> None:
        assert topic == latency_kafka.TOPIC
        self.sent.append((value, key, partition))

    def flush(self, timeout: float) -> int:
        self.flushes += 1
        return 0

    def poll(self, timeout: float) -> int:
        return 0


def test_feed_sends_acknowledged_slices_at_the_rate_and_marks_each_slice() -> None:
    # Two partitions' worth of streams: partition p gets event times p*1000 + i.
    records = [(f"v{i}".encode(), b"k", i % 4, (i % 4 + 1) * 1000 + i) for i in range(100)]
    producer = _Producer()
    started = time.monotonic()
    marks, fed = latency_kafka.feed(producer, records[:80], rate=200)
    elapsed = time.monotonic() - started
    # 20 records per 0.1 s slice: 4 slices, the last one starting at 0.3 s
    assert fed == 80 and len(producer.sent) == 80 and producer.flushes == len(marks) == 4
    assert 0.35 <= elapsed < 1.0
    assert [p for _, _, p in producer.sent[:8]] == [0, 1, 2, 3, 0, 1, 2, 3]
    # after the first slice (records 0..19) the slowest partition (0) has seen 1000 + 16
    assert marks[0][1] == 1016 and marks[-1][1] == 1076
    assert [at for at, _ in marks] == sorted(at for at, _ in marks)


def test_a_window_closes_when_the_slowest_partition_passes_its_end() -> None:
    lateness = 120_000
    # per slice: the smallest per-partition maximum (watermark_input), as feed() records it
    marks = [(10.0, END_MS - 400_000), (11.0, END_MS - 1), (12.0, END_MS + lateness - 1), (13.0, END_MS + lateness)]
    assert window_closes(marks, lateness) == {END_MS - 300_000: 11.0, END_MS: 13.0}


def test_kafka_table_reports_lag_and_resources() -> None:
    row = {
        "source": "kafka", "rate": 20_000, "seconds": 60, "achieved_rate": 19_800, "feed_s": 60.1, "windows": 40,
        "never_written": 3, "p50_s": 4.1, "p95_s": 30.2, "p99_s": 41.0, "first_half_mean_s": 3.0,
        "second_half_mean_s": 25.0, "lag_max_during_feed": 400_000, "lag_at_feed_end": 600_000, "lag_at_end": 1200,
        "drain_s": None, "unread_at_feed_end": 500_000, "unread_at_end": 0, "job_cpu_s": 240.5, "job_peak_rss_mb": 2100, "broker_cpu_s": 30.1, "load_before": 0.4,
    }
    text = latency_markdown([row, {"rate": 5000, "seconds": 60, "windows": 1, "never_written": 0}])
    assert "| 20,000 (19,800) | 60 | 40 | 3 | 4.1 | 30.2 | 41.0 | 3.0 / 25.0 s | 400000 / 600000 / 1200 (never) |" in text
    assert "| 500000 / 0 | 240.5 | 2,100 | 30.1 | 0.4 |" in text
    assert "| 5,000 | 60 | 1 | 0 |" in text  # a files leg keeps its own table


def test_records_produced_by_a_moment_count_the_acknowledged_slices() -> None:
    marks = [(10.0, 1), (10.1, 2), (10.2, 3)]
    assert [latency_kafka.produced_by(marks, 20, 55, at) for at in (9.9, 10.0, 10.15, 11.0)] == [0, 20, 40, 55]
