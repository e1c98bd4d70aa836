"""A real local standalone cluster (from the apache-flink wheel, on loopback) driven by jobs/ops/ (the cluster commands).

The scenario runs in a subprocess inside a private network namespace when ``unshare --net`` is
permitted (root here), so nothing it opens is reachable from outside and port 8081 cannot clash
with another cluster. Timings are printed (run with ``-s``) and recorded in docs/operations.md.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from jobs.ops import flink_dist
from jobs.settings import PROJECT_ROOT
from tests import netns

pytestmark = pytest.mark.slow

SCENARIO = Path(__file__).resolve().parent / "scenario.py"


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    work = tmp_path_factory.mktemp("cluster")
    env = dict(os.environ, PYTHONPATH=str(PROJECT_ROOT))
    env.pop(flink_dist.REST_URL_ENV, None)
    proc = netns.run_isolated([sys.executable, str(SCENARIO), str(work)], env=env, timeout=420)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        pytest.fail(
            f"scenario failed (exit {proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}"
        )
    result = json.loads(lines[-1].removeprefix("RESULT "))
    print(json.dumps(result, indent=2))
    return result


def test_runs_in_private_network_namespace_when_permitted(scenario: dict[str, object]) -> None:
    assert scenario["netns"] == netns.netns_available()


def test_submit_list_and_stop_with_savepoint(scenario: dict[str, object]) -> None:
    assert scenario["listed"] == [["sample", "RUNNING"]]
    assert scenario["savepoint_bytes"] > 0
    assert scenario["rows_after_first_stop"] > 0


def test_restore_keeps_the_plan_and_loses_or_repeats_nothing(scenario: dict[str, object]) -> None:
    assert scenario["same_plan_after_restore"] is True
    # Four stops/restores later, the committed sequence is still exactly 1..N.
    assert scenario["rows"] == scenario["distinct_rows"]
    assert scenario["contiguous"] is True


def test_incompatible_redeploy_is_refused_and_old_version_keeps_running(
    scenario: dict[str, object],
) -> None:
    assert scenario["incompatible_refused"] is True
    assert "cannot restore savepoint" in str(scenario["refusal_message"])
    assert "--force" in str(scenario["refusal_message"])
    assert scenario["running_after_refusal"] is True
    assert scenario["ledger_actions"] == [
        "submit",
        "stop",
        "submit",
        "rollback",
        "redeploy",
        "stop",
    ]


def test_compatible_redeploy_keeps_the_plan(scenario: dict[str, object]) -> None:
    assert scenario["redeploy_plan_changed"] is False
    assert scenario["redeploy_savepoint_bytes"] > 0


def test_taskmanagers_do_not_run_in_the_work_tree(scenario: dict[str, object]) -> None:
    cwds = scenario["taskmanager_cwds"]
    assert cwds, "no TaskManager seen"
    for cwd in cwds:  # type: ignore[attr-defined]
        assert Path(cwd).resolve() != PROJECT_ROOT.resolve() and not (Path(cwd) / "jobs").exists(), cwd


def test_flink_servers_bind_loopback_only(scenario: dict[str, object]) -> None:
    flink_ports = {"8081", "6123", "6124"}
    for address in scenario["listening_while_running"]:
        host, _, port = address.rpartition(":")
        if port in flink_ports:
            assert "127.0.0.1" in host, address
    assert scenario["left_listening"] == [] or not scenario["netns"]
