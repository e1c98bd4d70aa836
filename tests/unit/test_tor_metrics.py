# ruff: noqa: F811 - pytest fixtures imported from conftest_tor are parameters here
"""Tor metrics (udfs/tor_metrics.py, jobs/tor/network.py) on the real fixture consensuses.

The job's path (stem parsing, relay state, copies to hour keys, per-hour computation; run
here without Flink by conftest_tor.reference_metrics) is compared with a hand computation that
reads the consensus text itself (r / s / w lines and the bandwidth-weights footer) and applies
the definitions directly. Hours: 2012-07-12 10:00 (real, 7 relays), 2018-06-01 00:00 and 01:00
(real, consecutive, 208 and 35 relays), 02:00 (derived from 01:00: ddetor2 gone, caerSidi new).
"""

from __future__ import annotations

import base64
import calendar
import datetime as dt
import json
import random
import sys
import tarfile
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conftest_tor import (  # noqa: E402,F401 - fixtures
    COLLECTOR_TREE,
    geoip_dir,
    reference_metrics,
    reference_payloads,
)

from jobs.tor.network import compute_hour  # noqa: E402
from udfs.tor_geoip import GeoIP  # noqa: E402
from udfs.tor_metrics import concentration, extended_families, uptime_groups  # noqa: E402

H2012 = 1342087200
H0, H1, H2 = 1527811200, 1527814800, 1527818400


# ---------------------------------------------------------------------------------------------
# the hand computation: consensus text -> relays, weights; definitions applied directly


def _epoch(text: str) -> int:
    return calendar.timegm(dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S").timetuple())


def read_consensus(text: str) -> dict[str, Any]:
    """valid_after, fresh_until, weights and {fingerprint: {address, flags, cw}} from the text."""
    out: dict[str, Any] = {"relays": {}, "weights": {}}
    current: dict[str, Any] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(" ")
        if key in ("valid-after", "fresh-until"):
            out[key] = _epoch(rest)
        elif key == "r":
            parts = rest.split()
            fingerprint = base64.b64decode(parts[1] + "=").hex().upper()
            current = out["relays"][fingerprint] = {"address": parts[5], "flags": set(), "cw": 0}
        elif key == "s":
            current["flags"] = set(rest.split())
        elif key == "w":
            current["cw"] = int(dict(kv.split("=") for kv in rest.split())["Bandwidth"])
        elif key == "bandwidth-weights":
            out["weights"] = {k: int(v) for k, v in (kv.split("=") for kv in rest.split())}
    return out


@pytest.fixture(scope="module")
def hand() -> dict[int, dict[str, Any]]:
    texts = [
        (COLLECTOR_TREE / "real" / "metrics_consensus").read_text(),
        (COLLECTOR_TREE / "derived" / "2018-06-01-02-00-00-consensus").read_text(),
    ]
    with tarfile.open(COLLECTOR_TREE / "real" / "consensuses-2018-06-cropped.tar") as archive:
        for member in archive.getmembers():
            if member.isfile():
                texts.append(archive.extractfile(member).read().decode())  # type: ignore[union-attr]
    consensuses = [read_consensus(t) for t in texts]
    return {c["valid-after"]: c for c in consensuses}


@pytest.fixture(scope="module")
def geo(geoip_dir: Path) -> GeoIP:
    return GeoIP(geoip_dir)


@pytest.fixture(scope="module")
def pipeline(geo: GeoIP) -> dict[int, tuple[list[dict], list[dict]]]:
    return reference_metrics(COLLECTOR_TREE, geo)


def network(pipeline: dict, hour: int, name: str) -> dict[str, dict[str, Any]]:
    """subject -> row of one network metric of one hour."""
    return {r["subject"]: r for r in pipeline[hour][1] if r["metric_name"] == name}


# ---------------------------------------------------------------------------------------------
# 4. per relay: consensus weight fraction, guard / middle / exit probabilities


def hand_probabilities(consensus: dict[str, Any]) -> dict[str, tuple[float, ...]]:
    """Onionoo: weight for a position = cw x the footer weight of the relay's class."""
    w = consensus["weights"]
    positions = {}
    for fp, relay in consensus["relays"].items():
        guard = "Guard" in relay["flags"]
        exit_ = "Exit" in relay["flags"] and "BadExit" not in relay["flags"]
        if guard and exit_:
            factors = (w["Wgd"], w["Wmd"], w["Wed"])
        elif guard:
            factors = (w["Wgg"], w["Wmg"], 0)
        elif exit_:
            factors = (0, w["Wme"], w["Wee"])
        else:
            factors = (0, w["Wmm"], 0)
        positions[fp] = (relay["cw"], *(relay["cw"] * f for f in factors))
    totals = [sum(p[i] for p in positions.values()) for i in range(4)]
    return {fp: tuple(p[i] / totals[i] for i in range(4)) for fp, p in positions.items()}


@pytest.mark.parametrize("hour", [H2012, H0, H1, H2])
def test_probabilities_equal_the_hand_computation(pipeline: dict, hand: dict, hour: int) -> None:
    expected = hand_probabilities(hand[hour])
    rows = {r["fingerprint"]: r for r in pipeline[hour][0]}
    assert set(rows) == set(expected)
    for fp, want in expected.items():
        r = rows[fp]
        got = (r["cw_fraction"], r["guard_probability"], r["middle_probability"], r["exit_probability"])
        assert got == pytest.approx(want, abs=1e-15), fp
    for column in ("cw_fraction", "guard_probability", "middle_probability", "exit_probability"):
        assert sum(r[column] for r in rows.values()) == pytest.approx(1.0)


def test_named_relays_probabilities(pipeline: dict) -> None:
    rows = {r["fingerprint"]: r for r in pipeline[H0][0]}
    # CalyxInstitute14, Guard+Exit, cw 5380; in 2018-06-01 00:00 Wgd = Wmd = 0, Wed = 10000:
    # a Guard+Exit relay is used as exit only; exit total 480317 x 10000
    calyx = rows["0011BD2485AD45D984EC4159C88FC066E5E3300E"]
    assert (calyx["weight_class"], calyx["cw"]) == ("d", 5380)
    assert (calyx["guard_probability"], calyx["middle_probability"]) == (0.0, 0.0)
    assert calyx["cw_fraction"] == pytest.approx(5380 / 1768728, abs=1e-15)
    exit_total = sum(r["cw"] for r in rows.values() if r["weight_class"] in ("d", "e"))
    assert calyx["exit_probability"] == pytest.approx(5380 / exit_total, abs=1e-15)
    (total,) = [r for r in pipeline[H0][1] if r["metric_name"] == "cw_total"]
    meta = json.loads(total["metric_metadata"])
    assert (total["metric_value"], meta["relays"]) == (1768728.0, 208)
    assert meta["position_totals"]["exit"] == exit_total * 10000
    assert meta["bandwidth_weights"]["Wgg"] == 6227


def test_no_footer_no_probabilities(hand: dict) -> None:
    """A consensus without bandwidth-weights: fractions only (Onionoo computes none then)."""
    relays = [
        {"fingerprint": fp, "flags": sorted(r["flags"]), "cw": r["cw"], "present": [H1]}
        for fp, r in hand[H1]["relays"].items()
    ]
    consensus = {"valid_after": H1, "fresh_until": H2, "bandwidth_weights": {"Wgg": 6325}}
    relay_rows, _ = compute_hour_from(consensus, relays)
    assert all(r["guard_probability"] is None and r["exit_probability"] is None for r in relay_rows)
    assert sum(r["cw_fraction"] for r in relay_rows) == pytest.approx(1.0)


def compute_hour_from(consensus: dict, relays: list[dict]) -> tuple[list[dict], list[dict]]:
    from udfs.tor_metrics import hour_metrics

    return hour_metrics(consensus, relays)


# ---------------------------------------------------------------------------------------------
# 5. churn per flag between consecutive consensuses


def hand_churn(before: dict[str, Any], now: dict[str, Any]) -> dict[str, tuple[int, int, int, int]]:
    def holders(c: dict[str, Any]) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {"listed": set(c["relays"])}
        for fp, r in c["relays"].items():
            for f in r["flags"]:
                out.setdefault(f, set()).add(fp)
        return out

    a, b = holders(before), holders(now)
    return {
        f: (len(b.get(f, set()) - a.get(f, set())), len(b.get(f, set())),
            len(a.get(f, set()) - b.get(f, set())), len(a.get(f, set())))
        for f in set(a) | set(b)
    }


@pytest.mark.parametrize(("before", "now"), [(H0, H1), (H1, H2)])
def test_churn_equals_the_hand_computation(pipeline: dict, hand: dict, before: int, now: int) -> None:
    joined = network(pipeline, now, "flag_joined_share")
    left = network(pipeline, now, "flag_left_share")
    expected = hand_churn(hand[before], hand[now])
    assert set(joined) == {f for f, c in expected.items() if c[1]}
    assert set(left) == {f for f, c in expected.items() if c[3]}
    for flag, (j, n, lft, b) in expected.items():
        if n:
            assert joined[flag]["metric_value"] == j / n, flag
        if b:
            assert left[flag]["metric_value"] == lft / b, flag
            assert json.loads(left[flag]["metric_metadata"])["previous_valid_after"] == before


def test_churn_figures(pipeline: dict) -> None:
    """01:00 -> 02:00: ddetor2 (a Guard, HSDir, V2Dir) left, caerSidi (not a Guard) joined."""
    joined, left = network(pipeline, H2, "flag_joined_share"), network(pipeline, H2, "flag_left_share")
    assert (joined["listed"]["metric_value"], left["listed"]["metric_value"]) == (1 / 35, 1 / 35)
    assert (joined["Guard"]["metric_value"], left["Guard"]["metric_value"]) == (0.0, 1 / 11)
    assert network(pipeline, H1, "flag_left_share")["listed"]["metric_value"] == 204 / 208


def test_no_previous_consensus_no_churn_row(pipeline: dict, geo: GeoIP) -> None:
    """00:00 and 2012: the consensus before them is not in the data: no churn rows, not zeros.
    Without the 01:00 consensus the 02:00 hour has no pair either."""
    for hour in (H0, H2012):
        assert not network(pipeline, hour, "flag_joined_share")
        assert not network(pipeline, hour, "flag_left_share")
    payloads = reference_payloads(COLLECTOR_TREE, geo)[H2]
    without_h1 = [
        p for p in payloads
        if json.loads(p).get("consensus", {}).get("valid_after") != H1
    ]
    _, rows = compute_hour(H2, without_h1)
    assert not [r for r in rows if r["metric_name"].startswith("flag_")]
    assert json.loads(next(r for r in rows if r["metric_name"] == "uptime_pattern_flagged_relays")
                      ["metric_metadata"])["window_hours"] == [H0, H2]


# ---------------------------------------------------------------------------------------------
# 5. concentration of consensus weight


def hand_concentration(weights: dict[str, int]) -> tuple[Fraction, dict[int, Fraction]]:
    total = sum(weights.values())
    shares = sorted((Fraction(w, total) for w in weights.values()), reverse=True)
    return sum(s * s for s in shares), {k: sum(shares[:k]) for k in (1, 5, 10)}


@pytest.mark.parametrize("hour", [H2012, H0, H1, H2])
@pytest.mark.parametrize("grouping", ["asn", "country", "family", "contact"])
def test_concentration_equals_the_hand_computation(
    pipeline: dict, hand: dict, geo: GeoIP, hour: int, grouping: str
) -> None:
    weights: dict[str, int] = {}
    for fp, relay in hand[hour]["relays"].items():
        located = geo.lookup(relay["address"])
        key = {
            "asn": f"AS{located.asn}" if located.asn else fp,
            "country": located.country if located.country not in (None, "", "??") else fp,
            # no two relays of the fixtures declare each other; caerSidi's contact is its own
            "family": fp,
            "contact": fp,
        }[grouping]
        weights[key] = weights.get(key, 0) + relay["cw"]
    hhi, top = hand_concentration(weights)
    assert network(pipeline, hour, "cw_hhi")[grouping]["metric_value"] == pytest.approx(float(hhi), abs=1e-15)
    for k in (1, 5, 10):
        got = network(pipeline, hour, f"cw_top{k}_share")[grouping]["metric_value"]
        assert got == pytest.approx(float(top[k]), abs=1e-15), k


def test_concentration_figures(pipeline: dict) -> None:
    hhi = network(pipeline, H1, "cw_hhi")
    assert json.loads(hhi["country"]["metric_metadata"])["largest"][0][0] == "DE"
    assert json.loads(hhi["asn"]["metric_metadata"])["largest"][0][0] == "AS24940"  # Hetzner
    assert network(pipeline, H1, "cw_top1_share")["country"]["metric_value"] == pytest.approx(0.46283, abs=1e-5)


def test_family_is_mutual_and_transitive() -> None:
    a, b, c, d = ("A" * 40, "B" * 40, "C" * 40, "D" * 40)
    relays = [
        {"fingerprint": a, "family": [b, d], "cw": 10, "flags": []},
        {"fingerprint": b, "family": [a, c], "cw": 20, "flags": []},
        {"fingerprint": c, "family": [b], "cw": 30, "flags": []},
        {"fingerprint": d, "family": [], "cw": 40, "flags": []},  # named by A, names nobody
    ]
    assert extended_families(relays) == {a: f"family:{a}", b: f"family:{a}", c: f"family:{a}"}
    conc = concentration(relays, "family")
    assert conc is not None
    assert conc["hhi"] == pytest.approx(0.6**2 + 0.4**2) and conc["groups"] == 2
    assert conc["unknown_cw_share"] == pytest.approx(0.4)


# ---------------------------------------------------------------------------------------------
# 5. identical uptime patterns


def test_uptime_groups_equal_the_hand_computation(pipeline: dict, hand: dict) -> None:
    """01:00: the relays new at 01:00 share (first seen 01:00, listed 01:00 after an absence at
    00:00); 02:00: those still listed share (first seen 01:00, listed 01:00 and 02:00). At
    00:00 (the first hour of the data) nobody has an event; caerSidi (new at 02:00, its
    restart in 2012 is outside the window) is alone."""
    first_seen: dict[str, int] = {}
    for hour in sorted(hand):
        for fp in hand[hour]["relays"]:
            first_seen.setdefault(fp, hour)
    r0, r1, r2 = (set(hand[h]["relays"]) for h in (H0, H1, H2))
    expected = {
        H0: set(),
        H1: {fp for fp in r1 - r0 if first_seen[fp] == H1},
        H2: {fp for fp in (r1 & r2) - r0 if first_seen[fp] == H1},
    }
    for hour, members in expected.items():
        flagged = {r["fingerprint"] for r in pipeline[hour][0] if r["uptime_group"]}
        assert flagged == members, hour
        sizes = {r["uptime_group_size"] for r in pipeline[hour][0] if r["uptime_group"]}
        assert sizes == ({len(members)} if members else set())
        (count,) = network(pipeline, hour, "uptime_pattern_flagged_relays").values()
        assert count["metric_value"] == len(members)
    assert (len(expected[H1]), len(expected[H2])) == (31, 30)


def test_uptime_patterns_need_an_event() -> None:
    h = [3600 * i for i in range(1, 5)]
    relays = [
        {"fingerprint": "A", "first_seen": 0, "present": h, "restarts": [h[2]]},
        {"fingerprint": "B", "first_seen": 0, "present": h, "restarts": [h[2]]},  # same restart
        {"fingerprint": "C", "first_seen": 0, "present": h, "restarts": []},  # trivial
        {"fingerprint": "D", "first_seen": 0, "present": h, "restarts": []},  # trivial
    ]
    (group,) = uptime_groups(relays, h)
    assert (group["fingerprints"], group["restarts"]) == (["A", "B"], [h[2]])
    # hour 2 missing from the data: a relay listed in 1, 3, 4 has no absence
    gaps = [{**r, "present": [h[0], h[2], h[3]], "restarts": []} for r in relays]
    assert uptime_groups(gaps, [h[0], h[2], h[3]]) == []


# ---------------------------------------------------------------------------------------------
# order and duplicates


def test_hour_does_not_depend_on_input_order_or_duplicates(geo: GeoIP) -> None:
    payloads = reference_payloads(COLLECTOR_TREE, geo)[H2]
    expected = compute_hour(H2, payloads)
    shuffled = payloads + payloads[:40]  # some inputs twice (a consensus staged twice)
    random.Random(7).shuffle(shuffled)
    assert compute_hour(H2, shuffled) == expected
    assert compute_hour(H2 + 3600, payloads) == ([], [])  # a key without its consensus


# ---------------------------------------------------------------------------------------------
# the catalog documents exactly what the job writes


def test_every_row_is_a_catalog_metric(pipeline: dict) -> None:
    """Every network row's name, unit and version is a TOR_NETWORK_METRICS entry, each entry is
    written on the fixtures, and the relay rows carry a column per TOR_RELAY_METRICS entry."""
    from jobs.tor.catalog import TOR_NETWORK_METRICS, TOR_RELAY_METRICS

    defined = {m.name: m for m in TOR_NETWORK_METRICS}
    written = [r for _, rows in pipeline.values() for r in rows]
    assert {r["metric_name"] for r in written} == set(defined)
    for r in written:
        m = defined[r["metric_name"]]
        assert (r["metric_unit"], r["metric_version"]) == (m.unit, m.version), r["metric_name"]
    relay_rows = [r for rows, _ in pipeline.values() for r in rows]
    assert relay_rows and all({m.name for m in TOR_RELAY_METRICS} <= set(r) for r in relay_rows)
    assert {r["metric_version"] for r in relay_rows} == {m.version for m in TOR_RELAY_METRICS}
