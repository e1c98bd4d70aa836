"""A hand-made corpus of bad and borderline gateway lines, by class.

Each class is a list of raw lines (bytes: some are not UTF-8). The expected outcome of every
line is not written here but derived from the rules by the Python reference
(tests/reliability/reference.py, itself checked against the Java parser by the property test),
so the accounting of a run is exact per line; ``EXPECTED_REASONS`` names the reasons each
class must produce at least once, so a class that stopped exercising its rule fails too.

Event times are 2026-02-25/26 (after the real sample events), ids ``hc-<class>-<n>``.
"""

from __future__ import annotations

import json
from typing import Any

from jobs.naap import sample

BASE_MS = 1772100000000  # 2026-02-26 10:00:00 UTC
MIB = 1024 * 1024


def _status(stream: str, **inference: Any) -> dict[str, Any]:
    status = {"fps": 12.5, "restart_count": 0, "last_error": None, "last_error_time": None,
              "last_params": {"prompt": "a cat", "width": 512, "height": 512}, "last_params_hash": "h"}
    status.update(inference)
    return {"stream_id": stream, "request_id": "r-" + stream, "pipeline": "streamdiffusion", "pipeline_id": "p",
            "state": "ONLINE", "orchestrator_info": {"address": "0xAbC", "url": "https://o"},
            "inference_status": status, "input_status": {"fps": 30}, "start_time": BASE_MS - 5000}


def _ingest(stream: str) -> dict[str, Any]:
    track = {"jitter": 0.5, "packets_received": 10, "packets_lost": 1, "packet_loss_pct": 9.1, "last_input_ts": 3}
    return {"stream_id": stream, "request_id": "r-" + stream, "stats": {
        "conn_quality": "good", "peer_conn_stats": {"BytesReceived": 1000, "BytesSent": 2000, "ID": "t"},
        "track_stats": [dict(track, type="video"), dict(track, type="audio")]}}


def _trace(stream: str) -> dict[str, Any]:
    return {"stream_id": stream, "request_id": "r-" + stream, "type": "gateway_receive_stream_request",
            "timestamp": BASE_MS, "message": "m", "pipeline": "p", "orchestrator_info": {"address": "", "url": ""}}


def envelope(event_id: str, event_type: str, ms: Any, data: Any, **extra: Any) -> dict[str, Any]:
    env = {"id": event_id, "type": event_type, "timestamp": ms, "gateway": "hc-gw", "data": data}
    env.update(extra)
    return env


def _line(doc: Any) -> bytes:
    return json.dumps(doc).encode()


def _real() -> list[str]:
    return sorted(sample.fixture_lines(), key=len)


def truncated_json() -> list[bytes]:
    real = [line for line in _real() if len(line) > 200][:4]
    return [line[: int(len(line) * f)].encode() for line in real for f in (0.1, 0.5, 0.99)] + [b"{", b'{"id": "hc-t-1", "type": "ai_stream_status", "timestamp": "17721']


# Every typed field the parser reads, per event type, with the data it belongs in.
TYPED_FIELDS: dict[str, tuple[Any, list[tuple[str, ...]]]] = {
    "ai_stream_status": (_status, [
        ("inference_status", "fps"), ("input_status", "fps"), ("inference_status", "restart_count"),
        ("inference_status", "last_error_time"), ("inference_status", "last_params", "width"),
        ("inference_status", "last_params", "height"), ("start_time",), ("stream_id",), ("request_id",),
        ("state",), ("inference_status", "last_params", "prompt"), ("inference_status", "last_error"),
        ("inference_status", "last_params_hash"), ("orchestrator_info", "address"), ("pipeline",),
        ("inference_status",), ("inference_status", "last_params"), ("orchestrator_info",),
    ]),
    "stream_ingest_metrics": (_ingest, [
        ("stats",), ("stats", "conn_quality"), ("stats", "peer_conn_stats"), ("stats", "peer_conn_stats", "BytesReceived"),
        ("stats", "peer_conn_stats", "BytesSent"), ("stats", "peer_conn_stats", "ID"), ("stats", "track_stats"),
    ]),
    "stream_trace": (_trace, [("type",), ("timestamp",), ("message",), ("request_id",)]),
}
WRONG_VALUES: tuple[Any, ...] = (True, "fast", {"v": 1}, [1, 2], None, 1.5, "12", -7)


def _set(doc: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        doc = doc[key]
    doc[path[-1]] = value


def wrong_types() -> list[bytes]:
    """Every typed field of every typed event, with a value of each other JSON type."""
    out = []
    n = 0
    for event_type, (make, paths) in TYPED_FIELDS.items():
        for path in paths:
            for value in WRONG_VALUES:
                data = make(f"hc-wt-{n}")
                _set(data, path, value)
                out.append(_line(envelope(f"hc-wt-{n}", event_type, BASE_MS + n, data)))
                n += 1
        for track_field in ("jitter", "packets_received", "packets_lost", "packet_loss_pct", "last_input_ts", "type"):
            if event_type != "stream_ingest_metrics":
                continue
            for value in WRONG_VALUES:
                data = make(f"hc-wt-{n}")
                data["stats"]["track_stats"][0][track_field] = value
                out.append(_line(envelope(f"hc-wt-{n}", event_type, BASE_MS + n, data)))
                n += 1
    for field, value in (("id", 17), ("id", {"x": 1}), ("type", 5), ("type", ["ai_stream_status"]),
                         ("gateway", False), ("timestamp", True), ("timestamp", [BASE_MS])):
        env = envelope(f"hc-wt-{n}", "ai_stream_status", BASE_MS + n, _status(f"hc-wt-{n}"))
        env[field] = value
        out.append(_line(env))
        n += 1
    return out


def nan_infinity() -> list[bytes]:
    out = []
    for i, literal in enumerate(("NaN", "Infinity", "-Infinity", "nan", "inf")):
        out.append(f'{{"id": "hc-nan-{i}", "type": "ai_stream_status", "timestamp": {BASE_MS + i}, '
                   f'"data": {{"stream_id": "s", "inference_status": {{"fps": {literal}}}}}}}'.encode())
    for i, text in enumerate(("NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1e-400", "0x1p3", "1d")):
        out.append(_line(envelope(f"hc-nans-{i}", "ai_stream_status", BASE_MS + i, _status(f"hc-nans-{i}", fps=text))))
    out.append(f'{{"id": "hc-nan-big", "type": "ai_stream_status", "timestamp": {BASE_MS}, '
               f'"data": {{"stream_id": "s", "inference_status": {{"fps": 1e400}}}}}}'.encode())
    return out


def deep_nesting() -> list[bytes]:
    out = []
    for i, depth in enumerate((10, 500, 998, 999, 1000, 5000, 100_000)):
        data = {"stream_id": f"hc-deep-{i}", "deep": "__DEEP__"}
        text = json.dumps(envelope(f"hc-deep-{i}", "ai_stream_events", BASE_MS + i, data))
        out.append(text.replace('"__DEEP__"', "[" * depth + "]" * depth).encode())
        objects = '{"a": ' * depth + "1" + "}" * depth
        out.append(text.replace('"__DEEP__"', objects).encode())
    return out


def huge_lines() -> list[bytes]:
    """2 MiB lines (beyond NETPULSE_MAX_EVENT_BYTES, 1 MiB by default), and just under the limit."""
    out = []
    for i, size in enumerate((2 * MIB, 2 * MIB + 1, MIB - 4096)):
        doc = envelope(f"hc-huge-{i}", "ai_stream_status", BASE_MS + i, _status(f"hc-huge-{i}"))
        blank = len(_line(doc))
        doc["data"]["blob"] = "x" * (size - blank - len(', "blob": ""'))
        out.append(_line(doc))
    multi = envelope("hc-huge-mb", "ai_stream_events", BASE_MS + 9, {"text": "\u00e9" * (700 * 1024)})
    out.append(json.dumps(multi, ensure_ascii=False).encode())  # 1.4 MB of UTF-8, 0.7 M characters
    return out


def control_and_encoding() -> list[bytes]:
    doc = _line(envelope("hc-ctl-0", "ai_stream_status", BASE_MS, _status("hc-ctl-0")))
    out = [
        doc.replace(b'"ONLINE"', b'"ON\x01LINE"'),  # raw control character in a string
        doc.replace(b'"ONLINE"', b'"ON\x00LINE"'),  # raw NUL
        doc.replace(b'"ONLINE"', b'"ON\\u0000LINE"').replace(b"hc-ctl-0", b"hc-ctl-1"),  # escaped: fine
        doc.replace(b'"ONLINE"', b'"ON\x7fLINE"').replace(b"hc-ctl-0", b"hc-ctl-2"),  # DEL is allowed
        doc.replace(b'"ONLINE"', b'"caf\xe9"'),  # Latin-1
        doc.replace(b'"ONLINE"', b'"\xc3\x28"'),  # invalid 2-byte sequence
        doc.replace(b'"ONLINE"', b'"\xed\xa0\x80"'),  # encoded surrogate
        doc.replace(b'"ONLINE"', b'"\xf8\x88\x80\x80\x80"'),  # 5-byte form
        b"\xef\xbb\xbf" + doc.replace(b"hc-ctl-0", b"hc-ctl-3"),  # UTF-8 byte order mark
        b"\x00\x01\x02\x03",
        b"\t " + doc.replace(b"hc-ctl-0", b"hc-ctl-4") + b" \t",  # JSON whitespace around: fine
        doc.replace(b"hc-ctl-0", b"hc-ctl-5").replace(b'"ONLINE"', "\"\u2028\u2029\U0001f600\"".encode()),
        doc.replace(b'"ONLINE"', b'"\\ud83d\\ude00"').replace(b"hc-ctl-0", b"hc-ctl-6"),  # escaped pair
        doc + b"\r",  # CRLF line ending
        doc.replace(b'{"id"', b'{\x0b"id"'),  # vertical tab is not JSON whitespace
    ]
    return out


def duplicate_keys() -> list[bytes]:
    env = f'"type": "ai_stream_status", "timestamp": {BASE_MS}, "gateway": "hc-gw"'
    data = json.dumps(_status("hc-dup"))
    repeated_in_data = json.dumps('{"x": 1, "x": 2}')
    return [
        f'{{"id": "hc-dk-0", "id": "hc-dk-0b", {env}, "data": {data}}}'.encode(),
        f'{{"id": "hc-dk-1", {env}, "timestamp": {BASE_MS + 1}, "data": {data}}}'.encode(),
        f'{{"id": "hc-dk-2", {env}, "type": "mystery_event", "data": {data}}}'.encode(),
        f'{{"id": "hc-dk-3", {env}, "data": {data}, "data": {{}}}}'.encode(),
        f'{{"id": "hc-dk-4", {env}, "data": {{"stream_id": "a", "stream_id": "b"}}}}'.encode(),
        f'{{"id": "hc-dk-5", {env}, "data": {repeated_in_data}}}'.encode(),  # in the data string
        f'{{"id": "hc-dk-6", {env}, "data": {data}, "id": 1'.encode(),  # repeated, then cut: malformed
        f'{{"id": "hc-dk-7", {env}, "data": {{"stream_id": "s", "a": {{"k": 1}}, "b": {{"k": 1}}}}}}'.encode(),  # same key, other objects: fine
    ]


def data_shapes() -> list[bytes]:
    status = _status("hc-ds")
    out = []
    for i, data in enumerate((json.dumps(status), "not json", "", "null", "[1, 2]", "7", [status], [], 7, 1.5,
                              True, "\"just a string\"", json.dumps(json.dumps(status)), {}, None)):
        for event_type in ("ai_stream_status", "create_new_payment"):
            out.append(_line(envelope(f"hc-ds-{event_type[:3]}-{i}", event_type, BASE_MS + i, data)))
    out.append(f'{{"id": "hc-ds-none", "type": "stream_trace", "timestamp": {BASE_MS}}}'.encode())
    return out


def timestamp_formats() -> list[bytes]:
    seconds = BASE_MS // 1000
    values: tuple[Any, ...] = (
        seconds, str(seconds), seconds * 1_000_000, str(BASE_MS * 1000), BASE_MS + 0.75, f"{BASE_MS}.5",
        "2026-02-26T10:00:00Z", "2026-02-26T11:00:00+01:00", "2026-02-26T10:00:00.123-05:30", "2026-02-26 10:00:00",
        f" {BASE_MS} ", f"+{BASE_MS}", f"{BASE_MS}e0", 1.7721e12, str(BASE_MS) + "ms", "", None,
    )
    return [_line(envelope(f"hc-ts-{i}", "ai_stream_status", v, _status(f"hc-ts-{i}"))) for i, v in enumerate(values)]


def far_past_and_future() -> list[bytes]:
    values: tuple[Any, ...] = (0, -1, 1, 946684799999, 946684800000, "4102444800000", 253402300799999,
                               9223372036854775807, "9223372036854775808", -9223372036854775808)
    return [_line(envelope(f"hc-far-{i}", "ai_stream_status", v, _status(f"hc-far-{i}"))) for i, v in enumerate(values)]


def unknown_event_types() -> list[bytes]:
    types: tuple[Any, ...] = ("mystery_event", "AI_STREAM_STATUS", " ai_stream_status", "ai_stream_status ",
                              "ai-stream-status", "stream_trace\u0000", "\u00e9v\u00e9nement", 42, True, "", None)
    return [_line(envelope(f"hc-type-{i}", t, BASE_MS + i, _status(f"hc-type-{i}"))) for i, t in enumerate(types)]


def empty_ids() -> list[bytes]:
    out = []
    for i, event_id in enumerate(("", None, 0, " ", {}, [])):
        env = envelope(event_id, "create_new_payment", BASE_MS + 100 + i, {"requestID": f"hc-noid-{i}"})
        out.append(_line(env))
    missing = envelope("", "stream_trace", BASE_MS + 200, _trace("hc-noid-missing"))
    del missing["id"]
    out.append(_line(missing))
    # An id-less event delivered twice (folds to one row by the hash of its line), and twice
    # with one byte changed (two events).
    twice = _line(envelope("", "create_new_payment", BASE_MS + 300, {"requestID": "hc-noid-twice"}))
    out += [twice, twice, twice.replace(b"twice", b"twicf")]
    return out


def identical_bad_lines() -> list[bytes]:
    """The same bad line five times (five dead letters, not one), and one good line three
    times (one event)."""
    bad = b'{"id": "hc-same", "type": "ai_stream_status", "timestamp": "17721'
    unknown = _line(envelope("hc-same-u", "mystery_event", BASE_MS, {}))
    good = _line(envelope("hc-same-good", "ai_stream_status", BASE_MS + 1, _status("hc-same-good")))
    return [bad] * 5 + [unknown] * 3 + [good] * 3 + [b"garbage"] * 4


def not_objects() -> list[bytes]:
    return [b"[]", b"[1, 2]", b"42", b'"text"', b"null", b"true", b"{}", b'{"id": "hc-no"} {"id": "x"}', b"{}}",
            b"{'id': 'single quotes'}", b'{"id": "hc-comment" /* c */}', b'{id: "unquoted"}', b"   ", b""]


CLASSES = {
    "truncated_json": truncated_json,
    "wrong_types": wrong_types,
    "nan_infinity": nan_infinity,
    "deep_nesting": deep_nesting,
    "huge_lines": huge_lines,
    "control_chars_utf8": control_and_encoding,
    "duplicate_keys": duplicate_keys,
    "data_shapes": data_shapes,
    "timestamp_formats": timestamp_formats,
    "far_past_future": far_past_and_future,
    "unknown_event_types": unknown_event_types,
    "empty_ids": empty_ids,
    "identical_bad_lines": identical_bad_lines,
    "not_objects": not_objects,
}

# Reasons (stage decode/validate, or parse) each class must produce at least once.
EXPECTED_REASONS = {
    "truncated_json": {"malformed_json"},
    "wrong_types": {"invalid_output_fps", "invalid_input_fps", "missing_stats", "invalid_track_stats",
                    "missing_trace_type", "invalid_data_timestamp", "invalid_timestamp", "missing_type"},
    "nan_infinity": {"malformed_json", "invalid_output_fps"},
    "deep_nesting": {"malformed_json", None},
    "huge_lines": {"payload_too_large", None},
    "control_chars_utf8": {"malformed_json", "invalid_utf8", None},
    "duplicate_keys": {"duplicate_key", "invalid_data", "malformed_json", None},
    "data_shapes": {"invalid_data", "missing_data", "missing_stream_id", None},
    "timestamp_formats": {"timestamp_out_of_range", "timestamp_in_future", "invalid_timestamp", None},
    "far_past_future": {"timestamp_out_of_range", "timestamp_in_future", "invalid_timestamp", None},
    "unknown_event_types": {"unknown_event_type", "missing_type"},
    "empty_ids": {None},
    "identical_bad_lines": {"malformed_json", "unknown_event_type", None},
    "not_objects": {"not_an_object", "malformed_json", "missing_type"},
}


def lines() -> dict[str, list[bytes]]:
    """Class name -> raw lines."""
    return {name: make() for name, make in CLASSES.items()}
