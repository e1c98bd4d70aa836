"""Exactly-once from Kafka (issue 14, item 4): a real broker, a real standalone cluster.

tests/cluster/kafka_eo_scenario.py publishes ``KAFKA_EO_EVENTS`` (default 200,000) seeded
synthetic gateway events (plus three identical garbage lines) to a 4-partition topic keyed by
stream id, in chunks while ``naap`` reads it on the standalone cluster, and disrupts the run:
three TaskManager kill -9 at seeded random points, a stop-with-savepoint and redeploy of a
changed version (new release, changed setting), a rescale 1 -> 2 -> 1 through savepoints, and
the broker stopped for 60 s mid-stream. Then an uninterrupted run reads the same topic.

Both runs read the same records at the same offsets, so nothing is normalised: every NaaP
table (``FINAL`` where the engine folds, ``ingestion_timestamp`` excluded) and every Parquet
file must hold the same multiset of canonical rows (tests/oracle.py); no event is written twice;
every published record is accounted for by its topic/partition/offset (an accepted event, a
dead letter, or a repeated delivery folded into an accepted one). The oracle is shown to fail on
a duplicate planted into this run's own output.

A long suite (``bash scripts/test.sh -m long tests/cluster/test_kafka_exactly_once.py -s``;
``KAFKA_EO_EVENTS=20000`` for a quick check); figures in docs/reliability.md.
"""

from __future__ import annotations

import copy
import json
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import oracle
import pyarrow.parquet as pq
import pytest

from jobs.ops import flink_dist
from jobs.settings import PROJECT_ROOT
from tests import netns

pytestmark = [pytest.mark.slow, pytest.mark.long]

SCENARIO = Path(__file__).resolve().parent / "kafka_eo_scenario.py"
EVENTS = int(os.environ.get("KAFKA_EO_EVENTS", "200000"))
# The seed of the input and of the points of the disruptions (docs/reliability.md: 14, 15, 16 run).
SEED = int(os.environ.get("KAFKA_EO_SEED", "14"))
# Leave out the generator's hours-late deliveries (about 0.1% of lines). With them (the default)
# every hours-late record must be accepted or a `late` dead letter in both runs, the same ones
# in both: they were lost after restores until the late marker (docs/reliability.md,
# "Exactly-once from Kafka"); the option remains to tell such a regression from others.
WITHOUT_LATE = os.environ.get("KAFKA_EO_WITHOUT_LATE", "") == "1"
RUNS = ("scenario", "reference")
PARQUET_TABLES = ("raw_events", "calculated_metrics")
SOURCE_JOB = "naap"  # dead letters of the source stage carry the pipeline's name


@pytest.fixture(scope="module")
def drill(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("kafka-exactly-once")
    env = {k: v for k, v in os.environ.items() if k != "FLINK_CONF_DIR" and not k.startswith("NETPULSE_")}
    env["PYTHONPATH"] = str(PROJECT_ROOT)
    env.pop(flink_dist.REST_URL_ENV, None)
    argv = [sys.executable, str(SCENARIO), str(work), "--events", str(EVENTS), "--seed", str(SEED)]
    proc = netns.run_isolated(argv + (["--without-late"] if WITHOUT_LATE else []), env=env, timeout=7200)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        pytest.fail(f"scenario failed (exit {proc.returncode}):\n{proc.stdout[-6000:]}\n{proc.stderr[-8000:]}")
    result = json.loads(lines[-1].removeprefix("RESULT "))
    result["work"] = str(work)
    print(json.dumps(result, indent=2))
    return result


# SummingMergeTree targets of materialized views: their float sums are added up in the order
# in which ClickHouse merges parts, which depends on the order of the inserts (a restart changes
# it), so they agree to ~15 significant digits, not bit for bit: compared at 12.
SUMMED = ("ai_stream_status_5min", "stream_ingest_metrics_hourly")


def tables(drill: dict[str, Any], run: str) -> dict[str, list[dict[str, Any]]]:
    exported = json.loads((Path(drill["work"]) / run / "tables.json").read_text())
    for name in SUMMED:
        exported[name] = [{k: float(f"{v:.12g}") if isinstance(v, float) else v for k, v in r.items()}
                          for r in exported[name]]
    return {name: sorted(rows, key=oracle.row_key) for name, rows in exported.items()}


def parquet_files(drill: dict[str, Any], run: str) -> dict[str, list[dict[str, Any]]]:
    """Relative path of every committed Parquet file -> its rows (canonical, sorted)."""
    root = Path(drill["work"]) / run / "var" / "parquet"
    return {
        str(path.relative_to(root)): sorted(
            (json.loads(oracle.row_key(r)) for r in pq.read_table(path).to_pylist()), key=oracle.row_key
        )
        for table in PARQUET_TABLES
        for path in sorted((root / table).rglob("part-*.parquet"))
    }


def records(drill: dict[str, Any]) -> list[tuple[int, int, str]]:
    path = Path(drill["work"]) / "records.jsonl"
    return [tuple(json.loads(line)) for line in path.read_text().splitlines()]  # type: ignore[misc]


def account(published: list[tuple[int, int, str]], topic: str, out: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Every published record accounted for by its position: exactly one of an accepted event
    (raw_events), a source dead letter, or a repeated delivery of an accepted line."""
    raw = Counter(r["source_position"] for r in out["raw_events"])
    dead = Counter(r["source_position"] for r in out["dead_letter"] if r["job"] == SOURCE_JOB)
    reasons = Counter(r["reason"] for r in out["dead_letter"] if r["job"] == SOURCE_JOB)
    accepted_lines = {r["raw_data"] for r in out["raw_events"]}
    accepted_ids = {r["event_id"] for r in out["raw_events"] if r["event_id"]}
    figures = Counter()
    problems = []
    positions = set()
    for partition, offset, value in published:
        position = f"{topic}/{partition}/{offset}"
        positions.add(position)
        where = raw[position] + dead[position]
        if where > 1:
            problems.append(f"{position}: {raw[position]} raw_events rows and {dead[position]} dead letters")
        elif where == 1:
            figures["accepted" if raw[position] else "dead_letter"] += 1
        elif value in accepted_lines or _event_id(value) in accepted_ids:
            figures["folded_repeat"] += 1
        else:
            problems.append(f"{position}: not accounted for: {value[:120]}")
    foreign = sorted((set(raw) | set(dead)) - positions)
    if foreign:
        problems.append(f"{len(foreign)} rows at positions nobody published, e.g. {foreign[:3]}")
    return {"records": len(published), **figures, "dead_letter_reasons": dict(reasons), "problems": problems}


def _event_id(value: str) -> str | None:
    try:
        event = json.loads(value)
    except ValueError:
        return None
    return event.get("id") or None if isinstance(event, dict) else None


def test_the_drill_disrupted_the_run_as_specified(drill: dict[str, Any]) -> None:
    assert drill["netns"] == netns.netns_available()
    assert drill["records"] == EVENTS + 3 - drill["hours_late_left_out"]
    assert (drill["hours_late_left_out"] > 0) == WITHOUT_LATE
    steps = drill["scenario"]["steps"]
    kills = [s for s in steps if s["step"] == "kill_taskmanager"]
    assert len(kills) == 3
    assert all(k["taskmanagers"] == 1 and k["python_workers"] >= 1 for k in kills), kills
    assert len({k["at_share_of_chunk"] for k in kills}) == 3  # seeded random points inside chunks
    # Every kill made Flink restart the job from its last checkpoint.
    assert all(k["restarts"] >= 1 for k in kills), kills
    deploys = {s["step"]: s for s in steps if "savepoint" in s}
    assert list(deploys) == ["redeploy_version_2", "rescale_to_2", "rescale_to_1"]
    assert deploys["redeploy_version_2"]["code_hash"].endswith("-v2")
    assert [deploys[k]["parallelism"] for k in deploys] == [1, 2, 1]
    assert all(d["savepoint_bytes"] > 0 and d["plan_changed"] is False for d in deploys.values()), deploys
    outage = next(s for s in steps if s["step"] == "broker_restarted")
    assert outage["down_s"] >= 60
    assert drill["scenario"]["ledger_actions"] == ["submit", "redeploy", "redeploy", "redeploy"]


def test_every_table_and_parquet_file_equals_the_uninterrupted_run(drill: dict[str, Any]) -> None:
    got, want = tables(drill, "scenario"), tables(drill, "reference")
    assert len(want["raw_events"]) > 0.9 * EVENTS
    got_pq, want_pq = parquet_files(drill, "scenario"), parquet_files(drill, "reference")
    assert want_pq, "the uninterrupted run wrote no Parquet files"
    oracle.assert_same_rows(got, want, "disrupted run: ClickHouse")
    oracle.assert_same_rows(got_pq, want_pq, "disrupted run: Parquet")


def hours_late_ids(drill: dict[str, Any]) -> set[str]:
    from kafka_eo_scenario import hours_late

    return {_event_id(v) or "" for v in hours_late([v for _, _, v in records(drill)])}


def test_hours_late_deliveries_are_the_same_late_dead_letters_in_both_runs(drill: dict[str, Any]) -> None:
    """The late marker's decision does not depend on restores or on partition interleaving."""
    late_ids = hours_late_ids(drill) - {""}
    by_run = {
        run: sorted(r["event_id"] for r in tables(drill, run)["dead_letter"]
                    if r["job"] == SOURCE_JOB and r["reason"] == "late" and r["event_id"] in late_ids)
        for run in RUNS
    }
    print("hours-late deliveries dead-lettered as late:", {k: len(v) for k, v in by_run.items()},
          "of", len(late_ids))
    assert by_run["scenario"] == by_run["reference"]
    assert (len(by_run["reference"]) > 0) != WITHOUT_LATE


@pytest.mark.parametrize("run", RUNS)
def test_no_event_written_twice(drill: dict[str, Any], run: str) -> None:
    out = tables(drill, run)
    parquet_events = [r for name, rows in parquet_files(drill, run).items() if name.startswith("raw_events/") for r in rows]
    assert not oracle.duplicate_events(out["raw_events"], parquet_events)


@pytest.mark.parametrize("run", RUNS)
def test_every_published_record_is_accounted_for(drill: dict[str, Any], run: str) -> None:
    from kafka_eo_scenario import TOPIC

    figures = account(records(drill), TOPIC, tables(drill, run))
    print(run, json.dumps({k: v for k, v in figures.items() if k != "problems"}))
    assert not figures["problems"], figures["problems"][:10]
    assert figures["accepted"] + figures["dead_letter"] + figures.get("folded_repeat", 0) == drill["records"]
    # The three identical garbage lines: three dead letters (one per offset), not one.
    assert figures["dead_letter_reasons"]["malformed_json"] >= 3


def test_the_oracle_fails_on_a_duplicate_planted_into_this_run(drill: dict[str, Any]) -> None:
    """Planted into tables and files the run got equal (all of them when it passed)."""
    want, want_pq = tables(drill, "reference"), parquet_files(drill, "reference")
    got, got_pq = tables(drill, "scenario"), parquet_files(drill, "scenario")
    before = oracle.differences(got, want) + oracle.differences(got_pq, want_pq)
    equal = [t for t in ("raw_events", "stream_trace_events", "ai_stream_status") if
             not oracle.differences({t: got[t]}, {t: want[t]})]
    assert equal, before
    table = equal[0]
    planted = copy.deepcopy(got)
    planted[table].append(planted[table][len(planted[table]) // 2])
    problems = oracle.differences(planted, want)
    new = [p for p in problems if p not in before]
    assert len(new) == 1 and new[0].startswith(f"{table}:") and "extra 1" in new[0], problems
    if table == "raw_events":
        assert oracle.duplicate_events(planted["raw_events"], [])  # named as an id written twice
    name = next(n for n in sorted(got_pq) if n in want_pq and got_pq[n] == want_pq[n])
    planted_pq = copy.deepcopy(got_pq)
    planted_pq[name].append(planted_pq[name][0])
    new = [p for p in oracle.differences(planted_pq, want_pq) if p not in before]
    assert len(new) == 1 and new[0].startswith(f"{name}:") and "extra 1" in new[0], new
    # ... and on a row lost.
    lost = copy.deepcopy(got)
    lost[table].pop()
    new = [p for p in oracle.differences(lost, want) if p not in before]
    assert len(new) == 1 and new[0].startswith(f"{table}:") and "missing 1" in new[0], new
