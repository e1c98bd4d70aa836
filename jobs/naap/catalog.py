"""The metric catalog: every metric defined once (name, category, unit, version, definition).

The metrics job generates its SQL from these entries and the README's metric table is rendered
from them (``python -m jobs catalog``), so code and documentation cannot drift apart: the
earlier implementation of this system shipped three incompatible latency definitions at once.

Latency catalog version 2. Each edge is the MINIMUM payload time (``data.timestamp``, the
emitter's own clock; the envelope time when the payload has none) of its trace subtype within
the request's trace session (request metrics) or within the session of one orchestrator of the
request (attempt metrics). Every edge is described below by where it is emitted, on whose clock
and which kind of moment it marks; a latency compares like with like:

* both edges on the same clock, or (cross-host, gateway <-> runner) with clock-offset evidence
  in the row's metadata: runner events reach Kafka through the gateway, so for each of them
  ``envelope timestamp - data.timestamp`` = relay delay + (gateway clock - runner clock);
* the same kind of moment: the end of a segment with the end of a segment, or the request
  (an instant) with anything after it. A start of a segment is never compared with an end.

Metrics the events cannot support are not in the catalog (see ``REMOVED``), rather than being
rejected on every request. A missing edge or a negative difference yields no value: a
``trace_latency_rejects`` row names each metric left out and why.

``version`` is the catalog version in which a metric's definition last changed (a metric new in
a version starts at that version); rows of every version coexist in calculated_metrics,
told apart by ``metric_version`` (README, "Metric versions").
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

EDGES = (
    REQUEST, SEND_INGEST, RUNNER_RECEIVE, RUNNER_SEND, FIRST_PROCESSED, FEW_PROCESSED, NO_ORCHESTRATORS, SWAP, CLOSED
)
RUNNER_EDGES = (RUNNER_RECEIVE, RUNNER_SEND)

# Kinds of moment an edge marks
INSTANT = "instant"
SEGMENT_START = "segment_start"
SEGMENT_END = "segment_end"


@dataclass(frozen=True)
class Edge:
    """Where a trace edge is emitted, on whose clock, and which moment it marks."""

    name: str
    clock: str  # gateway | runner
    moment: str  # instant | segment_start | segment_end
    emitted: str  # the emission point, in the emitting code


EDGE_INFO = {
    e.name: e
    for e in (
        Edge(REQUEST, "gateway", INSTANT,
             "go-livepeer server/ai_mediaserver.go: when the gateway's stream start handler begins"),
        Edge(SEND_INGEST, "gateway", SEGMENT_END,
             "go-livepeer server/ai_live_video.go: after the upload of the first input segment to the "
             "orchestrator has finished (segments are cut at the next keyframe after >= 1 s)"),
        Edge(RUNNER_RECEIVE, "runner", SEGMENT_END,
             "ai-runner runner/live/trickle/media.py: after the runner has read the whole first input segment "
             "(since March 2025; before, at its start)"),
        Edge(RUNNER_SEND, "runner", SEGMENT_START,
             "ai-runner runner/live/trickle/media.py: after the first write of output bytes, i.e. the start of "
             "the first output segment"),
        Edge(FIRST_PROCESSED, "gateway", SEGMENT_END,
             "go-livepeer server/ai_live_video.go: after the first output segment was copied from the orchestrator"),
        Edge(FEW_PROCESSED, "gateway", SEGMENT_END,
             "go-livepeer server/ai_live_video.go: after the third output segment was copied"),
    )
}

REQUEST_SCOPE = "request"
ATTEMPT_SCOPE = "attempt"


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
    scope: str = REQUEST_SCOPE  # latencies: per request session, or per orchestrator attempt
    # every event type the metric combines (replays of any of them recompute it from all of
    # them: jobs/replay.py); empty = source_type alone
    source_types: tuple[str, ...] = ()

    @property
    def inputs(self) -> tuple[str, ...]:
        return self.source_types or (self.source_type,)

    @property
    def is_cross_host(self) -> bool:
        return bool(self.start_edge) and EDGE_INFO[self.start_edge].clock != EDGE_INFO[self.end_edge].clock


def _edges_text(start: str, end: str) -> str:
    s, e = EDGE_INFO[start], EDGE_INFO[end]
    return (
        f"first `{end}` ({e.clock} clock, {e.moment.replace('_', ' ')}) minus first `{start}` "
        f"({s.clock} clock, {s.moment.replace('_', ' ')})"
    )


_REQUEST_GRAIN = "request"
_ATTEMPT_GRAIN = "request x orchestrator attempt"
_ATTEMPT_NOTE = (
    "; per orchestrator attempt: both edges from the same orchestrator (each orchestrator of a "
    "request with an `orchestrator_swap` emits its own first edges), one row per attempt"
)

LATENCIES = (
    Metric(
        "prompt_to_first_frame_latency", "performance", "ms", 2, _REQUEST_GRAIN,
        _edges_text(REQUEST, FIRST_PROCESSED) + ": what the user waits for the first output, swaps included",
        REQUEST, FIRST_PROCESSED,
    ),
    Metric(
        "prompt_to_playable_latency", "performance", "ms", 2, _REQUEST_GRAIN,
        _edges_text(REQUEST, FEW_PROCESSED) + ": until three output segments arrived, swaps included",
        REQUEST, FEW_PROCESSED,
    ),
    Metric(
        "orchestrator_selection_latency", "performance", "ms", 2, _REQUEST_GRAIN,
        _edges_text(REQUEST, SEND_INGEST) + ": discovery, session setup and the first input segment (>= 1 s)",
        REQUEST, SEND_INGEST,
    ),
    Metric(
        "first_segment_to_first_frame_latency", "performance", "ms", 2, _ATTEMPT_GRAIN,
        _edges_text(SEND_INGEST, FIRST_PROCESSED)
        + ": the orchestrator's round trip (transfer, processing, transfer back) of the first segment"
        + _ATTEMPT_NOTE,
        SEND_INGEST, FIRST_PROCESSED, scope=ATTEMPT_SCOPE,
    ),
    Metric(
        "first_frame_to_playable_latency", "performance", "ms", 2, _ATTEMPT_GRAIN,
        _edges_text(FIRST_PROCESSED, FEW_PROCESSED) + _ATTEMPT_NOTE,
        FIRST_PROCESSED, FEW_PROCESSED, scope=ATTEMPT_SCOPE,
    ),
    Metric(
        "gateway_to_runner_latency", "performance", "ms", 2, _ATTEMPT_GRAIN,
        _edges_text(SEND_INGEST, RUNNER_RECEIVE)
        + ": cross-host, so the value contains the runner's clock offset; emitted only when the runner edge "
        "carries its own `data.timestamp`, with the evidence in metadata: `relay_offset_ms` (envelope minus "
        "`data.timestamp` of the runner edge) and `relay_offset_min_ms`/`relay_offset_max_ms` over the "
        "attempt's runner events (each = relay delay + gateway-minus-runner clock offset), and "
        "`upper_bound_ms` = value + `relay_offset_min_ms`, the latency on the gateway's clock at most"
        + _ATTEMPT_NOTE,
        SEND_INGEST, RUNNER_RECEIVE, scope=ATTEMPT_SCOPE,
    ),
)
REQUEST_LATENCIES = tuple(m for m in LATENCIES if m.scope == REQUEST_SCOPE)
ATTEMPT_LATENCIES = tuple(m for m in LATENCIES if m.scope == ATTEMPT_SCOPE)

# Metrics of catalog version 1 that version 2 does not define, and why (README).
REMOVED = {
    "runner_processing_latency": (
        f"`{RUNNER_SEND}` minus `{RUNNER_RECEIVE}` compares the START of the first output segment with the "
        "END of the first input segment: the runner decodes while the input segment still arrives, so the "
        "difference is negative whenever the input segment lasts longer than the time to first output "
        "(4 of the 5 bundled requests: -1.4 s to -2.2 s; -5.9 s seen in other real sessions). "
        "No event marks the end of the first output "
        "segment on the runner, so the runner's processing time cannot be measured from these events"
    ),
    "runner_to_gateway_latency": (
        f"`{FIRST_PROCESSED}` minus `{RUNNER_SEND}` compares the start of the first output segment (runner "
        "clock) with the end of its copy at the gateway (gateway clock): it adds the segment's duration "
        "(~2 s output GOP) to the transfer, and the clock offset; "
        "`first_segment_to_first_frame_latency` measures the round trip on one clock instead"
    ),
}

TRACE_LATENCY_REJECTS = Metric(
    "trace_latency_rejects", "data_quality", "count", 2, "request, or request x orchestrator attempt",
    "number of latency metrics not computed, per request session (request metrics) and per orchestrator "
    "attempt (attempt metrics, one row per attempt with a reject); metadata maps each metric left out "
    "to its reason (`missing_edge:<subtype>` when only one of its two edges was seen, "
    "`negative:<ms>` when the end edge precedes the start edge, `no_runner_clock` when a runner edge "
    "has no `data.timestamp` of its own). Metrics with neither edge are not counted",
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

# --- Hourly analytics (jobs/naap/analytics.py) -----------------------------------------------
# All per event-time hour (envelope time), window = the hour. They are computed in the same
# job, in Flink SQL (no Python per row but the capacity table function over the rare
# network_capabilities events), in both runtime modes.
_HOUR = "hour"
_REQUEST_TYPES = ("stream_trace", "ai_stream_status", "ai_stream_events")
_DEMAND_GRAIN = "gateway x pipeline x hour"
_DEMAND_NOTE = (
    ". A request counts in the hour of each of its edges (a request at 23:59:58 served at 00:00:03 is "
    "requested in one hour and served in the next); its pipeline is the `pipeline` of its status "
    "samples or ai_stream_events (trace edges carry none), '' when it has neither; metadata: every "
    "count of the group (requested, no_orchestrator, served, requested_and_served, unmet, "
    "unmet_no_orchestrator, served_ms)"
)
_SCORECARD_GRAIN = "orchestrator x pipeline x hour"
_SCORECARD_NOTE = (
    ". Metadata of both scorecard rows: every component, its counts and the quality inputs (ptff/playable "
    "mean, sum and count, fps mean, sum and count) that naap.orchestrator_scorecard places against the "
    "pipeline's previous 7 days. Orchestrator = the key the stream events carry (local key; "
    "calculated_metrics_enriched maps it to the on-chain address and, when the announcement lists one GPU, "
    "the GPU); pipeline as the demand metrics"
)
_CAPACITY_GRAIN = "orchestrator x pipeline x model x hour"
_CAPACITY_NOTE = (
    ". From the model constraints of `network_capabilities` (one row per orchestrator x model per "
    "announcement, every gateway's announcements counted): `capacity` is the FREE capacity and "
    "`capacityInUse` the capacity in use (go-livepeer omits either when 0; on the bundled announcements "
    "their sum equals the GPUs listed for the model, e.g. 16 + 9 = 25), so available = capacity, total = "
    "capacity + capacityInUse. orchestrator_address = the on-chain address (metadata: local_address), "
    "pipeline = the hardware entries' pipeline ('' for models without hardware entries, e.g. LLM runners), "
    "model_id = the model"
)
ANALYTICS = (
    Metric(
        "orchestrator_coverage", "scorecard", "ratio", 1, _SCORECARD_GRAIN,
        "share of the hour with samples: minutes of the hour holding at least one `ai_stream_status` "
        "sample naming the orchestrator (any of its streams; concurrent streams count a minute once) / 60"
        + _SCORECARD_NOTE, source_type="ai_stream_status", source_types=_REQUEST_TYPES,
    ),
    Metric(
        "orchestrator_reliability", "scorecard", "ratio", 1, _SCORECARD_GRAIN,
        "0.4 startup success + 0.2 no-swap rate + 0.4 output viability, over the components the hour has "
        "evidence for (weights renormalised: an hour of a stream that started earlier has no startup). "
        "Per attempt (request x orchestrator) in the hour: startup success = attempts with a "
        "`gateway_receive_first_processed_segment` from the orchestrator / attempts with any startup edge "
        "or `orchestrator_swap` of it; no-swap rate = 1 - attempts with an `orchestrator_swap` leaving it / "
        "attempts with any trace edge; output viability = 5-minute slots (envelope time) of the attempts' "
        "status samples with fps > 0 (mean fps > 0, warm-up included) / slots with samples"
        + _SCORECARD_NOTE, source_type="stream_trace", source_types=_REQUEST_TYPES,
    ),
    Metric(
        "orchestrator_score", "scorecard", "score", 1, _SCORECARD_GRAIN,
        "computed at query time by the ClickHouse view `naap.orchestrator_scorecard` from the two rows above "
        "(the 7-day cohort needs history a streaming job would hold for 7 days per pipeline; the view reads "
        "it from calculated_metrics, so a replay recomputes it too): 100 x coverage x (0.7 reliability + "
        "0.3 quality), quality = 0.6 (0.6 ptff + 0.4 playable) + 0.4 fps. ptff/playable = the hour's mean "
        "prompt-to-first-frame / prompt-to-playable of its attempts without a swap before the edge (the "
        "catalog's request latencies, swaps excluded so an orchestrator is not charged for a predecessor), "
        "scored 1 at the cohort p50 and 0 at p90; fps = mean non-warm-up output fps, 0 at p10 and 1 at p50 "
        "(linear between, clamped). Cohort = the same pipeline's orchestrator-hours of the 7 whole UTC days "
        "before the hour's day (a coarser step than a sliding 7x24 h window: one cohort per pipeline and "
        "day), quantiles of their means weighted by sample counts. Shrinkage: each quality score becomes "
        "(n s + 3 x 0.5) / (n + 3) with n the hour's samples; with no sample, or a cohort of fewer than 3 "
        "samples, it is 0.5 (neutral). The view's columns carry every component, count and cohort quantile",
        source_type="stream_trace", source_types=_REQUEST_TYPES,
    ),
    Metric(
        "demand_requested_sessions", "demand", "count", 1, _DEMAND_GRAIN,
        "requests with a `gateway_receive_stream_request` edge in the hour" + _DEMAND_NOTE,
        source_type="stream_trace", source_types=_REQUEST_TYPES,
    ),
    Metric(
        "demand_no_orchestrator_sessions", "demand", "count", 1, _DEMAND_GRAIN,
        "requests with a `gateway_no_orchestrators_available` edge in the hour (also after a swap)"
        + _DEMAND_NOTE, source_type="stream_trace", source_types=_REQUEST_TYPES,
    ),
    Metric(
        "demand_served_sessions", "demand", "count", 1, _DEMAND_GRAIN,
        "requests with a `gateway_receive_first_processed_segment` edge in the hour" + _DEMAND_NOTE,
        source_type="stream_trace", source_types=_REQUEST_TYPES,
    ),
    Metric(
        "demand_served_minutes", "demand", "min", 1, _DEMAND_GRAIN,
        "sum over requests of the time between their first and last evidence of output in the hour "
        "(first/few processed segment edges, status samples with fps > 0): at most one status interval "
        "(~10 s) per request-hour below the true output time" + _DEMAND_NOTE,
        source_type="stream_trace", source_types=_REQUEST_TYPES,
    ),
    Metric(
        "demand_effective_success_rate", "demand", "ratio", 1, _DEMAND_GRAIN,
        "requests of the hour (stream request edge) that reached a first processed segment in the same "
        "hour / requests of the hour; no row when no request started" + _DEMAND_NOTE,
        source_type="stream_trace", source_types=_REQUEST_TYPES,
    ),
    Metric(
        "unmet_demand_sessions", "demand", "count", 1, _DEMAND_GRAIN,
        "requests of the hour that reached no first processed segment in the hour (metadata "
        "`unmet_no_orchestrator`: those of them with a `gateway_no_orchestrators_available` edge; the rest "
        "ended or timed out otherwise)" + _DEMAND_NOTE,
        source_type="stream_trace", source_types=_REQUEST_TYPES,
    ),
    Metric(
        "capacity_total", "capacity", "count", 1, _CAPACITY_GRAIN,
        "largest total capacity (available + in use) announced in the hour" + _CAPACITY_NOTE,
        source_type="network_capabilities",
    ),
    Metric(
        "capacity_available", "capacity", "count", 1, _CAPACITY_GRAIN,
        "mean available (free) capacity over the hour's announcements (metadata: min, max, sum)"
        + _CAPACITY_NOTE, source_type="network_capabilities",
    ),
    Metric(
        "capacity_swing", "capacity", "ratio", 1, _CAPACITY_GRAIN,
        "(max - min available capacity) / max total capacity over the hour's announcements: how much the free "
        "capacity moved (not swaps); no row when the total is 0" + _CAPACITY_NOTE,
        source_type="network_capabilities",
    ),
    Metric(
        "model_warm_share", "capacity", "ratio", 1, _CAPACITY_GRAIN,
        "share of the hour's announcements in which the model was warm (loaded); a sum over models gives "
        "an orchestrator's warm models" + _CAPACITY_NOTE, source_type="network_capabilities",
    ),
    Metric(
        "price_per_unit", "capacity", "wei/pixel", 1, _CAPACITY_GRAIN,
        "highest `pricePerUnit / pixelsPerUnit` announced for the model in the hour (metadata: lowest); no "
        "row without a price" + _CAPACITY_NOTE, source_type="network_capabilities",
    ),
    Metric(
        "gpu_count", "capacity", "count", 1, _CAPACITY_GRAIN,
        "GPU inventory: most GPUs (`gpu_info` entries over the model's hardware entries) in one "
        "announcement of the hour (metadata: fewest, GPU names). Counted per announcement, not as distinct "
        "GPU ids: GPU ids churn (a runner restart or a re-seated card reports another id), so distinct ids "
        "over time overstate the inventory" + _CAPACITY_NOTE, source_type="network_capabilities",
    ),
)
# computed by the ClickHouse view, not by the job
QUERY_TIME = ("orchestrator_score",)

CATALOG = (*LATENCIES, TRACE_LATENCY_REJECTS, JITTER, FPS_MEAN, SAMPLE_COUNT, *ANALYTICS)
BY_NAME = {m.name: m for m in CATALOG}


def markdown_table() -> str:
    """The catalog as Markdown (README): the metrics, the trace edges they use, the removed metrics."""
    lines = [
        "| metric | category | unit | version | grain | definition |",
        "|---|---|---|---|---|---|",
    ]
    for m in CATALOG:
        lines.append(f"| `{m.name}` | {m.category} | {m.unit} | {m.version} | {m.grain} | {m.definition} |")
    lines += [
        "",
        "Trace edges of the latencies (each latency row's metadata repeats both edges' clock and moment):",
        "",
        "| edge | clock | moment | emitted |",
        "|---|---|---|---|",
    ]
    for e in EDGE_INFO.values():
        lines.append(f"| `{e.name}` | {e.clock} | {e.moment.replace('_', ' ')} | {e.emitted} |")
    lines += [
        "",
        "Removed in version 2 (their version-1 rows stay until a replay recomputes their range):",
        "",
        "| metric | why the events cannot support it |",
        "|---|---|",
    ]
    for name, why in REMOVED.items():
        lines.append(f"| `{name}` | {why} |")
    return "\n".join(lines)
