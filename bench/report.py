"""The Markdown tables and machine description printed by ``python -m bench.run``."""

from __future__ import annotations

import os
import platform
from typing import Any

LEG_NAMES = {
    "python": "(a) careful Python",
    "sql": "(b) ClickHouse SQL batch",
    "batch": "pipeline BATCH (MiniCluster, files as they are)",
    "pipeline": "pipeline STREAMING (MiniCluster, one ordered file)",
    "cluster": "pipeline (standalone cluster)",
}


def machine() -> dict[str, Any]:
    """The machine the figures come from: CPU model, cores, memory, Python and load."""
    cpu = ""
    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in open("/proc/cpuinfo")
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        pass
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(mem_gb, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def _rows_check(result: dict[str, Any], reference: dict[str, Any] | None) -> str:
    if "error" in result:
        return "—"
    if reference is None or not reference.get("rows") or not result.get("rows"):
        return "n/a"
    diff = [t for t, n in reference["rows"].items() if result["rows"].get(t) != n]
    return (
        "same"
        if not diff
        else "differ: "
        + ", ".join(f"{t} {result['rows'].get(t, '?')} vs {reference['rows'][t]}" for t in diff)
    )


def _checkpoint_mb(result: dict[str, Any]) -> str:
    size = result.get("checkpoint_bytes")
    return f"{size / 2**20:.1f} ({result.get('checkpoints', 0)} taken)" if size else "-"


def _ratio(rate: dict[str, Any], a: str, b: str) -> str:
    return f"{rate[a] / rate[b]:.2f}x" if rate.get(a) and rate.get(b) else "—"


def markdown(results: list[dict[str, Any]]) -> str:
    """The benchmark table (one row per size and leg) as Markdown."""
    lines = [
        "| events | leg | end-to-end s | events/s | peak RSS MB (tree) | CPU s | largest checkpoint MB "
        "| rows vs (a) | load before |",
        "|---:|---|---:|---:|---:|---:|---:|---|---:|",
    ]
    for r in results:
        for leg in r["legs"]:
            x = r["legs"][leg]
            if "error" in x:
                lines.append(
                    f"| {r['size']:,} | {LEG_NAMES[leg]} | failed: {x['error']} | | | | | | {x['load_before']:.1f} |"
                )
                continue
            lines.append(
                f"| {r['size']:,} | {LEG_NAMES[leg]} | {x['e2e_s']:.1f} | {x['events_per_s']:,} "
                f"| {x['peak_rss_mb']:,} | "
                f"{x['cpu_s']:.0f} | {_checkpoint_mb(x)} | {_rows_check(x, r['legs'].get('python'))} "
                f"| {x['load_before']:.1f} |"
            )
    lines += [
        "",
        "| events | batch / (a) | batch / (b) | batch / streaming | streaming / (a) | streaming / (b) "
        "| cluster / (a) | cluster / (b) | (b) / (a) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        rate = {leg: x.get("events_per_s") for leg, x in r["legs"].items() if "error" not in x}

        lines.append(
            f"| {r['size']:,} | {_ratio(rate, 'batch', 'python')} | {_ratio(rate, 'batch', 'sql')} "
            f"| {_ratio(rate, 'batch', 'pipeline')} | {_ratio(rate, 'pipeline', 'python')} "
            f"| {_ratio(rate, 'pipeline', 'sql')} "
            f"| {_ratio(rate, 'cluster', 'python')} | {_ratio(rate, 'cluster', 'sql')} "
            f"| {_ratio(rate, 'sql', 'python')} |"
        )
    return "\n".join(lines)


def latency_markdown(rows: list[dict[str, Any]]) -> str:
    """The streaming latency tables (one row per feed rate) as Markdown: Kafka legs, then files legs."""
    kafka_rows = [r for r in rows if r.get("source") == "kafka"]
    file_rows = [r for r in rows if r.get("source") != "kafka"]
    tables = []
    if kafka_rows:
        tables.append(kafka_latency_markdown(kafka_rows))
    if file_rows:
        lines = [
            "| feed events/s | seconds | windows | never written | p50 s | p95 s | p99 s | mean, 1st / 2nd half |",
            "|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        for r in file_rows:
            lines.append(
                f"| {r['rate']:,} | {r['seconds']:.0f} | {r['windows']} | {r['never_written']} | "
                f"{r.get('p50_s', '-')} | {r.get('p95_s', '-')} | {r.get('p99_s', '-')} | "
                f"{r.get('first_half_mean_s', '-')} / {r.get('second_half_mean_s', '-')} s |"
            )
        tables.append("\n".join(lines))
    return "\n\n".join(tables)


def kafka_latency_markdown(rows: list[dict[str, Any]]) -> str:
    """The Kafka latency legs (bench/latency_kafka.py) as one Markdown table."""
    lines = [
        "| produce events/s (achieved) | seconds | windows | never written | p50 s | p95 s | p99 s "
        "| mean, 1st / 2nd half | not committed: max / at feed end / at end (0 after) "
        "| not read: at feed end / at end | job CPU s | job peak RSS MB | broker CPU s | load |",
        "|---:|---:|---:|---:|---:|---:|---:|---|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['rate']:,} | {r['seconds']:.0f} | failed: {r['error']} | | | | | | | | | | | |")
            continue
        drained = f"{r['drain_s']} s" if r.get("drain_s") is not None else "never"
        lines.append(
            f"| {r['rate']:,} ({r['achieved_rate']:,}) | {r['feed_s']:.0f} | {r['windows']} | {r['never_written']} | "
            f"{r.get('p50_s', '-')} | {r.get('p95_s', '-')} | {r.get('p99_s', '-')} | "
            f"{r.get('first_half_mean_s', '-')} / {r.get('second_half_mean_s', '-')} s | "
            f"{r['lag_max_during_feed']} / {r['lag_at_feed_end']} / {r['lag_at_end']} ({drained}) | "
            f"{r.get('unread_at_feed_end')} / {r.get('unread_at_end')} | "
            f"{r['job_cpu_s']} | {r['job_peak_rss_mb']:,} | {r['broker_cpu_s']} | {r['load_before']} |"
        )
    return "\n".join(lines)
