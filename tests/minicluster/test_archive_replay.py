"""The raw event archive (Parquet) and replays of it: parity with the live run, idempotence."""

import json
import os
import subprocess
import sys

import pyarrow as pa
import pyarrow.dataset as ds
import pytest
from conftest import ROOT, canonical, load_parquet_copy

from jobs.connectors import clickhouse
from jobs.connectors.parquet import RAW_EVENTS_SCHEMA
from jobs.settings import Settings

pytestmark = pytest.mark.slow


_canon = canonical


def test_archive_partitions_and_schema(runs) -> None:  # type: ignore[no-untyped-def]
    runs["p1"].tables()  # wait for the run
    root = runs["p1"].var_dir / "parquet" / "raw_events"
    files = sorted(root.rglob("*.parquet"))
    dirs = {(f.parent.parent.name, f.parent.name) for f in files}
    assert ("event_date=2026-02-22", "event_type=ai_stream_status") in dirs
    assert ("event_date=2026-01-08", "event_type=stream_ingest_metrics") in dirs
    assert all(f.name.startswith("part-") for f in files)
    table = ds.dataset(str(root), format="parquet", partitioning=None).to_table()
    assert table.schema.equals(RAW_EVENTS_SCHEMA.append(pa.field("event_date", pa.date32())))
    live = runs["p1"].tables()["raw_events"]
    assert table.num_rows == len(live) == 143 + 4 + 2 + 14  # real, corpus accepted, scd_sequence, swap_sequence
    assert sorted(table.column("event_id").to_pylist()) == sorted(r["event_id"] for r in live)


def test_archive_loads_back_into_raw_events(runs, migrated: Settings) -> None:  # type: ignore[no-untyped-def]
    runs["p1"].tables()  # wait for the run
    root = runs["p1"].var_dir / "parquet" / "raw_events"
    rows = load_parquet_copy(clickhouse.connect(migrated), "raw_events", root, "archive_load", "event_date")
    assert _canon(rows) == _canon(runs["p1"].tables()["raw_events"])


@pytest.fixture(scope="module")
def replayed(runs, tmp_path_factory):  # type: ignore[no-untyped-def]
    archive = str(runs["p1"].var_dir / "parquet")
    runs["p1"].tables()
    var = tmp_path_factory.mktemp("replay")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NETPULSE_")}
    env.update({"NETPULSE_VAR_DIR": str(var), "PYTHONPATH": str(ROOT)})
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "replay_run.py"), str(var), archive],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    steps = ("fresh", "fresh-again", "replace", "replace-status")
    return {step: json.loads((var / f"tables-{step}.json").read_text()) for step in steps} | {
        f"parquet-{step}": json.loads((var / f"parquet-{step}.json").read_text()) for step in steps
    } | {"stdout": proc.stdout}


def test_replay_reproduces_live_metrics(runs, replayed) -> None:  # type: ignore[no-untyped-def]
    live = runs["p1"].tables()
    assert len(live["calculated_metrics"]) > 50
    assert _canon(replayed["fresh"]["calculated_metrics"]) == _canon(live["calculated_metrics"])
    # the hourly analytics are among them: the replay recomputes them from the archive
    categories = {r["metric_category"] for r in replayed["fresh"]["calculated_metrics"]}
    assert {"scorecard", "demand", "capacity"} <= categories
    for table in ("ai_stream_status", "stream_ingest_metrics", "stream_trace_events", "orchestrator_metadata"):
        assert _canon(replayed["fresh"][table]) == _canon(live[table]), table
    # raw_events: identical but for where the line was read from (the replay's input file)
    assert _canon(replayed["fresh"]["raw_events"], ("source_position",)) == _canon(live["raw_events"], ("source_position",))
    assert "events/s" in replayed["stdout"] and f"{len(live['raw_events'])} archived events to reprocess" in replayed["stdout"]


def test_replay_is_idempotent(replayed) -> None:  # type: ignore[no-untyped-def]
    fresh = replayed["fresh"]
    for step in ("fresh-again", "replace", "replace-status"):
        # a replay of one type reads its own input file: only source_position may differ there
        drop = ("source_position",) if step == "replace-status" else ()
        for table in ("raw_events", "ai_stream_status", "calculated_metrics", "stream_trace_events"):
            assert _canon(replayed[step][table], drop) == _canon(fresh[table], drop), (step, table)


def test_replace_recomputes_history_under_the_current_catalog(replayed) -> None:  # type: ignore[no-untyped-def]
    """tests/replay_run.py adds a version-1 prompt_to_first_frame_latency and a version-1
    runner_to_gateway_latency (removed in version 2) before the --replace step: afterwards the
    range holds exactly the fresh replay's rows (test_replay_is_idempotent), in Parquet as well."""
    from jobs.naap import catalog

    for step in ("fresh", "replace", "replace-status"):
        versions = replayed[f"parquet-{step}"]
        assert not [k for k in versions if k.split("/")[0] in catalog.REMOVED], step
        assert versions == replayed["parquet-fresh"], step
    assert versions["prompt_to_first_frame_latency/2"] == 6  # six requests reached an orchestrator
    assert "prompt_to_first_frame_latency/1" not in versions
    latencies = [r for r in replayed["replace"]["calculated_metrics"] if r["metric_unit"] == "ms"]
    assert latencies and all(r["metric_version"] == 2 for r in latencies)
