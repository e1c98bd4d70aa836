"""Sink outages and faults during a redeploy, on a real standalone cluster (issue 18, items 2-3).

Run by tests/reliability/test_outages.py inside a private network namespace (``unshare --net``)
when permitted. Usage::

    python tests/reliability/outage_scenario.py <work> [--events N] [--seed S] [RUN ...]

RUN is any of ``reference redeploy ch60 s3 ch300`` (default: all; ``reference`` is always run).
Prints ``STEP <json>`` lines as it goes and ``RESULT <json>`` at the end.

Input: ``N`` seeded gateway events from bench/generate.py (20 concurrent streams, so 10k events
are ~25 minutes of event time; realistic disorder up to 90 s, repeated deliveries, malformed
lines) without its hours-late deliveries (a restore forgets the source watermark, so an
hours-late line read right after a restart is dropped by a window instead of dead-lettered:
docs/reliability.md, "Root cause: late rows are lost after a restore"), in arrival order, cut
into ``PARTS`` files published one after another once the job has read the previous one (its
source watermark), so every run reads the same lines in the same order. Production's time
settings (120 s allowed lateness, 60 s batches). Every run ends with ``flink stop --drain``.

* ``reference``: no fault: the uninterrupted run every other run is compared with.
* ``ch60`` / ``ch300``: ClickHouse unreachable for 60 s / 300 s from the moment part 2 is
  published. The database is the embedded chDB engine inside the writer's own process, which
  cannot be taken away from it, so the outage is the writer's drill switch
  (``NETPULSE_FAULT_FILE``: every insert attempt fails while the file exists, before the client
  is touched); there is no ClickHouse server in this setup to stop.
* ``s3``: Parquet goes to the local S3 server (SeaweedFS, tests/s3server.py); the server process
  is stopped (SIGTERM) for 60 s from the moment part 2 is published, then started again on the
  same data directory and ports: a real outage.
* ``redeploy``: after part 2, a redeploy (stop-with-savepoint, then a changed release) during
  which the TaskManager is killed (``kill -9``, with its Python workers) as soon as the
  savepoint is in progress; whatever happened to the savepoint, the job then runs the new
  release (redeployed again when the savepoint failed). After part 3, a redeploy of a release
  whose job raises while it is built: the previous release must resume from the savepoint.

During an outage the scenario samples, every 2 s, the job's state, ``numRestarts``, the
source's watermark and the writer's ``netpulse.newest_batch_end_ms`` gauge (REST), and the
newest batch on storage; the lag is the source watermark minus the newest batch written.
Recovery time: outage end -> the first batch file not present before the outage (Parquet is
written right after the ClickHouse insert of the same batch succeeded).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS / "cluster"))
sys.path.insert(0, str(TESTS))

import eo_scenario as eo  # noqa: E402
import kafka_eo_scenario as keo  # noqa: E402
import s3server  # noqa: E402
from eo_probes import (  # noqa: E402
    completed_checkpoints,
    descendants,
    num_restarts,
    source_watermark,
    wait_until,
    writer_warnings,
)

from bench import generate  # noqa: E402
from jobs import settings  # noqa: E402
from jobs.connectors.sinks import batch_end_ms  # noqa: E402
from jobs.naap import sample  # noqa: E402
from jobs.ops import deploy, flink_conf, flink_dist, ledger, lifecycle, releases, rest  # noqa: E402
from tests import netns  # noqa: E402

JOB = "naap"
PARTS = 4
STREAMS = 20
RUNS = ("reference", "redeploy", "ch60", "s3", "ch300")
LATENESS_S = 120
BUCKET = "lake"
JOB_ENV = {
    "NETPULSE_PARALLELISM": "1",
    "NETPULSE_WRITER_PARALLELISM": "1",
    "NETPULSE_MONITOR_INTERVAL_S": "1",
    "NETPULSE_PROGRESS_INTERVAL_S": "0",
    "NETPULSE_ALLOWED_LATENESS_S": str(LATENESS_S),
    # As in the exactly-once drill: the parts arrive in bursts with pauses (outages) between.
    "NETPULSE_SOURCE_IDLE_TIMEOUT_S": "3600",
}
CONF_OVERRIDES = {
    **eo.CONF_OVERRIDES,
    # A loaded machine starves live TaskManagers past an 8 s heartbeat timeout (docs/reliability.md):
    # restarts the outages did not cause would blur the counts.
    "heartbeat.timeout": 20000,
    "metrics.fetcher.update-interval": 2000,
}
NEWEST_BATCH_GAUGE = ".netpulse.newest_batch_end_ms"
_BATCH = re.compile(r"part-(\d{8}-\d{6}-\d+s)\.parquet$")
MIN = -(2**63)


STEPS: list[Path] = []  # <work>/steps.log: follow a run with tail -f


def log(step: str, **fields: Any) -> None:
    line = "STEP " + json.dumps({"step": step, "at": round(time.time(), 1), **fields})
    print(line, flush=True)
    for path in STEPS:
        with path.open("a") as out:
            out.write(line + "\n")


def input_parts(work: Path, events: int, seed: int) -> tuple[list[list[str]], dict[str, int]]:
    out = work / "generated"
    manifest = generate.generate(out, events, seed=seed, streams=STREAMS)
    lines = [line for name in manifest["files"] for line in (out / name).read_text().splitlines() if line]
    late = keo.hours_late(lines)
    kept = [line for line in lines if line not in late]
    size = -(-len(kept) // PARTS)
    chunks = [kept[i : i + size] for i in range(0, len(kept), size)]
    return chunks, {"generated": len(lines), "hours_late_left_out": len(lines) - len(kept), "lines": len(kept)}


# --------------------------------------------------------------------------------------------
# Probes (never the run's database: the job's worker holds it)
# --------------------------------------------------------------------------------------------


def safe(probe: Any, default: Any) -> Any:
    try:
        return probe()
    except Exception:  # noqa: BLE001 - the job is restarting, the REST API busy
        return default


def newest_batch_gauge(job_id: str) -> int:
    """The batch writer's ``netpulse.newest_batch_end_ms`` (0: none written since its start)."""
    best = 0
    for vertex in rest.job_vertices(job_id):
        base = f"jobs/{job_id}/vertices/{vertex['id']}/metrics"
        ids = [m["id"] for m in rest.rest_get(base) if m["id"].endswith(NEWEST_BATCH_GAUGE)]
        if ids:
            values = rest.rest_get(f"{base}?get=" + urllib.parse.quote(",".join(ids), safe=","))
            best = max([best, *(int(float(v["value"])) for v in values if v.get("value") not in (None, ""))])
    return best


class Storage:
    """The run's Parquet output: a local directory or a prefix in the S3 server's bucket."""

    def __init__(self, var: Path, s3: s3server.S3Server | None = None, prefix: str = "") -> None:
        self.var, self.s3, self.prefix = var, s3, prefix

    def files(self) -> set[str]:
        return set(self.modified())

    def modified(self) -> dict[str, float]:
        """Every batch file -> when it was last written (epoch seconds)."""
        if self.s3 is None:
            root = self.var / "parquet"
            return {str(p.relative_to(root)): p.stat().st_mtime for p in root.rglob("part-*.parquet")}
        client = self._client()
        found: dict[str, float] = {}
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=self.prefix + "/"):
            for o in page.get("Contents", []):
                found[o["Key"].removeprefix(self.prefix + "/")] = o["LastModified"].timestamp()
        return found

    def _client(self) -> Any:
        """A client that gives up fast (the server may be down on purpose)."""
        import boto3
        from botocore.config import Config

        assert self.s3 is not None  # noqa: S101
        return boto3.client(
            "s3", endpoint_url=self.s3.endpoint, aws_access_key_id=s3server.ACCESS_KEY,
            aws_secret_access_key=s3server.SECRET_KEY, region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, connect_timeout=2,
                          read_timeout=10),
        )

    def newest_batch_ms(self, files: set[str]) -> int:
        ends = [batch_end_ms(m.group(1)) for f in files if (m := _BATCH.search(f))]
        return max(ends, default=0)

    def download(self) -> int:
        """Copy the S3 objects into ``var/parquet`` (the layout the comparison reads)."""
        if self.s3 is None:
            return 0
        client = self.s3.client()
        files = self.files()
        for rel in files:
            target = self.var / "parquet" / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            client.download_file(BUCKET, f"{self.prefix}/{rel}", str(target))
        return len(files)


# --------------------------------------------------------------------------------------------
# One run of the job
# --------------------------------------------------------------------------------------------


class Run:
    def __init__(self, name: str, work: Path, chunks: list[list[str]], cs: settings.Settings,
                 target: releases.JobTarget, storage_s3: s3server.S3Server | None = None,
                 **extra: str) -> None:
        self.name = name
        self.dir = work / name
        self.var = self.dir / "var"
        (self.var / "input").mkdir(parents=True, exist_ok=True)
        env = {"NETPULSE_VAR_DIR": str(self.var), **JOB_ENV, **extra}
        prefix = f"netpulse-{name}"
        if storage_s3 is not None:
            env.update(NETPULSE_PARQUET_URL=f"s3://{BUCKET}/{prefix}", NETPULSE_S3_ENDPOINT=storage_s3.endpoint,
                       NETPULSE_S3_ACCESS_KEY=s3server.ACCESS_KEY, NETPULSE_S3_SECRET_KEY=s3server.SECRET_KEY)
        self.env = env
        self.settings = settings.load(env)
        self.storage = Storage(self.var, storage_s3, prefix)
        self.chunks = chunks
        self.cs = cs
        self.target = target
        self.job_id = ""
        self.started = time.monotonic()
        self.out: dict[str, Any] = {"timings_s": {}, "samples": []}
        self.newest_gauge = 0

    def timing(self, key: str, seconds: float) -> None:
        self.out["timings_s"][key] = round(seconds, 1)

    def submit(self) -> None:
        job = deploy.submit(JOB, self.settings, target=self.target, timeout=600)
        self.job_id = job.job_id
        self.timing("submit_to_running", job.timings_s["running"])
        log("submit", run=self.name, job_id=self.job_id, timings_s=job.timings_s)

    def publish(self, index: int) -> None:
        sample.publish(self.chunks[index], self.var / "input", f"part-{index + 1}.jsonl", ordered=False)
        log("publish", run=self.name, part=index + 1, lines=len(self.chunks[index]))

    def read(self, index: int, timeout: float = 600) -> float:
        """Wait until the job's source watermark has passed part ``index`` (all of it read)."""
        target = max(sample.envelope_ms(line) for line in self.chunks[index]) - LATENESS_S * 1000
        return wait_until(lambda: safe(lambda: source_watermark(self.job_id), MIN) >= target, timeout,
                          f"{self.name}: part {index + 1} read", 1.0)

    def written(self, files_before: set[str], timeout: float = 600) -> float:
        """Wait until a batch file not in ``files_before`` exists."""
        return wait_until(lambda: bool(safe(self.storage.files, files_before) - files_before), timeout,
                          f"{self.name}: new batches written", 0.5)

    def sample(self, phase: str) -> dict[str, Any]:
        detail = safe(lambda: rest.rest_get(f"jobs/{self.job_id}"), {})
        watermark = safe(lambda: source_watermark(self.job_id), MIN)
        gauge = safe(lambda: newest_batch_gauge(self.job_id), 0)
        self.newest_gauge = max(self.newest_gauge, gauge)
        files = safe(self.storage.files, None)
        newest_file = self.storage.newest_batch_ms(files) if files is not None else None
        entry = {
            "phase": phase, "t": round(time.monotonic() - self.started, 1), "state": detail.get("state"),
            "restarts": safe(lambda: num_restarts(self.job_id), None),
            "source_watermark_ms": watermark if watermark > 0 else None,
            "newest_batch_gauge_ms": gauge or None,
            "newest_batch_file_ms": newest_file,
            # Event time read but not yet written: from the job's own metrics, and from storage.
            "lag_metrics_s": round((watermark - self.newest_gauge) / 1000, 1) if watermark > 0 and self.newest_gauge else None,
            "lag_files_s": round((watermark - newest_file) / 1000, 1) if watermark > 0 and newest_file else None,
        }
        self.out["samples"].append(entry)
        return entry

    def sample_for(self, seconds: float, phase: str) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.sample(phase)
            time.sleep(max(0.0, min(2.0, end - time.monotonic())))

    def finish(self, from_part: int) -> None:
        """Publish the remaining parts (each once the previous is read), then drain."""
        rest.wait_for_state(self.job_id, {"RUNNING"}, timeout=600)
        for i in range(from_part, len(self.chunks)):
            self.publish(i)
            self.read(i)
        eo.drain(self.job_id, self.settings, self.out["timings_s"], "drain_stop")
        self.out["restarts"] = num_restarts(self.job_id)
        self.out["checkpoints"] = completed_checkpoints(self.job_id)[0]
        self.out["ledger_actions"] = [e["action"] for e in ledger.read_ledger(self.settings)]
        self.out["objects_downloaded"] = self.storage.download()
        self.timing("run_total", time.monotonic() - self.started)
        log("drained", run=self.name, restarts=self.out["restarts"])

    def export(self) -> subprocess.Popen:
        return eo.python([str(TESTS / "cluster" / "export_run.py"), str(self.var), str(self.dir / "tables.json")],
                         self.env, self.dir / "export.log")

    def kill_taskmanagers(self) -> dict[str, int]:
        pids = lifecycle.taskmanager_pids(self.cs)
        workers = [child for pid in pids for child in descendants(pid)]
        for pid in pids + workers:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        wait_until(lambda: all(not Path(f"/proc/{p}").exists() for p in pids + workers), 30, "TaskManager gone")
        return {"taskmanagers": len(pids), "python_workers": len(workers)}


# --------------------------------------------------------------------------------------------
# The runs
# --------------------------------------------------------------------------------------------


def run_reference(run: Run) -> None:
    run.submit()
    run.finish(0)


def start_outage(run: Run) -> tuple[set[str], dict[str, Any]]:
    """Part 1 read and written; the state just before the outage begins."""
    run.submit()
    run.publish(0)
    run.read(0)
    run.written(set())
    files = settle(run)
    before = run.sample("before")
    run.out["batch_files_before_outage"] = len(files)
    return files, before


def written_between(run: Run, start: float, end: float) -> int:
    """Batch files (new or rewritten) whose last write falls inside [start, end] (epoch s)."""
    return sum(1 for t in run.storage.modified().values() if start <= t <= end)


def settle(run: Run, quiet_s: float = 6.0) -> set[str]:
    """The batch files once no new one has appeared for ``quiet_s`` (part 1's windows written)."""
    files = run.storage.files()
    while True:
        time.sleep(quiet_s)
        now = run.storage.files()
        if now == files:
            return files
        files = now


def after_outage(run: Run, files_before: set[str], up_at: float, log_dir: Path, warnings_before: int) -> None:
    """Recovery time, the job's failures and warnings, then the rest of the input."""
    waited = 0.0
    while not (safe(run.storage.files, files_before) - files_before):
        run.sample("recovery")
        waited = time.monotonic() - up_at
        if waited > 900:
            raise TimeoutError(f"{run.name}: no new batch within 900 s of the outage's end")
        time.sleep(0.5)
    run.timing("recovery_to_first_new_batch", time.monotonic() - up_at)
    run.out["restarts_at_recovery"] = num_restarts(run.job_id)
    run.read(1)
    wait_until(lambda: run.storage.newest_batch_ms(safe(run.storage.files, set()))
               >= safe(lambda: source_watermark(run.job_id), MIN) - 3 * 60_000, 600, "caught up", 1.0)
    run.timing("recovery_to_caught_up", time.monotonic() - up_at)
    run.sample("caught_up")
    history = safe(lambda: rest.rest_get(f"jobs/{run.job_id}/exceptions"), {})
    entries = history.get("exceptionHistory", {}).get("entries", [])
    run.out["failures"] = [
        {"timestamp_ms": e.get("timestamp"), "first_line": str(e.get("stacktrace") or e.get("exceptionName") or "").splitlines()[0][:300],
         "cause": [x.strip()[:300] for x in str(e.get("stacktrace") or "").splitlines()
                   if "ClickHouse" in x or "Parquet" in x or "S3" in x or "Connection" in x][:4]}
        for e in entries
    ]
    run.out["writer_warnings"] = writer_warnings(log_dir)[warnings_before:]
    run.out["parquet_warnings"] = _taskmanager_lines(log_dir)[:200]
    run.finish(2)


def _taskmanager_lines(log_dir: Path) -> list[str]:
    lines: list[str] = []
    for path in sorted(log_dir.glob("*taskexecutor*.log*")):
        lines += [line for line in path.read_text(errors="replace").splitlines() if "Parquet write of" in line]
    return lines


def run_clickhouse_outage(run: Run, seconds: float, fault: Path, log_dir: Path) -> None:
    files_before, _ = start_outage(run)
    warnings_before = len(writer_warnings(log_dir))
    fault.touch()
    down_at, down_wall = time.monotonic(), time.time()
    log("clickhouse_down", run=run.name, seconds=seconds)
    run.publish(1)
    run.sample_for(seconds, "outage")
    fault.unlink()
    up_at = time.monotonic()
    run.out["batch_files_written_during_outage"] = written_between(run, down_wall, time.time())
    run.timing("outage", up_at - down_at)
    log("clickhouse_up", run=run.name)
    after_outage(run, files_before, up_at, log_dir, warnings_before)


def run_s3_outage(run: Run, seconds: float, s3: s3server.S3Server, log_dir: Path) -> None:
    files_before, _ = start_outage(run)
    warnings_before = len(writer_warnings(log_dir))
    s3.stop()
    down_at, down_wall = time.monotonic(), time.time()
    run.out["s3_exit_code"] = s3.process.returncode
    run.out["s3_answered_while_down"] = s3.answers()
    log("s3_down", run=run.name, seconds=seconds, exit_code=s3.process.returncode)
    run.publish(1)
    run.sample_for(seconds, "outage")
    up_wall = time.time()
    run.timing("s3_restart", s3.restart())
    up_at = time.monotonic()
    run.timing("outage", up_at - down_at)
    log("s3_up", run=run.name)
    run.out["batch_files_written_during_outage"] = written_between(run, down_wall, up_wall)
    after_outage(run, files_before, up_at, log_dir, warnings_before)


def changed_release(release: Path, suffix: str, code: str) -> Path:
    """A copy of ``release`` whose jobs/runtime.py ends with ``code``: another code version."""
    copy = release.with_name(f"{release.name}-{suffix}")
    if not copy.exists():
        shutil.copytree(release, copy)
        runtime_py = copy / "jobs" / "runtime.py"
        runtime_py.write_text(runtime_py.read_text() + "\n" + code + "\n")
    return copy


V2_CODE = "# release 2 of the redeploy drill: same statements and uids, another code hash"
BROKEN_CODE = '''

def build(*args, **kwargs):  # release 3 of the redeploy drill
    raise RuntimeError("release 3 of the redeploy drill fails while building its job")
'''


def savepoint_in_progress(job_id: str, savepoints: Path) -> bool:
    """A savepoint has been triggered and is not complete: its directory exists without its
    ``_metadata`` (the JobManager creates the directory when it triggers the savepoint), or the
    REST checkpoint statistics (cached for a few seconds) list one in progress."""
    if any(not (d / "_metadata").exists() for d in savepoints.glob("savepoint-*")):
        return True
    data = rest.rest_get(f"jobs/{job_id}/checkpoints", timeout=2)
    return any(
        h.get("status") == "IN_PROGRESS" and (h.get("is_savepoint") or "SAVEPOINT" in str(h.get("checkpoint_type", "")))
        for h in data.get("history", [])
    )


def run_redeploy(run: Run, release: Path) -> None:
    v2 = releases.project_target(JOB, changed_release(release, "v2", V2_CODE))
    broken = releases.project_target(JOB, changed_release(release, "broken", BROKEN_CODE))
    run.submit()
    for i in (0, 1):
        run.publish(i)
        run.read(i)
    run.written(set())
    out = run.out

    # 1. The TaskManager dies while the redeploy's stop-with-savepoint is being taken.
    old_job = run.job_id
    result: dict[str, Any] = {}

    def redeploy() -> None:
        try:
            result["deployment"] = deploy.redeploy(JOB, run.settings, target=v2, timeout=600)
        except Exception as exc:  # noqa: BLE001 - recorded: the savepoint may fail
            result["error"] = f"{type(exc).__name__}: {str(exc)[:1500]}"

    thread = threading.Thread(target=redeploy, daemon=True)
    started = time.monotonic()
    thread.start()
    savepoints = flink_dist.ClusterPaths.of(run.settings).savepoints / JOB

    def in_progress() -> bool:
        return bool(safe(lambda: savepoint_in_progress(old_job, savepoints), False))

    wait_until(lambda: in_progress() or not thread.is_alive(), 300, "savepoint in progress", 0.05)
    out["killed_while_savepoint_in_progress"] = in_progress()
    out["kill_after_redeploy_start_s"] = round(time.monotonic() - started, 1)
    out["killed"] = run.kill_taskmanagers()
    killed_at = time.monotonic()
    lifecycle.start_taskmanager(run.cs)
    log("killed_during_savepoint", run=run.name, in_progress=out["killed_while_savepoint_in_progress"])
    thread.join(900)
    out["first_redeploy"] = (
        {"outcome": "completed", "job_id": result["deployment"].job_id, "savepoint": result["deployment"].savepoint_taken}
        if "deployment" in result else {"outcome": "failed", "error": result.get("error", "timed out")}
    )
    live = rest.find_running(JOB)
    if "deployment" in result and live is not None and live.job_id == result["deployment"].job_id:
        run.job_id = live.job_id
        out["after_kill"] = "new release running from the savepoint"
    elif live is not None:
        # The savepoint failed (or the job did not stop): the old job restarts from its last
        # checkpoint; the next redeploy must lose nothing.
        rest.wait_for_state(live.job_id, {"RUNNING"}, timeout=600)
        out["old_job_restarts"] = num_restarts(live.job_id)
        again = deploy.redeploy(JOB, run.settings, target=v2, timeout=600)
        run.job_id = again.job_id
        out["after_kill"] = "old release restarted from its checkpoint, then redeployed"
        out["second_redeploy_savepoint"] = again.savepoint_taken
    else:
        # Stopped with a savepoint, the new release not started: submit it from that savepoint.
        sp = sorted((run.var / "flink-savepoints").rglob("_metadata"), key=lambda p: p.stat().st_mtime)[-1].parent
        again = deploy.submit(JOB, run.settings, f"file://{sp}", target=v2, timeout=600, action="redeploy")
        run.job_id = again.job_id
        out["after_kill"] = "stopped with a savepoint; new release submitted from it"
    rest.wait_for_state(run.job_id, {"RUNNING"}, timeout=600)
    run.timing("kill_to_new_release_running", time.monotonic() - killed_at)
    log("after_kill", run=run.name, outcome=out["after_kill"], job_id=run.job_id)

    # 2. A redeploy whose new release raises while its job is built: the previous one resumes.
    run.publish(2)
    run.read(2)
    before = run.job_id
    started = time.monotonic()
    try:
        deploy.redeploy(JOB, run.settings, target=broken, timeout=600)
        out["broken_redeploy"] = {"refused": False}
        live = rest.find_running(JOB)
        run.job_id = live.job_id if live else run.job_id
    except flink_dist.StartFailedError as exc:
        live = rest.find_running(JOB)
        out["broken_redeploy"] = {
            "refused": True, "error_class": type(exc).__name__, "message": str(exc)[:3000],
            "running_after": live is not None and live.job_id != before,
            "rollback_job_id": live.job_id if live else None,
        }
        if live is not None:
            run.job_id = live.job_id
    run.timing("broken_redeploy_to_previous_running", time.monotonic() - started)
    live_jobs = [j for j in rest.list_jobs() if j.name == JOB and j.state not in rest.TERMINAL]
    out["live_jobs_after_broken_redeploy"] = len(live_jobs)
    out["release_of_running_job"] = (ledger.read_ledger(run.settings) or [{}])[-1].get("release", "")
    out["v2_release"] = str(v2.root)
    log("after_broken_redeploy", run=run.name, **{k: v for k, v in out["broken_redeploy"].items() if k != "message"})
    run.finish(3)


def main(work: Path, events: int, seed: int, runs: list[str]) -> dict[str, Any]:
    started = time.monotonic()
    STEPS.append(work / "steps.log")
    chunks, counts = input_parts(work, events, seed)
    result: dict[str, Any] = {"netns": netns.in_private_netns(), "events": events, "seed": seed, **counts,
                              "parts": [len(c) for c in chunks], "runs": {}, "timings_s": {}}
    cluster_var = work / "cluster"
    cs = settings.load({"NETPULSE_VAR_DIR": str(cluster_var)})
    conf_dir = cluster_var / "test-conf"
    flink_conf.render_conf(cluster_var, conf_dir, overrides=CONF_OVERRIDES)
    os.environ["FLINK_CONF_DIR"] = str(conf_dir)
    release = releases.make_release(cs)
    target = releases.project_target(JOB, release)
    log_dir = flink_dist.ClusterPaths.of(cs).log_dir
    s3 = s3server.start(work / "s3") if "s3" in runs else None
    if s3 is not None:
        s3.client().create_bucket(Bucket=BUCKET)
    exports: list[tuple[subprocess.Popen, Path, str]] = []
    try:
        result["timings_s"]["cluster_start"] = round(lifecycle.start_cluster(cs), 1)
        for name in ["reference", *[r for r in RUNS if r in runs and r != "reference"]]:
            extra = {}
            if name.startswith("ch"):
                extra["NETPULSE_FAULT_FILE"] = str(work / name / "clickhouse-down")
            run = Run(name, work, chunks, cs, target, s3 if name == "s3" else None, **extra)
            migrate = eo.python(["-m", "jobs", "migrate"], run.env, run.dir / "migrate.log")
            eo.finish(migrate, run.dir / "migrate.log", f"migrate {name}")
            log("run", run=name)
            try:
                if name == "reference":
                    run_reference(run)
                elif name == "redeploy":
                    run_redeploy(run, release)
                elif name == "s3":
                    assert s3 is not None  # noqa: S101
                    run_s3_outage(run, 60, s3, log_dir)
                else:
                    run_clickhouse_outage(run, int(name[2:]), Path(extra["NETPULSE_FAULT_FILE"]), log_dir)
            except Exception as exc:  # noqa: BLE001 - recorded (the test fails on it); the next run goes on
                run.out["error"] = f"{type(exc).__name__}: {exc}"[:3000]
                log("error", run=name, error=run.out["error"][:500])
                result["runs"][name] = run.out
                live = safe(lambda: rest.find_running(JOB), None)
                if live is not None:
                    safe(lambda jid=live.job_id: rest.cancel_job(jid), None)
                    safe(lambda jid=live.job_id: rest.wait_for_state(jid, {"CANCELED"}, timeout=120), None)
                if not lifecycle.taskmanager_pids(cs):
                    lifecycle.start_taskmanager(cs)
                if name == "reference":
                    raise
                continue
            result["runs"][name] = run.out
            exports.append((run.export(), run.dir / "export.log", f"export {name}"))
    finally:
        try:
            result["timings_s"]["cluster_stop"] = round(lifecycle.stop_cluster(cs), 1)
        except flink_dist.ClusterError:
            for pid in lifecycle.taskmanager_pids(cs) + lifecycle._daemon_pids(flink_dist.ClusterPaths.of(cs)):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        os.environ.pop("FLINK_CONF_DIR", None)
        if s3 is not None and s3.process.poll() is None:
            s3.stop()
        for proc, path, what in exports:
            eo.finish(proc, path, what)
        result["timings_s"]["total"] = round(time.monotonic() - started, 1)
        (work / "result.json").write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work", type=Path)
    parser.add_argument("runs", nargs="*", help=f"any of {' '.join(RUNS)} (default: all)")
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args()
    if set(args.runs) - set(RUNS):
        parser.error(f"unknown runs {sorted(set(args.runs) - set(RUNS))}; choose from {' '.join(RUNS)}")
    args.work.mkdir(parents=True, exist_ok=True)
    print("RESULT " + json.dumps(main(args.work.resolve(), args.events, args.seed, args.runs or list(RUNS))),
          flush=True)
