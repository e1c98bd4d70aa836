"""Property: the Java parser (parse_gateway_event, envelope_time_ms) agrees with the Python
reference of the same rules (tests/reliability/reference.py) on generated lines.

Lines are real fixture envelopes with typed fields set to values of every JSON type and to
numbers spelled in every way Java and JSON disagree about, fields deleted, ``data`` sent as a
string, array or number, then cut, flipped, given a repeated key, a NaN literal, deep nesting or
trailing text; plus the seeded mutants of the bad-input runs. The Java functions run in
PyFlink's gateway JVM (tests/reliability/java_parser.py: one JVM, no job per example), so
Hypothesis shrinks a disagreement to a small line.

Examples: 600 by default (~10 s); ``RELIABILITY_EXAMPLES`` sets more (the long suite: 5000).
"""

from __future__ import annotations

import copy
import json
import os
import random
from typing import Any

import mutations
import pytest
import reference
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("RELIABILITY_EXAMPLES", "600"))
MAX_CHARS = 4096

# Real events small enough to cross the gateway quickly (the large network_capabilities
# announcements are exercised by the bad-input runs).
EVENTS = [e for e in mutations.real_events() if len(json.dumps(e)) < 3000]
EVENT_TYPES = ("ai_stream_status", "stream_ingest_metrics", "stream_trace", "network_capabilities",
               "create_new_payment", "discovery_results", "mystery_event", "")

BY_TYPE: dict[str, list[dict[str, Any]]] = {}
for _event in EVENTS:
    _kind = _event["type"] if _event["type"] in ("ai_stream_status", "stream_ingest_metrics", "stream_trace") else "other"
    BY_TYPE.setdefault(_kind, []).append(_event)

# Where the parser reads typed values (in data unless marked).
FIELD_PATHS: tuple[tuple[Any, ...], ...] = (
    ("stream_id",), ("request_id",), ("requestID",), ("pipeline",), ("pipeline_id",), ("state",),
    ("orchestrator_info",), ("orchestrator_info", "address"), ("orchestrator_info", "url"),
    ("inference_status",), ("inference_status", "fps"), ("input_status", "fps"),
    ("inference_status", "restart_count"), ("inference_status", "last_error"),
    ("inference_status", "last_error_time"), ("inference_status", "last_params", "prompt"),
    ("inference_status", "last_params", "width"), ("inference_status", "last_params", "height"),
    ("inference_status", "last_params_hash"), ("start_time",), ("stats",), ("stats", "conn_quality"),
    ("stats", "peer_conn_stats", "BytesReceived"), ("stats", "peer_conn_stats", "BytesSent"),
    ("stats", "peer_conn_stats", "ID"), ("stats", "track_stats"),
    ("stats", "track_stats", 0, "type"), ("stats", "track_stats", 0, "jitter"),
    ("stats", "track_stats", 1, "packets_lost"), ("stats", "track_stats", 0, "packets_received"),
    ("stats", "track_stats", 1, "packet_loss_pct"), ("stats", "track_stats", 0, "last_input_ts"),
    ("type",), ("timestamp",), ("message",),
)
# The paths each typed event type reads (the set operations aim there most of the time).
TYPED_PATHS = {
    "ai_stream_status": [p for p in FIELD_PATHS if p[0] in ("inference_status", "input_status", "start_time", "state")],
    "stream_ingest_metrics": [p for p in FIELD_PATHS if p[0] == "stats"],
    "stream_trace": [("type",), ("timestamp",), ("message",)],
}
# Numeric fields (TRY_CAST to DOUBLE / BIGINT / INT in Java) per event type.
NUMERIC_PATHS = {
    "ai_stream_status": [("inference_status", "fps"), ("input_status", "fps"), ("inference_status", "restart_count"),
                         ("inference_status", "last_error_time"), ("inference_status", "last_params", "width"),
                         ("start_time",)],
    "stream_ingest_metrics": [("stats", "track_stats", 0, "jitter"), ("stats", "track_stats", 1, "jitter"),
                              ("stats", "track_stats", 0, "packets_lost"), ("stats", "track_stats", 1, "packet_loss_pct"),
                              ("stats", "peer_conn_stats", "BytesSent")],
    "stream_trace": [("timestamp",)],
}
ENVELOPE_PATHS = (("id",), ("type",), ("timestamp",), ("gateway",), ("data",))

NUMBER_TEXT = st.from_regex(r"\A[+-]?[0-9]{1,3}(\.[0-9]{0,2})?[fFdD]?\Z") | st.from_regex(
    r"\A[ \t\x00]?[+-]{0,2}[0-9\u0660-\u0669\uff10]{0,4}(\.[0-9\u0663]{0,3})?([eE][+-]?[0-9]{1,3})?[fFdD]?[ \n]?\Z"
) | st.sampled_from(
    ["NaN", "-Infinity", "Infinity", "0x1p3", "0X1.8P1", "0x.8p1", "1_000", "1,5", "1e400", "9223372036854775808",
     "-9223372036854775808", "2147483648", "1.5e3", "4.9e-324", "١٢٣", "\U0001d7ce"]
)
SCALARS = (
    st.none() | st.booleans() | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12) | NUMBER_TEXT
)
VALUES = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)


def _set(doc: Any, path: tuple[Any, ...], value: Any) -> None:
    for key in path[:-1]:
        if isinstance(doc, dict):
            doc = doc.setdefault(key, {} if not isinstance(key, int) else [])
        elif isinstance(doc, list) and isinstance(key, int) and key < len(doc):
            doc = doc[key]
        else:
            return
    last = path[-1]
    if isinstance(doc, dict) and not isinstance(last, int):
        doc[last] = value
    elif isinstance(doc, list) and isinstance(last, int) and last < len(doc):
        doc[last] = value


def _delete(doc: Any, path: tuple[Any, ...]) -> None:
    for key in path[:-1]:
        doc = doc.get(key) if isinstance(doc, dict) else None
    if isinstance(doc, dict):
        doc.pop(path[-1], None)


@st.composite
def structured_lines(draw: Any) -> str:
    # A typed event most of the time (the typed fields are where the rules are).
    group = BY_TYPE[draw(st.sampled_from(sorted(BY_TYPE)))]
    event = copy.deepcopy(group[draw(st.integers(0, len(group) - 1))])
    if not draw(st.integers(0, 5)):
        event["type"] = draw(st.sampled_from(EVENT_TYPES))
    for _ in range(draw(st.integers(1, 4))):
        operation = draw(st.sampled_from(("number", "number", "set", "set", "delete", "envelope", "data_shape")))
        kind = event.get("type") if isinstance(event.get("type"), str) else ""
        if operation == "number" and isinstance(event.get("data"), dict) and kind in NUMERIC_PATHS:
            _set(event["data"], draw(st.sampled_from(NUMERIC_PATHS[kind])), draw(NUMBER_TEXT))
        elif operation == "set" and isinstance(event.get("data"), dict):
            # Half the values are numbers spelled as text: where Java's parsing is subtle.
            value = draw(NUMBER_TEXT) if draw(st.booleans()) else draw(VALUES)
            typed = TYPED_PATHS.get(kind)
            paths = typed if typed and draw(st.integers(0, 4)) else FIELD_PATHS
            _set(event["data"], draw(st.sampled_from(paths)), value)
        elif operation == "delete" and isinstance(event.get("data"), dict):
            _delete(event["data"], draw(st.sampled_from(FIELD_PATHS)))
        elif operation == "envelope":
            _set(event, draw(st.sampled_from(ENVELOPE_PATHS)), draw(VALUES))
        elif operation == "data_shape":
            shape = draw(st.sampled_from(("string", "array", "number", "string_of_garbage")))
            data = event.get("data")
            event["data"] = {"string": json.dumps(data), "array": [data], "number": 7,
                             "string_of_garbage": json.dumps(data)[:-1]}[shape]
    line = json.dumps(event, ensure_ascii=draw(st.booleans()))
    edit = draw(st.sampled_from(("none",) * 6 + ("cut", "char", "duplicate", "nan", "nest", "trailing", "fffd")))
    if edit == "cut":
        line = line[: draw(st.integers(0, len(line)))]
    elif edit == "char":
        at = draw(st.integers(0, len(line) - 1))
        line = line[:at] + draw(st.characters(exclude_categories=("Cs",))) + line[at + 1 :]
    elif edit == "duplicate":
        key = draw(st.sampled_from(("id", "type", "timestamp", "data", "x")))
        line = '{"' + key + '": ' + json.dumps(draw(VALUES)) + ", " + line[1:]
    elif edit == "nan":
        line = line.replace('"timestamp": ', '"timestamp": NaN, "t2": ', 1)
    elif edit == "nest":
        depth = draw(st.sampled_from((998, 999, 1000, 1001)))
        line = line[:-1] + ', "deep": ' + "[" * depth + "]" * depth + "}"
    elif edit == "trailing":
        line = line + draw(st.sampled_from((" ", "\t", "x", "{}", " \r")))
    elif edit == "fffd":
        line = line.replace('"', '"\ufffd', 1)
    return line


def _mutant(index: int, seed: int, kind: str) -> str:
    # The bytes as the source decodes them (invalid UTF-8 becomes U+FFFD, which is rejected).
    return mutations.mutate(random.Random(seed), EVENTS[index], kind).decode("utf-8", errors="replace")


MUTANTS = st.builds(_mutant, st.integers(0, len(EVENTS) - 1), st.integers(0, 2**32), st.sampled_from(mutations.KINDS))


@pytest.fixture(scope="module")
def java() -> Any:
    from java_parser import JavaParser

    return JavaParser()


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture])
@given(line=structured_lines() | MUTANTS)
def test_java_parser_equals_reference(java: Any, line: str) -> None:
    got = java.parse(line, MAX_CHARS)
    want = reference.parse(line, MAX_CHARS)
    assert got == want, {k: (got[k], want[k]) for k in want if got[k] != want[k]}
    root = reference.read(line) if want["envelope_reason"] is None else None
    if isinstance(root, dict):
        assert java.envelope_ms(line) == reference.envelope_ms(root)


def test_reference_rejects_what_it_should(java: Any) -> None:
    """The classes the property leans on, named (and a reference that accepts everything fails)."""
    cases = {
        '{"a": 1, "a": 2}': "duplicate_key",
        '{"a": 1, "a": 2': "malformed_json",
        '{"a": NaN}': "malformed_json",
        '{"d": ' + "[" * 1001 + "]" * 1001 + "}": "malformed_json",
        '{"d": ' + "[" * 999 + "]" * 999 + "}": "missing_type",
        '{"type": "x", "d": 1' + "0" * 1001 + "}": "malformed_json",
        "[1]": "not_an_object",
        "": "malformed_json",
        '{"type": "x"}\ufffd': "invalid_utf8",
    }
    for line, reason in cases.items():
        assert reference.parse(line, 10**6)["envelope_reason"] == reason, line[:40]
        assert java.parse(line, 10**6)["envelope_reason"] == reason, line[:40]
