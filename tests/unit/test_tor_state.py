"""udfs/tor_state.py: joins and derivations over real consecutive consensuses, without Flink.

The hours: 2018-06-01 00:00 and 01:00 are real consecutive consensuses (stem's cropped
CollecTor archive); 02:00 is derived from 01:00 (tests/fixtures/tor/PROVENANCE.md: SecretSauce's
address changed, seele renamed, ddetor2 gone, caerSidi new).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conftest_tor import COLLECTOR_TREE  # noqa: E402

from jobs.tor import parse as tor_parse  # noqa: E402
from udfs.tor_geoip import GeoResult  # noqa: E402
from udfs.tor_state import RelayState, add_record, emit_due, endpoints  # noqa: E402

H0, H1, H2 = 1527811200, 1527814800, 1527818400
SECRET_SAUCE = "FFFE9886516D828A7A29714BE0BCBE729F53A15A"
SEELE = "000A10D43011EA4928A35F610405F92B4433B4DC"
CALYX = "0011BD2485AD45D984EC4159C88FC066E5E3300E"
CAERSIDI = "A7569A83B5706AB1B1A9CB52EFF7D2D32E4553EB"


class FakeGeo:
    """Stands in for udfs.tor_geoip.GeoIP (its real lookups are tested in test_tor_geoip)."""

    source = "test"
    build_date = dt.date(2026, 9, 1)

    def lookup(self, address: str | None) -> GeoResult:
        return GeoResult("DE", 24940, "Hetzner") if address else GeoResult("??", 0, "")


def records(*names: str) -> list[dict]:
    out = []
    for name in names:
        path = COLLECTOR_TREE / name
        out.extend(tor_parse.parse_any(name, path.read_bytes()).records)
    return out


def replay(recs: list[dict], fingerprint: str) -> list[dict]:
    """What the Flink operator does for one key: fold all records, fire timers in hour order."""
    state = RelayState()
    hours = set()
    for rec in recs:
        if rec["fingerprint"] == fingerprint:
            hour = add_record(state, rec)
            if hour is not None:
                hours.add(hour)
            state = RelayState.from_json(state.to_json())  # state goes through JSON in Flink
    rows = []
    for hour in sorted(hours):
        rows.extend(emit_due(state, hour, FakeGeo()))
    return rows


@pytest.fixture(scope="module")
def three_hours() -> list[dict]:
    return records(
        "real/consensuses-2018-06-cropped.tar",
        "derived/2018-06-01-02-00-00-consensus",
        "real/example_descriptor",
        "derived/extra-info-CalyxInstitute14",
        "derived/2018-05-31-23-30-00-bandwidth",
    )


def test_address_change_detected(three_hours: list[dict]) -> None:
    rows = replay(three_hours, SECRET_SAUCE)
    assert [r["ts"] for r in rows] == [
        "2018-06-01 00:00:00",
        "2018-06-01 01:00:00",
        "2018-06-01 02:00:00",
    ]
    assert [r["last_ip_change"] for r in rows] == [None, None, "2018-06-01 02:00:00"]
    assert [r["address_v4"] for r in rows] == ["51.38.128.92", "51.38.128.92", "51.38.128.93"]
    assert {r["first_seen"] for r in rows} == {"2018-06-01 00:00:00"}


def test_nickname_list_grows(three_hours: list[dict]) -> None:
    rows = replay(three_hours, SEELE)
    assert [r["all_nicknames"] for r in rows] == [["seele"], ["seele"], ["seele", "seeleRenamed"]]
    assert rows[-1]["nickname"] == "seeleRenamed"
    assert {r["first_seen"] for r in rows} == {"2018-06-01 00:00:00"}


def test_new_relay_joins_its_server_descriptor(three_hours: list[dict]) -> None:
    (row,) = replay(three_hours, CAERSIDI)
    assert row["first_seen"] == "2018-06-01 02:00:00"
    assert row["bw_observed"] == 104590
    assert row["uptime"] == 588217
    # published 2012-03-01 17:15:27 minus 588217 s
    assert row["last_restarted"] == "2012-02-23 21:51:50"
    assert row["contact"] == "www.atagar.com/contact"
    assert row["platform"] == "Tor 0.2.1.30 on Linux x86_64"
    assert row["version"] == "0.2.1.30"
    assert len(row["family"]) == 8
    assert row["descriptor_published"] == "2012-03-01 17:15:27"


def test_extra_info_join(three_hours: list[dict]) -> None:
    rows = replay(three_hours, CALYX)
    assert [(r["bw_read"], r["bw_write"]) for r in rows] == [(8186880, 16678912)] * 3
    assert [r["bw_consensus"] for r in rows] == [5380, 5130, 5130]


def test_bandwidth_file_join_respects_time() -> None:
    t7 = "F63DF6AA4F395AD2F5F363333D104279F2171381"
    recs = records("real/consensuses-2018-06-cropped.tar", "real/bandwidth_file_v1.4")
    (row,) = replay(recs, t7)
    assert row["bw_measured"] is None  # the real file was measured in 2019: after this hour
    recs += records("derived/2018-05-31-23-30-00-bandwidth")
    (row,) = replay(recs, t7)
    assert (row["bw_measured"], row["bw_measured_source"]) == (1, "2018-05-31-23-30-00-bandwidth")


def test_order_of_arrival_does_not_matter(three_hours: list[dict]) -> None:
    forward = replay(three_hours, SECRET_SAUCE)
    backward = replay(list(reversed(three_hours)), SECRET_SAUCE)
    assert forward == backward


def test_negative_uptime_gives_no_restart() -> None:
    (server,) = records("real/negative_uptime")
    state = RelayState()
    add_record(state, server)
    status = {
        "kind": "status",
        "valid_after": 1166486400,
        "fingerprint": server["fingerprint"],
        "nickname": "TipTor",
        "address": "62.99.247.83",
        "or_port": 9001,
        "dir_port": 0,
        "or_addresses": [],
        "flags": ["Running"],
        "version": "",
        "bandwidth": 10,
        "exit_policy": "reject 1-65535",
    }
    add_record(state, status)
    (row,) = emit_due(state, 1166486400, FakeGeo())
    assert row["uptime"] is None and row["last_restarted"] is None
    assert row["is_uptime_rejected"] is True
    assert row["bw_observed"] == 124131


def test_added_ipv6_address_is_not_a_change() -> None:
    base = {"address": "1.2.3.4", "or_port": 9001, "dir_port": 0, "or_addresses": []}
    with_v6 = dict(base, or_addresses=["[2001:db8::1]:9001"])
    assert not set(endpoints(base)) - set(endpoints(with_v6))
    assert set(endpoints(with_v6)) - set(endpoints(base))  # removing it would count


def test_same_hour_twice_is_emitted_once(three_hours: list[dict]) -> None:
    state = RelayState()
    for rec in three_hours:
        if rec["fingerprint"] == CALYX and rec["kind"] == "status" and rec["valid_after"] == H0:
            add_record(state, rec)
    assert len(emit_due(state, H0, FakeGeo())) == 1
    first = next(r for r in three_hours if r["fingerprint"] == CALYX and r.get("valid_after") == H0)
    add_record(state, first)
    assert emit_due(state, H0, FakeGeo()) == []


def test_state_round_trips_through_json(three_hours: list[dict]) -> None:
    state = RelayState()
    for rec in three_hours:
        if rec["fingerprint"] == CALYX:
            add_record(state, rec)
    again = RelayState.from_json(state.to_json())
    assert again == state
    assert json.loads(state.to_json())["pending"].keys() == {str(H0), str(H1), str(H2)}


def test_any_arrival_order_gives_the_same_rows(three_hours: list[dict]) -> None:
    """Bounded semantics: every record is added before the hours are emitted in order."""
    import random

    for fingerprint in (SECRET_SAUCE, SEELE, CALYX):
        expected = replay(three_hours, fingerprint)
        for seed in range(5):
            shuffled = list(three_hours)
            random.Random(seed).shuffle(shuffled)
            assert replay(shuffled, fingerprint) == expected
        assert {r["first_seen"] for r in expected} == {min(r["ts"] for r in expected)}
        assert all(r["last_ip_change"] is None or r["last_ip_change"] <= r["ts"] for r in expected)


def _streamed(recs: list[dict], fingerprint: str, hours_first: list[int]) -> list[dict]:
    """Streaming with a late file: ``hours_first`` are added and emitted, then the rest."""
    state = RelayState()
    mine = [r for r in recs if r["fingerprint"] == fingerprint]
    early = [r for r in mine if r["kind"] != "status" or r["valid_after"] in hours_first]
    for rec in early:
        add_record(state, rec)
    rows = emit_due(state, max(hours_first), FakeGeo())
    for rec in mine:
        if rec["kind"] == "status" and rec["valid_after"] not in hours_first:
            add_record(state, rec)
    return rows + emit_due(state, H2, FakeGeo())


def test_late_hour_never_gets_a_later_ip_change(three_hours: list[dict]) -> None:
    rows = _streamed(three_hours, SECRET_SAUCE, [H2, H1])
    by_ts = {r["ts"]: r for r in rows}
    assert by_ts["2018-06-01 02:00:00"]["last_ip_change"] == "2018-06-01 02:00:00"
    assert by_ts["2018-06-01 00:00:00"]["last_ip_change"] is None  # not the 02:00 change
    assert by_ts["2018-06-01 00:00:00"]["first_seen"] == "2018-06-01 00:00:00"
    rows = _streamed(three_hours, SEELE, [H2])
    by_ts = {r["ts"]: r for r in rows}
    assert by_ts["2018-06-01 02:00:00"]["all_nicknames"] == ["seeleRenamed"]
    # the late hours get the nicknames up to their hour, in first-seen order
    assert by_ts["2018-06-01 00:00:00"]["all_nicknames"] == ["seele"]
    assert by_ts["2018-06-01 01:00:00"]["all_nicknames"] == ["seele"]


def test_first_seen_counts_waiting_hours(three_hours: list[dict]) -> None:
    state = RelayState()
    for rec in three_hours:
        if rec["fingerprint"] == SECRET_SAUCE:
            add_record(state, rec)
    (row,) = emit_due(state, H1 - 1, FakeGeo())  # only 00:00 is due, 01:00/02:00 wait
    assert row["first_seen"] == "2018-06-01 00:00:00"
    later = emit_due(state, H2, FakeGeo())
    assert [r["first_seen"] for r in later] == ["2018-06-01 00:00:00"] * 2


def test_missing_hour_stays_missing(three_hours: list[dict]) -> None:
    """A relay absent in 01:00 has no 01:00 row; 02:00 compares with its 00:00 entry."""
    recs = [r for r in three_hours if not (r["kind"] == "status" and r["valid_after"] == H1)]
    rows = replay(recs, SECRET_SAUCE)
    assert [r["ts"] for r in rows] == ["2018-06-01 00:00:00", "2018-06-01 02:00:00"]
    assert rows[-1]["last_ip_change"] == "2018-06-01 02:00:00"


def test_state_of_the_previous_format_loads() -> None:
    old = json.dumps(
        {
            "first_seen": H0,
            "nicknames": ["seele"],
            "last_ts": H1,
            "last_endpoints": [],
            "last_ip_change": H1,
            "emitted": [H0, H1],
            "servers": [],
            "extras": [],
            "bws": [],
            "votes": {},
            "pending": {},
        }
    )
    state = RelayState.from_json(old)
    assert (state.nicknames, state.ip_changes) == ([["seele", H0]], [H1])
