"""A Python reference of the gateway-line rules, to check the Java parser against.

The same rules as java/netpulse/udfs/ParseGatewayEvent.java (every output column), the
envelope time of EnvelopeTime.java for well-formed envelopes, and the SQL reject reason of
jobs/naap/envelopes.py (timestamp range, unknown types), written from the rules, not from the
Java code's structure where Python offers the direct form: Python's json module with hooks for
what Jackson does differently (NaN/Infinity literals, repeated keys, its nesting, number and key
length limits; numbers kept exact), and Java's number parsing (``Double.parseDouble``,
``Long.parseLong`` after ``String.trim``) spelled out (both in tests/reliability/java_rules.py).

Used by the property test (tests/reliability/test_parser_property.py) and by the accounting of
the bad-input runs (every line's expected outcome).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from java_rules import (
    LONG_MAX,
    bad_double,
    jackson_json,
    read,
    scalar,
    scalar_or_json,
    text,
    to_double,
    to_int,
    to_long,
    within,
)

from jobs.connectors.sources import MIN_EVENT_MS
from jobs.naap.envelopes import DECODE_REASONS, KNOWN_EVENT_TYPES

COLUMNS = (
    "envelope_reason", "data_reason", "event_id", "event_type", "gateway", "data",
    "stream_id", "request_id", "any_request_id", "orchestrator_address", "orchestrator_url",
    "pipeline", "pipeline_id", "parse_reason",
    "state", "output_fps", "input_fps", "restart_count", "last_error", "last_error_time",
    "prompt_text", "prompt_width", "prompt_height", "params_hash", "start_time",
    "connection_quality", "video_jitter", "video_packets_received", "video_packets_lost",
    "video_packet_loss_pct", "video_last_input_ts", "audio_jitter", "audio_packets_received",
    "audio_packets_lost", "audio_packet_loss_pct", "audio_last_input_ts", "bytes_received",
    "bytes_sent", "transport_id", "trace_type", "payload_ms", "message",
)

UINT16_MAX, UINT32_MAX = 2**16 - 1, 2**32 - 1
TIME_RANGE = (-2_208_988_800_000, 10_413_791_999_999)  # DateTime64: 1900-01-01 .. 2299-12-31


def _get(node: Any, key: str) -> Any:
    return node.get(key) if isinstance(node, dict) else None


def _path(node: Any, key: str) -> Any:
    """Jackson's path(): a missing node (here {}) for anything absent."""
    value = _get(node, key)
    return {} if value is None else value


def _index(node: Any, i: int) -> Any:
    if isinstance(node, list) and i < len(node):
        return node[i] if node[i] is not None else None
    return None


# ---- the parse -----------------------------------------------------------------------------


def utf8_length(line: str) -> int:
    """Bytes of the line in UTF-8 (a lone surrogate as 3, as the Java function counts it)."""
    return len(line.encode("utf-8", "surrogatepass"))


def parse(line: str | None, max_bytes: int) -> dict[str, Any]:
    """Every output column of parse_gateway_event for one line."""
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    row.update(event_id="", event_type="", gateway="")
    if line is None:
        row["envelope_reason"] = "malformed_json"
        return row
    if len(line) * 3 > max_bytes and utf8_length(line) > max_bytes:
        row["envelope_reason"] = "payload_too_large"
        return row
    if "\ufffd" in line:
        row["envelope_reason"] = "invalid_utf8"
        return row
    root = read(line)
    if isinstance(root, tuple):
        row["envelope_reason"] = root[0]
        return row
    if not isinstance(root, dict):
        row["envelope_reason"] = "not_an_object"
        return row
    event_type = text(root.get("type"))
    row.update(event_id=text(root.get("id")), event_type=event_type, gateway=text(root.get("gateway")))
    if not event_type:
        row["envelope_reason"] = "missing_type"
        return row
    data = root.get("data")
    if data is None:
        row["data_reason"] = "missing_data"
        return row
    if isinstance(data, str):
        data = read(data)
        if isinstance(data, tuple):
            row["data_reason"] = "invalid_data"
            return row
    _common(data, row)
    if event_type == "ai_stream_status":
        _status(data, row)
    elif event_type == "stream_ingest_metrics":
        _ingest(data, row)
    elif event_type == "stream_trace":
        _trace(data, row)
    elif event_type == "network_capabilities":
        row["data"] = jackson_json(data)
    return row


def _common(data: Any, row: dict[str, Any]) -> None:
    orchestrator = _path(data, "orchestrator_info")
    request_id = text(_get(data, "request_id"))
    row["stream_id"] = text(_get(data, "stream_id"))
    row["request_id"] = request_id
    row["any_request_id"] = (
        text(_get(data, "requestID")) if not request_id and scalar(_get(data, "request_id")) is None else request_id
    )
    row["orchestrator_address"] = text(_get(orchestrator, "address")).lower()
    row["orchestrator_url"] = text(_get(orchestrator, "url"))
    row["pipeline"] = text(_get(data, "pipeline"))
    row["pipeline_id"] = text(_get(data, "pipeline_id"))


def _status(data: Any, row: dict[str, Any]) -> None:
    inference = _path(data, "inference_status")
    params = _path(inference, "last_params")
    output_fps = _get(inference, "fps")
    input_fps = _get(_path(data, "input_status"), "fps")
    row["state"] = text(_get(data, "state"))
    row["output_fps"] = to_double(scalar(output_fps))
    row["input_fps"] = to_double(scalar(input_fps))
    row["restart_count"] = within(to_long(scalar(_get(inference, "restart_count"))), 0, UINT32_MAX)
    row["last_error"] = scalar_or_json(_get(inference, "last_error"))
    row["last_error_time"] = within(to_long(scalar(_get(inference, "last_error_time"))), *TIME_RANGE)
    row["prompt_text"] = scalar_or_json(_get(params, "prompt"))
    row["prompt_width"] = within(to_int(scalar(_get(params, "width"))), 0, UINT16_MAX)
    row["prompt_height"] = within(to_int(scalar(_get(params, "height"))), 0, UINT16_MAX)
    row["params_hash"] = text(_get(inference, "last_params_hash"))
    row["start_time"] = within(to_long(scalar(_get(data, "start_time"))), *TIME_RANGE)
    if bad_double(output_fps):
        row["parse_reason"] = "invalid_output_fps"
    elif bad_double(input_fps):
        row["parse_reason"] = "invalid_input_fps"
    elif not row["stream_id"] and not row["request_id"]:
        row["parse_reason"] = "missing_stream_id"


def _ingest(data: Any, row: dict[str, Any]) -> None:
    stats = _get(data, "stats")
    if not isinstance(stats, dict | list):
        row["parse_reason"] = "missing_stats"
        stats = _path(data, "stats")
    peer = _path(stats, "peer_conn_stats")
    row["connection_quality"] = text(_get(stats, "conn_quality"))
    row["bytes_received"] = within(to_long(scalar(_get(peer, "BytesReceived"))), 0, LONG_MAX)
    row["bytes_sent"] = within(to_long(scalar(_get(peer, "BytesSent"))), 0, LONG_MAX)
    row["transport_id"] = text(_get(peer, "ID"))
    bad = _track(_find_track(stats, "video"), "video", row)
    bad = _track(_find_track(stats, "audio"), "audio", row) or bad
    if bad and row["parse_reason"] is None:
        row["parse_reason"] = "invalid_track_stats"


def _find_track(stats: Any, kind: str) -> Any:
    tracks = _path(stats, "track_stats")
    for i in range(2):
        track = _index(tracks, i)
        if kind == scalar(_get(track, "type")):
            return {} if track is None else track
    return None


def _track(track: Any, kind: str, row: dict[str, Any]) -> bool:
    if track is None:
        return False
    row[f"{kind}_jitter"] = to_double(scalar(_get(track, "jitter")))
    row[f"{kind}_packets_received"] = within(to_long(scalar(_get(track, "packets_received"))), 0, UINT32_MAX)
    row[f"{kind}_packets_lost"] = within(to_long(scalar(_get(track, "packets_lost"))), 0, UINT32_MAX)
    row[f"{kind}_packet_loss_pct"] = to_double(scalar(_get(track, "packet_loss_pct")))
    row[f"{kind}_last_input_ts"] = to_double(scalar(_get(track, "last_input_ts")))
    return bad_double(_get(track, "jitter")) or bad_double(_get(track, "packets_lost"))


def _trace(data: Any, row: dict[str, Any]) -> None:
    timestamp = _get(data, "timestamp")
    row["trace_type"] = text(_get(data, "type"))
    row["payload_ms"] = within(to_long(scalar(timestamp)), *TIME_RANGE)
    row["message"] = text(_get(data, "message"))
    if not row["trace_type"]:
        row["parse_reason"] = "missing_trace_type"
    elif scalar(timestamp) is not None and row["payload_ms"] is None:
        row["parse_reason"] = "invalid_data_timestamp"


# ---- envelope time and the reject reason of one line (BATCH mode) --------------------------


def envelope_ms(root: dict[str, Any]) -> int | None:
    """envelope_time_ms of a well-formed envelope: TRY_CAST of a string or number timestamp."""
    value = root.get("timestamp")
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        return None
    return to_long(scalar(value))


def outcome(line: str, max_bytes: int, future_limit_ms: int) -> tuple[str | None, str | None, dict[str, Any]]:
    """(stage, reason, parsed row) of one line in a BATCH run; stage None when accepted."""
    row = parse(line, max_bytes)
    reason = row["envelope_reason"]
    if reason is None:
        root = read(line)
        ms = envelope_ms(root) if isinstance(root, dict) else None
        row["envelope_ms"] = ms
        if ms is None:
            reason = "invalid_timestamp"
        elif ms < MIN_EVENT_MS:
            reason = "timestamp_out_of_range"
        elif ms > future_limit_ms:
            reason = "timestamp_in_future"
        elif row["data_reason"] is not None:
            reason = row["data_reason"]
        elif row["event_type"] not in KNOWN_EVENT_TYPES:
            reason = "unknown_event_type"
    if reason is None:
        return None, None, row
    return ("decode" if reason in DECODE_REASONS else "validate"), reason, row


# Reasons of stage parse (naap_ingest) that come from the Java parse (capability defects are
# found by udfs/capabilities.py).
PARSE_REASONS = ("invalid_output_fps", "invalid_input_fps", "missing_stream_id", "missing_stats",
                 "invalid_track_stats", "missing_trace_type", "invalid_data_timestamp")
