"""Exactly-once on a real standalone cluster (issue 4, "Done means").

tests/cluster/eo_scenario.py drives one local standalone cluster (from the apache-flink wheel,
on loopback, inside a private network namespace when permitted) through three runs of the
``naap`` pipeline (ingest + metrics) over the real fixture events, published as four files:

* ``savepoint``: stopped with a savepoint half-way, a file added while it is down, resubmitted
  from the savepoint, the rest added;
* ``crash``: the TaskManager is SIGKILLed right after batches were written past the last
  completed checkpoint; a new TaskManager is started and Flink restarts the job from the
  checkpoint (those batches are written a second time);
* ``outage``: the ClickHouse writer fails (drill switch ``NETPULSE_FAULT_FILE``) until the job
  has failed on it, then recovers;

and a bounded ``reference`` run (local MiniCluster) over the same lines in the same order.
Each run's ClickHouse tables (every NaaP table and MV target, ``FINAL`` where the engine folds,
``ingestion_timestamp`` excluded) and Parquet files (path and rows) must equal the reference.

Only the input file differs: the cluster runs read ``part-N.jsonl`` files, the reference one
file. ``source_position`` is therefore compared as the part file that holds the event (asserted
for the cluster runs, derived from the event id for the reference), and ``reject_key`` (a hash
that includes ``source_position``) is left out of the comparison (tests/oracle.py; the oracle
itself is shown to fail on a planted duplicate and a dropped row by tests/reliability/test_oracle.py).

Measured timings are printed (``-s``) and recorded in docs/operations.md.
"""

from __future__ import annotations

import copy
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import oracle
import pyarrow.parquet as pq
import pytest

from jobs.ops import flink_dist
from jobs.settings import PROJECT_ROOT
from tests import netns

# Five minutes of cluster work (three cluster runs and a reference run): a long suite, run with
# `bash scripts/test.sh -m long` (last result in docs/operations.md).
pytestmark = [pytest.mark.slow, pytest.mark.long]

SCENARIO = Path(__file__).resolve().parent / "eo_scenario.py"
CLUSTER_RUNS = ("savepoint", "crash", "outage")
PARQUET_TABLES = ("raw_events", "calculated_metrics")


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("exactly-once")
    env = {k: v for k, v in os.environ.items() if k != "FLINK_CONF_DIR"}
    env["PYTHONPATH"] = str(PROJECT_ROOT)
    env.pop(flink_dist.REST_URL_ENV, None)
    proc = netns.run_isolated([sys.executable, str(SCENARIO), str(work)], env=env, timeout=900)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        pytest.fail(
            f"scenario failed (exit {proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}"
        )
    result = json.loads(lines[-1].removeprefix("RESULT "))
    result["work"] = str(work)
    summary = copy.deepcopy({k: v for k, v in result.items() if k != "parts"})
    for run in summary.get("runs", {}).values():
        run.pop("job_exceptions", None)
        run["writer_warnings"] = run.get("writer_warnings", [])[:3]
    print(json.dumps(summary, indent=2))
    return result


def part_of(scenario: dict[str, Any]) -> dict[str, str]:
    return {event_id: name for name, ids in scenario["parts"].items() for event_id in ids}


def _input_dir(scenario: dict[str, Any], run: str) -> str:
    return f"{scenario['work']}/{run}/var/input/"


def clickhouse_rows(scenario: dict[str, Any], run: str) -> dict[str, list[dict[str, Any]]]:
    tables = json.loads((Path(scenario["work"]) / run / "tables.json").read_text())
    return oracle.normalized_tables(tables, run, _input_dir(scenario, run), part_of(scenario))


def parquet_rows(scenario: dict[str, Any], run: str) -> dict[str, list[dict[str, Any]]]:
    """Relative path of every committed Parquet file -> its rows (normalized, sorted)."""
    root = Path(scenario["work"]) / run / "var" / "parquet"
    files: dict[str, list[dict[str, Any]]] = {}
    for table in PARQUET_TABLES:
        for path in sorted((root / table).rglob("part-*.parquet")):
            rows = [json.loads(oracle.row_key(r)) for r in pq.read_table(path).to_pylist()]
            files[str(path.relative_to(root))] = rows
    return oracle.normalized_tables(files, run, _input_dir(scenario, run), part_of(scenario))


def assert_equals_reference(scenario: dict[str, Any], run: str) -> None:
    reference_ch = clickhouse_rows(scenario, "reference")
    assert sum(map(len, reference_ch.values())) > 0
    assert len(reference_ch["raw_events"]) == sum(len(ids) for ids in scenario["parts"].values())
    oracle.assert_same_rows(clickhouse_rows(scenario, run), reference_ch, f"{run}: ClickHouse")
    reference_pq = parquet_rows(scenario, "reference")
    assert reference_pq, "the reference run wrote no Parquet files"
    oracle.assert_same_rows(parquet_rows(scenario, run), reference_pq, f"{run}: Parquet")


def assert_no_duplicates(scenario: dict[str, Any], run: str) -> None:
    tables = clickhouse_rows(scenario, run)
    files = parquet_rows(scenario, run)
    parquet_events = [r for name, rows in files.items() if name.startswith("raw_events/") for r in rows]
    problems = oracle.duplicate_events(tables["raw_events"], parquet_events)
    assert not problems, "\n".join(problems)


def test_runs_in_private_network_namespace_when_permitted(scenario: dict[str, Any]) -> None:
    assert scenario["netns"] == netns.netns_available()


def test_savepoint_redeploy_equals_uninterrupted_run(scenario: dict[str, Any]) -> None:
    run = scenario["runs"]["savepoint"]
    # Stopped half-way: rows had been written, not all of them.
    assert 0 < run["parquet_rows_before_stop"]
    assert run["savepoint_bytes"] > 0
    assert run["same_plan_after_restore"] is True
    assert run["ledger_actions"] == ["submit", "stop", "submit"]
    assert_equals_reference(scenario, "savepoint")
    assert_no_duplicates(scenario, "savepoint")
    reference_parquet = sum(map(len, parquet_rows(scenario, "reference").values()))
    assert run["parquet_rows_before_stop"] < reference_parquet


def test_taskmanager_crash_restarts_from_checkpoint_without_loss_or_duplicates(
    scenario: dict[str, Any],
) -> None:
    run = scenario["runs"]["crash"]
    assert run["killed_taskmanagers"] == 1
    assert run["restarts"] >= 1
    assert any("TaskManager" in cause for cause in run["restart_causes"]), run["restart_causes"]
    # Batches written after the last completed checkpoint were written again after the restart:
    # the replay really happened, and deduplication had something to do.
    assert run["writes_after_last_checkpoint"] is True
    assert run["rewritten_parquet_files"] > 0
    assert_equals_reference(scenario, "crash")
    assert_no_duplicates(scenario, "crash")


def test_sink_outage_delays_rows_loses_none_and_is_logged(scenario: dict[str, Any]) -> None:
    run = scenario["runs"]["outage"]
    # Delayed: nothing new was written while ClickHouse was "down" (Parquet is written only
    # after the ClickHouse insert of the same batch succeeded) ...
    assert run["parquet_rows_before_outage"] > 0
    assert run["parquet_rows_during_outage"] == run["parquet_rows_before_outage"]
    # ... written once it recovered, after the job failed on it and was restarted.
    assert run["parquet_rows_after_recovery"] > run["parquet_rows_before_outage"]
    assert run["restarts"] >= 1
    # Visible: the job's exception history (REST /jobs/<id>/exceptions) ...
    failures = "\n".join(run["job_exceptions"])
    assert "ClickHouse insert into naap." in failures
    assert "ClickHouse unavailable (fault file" in failures
    # ... and one WARNING per failed attempt, with table and row count, in the TaskManager log.
    warnings = [w for w in run["writer_warnings"] if "failed (attempt" in w]
    assert warnings, run["writer_warnings"]
    assert all(" WARN " in w and "ClickHouse unavailable (fault file" in w for w in warnings)
    assert any(re.search(r"insert into naap\.\w+ failed \(attempt 1/6, \d+ rows\)", w) for w in warnings)
    assert any("attempt 6/6" in w for w in warnings)
    # Lost none, doubled none.
    assert_equals_reference(scenario, "outage")
    assert_no_duplicates(scenario, "outage")
