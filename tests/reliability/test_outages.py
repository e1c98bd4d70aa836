"""Sink outages and faults during a redeploy: rows delayed, never lost or doubled (issue 18, 2-3).

tests/reliability/outage_scenario.py drives one standalone cluster (inside a private network
namespace when permitted) through five runs of ``naap`` over the same seeded generated events,
published as four files: an uninterrupted ``reference`` run; ClickHouse unreachable for 60 s
(``ch60``) and 300 s (``ch300``, the writer's drill switch: the embedded engine cannot be taken
away from the writer's process); the S3 server stopped for 60 s and restarted on its data and
ports (``s3``); and a ``redeploy`` run with a TaskManager ``kill -9`` during the redeploy's
stop-with-savepoint, then a redeploy of a release that raises while its job is built. Every
run's tables (``FINAL`` where the engine folds) and Parquet files must equal the reference's
as multisets of rows (tests/oracle.py, shown to fail on a planted duplicate and a dropped row
by test_oracle.py), and no event may be in raw_events twice.

``OUTAGE_RUNS`` (space-separated) picks runs, ``OUTAGE_EVENTS`` and ``OUTAGE_SEED`` the input
(default 10 000 events, seed 14). ``OUTAGE_REUSE=<work dir>`` checks the outputs of a finished
scenario again instead of running one (``python tests/reliability/outage_scenario.py <work>``;
``<work>/steps.log`` follows a run as it goes). Results: docs/reliability.md, "Sink outages and faults during
a redeploy".
"""

from __future__ import annotations

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

# ~20-30 minutes of cluster work (a 300 s outage among them): long.
pytestmark = [pytest.mark.slow, pytest.mark.long]

SCENARIO = Path(__file__).resolve().parent / "outage_scenario.py"
PARQUET_TABLES = ("raw_events", "calculated_metrics")
RUNS = os.environ.get("OUTAGE_RUNS", "reference redeploy ch60 s3 ch300").split()


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    reuse = os.environ.get("OUTAGE_REUSE")
    if reuse:
        result = json.loads((Path(reuse) / "result.json").read_text())
        result["work"] = reuse
        return result
    work = tmp_path_factory.mktemp("outages")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NETPULSE_") and k != "FLINK_CONF_DIR"}
    env["PYTHONPATH"] = str(PROJECT_ROOT)
    env.pop(flink_dist.REST_URL_ENV, None)
    argv = [sys.executable, str(SCENARIO), str(work), *RUNS,
            "--events", os.environ.get("OUTAGE_EVENTS", "10000"), "--seed", os.environ.get("OUTAGE_SEED", "14")]
    proc = netns.run_isolated(argv, env=env, timeout=3600)
    (work / "scenario.log").write_text(proc.stdout + "\n" + proc.stderr)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        pytest.fail(f"scenario failed (exit {proc.returncode}):\n{proc.stdout[-6000:]}\n{proc.stderr[-8000:]}")
    result = json.loads(lines[-1].removeprefix("RESULT "))
    result["work"] = str(work)
    return result


def outputs(scenario: dict[str, Any], run: str) -> tuple[dict[str, list[dict[str, Any]]], dict[str, list[dict[str, Any]]]]:
    """(tables, Parquet files) of a run, ``source_position`` relative to its input directory."""
    base = Path(scenario["work"]) / run
    input_dir = f"{base / 'var' / 'input'}/"
    # Every run here, the reference too, is a cluster run over the part files: positions are
    # made relative to the run's own input directory (oracle.normalize's cluster-run case).
    run = f"cluster-{run}"
    tables = oracle.normalized_tables(json.loads((base / "tables.json").read_text()), run, input_dir, {})
    root = base / "var" / "parquet"
    files = {
        str(path.relative_to(root)): [json.loads(oracle.row_key(r)) for r in pq.read_table(path).to_pylist()]
        for table in PARQUET_TABLES for path in sorted((root / table).rglob("part-*.parquet"))
    }
    return tables, oracle.normalized_tables(files, run, input_dir, {})


def compare(scenario: dict[str, Any], run: str) -> dict[str, Any]:
    """Every table and Parquet file equal to the reference's; no event twice. Returns figures."""
    ref_tables, ref_files = outputs(scenario, "reference")
    tables, files = outputs(scenario, run)
    assert len(ref_tables["raw_events"]) > 0.9 * scenario["lines"], "the reference run wrote too few events"
    assert ref_files, "the reference run wrote no Parquet files"
    lost, doubled = oracle.lost_and_doubled(tables, ref_tables)
    lost_pq, doubled_pq = oracle.lost_and_doubled(files, ref_files)
    figures = {
        "rows_compared": sum(map(len, ref_tables.values())) + sum(map(len, ref_files.values())),
        "tables_rows": sum(map(len, tables.values())), "parquet_files": len(files),
        "lost": lost + lost_pq, "doubled": doubled + doubled_pq,
    }
    oracle.assert_same_rows(tables, ref_tables, f"{run}: ClickHouse")
    oracle.assert_same_rows(files, ref_files, f"{run}: Parquet")
    parquet_events = [r for name, rows in files.items() if name.startswith("raw_events/") for r in rows]
    problems = oracle.duplicate_events(tables["raw_events"], parquet_events)
    assert not problems, "\n".join(problems)
    return figures


def outage_figures(run: dict[str, Any]) -> dict[str, Any]:
    samples = run["samples"]
    before = [s["lag_files_s"] for s in samples if s["phase"] == "before" and s["lag_files_s"] is not None]
    during = [s["lag_files_s"] for s in samples if s["phase"] in ("outage", "recovery") and s["lag_files_s"] is not None]
    metrics = [s["lag_metrics_s"] for s in samples if s["phase"] in ("outage", "recovery") and s["lag_metrics_s"] is not None]
    caught = [s["lag_files_s"] for s in samples if s["phase"] == "caught_up" and s["lag_files_s"] is not None]
    return {
        "outage_s": run["timings_s"]["outage"],
        "recovery_s": run["timings_s"]["recovery_to_first_new_batch"],
        "caught_up_s": run["timings_s"]["recovery_to_caught_up"],
        "restarts": run["restarts"],
        "lag_before_s": before[-1] if before else None,
        "lag_peak_s": max(during, default=None),
        "lag_peak_metrics_s": max(metrics, default=None),
        "lag_caught_up_s": caught[-1] if caught else None,
        "run_s": run["timings_s"]["run_total"],
    }


def assert_outage_visible(run: dict[str, Any], figures: dict[str, Any], cause: str, warning: str) -> None:
    # Delayed: nothing new written while the sink was down, written after it came back.
    assert run["batch_files_before_outage"] > 0
    assert run["batch_files_written_during_outage"] == 0  # neither new nor rewritten
    # The job failed on the sink and Flink restarted it (REST numRestarts, exception history),
    # with growing pauses (the writer's attempts, then the restart strategy's backoff).
    assert run["restarts_at_recovery"] >= 1
    failures = "\n".join(c for f in run["failures"] for c in [f["first_line"], *f["cause"]])
    assert cause in failures, failures[:3000]
    attempts = [w for w in run["writer_warnings"] + run.get("parquet_warnings", []) if warning in w and "failed (attempt" in w]
    assert any("attempt 1/6" in w for w in attempts) and any("attempt 6/6" in w for w in attempts), attempts[:8]
    assert all(" WARN " in w for w in attempts)
    # The lag grew while down (event time read, not written) and shrank once caught up.
    assert figures["lag_peak_s"] is not None and figures["lag_before_s"] is not None
    assert figures["lag_peak_s"] > figures["lag_before_s"] + 60, figures
    assert figures["lag_caught_up_s"] is not None and figures["lag_caught_up_s"] < figures["lag_peak_s"], figures
    # The job's own gauge showed it too, while nothing was written (when a sample caught it).
    assert figures["lag_peak_metrics_s"] is None or figures["lag_peak_metrics_s"] > figures["lag_before_s"], figures


def test_runs_in_private_network_namespace_when_permitted(scenario: dict[str, Any]) -> None:
    assert scenario["netns"] == netns.netns_available()
    assert scenario["hours_late_left_out"] < 0.01 * scenario["generated"]


@pytest.mark.parametrize("run", ["ch60", "ch300"])
def test_clickhouse_outage_delays_rows_loses_none(scenario: dict[str, Any], run: str, record_property: Any) -> None:
    if run not in scenario["runs"]:
        pytest.skip(f"{run} not selected (OUTAGE_RUNS)")
    out = scenario["runs"][run]
    assert "error" not in out, out["error"]
    figures = outage_figures(out)
    record_property("figures", figures)
    assert_outage_visible(out, figures, "ClickHouse unavailable (fault file", "insert into naap.")
    if run == "ch300":
        # Five minutes of failures: several restarts, spaced by the restart strategy's backoff.
        assert out["restarts_at_recovery"] >= 3, out["failures"]
    figures.update(compare(scenario, run))
    record_property("figures", figures)


def test_s3_outage_delays_rows_loses_none(scenario: dict[str, Any], record_property: Any) -> None:
    if "s3" not in scenario["runs"]:
        pytest.skip("s3 not selected (OUTAGE_RUNS)")
    out = scenario["runs"]["s3"]
    assert "error" not in out, out["error"]
    figures = outage_figures(out)
    record_property("figures", figures)
    # A real outage: the server process had exited and S3 did not answer.
    assert out["s3_exit_code"] is not None and out["s3_answered_while_down"] is False
    assert out["objects_downloaded"] > 0
    assert_outage_visible(out, figures, "Parquet write of naap.", "Parquet write of naap.")
    figures.update(compare(scenario, "s3"))
    record_property("figures", figures)


def test_taskmanager_killed_during_savepoint_loses_nothing(scenario: dict[str, Any], record_property: Any) -> None:
    if "redeploy" not in scenario["runs"]:
        pytest.skip("redeploy not selected (OUTAGE_RUNS)")
    out = scenario["runs"]["redeploy"]
    assert "error" not in out, out["error"]
    figures = {
        "killed_while_savepoint_in_progress": out["killed_while_savepoint_in_progress"],
        "first_redeploy": out["first_redeploy"]["outcome"],
        "after_kill": out["after_kill"],
        "kill_to_new_release_running_s": out["timings_s"]["kill_to_new_release_running"],
        "run_s": out["timings_s"]["run_total"],
    }
    record_property("figures", figures)
    assert out["killed"]["taskmanagers"] == 1 and out["killed"]["python_workers"] >= 1
    figures.update(compare(scenario, "redeploy"))
    record_property("figures", figures)


def test_redeploy_of_a_release_that_fails_to_start_resumes_the_previous(
    scenario: dict[str, Any], record_property: Any
) -> None:
    if "redeploy" not in scenario["runs"]:
        pytest.skip("redeploy not selected (OUTAGE_RUNS)")
    out = scenario["runs"]["redeploy"]
    assert "error" not in out, out["error"]
    broken = out["broken_redeploy"]
    record_property("figures", {
        "refused": broken["refused"],
        "to_previous_running_s": out["timings_s"]["broken_redeploy_to_previous_running"],
    })
    assert broken["refused"] is True and broken["error_class"] == "StartFailedError"
    assert "fails while building its job" in broken["message"]
    assert re.search(r"previous version runs again from that savepoint as job [0-9a-f]{32}", broken["message"])
    assert broken["running_after"] is True and out["live_jobs_after_broken_redeploy"] == 1
    # The release running afterwards is the previous one (v2), recorded as a rollback.
    assert out["release_of_running_job"] == out["v2_release"]
    assert out["ledger_actions"][0] == "submit" and out["ledger_actions"][-2:] == ["redeploy", "rollback"], (
        out["ledger_actions"]
    )
    compare(scenario, "redeploy")
