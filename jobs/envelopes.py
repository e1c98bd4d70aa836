"""Shared parsing of gateway event envelopes: classify, reject, deduplicate.

Reads:    the source table of ``jobs.sources`` (raw lines).
Computes: envelope fields in Flink SQL (Java JSON functions, no Python per row); a reject
          reason per line; per-window deduplication of repeated deliveries.
Writes:   three views for the jobs:
          ``gateway_lines``     every line with its envelope fields and reject stage/reason;
          ``source_rejects``    lines rejected at decode/validate/late, as dead-letter rows;
          ``gateway_events``    accepted, deduplicated events (one row per dedup_key).
Time:     event time = envelope ``timestamp``; watermark = max seen - allowed lateness.
          An event at or before the watermark is ``late``: routed, never dropped silently.
State:    the deduplication window (``dedup_window_s``), then released.
Rejects:  decode (payload_too_large, malformed_json), validate (not_an_object, missing_type,
          invalid_timestamp, timestamp_out_of_range, timestamp_in_future, missing_data, invalid_data,
          unknown_event_type), late (late).

Duplicates: a redelivered event carries the same envelope (same ``id`` and ``timestamp``), so
it falls into the same deduplication window as the first delivery and is folded there. An
event without an id is identified by the sha256 of its line.
"""

from __future__ import annotations

from typing import Any

from jobs import sql
from jobs.settings import Settings
from jobs.sources import MIN_EVENT_MS, SOURCE_TABLE, future_limit_ms

# Event types the gateways emit. Those with a typed table are parsed further; the others are
# kept in raw_events only. Anything else is rejected as unknown_event_type (its own class).
TYPED_EVENT_TYPES = ("ai_stream_status", "stream_ingest_metrics", "stream_trace", "network_capabilities")
RAW_ONLY_EVENT_TYPES = ("ai_stream_events", "create_new_payment", "discovery_results")
KNOWN_EVENT_TYPES = TYPED_EVENT_TYPES + RAW_ONLY_EVENT_TYPES

_DATA = "COALESCE(JSON_QUERY(line, '$.data'), JSON_VALUE(line, '$.data'))"


def _reject_reason(settings: Settings) -> str:
    known = ", ".join(f"'{t}'" for t in KNOWN_EVENT_TYPES)
    return f"""CASE
        WHEN CHAR_LENGTH(line) > {settings.max_event_bytes} THEN 'payload_too_large'
        WHEN NOT (line IS JSON) THEN 'malformed_json'
        WHEN NOT (line IS JSON OBJECT) THEN 'not_an_object'
        WHEN COALESCE(JSON_VALUE(line, '$.type'), '') = '' THEN 'missing_type'
        WHEN envelope_ms IS NULL THEN 'invalid_timestamp'
        WHEN envelope_ms < {MIN_EVENT_MS} THEN 'timestamp_out_of_range'
        WHEN envelope_ms > {future_limit_ms(settings)} THEN 'timestamp_in_future'
        WHEN {_DATA} IS NULL THEN 'missing_data'
        WHEN NOT ({_DATA} IS JSON) THEN 'invalid_data'
        WHEN JSON_VALUE(line, '$.type') NOT IN ({known}) THEN 'unknown_event_type'
        WHEN CURRENT_WATERMARK(ts) IS NOT NULL AND ts <= CURRENT_WATERMARK(ts) THEN 'late'
    END"""


# grain: one row per line read from the source
GATEWAY_LINES = """
SELECT
    line,
    source_position,
    envelope_ms,
    ts,
    pt,
    COALESCE(JSON_VALUE(line, '$.id'), '') AS event_id,
    COALESCE(JSON_VALUE(line, '$.type'), '') AS event_type,
    COALESCE(JSON_VALUE(line, '$.gateway'), '') AS gateway,
    {reason} AS reason
FROM {source}
"""

# grain: one row per rejected line (decode / validate / late)
SOURCE_REJECTS = """
SELECT
    pt,
    CASE
        WHEN reason IN ('payload_too_large', 'malformed_json') THEN 'decode'
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
    line
FROM gateway_lines
WHERE reason IS NOT NULL
"""

# grain: one row per distinct event (dedup_key) per deduplication window
GATEWAY_EVENTS = """
SELECT event_id, dedup_key, event_type, event_ms, gateway, data, line, source_position, ts, rt
FROM (
    SELECT
        event_id,
        dedup_key,
        event_type,
        envelope_ms AS event_ms,
        gateway,
        data,
        line,
        source_position,
        ts,
        window_time AS rt,
        ROW_NUMBER() OVER (
            PARTITION BY window_start, window_end, dedup_key ORDER BY ts ASC
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
    {_DATA} AS data,
    line,
    source_position,
    ts
FROM gateway_lines
WHERE reason IS NULL
"""


def register(t_env: Any, settings: Settings, source: str = SOURCE_TABLE) -> None:
    """Define the shared views on ``source`` (see the module docstring)."""
    sql.view(t_env, "gateway_lines", GATEWAY_LINES.format(reason=_reject_reason(settings), source=source))
    sql.view(t_env, "source_rejects", SOURCE_REJECTS)
    sql.view(t_env, "accepted_lines", ACCEPTED_LINES)
    sql.view(t_env, "gateway_events", GATEWAY_EVENTS.format(batch=sql.seconds(settings.dedup_window_s)))


def dead_letter_row(settings: Settings, job: str) -> str:
    """SQL turning a reject view (stage, reason, detail, event_id, event_type, event_ms,
    source_position, line) into JSONEachRow rows of naap.dead_letter."""
    cap = settings.dlq_payload_cap_chars
    return f"""JSON_OBJECT(
        'reject_key' VALUE SHA256(CONCAT_WS('|', '{job}', stage, reason, source_position, event_id, detail, line)),
        'job' VALUE '{job}',
        'stage' VALUE stage,
        'reason' VALUE reason,
        'detail' VALUE detail,
        'event_id' VALUE event_id,
        'event_type' VALUE event_type,
        'event_timestamp' VALUE {sql.ch_time('event_ms')},
        'source_position' VALUE source_position,
        'payload' VALUE SUBSTRING(line FROM 1 FOR {cap}),
        'payload_length' VALUE CHAR_LENGTH(line),
        'is_payload_truncated' VALUE CHAR_LENGTH(line) > {cap}
    )"""
