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
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import generate
from bench.generate import dataset
from bench.latency_windows import (  # noqa: F401 - the windows' arithmetic, shared with latency_kafka
    DATASET_SIZES,
    WINDOW_MS,
    dataset_for,
    summary,
    window_closes,
    window_latencies,
    written_windows,
)
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
