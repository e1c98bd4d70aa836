"""The metric catalog: every metric defined once (name, category, unit, version, definition).

The metrics job generates its SQL from these entries and the README's metric table is rendered
from them (``python -m jobs catalog``), so code and documentation cannot drift apart: the
earlier implementation of this system shipped three incompatible latency definitions at once.

Latencies take each edge as the MINIMUM payload time (``data.timestamp``, the emitter's own
clock; the envelope time when the payload has none) of that trace subtype within the request's
trace session. A negative difference (clock skew between gateway and runner hosts) or a
missing edge yields no value: the request gets a ``trace_latency_rejects`` row instead, whose
metadata names each metric left out and why.
"""

from __future__ import annotations

from dataclasses import dataclass

REQUEST = "gateway_receive_stream_request"
SEND_INGEST = "gateway_send_first_ingest_segment"
RUNNER_RECEIVE = "runner_receive_first_ingest_segment"
RUNNER_SEND = "runner_send_first_processed_segment"
FIRST_PROCESSED = "gateway_receive_first_processed_segment"
FEW_PROCESSED = "gateway_receive_few_processed_segments"
NO_ORCHESTRATORS = "gateway_no_orchestrators_available"
SWAP = "orchestrator_swap"
CLOSED = "gateway_ingest_stream_closed"

EDGES = (REQUEST, SEND_INGEST, RUNNER_RECEIVE, RUNNER_SEND, FIRST_PROCESSED, FEW_PROCESSED, NO_ORCHESTRATORS, SWAP, CLOSED)


@dataclass(frozen=True)
class Metric:
    """One metric definition."""

    name: str
    category: str
    unit: str
    version: int
    grain: str
    definition: str
    start_edge: str = ""
    end_edge: str = ""
    source_type: str = "stream_trace"  # the event type it is derived from (replays use this)


LATENCIES = (
    Metric(
        "prompt_to_first_frame_latency", "performance", "ms", 1, "request",
        f"first `{FIRST_PROCESSED}` minus first `{REQUEST}` (payload time)", REQUEST, FIRST_PROCESSED,
    ),
    Metric(
        "prompt_to_playable_latency", "performance", "ms", 1, "request",
        f"first `{FEW_PROCESSED}` minus first `{REQUEST}` (payload time)", REQUEST, FEW_PROCESSED,
    ),
    Metric(
        "first_frame_to_playable_latency", "performance", "ms", 1, "request",
        f"first `{FEW_PROCESSED}` minus first `{FIRST_PROCESSED}` (payload time)", FIRST_PROCESSED, FEW_PROCESSED,
    ),
    Metric(
        "orchestrator_selection_latency", "performance", "ms", 1, "request",
        f"first `{SEND_INGEST}` minus first `{REQUEST}` (payload time): discovery and session setup",
        REQUEST, SEND_INGEST,
    ),
    Metric(
        "gateway_to_runner_latency", "performance", "ms", 1, "request",
        f"first `{RUNNER_RECEIVE}` minus first `{SEND_INGEST}` (payload time; two hosts' clocks)",
        SEND_INGEST, RUNNER_RECEIVE,
    ),
    Metric(
        "runner_processing_latency", "performance", "ms", 1, "request",
        f"first `{RUNNER_SEND}` minus first `{RUNNER_RECEIVE}` (payload time, runner clock)",
        RUNNER_RECEIVE, RUNNER_SEND,
    ),
    Metric(
        "runner_to_gateway_latency", "performance", "ms", 1, "request",
        f"first `{FIRST_PROCESSED}` minus first `{RUNNER_SEND}` (payload time; two hosts' clocks)",
        RUNNER_SEND, FIRST_PROCESSED,
    ),
)

TRACE_LATENCY_REJECTS = Metric(
    "trace_latency_rejects", "data_quality", "count", 1, "request",
    "number of latency metrics of the request not computed; metadata maps each to its reason "
    "(`missing_edge:<subtype>` when only one of its two edges was seen, `negative` when the end "
    "edge precedes the start edge). Requests with neither edge of a metric are not counted for it",
)
JITTER = Metric(
    "jitter_coefficient", "performance", "ratio", 1, "stream x 5-minute event-time window",
    "population standard deviation of `output_fps` divided by its mean over the stream's "
    "`ai_stream_status` samples in the window (envelope time), warm-up samples excluded "
    "(fps 0 before the stream's first sample with fps > 0: startup, not smoothness). "
    "Emitted only with at least NETPULSE_JITTER_MIN_SAMPLES (default 2) samples and a mean > 0; "
    "otherwise `status_sample_count` says why (metadata `jitter`: too_few_samples, zero_mean)",
    source_type="ai_stream_status",
)
FPS_MEAN = Metric(
    "output_fps_mean", "performance", "fps", 1, "stream x 5-minute event-time window",
    "mean `output_fps` of the window's non-warm-up samples; metadata carries count, sum and sum "
    "of squares so windows re-aggregate exactly (mean and stddev of any longer period)",
    source_type="ai_stream_status",
)
SAMPLE_COUNT = Metric(
    "status_sample_count", "data_quality", "count", 1, "stream x 5-minute event-time window",
    "number of `ai_stream_status` samples in the window; metadata: warm-up samples excluded and "
    "the jitter status (ok, too_few_samples, zero_mean, warmup_only)",
    source_type="ai_stream_status",
)

CATALOG = (*LATENCIES, TRACE_LATENCY_REJECTS, JITTER, FPS_MEAN, SAMPLE_COUNT)
BY_NAME = {m.name: m for m in CATALOG}


def markdown_table() -> str:
    """The catalog as a Markdown table (README)."""
    lines = [
        "| metric | category | unit | version | grain | definition |",
        "|---|---|---|---|---|---|",
    ]
    for m in CATALOG:
        lines.append(f"| `{m.name}` | {m.category} | {m.unit} | {m.version} | {m.grain} | {m.definition} |")
    return "\n".join(lines)
