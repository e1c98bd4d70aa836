"""A readable summary of what a run produced: rows per table, rejects, headline metrics."""

from __future__ import annotations

from typing import Any

from jobs.connectors import clickhouse
from jobs.settings import Settings

TABLES = (
    "raw_events",
    "ai_stream_status",
    "stream_ingest_metrics",
    "stream_trace_events",
    "orchestrator_metadata",
    "calculated_metrics",
    "dead_letter",
    "ai_stream_status_5min",
    "stream_ingest_metrics_hourly",
)

# grain: one row per table
ROW_COUNTS = " UNION ALL ".join(
    f"SELECT '{t}' AS t, count() AS n FROM naap.{t}{' FINAL' if t == 'dead_letter' else ''}" for t in TABLES
)

# grain: one row per (stage, reason)
REJECTS = """
SELECT stage, reason, count() AS n FROM naap.dead_letter FINAL
GROUP BY stage, reason ORDER BY stage, n DESC, reason
"""

# grain: one row per orchestrator with latency or jitter values
HEADLINES = """
SELECT
    if(orchestrator_address = '', '(none)', orchestrator_address) AS orchestrator,
    countIf(metric_name = 'prompt_to_first_frame_latency') AS requests,
    quantileExactInclusiveIf(0.5)(metric_value, metric_name = 'prompt_to_first_frame_latency') AS p50_ms,
    quantileExactInclusiveIf(0.95)(metric_value, metric_name = 'prompt_to_first_frame_latency') AS p95_ms,
    countIf(metric_name = 'jitter_coefficient') AS jitter_windows,
    avgIf(metric_value, metric_name = 'jitter_coefficient') AS mean_jitter
FROM naap.calculated_metrics
WHERE metric_name IN ('prompt_to_first_frame_latency', 'jitter_coefficient')
GROUP BY orchestrator ORDER BY requests DESC, orchestrator
"""


def collect(settings: Settings) -> dict[str, Any]:
    """Query the summary figures."""
    client = clickhouse.connect(settings)
    with clickhouse.lock():
        counts = dict(client.query(ROW_COUNTS).result_rows)
        rejects = client.query(REJECTS).result_rows
        headlines = client.query(HEADLINES).result_rows
    return {"counts": counts, "rejects": rejects, "headlines": headlines}


def _num(value: float) -> str:
    if value != value:  # NaN
        return "-"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3f}"


def render(figures: dict[str, Any]) -> str:
    """The summary as plain text."""
    out = ["Rows per table:"]
    for table in TABLES:
        out.append(f"  {table:<30} {figures['counts'].get(table, 0):>8}")
    out.append("Rejected (naap.dead_letter) by stage and reason:")
    if not figures["rejects"]:
        out.append("  none")
    for stage, reason, n in figures["rejects"]:
        out.append(f"  {stage:<9} {reason:<40} {n:>6}")
    out.append("Per orchestrator: prompt-to-first-frame latency (ms) and mean jitter coefficient:")
    out.append(f"  {'orchestrator':<44} {'requests':>8} {'p50':>8} {'p95':>8} {'windows':>8} {'jitter':>8}")
    for orch, requests, p50, p95, windows, jitter in figures["headlines"]:
        out.append(
            f"  {orch:<44} {requests:>8} {_num(p50) if requests else '-':>8} "
            f"{_num(p95) if requests else '-':>8} {windows:>8} {_num(jitter) if windows else '-':>8}"
        )
    return "\n".join(out)
