"""Drive a real local standalone cluster through a deploy cycle; print the measurements as JSON.

Run by tests/cluster/test_cluster.py inside a private network namespace (``unshare --net``) when
the machine allows it, so the cluster's ports and the Python workers' wildcard gRPC ports are
invisible outside. Usage: ``python tests/cluster/scenario.py <work_dir>``.

Steps: start cluster -> submit the sample job -> stop with savepoint -> resubmit from it ->
redeploy an incompatible version (refused, old version restored) -> redeploy a compatible
version -> stop with savepoint ->
stop cluster. The sample job writes a datagen sequence exactly once, so the committed output
must be 1..N with no gap and no duplicate across all the stops and restores.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from jobs import settings
from jobs.ops import deploy, flink_dist, ledger, lifecycle, releases, rest, savepoints
from tests import netns

SAMPLE_ROOT = Path(__file__).resolve().parent / "sample_job"


def target(out_dir: Path, variant: str) -> releases.JobTarget:
    return releases.JobTarget(
        name="sample",
        root=SAMPLE_ROOT,
        module="cluster_sample",
        packages=("cluster_sample",),
        args=("run", "sample", str(out_dir), variant),
    )


def committed(out_dir: Path) -> list[int]:
    """Sequence numbers in committed part files (in-progress files start with a dot)."""
    seqs = []
    for part in sorted(out_dir.rglob("part-*")):
        for line in part.read_text().splitlines():
            seqs.append(json.loads(line)["seq"])
    return seqs


def wait_for_commits(out_dir: Path, minimum: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while len(committed(out_dir)) < minimum:
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"fewer than {minimum} rows committed in {out_dir} after {timeout} s"
            )
        time.sleep(0.5)


def listening() -> list[str]:
    """``address:port`` of every listening TCP socket of a java/python process (``ss``)."""
    out = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True, check=False).stdout
    return sorted(
        line.split()[3] for line in out.splitlines() if "java" in line or "python" in line
    )


def main(work: Path) -> dict[str, object]:
    s = settings.load({"NETPULSE_VAR_DIR": str(work / "var")})
    out_dir = work / "out"
    result: dict[str, object] = {"netns": netns.in_private_netns()}
    timings: dict[str, float] = {}
    result["timings_s"] = timings
    timings["cluster_start"] = round(lifecycle.start_cluster(s), 2)
    try:
        first = deploy.submit("sample", s, target=target(out_dir, "v1"))
        timings["submit"] = first.timings_s["submit"]
        timings["submit_to_running"] = first.timings_s["running"]
        result["listening_while_running"] = listening()
        # Where the TaskManagers (and so their Python workers) run: never the work tree, whose
        # `jobs` package would shadow the release the job shipped (lifecycle.daemon_cwd).
        result["taskmanager_cwds"] = [os.readlink(f"/proc/{pid}/cwd") for pid in lifecycle.taskmanager_pids(s)]
        wait_for_commits(out_dir, 1)
        jobs_now = rest.list_jobs(s)
        result["listed"] = [(j.name, j.state) for j in jobs_now if j.state == "RUNNING"]

        stopped = deploy.stop("sample", s)
        savepoint = str(stopped.savepoint_taken)
        timings["stop_with_savepoint"] = stopped.timings_s["stop_with_savepoint"]
        result["savepoint_bytes"] = savepoints.savepoint_size(savepoint)
        result["rows_after_first_stop"] = len(committed(out_dir))

        restored = deploy.submit("sample", s, savepoint, target=target(out_dir, "v1"))
        timings["restore_submit"] = restored.timings_s["submit"]
        timings["restore_to_running"] = restored.timings_s["running"]
        result["same_plan_after_restore"] = [v["id"] for v in restored.vertices] == [
            v["id"] for v in first.vertices
        ]
        wait_for_commits(out_dir, int(result["rows_after_first_stop"]) + 50)

        started = time.monotonic()
        try:
            deploy.redeploy("sample", s, target=target(out_dir, "v2"))
            result["incompatible_refused"] = False
        except flink_dist.IncompatiblePlanError as exc:
            result["incompatible_refused"] = True
            result["refusal_message"] = str(exc)
        timings["refused_redeploy_with_rollback"] = round(time.monotonic() - started, 2)
        running = rest.find_running("sample")
        result["running_after_refusal"] = running is not None
        wait_for_commits(out_dir, len(committed(out_dir)) + 50)

        # A compatible redeploy (same plan): stop with savepoint + resubmit, state carried over.
        redeployed = deploy.redeploy("sample", s, target=target(out_dir, "v1"))
        timings["compatible_redeploy"] = redeployed.timings_s["total"]
        result["redeploy_plan_changed"] = redeployed.plan_changed
        result["redeploy_savepoint_bytes"] = redeployed.savepoint_bytes
        wait_for_commits(out_dir, len(committed(out_dir)) + 50)

        final = deploy.stop("sample", s)
        timings["final_stop_with_savepoint"] = final.timings_s["stop_with_savepoint"]
        seqs = committed(out_dir)
        result["rows"] = len(seqs)
        result["distinct_rows"] = len(set(seqs))
        result["contiguous"] = sorted(seqs) == list(range(1, len(seqs) + 1))
        result["ledger_actions"] = [e["action"] for e in ledger.read_ledger(s)]
    finally:
        timings["cluster_stop"] = round(lifecycle.stop_cluster(s), 2)
        result["left_listening"] = listening()
    return result


if __name__ == "__main__":
    print("RESULT " + json.dumps(main(Path(sys.argv[1]).resolve())))
