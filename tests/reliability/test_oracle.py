"""The exactly-once oracle (tests/oracle.py) fails on a planted duplicate and on a dropped row.

Outputs shaped like the exactly-once drills' (tests/cluster/test_exactly_once.py) are built
from the real fixture events: a reference run reading one file, a cluster run reading four part
files; then one copy is planted or one row dropped, in a ClickHouse table or a Parquet file.
An oracle that passes any of these would pass a run that lost or doubled data. No JVM.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import oracle
import pytest

from jobs.naap import sample

WORK = "/tmp/eo-work"
PARTS = 4


def _outputs() -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """(reference, cluster run, part_of): tables and Parquet files of both, raw."""
    lines = sorted(sample.fixture_lines(), key=sample.envelope_ms)
    events = [json.loads(line) for line in lines]
    part_of = {e["id"]: f"part-{i % PARTS}.jsonl" for i, e in enumerate(events)}

    def raw_rows(position: Any) -> list[dict[str, Any]]:
        return [{"event_id": e["id"], "event_type": e["type"], "gateway": e.get("gateway", ""),
                 "raw_data": line, "source_position": position(e)} for e, line in zip(events, lines, strict=True)]

    def dead(position: str) -> list[dict[str, Any]]:
        # Two identical bad lines of one file: two rows (counted), distinct reject keys.
        return [{"reject_key": f"{position}-{n}", "stage": "decode", "reason": "malformed_json", "event_id": "",
                 "payload": "garbage{", "source_position": position} for n in (1, 2)]

    reference = {
        "tables": {"raw_events": raw_rows(lambda e: "/ref/var/input/events.jsonl"),
                   "dead_letter": dead("/ref/var/input/events.jsonl")},
    }
    cluster_input = f"{WORK}/crash/var/input/"
    run = {
        "tables": {"raw_events": raw_rows(lambda e: cluster_input + part_of[e["id"]]),
                   "dead_letter": dead(cluster_input + "part-0.jsonl")},
    }
    for outputs in (reference, run):
        rows = outputs["tables"]["raw_events"]
        outputs["parquet"] = {
            f"raw_events/event_date=2026-0{m}/part-{m}.parquet": [
                {k: r[k] for k in ("event_id", "event_type", "source_position")} for r in rows if r["event_id"][-1] in keys
            ]
            for m, keys in ((1, "01234567"), (2, "89abcdef"))
        }
    part_of[""] = "part-0.jsonl"  # where the reference's id-less dead letters came from
    return reference, run, part_of


def _verdict(reference: dict[str, Any], run: dict[str, Any], part_of: dict[str, str]) -> list[str]:
    """Every problem the drills' checks find (equal to the reference; no duplicate events)."""
    want = oracle.normalized_tables(reference["tables"], "reference", "", part_of)
    got = oracle.normalized_tables(run["tables"], "crash", f"{WORK}/crash/var/input/", part_of)
    want_pq = oracle.normalized_tables(reference["parquet"], "reference", "", part_of)
    got_pq = oracle.normalized_tables(run["parquet"], "crash", f"{WORK}/crash/var/input/", part_of)
    parquet_events = [r for name, rows in got_pq.items() if name.startswith("raw_events/") for r in rows]
    return (oracle.differences(got, want) + oracle.differences(got_pq, want_pq)
            + oracle.duplicate_events(got["raw_events"], parquet_events))


@pytest.fixture
def outputs() -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    return _outputs()


def test_equal_outputs_pass(outputs: Any) -> None:
    reference, run, part_of = outputs
    assert len(reference["tables"]["raw_events"]) == 143
    assert _verdict(reference, run, part_of) == []
    oracle.assert_same_rows(
        oracle.normalized_tables(run["tables"], "crash", f"{WORK}/crash/var/input/", part_of),
        oracle.normalized_tables(reference["tables"], "reference", "", part_of), "crash",
    )


def test_planted_duplicate_in_clickhouse_fails(outputs: Any) -> None:
    reference, run, part_of = outputs
    rows = run["tables"]["raw_events"]
    rows.append(copy.deepcopy(rows[40]))
    problems = _verdict(reference, run, part_of)
    assert any(p.startswith("raw_events: 144 rows vs 143; missing 0 []; extra 1") for p in problems), problems
    assert any("ids more than once" in p for p in problems), problems
    with pytest.raises(AssertionError, match="extra 1"):
        oracle.assert_same_rows(
            oracle.normalized_tables(run["tables"], "crash", f"{WORK}/crash/var/input/", part_of),
            oracle.normalized_tables(reference["tables"], "reference", "", part_of), "crash",
        )


def test_planted_duplicate_in_parquet_fails(outputs: Any) -> None:
    reference, run, part_of = outputs
    rows = next(iter(run["parquet"].values()))
    rows.append(dict(rows[0]))
    problems = _verdict(reference, run, part_of)
    assert any("extra 1" in p and p.startswith("raw_events/") for p in problems), problems
    assert any("Parquet raw_events differ from ClickHouse" in p for p in problems), problems


def test_dropped_row_fails(outputs: Any) -> None:
    reference, run, part_of = outputs
    del run["tables"]["raw_events"][17]
    problems = _verdict(reference, run, part_of)
    assert any(p.startswith("raw_events: 142 rows vs 143; missing 1") for p in problems), problems


def test_dropped_copy_of_identical_dead_letters_fails(outputs: Any) -> None:
    """Identical bad lines are counted: losing one of two identical rows is a loss."""
    reference, run, part_of = outputs
    run["tables"]["dead_letter"].pop()
    problems = _verdict(reference, run, part_of)
    assert any(p.startswith("dead_letter: 1 rows vs 2; missing 1") for p in problems), problems


def test_dropped_parquet_row_and_file_fail(outputs: Any) -> None:
    reference, run, part_of = outputs
    first, second = list(run["parquet"])
    run["parquet"][first].pop()
    assert any(p.startswith(f"{first}: ") and "missing 1" in p for p in _verdict(reference, run, part_of))
    del run["parquet"][second]
    assert any(p.startswith("tables/files: missing") for p in _verdict(reference, run, part_of))


def test_changed_value_fails(outputs: Any) -> None:
    reference, run, part_of = outputs
    run["tables"]["raw_events"][3]["gateway"] = "elsewhere"
    problems = _verdict(reference, run, part_of)
    assert any("missing 1" in p and "extra 1" in p for p in problems), problems


def test_lost_and_doubled_counts_a_planted_duplicate_and_a_dropped_row(outputs: Any) -> None:
    """The counts the outage drills report (tests/reliability/test_outages.py)."""
    reference, run, part_of = outputs
    want = oracle.normalized_tables(reference["tables"], "reference", "", part_of)

    def counts() -> tuple[int, int]:
        got = oracle.normalized_tables(run["tables"], "crash", f"{WORK}/crash/var/input/", part_of)
        return oracle.lost_and_doubled(got, want)

    assert counts() == (0, 0)
    rows = run["tables"]["raw_events"]
    rows.append(copy.deepcopy(rows[40]))
    assert counts() == (0, 1)
    del rows[17]
    assert counts() == (1, 1)
    run["tables"]["dead_letter"].pop()
    assert counts() == (2, 1)
