"""Streaming latency through Kafka: a steady produce rate, window close to queryable, consumer lag.

    python -m bench.latency --rate 20000 --seconds 60          (the default leg of bench.latency)
    python -m bench.run --sizes '' --latency 5000,10000,20000

One leg (one feed rate), in ``var/bench/runs/latency-kafka-r<R>/``:

1. A one-node Apache Kafka broker (jobs/ops/kafka_broker.py: the jars of jars.lock, KRaft, bound to
   127.0.0.1) and a topic of 4 partitions.
2. ``naap`` reading the topic (NETPULSE_SOURCE=kafka, from the earliest offset, unbounded) with a
   checkpoint every 2 s, on which the group's offsets are committed (bench/latency_job.py), after
   ``python -m jobs migrate``. The feed starts once every task of the job runs.
3. The generated events (bench/generate.py: the smallest cached set holding rate x seconds lines,
   in arrival order) produced with confluent-kafka, the client jobs/connectors/kafka.py uses (idempotent,
   acks=all), at R events/s in slices of 0.1 s, each slice acknowledged by the broker before the
   next. Records are keyed by stream id and every stream stays on one partition (streams are
   dealt round robin over the partitions in order of first appearance, so each partition carries
   a quarter of them). Lines are parsed for key and event time before the feed starts.

A 5-minute jitter window closes when the job's watermark passes its end. The Kafka source tracks
event time per partition, so the watermark is the smallest over the partitions of (largest
event time in the partition - NETPULSE_ALLOWED_LATENESS_S, 120 s); a window counts as closed
when the slice that moves that past its end is acknowledged, i.e. from the moment its closing
records are in the topic (the source's fetch and the 200 ms watermark interval are part of
the latency). The window is queryable when the Parquet file of the batch holding its rows
appears: the writer inserts into ClickHouse first, synchronously, then writes the file
(jobs/connectors/sinks.py), so the file's modification time is when both are done (the embedded
ClickHouse cannot be queried from a second process while the job holds it).

After the feed the leg waits (at most ``settle_s``) until the group's committed offsets reach
the end of every partition and every closed window is written; a window unwritten then counts as
never written, with the time it had waited (a lower bound).

Reported: windows closed during the feed, never written, p50/p95/p99/max and the mean of each
half of the feed (bench/latency.py); the consumer lag (end offset - committed offset, summed over
the partitions: what Kafka tooling shows; up to one checkpoint interval of records while the job
keeps up) every 5 s of the feed, at its end and at the end, and the seconds after the feed until
it reached 0; the records produced but not yet emitted by the job's source (Flink's metrics)
at the same moments; CPU seconds and peak RSS of the job's process tree (JVM, Python workers, embedded
ClickHouse), of the broker and of the producer (this process); rows per table at the end.
"""

from __future__ import annotations

import itertools
import json
import os
import resource
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from bench import generate, latency_job
from bench.latency_windows import dataset_for, summary, window_closes, window_latencies, written_windows
from bench.process_tree import TreeSampler, count_rows
from jobs import progress
from jobs.connectors import kafka
from jobs.ops import kafka_broker

TOPIC = "streaming-events"
GROUP_ID = "netpulse-latency"
PARTITIONS = 4
SLICE_S = 0.1
CHECKPOINT_MS = 2000
LATENESS_S = 120  # the job's default allowed lateness: per-partition order needs no more
LAG_EVERY_S = 5.0

# value, key (stream id), partition, envelope event time in ms (0: none the job can use)
Record = tuple[bytes, bytes | None, int, int]


def iter_lines(data: Path, count: int) -> Iterator[str]:
    """The first ``count`` lines of a generated set, in its (arrival) order."""
    left = count
    for part in sorted(data.glob(generate.FILE_PATTERN)):
        with part.open() as f:
            for line in f:
                if left <= 0:
                    return
                left -= 1
                yield line.rstrip("\n")


def _event_ms(envelope: Any) -> int:
    try:
        return int(envelope["timestamp"])
    except (TypeError, KeyError, ValueError):
        return 0


def iter_records(lines: Iterable[str], partitions: int = PARTITIONS) -> Iterator[Record]:
    """Each line as a record, lazily: keyed by stream id (jobs.connectors.kafka.stream_key), one partition per stream.

    Streams are dealt round robin in order of first appearance, so the partitions carry equal
    shares of the streams (a hash of 200 keys over 4 partitions is uneven). Lines that are not
    JSON go out unkeyed, on the partition of the unkeyed records. Holds one partition number per
    stream seen, not the records (the soak feeds millions: tests/reliability/soak_scenario.py).
    """
    assigned: dict[bytes | None, int] = {}
    for line in lines:
        try:
            envelope = json.loads(line)
        except ValueError:
            envelope = None
        key = kafka.envelope_key(envelope)
        partition = assigned.setdefault(key, len(assigned) % partitions)
        yield line.encode(), key, partition, _event_ms(envelope)


def prepare(lines: Iterable[str], partitions: int = PARTITIONS) -> list[Record]:
    """Every line as a record (:func:`iter_records`), all in memory before the feed starts."""
    return list(iter_records(lines, partitions))


def watermark_input(highest: list[int]) -> int:
    """The event time that drives the job's watermark: the smallest per-partition maximum.

    0 while a partition has had no record (its split holds the watermark back).
    """
    return min(highest) if all(highest) else 0


def feed(
    producer: Any,
    records: Iterable[Record],
    rate: int,
    on_slice: Callable[[float, int], None] | None = None,
) -> tuple[list[tuple[float, int]], int]:
    """Produce every record at ``rate`` records/s, in slices of SLICE_S each acknowledged by the broker.

    A slice starts on schedule, or at once when the ones before it took longer (the achieved rate
    then falls short: bench reports it). ``records`` may be lazy: a slice is taken from it when
    due. Returns (time acknowledged, :func:`watermark_input` after it) per slice, and the records
    sent; ``on_slice(time acknowledged, records sent so far)`` is called after each slice.
    """
    per_slice = max(1, round(rate * SLICE_S))
    highest = [0] * PARTITIONS
    marks: list[tuple[float, int]] = []
    start = time.monotonic()
    position, index = 0, 0
    pending = iter(records)
    while chunk := list(itertools.islice(pending, per_slice)):
        for value, key, partition, ms in chunk:
            while True:
                try:
                    producer.produce(TOPIC, value=value, key=key, partition=partition)
                    break
                except BufferError:  # the local queue is full: let deliveries drain
                    producer.poll(0.05)
            if ms > highest[partition]:
                highest[partition] = ms
        position += len(chunk)
        left = producer.flush(60)
        if left:
            raise RuntimeError(f"{left} records not acknowledged within 60 s by the broker")
        marks.append((time.time(), watermark_input(highest)))
        if on_slice is not None:
            on_slice(marks[-1][0], position)
        index += 1
        time.sleep(max(0.0, start + index * SLICE_S - time.monotonic()))
    return marks, position


class LagSampler(threading.Thread):
    """Every ``interval_s`` seconds: (wall time, records not committed, records the job has read).

    Not committed: the group's lag (:func:`total_lag`). Read: the records the job's Kafka source
    emitted (:func:`records_read`; None when unknown). Under backpressure the checkpoint barriers
    queue behind the backlog, so commits fall further behind than reads.
    """

    def __init__(self, bootstrap: str, rest_url: str | None, interval_s: float = LAG_EVERY_S):
        super().__init__(daemon=True, name="lag-sampler")
        self.bootstrap = bootstrap
        self.rest_url = rest_url
        self.interval_s = interval_s
        self.samples: list[tuple[float, int | None, int | None]] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.interval_s):
            self.samples.append((time.time(), total_lag(self.bootstrap), records_read(self.rest_url)))


def records_read(rest_url: str | None) -> int | None:
    """Records the job's source has emitted so far (Flink's metrics, refreshed every 5 s), or None."""
    if not rest_url:
        return None
    try:
        totals = progress.Reporter(rest_url, "naap", LAG_EVERY_S).sample()
    except (OSError, ValueError, KeyError):
        return None
    return None if totals is None else totals["events"]


def produced_by(marks: list[tuple[float, int]], per_slice: int, fed: int, at: float) -> int:
    """Records acknowledged by the broker at wall time ``at`` (slices of ``per_slice``)."""
    return min(fed, per_slice * sum(1 for acked, _ in marks if acked <= at))


def total_lag(bootstrap: str, group_id: str = GROUP_ID) -> int | None:
    """Records the group has not committed, over every partition (None while Kafka cannot say)."""
    try:
        return sum(kafka.consumer_lag(bootstrap, TOPIC, group_id, timeout=5).values())
    except Exception:  # noqa: BLE001 - e.g. the group coordinator is still loading: ask again later
        return None


def wait_ready(job: subprocess.Popen[bytes], ready: Path, log: Path, timeout_s: float) -> tuple[float, str | None]:
    """(wall time, REST URL) from bench/latency_job.py's ready file, once it is written.

    Raises:
        RuntimeError: the job exited first or was not running after ``timeout_s`` (with its log).
    """
    deadline = time.monotonic() + timeout_s
    while not ready.exists():
        if job.poll() is not None:
            raise RuntimeError(f"the job exited ({job.returncode}) before it ran:\n{log.read_text()[-4000:]}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the job was not running after {timeout_s:.0f} s; see {log}")
        time.sleep(0.5)
    info = json.loads(ready.read_text())
    return float(info["at"]), info.get("rest_url")


def run(
    rate: int,
    seconds: float,
    root: Path,
    *,
    data: Path | None = None,
    settle_s: float = 60.0,
    checkpoint_ms: int = CHECKPOINT_MS,
    lateness_s: int = LATENESS_S,
    start_timeout_s: float = 300.0,
) -> dict[str, Any]:
    """One Kafka latency leg: produce ``rate`` events/s for ``seconds``; returns its figures.

    ``data``: a generated set to take the lines from (default: the smallest cached one that
    holds rate x seconds lines, see bench.latency.dataset_for).
    """
    data = data or dataset_for(root, int(rate * seconds))
    var = root / "runs" / f"latency-kafka-r{rate}"
    shutil.rmtree(var, ignore_errors=True)
    var.mkdir(parents=True)
    load_before = round(os.getloadavg()[0], 1)
    started = time.time()
    broker = kafka_broker.start(var / "kafka")
    broker_sampler = TreeSampler(broker.process.pid)
    broker_sampler.start()
    job: subprocess.Popen[bytes] | None = None
    job_sampler: TreeSampler | None = None
    try:
        kafka.ensure_topic(broker.bootstrap, TOPIC, PARTITIONS)
        env = latency_job.job_env(var, broker.bootstrap, TOPIC, GROUP_ID, lateness_s)
        job, ready, log = latency_job.start_job(var, env, checkpoint_ms)
        job_sampler = TreeSampler(job.pid)
        job_sampler.start()
        records = prepare(iter_lines(data, int(rate * seconds)))  # while the job starts
        running_at, rest_url = wait_ready(job, ready, log, start_timeout_s)

        from confluent_kafka import Producer

        errors: list[str] = []
        producer = Producer({
            "bootstrap.servers": broker.bootstrap, "enable.idempotence": True, "acks": "all",
            "linger.ms": 5, "log_level": 3, "delivery.report.only.error": True,
            "on_delivery": lambda err, _msg: errors.append(str(err)),
        })
        lags = LagSampler(broker.bootstrap, rest_url)
        lags.start()
        cpu_before, feed_started = time.process_time(), time.time()
        marks, fed = feed(producer, records, rate)
        producer_cpu_s = time.process_time() - cpu_before
        feed_ended = time.time()
        lags.stopped.set()
        del producer  # before the broker stops: an idle producer would log reconnect failures
        if errors:
            raise RuntimeError(f"{len(errors)} records were not delivered; first: {errors[0]}")
        del records
        lag_at_feed_end, read_at_feed_end = total_lag(broker.bootstrap), records_read(rest_url)
        # Settle: until the group has committed everything, the source has emitted everything and
        # every closed window is written.
        closes = window_closes(marks, lateness_s * 1000)
        seen: dict[tuple[str, int], list[int]] = {}
        drained_at: float | None = None
        lag_at_end, read_at_end = lag_at_feed_end, read_at_feed_end
        while time.time() < feed_ended + settle_s:
            lag_at_end, read_at_end = total_lag(broker.bootstrap), records_read(rest_url)
            if lag_at_end == 0 and drained_at is None:
                drained_at = time.time()
            read_all = read_at_end is None or read_at_end >= fed  # the metrics lag up to 5 s behind
            if lag_at_end == 0 and read_all and set(closes) <= set(written_windows(var / "parquet", seen)):
                break
            time.sleep(1.0)
        stopped_at = time.time()
    finally:
        if job is not None:
            latency_job.stop_job(job)
        if job_sampler is not None:
            job_sampler.stopped.set()
            job_sampler.join()
        broker_sampler.stopped.set()
        broker.stop()
        broker_sampler.join()
        shutil.rmtree(var / "kafka" / "data", ignore_errors=True)  # the topic's log: ~0.75 GB per 1M events
    latencies, missing = window_latencies(var / "parquet", marks, lateness_s * 1000, stopped_at)
    feed_s = (marks[-1][0] - feed_started) if marks else 0.0
    per_slice = max(1, round(rate * SLICE_S))
    during = [lag for at, lag, _ in lags.samples if at <= feed_ended and lag is not None]
    result: dict[str, Any] = {
        "source": "kafka",
        "rate": rate,
        "seconds": seconds,
        "events_fed": fed,
        "feed_s": round(feed_s, 1),
        "achieved_rate": round(fed / feed_s) if feed_s else 0,
        "windows": len(latencies),
        "never_written": missing,
        **summary(latencies),
        # [seconds into the feed, records not committed, records not read by the job] every 5 s
        "lag_during_feed": [
            [round(at - feed_started, 1), lag, None if read is None else produced_by(marks, per_slice, fed, at) - read]
            for at, lag, read in lags.samples
        ],
        "lag_max_during_feed": max(during, default=None),
        "lag_at_feed_end": lag_at_feed_end,
        "lag_at_end": lag_at_end,
        "unread_at_feed_end": None if read_at_feed_end is None else fed - read_at_feed_end,
        "unread_at_end": None if read_at_end is None else fed - read_at_end,
        "drain_s": round(drained_at - feed_ended, 1) if drained_at is not None else None,
        "settled_s": round(stopped_at - feed_ended, 1),
        "job_start_s": round(running_at - started, 1),
        "job_cpu_s": round(job_sampler.cpu_s, 1) if job_sampler else None,
        "job_peak_rss_mb": round(job_sampler.peak_kb / 1024) if job_sampler else None,
        "broker_cpu_s": round(broker_sampler.cpu_s, 1),
        "broker_peak_rss_mb": round(broker_sampler.peak_kb / 1024),
        "producer_cpu_s": round(producer_cpu_s, 1),
        "producer_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "checkpoint_ms": checkpoint_ms,
        "allowed_lateness_s": lateness_s,
        "load_before": load_before,
        "data": str(data),
        "var": str(var),
    }
    result["rows"] = count_rows(var, var, "latency")
    (var / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def describe(r: dict[str, Any]) -> str:
    """One leg's figures in two lines (the JSON has them all)."""
    drain = f"0 after {r['drain_s']} s" if r.get("drain_s") is not None else f"{r['lag_at_end']} (never 0)"
    return (
        f"kafka {r['rate']:,} events/s: {r['events_fed']:,} fed in {r['feed_s']} s ({r['achieved_rate']:,}/s); "
        f"{r['windows']} windows, {r['never_written']} never written; p50 {r.get('p50_s', '-')} s, "
        f"p95 {r.get('p95_s', '-')} s, p99 {r.get('p99_s', '-')} s; halves {r.get('first_half_mean_s', '-')} / "
        f"{r.get('second_half_mean_s', '-')} s\n"
        f"  lag (not committed): max {r['lag_max_during_feed']} during the feed, {r['lag_at_feed_end']} at its end, "
        f"{drain}; not read: {r.get('unread_at_feed_end')} at the feed's end, {r.get('unread_at_end')} at the end; "
        f"job CPU {r['job_cpu_s']} s, peak RSS {r['job_peak_rss_mb']:,} MB; broker CPU {r['broker_cpu_s']} s, "
        f"{r['broker_peak_rss_mb']:,} MB; producer CPU {r['producer_cpu_s']} s; load before {r['load_before']}"
    )
