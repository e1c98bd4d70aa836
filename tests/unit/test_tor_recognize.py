"""Which files are Tor documents: a tor data directory's files and CollecTor's other types.

Fixtures (tests/fixtures/tor/PROVENANCE.md): datadir/ holds real cached-certs,
cached-microdescs and cached-consensus (stem test data) and cached-descriptors /
cached-extrainfo built from real descriptors with tor's annotation lines; collector-other/
holds real CollecTor tarballs of key certificates and microdescriptors.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conftest_tor import COLLECTOR_TREE, FIXTURES  # noqa: E402

from jobs.tor import parse as tor_parse  # noqa: E402
from jobs.tor.collect import collect  # noqa: E402
from udfs.tor_recognize import EMPTY_CACHE_FILE, TOR_DATA_FILE, recognize  # noqa: E402

DATADIR = FIXTURES / "datadir"
REAL = COLLECTOR_TREE / "real"


def parse(path: Path) -> tor_parse.Parsed:
    return tor_parse.parse_any(path.name, path.read_bytes())


def without_document(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "document"} for r in records]


def test_annotated_cached_descriptors_parse_like_collector_ones() -> None:
    cached = parse(DATADIR / "cached-descriptors")
    assert cached.rejects == [] and cached.skipped == {}
    assert [r["nickname"] for r in cached.records] == ["anonion", "Unnamed", "caerSidi"]
    collector = parse(REAL / "metrics_server_desc_multiple").records
    collector += parse(REAL / "example_descriptor").records
    assert without_document(cached.records) == without_document(collector)


def test_annotated_cached_extrainfo_parses() -> None:
    (extra,) = parse(DATADIR / "cached-extrainfo").records
    (expected,) = parse(REAL / "extrainfo_relay_descriptor").records
    assert without_document([extra]) == without_document([expected])


def test_key_certificates_are_counted_not_dead_lettered() -> None:
    certs = parse(DATADIR / "cached-certs")
    assert (certs.records, certs.rejects, certs.skipped) == ([], [], {"dir-key-certificate-3": 2})
    archive = parse(FIXTURES / "collector-other" / "certs-cropped.tar")
    assert (archive.rejects, archive.skipped) == ([], {"dir-key-certificate-3": 5})


def test_microdescriptors_are_counted() -> None:
    assert parse(DATADIR / "cached-microdescs").skipped == {"microdescriptor": 3}
    archive = parse(FIXTURES / "collector-other" / "microdescs-2019-05-cropped.tar")
    assert (archive.rejects, archive.skipped) == (
        [],
        {"network-status-microdesc-consensus-3": 1, "microdescriptor": 3},
    )


def test_tor_data_directory(tmp_path: Path) -> None:
    stats = collect(DATADIR, tmp_path)
    assert (stats.files_seen, stats.records) == (6, 7)
    assert stats.skipped == {"dir-key-certificate-3": 2, "microdescriptor": 3, EMPTY_CACHE_FILE: 1}
    staged = [
        json.loads(line) for f in tmp_path.glob("*.jsonl") for line in f.read_text().splitlines()
    ]
    assert Counter(r["kind"] for r in staged) == {
        "server": 3, "status": 3, "extra": 1, "reject": 1, "consensus": 1
    }
    # the chutney test network's consensus has an empty client-versions line: entries kept
    (reject,) = [r for r in staged if r["kind"] == "reject"]
    assert (reject["document"], reject["stage"], reject["reason"]) == (
        "cached-consensus",
        "validate",
        "malformed_header_or_footer",
    )


@pytest.mark.parametrize(
    ("name", "data", "skip"),
    [
        ("keys/secret_id_key", b"-----BEGIN RSA PRIVATE KEY-----\nMIIC\n", TOR_DATA_FILE),
        (
            "tor/keys/ed25519_master_id_secret_key",
            b"== ed25519v1-secret: type0 ==\x00\x01",
            TOR_DATA_FILE,
        ),
        (
            "state",
            b"# Tor state file last generated on 2021-08-28\nTorVersion Tor 0.4.5\n",
            TOR_DATA_FILE,
        ),
        ("cached-descriptors.new", b"", EMPTY_CACHE_FILE),
        ("diff-cache/1", b"network-status-diff-version 1\nhash AB CD\n", "network-status-diff"),
        (
            "x",
            b"@type bridge-server-descriptor 1.2\nrouter Unnamed 10.0.0.1 9001 0 0\n",
            "bridge-server-descriptor",
        ),
    ],
)
def test_other_tor_files_are_skipped(name: str, data: bytes, skip: str) -> None:
    parsed = tor_parse.parse_any(name, data)
    assert (parsed.records, parsed.rejects, parsed.skipped) == ([], [], {skip: 1})
    assert recognize(name, data).doc_type is None


@pytest.mark.parametrize(
    ("data", "reason", "line"),
    [
        (
            b'@downloaded-at 2012-05-03 17:33:59\n@source "1.2.3.4"\ngarbage{\n',
            "not_a_tor_document",
            1,
        ),
        (
            b'@downloaded-at 2012-05-03 17:33:59\n@source "1.2.3.4"\nrouter only-a-router-line\n',
            "malformed_descriptor",
            3,
        ),
    ],
)
def test_annotated_garbage_is_still_a_dead_letter(data: bytes, reason: str, line: int) -> None:
    parsed = tor_parse.parse_any("cached-descriptors", data)
    assert [(r.reason, r.line) for r in parsed.rejects] == [(reason, line)]
    assert parsed.records == [] and parsed.skipped == {}
