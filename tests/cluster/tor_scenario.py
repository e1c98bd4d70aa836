"""tor_relays as a watched job on a real standalone cluster, its state on a real S3 server.

Run by tests/cluster/test_tor_cluster.py inside a private network namespace (``unshare --net``)
when the machine allows it. Usage::

    python tests/cluster/tor_scenario.py <work_dir> [reference] [watched]

(no run names = both). Prints ``RESULT <json>`` with the observations and timings and writes
``<work_dir>/<run>/tables.json`` (tests/cluster/tor_export.py, after the job ended).

* ``reference``: one bounded run over the whole bundled tree (tests/fixtures/tor/collector):
  ``python -m jobs run tor_relays`` on the local MiniCluster, BATCH mode.
* ``watched``: a local S3 server (SeaweedFS, tests/s3server.py) holds the cluster's checkpoints
  and savepoints (``NETPULSE_FLINK_CHECKPOINT_DIR`` / ``..._SAVEPOINT_DIR`` = s3://, the S3
  filesystem plugin of jars.lock). The collector runs as its own process
  (``python -m jobs tor-collect INPUT --watch``) and ``tor_relays`` is submitted watching the
  staged directory (``NETPULSE_MONITOR_INTERVAL_S=1``). The bundled documents arrive hour by
  hour, each group copied into the watched tree atomically once the previous one was read:

  1. everything but the 2018-06-01 consensuses (the 2012 consensus and votes, descriptors,
     bandwidth files, the broken documents);
  2. the 2018-06-01 00:00 + 01:00 consensuses (one CollecTor tarball): the 2012 and 00:00
     hours are written (the watermark is the newest hour read; an hour is written once the
     next one is read);
  3. stop with a savepoint (on S3); the 02:00 consensus arrives while the job is down;
     resubmitted from the savepoint, the job picks the new file up and writes 01:00;
  4. ``redeploy`` (stop with a savepoint and resubmit the current release from it, in one);
  5. ``flink stop --drain``: the end of the watch, the last hour (02:00) is written.

Every group except the first is only read after the previous one, so each hour's documents
are in the relay state before the hour is written, as in the bounded run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

import s3server  # noqa: E402

from jobs import settings  # noqa: E402
from jobs.ops import deploy, flink_conf, ledger, lifecycle, rest, savepoints  # noqa: E402
from tests import netns  # noqa: E402
from tests.waiting import wait_until  # noqa: E402

TREE = ROOT / "tests" / "fixtures" / "tor" / "collector"
JOB = "tor_relays"
BUCKET = "netpulse-state"
TARBALL_2018 = "real/consensuses-2018-06-cropped.tar"  # 2018-06-01 00:00 and 01:00
CONSENSUS_0200 = "derived/2018-06-01-02-00-00-consensus"
# Relays per hour in the bundled tree (tests/minicluster/test_tor_relays.py).
ROWS_2012, ROWS_0000, ROWS_0100, ROWS_0200 = 7, 208, 35, 35
CONF_OVERRIDES = {
    "execution.checkpointing.interval": "2 s",
    "execution.checkpointing.min-pause": "1 s",
}


def groups() -> list[list[str]]:
    """The bundled tree's files (relative paths) in the order they arrive."""
    every = sorted(p.relative_to(TREE).as_posix() for p in TREE.rglob("*") if p.is_file())
    later = {TARBALL_2018, CONSENSUS_0200}
    assert later <= set(every), sorted(later - set(every))
    return [[f for f in every if f not in later], [TARBALL_2018], [CONSENSUS_0200]]


def drop(files: list[str], input_dir: Path) -> None:
    """Copy ``files`` of the bundled tree into the watched tree, each published atomically."""
    for relative in files:
        target = input_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        hidden = target.with_name(f".{target.name}")  # the collector skips dot files
        shutil.copyfile(TREE / relative, hidden)
        os.replace(hidden, target)


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NETPULSE_")}
    env.update(PYTHONPATH=str(ROOT), **extra)
    if netns.NETNS_MARKER in os.environ:
        env[netns.NETNS_MARKER] = os.environ[netns.NETNS_MARKER]
    return env


def python(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    log.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [sys.executable, *args],
        env=clean_env(env),
        cwd=ROOT,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )


def finish(proc: subprocess.Popen, log: Path, what: str, timeout: float = 300) -> None:
    if proc.wait(timeout=timeout) != 0:
        raise RuntimeError(f"{what} failed ({proc.returncode}):\n{log.read_text()[-4000:]}")


def export(run_dir: Path, env: dict[str, str]) -> None:
    log = run_dir / "export.log"
    proc = python(
        [str(Path(__file__).with_name("tor_export.py")), env["NETPULSE_VAR_DIR"],
         str(run_dir / "tables.json")],
        env,
        log,
    )
    finish(proc, log, f"export {run_dir.name}")


# --------------------------------------------------------------------------------------------
# Observing the running job through the REST API (its database is the job's while it runs)
# --------------------------------------------------------------------------------------------


def metric_sum(job_id: str, vertex_part: str, suffix: str) -> float:
    """Sum over subtasks of the metrics ending in ``suffix`` of the vertices named ``*part*``."""
    total = 0.0
    for vertex in rest.job_vertices(job_id):
        if vertex_part not in vertex["name"]:
            continue
        base = f"jobs/{job_id}/vertices/{vertex['id']}/metrics"
        ids = [m["id"] for m in rest.rest_get(base) if m["id"].endswith(suffix)]
        if ids:
            values = rest.rest_get(f"{base}?get=" + urllib.parse.quote(",".join(ids), safe=","))
            total += sum(float(v["value"]) for v in values)
    return total


def rows_written(job_id: str) -> int:
    """relay_snapshot rows the job's writer has inserted (its netpulse.rows_written counter)."""
    return int(metric_sum(job_id, "relay_snapshot hourly writer", "netpulse.rows_written"))


def staged_lines(var_dir: Path) -> int:
    return sum(
        len(p.read_text().splitlines()) for p in (var_dir / "tor" / "staged").glob("[!.]*.jsonl")
    )


def records_read(job_id: str) -> int:
    """Lines read by the job's slowest source (each scan of the staged directory reads all)."""
    counts = []
    for vertex in rest.job_vertices(job_id):
        if not vertex["name"].startswith("Source:"):
            continue
        base = f"jobs/{job_id}/vertices/{vertex['id']}/metrics"
        every = [m["id"] for m in rest.rest_get(base)]
        # the source operator's own output (the vertex chains it with filters)
        ids = [i for i in every if re.match(r"^\d+\.Source__.*\.numRecordsOut$", i)]
        if not ids:
            raise RuntimeError(f"no source output metric on {vertex['name']}: {sorted(every)}")
        values = rest.rest_get(f"{base}?get=" + urllib.parse.quote(",".join(ids), safe=","))
        counts.append(int(sum(float(v["value"]) for v in values)))
    return min(counts) if counts else 0


def completed_checkpoints(job_id: str) -> int:
    data = rest.rest_get(f"jobs/{job_id}/checkpoints")
    return int(data.get("counts", {}).get("completed", 0))


# --------------------------------------------------------------------------------------------
# The runs
# --------------------------------------------------------------------------------------------


def run_reference(work: Path) -> dict[str, Any]:
    run_dir = work / "reference"
    env = {"NETPULSE_VAR_DIR": str(run_dir / "var"), "NETPULSE_INPUT_PATH": str(TREE)}
    started = time.monotonic()
    log = run_dir / "run.log"
    finish(python(["-m", "jobs", "run", JOB], env, log), log, "reference run")
    out = {"timings_s": {"bounded_run": round(time.monotonic() - started, 2)}}
    export(run_dir, env)
    return out


def run_watched(work: Path) -> dict[str, Any]:
    run_dir = work / "watched"
    var, input_dir = run_dir / "var", run_dir / "input"
    input_dir.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {}
    t: dict[str, float] = {}
    out["timings_s"] = t
    started = time.monotonic()
    s3 = s3server.start(work / "s3")
    t["s3_start"] = round(time.monotonic() - started, 2)
    s3.client().create_bucket(Bucket=BUCKET)
    env = {
        "NETPULSE_VAR_DIR": str(var),
        "NETPULSE_INPUT_PATH": str(input_dir),
        "NETPULSE_MONITOR_INTERVAL_S": "1",
        "NETPULSE_FLINK_CHECKPOINT_DIR": f"s3://{BUCKET}/checkpoints",
        "NETPULSE_FLINK_SAVEPOINT_DIR": f"s3://{BUCKET}/savepoints",
        "NETPULSE_S3_ENDPOINT": s3.endpoint,
        "NETPULSE_S3_ACCESS_KEY": s3server.ACCESS_KEY,
        "NETPULSE_S3_SECRET_KEY": s3server.SECRET_KEY,
    }
    s = settings.load(env)
    conf_dir = var / "test-conf"
    flink_conf.render_conf(var, conf_dir, overrides={**flink_conf.state_overrides(s), **CONF_OVERRIDES})
    os.environ["FLINK_CONF_DIR"] = str(conf_dir)  # every CLI call (cluster and job) uses it
    migrate_log = run_dir / "migrate.log"
    finish(python(["-m", "jobs", "migrate"], env, migrate_log), migrate_log, "migrate")
    collector_log = run_dir / "collector.log"
    collector = python(["-m", "jobs", "tor-collect", str(input_dir), "--watch"], env, collector_log)
    first, second, third = groups()
    t["cluster_start"] = round(lifecycle.start_cluster(s), 2)
    try:
        drop(first, input_dir)
        job = deploy.submit(JOB, s)
        t["submit"], t["submit_to_running"] = job.timings_s["submit"], job.timings_s["running"]
        # Group 1 staged and read in full before the 2018 consensuses arrive.
        wait_until(lambda: len(list((var / "tor" / "staged").glob("[!.]*.jsonl"))) >= len(first),
                   60, "group 1 staged")
        t["group1_read"] = wait_until(
            lambda: records_read(job.job_id) >= staged_lines(var), 60, "group 1 read"
        )
        out["group1_lines"] = staged_lines(var)
        drop(second, input_dir)
        t["group2_rows"] = wait_until(
            lambda: rows_written(job.job_id) >= ROWS_2012 + ROWS_0000, 90, "2012 + 00:00 rows"
        )
        out["rows_before_stop"] = rows_written(job.job_id)
        wait_until(lambda: completed_checkpoints(job.job_id) >= 1, 60, "a completed checkpoint")
        out["checkpoints_completed"] = completed_checkpoints(job.job_id)
        out["checkpoint_objects_on_s3"] = len(
            savepoints.s3_objects(f"s3://{BUCKET}/checkpoints/{job.job_id}", s)
        )
        stopped = deploy.stop(JOB, s)
        t["stop_with_savepoint"] = stopped.timings_s["stop_with_savepoint"]
        savepoint = str(stopped.savepoint_taken)
        out["savepoint"] = savepoint
        out["savepoint_bytes"] = savepoints.savepoint_size(savepoint, s)
        out["savepoint_has_metadata"] = any(
            key.endswith("/_metadata") for key, _ in savepoints.s3_objects(savepoint, s)
        )
        # The job is down: the next hour arrives and is staged by the collector meanwhile.
        drop(third, input_dir)
        restored = deploy.submit(JOB, s, savepoint)
        t["restore_submit"] = restored.timings_s["submit"]
        t["restore_to_running"] = restored.timings_s["running"]
        out["same_plan_after_restore"] = [v["id"] for v in restored.vertices] == [
            v["id"] for v in job.vertices
        ]
        t["hour_0100_rows"] = wait_until(
            lambda: rows_written(restored.job_id) >= ROWS_0100, 90, "01:00 rows after restore"
        )
        out["rows_after_restore"] = rows_written(restored.job_id)
        redeployed = deploy.redeploy(JOB, s)
        t["redeploy_total"] = redeployed.timings_s["total"]
        out["redeploy_plan_changed"] = redeployed.plan_changed
        out["redeploy_savepoint"] = redeployed.savepoint_taken
        out["redeploy_savepoint_bytes"] = redeployed.savepoint_bytes
        drain_started = time.monotonic()
        savepoints.stop_with_savepoint(redeployed.job_id, s, drain=True, job_name=JOB)
        t["drain_stop"] = round(time.monotonic() - drain_started, 2)
        out["ledger_actions"] = [e["action"] for e in ledger.read_ledger(s)]
        out["savepoints_on_s3"] = sorted(
            {key.split("/")[2] for key, _ in savepoints.s3_objects(f"s3://{BUCKET}/savepoints", s)}
        )
    finally:
        collector.terminate()
        collector.wait(timeout=30)
        t["cluster_stop"] = round(lifecycle.stop_cluster(s), 2)
        os.environ.pop("FLINK_CONF_DIR", None)
        s3.stop()
    export(run_dir, env)
    return out


def main(work: Path, runs: list[str]) -> dict[str, Any]:
    result: dict[str, Any] = {"netns": netns.in_private_netns(), "runs": {}}
    started = time.monotonic()
    # One Flink at a time on this machine: the reference first, then the cluster.
    if "reference" in runs:
        result["runs"]["reference"] = run_reference(work)
    if "watched" in runs:
        result["runs"]["watched"] = run_watched(work)
    result["timings_s"] = {"total": round(time.monotonic() - started, 2)}
    return result


if __name__ == "__main__":
    work_dir = Path(sys.argv[1]).resolve()
    selected = sys.argv[2:] or ["reference", "watched"]
    print("RESULT " + json.dumps(main(work_dir, selected)), flush=True)
