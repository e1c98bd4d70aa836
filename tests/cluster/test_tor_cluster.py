"""tor_relays on a real standalone cluster: watched directory, savepoints and checkpoints on S3.

tests/cluster/tor_scenario.py submits the Tor job watching a directory that the collector
process stages (``jobs tor-collect --watch``), feeds it the bundled documents hour by hour,
stops it with a savepoint while the next hour arrives, resumes it from that savepoint,
redeploys it, and drains it. The cluster keeps its checkpoints and savepoints on a local S3
server (SeaweedFS) through Flink's S3 filesystem plugin from jars.lock. The job's tables must
equal, row for row, those of one bounded run over the whole tree (``jobs run tor_relays``,
BATCH mode): relay_snapshot compared whole, every aggregate merged and finalized, the dead
letters; no (hour, relay) twice, no hour missing.

The scenario runs in a subprocess inside a private network namespace when ``unshare --net``
is permitted. Three job submissions, a cluster and a reference run take minutes on this
machine, so the module is in the long suite (``bash scripts/test.sh -m long``); the watched
mode itself is also covered by tests/minicluster/test_tor_relays.py in the default run.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from jobs.ops import flink_dist
from jobs.settings import PROJECT_ROOT
from tests import netns

pytestmark = [pytest.mark.slow, pytest.mark.long]

SCENARIO = Path(__file__).resolve().parent / "tor_scenario.py"
ROWS_PER_HOUR = [
    ["2012-07-12 10:00:00", 7, 7],
    ["2018-06-01 00:00:00", 208, 208],
    ["2018-06-01 01:00:00", 35, 35],
    ["2018-06-01 02:00:00", 35, 35],
]


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("tor-cluster")
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
    print(json.dumps(result, indent=2))
    for run in ("reference", "watched"):
        result["runs"][run]["tables"] = json.loads((work / run / "tables.json").read_text())
    return result


def test_checkpoints_and_savepoints_are_on_s3(scenario: dict[str, Any]) -> None:
    watched = scenario["runs"]["watched"]
    assert watched["checkpoints_completed"] >= 1
    assert watched["checkpoint_objects_on_s3"] > 0
    assert watched["savepoint"].startswith("s3://netpulse-state/savepoints/tor_relays/")
    assert watched["savepoint_has_metadata"] is True
    assert watched["savepoint_bytes"] > 0
    assert watched["redeploy_savepoint"].startswith("s3://")
    assert watched["redeploy_savepoint_bytes"] > 0
    # stop, redeploy and the final drain each left one savepoint in the bucket
    assert len(watched["savepoints_on_s3"]) == 3


def test_watched_hours_are_written_as_they_arrive(scenario: dict[str, Any]) -> None:
    watched = scenario["runs"]["watched"]
    # Before the stop: 2012 and 00:00 (01:00 waits for the next hour); after the restore, the
    # 02:00 consensus that arrived while the job was down releases 01:00.
    assert watched["rows_before_stop"] == 7 + 208
    assert watched["rows_after_restore"] == 35


def test_restore_and_redeploy_keep_the_plan(scenario: dict[str, Any]) -> None:
    watched = scenario["runs"]["watched"]
    assert watched["same_plan_after_restore"] is True
    assert watched["redeploy_plan_changed"] is False
    assert watched["ledger_actions"] == ["submit", "stop", "submit", "redeploy"]


def test_no_hour_lost_and_no_relay_written_twice(scenario: dict[str, Any]) -> None:
    for run in ("reference", "watched"):
        assert scenario["runs"][run]["tables"]["per_hour"] == ROWS_PER_HOUR, run


def test_tables_equal_one_bounded_run_over_all_hours(scenario: dict[str, Any]) -> None:
    got = scenario["runs"]["watched"]["tables"]["tables"]
    want = scenario["runs"]["reference"]["tables"]["tables"]
    assert sorted(got) == sorted(want)
    assert len(want["relay_snapshot"]) == 285
    for table in sorted(want):
        assert want[table], f"{table}: the reference has no rows, nothing was compared"
        missing = sorted(set(want[table]) - set(got[table]))
        extra = sorted(set(got[table]) - set(want[table]))
        assert not missing and not extra, (table, missing[:3], extra[:3])
        assert got[table] == want[table], table  # whole lists: duplicates count too
