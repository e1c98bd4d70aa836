"""Window arithmetic of the streaming latency legs: when a window closes, when it is written.

Shared by the watched-directory leg (bench/latency.py) and the Kafka leg (bench/latency_kafka.py).
"""

from __future__ import annotations

import statistics
from pathlib import Path

import pyarrow.parquet as pq

from bench import generate
from bench.generate import dataset

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


def dataset_for(root: Path, events: int, seed: int = 42) -> Path:
    """The smallest cached generated set (DATASET_SIZES) of ``seed`` holding ``events`` lines (generated if missing)."""
    size = next((n for n in DATASET_SIZES if n >= events), None)
    if size is None:
        raise SystemExit(
            f"the feed needs {events:,} events, more than the largest generated set ({DATASET_SIZES[-1]:,}); "
            "lower --rate or --seconds"
        )
    data, _ = dataset(root, size, seed, generate.DEFAULT_STREAMS, generate.DEFAULT_PER_FILE)
    return data
