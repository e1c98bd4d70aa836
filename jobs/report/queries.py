"""The report's queries: one named SQL constant per chart, and the code that runs them.

Every query returns rows for one chart (jobs/report/figures.py turns them into figures without
touching ClickHouse). Time buckets are a query parameter (``{bucket_s:UInt32}``) chosen from the
data's span by :func:`bucket_seconds`, so a long history stays a few hundred points per series.
Aggregate tables are read the way their DDL says: SummingMergeTree / AggregatingMergeTree
targets are grouped again (parts may not be merged yet); dead letters and the Tor metric tables
(ReplacingMergeTrees) are read FINAL.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from jobs.connectors import clickhouse
from jobs.report import queries_analytics as analytics
from jobs.settings import Settings
from udfs.tor_metrics import METRICS_VERSION as TOR_METRICS_VERSION

Rows = list[dict[str, Any]]

# Bucket widths offered to the time charts, smallest first (seconds).
BUCKET_LADDER_S = (60, 300, 900, 3600, 6 * 3600, 86400, 7 * 86400)
# A time chart aims at no more buckets than this over the data's span.
MAX_BUCKETS = 120
TOP_N = 8

# grain: one row (the NaaP event-time span and event count)
NAAP_SPAN = """
SELECT min(event_timestamp) AS first_ts, max(event_timestamp) AS last_ts, count() AS events
FROM naap.raw_events
"""

# grain: one row per calculated prompt_to_first_frame_latency (one per request)
LATENCY_VALUES = """
SELECT orchestrator_address AS orchestrator, metric_timestamp AS ts, metric_value AS latency_ms
FROM naap.calculated_metrics
WHERE metric_name = 'prompt_to_first_frame_latency'
ORDER BY orchestrator, ts
"""

# grain: one row per (time bucket, orchestrator) with at least one latency
LATENCY_QUANTILES = """
SELECT
    toStartOfInterval(metric_timestamp, toIntervalSecond({bucket_s:UInt32})) AS bucket,
    orchestrator_address AS orchestrator,
    count() AS requests,
    quantileExactInclusive(0.5)(metric_value) AS p50_ms,
    quantileExactInclusive(0.95)(metric_value) AS p95_ms
FROM naap.calculated_metrics
WHERE metric_name = 'prompt_to_first_frame_latency'
GROUP BY bucket, orchestrator
ORDER BY orchestrator, bucket
"""

# grain: one row per (stream, 5-minute event-time window) with a jitter value
JITTER_WINDOWS = """
SELECT
    window_start,
    orchestrator_address AS orchestrator,
    stream_id,
    metric_value AS jitter
FROM naap.calculated_metrics
WHERE metric_name = 'jitter_coefficient'
ORDER BY window_start, orchestrator, stream_id
"""

# grain: one row per time bucket: the status samples of its 5-minute windows, warm-up apart
SAMPLE_COUNTS = """
SELECT
    toStartOfInterval(window_start, toIntervalSecond({bucket_s:UInt32})) AS bucket,
    toUInt64(sum(metric_value)) AS samples,
    toUInt64(sum(JSONExtractUInt(metric_metadata, 'warmup_sample_count'))) AS warmup_samples,
    count() AS windows
FROM naap.calculated_metrics
WHERE metric_name = 'status_sample_count'
GROUP BY bucket
ORDER BY bucket
"""

# grain: one row per jitter status (ok, too_few_samples, zero_mean, warmup_only)
JITTER_STATUS = """
SELECT JSONExtractString(metric_metadata, 'jitter') AS status, count() AS windows
FROM naap.calculated_metrics
WHERE metric_name = 'status_sample_count'
GROUP BY status
ORDER BY windows DESC, status
"""

# grain: one row per (time bucket, stage, reason); time = the event's own time when the
# reject has one (decode rejects may not), else when it was written
DEAD_LETTERS = """
SELECT
    toStartOfInterval(ifNull(event_timestamp, toDateTime64(ingestion_timestamp, 3, 'UTC')),
                      toIntervalSecond({bucket_s:UInt32})) AS bucket,
    concat(stage, ': ', reason) AS stage_reason,
    count() AS rejects
FROM naap.dead_letter FINAL
GROUP BY bucket, stage_reason
ORDER BY bucket, stage_reason
"""

# grain: one row per (time bucket, event type) by event time (the figure turns counts into rates)
INGEST_RATES = """
SELECT
    toStartOfInterval(event_timestamp, toIntervalSecond({bucket_s:UInt32})) AS bucket,
    toString(event_type) AS event_type,
    count() AS events
FROM naap.raw_events
GROUP BY bucket, event_type
ORDER BY bucket, event_type
"""

# grain: one row per consensus hour present (missing hours have no row)
TOR_NETWORK = """
SELECT
    ts,
    sum(relays) AS relays,
    sum(exit_relays) AS exit_relays,
    sum(guard_relays) AS guard_relays,
    sum(cw_sum) AS cw_sum
FROM tor.network_hour_stats
GROUP BY ts
ORDER BY ts
"""

# grain: one row per (consensus hour, country); countries outside the top {top:UInt8} by total
# consensus weight are folded into 'other'
TOR_COUNTRIES = """
WITH top AS (
    SELECT country FROM tor.country_hour_stats
    GROUP BY country ORDER BY sum(cw_sum) DESC, country LIMIT {top:UInt8}
)
SELECT
    ts,
    if(country IN top, toString(country), 'other') AS label,
    sum(relays) AS relays,
    sum(cw_sum) AS cw_sum
FROM tor.country_hour_stats
GROUP BY ts, label
ORDER BY ts, label
"""

# grain: one row per (consensus hour, AS); ASes outside the top {top:UInt8} by total consensus
# weight are folded into 'other' (asn 0 = not in the AS database)
TOR_ASES = """
WITH top AS (
    SELECT asn FROM tor.relay_snapshot
    GROUP BY asn ORDER BY sum(toUInt64(cw)) DESC, asn LIMIT {top:UInt8}
)
SELECT
    ts,
    if(asn IN top, concat('AS', toString(asn)), 'other') AS label,
    count() AS relays,
    sum(toUInt64(cw)) AS cw_sum
FROM tor.relay_snapshot
GROUP BY ts, label
ORDER BY ts, label
"""

# grain: one row per (consensus hour, flag)
TOR_FLAGS = """
SELECT ts, flag, sum(relays) AS relays
FROM (SELECT ts, flags, count() AS relays FROM tor.relay_snapshot GROUP BY ts, flags)
ARRAY JOIN flags AS flag
GROUP BY ts, flag
ORDER BY ts, flag
"""

# grain: one row per (UTC day, release series x.y.z); relays = mean over the day's consensuses
TOR_VERSIONS = """
WITH hours AS (
    SELECT toDate(ts) AS day, count() AS consensuses
    FROM (SELECT ts FROM tor.network_hour_stats GROUP BY ts)
    GROUP BY day
)
SELECT
    v.day AS day,
    if(v.version = '', 'unknown',
       arrayStringConcat(arraySlice(splitByChar('.', toString(v.version)), 1, 3), '.')) AS series,
    sum(v.relays) / any(h.consensuses) AS relays
FROM tor.version_day_stats AS v
INNER JOIN hours AS h ON v.day = h.day
GROUP BY day, series
ORDER BY day, series
"""


# grain: one row per (consensus hour, churn series); hours whose previous consensus is missing
# have no churn rows (udfs/tor_metrics.py), so the lines break there
TOR_CHURN = f"""
SELECT
    ts,
    concat(toString(subject), if(metric_name = 'flag_joined_share', ' joined', ' left')) AS series,
    metric_value * 100 AS share_pct
FROM tor.network_hour_metrics FINAL
WHERE metric_name IN ('flag_joined_share', 'flag_left_share')
    AND subject IN ('listed', 'Guard', 'Exit') AND metric_version = {TOR_METRICS_VERSION}
ORDER BY ts, series
"""

# grain: one row per (consensus hour, grouping): HHI of consensus weight
TOR_CONCENTRATION = f"""
SELECT ts, toString(subject) AS grouping, metric_value AS hhi
FROM tor.network_hour_metrics FINAL
WHERE metric_name = 'cw_hhi' AND metric_version = {TOR_METRICS_VERSION}
ORDER BY ts, grouping
"""


@dataclass(frozen=True)
class Query:
    """One chart's query: its SQL, the tables it reads, whether it takes the time bucket."""

    sql: str
    tables: tuple[str, ...]
    uses_bucket: bool = False
    uses_top: bool = False


QUERIES: dict[str, Query] = {
    "latency_values": Query(LATENCY_VALUES, ("naap.calculated_metrics",)),
    "latency_quantiles": Query(LATENCY_QUANTILES, ("naap.calculated_metrics",), uses_bucket=True),
    "jitter_windows": Query(JITTER_WINDOWS, ("naap.calculated_metrics",)),
    "sample_counts": Query(SAMPLE_COUNTS, ("naap.calculated_metrics",), uses_bucket=True),
    "jitter_status": Query(JITTER_STATUS, ("naap.calculated_metrics",)),
    "dead_letters": Query(DEAD_LETTERS, ("naap.dead_letter",), uses_bucket=True),
    "ingest_rates": Query(INGEST_RATES, ("naap.raw_events",), uses_bucket=True),
    "tor_network": Query(TOR_NETWORK, ("tor.network_hour_stats",)),
    "tor_countries": Query(TOR_COUNTRIES, ("tor.country_hour_stats",), uses_top=True),
    "tor_ases": Query(TOR_ASES, ("tor.relay_snapshot",), uses_top=True),
    "tor_flags": Query(TOR_FLAGS, ("tor.relay_snapshot",)),
    "tor_versions": Query(TOR_VERSIONS, ("tor.version_day_stats", "tor.network_hour_stats")),
    "tor_churn": Query(TOR_CHURN, ("tor.network_hour_metrics",)),
    "tor_concentration": Query(TOR_CONCENTRATION, ("tor.network_hour_metrics",)),
    # the analytics metrics (jobs/report/queries_analytics.py)
    "scorecard_latest": Query(analytics.SCORECARD_LATEST, ("naap.orchestrator_scorecard",)),
    "scorecard_hours": Query(analytics.SCORECARD_HOURS, ("naap.orchestrator_scorecard",)),
    "demand_supply": Query(analytics.DEMAND_SUPPLY, ("naap.calculated_metrics",), uses_bucket=True),
    "capacity_pipelines": Query(analytics.CAPACITY_PIPELINES, ("naap.calculated_metrics",)),
    "capacity_orchestrators": Query(analytics.CAPACITY_ORCHESTRATORS, ("naap.calculated_metrics",)),
    "tor_path_probabilities": Query(analytics.TOR_PATH_PROBABILITIES,
                                    ("tor.relay_hour_metrics", "tor.relay_snapshot"), uses_top=True),
    "tor_top_shares": Query(analytics.TOR_TOP_SHARES, ("tor.network_hour_metrics",)),
    "tor_uptime_flagged": Query(analytics.TOR_UPTIME_FLAGGED, ("tor.network_hour_metrics",)),
}


def bucket_seconds(first: dt.datetime | None, last: dt.datetime | None, max_buckets: int = MAX_BUCKETS) -> int:
    """The smallest ladder width that covers ``first..last`` in at most ``max_buckets`` buckets.

    Args:
        first: earliest event time (None when there is no data).
        last: latest event time.
        max_buckets: upper bound on the number of buckets.

    Returns:
        The bucket width in seconds (the smallest rung when there is no data).
    """
    if first is None or last is None or last <= first:
        return BUCKET_LADDER_S[0]
    span = (last - first).total_seconds()
    for width in BUCKET_LADDER_S:
        if span / width <= max_buckets:
            return width
    return BUCKET_LADDER_S[-1]


def _existing_tables(client: Any) -> set[str]:
    result = client.query(
        "SELECT concat(database, '.', name) FROM system.tables WHERE database IN ('naap', 'tor')"
    )
    return {row[0] for row in result.result_rows}


def _rows(client: Any, sql: str, parameters: dict[str, Any]) -> Rows:
    result = client.query(sql, parameters=parameters)
    return [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]


def fetch(settings: Settings) -> dict[str, Any]:
    """Run every chart query against ``settings.clickhouse_url``.

    A chart whose tables do not exist (database not migrated) gets no rows, like an empty
    table: the report then says "no data" for it instead of failing.

    Returns:
        ``{"bucket_s": int, "naap_span": (first, last, events), "rows": {chart: Rows},
        "missing_tables": [...]}``.
    """
    client = clickhouse.connect(settings)
    with clickhouse.lock():
        existing = _existing_tables(client)
        span: tuple[dt.datetime | None, dt.datetime | None, int] = (None, None, 0)
        if "naap.raw_events" in existing:
            first, last, events = client.query(NAAP_SPAN).result_rows[0]
            if events:
                span = (first, last, int(events))
        bucket_s = bucket_seconds(span[0], span[1])
        rows: dict[str, Rows] = {}
        missing: set[str] = set()
        for name, query in QUERIES.items():
            absent = [t for t in query.tables if t not in existing]
            if absent:
                missing.update(absent)
                rows[name] = []
                continue
            params: dict[str, Any] = {}
            if query.uses_bucket:
                params["bucket_s"] = bucket_s
            if query.uses_top:
                params["top"] = TOP_N
            rows[name] = _rows(client, query.sql, params)
    return {"bucket_s": bucket_s, "naap_span": span, "rows": rows, "missing_tables": sorted(missing)}
