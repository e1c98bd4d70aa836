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


# --- Tor (tor_relays job, per consensus hour) -----------------------------------------------
# Computed by udfs/tor_metrics.py (version = its METRICS_VERSION) in the tor_relays job and
# written to tor.relay_hour_metrics (one wide row per relay and hour: the four values come out
# of one computation over the same hour totals) and tor.network_hour_metrics (versioned rows
# of the calculated_metrics shape: metric_name, metric_version, subject, value, unit, JSON
# metadata). Not in naap.calculated_metrics: the Tor job owns the `tor` database only, and a
# relay or the network has none of its Livepeer dimensions (docs/tor.md, "Metrics").
_ONIONOO = (
    "Onionoo's definition (NodeDetailsStatusUpdater.calculatePathSelectionProbabilities), "
    "comparable with the guard/middle/exit probability Relay Search shows"
)
TOR_RELAY_METRICS = (
    Metric(
        "cw_fraction", "tor_path_selection", "ratio", 1, "relay x consensus hour",
        "the relay's consensus weight (`w Bandwidth=`) divided by the sum over every relay of the "
        f"consensus; {_ONIONOO}", source_type="tor consensus",
    ),
    Metric(
        "guard_probability", "tor_path_selection", "ratio", 1, "relay x consensus hour",
        "cw x Wgd (Guard+Exit) or cw x Wgg (Guard; 0 without Guard), from the consensus "
        "`bandwidth-weights` footer, divided by the same sum over every relay (Exit = Exit and not "
        f"BadExit); NULL when the footer lacks any of Wgg Wgd Wmg Wmm Wme Wmd Wee Wed; {_ONIONOO}",
        source_type="tor consensus",
    ),
    Metric(
        "middle_probability", "tor_path_selection", "ratio", 1, "relay x consensus hour",
        "cw x Wmd (Guard+Exit), Wmg (Guard), Wme (Exit) or Wmm (neither), divided by the same sum "
        f"over every relay; NULL without the footer; {_ONIONOO}", source_type="tor consensus",
    ),
    Metric(
        "exit_probability", "tor_path_selection", "ratio", 1, "relay x consensus hour",
        "cw x Wed (Guard+Exit) or Wee (Exit; 0 without Exit or with BadExit, Weg and Wem unused), "
        f"divided by the same sum over every relay; NULL without the footer; {_ONIONOO}",
        source_type="tor consensus",
    ),
    Metric(
        "uptime_group", "tor_review", "id", 1, "relay x consensus hour",
        "flagged for review: id (and size) of the group of >= 2 relays listed this hour sharing "
        "one informative uptime pattern over the window of the 24 consensus intervals ending at "
        "this hour: same first_seen, same set of window consensuses listed in, same restart "
        "hours (`published - uptime`, floored); informative = at least one appearance, "
        "disappearance or restart inside the window (consensuses missing from the data are not "
        "absences). '' = not flagged", source_type="tor consensus",
    ),
)
TOR_NETWORK_METRICS = (
    Metric(
        "flag_joined_share", "tor_churn", "ratio", 1, "consensus hour x flag",
        "relays with the flag now that did not have it in the previous consensus (new relays "
        "included) / relays with the flag now; subject `listed` = any relay. The previous "
        "consensus is the one whose fresh-until is this valid-after: if it is missing there is "
        "no row (never a zero). Metadata: joined, left, now, before", source_type="tor consensus",
    ),
    Metric(
        "flag_left_share", "tor_churn", "ratio", 1, "consensus hour x flag",
        "relays with the flag in the previous consensus that do not have it now (gone relays "
        "included) / relays with the flag in the previous consensus; pairing as "
        "`flag_joined_share`", source_type="tor consensus",
    ),
    Metric(
        "cw_hhi", "tor_concentration", "ratio", 1, "consensus hour x grouping",
        "Herfindahl-Hirschman index of consensus weight over groups: sum of squared group "
        "shares, 0..1 (x10000 for the antitrust scale). Groupings (subject): `asn`, `country` "
        "(DB-IP Lite at ingest), `family` (connected components of mutual MyFamily "
        "declarations: Tor's effective family, Onionoo's extended family), `contact` (the "
        "descriptor's contact line, self-declared). A relay whose group is unknown is its own "
        "group; metadata: groups, unknown_cw_share, the 10 largest", source_type="tor consensus",
    ),
    *(
        Metric(
            f"cw_top{k}_share", "tor_concentration", "ratio", 1, "consensus hour x grouping",
            f"share of the consensus weight held by the {k} largest group(s) of the grouping "
            "(groups as `cw_hhi`)", source_type="tor consensus",
        )
        for k in (1, 5, 10)
    ),
    Metric(
        "uptime_pattern_flagged_relays", "tor_review", "count", 1, "consensus hour",
        "relays listed this hour that belong to an uptime-pattern group (`uptime_group`); "
        "metadata: the window's consensus hours and each group (pattern, size, up to 20 "
        "members)", source_type="tor consensus",
    ),
    Metric(
        "cw_total", "tor_path_selection", "weight", 1, "consensus hour",
        "sum of the consensus weights of the hour's relays; metadata: relays, the "
        "`bandwidth-weights` footer and the guard/middle/exit weight totals the probabilities "
        "are normalised by", source_type="tor consensus",
    ),
)
TOR_CATALOG = (*TOR_RELAY_METRICS, *TOR_NETWORK_METRICS)


def tor_markdown_table() -> str:
    """The Tor metrics as a Markdown table (README), with the table each one is written to."""
    lines = [
        "| metric | table | category | unit | version | grain | definition |",
        "|---|---|---|---|---|---|---|",
    ]
    for m in TOR_CATALOG:
        table = "relay_hour_metrics" if m in TOR_RELAY_METRICS else "network_hour_metrics"
        lines.append(
            f"| `{m.name}` | {table} | {m.category} | {m.unit} | {m.version} | {m.grain} | {m.definition} |"
        )
    return "\n".join(lines)
