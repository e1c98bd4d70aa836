"""The Java functions (java/netpulse/udfs) through Flink SQL, on edge cases of real envelopes.

One batch query over a VALUES table: every case's whole output row is checked, so a drift from
the JSON_VALUE / TRY_CAST semantics the jobs rely on (numbers as strings, data sent as a JSON
string, wrong types, containers where scalars belong) fails here first.
"""

import json
from pathlib import Path
from typing import Any

import pytest

from jobs.ops import java_udfs

pytestmark = pytest.mark.slow

MAX_BYTES = 2000


def _envelope(data: Any, **extra: Any) -> str:
    env = {"id": "e1", "type": "ai_stream_status", "timestamp": "1771804800673", "gateway": "gw", "data": data}
    env.update(extra)
    return json.dumps(env)


STATUS = {
    "stream_id": "s1",
    "request_id": "r1",
    "pipeline": "streamdiffusion",
    "pipeline_id": "p1",
    "state": "ONLINE",
    "orchestrator_info": {"address": "0xABCdef", "url": "https://o:8935"},
    "input_status": {"fps": "29.5"},
    "inference_status": {
        "fps": 14.0,
        "restart_count": 2,
        "last_error": {"code": 5},
        "last_error_time": 1771804800000.0,
        "last_params": {"prompt": "a cat", "width": 512, "height": "512"},
        "last_params_hash": 123,
    },
    "start_time": 1771804700000,
}
INGEST = {
    "stream_id": "s2",
    "request_id": "r2",
    "stats": {
        "conn_quality": "good",
        "peer_conn_stats": {"BytesReceived": 1000, "BytesSent": "2000", "ID": "t1"},
        "track_stats": [
            {"type": "audio", "jitter": 0.5, "packets_received": 10, "packets_lost": 1, "packet_loss_pct": 9.1, "last_input_ts": 3},
            {"type": "video", "jitter": "1.5", "packets_received": 20, "packets_lost": 0, "packet_loss_pct": 0, "last_input_ts": 4.5},
        ],
    },
}

CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "status": (
        _envelope(STATUS),
        {
            "envelope_reason": None, "data_reason": None, "event_id": "e1", "event_type": "ai_stream_status",
            "gateway": "gw", "stream_id": "s1", "request_id": "r1", "any_request_id": "r1",
            "orchestrator_address": "0xabcdef", "orchestrator_url": "https://o:8935",
            "pipeline": "streamdiffusion", "pipeline_id": "p1", "parse_reason": None, "state": "ONLINE",
            "output_fps": 14.0, "input_fps": 29.5, "restart_count": 2, "last_error": '{"code":5}',
            "last_error_time": 1771804800000, "prompt_text": "a cat", "prompt_width": 512,
            "prompt_height": 512, "params_hash": "123", "start_time": 1771804700000, "data": None,
        },
    ),
    "data_as_json_string": (
        _envelope(json.dumps({"stream_id": "s9", "inference_status": {"fps": 1}})),
        {"stream_id": "s9", "output_fps": 1.0, "parse_reason": None, "data_reason": None},
    ),
    "fps_wrong_type": (_envelope({"stream_id": "s", "inference_status": {"fps": True}}), {"parse_reason": "invalid_output_fps", "output_fps": None}),
    "fps_nan_string": (_envelope({"stream_id": "s", "inference_status": {"fps": "NaN"}}), {"parse_reason": "invalid_output_fps"}),
    "input_fps_text": (_envelope({"stream_id": "s", "input_status": {"fps": "fast"}}), {"parse_reason": "invalid_input_fps"}),
    "no_stream_id": (_envelope({"pipeline": "x"}), {"parse_reason": "missing_stream_id", "stream_id": ""}),
    "fps_container_is_missing": (_envelope({"stream_id": "s", "inference_status": {"fps": [1]}}), {"parse_reason": None, "output_fps": None}),
    "ingest": (
        _envelope(INGEST, type="stream_ingest_metrics"),
        {
            "parse_reason": None, "connection_quality": "good", "bytes_received": 1000, "bytes_sent": 2000,
            "transport_id": "t1", "video_jitter": 1.5, "video_packets_received": 20, "video_packets_lost": 0,
            "video_last_input_ts": 4.5, "audio_jitter": 0.5, "audio_packets_lost": 1, "audio_packet_loss_pct": 9.1,
            "output_fps": None, "state": None,
        },
    ),
    "ingest_no_stats": (_envelope({"stream_id": "s", "stats": "n/a"}, type="stream_ingest_metrics"), {"parse_reason": "missing_stats"}),
    "ingest_bad_jitter": (
        _envelope({"stats": {"track_stats": [{"type": "video", "jitter": "x"}]}}, type="stream_ingest_metrics"),
        {"parse_reason": "invalid_track_stats", "video_jitter": None},
    ),
    "trace": (
        _envelope({"request_id": "q", "type": "gateway_receive_stream_request", "timestamp": "1771804800672.9", "message": "m"}, type="stream_trace"),
        {"trace_type": "gateway_receive_stream_request", "payload_ms": 1771804800672, "message": "m", "parse_reason": None},
    ),
    "trace_bad_time": (_envelope({"type": "x", "timestamp": "soon"}, type="stream_trace"), {"parse_reason": "invalid_data_timestamp", "payload_ms": None}),
    "trace_no_type": (_envelope({"timestamp": 5}, type="stream_trace"), {"parse_reason": "missing_trace_type"}),
    "request_id_fallback": (_envelope({"requestID": "R"}, type="create_new_payment"), {"request_id": "", "any_request_id": "R"}),
    "capabilities_data_kept": (_envelope({"orchestrators": []}, type="network_capabilities"), {"data": '{"orchestrators":[]}'}),
    "malformed": ('{"id": "e1", "type": "ai_stream_status"', {"envelope_reason": "malformed_json", "event_id": ""}),
    "trailing_garbage": ('{"id": "e1"} {"id": "e2"}', {"envelope_reason": "malformed_json"}),
    "empty": ("", {"envelope_reason": "malformed_json"}),
    "array": ("[1, 2]", {"envelope_reason": "not_an_object"}),
    "no_type": (json.dumps({"id": "e7", "data": {}}), {"envelope_reason": "missing_type", "event_id": "e7"}),
    "no_data": (json.dumps({"id": "e", "type": "stream_trace"}), {"envelope_reason": None, "data_reason": "missing_data"}),
    "null_data": (json.dumps({"id": "e", "type": "stream_trace", "data": None}), {"data_reason": "missing_data"}),
    "data_not_json": (json.dumps({"id": "e", "type": "stream_trace", "data": "hello"}), {"data_reason": "invalid_data"}),
    "too_large": (json.dumps({"id": "e", "type": "x", "data": "y" * MAX_BYTES}), {"envelope_reason": "payload_too_large"}),
    # The limit is in bytes of UTF-8: ~1,050 characters of two bytes each are over 2,000 bytes.
    "too_large_in_bytes": (
        json.dumps({"id": "e", "type": "stream_trace", "data": {"m": "\u00e9" * (MAX_BYTES // 2)}}, ensure_ascii=False),
        {"envelope_reason": "payload_too_large"},
    ),
    "two_byte_chars_under_the_limit": (
        json.dumps({"id": "e", "type": "stream_trace", "data": {"m": "\u00e9" * (MAX_BYTES // 2 - 60)}}, ensure_ascii=False),
        {"envelope_reason": None, "data_reason": None},
    ),
    # What the sources make of bytes that are not UTF-8 (Latin-1 "caf\xe9"): U+FFFD.
    "not_utf8": ('{"id": "e", "type": "stream_trace", "data": {"m": "caf\ufffd"}}', {"envelope_reason": "invalid_utf8"}),
}

# (line, expected envelope_time_ms)
TIMES = [
    ('{"timestamp": "1771804800673", "data": {}}', 1771804800673),
    ('{"data": {"timestamp": 1}, "timestamp": 1771804800673}', 1771804800673),
    ('{"timestamp": 1771804800673.7}', 1771804800673),
    ('{"timestamp": "soon"}', None),
    ('{"timestamp": {"ms": 1}}', None),
    ('{"id": "x"}', None),
    ("not json", None),
    ('{"timestamp": "1771804800673", "data": {"cut', 1771804800673),
]


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@pytest.fixture(scope="module")
def t_env() -> Any:
    from pyflink.table import EnvironmentSettings, TableEnvironment

    env = TableEnvironment.create(EnvironmentSettings.in_batch_mode())
    env.get_config().set("parallelism.default", "1")
    java_udfs.register(env)
    return env


def test_parse_gateway_event_cases(t_env: Any) -> None:
    values = ", ".join(f"({_sql_string(name)}, {_sql_string(line)})" for name, (line, _) in CASES.items())
    result = t_env.execute_sql(
        f"SELECT name, p.* FROM (VALUES {values}) AS v(name, line), "
        f"LATERAL TABLE(parse_gateway_event(line, {MAX_BYTES})) AS p"
    )
    columns = result.get_table_schema().get_field_names()
    with result.collect() as rows:
        got = {row[0]: dict(zip(columns, row, strict=True)) for row in rows}
    assert set(got) == set(CASES)
    for name, (_, expected) in CASES.items():
        actual = {k: got[name][k] for k in expected}
        assert actual == pytest.approx(expected), name
    # Fields of another event type stay NULL (small rows in the deduplication state).
    assert got["status"]["video_jitter"] is None and got["status"]["trace_type"] is None


def test_envelope_time_ms(t_env: Any) -> None:
    values = ", ".join(f"({i}, {_sql_string(line)})" for i, (line, _) in enumerate(TIMES))
    result = t_env.execute_sql(f"SELECT i, envelope_time_ms(line) FROM (VALUES {values}) AS v(i, line)")
    with result.collect() as rows:
        got = dict((row[0], row[1]) for row in rows)
    assert got == {i: expected for i, (_, expected) in enumerate(TIMES)}


def test_jar_is_cached_by_source_digest(tmp_path: Path) -> None:
    built = java_udfs.ensure_jar()
    assert built == java_udfs.jar_path() and built.exists()
    assert java_udfs.source_digest() in built.name
    copy = tmp_path / "java"
    for source in java_udfs.sources():
        target = copy / source.relative_to(java_udfs.SOURCE_DIR)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(source.read_text() + "\n// edited\n")
    assert java_udfs.jar_path(copy, tmp_path / "build") != built
