"""naap_metrics: latencies per request and FPS jitter per stream into calculated_metrics.

Reads:    ``gateway_events`` (jobs/naap/envelopes.py): stream_trace and ai_stream_status events.
Computes: (1) per request_id, the first payload time of every trace edge, by an event-time
          SESSION window partitioned by request_id (a self-join of the request's trace events
          with bounded state: the session closes NETPULSE_TRACE_SESSION_GAP_S after its last
          edge, and emits one row with every edge, unlike an interval join, which emits one
          row per pair and would need a second, updating aggregation to keep the first edge);
          the same per (request_id, orchestrator_address): one orchestrator attempt (after an
          orchestrator_swap the new orchestrator emits its own first edges); the request
          latencies of the catalog (jobs/naap/catalog.py) from the first, the attempt latencies from the second.
          (2) per stream, 5-minute tumbling event-time windows over the status samples: mean,
          population stddev, jitter coefficient, warm-up samples excluded.
Writes:   naap.calculated_metrics and Parquet calculated_metrics/ (jobs/connectors/sinks.py).
Time:     event time. Trace edges use the payload time (data.timestamp, else the envelope
          time); status samples use the envelope time. Rows are emitted when the watermark
          passes the session end / window end.
State:    open trace sessions per request and per request x orchestrator (bounded by the gap);
          open 5-minute windows; per stream the first positive-fps time (an OVER aggregate,
          dropped NETPULSE_STATE_TTL_S after the stream's last sample; ARCHITECTURE.md, "State").
Rejects:  late events are rejected upstream (stage late). Latencies that cannot be computed
          are counted per request (request metrics) and per attempt (attempt metrics) in
          ``trace_latency_rejects`` rows with their reasons; jitter windows without a value
          are explained by ``status_sample_count`` rows.
"""

from __future__ import annotations

from typing import Any

from jobs import flink_sql
from jobs.naap import analytics, catalog
from jobs.settings import Settings

NAME = "naap_metrics"

# grain: one row per stream_trace event with a request_id
# relay_offset_ms: for a runner edge with its own data.timestamp (runner clock), the envelope
# time (the gateway's clock when it relayed the event) minus that: relay delay + clock offset.
TRACE_EDGES = f"""
SELECT
    request_id,
    stream_id,
    trace_type AS edge,
    CASE WHEN payload_ms > 0 THEN payload_ms ELSE event_ms END AS edge_ms,
    CASE WHEN payload_ms > 0 AND trace_type IN ({", ".join(f"'{e}'" for e in catalog.RUNNER_EDGES)})
        THEN event_ms - payload_ms END AS relay_offset_ms,
    orchestrator_address,
    orchestrator_url,
    pipeline,
    gateway,
    rt
FROM gateway_events
WHERE event_type = 'stream_trace' AND request_id <> ''
"""

# grain: one row per stream_trace event of a request that names an orchestrator (the
# orchestrator's own edges and the orchestrator_swap that leaves it)
ATTEMPT_TRACE_EDGES = "SELECT * FROM trace_edges WHERE orchestrator_address <> ''"


def _edge_min(edge: str) -> str:
    return f"MIN(CASE WHEN edge = '{edge}' THEN edge_ms END) AS `{edge}`"


def _edge_orchestrator(column: str) -> str:
    """The orchestrator that produced the first frame, else any non-empty one of the request."""
    return (
        f"COALESCE(MAX(CASE WHEN edge = '{catalog.FIRST_PROCESSED}' AND {column} <> '' THEN {column} END), "
        f"MAX(CASE WHEN {column} <> '' THEN {column} END), '') AS {column}"
    )


_EDGES = ",\n    ".join(_edge_min(e) for e in catalog.EDGES)

# The aggregates of one request trace session (both forms below)
SESSION_AGGREGATES = f"""MAX(stream_id) AS stream_id,
    MAX(gateway) AS gateway,
    MAX(pipeline) AS pipeline,
    {_edge_orchestrator("orchestrator_address")},
    {_edge_orchestrator("orchestrator_url")},
    COUNT(DISTINCT NULLIF(orchestrator_address, '')) AS orchestrator_count,
    SUM(CASE WHEN edge = '{catalog.SWAP}' THEN 1 ELSE 0 END) AS swap_count,
    COUNT(*) AS edge_count,
    {_EDGES}"""

# The aggregates of one orchestrator attempt of a request (the session of the request's edges
# that name that orchestrator), with the clock-offset evidence of its runner edges
ATTEMPT_AGGREGATES = f"""MAX(stream_id) AS stream_id,
    MAX(gateway) AS gateway,
    MAX(pipeline) AS pipeline,
    {_edge_orchestrator("orchestrator_url")},
    SUM(CASE WHEN edge = '{catalog.SWAP}' THEN 1 ELSE 0 END) AS swap_count,
    COUNT(*) AS edge_count,
    MIN(relay_offset_ms) AS relay_offset_min_ms,
    MAX(relay_offset_ms) AS relay_offset_max_ms,
    MIN(CASE WHEN edge = '{catalog.RUNNER_RECEIVE}' THEN relay_offset_ms END) AS runner_receive_relay_offset_ms,
    {_EDGES}"""

# grain: one row per trace session of {keys} (edges at most the session gap apart).
# request_edges: keys = request_id; attempt_edges: keys = request_id, orchestrator_address.
SESSIONS = """
SELECT
    {keys},
    window_start AS session_start,
    window_end AS session_end,
    window_time AS rt,
    {aggregates}
FROM TABLE(SESSION(TABLE {source} PARTITION BY ({keys}), DESCRIPTOR(rt), {gap}))
GROUP BY {keys}, window_start, window_end, window_time
"""

# grain: as SESSIONS, in BATCH mode. Flink's batch planner has no session window TVF
# ("unaligned windows are not supported in batch mode") and its group-window form refuses
# COUNT(DISTINCT): the same sessions, by definition. Edges of a key ordered by time; an
# edge at least the gap after the previous one opens a new session; a session spans [first
# edge, last edge + gap), and its time is its end minus 1 ms (as window_time).
SESSIONS_BATCH = """
SELECT
    {keys},
    CAST(MIN(rt) AS TIMESTAMP(3)) AS session_start,
    CAST(MAX(rt) + {gap} AS TIMESTAMP(3)) AS session_end,
    MAX(rt) + {gap} - INTERVAL '0.001' SECOND AS rt,
    {aggregates}
FROM (
    -- RANGE: edges at the same time (peers) share a session number whatever their order
    SELECT *, SUM(opens) OVER (PARTITION BY {keys} ORDER BY rt
        RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS session_no
    FROM (
        SELECT *, CASE WHEN previous_t IS NULL OR t >= previous_t + {gap} THEN 1 ELSE 0 END AS opens
        FROM (
            SELECT *, LAG(t) OVER (PARTITION BY {keys} ORDER BY rt) AS previous_t
            FROM (SELECT *, CAST(rt AS TIMESTAMP(3)) AS t FROM {source})
        )
    )
)
GROUP BY {keys}, session_no
"""


def _metric_row(
    metric: catalog.Metric,
    *,
    timestamp: str,
    start: str,
    end: str,
    value: str,
    metadata: str,
    request_id: str = "request_id",
) -> str:
    """JSON_OBJECT of one naap.calculated_metrics row (times as formatted SQL expressions)."""
    return f"""JSON_OBJECT(
        'metric_timestamp' VALUE {timestamp},
        'window_start' VALUE {start},
        'window_end' VALUE {end},
        'stream_id' VALUE stream_id,
        'request_id' VALUE {request_id},
        'gateway' VALUE gateway,
        'orchestrator_address' VALUE orchestrator_address,
        'orchestrator_url' VALUE orchestrator_url,
        'gpu_id' VALUE CAST(NULL AS STRING),
        'region' VALUE '',
        'pipeline' VALUE pipeline,
        'model_id' VALUE pipeline,
        'metric_name' VALUE '{metric.name}',
        'metric_category' VALUE '{metric.category}',
        'metric_version' VALUE {metric.version},
        'metric_value' VALUE {value},
        'metric_unit' VALUE '{metric.unit}',
        'metric_metadata' VALUE CONCAT('', {metadata})
    )"""


def _source(metric: catalog.Metric) -> str:
    return "request_edges" if metric.scope == catalog.REQUEST_SCOPE else "attempt_edges"


def _latency_metadata(metric: catalog.Metric) -> str:
    """JSON_OBJECT of a latency row's metadata.

    Both edges with clock and moment, the scope, swaps, and for a cross-host metric the
    clock-offset evidence.
    """
    start, end = catalog.EDGE_INFO[metric.start_edge], catalog.EDGE_INFO[metric.end_edge]
    pairs = [
        f"'start_edge' VALUE '{start.name}'", f"'end_edge' VALUE '{end.name}'",
        f"'start_clock' VALUE '{start.clock}'", f"'end_clock' VALUE '{end.clock}'",
        f"'start_moment' VALUE '{start.moment}'", f"'end_moment' VALUE '{end.moment}'",
        "'time_field' VALUE 'payload'", f"'scope' VALUE '{metric.scope}'", "'swap_count' VALUE swap_count",
    ]
    if metric.scope == catalog.REQUEST_SCOPE:
        pairs.append("'orchestrator_count' VALUE orchestrator_count")
    if metric.is_cross_host:
        value = f"`{metric.end_edge}` - `{metric.start_edge}`"
        pairs += [
            "'relay_offset_ms' VALUE runner_receive_relay_offset_ms",
            "'relay_offset_min_ms' VALUE relay_offset_min_ms",
            "'relay_offset_max_ms' VALUE relay_offset_max_ms",
            f"'upper_bound_ms' VALUE {value} + relay_offset_min_ms",
        ]
    return f"JSON_OBJECT({', '.join(pairs)})"


def _latency_select(metric: catalog.Metric) -> str:
    start, end = f"`{metric.start_edge}`", f"`{metric.end_edge}`"
    row = _metric_row(
        metric, timestamp=flink_sql.ch_time(start), start=flink_sql.ch_time(start), end=flink_sql.ch_time(end),
        value=f"CAST({end} - {start} AS DOUBLE)", metadata=_latency_metadata(metric),
    )
    evidence = " AND runner_receive_relay_offset_ms IS NOT NULL" if metric.is_cross_host else ""
    # grain: one row per request session (request metrics) or attempt with both edges in order
    return (
        f"SELECT 'naap.calculated_metrics' AS target, {row} AS row_json, rt FROM {_source(metric)} "
        f"WHERE {start} IS NOT NULL AND {end} IS NOT NULL AND {end} >= {start}{evidence}"
    )


def _reject_reason(metric: catalog.Metric) -> str:
    start, end = f"`{metric.start_edge}`", f"`{metric.end_edge}`"
    clock = (
        f"WHEN {start} IS NOT NULL AND {end} IS NOT NULL AND runner_receive_relay_offset_ms IS NULL "
        "THEN 'no_runner_clock' " if metric.is_cross_host else ""
    )
    return (
        f"CASE WHEN {start} IS NULL AND {end} IS NOT NULL THEN 'missing_edge:{metric.start_edge}' "
        f"WHEN {end} IS NULL AND {start} IS NOT NULL THEN 'missing_edge:{metric.end_edge}' "
        f"{clock}WHEN {end} < {start} THEN CONCAT('negative:', CAST({end} - {start} AS STRING)) END"
    )


def _rejects_select(metrics: tuple[catalog.Metric, ...], source: str) -> str:
    reasons = ", ".join(f"'{m.name}' VALUE {_reject_reason(m)}" for m in metrics)
    count = " + ".join(f"CASE WHEN {_reject_reason(m)} IS NOT NULL THEN 1 ELSE 0 END" for m in metrics)
    # LEAST is NULL when any argument is: absent edges count as "far in the future".
    first = ", ".join(f"COALESCE(`{e}`, {2**62})" for e in catalog.EDGES if e != catalog.SWAP)
    start_ms = f"COALESCE(`{catalog.REQUEST}`, LEAST({first}))"
    row = _metric_row(
        catalog.TRACE_LATENCY_REJECTS,
        timestamp=flink_sql.ch_time(start_ms),
        start=flink_sql.ch_time(start_ms),
        end=flink_sql.ch_timestamp("session_end"),
        value="CAST(reject_count AS DOUBLE)",
        metadata=f"JSON_OBJECT({reasons} ABSENT ON NULL)",
    )
    # grain: one row per request session (or attempt) with at least one latency not computed
    return f"""
SELECT 'naap.calculated_metrics' AS target, {row} AS row_json, rt
FROM (SELECT *, {count} AS reject_count FROM {source})
WHERE reject_count > 0
"""


# grain: one row per ai_stream_status event with a stream_id
# (an event whose output fps is not a number is no sample; one rejected for another reason,
# e.g. a bad input fps, still is)
STATUS_SAMPLES = """
SELECT
    stream_id,
    request_id,
    gateway,
    orchestrator_address,
    orchestrator_url,
    pipeline,
    COALESCE(output_fps, 0.0) AS fps,
    event_ms,
    rt
FROM gateway_events
WHERE event_type = 'ai_stream_status' AND stream_id <> ''
    AND COALESCE(parse_reason, '') <> 'invalid_output_fps'
"""

# grain: one row per status sample, flagged when it is warm-up (fps 0 before the stream's
# first positive sample). RANGE over rt (the deduplication window time) includes samples of
# the same window, so the first positive time is exact by event time whatever the order of
# arrival within a window.
STATUS_WARMUP = """
SELECT *,
    fps = 0 AND (first_positive_ms IS NULL OR event_ms < first_positive_ms) AS is_warmup
FROM (
    SELECT *,
        MIN(CASE WHEN fps > 0 THEN event_ms END) OVER (
            PARTITION BY stream_id ORDER BY rt
            RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        ) AS first_positive_ms
    FROM status_samples
)
"""

# grain: one row per stream and 5-minute event-time window.
# The sums are exact (DECIMAL) and mean/stddev derived from them: DOUBLE sums depend on the
# order in which samples (and local/global partial sums) arrive, and a window recomputed after
# a restart must give the same bits, or its insert deduplication token differs (a duplicate).
_FPS = "CAST(fps AS DECIMAL(24, 12))"
STREAM_WINDOWS = f"""
SELECT *,
    CASE WHEN n > 0 THEN sum_fps / n END AS mean_fps,
    CASE WHEN n > 0 THEN
        SQRT(GREATEST(sum_sq_fps / n - (sum_fps / n) * (sum_fps / n), CAST(0 AS DOUBLE))) END
        AS stddev_fps
FROM (
    SELECT
        stream_id,
        window_start,
        window_end,
        window_time AS rt,
        MAX(request_id) AS request_id,
        MAX(gateway) AS gateway,
        MAX(orchestrator_address) AS orchestrator_address,
        MAX(orchestrator_url) AS orchestrator_url,
        MAX(pipeline) AS pipeline,
        COUNT(DISTINCT NULLIF(orchestrator_address, '')) AS orchestrator_count,
        COUNT(*) AS sample_count,
        SUM(CASE WHEN is_warmup THEN 1 ELSE 0 END) AS warmup_count,
        SUM(CASE WHEN is_warmup THEN 0 ELSE 1 END) AS n,
        CAST(SUM(CASE WHEN is_warmup THEN 0 ELSE {_FPS} END) AS DOUBLE) AS sum_fps,
        CAST(SUM(CASE WHEN is_warmup THEN 0 ELSE {_FPS} * {_FPS} END) AS DOUBLE) AS sum_sq_fps
    FROM {{windowed}}
    GROUP BY stream_id, window_start, window_end, window_time
)
"""
# The status samples with their 5-minute window: the window TVF in STREAMING mode; in BATCH
# mode the same windows by arithmetic (the batch planner turns a window TVF aggregate into a
# group-window aggregate, which refuses COUNT(DISTINCT)). Both assign by ``rt``.
WINDOWED_STREAMING = "TABLE(TUMBLE(TABLE status_warmup, DESCRIPTOR(rt), INTERVAL '5' MINUTE))"
# grain: one row per status sample (BATCH mode), with its 5-minute window
WINDOWED_BATCH = """(
    SELECT *,
        CAST(TO_TIMESTAMP_LTZ(start_s * 1000, 3) AS TIMESTAMP(3)) AS window_start,
        CAST(TO_TIMESTAMP_LTZ(start_s * 1000 + 300000, 3) AS TIMESTAMP(3)) AS window_end,
        TO_TIMESTAMP_LTZ(start_s * 1000 + 299999, 3) AS window_time
    FROM (
        SELECT *, rt_s - MOD(rt_s, 300) AS start_s
        FROM (SELECT *, UNIX_TIMESTAMP(DATE_FORMAT(rt, 'yyyy-MM-dd HH:mm:ss')) AS rt_s FROM status_warmup)
    )
)"""

_WINDOW_START = flink_sql.ch_timestamp("window_start")
_WINDOW_END = flink_sql.ch_timestamp("window_end")
_WINDOW_METADATA = (
    "JSON_OBJECT('sample_count' VALUE n, 'warmup_sample_count' VALUE warmup_count, "
    "'mean_fps' VALUE mean_fps, 'stddev_fps' VALUE stddev_fps, 'sum_fps' VALUE sum_fps, "
    "'sum_sq_fps' VALUE sum_sq_fps, 'orchestrator_count' VALUE orchestrator_count, "
    "'jitter' VALUE jitter_status)"
)


def _window_select(metric: catalog.Metric, value: str, where: str) -> str:
    row = _metric_row(
        metric, timestamp=_WINDOW_START, start=_WINDOW_START, end=_WINDOW_END,
        value=value, metadata=_WINDOW_METADATA, request_id="NULLIF(request_id, '')",
    )
    return f"SELECT 'naap.calculated_metrics' AS target, {row} AS row_json, rt FROM stream_jitter WHERE {where}"


def build(t_env: Any, settings: Settings) -> list[str]:
    """Define the job's views; return the output views (target, row_json, rt)."""
    flink_sql.view(t_env, "trace_edges", TRACE_EDGES)
    flink_sql.view(t_env, "attempt_trace_edges", ATTEMPT_TRACE_EDGES)
    sessions = SESSIONS_BATCH if settings.is_batch else SESSIONS
    gap = flink_sql.seconds(settings.trace_session_gap_s)
    flink_sql.view(t_env, "request_edges", sessions.format(
        keys="request_id", source="trace_edges", aggregates=SESSION_AGGREGATES, gap=gap))
    flink_sql.view(t_env, "attempt_edges", sessions.format(
        keys="request_id, orchestrator_address", source="attempt_trace_edges", aggregates=ATTEMPT_AGGREGATES, gap=gap))
    flink_sql.view(t_env, "naap_metrics_latencies", " UNION ALL ".join(_latency_select(m) for m in catalog.LATENCIES))
    flink_sql.view(
        t_env,
        "naap_metrics_latency_rejects",
        _rejects_select(catalog.REQUEST_LATENCIES, "request_edges")
        + " UNION ALL "
        + _rejects_select(catalog.ATTEMPT_LATENCIES, "attempt_edges"),
    )
    flink_sql.view(t_env, "status_samples", STATUS_SAMPLES)
    flink_sql.view(t_env, "status_warmup", STATUS_WARMUP)
    windowed = WINDOWED_BATCH if settings.is_batch else WINDOWED_STREAMING
    flink_sql.view(t_env, "stream_windows", STREAM_WINDOWS.format(windowed=windowed))
    minimum = settings.jitter_min_samples
    flink_sql.view(
        t_env,
        "stream_jitter",
        f"""SELECT *, CASE
            WHEN n = 0 THEN 'warmup_only'
            WHEN n < {minimum} THEN 'too_few_samples'
            WHEN mean_fps <= 0 THEN 'zero_mean'
            ELSE 'ok' END AS jitter_status
        FROM stream_windows""",
    )
    flink_sql.view(
        t_env,
        "naap_metrics_windows",
        " UNION ALL ".join(
            [
                _window_select(catalog.JITTER, "stddev_fps / mean_fps", "jitter_status = 'ok'"),
                _window_select(catalog.FPS_MEAN, "mean_fps", "n > 0"),
                _window_select(catalog.SAMPLE_COUNT, "CAST(sample_count AS DOUBLE)", "TRUE"),
            ]
        ),
    )
    hourly = analytics.build(t_env, settings)  # scorecards, demand, capacity: read status_warmup
    return ["naap_metrics_latencies", "naap_metrics_latency_rejects", "naap_metrics_windows", *hourly]
