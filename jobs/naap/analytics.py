"""Hourly analytics metrics of the naap_metrics job: scorecards, demand vs supply, capacity.

Reads:    ``gateway_events`` (stream_trace, ai_stream_status, ai_stream_events,
          network_capabilities) and the ``status_warmup`` view of jobs/naap/metrics.py.
Computes: per event-time hour (envelope time; tumbling windows in STREAMING mode, the same
          windows by arithmetic in BATCH mode, as the 5-minute windows of naap_metrics):
          (1) per request x orchestrator, then per orchestrator x pipeline: the scorecard
          components (coverage, startup success, no-swap rate, output viability, and the
          quality inputs prompt-to-first-frame, prompt-to-playable, output fps);
          (2) per request, then per gateway x pipeline: demand vs supply;
          (3) per orchestrator x pipeline x model, from network_capabilities: capacity.
          Definitions: jobs/naap/catalog.py (ANALYTICS). The 7-day cohort and the final score of (1)
          are computed by the ClickHouse view naap.orchestrator_scorecard at query time
          (sql/clickhouse/naap/0017_orchestrator_scorecard.sql; why: jobs/naap/catalog.py).
Writes:   naap.calculated_metrics (through the shared sinks, like the other metrics).
Time:     event time; an hour's rows are emitted when the watermark passes the hour's end.
State:    per request, running values over its events (pipeline, request edge, swaps: an OVER
          aggregate, dropped NETPULSE_STATE_TTL_S after the request's last event, ARCHITECTURE.md
          "State"); open hourly windows.
Rejects:  none of its own (the events' defects are rejected upstream and by naap_ingest).
"""

from __future__ import annotations

from typing import Any

from jobs import flink_sql
from jobs.naap import catalog
from jobs.settings import Settings
from udfs.capacity import capacity_udtf

_STARTUP_EDGES = (catalog.SEND_INGEST, catalog.RUNNER_RECEIVE, catalog.RUNNER_SEND, catalog.FIRST_PROCESSED,
                  catalog.FEW_PROCESSED, catalog.SWAP)
_SERVED_EDGES = (catalog.FIRST_PROCESSED, catalog.FEW_PROCESSED)


def _in(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


# grain: one row per event of a request: its trace edges (payload time), its status samples
# (envelope time, with the warm-up flag) and its ai_stream_events (which carry the pipeline of
# requests that never reached an orchestrator)
ANALYTICS_EVENTS = f"""
SELECT request_id, gateway, orchestrator_address, orchestrator_url, pipeline,
    trace_type AS edge,
    CASE WHEN payload_ms > 0 THEN payload_ms ELSE event_ms END AS edge_ms,
    CAST(NULL AS DOUBLE) AS fps, FALSE AS is_warmup, event_ms, rt
FROM gateway_events
WHERE event_type = 'stream_trace' AND request_id <> '' AND trace_type IN ({_in(catalog.EDGES)})
UNION ALL
SELECT request_id, gateway, orchestrator_address, orchestrator_url, pipeline, 'status' AS edge,
    event_ms AS edge_ms, fps, is_warmup, event_ms, rt
FROM status_warmup
WHERE request_id <> ''
UNION ALL
SELECT request_id, gateway, '' AS orchestrator_address, '' AS orchestrator_url, pipeline, 'event' AS edge,
    event_ms AS edge_ms, CAST(NULL AS DOUBLE) AS fps, FALSE AS is_warmup, event_ms, rt
FROM gateway_events
WHERE event_type = 'ai_stream_events' AND request_id <> ''
"""

# grain: as analytics_events, with what the request showed up to this event (RANGE over rt:
# events of the same deduplication window are peers, so the values do not depend on arrival
# order): its pipeline (trace edges carry none), its stream request time, its swaps so far
_OVER = "OVER (PARTITION BY request_id ORDER BY rt RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"
ANALYTICS_RUNNING = f"""
SELECT *,
    MAX(NULLIF(pipeline, '')) {_OVER} AS req_pipeline,
    MIN(CASE WHEN edge = '{catalog.REQUEST}' THEN edge_ms END) {_OVER} AS req_request_ms,
    SUM(CASE WHEN edge = '{catalog.SWAP}' THEN 1 ELSE 0 END) {_OVER} AS req_swaps
FROM analytics_events
"""

HOUR_STREAMING = "TABLE(TUMBLE(TABLE {source}, DESCRIPTOR(rt), INTERVAL '1' HOUR))"
# grain: one row per row of {source} (BATCH mode), with its event-time hour (same windows)
HOUR_BATCH = """(
    SELECT *,
        CAST(TO_TIMESTAMP_LTZ(start_s * 1000, 3) AS TIMESTAMP(3)) AS window_start,
        CAST(TO_TIMESTAMP_LTZ(start_s * 1000 + 3600000, 3) AS TIMESTAMP(3)) AS window_end,
        TO_TIMESTAMP_LTZ(start_s * 1000 + 3599999, 3) AS window_time
    FROM (
        SELECT *, rt_s - MOD(rt_s, 3600) AS start_s
        FROM (SELECT *, UNIX_TIMESTAMP(DATE_FORMAT(rt, 'yyyy-MM-dd HH:mm:ss')) AS rt_s FROM {source})
    )
)"""

_FPS = "CAST(fps AS DECIMAL(24, 12))"

# grain: one row per request and event-time hour (demand vs supply)
REQUEST_HOURS = f"""
SELECT request_id, window_start AS hour_start, window_time AS rt,
    COALESCE(MAX(NULLIF(gateway, '')), '') AS gateway,
    COALESCE(MAX(req_pipeline), '') AS pipeline,
    MAX(CASE WHEN edge = '{catalog.REQUEST}' THEN 1 ELSE 0 END) AS requested,
    MAX(CASE WHEN edge = '{catalog.NO_ORCHESTRATORS}' THEN 1 ELSE 0 END) AS no_orchestrator,
    MAX(CASE WHEN edge = '{catalog.FIRST_PROCESSED}' THEN 1 ELSE 0 END) AS served,
    MIN(CASE WHEN edge IN ({_in(_SERVED_EDGES)}) OR (edge = 'status' AND fps > 0) THEN edge_ms END) AS output_first_ms,
    MAX(CASE WHEN edge IN ({_in(_SERVED_EDGES)}) OR (edge = 'status' AND fps > 0) THEN edge_ms END) AS output_last_ms
FROM {{windowed}}
GROUP BY request_id, window_start, window_end, window_time
"""

# grain: one row per gateway x pipeline and event-time hour
DEMAND_HOURS = """
SELECT gateway, pipeline, window_start, window_end, window_time AS rt,
    SUM(requested) AS requested_count,
    SUM(no_orchestrator) AS no_orchestrator_count,
    SUM(served) AS served_count,
    SUM(requested * served) AS requested_served_count,
    SUM(requested * (1 - served)) AS unmet_count,
    SUM(requested * (1 - served) * no_orchestrator) AS unmet_no_orchestrator_count,
    SUM(COALESCE(output_last_ms - output_first_ms, 0)) AS served_ms,
    COUNT(*) AS request_count
FROM {windowed}
GROUP BY gateway, pipeline, window_start, window_end, window_time
"""

# grain: one row per request x orchestrator (attempt) and event-time hour
ATTEMPT_HOURS = f"""
SELECT request_id, orchestrator_address, window_start AS hour_start, window_time AS rt,
    COALESCE(MAX(req_pipeline), '') AS pipeline,
    MAX(orchestrator_url) AS orchestrator_url,
    MAX(CASE WHEN edge NOT IN ('status', 'event') THEN 1 ELSE 0 END) AS has_edge,
    MAX(CASE WHEN edge IN ({_in(_STARTUP_EDGES)}) THEN 1 ELSE 0 END) AS started,
    MAX(CASE WHEN edge = '{catalog.FIRST_PROCESSED}' THEN 1 ELSE 0 END) AS first_ok,
    MAX(CASE WHEN edge = '{catalog.SWAP}' THEN 1 ELSE 0 END) AS swapped,
    MIN(CASE WHEN edge = '{catalog.FIRST_PROCESSED}' AND req_swaps = 0 AND edge_ms >= req_request_ms
        THEN edge_ms - req_request_ms END) AS ptff_ms,
    MIN(CASE WHEN edge = '{catalog.FEW_PROCESSED}' AND req_swaps = 0 AND edge_ms >= req_request_ms
        THEN edge_ms - req_request_ms END) AS playable_ms,
    SUM(CASE WHEN edge = 'status' AND NOT is_warmup THEN 1 ELSE 0 END) AS fps_n,
    SUM(CASE WHEN edge = 'status' AND NOT is_warmup THEN {_FPS} ELSE 0 END) AS fps_sum,
    COUNT(DISTINCT CASE WHEN edge = 'status' THEN FLOOR(event_ms / 300000) END) AS windows,
    COUNT(DISTINCT CASE WHEN edge = 'status' AND fps > 0 THEN FLOOR(event_ms / 300000) END) AS viable_windows
FROM {{windowed}}
WHERE orchestrator_address <> ''
GROUP BY request_id, orchestrator_address, window_start, window_end, window_time
"""

# grain: one row per attempt-hour, or per status sample naming an orchestrator (coverage:
# minutes with samples of the orchestrator, counted once however many streams it serves)
SCORECARD_FACTS = """
SELECT orchestrator_address, pipeline, orchestrator_url, 1 AS attempts, has_edge, started, first_ok, swapped,
    ptff_ms, playable_ms, fps_n, fps_sum, windows, viable_windows, CAST(NULL AS BIGINT) AS sample_minute, rt
FROM attempt_hours
UNION ALL
SELECT orchestrator_address, COALESCE(req_pipeline, '') AS pipeline, orchestrator_url, 0, 0, 0, 0, 0,
    CAST(NULL AS BIGINT), CAST(NULL AS BIGINT), 0, CAST(0 AS DECIMAL(38, 12)), CAST(0 AS BIGINT), CAST(0 AS BIGINT),
    CAST(FLOOR(event_ms / 60000) AS BIGINT) AS sample_minute, rt
FROM analytics_running
WHERE edge = 'status' AND orchestrator_address <> ''
"""

# grain: one row per orchestrator x pipeline and event-time hour
SCORECARD_HOURS = """
SELECT *,
    CASE WHEN started_count > 0 THEN CAST(first_ok_count AS DOUBLE) / started_count END AS startup_success,
    CASE WHEN edge_count > 0 THEN 1 - CAST(swapped_count AS DOUBLE) / edge_count END AS no_swap,
    CASE WHEN window_count > 0 THEN CAST(viable_window_count AS DOUBLE) / window_count END AS viability,
    CAST(covered_minutes AS DOUBLE) / 60 AS coverage,
    CASE WHEN ptff_n > 0 THEN CAST(ptff_sum AS DOUBLE) / ptff_n END AS ptff_mean_ms,
    CASE WHEN playable_n > 0 THEN CAST(playable_sum AS DOUBLE) / playable_n END AS playable_mean_ms,
    CASE WHEN fps_n > 0 THEN CAST(fps_sum AS DOUBLE) / fps_n END AS fps_mean
FROM (
    SELECT orchestrator_address, pipeline, window_start, window_end, window_time AS rt,
        MAX(orchestrator_url) AS orchestrator_url,
        SUM(attempts) AS attempt_count,
        SUM(has_edge) AS edge_count,
        SUM(started) AS started_count,
        SUM(first_ok) AS first_ok_count,
        SUM(swapped) AS swapped_count,
        SUM(windows) AS window_count,
        SUM(viable_windows) AS viable_window_count,
        COUNT(DISTINCT sample_minute) AS covered_minutes,
        COUNT(ptff_ms) AS ptff_n,
        SUM(ptff_ms) AS ptff_sum,
        COUNT(playable_ms) AS playable_n,
        SUM(playable_ms) AS playable_sum,
        SUM(fps_n) AS fps_n,
        SUM(fps_sum) AS fps_sum
    FROM {windowed}
    GROUP BY orchestrator_address, pipeline, window_start, window_end, window_time
)
"""

# reliability = 0.4 startup + 0.2 no-swap + 0.4 viability over the components the hour has
# evidence for (weights renormalised; an hour of a running stream has no startup)
RELIABILITY = (
    "(0.4 * COALESCE(startup_success, 0) + 0.2 * COALESCE(no_swap, 0) + 0.4 * COALESCE(viability, 0)) / "
    "NULLIF(0.4 * CASE WHEN startup_success IS NULL THEN 0 ELSE 1 END + 0.2 * CASE WHEN no_swap IS NULL "
    "THEN 0 ELSE 1 END + 0.4 * CASE WHEN viability IS NULL THEN 0 ELSE 1 END, 0)"
)

# grain: one row per network_capabilities announcement x orchestrator x model
CAPACITY_FACTS = """
SELECT e.gateway, c.orchestrator_address, c.local_address, c.orchestrator_url, c.pipeline, c.model_id,
    c.is_warm, c.available, c.in_use, c.price_per_unit, c.pixels_per_unit, c.gpu_count, c.gpu_names, e.rt
FROM gateway_events AS e,
    LATERAL TABLE(capacity_facts(e.data)) AS c(orchestrator_address, local_address, orchestrator_url, pipeline,
        model_id, is_warm, available, in_use, price_per_unit, pixels_per_unit, gpu_count, gpu_names)
WHERE e.event_type = 'network_capabilities'
"""

# grain: one row per orchestrator x pipeline x model and event-time hour
CAPACITY_HOURS = """
SELECT orchestrator_address, pipeline, model_id, window_start, window_end, window_time AS rt,
    MAX(local_address) AS local_address,
    MAX(orchestrator_url) AS orchestrator_url,
    COUNT(*) AS announcement_count,
    COUNT(DISTINCT gateway) AS gateway_count,
    MIN(available) AS available_min,
    MAX(available) AS available_max,
    SUM(CAST(available AS BIGINT)) AS available_sum,
    MIN(available + in_use) AS total_min,
    MAX(available + in_use) AS total_max,
    SUM(CASE WHEN is_warm THEN 1 ELSE 0 END) AS warm_count,
    MIN(price_per_unit / pixels_per_unit) AS price_min,
    MAX(price_per_unit / pixels_per_unit) AS price_max,
    MIN(gpu_count) AS gpu_count_min,
    MAX(gpu_count) AS gpu_count_max,
    MAX(gpu_names) AS gpu_names
FROM {windowed}
GROUP BY orchestrator_address, pipeline, model_id, window_start, window_end, window_time
"""


def _row(metric: catalog.Metric, value: str, metadata: str, *, model_id: str = "pipeline",
         gateway: str = "''", orchestrator: str = "''", url: str = "''") -> str:
    """JSON_OBJECT of one hourly naap.calculated_metrics row (window = the hour)."""
    start, end = flink_sql.ch_timestamp("window_start"), flink_sql.ch_timestamp("window_end")
    return f"""JSON_OBJECT(
        'metric_timestamp' VALUE {start},
        'window_start' VALUE {start},
        'window_end' VALUE {end},
        'stream_id' VALUE '',
        'request_id' VALUE CAST(NULL AS STRING),
        'gateway' VALUE {gateway},
        'orchestrator_address' VALUE {orchestrator},
        'orchestrator_url' VALUE {url},
        'gpu_id' VALUE CAST(NULL AS STRING),
        'region' VALUE '',
        'pipeline' VALUE pipeline,
        'model_id' VALUE {model_id},
        'metric_name' VALUE '{metric.name}',
        'metric_category' VALUE '{metric.category}',
        'metric_version' VALUE {metric.version},
        'metric_value' VALUE CAST({value} AS DOUBLE),
        'metric_unit' VALUE '{metric.unit}',
        'metric_metadata' VALUE CONCAT('', {metadata})
    )"""


def _select(source: str, row: str, where: str = "TRUE") -> str:
    return f"SELECT 'naap.calculated_metrics' AS target, {row} AS row_json, rt FROM {source} WHERE {where}"


_DEMAND_METADATA = (
    "JSON_OBJECT('requested' VALUE requested_count, 'no_orchestrator' VALUE no_orchestrator_count, "
    "'served' VALUE served_count, 'requested_and_served' VALUE requested_served_count, "
    "'unmet' VALUE unmet_count, 'unmet_no_orchestrator' VALUE unmet_no_orchestrator_count, "
    "'served_ms' VALUE served_ms, 'requests_seen' VALUE request_count, 'time_field' VALUE 'envelope')"
)

_SCORECARD_METADATA = (
    "JSON_OBJECT('coverage' VALUE coverage, 'covered_minutes' VALUE covered_minutes, "
    "'startup_success' VALUE startup_success, 'no_swap' VALUE no_swap, 'viability' VALUE viability, "
    "'reliability' VALUE reliability, 'attempts' VALUE attempt_count, 'started' VALUE started_count, "
    "'first_frame' VALUE first_ok_count, 'with_edges' VALUE edge_count, 'swapped' VALUE swapped_count, "
    "'windows' VALUE window_count, 'viable_windows' VALUE viable_window_count, "
    "'ptff_n' VALUE ptff_n, 'ptff_sum_ms' VALUE ptff_sum, 'ptff_mean_ms' VALUE ptff_mean_ms, "
    "'playable_n' VALUE playable_n, 'playable_sum_ms' VALUE playable_sum, 'playable_mean_ms' VALUE playable_mean_ms, "
    "'fps_n' VALUE fps_n, 'fps_sum' VALUE CAST(fps_sum AS DOUBLE), 'fps_mean' VALUE fps_mean, "
    "'weights' VALUE 'reliability = 0.4 startup + 0.2 no_swap + 0.4 viability')"
)

_CAPACITY_METADATA = (
    "JSON_OBJECT('announcements' VALUE announcement_count, 'gateways' VALUE gateway_count, "
    "'local_address' VALUE local_address, 'available_min' VALUE available_min, "
    "'available_max' VALUE available_max, 'available_sum' VALUE available_sum, 'total_min' VALUE total_min, "
    "'total_max' VALUE total_max, 'warm_announcements' VALUE warm_count, "
    "'price_per_pixel_min' VALUE price_min, 'price_per_pixel_max' VALUE price_max, "
    "'gpu_count_min' VALUE gpu_count_min, 'gpu_count_max' VALUE gpu_count_max, 'gpu_names' VALUE gpu_names)"
)


def build(t_env: Any, settings: Settings) -> list[str]:
    """Define the views (after naap_metrics' ``status_warmup``); return the output views."""
    t_env.create_temporary_function("capacity_facts", capacity_udtf())
    hour = HOUR_BATCH if settings.is_batch else HOUR_STREAMING
    flink_sql.view(t_env, "analytics_events", ANALYTICS_EVENTS)
    flink_sql.view(t_env, "analytics_running", ANALYTICS_RUNNING)
    # (2) demand vs supply
    flink_sql.view(t_env, "request_hours", REQUEST_HOURS.format(windowed=hour.format(source="analytics_running")))
    flink_sql.view(t_env, "demand_hours", DEMAND_HOURS.format(windowed=hour.format(source="request_hours")))
    a = catalog.BY_NAME
    flink_sql.view(t_env, "naap_analytics_demand", " UNION ALL ".join([
        _select(
            "demand_hours",
            _row(a["demand_requested_sessions"], "requested_count", _DEMAND_METADATA, gateway="gateway"),
        ),
        _select("demand_hours", _row(a["demand_no_orchestrator_sessions"], "no_orchestrator_count", _DEMAND_METADATA,
                                     gateway="gateway")),
        _select("demand_hours", _row(a["demand_served_sessions"], "served_count", _DEMAND_METADATA, gateway="gateway")),
        _select("demand_hours", _row(a["demand_served_minutes"], "served_ms / 60000.0", _DEMAND_METADATA,
                                     gateway="gateway")),
        _select("demand_hours", _row(a["demand_effective_success_rate"],
                                     "CAST(requested_served_count AS DOUBLE) / requested_count", _DEMAND_METADATA,
                                     gateway="gateway"), "requested_count > 0"),
        _select("demand_hours", _row(a["unmet_demand_sessions"], "unmet_count", _DEMAND_METADATA, gateway="gateway")),
    ]))
    # (1) scorecard components
    flink_sql.view(t_env, "attempt_hours", ATTEMPT_HOURS.format(windowed=hour.format(source="analytics_running")))
    flink_sql.view(t_env, "scorecard_facts", SCORECARD_FACTS)
    flink_sql.view(t_env, "scorecard_hours", SCORECARD_HOURS.format(windowed=hour.format(source="scorecard_facts")))
    flink_sql.view(t_env, "scorecard_rows", f"SELECT *, {RELIABILITY} AS reliability FROM scorecard_hours")
    who = dict(orchestrator="orchestrator_address", url="orchestrator_url")
    flink_sql.view(t_env, "naap_analytics_scorecard", " UNION ALL ".join([
        _select("scorecard_rows", _row(a["orchestrator_coverage"], "coverage", _SCORECARD_METADATA, **who)),
        _select("scorecard_rows", _row(a["orchestrator_reliability"], "reliability", _SCORECARD_METADATA, **who),
                "reliability IS NOT NULL"),
    ]))
    # (3) capacity
    flink_sql.view(t_env, "capacity_facts_rows", CAPACITY_FACTS)
    flink_sql.view(t_env, "capacity_hours", CAPACITY_HOURS.format(windowed=hour.format(source="capacity_facts_rows")))
    cap = dict(model_id="model_id", **who)
    flink_sql.view(t_env, "naap_analytics_capacity", " UNION ALL ".join([
        _select("capacity_hours", _row(a["capacity_total"], "total_max", _CAPACITY_METADATA, **cap)),
        _select("capacity_hours", _row(a["capacity_available"], "CAST(available_sum AS DOUBLE) / announcement_count",
                                       _CAPACITY_METADATA, **cap)),
        _select("capacity_hours", _row(a["capacity_swing"], "CAST(available_max - available_min AS DOUBLE) / total_max",
                                       _CAPACITY_METADATA, **cap), "total_max > 0"),
        _select("capacity_hours", _row(a["model_warm_share"], "CAST(warm_count AS DOUBLE) / announcement_count",
                                       _CAPACITY_METADATA, **cap)),
        _select("capacity_hours", _row(a["price_per_unit"], "price_max", _CAPACITY_METADATA, **cap),
                "price_max IS NOT NULL"),
        _select("capacity_hours", _row(a["gpu_count"], "gpu_count_max", _CAPACITY_METADATA, **cap)),
    ]))
    return ["naap_analytics_demand", "naap_analytics_scorecard", "naap_analytics_capacity"]
