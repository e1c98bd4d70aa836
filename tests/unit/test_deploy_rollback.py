"""jobs/ops/deploy.py redeploy: a new version that fails to start gives way to the previous one.

The cluster is replaced by recording fakes (no JVM): the real drill, on a cluster with the naap
job, is tests/reliability/test_outages.py (redeploy of a release whose job raises while built).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from jobs.ops import deploy
from jobs.ops.flink_dist import ClusterError, IncompatiblePlanError, StartFailedError
from jobs.ops.ledger import Deployment
from jobs.ops.releases import JobTarget
from jobs.ops.rest import JobInfo
from jobs.settings import Settings

SAVEPOINT = "file:///var/sp/savepoint-1"


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A fake cluster running job 'old' of release v1; records submits and cancels."""
    state: dict[str, Any] = {"live": [JobInfo("a" * 32, "naap", "RUNNING")], "submits": [], "cancelled": [],
                             "fail_with": None}
    v1 = tmp_path / "releases" / "v1"
    v1.mkdir(parents=True)
    previous = {"release": str(v1), "target": {"module": "jobs", "packages": ["jobs", "udfs"], "args": ["run", "naap"]}}
    monkeypatch.setattr(deploy, "find_running", lambda name: state["live"][0] if state["live"] else None)
    monkeypatch.setattr(deploy, "last_deployment", lambda settings, name: previous)
    monkeypatch.setattr(deploy, "stop_with_savepoint", lambda *a, **k: state["live"].clear() or SAVEPOINT)

    def submit(job_name: str, settings: Settings, savepoint: str | None = None, **kw: Any) -> Deployment:
        state["submits"].append((kw["target"].root.name, savepoint, kw.get("action")))
        if kw.get("action") == "redeploy" and state["fail_with"] is not None:
            if state["fail_with"] == "restarting":  # the job got in, then kept failing
                state["live"].append(JobInfo("b" * 32, job_name, "RESTARTING"))
                raise ClusterError("job naap (bbbb) stayed RESTARTING for 600 s, expected ['RUNNING']")
            raise state["fail_with"]
        job_id = "c" * 32
        state["live"] = [JobInfo(job_id, job_name, "RUNNING")]
        return Deployment(action=kw.get("action", "submit"), job_name=job_name, job_id=job_id, code_hash="",
                          git="", release=str(kw["target"].root))

    def cancel(job_id: str) -> None:
        state["cancelled"].append(job_id)
        state["live"] = [j for j in state["live"] if j.job_id != job_id]

    monkeypatch.setattr(deploy, "submit", submit)
    monkeypatch.setattr(deploy, "cancel_job", cancel)
    monkeypatch.setattr(deploy, "wait_for_state", lambda *a, **k: "CANCELED")
    state["settings"] = Settings(var_dir=tmp_path)
    state["v2"] = JobTarget(name="naap", root=tmp_path / "releases" / "v2", args=("run", "naap"))
    return state


def test_a_release_that_raises_while_built_is_rolled_back(cluster: dict[str, Any]) -> None:
    output = ("Traceback (most recent call last):\n  File \"jobs/runtime.py\", line 9, in build\n"
              "RuntimeError: fails while building its job\n"
              "org.apache.flink.client.program.ProgramAbortException: java.lang.RuntimeException: Python process exits with code: 1\n"
              + "\tat org.apache.flink.client.python.PythonDriver.main(PythonDriver.java:134)\n" * 40)
    cluster["fail_with"] = ClusterError("flink run (naap) failed (exit 1): ...\n" + output[-2000:], output)
    with pytest.raises(StartFailedError) as caught:
        deploy.redeploy("naap", cluster["settings"], target=cluster["v2"])
    message = str(caught.value)
    assert f"did not start from savepoint {SAVEPOINT}" in message
    assert f"previous version runs again from that savepoint as job {'c' * 32}" in message
    # Why, for the operator: the client's Python exception, even below a long Java trace.
    assert "The job's client raised: RuntimeError: fails while building its job" in message
    assert cluster["submits"] == [("v2", SAVEPOINT, "redeploy"), ("v1", SAVEPOINT, "rollback")]
    assert cluster["cancelled"] == []
    assert [j.job_id for j in cluster["live"]] == ["c" * 32]


def test_a_new_version_that_keeps_failing_is_cancelled_before_the_rollback(cluster: dict[str, Any]) -> None:
    cluster["fail_with"] = "restarting"
    with pytest.raises(StartFailedError):
        deploy.redeploy("naap", cluster["settings"], target=cluster["v2"])
    assert cluster["cancelled"] == ["b" * 32]  # never two versions at once
    assert cluster["submits"][-1] == ("v1", SAVEPOINT, "rollback")
    assert [j.job_id for j in cluster["live"]] == ["c" * 32]


def test_an_incompatible_plan_is_still_refused_as_such(cluster: dict[str, Any]) -> None:
    cluster["fail_with"] = IncompatiblePlanError("cannot restore savepoint")
    with pytest.raises(IncompatiblePlanError, match="redeploy refused"):
        deploy.redeploy("naap", cluster["settings"], target=cluster["v2"])
    assert cluster["submits"][-1] == ("v1", SAVEPOINT, "rollback")
