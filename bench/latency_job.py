"""The ``naap`` job of the Kafka latency leg: ``jobs run naap`` plus checkpoints and a ready file.

    python -m bench.latency_job --ready FILE [--checkpoint-ms 2000]    (settings from NETPULSE_*)

A local run (``python -m jobs run naap``) takes no checkpoints, and the Kafka source commits the
consumer group's offsets only on checkpoint: without them the lag Kafka tooling shows would
never move. This runs the same pipeline (jobs/runtime.py: environment, build, execute) with
checkpoints every ``--checkpoint-ms`` into ``$NETPULSE_VAR_DIR/flink-checkpoints``, and writes
``--ready`` (JSON: wall time, job id, REST URL) once every task of the job is RUNNING, so the feed starts
on a running job. Progress lines go to stderr as for ``jobs run``. Runs until it is killed.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from jobs import progress, runtime, settings
from jobs.settings import PROJECT_ROOT

PIPELINE = "naap"


def all_running(rest_url: str) -> str | None:
    """The job id once the job and every one of its vertices are RUNNING, else None."""
    def get(path: str) -> Any:
        with urllib.request.urlopen(f"{rest_url}{path}", timeout=5) as response:  # noqa: S310 - loopback
            return json.loads(response.read())

    jobs = get("/jobs/overview")["jobs"]
    if not jobs:
        return None
    job = max(jobs, key=lambda j: j.get("start-time", 0))
    detail = get(f"/jobs/{job['jid']}")
    vertices = detail.get("vertices", [])
    if detail.get("state") == "RUNNING" and vertices and all(v.get("status") == "RUNNING" for v in vertices):
        return str(job["jid"])
    return None


def job_env(var: Path, bootstrap: str, topic: str, group_id: str, lateness_s: int, **extra: str) -> dict[str, str]:
    """The environment of this job reading ``topic`` unbounded from the earliest offset."""
    return dict(
        os.environ,
        NETPULSE_VAR_DIR=str(var),
        NETPULSE_SOURCE="kafka",
        NETPULSE_KAFKA_BOOTSTRAP=bootstrap,
        NETPULSE_KAFKA_TOPIC=topic,
        NETPULSE_KAFKA_GROUP_ID=group_id,
        NETPULSE_KAFKA_START="earliest-offset",
        NETPULSE_KAFKA_BOUNDED_MODE="unbounded",
        NETPULSE_ALLOWED_LATENESS_S=str(lateness_s),
        **extra,
    )


def start_job(directory: Path, env: dict[str, str], checkpoint_ms: int) -> tuple[subprocess.Popen[bytes], Path, Path]:
    """Migrate, then start this job in its own session; (process, ready file, log)."""
    subprocess.run([sys.executable, "-m", "jobs", "migrate"], env=env, check=True, capture_output=True,
                   cwd=PROJECT_ROOT)
    ready, log = directory / "ready.json", directory / "job.log"
    with log.open("wb") as out:
        job = subprocess.Popen(
            [sys.executable, "-m", "bench.latency_job", "--ready", str(ready), "--checkpoint-ms", str(checkpoint_ms)],
            env=env, stdout=out, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT, start_new_session=True,
        )
    return job, ready, log


def stop_job(job: subprocess.Popen[bytes]) -> None:
    """SIGTERM the job's process group if it still runs; SIGKILL after 60 s."""
    if job.poll() is not None:
        return
    os.killpg(job.pid, signal.SIGTERM)
    try:
        job.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(job.pid, signal.SIGKILL)
        job.wait(timeout=30)


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.latency_job``: run naap unbounded with checkpoints; write --ready when running."""
    parser = argparse.ArgumentParser(prog="python -m bench.latency_job", description=__doc__.splitlines()[0])
    parser.add_argument("--ready", type=Path, required=True, help="written (JSON) once every task runs")
    parser.add_argument("--checkpoint-ms", type=int, default=2000, help="checkpoint (and offset commit) interval")
    parser.add_argument("--timeout-s", type=float, default=300.0, help="give up if the job is not running by then")
    args = parser.parse_args(argv)
    config = settings.load()
    env, t_env = runtime.create_environment(config, PIPELINE)
    from pyflink.common import Configuration

    checkpoints = Configuration()
    checkpoints.set_string("execution.checkpointing.interval", f"{args.checkpoint_ms} ms")
    checkpoints.set_string("execution.checkpointing.storage", "filesystem")
    checkpoints.set_string("execution.checkpointing.dir", (config.var_dir / "flink-checkpoints").resolve().as_uri())
    env.configure(checkpoints)
    env.enable_checkpointing(args.checkpoint_ms)
    runtime.build(env, t_env, config, PIPELINE)
    client = env.execute_async(PIPELINE)
    rest_url = runtime.REST_URLS.get(id(env))
    job_id = None
    deadline = time.monotonic() + args.timeout_s
    while rest_url and job_id is None:
        try:
            job_id = all_running(rest_url)
        except (OSError, ValueError, KeyError):
            pass  # the REST endpoint is starting
        if job_id is None:
            if time.monotonic() > deadline:
                print(f"the job was not running after {args.timeout_s:.0f} s", file=sys.stderr)
                client.cancel().result()
                return 1
            time.sleep(0.5)
    args.ready.write_text(
        json.dumps({"at": time.time(), "job_id": job_id or str(client.get_job_id()), "rest_url": rest_url})
    )
    print(f"job running (tasks RUNNING), ready file {args.ready}", file=sys.stderr, flush=True)
    with progress.report(rest_url, PIPELINE, config.progress_interval_s):
        client.get_job_execution_result().result()
    return 0


if __name__ == "__main__":
    sys.exit(main())
