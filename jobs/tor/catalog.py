"""The Tor metric catalog: what each metric of the tor_relays job means (grain, version).

The Livepeer catalog and the ``Metric`` record are in jobs/naap/catalog.py; ``python -m jobs
catalog`` prints both, and the README holds both tables.
"""

from __future__ import annotations

from jobs.naap.catalog import Metric

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
