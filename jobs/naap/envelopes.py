"""Shared parsing of gateway event envelopes: classify, reject, deduplicate.

Reads:    the source table of ``jobs.connectors.sources`` (raw lines).
Computes: every field of the line in one parse (the Java table function parse_gateway_event,
          no Python per row); a reject reason per line; per-window deduplication of repeated
          deliveries.
Writes:   two views for the jobs (over one planned stream, see register):
          ``source_rejects``    lines rejected at decode/validate/late, as dead-letter rows;
          ``gateway_events``    accepted, deduplicated events (one row per dedup_key).
Time:     event time = envelope ``timestamp``; watermark = max seen - allowed lateness.
          An event at or before the watermark is ``late``: routed, never dropped silently.
          STREAMING: the check is made by the late marker (java/netpulse/operators/
          LateMarker.java, see _mark_late) against the highest of the reader's watermark, the
          one restored from the last checkpoint or savepoint and, for Kafka, the record's own
          partition's (its newest earlier event time - allowed lateness).
State:    the deduplication window (``dedup_window_s``), then released. The late marker: one
          watermark per subtask and one per Kafka partition (operator state).
Rejects:  decode (payload_too_large, malformed_json, duplicate_key, invalid_utf8), validate
          (not_an_object, missing_type, invalid_timestamp, timestamp_out_of_range,
          timestamp_in_future, missing_data, invalid_data, unknown_event_type), late (late).

Duplicates: a redelivered event carries the same envelope (same ``id`` and ``timestamp``), so
it falls into the same deduplication window as the first delivery and is folded there. An
event without an id is identified by the sha256 of its line.
"""

from __future__ import annotations

from typing import Any

from jobs import flink_sql
from jobs.connectors.sources import MIN_EVENT_MS, SOURCE_TABLE, counts_line_copies, future_limit_ms
from jobs.settings import Settings

# Event types the gateways emit. Those with a typed table are parsed further; the others are
# kept in raw_events only. Anything else is rejected as unknown_event_type (its own class).
TYPED_EVENT_TYPES = ("ai_stream_status", "stream_ingest_metrics", "stream_trace", "network_capabilities")
RAW_ONLY_EVENT_TYPES = ("ai_stream_events", "create_new_payment", "discovery_results")
KNOWN_EVENT_TYPES = TYPED_EVENT_TYPES + RAW_ONLY_EVENT_TYPES
DECODE_REASONS = ("payload_too_large", "malformed_json", "duplicate_key", "invalid_utf8")

# Columns of parse_gateway_event (java/netpulse/udfs/ParseGatewayEvent.java) that travel with
# every accepted event (through the deduplication window) to the jobs. Type-specific ones are
# NULL for the other event types.
PARSED_FIELDS = (
    "data", "stream_id", "request_id", "any_request_id", "orchestrator_address",
    "orchestrator_url", "pipeline", "pipeline_id", "parse_reason",
    # ai_stream_status
    "state", "output_fps", "input_fps", "restart_count", "last_error", "last_error_time",
    "prompt_text", "prompt_width", "prompt_height", "params_hash", "start_time",
    # stream_ingest_metrics
    "connection_quality", "video_jitter", "video_packets_received", "video_packets_lost",
    "video_packet_loss_pct", "video_last_input_ts", "audio_jitter", "audio_packets_received",
    "audio_packets_lost", "audio_packet_loss_pct", "audio_last_input_ts", "bytes_received",
    "bytes_sent", "transport_id",
    # stream_trace
    "trace_type", "payload_ms", "message",
)
_FIELDS = ", ".join(PARSED_FIELDS)


def _reject_reason(settings: Settings) -> str:
    known = ", ".join(f"'{t}'" for t in KNOWN_EVENT_TYPES)
    # Lateness exists only in STREAMING mode: BATCH mode sees the whole input.
    # STREAMING: is_late comes from the late marker between the source and this view
    # (java/netpulse/operators/LateMarker.java, see _mark_late).
    late = "" if settings.is_batch else "\n        WHEN is_late THEN 'late'"
    return f"""CASE
        WHEN envelope_reason IS NOT NULL THEN envelope_reason
        WHEN envelope_ms IS NULL THEN 'invalid_timestamp'
        WHEN envelope_ms < {MIN_EVENT_MS} THEN 'timestamp_out_of_range'
        WHEN envelope_ms > {future_limit_ms(settings)} THEN 'timestamp_in_future'
        WHEN data_reason IS NOT NULL THEN data_reason
        WHEN event_type NOT IN ({known}) THEN 'unknown_event_type'{late}
    END"""


# grain: one row per line read from the source. The line is parsed once, in Java
# (parse_gateway_event: envelope, data and every typed field; see jobs/ops/java_udfs.py).
GATEWAY_LINES = """
SELECT line, source_position, envelope_ms, ts{proctime}, event_id, event_type, gateway, {fields},
    {reason} AS reason
FROM (
    SELECT s.line, s.source_position, s.envelope_ms, s.ts{source_proctime}{late}, p.*
    FROM {source} AS s, LATERAL TABLE(parse_gateway_event(s.line, {max_bytes})) AS p
)
"""

# grain: one row per rejected line (decode / validate / late). line_copy numbers identical
# rejected lines of one source position (see line_copy), so each is its own dead letter.
SOURCE_REJECTS = """
SELECT stage, reason, detail, event_id, event_type, event_ms, source_position, line, gateway, {fields},
    {line_copy} AS line_copy
FROM (
SELECT
    CASE
        WHEN reason IN ({decode}) THEN 'decode'
        WHEN reason = 'late' THEN 'late'
        ELSE 'validate'
    END AS stage,
    reason,
    CASE WHEN reason = 'late'
        THEN CONCAT('event time ', CAST(ts AS STRING), ' is at or before the watermark')
        ELSE '' END AS detail,
    event_id,
    event_type,
    CASE WHEN reason IN ('late') THEN envelope_ms END AS event_ms,
    source_position,
    line,
    gateway,
    {fields}{copy_columns}
FROM gateway_lines
WHERE reason IS NOT NULL
)
"""

# grain: one row per distinct event (dedup_key) per deduplication window
GATEWAY_EVENTS = """
SELECT event_id, dedup_key, event_type, event_ms, gateway, line, source_position, rt, {fields}
FROM (
    SELECT
        event_id,
        dedup_key,
        event_type,
        envelope_ms AS event_ms,
        gateway,
        {fields},
        line,
        source_position,
        ts,
        window_time AS rt,
        ROW_NUMBER() OVER (
            PARTITION BY window_start, window_end, dedup_key ORDER BY {order}
        ) AS delivery
    FROM TABLE(TUMBLE(TABLE accepted_lines, DESCRIPTOR(ts), {batch}))
)
WHERE delivery = 1
"""

# grain: one row per accepted line (before deduplication)
ACCEPTED_LINES = f"""
SELECT
    event_id,
    CASE WHEN event_id <> '' THEN event_id ELSE SHA256(line) END AS dedup_key,
    event_type,
    envelope_ms,
    gateway,
    {_FIELDS},
    line,
    source_position,
    ts
FROM gateway_lines
WHERE reason IS NULL
"""


# grain: one row per line: each distinct accepted event (stage NULL) and each rejected line.
# The one set of rows every job reads (see register).
ALL_ROWS = """
SELECT event_id, dedup_key, event_type, event_ms, gateway, line, source_position, rt, {fields},
    CAST(NULL AS STRING) AS stage, CAST(NULL AS STRING) AS reason, CAST(NULL AS STRING) AS detail,
    CAST(1 AS BIGINT) AS line_copy
FROM planned_events
UNION ALL
SELECT event_id, '' AS dedup_key, event_type, event_ms, gateway, line, source_position,
    TO_TIMESTAMP_LTZ(0, 3) AS rt, {fields}, stage, reason, detail, line_copy
FROM planned_rejects
"""


def _delivery_order(settings: Settings) -> str:
    """Which delivery of a repeated event is kept.

    STREAMING: the first by event time (the only order window deduplication supports). BATCH:
    the same, ties broken by position and content, so the kept copy (its source_position)
    does not depend on the order in which files were read.
    """
    return "ts ASC" if not settings.is_batch else "ts ASC, source_position ASC, line ASC"


def _line_copy(settings: Settings) -> tuple[str, str]:
    """SQL of ``line_copy`` and the columns it needs from the inner select.

    ``line_copy`` is 1 for the first of identical rejected lines of one source position, 2 for
    the next, ...

    A file's source_position is its path (Flink's file source exposes no line offset), so
    without it identical bad lines of one file would share one reject_key and fold into one
    dead letter. The numbering is deterministic, which keeps a replay's keys equal: identical
    lines are interchangeable, so which copy gets which number does not matter; BATCH numbers
    them over the whole input, STREAMING counts them in processing-time order, i.e. the file's
    line order (one reader per file), restored with the checkpoint on failover. STREAMING keeps
    one count per distinct rejected line of each file in state (dropped
    ``NETPULSE_STATE_TTL_S`` after the line was last seen; a copy seen after that folds into
    the first dead letter). Kafka positions carry the offset: always 1.
    """
    if not counts_line_copies(settings):
        return "CAST(1 AS BIGINT)", ""
    columns = ",\n    SHA256(line) AS line_hash" + ("" if settings.is_batch else ", pt")
    if settings.is_batch:
        return "ROW_NUMBER() OVER (PARTITION BY source_position, line_hash ORDER BY reason)", columns
    return (
        "COUNT(*) OVER (PARTITION BY source_position, line_hash ORDER BY pt "
        "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)",
        columns,
    )


def register(t_env: Any, settings: Settings, source: str = SOURCE_TABLE) -> None:
    """Define the shared views on ``source`` (see the module docstring).

    The accepted events and the rejects are planned once, as one stream, and every job reads
    that stream. In STREAMING mode: Left to itself the planner would inline the views into each output, prune
    each copy to the columns that output reads, and so build one deduplication window, with
    its own state holding every line, per output (eight, measured): a table-to-stream-to-table
    round trip (JVM only, no Python) is the boundary that stops it. The stream's watermark
    carries on (SOURCE_WATERMARK) and ``rt`` stays the event-time attribute; rejects carry an
    ``rt`` of 0 and are never windowed.
    """
    from pyflink.table import Schema

    proctime = counts_line_copies(settings) and not settings.is_batch
    if not settings.is_batch:
        source = _mark_late(t_env, settings, source)
    flink_sql.view(
        t_env,
        "gateway_lines",
        GATEWAY_LINES.format(
            fields=_FIELDS, reason=_reject_reason(settings), source=source,
            max_bytes=settings.max_event_bytes, proctime=", pt" if proctime else "",
            source_proctime=", s.pt" if proctime else "", late="" if settings.is_batch else ", s.is_late",
        ),
    )
    line_copy, copy_columns = _line_copy(settings)
    flink_sql.view(
        t_env,
        "planned_rejects",
        SOURCE_REJECTS.format(
            fields=_FIELDS, line_copy=line_copy, copy_columns=copy_columns,
            decode=", ".join(f"'{r}'" for r in DECODE_REASONS),
        ),
    )
    flink_sql.view(t_env, "accepted_lines", ACCEPTED_LINES)
    flink_sql.view(
        t_env,
        "planned_events",
        GATEWAY_EVENTS.format(
            fields=_FIELDS, batch=flink_sql.seconds(settings.dedup_window_s), order=_delivery_order(settings)
        ),
    )
    if settings.is_batch:
        # BATCH: the outputs are separate INSERTs of one statement set (jobs/runtime.py), and
        # a view read by several sinks is optimized once, as its own block, with every column
        # its readers need: one deduplication without the round trip (measured in the plan:
        # one parse, one deduplication, the rest reused).
        flink_sql.view(t_env, "gateway_rows", ALL_ROWS.format(fields=_FIELDS))
        flink_sql.view(t_env, "gateway_events", "SELECT * FROM gateway_rows WHERE stage IS NULL")
        flink_sql.view(t_env, "source_rejects", "SELECT * FROM gateway_rows WHERE stage IS NOT NULL")
        return
    stream = t_env.to_data_stream(t_env.sql_query(ALL_ROWS.format(fields=_FIELDS)))
    schema = Schema.new_builder()
    if not settings.is_batch:
        schema = schema.watermark("rt", "SOURCE_WATERMARK()")
    rows = t_env.from_data_stream(stream, schema.build())
    t_env.create_temporary_view("gateway_rows", rows)
    flink_sql.view(t_env, "gateway_events", "SELECT * FROM gateway_rows WHERE stage IS NULL")
    flink_sql.view(t_env, "source_rejects", "SELECT * FROM gateway_rows WHERE stage IS NOT NULL")


# Operator uid of the late marker (savepoints map its state by it: never change it).
LATE_MARKER_UID = "gateway-late-marker"
MARKED_SOURCE = "marked_source"


def _mark_late(t_env: Any, settings: Settings, source: str) -> str:
    """STREAMING: route the source through the late marker; returns the view to read instead.

    The marker (java/netpulse/operators/LateMarker.java, a DataStream operator: no Python per
    row) adds ``is_late``: event time at or before the highest of the reader's watermark, the
    watermark restored from the last checkpoint or savepoint, and (Kafka) the watermark of the
    record's own partition. ``CURRENT_WATERMARK(ts)`` alone, the check before it, is NULL after
    every restore until each partition has emitted again, while the windows downstream restore
    theirs: an hours-late record read then passed as on time and the deduplication window
    dropped it without a trace (docs/reliability.md, "Exactly-once from Kafka").

    The rows go table -> stream -> table inside the JVM; event time stays ``ts`` and the
    source's watermark passes through (SOURCE_WATERMARK()). ``pt`` (files) is processing time
    again after the round trip.
    """
    from pyflink.datastream import DataStream
    from pyflink.java_gateway import get_gateway
    from pyflink.table import Schema

    stream = t_env.to_data_stream(t_env.sql_query(f"SELECT line, source_position, envelope_ms, ts FROM {source}"))
    marker = get_gateway().jvm.netpulse.operators.LateMarker
    position = "source_position" if settings.source == "kafka" else None
    marked = DataStream(
        marker.apply(stream._j_data_stream, "ts", position, settings.allowed_lateness_s * 1000, LATE_MARKER_UID)
    )
    schema = Schema.new_builder()
    if counts_line_copies(settings):
        schema = schema.column_by_expression("pt", "PROCTIME()")
    schema = schema.watermark("ts", "SOURCE_WATERMARK()")
    t_env.create_temporary_view(MARKED_SOURCE, t_env.from_data_stream(marked, schema.build()))
    return MARKED_SOURCE


def dead_letter_row(settings: Settings, job: str, line_copy: str | None = None) -> str:
    """SQL turning a reject view into JSONEachRow rows of naap.dead_letter.

    The view's columns: stage, reason, detail, event_id, event_type, event_ms, source_position,
    line.

    ``line_copy``: SQL of the copy number of identical rejected lines of one position (source
    rejects, see ``_line_copy``); a copy after the first adds its number to the reject_key, so
    each copy is its own row while the first keeps the key it always had.
    """
    cap = settings.dlq_payload_cap_chars
    copy = f", CASE WHEN {line_copy} > 1 THEN CAST({line_copy} AS STRING) END" if line_copy else ""
    return f"""JSON_OBJECT(
        'reject_key' VALUE SHA256(CONCAT_WS('|', '{job}', stage, reason, source_position, event_id, detail,
            line{copy})),
        'job' VALUE '{job}',
        'stage' VALUE stage,
        'reason' VALUE reason,
        'detail' VALUE detail,
        'event_id' VALUE event_id,
        'event_type' VALUE event_type,
        'event_timestamp' VALUE {flink_sql.ch_time('event_ms')},
        'source_position' VALUE source_position,
        'payload' VALUE SUBSTRING(line FROM 1 FOR {cap}),
        'payload_length' VALUE CHAR_LENGTH(line),
        'is_payload_truncated' VALUE CHAR_LENGTH(line) > {cap}
    )"""
