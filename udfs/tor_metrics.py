"""Tor network metrics of one consensus hour: pure functions, no Flink.

The tor_relays job collects, per consensus hour H (keyed by H), the consensus document record
of H, the relays listed at H (one compact record each, built by ``udfs.tor_state``), the
consensus and relays of the previous consensus P (the one whose fresh-until is H: consecutive
consensuses are paired on it, so a missing hour breaks the pair) and the valid-after hours of
the consensuses in the uptime window; ``hour_metrics`` turns them into rows. Definitions are in
the catalog (``jobs/tor/catalog.py``, ``TOR_RELAY_METRICS`` / ``TOR_NETWORK_METRICS``) and
docs/tor.md.

Every sum is an integer sum (weights and consensus weights are integers) and every ranking
breaks ties by key, so a value does not depend on the order in which relays arrive.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

# Version of every definition in this module; bumped when one changes (rows carry it).
METRICS_VERSION = 1
# The uptime-pattern window: the 24 consensus intervals ending at H (24 hours on the public
# network, whose consensus is hourly), H included.
WINDOW_CONSENSUSES = 24
TOP_K = (1, 5, 10)
# The footer weights Onionoo's guard/middle/exit probabilities need (all eight, or none).
POSITION_WEIGHTS = ("Wgg", "Wgd", "Wmg", "Wmm", "Wme", "Wmd", "Wee", "Wed")
LISTED = "listed"  # the churn subject "any relay" (no flag named so exists)
GROUPINGS = ("asn", "country", "family", "contact")
UNKNOWN_COUNTRY = "??"


def weight_class(flags: Iterable[str]) -> str:
    """dir-spec's classes: ``d`` Guard+Exit, ``g`` Guard, ``e`` Exit, ``m`` neither.

    Exit means Exit and not BadExit (Tor clients do not use a BadExit as exit; Onionoo).
    """
    flags = set(flags)
    guard = "Guard" in flags
    exit_ = "Exit" in flags and "BadExit" not in flags
    if guard and exit_:
        return "d"
    return "g" if guard else ("e" if exit_ else "m")


def position_factors(cls: str, weights: dict[str, int]) -> tuple[int, int, int]:
    """(guard, middle, exit) weights of a class, from the footer (Onionoo's choice).

    Onionoo gives a relay without the Guard flag no guard weight and a relay without Exit no
    exit weight (clients pick guards among Guards and exits among Exits), so Wgm, Weg, Wem
    and the Wb*/W*b directory weights are not used.
    """
    w = weights
    return {
        "d": (w["Wgd"], w["Wmd"], w["Wed"]),
        "g": (w["Wgg"], w["Wmg"], 0),
        "e": (0, w["Wme"], w["Wee"]),
        "m": (0, w["Wmm"], 0),
    }[cls]


def has_position_weights(weights: dict[str, int] | None) -> bool:
    """True when a consensus footer carries every bandwidth weight the position shares need."""
    return weights is not None and bool(weights) and all(k in weights for k in POSITION_WEIGHTS)


def _share(part: int, total: int) -> float | None:
    return part / total if total else None


def relay_metrics(relays: list[dict[str, Any]], consensus: dict[str, Any]) -> list[dict[str, Any]]:
    """Per relay: consensus weight fraction and guard / middle / exit probabilities.

    Onionoo's definitions (NodeDetailsStatusUpdater.calculatePathSelectionProbabilities):
    fraction = cw / sum of cw over every relay of the consensus; position weight = cw x the
    footer weight of the relay's class for that position; probability = position weight / sum
    of that position's weights over every relay. No footer (or one lacking any of the eight
    weights): probabilities are NULL, the fraction is still given.
    """
    weights = consensus.get("bandwidth_weights") or {}
    usable = has_position_weights(weights)
    classes = {r["fingerprint"]: weight_class(r["flags"]) for r in relays}
    total = sum(int(r["cw"]) for r in relays)
    positions = {
        r["fingerprint"]: tuple(int(r["cw"]) * f for f in position_factors(classes[r["fingerprint"]], weights))
        if usable
        else (0, 0, 0)
        for r in relays
    }
    totals = [sum(p[i] for p in positions.values()) for i in range(3)]
    rows = []
    for r in sorted(relays, key=lambda r: r["fingerprint"]):
        fp = r["fingerprint"]
        probs = [_share(positions[fp][i], totals[i]) if usable else None for i in range(3)]
        rows.append(
            {
                "fingerprint": fp,
                "weight_class": classes[fp],
                "cw": int(r["cw"]),
                "cw_fraction": _share(int(r["cw"]), total),
                "guard_probability": probs[0],
                "middle_probability": probs[1],
                "exit_probability": probs[2],
            }
        )
    return rows


def position_totals(relays: list[dict[str, Any]], weights: dict[str, int]) -> dict[str, int] | None:
    """The normalisers of the probabilities: sum of cw x weight per position (None: no footer)."""
    if not has_position_weights(weights):
        return None
    sums = [0, 0, 0]
    for r in relays:
        for i, f in enumerate(position_factors(weight_class(r["flags"]), weights)):
            sums[i] += int(r["cw"]) * f
    return dict(zip(("guard", "middle", "exit"), sums, strict=True))


def flag_churn(current: list[dict[str, Any]], previous: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per flag (and ``listed``): relays that joined / left between two consecutive consensuses.

    joined = relays with the flag now that did not have it in the previous consensus (new
    relays included); left = relays with the flag before that do not have it now (gone
    relays included). Shares: joined / relays with the flag now, left / relays with it before;
    a share whose denominator is 0 is not given.
    """

    def by_flag(relays: list[dict[str, Any]]) -> dict[str, set[str]]:
        out: dict[str, set[str]] = defaultdict(set)
        for r in relays:
            out[LISTED].add(r["fingerprint"])
            for f in r["flags"]:
                out[f].add(r["fingerprint"])
        return out

    now, before = by_flag(current), by_flag(previous)
    rows = []
    for flag in sorted(set(now) | set(before)):
        cur, prev = now.get(flag, set()), before.get(flag, set())
        rows.append(
            {
                "subject": flag,
                "joined": len(cur - prev),
                "left": len(prev - cur),
                "now": len(cur),
                "before": len(prev),
            }
        )
    return rows


def extended_families(relays: list[dict[str, Any]]) -> dict[str, str]:
    """Fingerprint -> family key for relays in a family; relays in none are absent.

    Effective family: two relays that each list the other in their descriptor's ``family``
    line (a one-sided claim does not count: anyone can name any relay). Extended family: the
    connected components of that relation among the hour's relays (Onionoo's
    ``extended_family``). The key is ``family:<smallest fingerprint>``.
    """
    declared = {r["fingerprint"]: set(r.get("family") or []) for r in relays}
    parent = {fp: fp for fp in declared}

    def root(fp: str) -> str:
        while parent[fp] != fp:
            parent[fp] = parent[parent[fp]]
            fp = parent[fp]
        return fp

    for fp, members in declared.items():
        for other in members:
            if other != fp and fp in declared.get(other, ()):
                a, b = root(fp), root(other)
                if a != b:
                    parent[max(a, b)] = min(a, b)
    sizes: dict[str, int] = defaultdict(int)
    for fp in declared:
        sizes[root(fp)] += 1
    return {fp: f"family:{root(fp)}" for fp in declared if sizes[root(fp)] > 1}


def group_key(relay: dict[str, Any], grouping: str, families: dict[str, str]) -> str | None:
    """The group a relay's weight counts for; None = unknown (the relay is its own group)."""
    if grouping == "asn":
        return f"AS{relay['asn']}" if relay.get("asn") else None
    if grouping == "country":
        country = relay.get("country") or UNKNOWN_COUNTRY
        return None if country == UNKNOWN_COUNTRY else country
    if grouping == "family":
        return families.get(relay["fingerprint"])
    contact = (relay.get("contact") or "").strip()
    return f"contact:{contact}" if contact else None


def concentration(relays: list[dict[str, Any]], grouping: str) -> dict[str, Any] | None:
    """HHI and top-k shares of consensus weight over the groups of ``grouping``.

    HHI = sum over groups of (group cw / total cw)^2, in [0, 1] (1 = one group holds all;
    1/n for n equal groups); computed as an integer ratio, so it is exact. A relay whose group
    is unknown (no AS, no country, no mutual family, no contact) is its own group: unknown
    is not one operator, and lumping them would invent concentration. None when the total
    cw is 0.
    """
    families = extended_families(relays) if grouping == "family" else {}
    weights: dict[str, int] = defaultdict(int)
    unknown = 0
    for r in relays:
        key = group_key(r, grouping, families)
        if key is None:
            key = f"unknown:{r['fingerprint']}"
            unknown += int(r["cw"])
        weights[key] += int(r["cw"])
    total = sum(weights.values())
    if total == 0:
        return None
    ranked = sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))
    return {
        "hhi": sum(w * w for w in weights.values()) / (total * total),
        "top": {k: sum(w for _, w in ranked[:k]) / total for k in TOP_K},
        "groups": len(weights),
        "unknown_cw_share": unknown / total,
        "largest": [[key, w / total] for key, w in ranked[: max(TOP_K)]],
    }


def uptime_groups(relays: list[dict[str, Any]], window_hours: list[int]) -> list[dict[str, Any]]:
    """Groups of relays with one uptime pattern over the window, flagged for review.

    A relay's pattern over the consensuses of the window (the hours present, ``window_hours``):
    its first_seen, the window consensuses it is listed in, and its restart hours in the window
    (``published - uptime`` of its descriptors, floored to the hour). It is *informative* when
    it holds at least one event: an appearance or disappearance between two window
    consensuses, or a restart. Two or more relays listed now with the same informative pattern
    form a group. Relays listed in every window consensus with no restart share the trivial
    pattern and are never grouped; a consensus missing from the data is not an absence.
    """
    present_hours = set(window_hours)
    patterns: dict[tuple[Any, ...], list[str]] = defaultdict(list)
    for r in relays:
        present = sorted(h for h in r.get("present") or [] if h in present_hours)
        restarts = sorted(set(r.get("restarts") or []))
        vector = [h in present for h in sorted(present_hours)]
        transitions = sum(1 for a, b in zip(vector, vector[1:], strict=False) if a != b)
        if transitions + len(restarts) == 0:
            continue
        patterns[(r.get("first_seen"), tuple(present), tuple(restarts))].append(r["fingerprint"])
    groups = []
    for (first_seen, present, restarts), members in patterns.items():
        if len(members) < 2:
            continue
        key = json.dumps([first_seen, list(present), list(restarts)], separators=(",", ":"))
        groups.append(
            {
                "group": hashlib.sha256(key.encode()).hexdigest()[:16],
                "size": len(members),
                "first_seen": first_seen,
                "present": list(present),
                "restarts": list(restarts),
                "fingerprints": sorted(members),
            }
        )
    return sorted(groups, key=lambda g: (-g["size"], g["group"]))


def _network_row(name: str, subject: str, value: float, unit: str, metadata: dict[str, Any]) -> dict[str, Any]:
    return {
        "metric_name": name,
        "metric_version": METRICS_VERSION,
        "subject": subject,
        "metric_value": value,
        "metric_unit": unit,
        "metric_metadata": json.dumps(metadata, separators=(",", ":"), sort_keys=True),
    }


def hour_metrics(
    consensus: dict[str, Any],
    relays: list[dict[str, Any]],
    previous: dict[str, Any] | None = None,
    previous_relays: list[dict[str, Any]] | None = None,
    window_hours: list[int] | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(relay rows, network rows) of the consensus hour ``consensus['valid_after']``.

    ``previous`` is the consensus whose fresh-until is this valid-after, with its relays;
    without it there is no churn row (a missing hour is not a zero). ``window_hours``: the
    valid-after hours of the consensuses in the uptime window (this one included).
    """
    hour = int(consensus["valid_after"])
    weights = consensus.get("bandwidth_weights") or {}
    relay_rows = relay_metrics(relays, consensus)
    groups = uptime_groups(relays, sorted(set(window_hours or []) | {hour}))
    member_of = {fp: g for g in groups for fp in g["fingerprints"]}
    for row in relay_rows:
        g = member_of.get(row["fingerprint"])
        row["uptime_group"] = g["group"] if g else ""
        row["uptime_group_size"] = g["size"] if g else 0
        row["metric_version"] = METRICS_VERSION
    net = [
        _network_row(
            "cw_total", "all", float(sum(int(r["cw"]) for r in relays)), "weight",
            {
                "relays": len(relays),
                "entries": consensus.get("entries"),
                "bandwidth_weights": weights,
                "position_totals": position_totals(relays, weights),
                "fresh_until": consensus.get("fresh_until"),
                # no document name: a row is a function of the content, not of where a file lay
            },
        )
    ]
    if previous is not None and previous_relays is not None:
        for c in flag_churn(relays, previous_relays):
            meta = {**c, "previous_valid_after": int(previous["valid_after"])}
            del meta["subject"]
            if c["now"]:
                net.append(_network_row("flag_joined_share", c["subject"], c["joined"] / c["now"], "ratio", meta))
            if c["before"]:
                net.append(_network_row("flag_left_share", c["subject"], c["left"] / c["before"], "ratio", meta))
    for grouping in GROUPINGS:
        conc = concentration(relays, grouping)
        if conc is None:
            continue
        meta = {"groups": conc["groups"], "unknown_cw_share": conc["unknown_cw_share"]}
        net.append(_network_row("cw_hhi", grouping, conc["hhi"], "ratio", {**meta, "largest": conc["largest"]}))
        for k in TOP_K:
            net.append(_network_row(f"cw_top{k}_share", grouping, conc["top"][k], "ratio", meta))
    net.append(
        _network_row(
            "uptime_pattern_flagged_relays", "window_24h", float(sum(g["size"] for g in groups)), "count",
            {
                "window_hours": sorted(set(window_hours or []) | {hour}),
                # every member is in relay_hour_metrics (uptime_group); 20 per group here
                "groups": [{**g, "fingerprints": g["fingerprints"][:20]} for g in groups],
            },
        )
    )
    return relay_rows, net
