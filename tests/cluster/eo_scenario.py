"""Exactly-once on a real standalone cluster: savepoint redeploy, TaskManager crash, sink outage.

Run by tests/cluster/test_exactly_once.py inside a private network namespace (``unshare --net``)
when the machine allows it. Usage::

    python tests/cluster/eo_scenario.py <work_dir> [reference] [savepoint] [crash] [outage]

(no run names = all of them). Writes, per run, ``<work_dir>/<run>/tables.json`` (every NaaP
table, exported by a separate process after the job ended: chDB allows one process per database
directory) next to its Parquet files under ``<work_dir>/<run>/var/parquet``, and prints
``RESULT <json>`` with the observations and timings.

Every run reads the real fixture events (sorted by envelope time) split into ``PARTS`` files,
each published atomically with a distinct name once the previous one has been read (the job's
watermark has reached it), so every run reads the same lines in the same order and late routing
is identical. The cluster runs end with ``flink stop --drain``: MAX_WATERMARK closes every
event-time window and fires the end-of-input timers, as the end of a bounded input does, so a
drained streaming run and the bounded ``reference`` run (the same lines in one file, local
MiniCluster, tests/pipeline_run.py) must write the same rows.

* ``savepoint``: parts 1-2, stop with a savepoint, part 3 published while the job is down,
  resubmit from the savepoint, part 4, drain.
* ``crash``: part 1, wait for a completed checkpoint, part 2, and as soon as its first batches
  are written (after that checkpoint, so they must be replayed), SIGKILL the TaskManager; start
  a new one, Flink restarts the job from the checkpoint; parts 3-4, drain.
* ``outage``: part 1, then the writer's fault file (``NETPULSE_FAULT_FILE``) makes every
  ClickHouse insert fail; part 2 is read but not written until the writer has failed the job at
  least once; remove the file, the restarted job writes the delayed rows; parts 3-4, drain.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from jobs import settings
from jobs.naap import sample
from jobs.ops import deploy, flink_conf, flink_dist, ledger, lifecycle, releases, rest, savepoints
from tests import netns

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eo_probes import (  # noqa: E402
    completed_checkpoints,
    descendants,
    exceptions,
    num_restarts,
    parquet_mtimes,
    parquet_rows,
    source_watermark,
    wait_until,
    writer_warnings,
)

ROOT = Path(__file__).resolve().parents[2]
PARTS = 4
JOB = "naap"
# Small enough that windows close within a part; equal in every run (batch ids name files).
JOB_ENV = {
    "NETPULSE_ALLOWED_LATENESS_S": "5",
    "NETPULSE_BATCH_INTERVAL_S": "5",
    "NETPULSE_METRICS_BATCH_INTERVAL_S": "5",
    "NETPULSE_DEDUP_WINDOW_S": "5",
    "NETPULSE_PARALLELISM": "1",
    "NETPULSE_WRITER_PARALLELISM": "1",
    # Not the default 10 s: the parts arrive in bursts with pauses longer than that, and with
    # the default, rows of the windows still open when the source goes idle are dropped as late
    # downstream once it resumes (see docs/operations.md, "Known issue: idle source").
    "NETPULSE_SOURCE_IDLE_TIMEOUT_S": "3600",
}
# Test cluster: the project config plus a shorter checkpoint interval and fast detection of a
# lost TaskManager (the defaults, 10 s heartbeats with 50 s timeout, would make the crash test
# wait tens of seconds for the JobManager to notice).
CONF_OVERRIDES = {
    "execution.checkpointing.interval": "4 s",
    "execution.checkpointing.min-pause": "1 s",
    "heartbeat.interval": 1000,
    "heartbeat.timeout": 8000,
}


def parts() -> list[list[str]]:
    lines = sorted(sample.fixture_lines(), key=sample.envelope_ms)
    size = -(-len(lines) // PARTS)
    return [lines[i : i + size] for i in range(0, len(lines), size)]


def part_name(index: int) -> str:
    return f"part-{index + 1}.jsonl"


def job_env(var_dir: Path, **extra: str) -> dict[str, str]:
    # The files source fails the job when its directory does not exist yet.
    (var_dir / "input").mkdir(parents=True, exist_ok=True)
    return {"NETPULSE_VAR_DIR": str(var_dir), **JOB_ENV, **extra}


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NETPULSE_")}
    env.update(PYTHONPATH=str(ROOT), **extra)
    if netns.NETNS_MARKER in os.environ:
        env[netns.NETNS_MARKER] = os.environ[netns.NETNS_MARKER]
    return env


def python(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    log.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [sys.executable, *args], env=clean_env(env), cwd=ROOT,
        stdout=log.open("w"), stderr=subprocess.STDOUT,
    )


def finish(proc: subprocess.Popen, log: Path, what: str, timeout: float = 300) -> None:
    if proc.wait(timeout=timeout) != 0:
        raise RuntimeError(f"{what} failed ({proc.returncode}):\n{log.read_text()[-4000:]}")


def export(run_dir: Path) -> subprocess.Popen:
    """Export the run's tables in a separate process (the job's worker held the database)."""
    return python(
        [str(Path(__file__).with_name("export_run.py")), str(run_dir / "var"), str(run_dir / "tables.json")],
        job_env(run_dir / "var"), run_dir / "export.log",
    )


# --------------------------------------------------------------------------------------------
# Observing a running job through the REST API and its Parquet output (never its database).
# --------------------------------------------------------------------------------------------


def wait_read(job_id: str, lines: list[str], timeout: float = 90.0) -> float:
    """Wait until every source of the job has read up to the newest of ``lines`` (watermarks)."""
    target = max(sample.envelope_ms(line) for line in lines) - int(JOB_ENV["NETPULSE_ALLOWED_LATENESS_S"]) * 1000
    started = time.monotonic()
    while source_watermark(job_id) < target:
        if time.monotonic() - started > timeout:
            raise TimeoutError(
                f"job {job_id}: source watermark {source_watermark(job_id)} below {target} after {timeout} s"
            )
        time.sleep(0.5)
    return time.monotonic() - started


def publish(run_var: Path, chunks: list[list[str]], index: int) -> None:
    sample.publish(chunks[index], run_var / "input", part_name(index), ordered=False)


def drain(job_id: str, s: settings.Settings, timings: dict[str, float], key: str) -> None:
    rest.wait_for_state(job_id, {"RUNNING"}, timeout=120)  # not while it restarts
    started = time.monotonic()
    savepoints.stop_with_savepoint(job_id, s, drain=True, job_name=JOB)
    timings[key] = round(time.monotonic() - started, 2)


# --------------------------------------------------------------------------------------------
# The runs
# --------------------------------------------------------------------------------------------


def run_savepoint(work: Path, target: releases.JobTarget, chunks: list[list[str]]) -> dict[str, Any]:
    var = work / "savepoint" / "var"
    s = settings.load(job_env(var, NETPULSE_MONITOR_INTERVAL_S="1"))
    out: dict[str, Any] = {}
    t: dict[str, float] = {}
    out["timings_s"] = t
    first = deploy.submit(JOB, s, target=target)
    t["submit"], t["submit_to_running"] = first.timings_s["submit"], first.timings_s["running"]
    for i in (0, 1):
        publish(var, chunks, i)
        wait_read(first.job_id, chunks[i])
    wait_until(lambda: parquet_rows(var) > 0, 60, "first Parquet rows")
    out["parquet_rows_before_stop"] = parquet_rows(var)
    stopped = deploy.stop(JOB, s)
    t["stop_with_savepoint"] = stopped.timings_s["stop_with_savepoint"]
    savepoint = str(stopped.savepoint_taken)
    out["savepoint"] = savepoint
    out["savepoint_bytes"] = savepoints.savepoint_size(savepoint)
    publish(var, chunks, 2)  # arrives while the job is down
    restored = deploy.submit(JOB, s, savepoint, target=target)
    t["restore_submit"], t["restore_to_running"] = restored.timings_s["submit"], restored.timings_s["running"]
    out["same_plan_after_restore"] = [v["id"] for v in restored.vertices] == [v["id"] for v in first.vertices]
    out["vertices"] = len(first.vertices)
    wait_read(restored.job_id, chunks[2])
    publish(var, chunks, 3)
    wait_read(restored.job_id, chunks[3])
    drain(restored.job_id, s, t, "drain_stop")
    out["ledger_actions"] = [e["action"] for e in ledger.read_ledger(s)]
    return out


def run_crash(
    work: Path, target: releases.JobTarget, chunks: list[list[str]], cluster_settings: settings.Settings
) -> dict[str, Any]:
    var = work / "crash" / "var"
    s = settings.load(job_env(var, NETPULSE_MONITOR_INTERVAL_S="1"))
    out: dict[str, Any] = {}
    t: dict[str, float] = {}
    out["timings_s"] = t
    job = deploy.submit(JOB, s, target=target)
    t["submit"], t["submit_to_running"] = job.timings_s["submit"], job.timings_s["running"]
    publish(var, chunks, 0)
    wait_read(job.job_id, chunks[0])
    wait_until(lambda: parquet_rows(var) > 0, 60, "first Parquet rows")
    # A checkpoint that holds part 1, then part 2 right after it: part 2's batches are written
    # after the last completed checkpoint, so the restart must replay them.
    count = completed_checkpoints(job.job_id)[0]
    wait_until(lambda: completed_checkpoints(job.job_id)[0] > count, 60, "a new checkpoint", 0.1)
    before = parquet_mtimes(var)
    publish(var, chunks, 1)
    wait_until(lambda: parquet_mtimes(var) != before, 30, "part 2 batches written", 0.1)
    written_after_checkpoint = parquet_mtimes(var)
    pids = lifecycle.taskmanager_pids(cluster_settings)
    # The TaskManager dies with the Python workers it started, as a crashed container or
    # systemd unit does. (Killing the JVM alone orphans its Beam workers: they linger, and one
    # keeps the embedded database locked, so the restarted writer cannot open it.)
    workers = [child for pid in pids for child in descendants(pid)]
    killed_at = time.monotonic()
    for pid in pids + workers:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    _, last_checkpoint_ms = completed_checkpoints(job.job_id)
    newest_write_ms = max(written_after_checkpoint.values()) // 1_000_000
    out["killed_taskmanagers"] = len(pids)
    out["killed_python_workers"] = len(workers)
    out["writes_after_last_checkpoint"] = newest_write_ms > last_checkpoint_ms
    wait_until(lambda: all(not Path(f"/proc/{p}").exists() for p in pids + workers), 10, "TaskManager gone")
    lifecycle.start_taskmanager(cluster_settings)
    t["new_taskmanager_started"] = round(time.monotonic() - killed_at, 2)
    # The JobManager notices the lost TaskManager, restarts the job on the new one.
    wait_until(lambda: num_restarts(job.job_id) >= 1, 120, "job restart")
    state = rest.wait_for_state(job.job_id, {"RUNNING"}, timeout=120)
    t["kill_to_running_again"] = round(time.monotonic() - killed_at, 2)
    out["state_after_restart"] = state
    out["restarts"] = num_restarts(job.job_id)
    out["restart_causes"] = [e.splitlines()[0][:300] for e in exceptions(job.job_id)]
    wait_read(job.job_id, chunks[1])
    for i in (2, 3):
        publish(var, chunks, i)
        wait_read(job.job_id, chunks[i])
    drain(job.job_id, s, t, "drain_stop")
    # Files written before the kill and written again (same name) by the restarted job.
    after = parquet_mtimes(var)
    out["rewritten_parquet_files"] = sum(
        1 for p, m in written_after_checkpoint.items() if after.get(p, m) != m
    )
    return out


def run_outage(
    work: Path, target: releases.JobTarget, chunks: list[list[str]], cluster_settings: settings.Settings
) -> dict[str, Any]:
    var = work / "outage" / "var"
    fault = work / "outage" / "clickhouse-down"
    s = settings.load(job_env(var, NETPULSE_MONITOR_INTERVAL_S="1", NETPULSE_FAULT_FILE=str(fault)))
    log_dir = flink_dist.ClusterPaths.of(cluster_settings).log_dir
    out: dict[str, Any] = {}
    t: dict[str, float] = {}
    out["timings_s"] = t
    job = deploy.submit(JOB, s, target=target)
    t["submit"], t["submit_to_running"] = job.timings_s["submit"], job.timings_s["running"]
    publish(var, chunks, 0)
    wait_read(job.job_id, chunks[0])
    wait_until(lambda: parquet_rows(var) > 0, 60, "first Parquet rows")
    time.sleep(2)  # let the writer finish part 1's closed windows
    rows_before = parquet_rows(var)
    warnings_before = len(writer_warnings(log_dir))
    fault.touch()
    down_at = time.monotonic()
    publish(var, chunks, 1)
    wait_read(job.job_id, chunks[1])
    # The writer retries (6 attempts, ~15 s of backoff), then fails the job.
    wait_until(
        lambda: any("ClickHouse insert into" in e for e in exceptions(job.job_id)), 120,
        "writer failure in the job's exception history",
    )
    t["outage_to_first_job_failure"] = round(time.monotonic() - down_at, 2)
    out["parquet_rows_before_outage"] = rows_before
    out["parquet_rows_during_outage"] = parquet_rows(var)
    # First line of each recorded failure plus its lines that name ClickHouse (the cause).
    out["job_exceptions"] = [
        "\n".join([e.splitlines()[0], *[x for x in e.splitlines()[1:] if "ClickHouse" in x]])[:4000]
        for e in exceptions(job.job_id) if e
    ]
    out["restarts_during_outage"] = num_restarts(job.job_id)
    fault.unlink()
    up_at = time.monotonic()
    t["outage_duration"] = round(up_at - down_at, 2)
    wait_until(lambda: parquet_rows(var) > rows_before, 120, "delayed rows written after recovery")
    t["recovery_to_rows"] = round(time.monotonic() - up_at, 2)
    out["parquet_rows_after_recovery"] = parquet_rows(var)
    rest.wait_for_state(job.job_id, {"RUNNING"}, timeout=120)
    for i in (2, 3):
        publish(var, chunks, i)
        wait_read(job.job_id, chunks[i])
    drain(job.job_id, s, t, "drain_stop")
    out["restarts"] = num_restarts(job.job_id)
    out["writer_warnings"] = writer_warnings(log_dir)[warnings_before:]
    return out


def main(work: Path, runs: list[str]) -> dict[str, Any]:
    chunks = parts()
    result: dict[str, Any] = {
        "netns": netns.in_private_netns(),
        "parts": {part_name(i): [json.loads(line)["id"] for line in c] for i, c in enumerate(chunks)},
        "runs": {},
    }
    timings: dict[str, float] = {}
    result["timings_s"] = timings
    started = time.monotonic()
    procs: list[tuple[subprocess.Popen, Path, str]] = []
    if "reference" in runs:
        ref = work / "reference"
        (ref / "var").mkdir(parents=True, exist_ok=True)
        lines_file = ref / "input-lines.jsonl"
        lines_file.write_text("\n".join(line for c in chunks for line in c) + "\n")
        log = ref / "run.log"
        proc = python(
            [str(ROOT / "tests" / "pipeline_run.py"), str(ref / "var"), str(lines_file), JOB],
            job_env(ref / "var"), log,
        )
        procs.append((proc, log, "reference run"))
    cluster_runs = [r for r in ("savepoint", "crash", "outage") if r in runs]
    if cluster_runs:
        migrations = []
        for name in cluster_runs:
            log = work / name / "migrate.log"
            migrations.append((python(["-m", "jobs", "migrate"], job_env(work / name / "var"), log), log))
        for proc, log in migrations:
            finish(proc, log, "migrate")
        cluster_var = work / "cluster"
        cs = settings.load({"NETPULSE_VAR_DIR": str(cluster_var)})
        conf_dir = cluster_var / "test-conf"
        flink_conf.render_conf(cluster_var, conf_dir, overrides=CONF_OVERRIDES)
        os.environ["FLINK_CONF_DIR"] = str(conf_dir)  # every CLI call (cluster and jobs) uses it
        release = releases.make_release(cs)  # one code version for every run
        target = releases.project_target(JOB, release)
        timings["cluster_start"] = round(lifecycle.start_cluster(cs), 2)
        try:
            for name in cluster_runs:
                run_started = time.monotonic()
                if name == "savepoint":
                    out = run_savepoint(work, target, chunks)
                elif name == "crash":
                    out = run_crash(work, target, chunks, cs)
                else:
                    out = run_outage(work, target, chunks, cs)
                out["timings_s"]["run_total"] = round(time.monotonic() - run_started, 2)
                result["runs"][name] = out
                procs.append((export(work / name), work / name / "export.log", f"export {name}"))
        finally:
            timings["cluster_stop"] = round(lifecycle.stop_cluster(cs), 2)
            os.environ.pop("FLINK_CONF_DIR", None)
    for proc, log, what in procs:
        finish(proc, log, what)
    if "reference" in runs:
        ref_run = json.loads((work / "reference" / "var" / "run.json").read_text())
        timings["reference_bounded_run"] = round(ref_run["seconds"], 2)
        (work / "reference" / "var" / "tables.json").replace(work / "reference" / "tables.json")
    timings["total"] = round(time.monotonic() - started, 2)
    return result


if __name__ == "__main__":
    work_dir = Path(sys.argv[1]).resolve()
    selected = sys.argv[2:] or ["reference", "savepoint", "crash", "outage"]
    print("RESULT " + json.dumps(main(work_dir, selected)), flush=True)
