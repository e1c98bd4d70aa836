"""Verdicts of the soak (issue 18, item 4): pure functions over the sampled series.

A series is a list of ``(seconds since the feed started, value)`` points, sampled every 10 s by
tests/reliability/soak_scenario.py. Every verdict is taken after a warm-up (:data:`WARMUP_S`).

Flat: the least-squares slope times the span measured, relative to the fitted value at the start
of the span, is at most :data:`FLAT_LIMIT` (10%): a series that ends 15% above where it started
fails however noisy it is on the way, and a falling one passes.

The heap is a sawtooth (it fills with garbage until a collection empties it), so its samples
say little about what is kept: its verdict is taken on the per-minute minimum (the lowest of the
six samples of each minute, the nearest to a post-GC figure that 10-s samples give), i.e. the
floor under the teeth, which rises only when live objects (the heap state backend's state
among them) accumulate.

Lag: not growing when the mean of the last quarter of the samples (by time) is not above the
mean of the first quarter plus one checkpoint interval of records (the consumer group commits on
checkpoint, so the committed lag of a job that keeps up moves within one interval of records).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

Point = tuple[float, float]

# The first 3 minutes are left out of every verdict: the JVM's heap grows to its working size
# and the JIT compiles; the Python workers start; and the windowed state fills to its steady
# population. At 2,200 events/s the feed runs ~34x faster than the generated event time (~65
# events/s from 200 streams), so 3 minutes are ~100 minutes of event time: many times every
# window (deduplication seconds, jitter 5 minutes) and trace session (~3 minutes on average).
WARMUP_S = 180.0
FLAT_LIMIT = 0.10


def after(points: Sequence[Point], start_s: float) -> list[Point]:
    """The points at or after ``start_s``, without missing values."""
    return [(t, v) for t, v in points if t >= start_s and v is not None]


def trend(points: Sequence[Point]) -> dict[str, float] | None:
    """Least-squares line through ``points``: its rise over the span relative to its start value.

    Returns None for fewer than 3 points or a single instant. ``relative`` is
    slope x span / fitted value at the first point (``inf`` when that value is not positive and the
    line rises).
    """
    if len(points) < 3:
        return None
    ts = [t for t, _ in points]
    vs = [v for _, v in points]
    t_mean, v_mean = statistics.fmean(ts), statistics.fmean(vs)
    sxx = sum((t - t_mean) ** 2 for t in ts)
    if sxx == 0:
        return None
    slope = sum((t - t_mean) * (v - v_mean) for t, v in points) / sxx
    span = max(ts) - min(ts)
    start = v_mean + slope * (min(ts) - t_mean)
    rise = slope * span
    if start > 0:
        relative = rise / start
    else:
        relative = float("inf") if rise > 0 else 0.0
    return {"slope_per_s": slope, "span_s": span, "fitted_start": start, "fitted_end": start + rise,
            "relative": relative}


def per_minute_minimum(points: Sequence[Point], bucket_s: float = 60.0) -> list[Point]:
    """The lowest value of each minute (bucket) at the time it was sampled: the floor of a sawtooth."""
    lowest: dict[int, Point] = {}
    for t, v in points:
        bucket = int(t // bucket_s)
        if bucket not in lowest or v < lowest[bucket][1]:
            lowest[bucket] = (t, v)
    return [lowest[b] for b in sorted(lowest)]


def flat(points: Sequence[Point], limit: float = FLAT_LIMIT) -> dict[str, Any]:
    """Verdict on one series: ``flat`` when its :func:`trend` rises by at most ``limit``."""
    fitted = trend(points)
    if fitted is None:
        return {"flat": False, "trend_pct": None, "points": len(points), "why": "fewer than 3 points"}
    return {
        "flat": fitted["relative"] <= limit,
        "trend_pct": round(100 * fitted["relative"], 1),
        "fitted_start": fitted["fitted_start"],
        "fitted_end": fitted["fitted_end"],
        "points": len(points),
    }


def quarters(points: Sequence[Point]) -> tuple[list[Point], list[Point]]:
    """The first and the last quarter of ``points`` by time."""
    if not points:
        return [], []
    first, last = min(t for t, _ in points), max(t for t, _ in points)
    quarter = (last - first) / 4
    return ([p for p in points if p[0] <= first + quarter], [p for p in points if p[0] >= last - quarter])


def lag_not_growing(points: Sequence[Point], allowance: float) -> dict[str, Any]:
    """Verdict on a lag series: the last quarter's mean at most the first quarter's + ``allowance``."""
    head, tail = quarters(points)
    if not head or not tail:
        return {"not_growing": False, "why": "no samples"}
    first, last = statistics.fmean(v for _, v in head), statistics.fmean(v for _, v in tail)
    return {
        "not_growing": last <= first + allowance,
        "first_quarter_mean": round(first),
        "last_quarter_mean": round(last),
        "allowance": round(allowance),
        "max": round(max(v for _, v in points)),
    }


def series(samples: Sequence[dict[str, Any]], name: str) -> list[Point]:
    """``(t_s, samples[name])`` of every sample that has a value for ``name``."""
    return [(float(s["t_s"]), float(s[name])) for s in samples if s.get(name) is not None]


def checkpoints(samples: Sequence[dict[str, Any]], name: str) -> list[Point]:
    """Like :func:`series`, each completed checkpoint once (at the first sample that saw it)."""
    seen: set[Any] = set()
    out = []
    for s in samples:
        if s.get(name) is None or s.get("checkpoint_id") in seen:
            continue
        seen.add(s.get("checkpoint_id"))
        out.append((float(s["t_s"]), float(s[name])))
    return out


def verdicts(
    samples: Sequence[dict[str, Any]], *, checkpoint_interval_s: float, rate: float, warmup_s: float = WARMUP_S
) -> dict[str, Any]:
    """Every verdict of the soak from its samples (``t_s`` and one field per series).

    Fields: ``state_bytes``, ``over_state_bytes`` (its OverAggregate vertices) and
    ``checkpoint_ms`` (the latest completed checkpoint, with its ``checkpoint_id``), ``heap_bytes``, ``rss_kb``, ``lag`` (not committed), ``unread`` (records
    produced the job's source has not emitted). Samples after the feed (``phase`` other than
    ``feed``) are left out.
    """
    feed = [s for s in samples if s.get("phase", "feed") == "feed"]
    allowance = checkpoint_interval_s * rate
    out: dict[str, Any] = {"warmup_s": warmup_s, "flat_limit_pct": round(100 * FLAT_LIMIT)}
    out["state_size"] = flat(after(checkpoints(feed, "state_bytes"), warmup_s))
    # The part of the state no window closes (0 bytes when the job has no OVER aggregate).
    out["over_aggregate_state"] = flat(after(checkpoints(feed, "over_state_bytes"), warmup_s))
    out["checkpoint_duration"] = flat(after(checkpoints(feed, "checkpoint_ms"), warmup_s))
    out["heap_floor"] = flat(per_minute_minimum(after(series(feed, "heap_bytes"), warmup_s)))
    out["rss"] = flat(after(series(feed, "rss_kb"), warmup_s))
    out["lag"] = lag_not_growing(after(series(feed, "lag"), warmup_s), allowance)
    out["unread"] = lag_not_growing(after(series(feed, "unread"), warmup_s), allowance)
    flat_series = ("state_size", "over_aggregate_state", "checkpoint_duration", "heap_floor", "rss")
    out["all_pass"] = all(out[k]["flat"] for k in flat_series) and all(
        out[k]["not_growing"] for k in ("lag", "unread")
    )
    return out
