"""Streaming latency: a steady feed, window close to queryable (Kafka by default, or files).

    python -m bench.latency --rate 20000 --seconds 60                  # through Kafka
    python -m bench.latency --source files --rate 5000 --seconds 60    # the watched directory

The Kafka leg (the default, how production is fed) is bench/latency_kafka.py; it shares the
window arithmetic below. The files leg (``--source files``, kept for comparison) starts
``python -m jobs run naap`` watching an empty input directory (NETPULSE_MONITOR_INTERVAL_S=1),
then publishes the generated events (bench/generate.py, in time order) at ``--rate`` events per
second: one file per 0.25 s, written under a hidden name and renamed. For every file it records
when it was published and the largest event time in it.

A 5-minute jitter window closes when the watermark (largest event time - allowed lateness)
passes its end, i.e. when the first file that moves the watermark past the window end is
published. Its rows are queryable once their batch is written: ClickHouse first, then the
Parquet file of the same batch, whose modification time is taken as the moment both are done
(the embedded ClickHouse cannot be queried from a second process while the job holds it).
Prints p50/p95/p99/max of (Parquet mtime - window close) over every jitter window that closed
during the feed (a window not written 20 s after the feed ended counts with the time it had
waited, a lower bound), and the mean of each half of the feed: equal halves mean the job kept
up with the feed, a growing second half that it fell behind.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from bench import generate
from bench.generate import dataset
from jobs.settings import PROJECT_ROOT

SLICE_S = 0.25


def _event_ms(line: str) -> int | None:
    try:
        return int(json.loads(line)["timestamp"])
    except (ValueError, KeyError, TypeError):
        return None


def feed(lines: list[str], input_dir: Path, rate: int, seconds: float) -> list[tuple[float, int]]:
    """Publish ``rate`` lines/s for ``seconds``; return (publish time, max event ms) per file."""
    per_slice = max(1, int(rate * SLICE_S))
    published: list[tuple[float, int]] = []
    start = time.monotonic()
    position, index = 0, 0
    while time.monotonic() - start < seconds and position < len(lines):
        chunk = lines[position : position + per_slice]
        position += len(chunk)
        tmp = input_dir / f".part-{index:06d}.jsonl"
        tmp.write_text("\n".join(chunk) + "\n")
        tmp.rename(input_dir / f"part-{index:06d}.jsonl")
        times = [t for t in map(_event_ms, chunk) if t is not None]
        published.append((time.time(), max(times) if times else 0))
        index += 1
        next_at = start + index * SLICE_S
        time.sleep(max(0.0, next_at - time.monotonic()))
    return published


WINDOW_MS = 300_000  # the jitter windows
DATASET_SIZES = (1_000_000, 5_000_000)  # the generated sets a feed takes its lines from


def written_windows(parquet: Path, seen: dict[tuple[str, int], list[int]] | None = None) -> dict[int, float]:
    """Jitter window end (ms) -> modification time of the first Parquet file holding its rows.

    ``seen`` caches what each file (path, mtime) holds, so polling while the job writes reads
    every file once.
    """
    written: dict[int, float] = {}
    for path in parquet.glob("calculated_metrics/**/*.parquet"):
        try:
            stat = path.stat()
            cache_key = (str(path), stat.st_mtime_ns)
            ends = None if seen is None else seen.get(cache_key)
            if ends is None:
                table = pq.read_table(path, columns=["metric_name", "window_end"])
                names, values = table.column("metric_name").to_pylist(), table.column("window_end").to_pylist()
                ends = sorted({
                    int(end.timestamp() * 1000)
                    for name, end in zip(names, values, strict=True)
                    if name == "status_sample_count"
                })
                if seen is not None:
                    seen[cache_key] = ends
        except (OSError, ValueError):  # replaced while being read: the next poll sees the new file
            continue
        for end_ms in ends:
            written[end_ms] = min(written.get(end_ms, float("inf")), stat.st_mtime)
    return written


def window_closes(published: list[tuple[float, int]], lateness_ms: int) -> dict[int, float]:
    """Jitter window end (ms) -> the moment the watermark passed it, for every window that closed.

    ``published``: (time, largest event ms the job can have seen) per published piece, in
    publishing order. Every 5-minute boundary the watermark passed closed a window (200
    streams are always active).
    """
    closes: dict[int, float] = {}
    highest = 0
    first_ms = min((m for _, m in published if m), default=0)
    for at, max_ms in published:
        highest = max(highest, max_ms)
        watermark = highest - lateness_ms
        end = (first_ms // WINDOW_MS + 1) * WINDOW_MS
        while end <= watermark:
            closes.setdefault(end, at)
            end += WINDOW_MS
    return closes


def window_latencies(
    parquet: Path, published: list[tuple[float, int]], lateness_ms: int, stopped_at: float | None = None
) -> tuple[list[float], int]:
    """Seconds from each jitter window's close to the first Parquet file holding its rows.

    In the order the windows closed; and how many closed windows were never written.

    A closed window with no file by ``stopped_at`` counts with latency ``stopped_at - close``
    (a lower bound), so a job that falls behind cannot look fast by leaving its slowest
    windows out.
    """
    written = written_windows(parquet)
    closes = window_closes(published, lateness_ms)
    latencies, missing = [], 0
    for end_ms, closed in sorted(closes.items(), key=lambda item: item[1]):
        if end_ms in written:
            latencies.append(written[end_ms] - closed)
        elif stopped_at is not None:
            latencies.append(stopped_at - closed)
            missing += 1
    return latencies, missing


def summary(latencies: list[float]) -> dict[str, float]:
    """p50/p95/p99/max and the mean of each half of the feed (equal halves: the job keeps up)."""
    if not latencies:
        return {}
    return {
        "p50_s": round(statistics.median(latencies), 2),
        "p95_s": round(_percentile(latencies, 0.95), 2),
        "p99_s": round(_percentile(latencies, 0.99), 2),
        "max_s": round(max(latencies), 2),
        # A job that keeps up has the same latency early and late in the feed.
        "first_half_mean_s": round(statistics.mean(latencies[: len(latencies) // 2] or latencies), 2),
        "second_half_mean_s": round(statistics.mean(latencies[len(latencies) // 2 :]), 2),
    }


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def run(rate: int, seconds: float, events: int, root: Path) -> dict[str, Any]:
    """One streaming latency leg: feed ``rate`` events/s for ``seconds``; returns its figures."""
    data, _ = dataset(root, events, 42, generate.DEFAULT_STREAMS, generate.DEFAULT_PER_FILE)
    lines: list[str] = []
    for part in sorted(data.glob(generate.FILE_PATTERN)):
        with part.open() as f:
            lines.extend(line.rstrip("\n") for line in f)
            if len(lines) >= rate * seconds:
                break
    var = root / "runs" / f"latency-r{rate}"
    shutil.rmtree(var, ignore_errors=True)
    input_dir = var / "input"
    input_dir.mkdir(parents=True)
    # The monitored directory source reads the files one scan finds in no particular order, and
    # the feed compresses event time ~300x (the generated streams emit ~64 events per event
    # second): the four files published per 1 s scan span ~5 minutes of event time at 20k
    # events/s. The watermark must allow that disorder, or a file read before an earlier one
    # would make the earlier one late (rejected, and its windows incomplete). 600 s of event
    # time is ~2 s of feed; the latency below starts when the watermark passes a window's end.
    lateness_s = 600
    env = dict(
        os.environ,
        NETPULSE_VAR_DIR=str(var),
        NETPULSE_INPUT_PATH=str(input_dir),
        NETPULSE_MONITOR_INTERVAL_S="1",
        NETPULSE_ALLOWED_LATENESS_S=str(lateness_s),
    )
    subprocess.run(
        [sys.executable, "-m", "jobs", "migrate"], env=env, check=True, capture_output=True, cwd=PROJECT_ROOT
    )
    log = open(var / "job.log", "w")
    job = subprocess.Popen([sys.executable, "-m", "jobs", "run", "naap"], env=env, stdout=log, stderr=subprocess.STDOUT,
                           cwd=PROJECT_ROOT, start_new_session=True)
    try:
        time.sleep(25)  # JVM start, planning, Python workers: the feed starts on a running job
        published = feed(lines, input_dir, rate, seconds)
        time.sleep(20)  # let the last published windows be written
        stopped_at = time.time()
    finally:
        os.killpg(job.pid, signal.SIGTERM)
        job.wait(timeout=60)
        log.close()
    latencies, missing = window_latencies(var / "parquet", published, lateness_s * 1000, stopped_at)
    fed = sum(1 for _ in published) * max(1, int(rate * SLICE_S))
    result: dict[str, Any] = {
        "source": "files", "rate": rate, "seconds": seconds, "events_fed": fed, "windows": len(latencies),
        "never_written": missing,
    }
    result.update(summary(latencies))
    return result


def dataset_for(root: Path, events: int) -> Path:
    """The smallest cached generated set (DATASET_SIZES) holding ``events`` lines (generated if missing)."""
    size = next((n for n in DATASET_SIZES if n >= events), None)
    if size is None:
        raise SystemExit(
            f"the feed needs {events:,} events, more than the largest generated set ({DATASET_SIZES[-1]:,}); "
            "lower --rate or --seconds"
        )
    data, _ = dataset(root, size, 42, generate.DEFAULT_STREAMS, generate.DEFAULT_PER_FILE)
    return data


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.latency``: one latency leg, figures printed and written to ``--json``."""
    parser = argparse.ArgumentParser(prog="python -m bench.latency", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--source", choices=("kafka", "files"), default="kafka",
        help="kafka: a real local broker and a 4-partition topic (bench/latency_kafka.py); "
        "files: the watched directory (this module)",
    )
    parser.add_argument("--rate", type=int, default=20_000, help="events per second fed")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to feed")
    parser.add_argument("--events", type=int, default=1_000_000, help="files: generated set to take lines from")
    parser.add_argument("--root", type=Path, default=PROJECT_ROOT / "var" / "bench")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    if args.source == "kafka":
        from bench import latency_kafka

        result = latency_kafka.run(args.rate, args.seconds, args.root.resolve())
        print(latency_kafka.describe(result), file=sys.stderr)
    else:
        result = run(args.rate, args.seconds, args.events, args.root.resolve())
    print(json.dumps(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
