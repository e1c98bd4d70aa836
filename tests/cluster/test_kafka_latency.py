"""The Kafka latency leg of the benchmark (bench/latency_kafka.py) at a small rate, for real.

A real broker (jars.lock, KRaft, loopback), a 4-partition topic, the naap job reading it with
checkpoints, 8 s of produced events: windows close, are written to ClickHouse and Parquet, and
the consumer group's committed offsets reach the end of the topic.

Long-marked (``bash scripts/test.sh -m long``): a broker, a migration and a Flink job start
before 8 s of feed, and the job works through the 48k events while its JIT warms up; the whole
leg takes 2-5 minutes on the 2-core machine (5 at load 20).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import generate, latency_kafka
from bench.generate import dataset

RATE, SECONDS = 6000, 8  # 48k events: ~12 minutes of event time, two 5-minute windows close


@pytest.mark.slow
@pytest.mark.long
def test_kafka_latency_leg_measures_windows_and_drains_the_lag(tmp_path: Path) -> None:
    data, _ = dataset(tmp_path, 60_000, 42, generate.DEFAULT_STREAMS, generate.DEFAULT_PER_FILE)
    # settle_s: how long the leg may wait for the job to catch up after the feed; it stops as soon
    # as everything is committed and written (a few seconds on an idle machine, 90 s seen at load 20)
    r = latency_kafka.run(RATE, SECONDS, tmp_path, data=data, settle_s=240)
    assert r["source"] == "kafka" and r["events_fed"] == RATE * SECONDS, r
    assert RATE * 0.8 <= r["achieved_rate"] <= RATE * 1.05, r
    # (48k events - 2 min of lateness) cover the 5- and 10-minute window ends: both close and are written
    assert r["windows"] >= 2 and r["never_written"] == 0, r
    # from the window's close to its Parquet file (ClickHouse written before it): positive, ordered;
    # how long depends on the machine's load, not asserted here
    assert 0 < r["p50_s"] <= r["p95_s"] <= r["p99_s"] <= r["max_s"], r
    # the job read and committed everything it was sent
    assert r["lag_at_end"] == 0 and r["drain_s"] is not None and r["drain_s"] >= 0, r
    assert r["unread_at_end"] == 0, r  # the source emitted every record (Flink's own count)
    assert r["job_cpu_s"] > 0 and r["job_peak_rss_mb"] > 100 and r["broker_cpu_s"] > 0, r
    assert r["broker_peak_rss_mb"] > 50 and r["producer_cpu_s"] > 0, r
    # the events of every closed 60 s batch are written (the last ~2 minutes of event time stay
    # open behind the watermark: ~80% of what was produced)
    assert 0.6 * RATE * SECONDS <= r["rows"]["raw_events"] < RATE * SECONDS, r["rows"]
    assert r["rows"]["calculated_metrics"] > 0 and r["rows"]["parquet_rows"] > 0, r["rows"]
