"""A corpus of broken and tricky inputs, each with the single outcome it must have.

Each entry is appended after the real sample events (whose last envelope time is
2026-02-25 20:43 UTC), with times after that, except the far-out-of-order one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

BASE_MS = 1772060000000  # 2026-02-25 22:53:20 UTC, after every real sample event


@dataclass(frozen=True)
class Case:
    name: str
    lines: tuple[str, ...]
    stage: str | None  # expected dead-letter stage (None: accepted)
    reason: str | None
    raw_rows: int  # expected rows in raw_events for this case's id


def _event(event_id: str, event_type: str, ms: int | str | dict, data: object) -> str:
    return json.dumps({"id": event_id, "type": event_type, "timestamp": ms, "gateway": "corpus-gw", "data": data})


def _status(stream: str, fps: object) -> dict:
    return {"stream_id": stream, "request_id": "corpus-r", "pipeline": "p", "pipeline_id": "",
            "state": "ONLINE", "orchestrator_info": {"address": "0xAbC", "url": "u"},
            "inference_status": {"fps": fps, "restart_count": 0}, "input_status": {"fps": 1}}


def cases() -> list[Case]:
    big = _event("corpus-big", "ai_stream_status", str(BASE_MS + 3000), {"blob": "x" * 10_500_000})
    dup = _event("corpus-dup", "ai_stream_status", str(BASE_MS + 9000), _status("corpus-s-dup", 12.5))
    no_id = json.dumps({"id": "", "type": "create_new_payment", "timestamp": str(BASE_MS + 10000),
                        "gateway": "", "data": {"requestID": "corpus-noid"}})
    return [
        Case("truncated_json", ('{"id":"corpus-trunc","type":"ai_stream_status","timestamp":"17720',), "decode", "malformed_json", 0),
        Case("binary_garbage", ("\u0000\u00ff\u00fe\u0001garbage\u0002\u00e9\u0000",), "decode", "malformed_json", 0),
        Case("payload_10mb", (big,), "decode", "payload_too_large", 0),
        Case("timestamp_object", (_event("corpus-tsobj", "ai_stream_status", {"x": 1}, {}),), "validate", "invalid_timestamp", 0),
        Case("timestamp_range", (_event("corpus-tsrange", "ai_stream_status", "946684799999", {}),), "validate", "timestamp_out_of_range", 0),
        Case("timestamp_future", (_event("corpus-tsfuture", "ai_stream_status", "99999999999999", {}),), "validate", "timestamp_in_future", 0),
        Case("missing_type", (json.dumps({"id": "corpus-notype", "timestamp": BASE_MS + 4000, "data": {}}),), "validate", "missing_type", 0),
        Case("not_an_object", ("[1, 2, 3]",), "validate", "not_an_object", 0),
        Case("unknown_type", (_event("corpus-unknown", "mystery_event", BASE_MS + 5000, {"a": 1}),), "validate", "unknown_event_type", 0),
        Case("missing_data", (json.dumps({"id": "corpus-nodata", "type": "stream_trace", "timestamp": BASE_MS + 6000}),), "validate", "missing_data", 0),
        Case("data_not_json", (_event("corpus-datastr", "stream_trace", BASE_MS + 7000, "not json at all"),), "validate", "invalid_data", 0),
        Case("fps_wrong_type", (_event("corpus-fps", "ai_stream_status", BASE_MS + 8000, _status("corpus-s-fps", "fast")),), "parse", "invalid_output_fps", 1),
        Case("duplicate_id", (dup, dup, dup), None, None, 1),
        Case("duplicate_without_id", (no_id, no_id), None, None, 1),
        Case("far_out_of_order", (_event("corpus-late", "ai_stream_status", str(BASE_MS - 20 * 86400000), _status("corpus-s-late", 5.0)),), "late", "late", 0),
    ]


def corpus_lines() -> list[str]:
    """All corpus lines in order (the far-out-of-order event last, after the watermark moved)."""
    ordered = sorted(cases(), key=lambda c: c.name == "far_out_of_order")
    return [line for case in ordered for line in case.lines]
