"""jobs/tor/parse.py over the real Tor documents (stem test data) and a corpus of broken ones."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conftest_tor import COLLECTOR_TREE  # noqa: E402

from jobs.tor import parse as tor_parse  # noqa: E402

REAL = COLLECTOR_TREE / "real"
DERIVED = COLLECTOR_TREE / "derived"
CONSENSUS_0100 = "consensuses-2018-06/01/2018-06-01-01-00-00-consensus"


def parse(path: Path) -> tor_parse.Parsed:
    return tor_parse.parse_any(path.name, path.read_bytes())


def by_fingerprint(parsed: tor_parse.Parsed, kind: str, valid_after: int | None = None) -> dict:
    return {
        r["fingerprint"]: r
        for r in parsed.records
        if r["kind"] == kind and (valid_after is None or r["valid_after"] == valid_after)
    }


@pytest.fixture(scope="module")
def consensuses() -> tor_parse.Parsed:
    return parse(REAL / "consensuses-2018-06-cropped.tar")


def test_consensus_archive_relay_counts(consensuses: tor_parse.Parsed) -> None:
    counts = Counter(r["valid_after"] for r in consensuses.records)
    # 2018-06-01 00:00 and 01:00 UTC (CollecTor, cropped by stem): 208 and 35 relays
    assert counts == {1527811200: 208, 1527814800: 35}
    exits = Counter(r["valid_after"] for r in consensuses.records if "Exit" in r["flags"])
    assert exits == {1527811200: 22, 1527814800: 6}
    assert consensuses.rejects == []


def test_consensus_entry_values(consensuses: tor_parse.Parsed) -> None:
    calyx = by_fingerprint(consensuses, "status", 1527811200)[
        "0011BD2485AD45D984EC4159C88FC066E5E3300E"
    ]
    assert calyx["nickname"] == "CalyxInstitute14"
    assert calyx["address"] == "162.247.72.201"
    assert (calyx["or_port"], calyx["dir_port"]) == (443, 80)
    assert calyx["flags"] == [
        "Exit",
        "Fast",
        "Guard",
        "HSDir",
        "Running",
        "Stable",
        "V2Dir",
        "Valid",
    ]
    assert calyx["bandwidth"] == 5380
    assert calyx["version"] == "0.3.2.10"
    assert calyx["exit_policy"].startswith("accept 20-23,43,53,79-81")
    assert (
        calyx["document"]
        == "consensuses-2018-06-cropped.tar:consensuses-2018-06/01/2018-06-01-00-00-00-consensus"
    )
    later = by_fingerprint(consensuses, "status", 1527814800)[
        "0011BD2485AD45D984EC4159C88FC066E5E3300E"
    ]
    assert later["bandwidth"] == 5130


def test_ipv6_or_address_kept(consensuses: tor_parse.Parsed) -> None:
    with_v6 = [r for r in consensuses.records if r["address_v6"]]
    # entries with an IPv6 `a` line: 37 in the 00:00 consensus, 2 in the 01:00 one
    assert Counter(r["valid_after"] for r in with_v6) == {1527811200: 37, 1527814800: 2}
    assert all(any(a.startswith("[") for a in r["or_addresses"]) for r in with_v6)


def test_vote_flags_by_authority() -> None:
    parsed = parse(REAL / "metrics_vote")
    votes = by_fingerprint(parsed, "vote")
    assert len(votes) == 4
    assert {v["auth"] for v in votes.values()} == {"tor26"}
    assert votes["0013D22389CD50D0B784A3E4061CB31E8CE8CEB5"]["flags"] == ["Exit", "Named", "Valid"]
    assert {v["valid_after"] for v in votes.values()} == {1342051200}  # 2012-07-12 00:00


def test_server_descriptor_fields() -> None:
    server = parse(REAL / "example_descriptor").records[0]
    assert server["fingerprint"] == "A7569A83B5706AB1B1A9CB52EFF7D2D32E4553EB"
    assert server["nickname"] == "caerSidi"
    assert server["published"] == 1330622127  # 2012-03-01 17:15:27
    assert server["uptime"] == 588217
    assert server["observed_bandwidth"] == 104590
    assert server["contact"] == "www.atagar.com/contact"
    assert server["platform"] == "Tor 0.2.1.30 on Linux x86_64"
    assert server["version"] == "0.2.1.30"
    assert (
        len(server["family"]) == 8
        and "0CE3CFB1E9CC47B63EA8869813BF6FAB7D4540C1" in server["family"]
    )


def test_several_descriptors_in_one_file() -> None:
    parsed = parse(REAL / "metrics_server_desc_multiple")
    assert [r["nickname"] for r in parsed.records] == ["anonion", "Unnamed"]


def test_negative_uptime_is_flagged_not_used() -> None:
    parsed = parse(REAL / "negative_uptime")
    (server,) = parsed.records
    assert server["nickname"] == "TipTor"
    assert server["uptime"] is None and server["is_uptime_rejected"] is True
    assert server["observed_bandwidth"] == 124131  # the rest of the descriptor is still used
    (reject,) = parsed.rejects
    assert (reject.reason, reject.line, reject.stage) == ("negative_uptime", 6, "validate")
    assert reject.excerpt == "uptime -31081285"


def test_extra_info_last_history_slot() -> None:
    (extra,) = parse(REAL / "extrainfo_relay_descriptor").records
    assert extra["fingerprint"] == "B2289C3EAB83ECD6EB916A2F481A02E6B76A0A48"
    assert extra["read_last_bytes"] == 8186880
    assert extra["write_last_bytes"] == 16678912
    assert extra["read_interval_s"] == 900
    archive = parse(REAL / "extra-infos-2019-04-cropped.tar")
    assert len(archive.records) == 7 and archive.rejects == []


def test_bandwidth_file_measurements() -> None:
    parsed = parse(REAL / "bandwidth_file_v1.4")
    measured = by_fingerprint(parsed, "bw")
    assert len(measured) == 58
    t7 = measured["F63DF6AA4F395AD2F5F363333D104279F2171381"]
    assert (t7["bw"], t7["measured_at"]) == (1, 1555882497)
    archive = parse(REAL / "bandwidths-2019-05-cropped.tar")
    assert Counter(r["measured_at"] for r in archive.records) == {1557834219: 22, 1557837295: 41}


def test_derived_consensus_edits() -> None:
    parsed = parse(DERIVED / "2018-06-01-02-00-00-consensus")
    relays = by_fingerprint(parsed, "status")
    assert len(relays) == 35 and parsed.rejects == []
    assert relays["FFFE9886516D828A7A29714BE0BCBE729F53A15A"]["address"] == "51.38.128.93"
    assert relays["000A10D43011EA4928A35F610405F92B4433B4DC"]["nickname"] == "seeleRenamed"
    assert "A7569A83B5706AB1B1A9CB52EFF7D2D32E4553EB" in relays
    assert all(r["nickname"] != "ddetor2" for r in relays.values())


# ------------------------------------------------------------------------------------------
# broken input: never raises, always says where and why


def _consensus_0100() -> bytes:
    import tarfile

    with tarfile.open(REAL / "consensuses-2018-06-cropped.tar") as tar:
        handle = tar.extractfile(CONSENSUS_0100)
        assert handle is not None
        return handle.read()


@pytest.mark.parametrize(
    ("data", "reason", "line"),
    [
        (b"garbage{\n", "not_a_tor_document", 1),
        (b"", "not_a_tor_document", 0),
        (b"\x00\xff\xfe binary", "not_a_tor_document", 1),
        (
            b"network-status-version 3\nvote-status consensus\nvalid-after garbage\n",
            "missing_valid_after",
            3,
        ),
        (b"router only-a-router-line\n", "malformed_descriptor", 1),
        (b"extra-info NINJA nothex\npublished 2012-05-05 17:03:50\n", "malformed_descriptor", 1),
        (
            b"1555882497\nversion=1.4.0\n=====\nbw=abc node_id=$F63DF6AA4F395AD2F5F363333D104279F2171381\n",
            "bad_bandwidth_value",
            4,
        ),
    ],
)
def test_broken_documents_are_rejected(data: bytes, reason: str, line: int) -> None:
    parsed = tor_parse.parse_any("broken", data)
    assert parsed.records == []
    assert [(r.reason, r.line) for r in parsed.rejects] == [(reason, line)]
    assert parsed.rejects[0].document == "broken"


def test_bad_entry_rejects_only_that_entry() -> None:
    data = _consensus_0100().replace(b"w Bandwidth=5130", b"w Bandwidth=abc", 1)
    parsed = tor_parse.parse_any("bad-w", data)
    assert len(parsed.records) == 34  # 35 entries, CalyxInstitute14's is unusable
    (reject,) = [r for r in parsed.rejects if r.stage == "parse"]
    assert (reject.reason, reject.line, reject.excerpt) == (
        "malformed_entry",
        62,
        "w Bandwidth=abc",
    )


def test_truncated_consensus_keeps_complete_entries() -> None:
    data = _consensus_0100()[:9000]  # cut inside the 16th entry
    parsed = tor_parse.parse_any("cut", data)
    assert len(parsed.records) == 15
    assert [(r.reason, r.line) for r in parsed.rejects] == [("malformed_entry", 136)]


def test_unknown_keyword_is_recorded_and_entry_kept() -> None:
    data = _consensus_0100().replace(b"w Bandwidth=18\n", b"w Bandwidth=18\nzork 1 2\n", 1)
    parsed = tor_parse.parse_any("zork", data)
    assert len(parsed.records) == 35
    (reject,) = parsed.rejects
    assert (reject.reason, reject.stage, reject.line, reject.excerpt) == (
        "unknown_keyword",
        "validate",
        51,
        "zork 1 2",
    )


def test_reject_key_is_deterministic() -> None:
    a = tor_parse.parse_any("x", b"garbage{").rejects[0]
    b = tor_parse.parse_any("x", b"garbage{").rejects[0]
    assert a.key() == b.key() and len(a.key()) == 64


def test_excerpt_is_capped() -> None:
    parsed = tor_parse.parse_any("big", b"x" * 100_000)
    assert len(parsed.rejects[0].excerpt.encode()) == tor_parse.EXCERPT_CAP
