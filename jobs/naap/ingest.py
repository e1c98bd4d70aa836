"""naap_ingest: gateway events into raw_events and the typed NaaP tables.

Reads:    ``gateway_events`` (jobs/naap/envelopes.py: accepted, deduplicated envelopes).
Computes: one raw_events row per event; typed rows by event type, from the fields the shared
          parse (jobs/naap/envelopes.py: one Java parse per line, no Python per row) extracted and
          checked; network_capabilities exploded
          into one orchestrator_metadata row per orchestrator x GPU by a Python table function
          (nested fan-out over a pure, unit-tested parser: udfs/capabilities.py).
Writes:   naap.raw_events, naap.ai_stream_status, naap.stream_ingest_metrics,
          naap.stream_trace_events, naap.dead_letter (stage parse) through the shared batch
          writer (jobs/connectors/sinks.py); naap.orchestrator_metadata as a Type 2 slowly changing
          dimension (udfs/scd.py: versions in keyed state, buffered writer).
Time:     event time (envelope timestamp); rows are batched per event-time window.
State:    the shared deduplication and batch windows; per orchestrator x GPU key, its current
          metadata version and announcements waiting for the watermark.
Rejects:  parse: invalid_output_fps, invalid_input_fps, missing_stream_id (ai_stream_status);
          missing_stats, invalid_track_stats (stream_ingest_metrics); missing_trace_type,
          invalid_data_timestamp (stream_trace); capability defects (udfs/capabilities.py).
          The event itself stays in raw_events, so a fixed parser can replay it.
"""

from __future__ import annotations

from typing import Any

from pyflink.common import Types

from jobs import flink_sql
from jobs.connectors.sinks import BufferedWriter, terminate
from jobs.contract import BODY, MS, ROUTE
from jobs.naap.envelopes import dead_letter_row
from jobs.settings import Settings
from jobs.streams import by_kind
from udfs.capabilities import capabilities_udtf
from udfs.scd import OrchestratorVersions

NAME = "naap_ingest"
TS = flink_sql.ch_time("event_ms")
# The identity columns every typed table starts with (the stream events' common fields).
IDENTITY = f"""'event_id' VALUE event_id,
    'event_timestamp' VALUE {TS},
    'stream_id' VALUE stream_id,
    'request_id' VALUE request_id,
    'gateway' VALUE gateway,
    'orchestrator_address' VALUE orchestrator_address,"""

# grain: one row per accepted event
RAW_EVENTS = f"""
SELECT 'naap.raw_events' AS target, JSON_OBJECT(
    'event_id' VALUE event_id,
    'dedup_key' VALUE dedup_key,
    'event_timestamp' VALUE {TS},
    'event_type' VALUE event_type,
    'stream_id' VALUE stream_id,
    'request_id' VALUE any_request_id,
    'gateway' VALUE gateway,
    'orchestrator_address' VALUE orchestrator_address,
    'orchestrator_url' VALUE orchestrator_url,
    'raw_data' VALUE line,
    'source_position' VALUE source_position
) AS row_json, rt
FROM gateway_events
"""

# grain: one row per well-formed ai_stream_status event
AI_STREAM_STATUS = f"""
SELECT 'naap.ai_stream_status' AS target, JSON_OBJECT(
    'event_id' VALUE event_id,
    'event_timestamp' VALUE {TS},
    'stream_id' VALUE stream_id,
    'request_id' VALUE request_id,
    'session_key' VALUE CONCAT(stream_id, '|', request_id),
    'gateway' VALUE gateway,
    'orchestrator_address' VALUE orchestrator_address,
    'orchestrator_url' VALUE orchestrator_url,
    'gpu_id' VALUE '',
    'region' VALUE '',
    'pipeline' VALUE pipeline,
    'pipeline_id' VALUE pipeline_id,
    'model_id' VALUE pipeline,
    'output_fps' VALUE output_fps,
    'input_fps' VALUE input_fps,
    'state' VALUE state,
    'restart_count' VALUE restart_count,
    'last_error' VALUE last_error,
    'last_error_time' VALUE {flink_sql.ch_time('last_error_time')},
    'prompt_text' VALUE prompt_text,
    'prompt_width' VALUE prompt_width,
    'prompt_height' VALUE prompt_height,
    'params_hash' VALUE params_hash,
    'start_time' VALUE {flink_sql.ch_time('start_time')},
    'startup_time_ms' VALUE CAST(NULL AS BIGINT)
) AS row_json, rt
FROM gateway_events
WHERE event_type = 'ai_stream_status' AND parse_reason IS NULL
"""


def _tracks() -> str:
    """The video and audio ``track_stats`` columns (split by the entries' type in the parser)."""
    columns = ("jitter", "packets_received", "packets_lost", "packet_loss_pct", "last_input_ts")
    return ",\n    ".join(f"'{kind}_{name}' VALUE {kind}_{name}" for kind in ("video", "audio") for name in columns)


# grain: one row per well-formed stream_ingest_metrics event (video/audio tracks split)
STREAM_INGEST_METRICS = f"""
SELECT 'naap.stream_ingest_metrics' AS target, JSON_OBJECT(
    {IDENTITY}
    'pipeline_id' VALUE pipeline_id,
    'connection_quality' VALUE connection_quality,
    {_tracks()},
    'bytes_received' VALUE bytes_received,
    'bytes_sent' VALUE bytes_sent,
    'transport_id' VALUE transport_id
) AS row_json, rt
FROM gateway_events
WHERE event_type = 'stream_ingest_metrics' AND parse_reason IS NULL
"""

# grain: one row per well-formed stream_trace event
STREAM_TRACE_EVENTS = f"""
SELECT 'naap.stream_trace_events' AS target, JSON_OBJECT(
    {IDENTITY}
    'orchestrator_url' VALUE orchestrator_url,
    'pipeline_id' VALUE pipeline_id,
    'pipeline' VALUE pipeline,
    'trace_type' VALUE trace_type,
    'data_timestamp' VALUE {flink_sql.ch_time('CASE WHEN payload_ms > 0 THEN payload_ms ELSE event_ms END')},
    'is_data_timestamp_from_envelope' VALUE COALESCE(payload_ms, 0) <= 0,
    'message' VALUE message
) AS row_json, rt
FROM gateway_events
WHERE event_type = 'stream_trace' AND parse_reason IS NULL
"""

# grain: one row per orchestrator x GPU of each network_capabilities event, or per defect
# (udfs/capabilities.py: a metadata row with its SCD2 key, or a reject's reason, detail, payload)
CAPABILITY_OUTPUTS = """
SELECT target, row_json, scd_key, defect_reason, defect_detail, defect_payload, event_id, event_ms,
    source_position, rt
FROM gateway_events,
    LATERAL TABLE(explode_capabilities(data, event_ms, gateway, event_id))
        AS t(target, row_json, scd_key, defect_reason, defect_detail, defect_payload)
WHERE event_type = 'network_capabilities'
"""

# grain: one row per orchestrator x GPU announcement, keyed for the SCD2 versions
# (stream rows of the pipeline's shared conversion, jobs/contract.py STREAM_ROW; the route is
# the SCD2 key of udfs/scd.key_of, computed in the table function)
CAPABILITY_ROWS = """
SELECT 'scd' AS kind, scd_key AS route, '' AS tag, row_json AS body, event_ms AS ms
FROM capability_outputs
WHERE target = 'naap.orchestrator_metadata'
"""

# grain: one row per defect of a network_capabilities event (the reject view shape of
# jobs/naap/envelopes.py dead_letter_row, and the table function's target: a literal instead would let
# the planner prune a branch of the batch aggregates and so shift the operator ids savepoints use)
CAPABILITY_REJECTS = """
SELECT target, 'parse' AS stage, defect_reason AS reason, defect_detail AS detail, event_id,
    'network_capabilities' AS event_type, event_ms, source_position, defect_payload AS line, rt
FROM capability_outputs
WHERE target = 'naap.dead_letter'
"""

# grain: one row per event whose typed fields are wrong
PARSE_REJECTS = """
SELECT 'parse' AS stage, parse_reason AS reason, '' AS detail, event_id, event_type, event_ms,
    source_position, line, rt
FROM gateway_events
WHERE parse_reason IS NOT NULL
"""


def build(t_env: Any, settings: Settings) -> list[str]:
    """Define the job's views; return the output views (target, row_json, rt)."""
    t_env.create_temporary_function("explode_capabilities", capabilities_udtf())
    flink_sql.view(t_env, "naap_ingest_raw_events", RAW_EVENTS)
    flink_sql.view(t_env, "naap_ingest_ai_stream_status", AI_STREAM_STATUS)
    flink_sql.view(t_env, "naap_ingest_stream_ingest_metrics", STREAM_INGEST_METRICS)
    flink_sql.view(t_env, "naap_ingest_stream_trace_events", STREAM_TRACE_EVENTS)
    flink_sql.view(t_env, "capability_outputs", CAPABILITY_OUTPUTS)
    flink_sql.view(t_env, "naap_ingest_capability_rejects_raw", CAPABILITY_REJECTS)
    flink_sql.view(
        t_env,
        "naap_ingest_capability_rejects",
        f"SELECT target, {dead_letter_row(settings, NAME)} AS row_json, rt FROM naap_ingest_capability_rejects_raw",
    )
    flink_sql.view(t_env, "naap_ingest_parse_rejects_raw", PARSE_REJECTS)
    flink_sql.view(
        t_env,
        "naap_ingest_parse_rejects",
        f"SELECT 'naap.dead_letter' AS target, {dead_letter_row(settings, NAME)} AS row_json, rt "
        "FROM naap_ingest_parse_rejects_raw",
    )
    return [
        "naap_ingest_raw_events",
        "naap_ingest_ai_stream_status",
        "naap_ingest_stream_ingest_metrics",
        "naap_ingest_stream_trace_events",
        "naap_ingest_capability_rejects",
        "naap_ingest_parse_rejects",
    ]


def attach_streams(out: Any, settings: Settings, pipeline: str) -> None:
    """DataStream part: orchestrator_metadata versions (SCD2) in keyed state, then written.

    ``out`` is the pipeline's stream of stream rows; this part reads its CAPABILITY_ROWS.
    """
    versions = (
        by_kind(out, "scd", pipeline)
        .key_by(lambda row: row[ROUTE], key_type=Types.STRING())
        .process(OrchestratorVersions.function(BODY, MS), output_type=Types.TUPLE([Types.STRING(), Types.STRING()]))
        .uid(f"{pipeline}-orchestrator-versions")
        .name("orchestrator_metadata SCD2 versions")
        .key_by(lambda row: row[0], key_type=Types.STRING())
        .process(BufferedWriter(settings), output_type=Types.INT())
    )
    terminate(
        versions,
        f"{pipeline}-orchestrator-metadata-writer",
        "orchestrator_metadata writer",
        settings.writer_parallelism,
    )
