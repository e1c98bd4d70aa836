"""The pipeline on the local standalone cluster: start, submit, wait for FINISHED, measure.

    python -m bench.cluster_leg --input DIR --var DIR --json OUT

Same job and input as the MiniCluster leg of ``bench.run`` (``naap`` over one time-ordered
file, bounded), but submitted with ``flink run`` to a JobManager + TaskManager started from the
project's flink-conf (jobs/ops/flink_conf.py), so the Python workers run in their own processes as in
production. Measured: submit-to-FINISHED seconds (the cluster start is reported apart), peak RSS
and CPU seconds of the JobManager and TaskManager process trees (JVMs and Python workers,
/proc every 0.2 s), and the largest completed checkpoint (full state size) seen while the job
ran. The run's figures go to ``--json``; ``bench.run`` reads them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench.process_tree import CLK_TCK, _proc_table, _tree
from jobs import progress, settings
from jobs.ops import deploy, flink_dist, lifecycle, rest


class ClusterSampler(threading.Thread):
    """Peak summed RSS and CPU ticks of the cluster's process trees, largest checkpoint size."""

    def __init__(self, roots: list[int], job_id: str, interval_s: float = 0.2):
        super().__init__(daemon=True)
        self.roots = roots
        self.job_id = job_id
        self.interval_s = interval_s
        self.peak_kb = 0
        self.cpu_ticks: dict[int, int] = {}
        self.start_ticks: dict[int, int] = {}
        self.checkpoint_bytes = 0
        self.checkpoints = 0
        self.stopped = threading.Event()

    def run(self) -> None:
        last_rest = 0.0
        while not self.stopped.is_set():
            table = _proc_table()
            pids = [p for root in self.roots for p in _tree(table, root)]
            self.peak_kb = max(self.peak_kb, sum(table[p][1] for p in pids))
            for p in pids:
                self.start_ticks.setdefault(p, table[p][2])
                self.cpu_ticks[p] = table[p][2]
            if time.monotonic() - last_rest > 1.0:
                last_rest = time.monotonic()
                self._checkpoints()
            self.stopped.wait(self.interval_s)

    def _checkpoints(self) -> None:
        try:
            stats = rest.rest_get(f"jobs/{self.job_id}/checkpoints")
        except Exception:  # noqa: BLE001 - not yet known, or the job just ended
            return
        counts = stats.get("counts", {})
        self.checkpoints = max(self.checkpoints, int(counts.get("completed", 0)))
        completed = (stats.get("latest") or {}).get("completed") or {}
        size = completed.get("full_size") or completed.get("state_size") or 0
        self.checkpoint_bytes = max(self.checkpoint_bytes, int(size))

    @property
    def cpu_s(self) -> float:
        return sum(self.cpu_ticks[p] - self.start_ticks[p] for p in self.cpu_ticks) / CLK_TCK


def run(input_dir: Path, var_dir: Path, timeout_s: float) -> dict[str, Any]:
    """Run the naap job on the standalone cluster over ``input_dir``; returns the leg's figures."""
    env = dict(os.environ, NETPULSE_VAR_DIR=str(var_dir), NETPULSE_INPUT_PATH=str(input_dir))
    subprocess.run([sys.executable, "-m", "jobs", "migrate"], env=env, check=True, capture_output=True)
    os.environ.update(NETPULSE_VAR_DIR=str(var_dir), NETPULSE_INPUT_PATH=str(input_dir))
    conf = settings.load()
    result: dict[str, Any] = {"cluster_start_s": round(lifecycle.start_cluster(conf), 1)}
    try:
        daemons = lifecycle._daemon_pids(flink_dist.ClusterPaths.of(conf))
        started = time.monotonic()
        deployment = deploy.submit("naap", conf, wait=False, record=False)
        sampler = ClusterSampler(daemons, deployment.job_id)
        sampler.start()
        with progress.report(flink_dist.rest_url(), "naap", conf.progress_interval_s) as reporter:
            if reporter is not None:
                reporter.job_id = deployment.job_id
            state = rest.wait_for_state(deployment.job_id, {"FINISHED"}, timeout=timeout_s)
        result["e2e_s"] = round(time.monotonic() - started, 2)
        sampler.stopped.set()
        sampler.join()
        if state != "FINISHED":
            result["error"] = f"job ended {state}: {rest.job_failure(deployment.job_id)[:2000]}"
        result.update(
            submit_s=deployment.timings_s.get("submit"),
            peak_rss_mb=round(sampler.peak_kb / 1024),
            cpu_s=round(sampler.cpu_s, 1),
            checkpoint_bytes=sampler.checkpoint_bytes,
            checkpoints=sampler.checkpoints,
        )
    finally:
        lifecycle.stop_cluster(conf)
    return result


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.cluster_leg``: one cluster leg, figures to ``--json``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, required=True, help="directory of the input file(s)")
    parser.add_argument("--var", type=Path, required=True, help="var directory of the run")
    parser.add_argument("--json", type=Path, required=True, help="where to write the figures")
    parser.add_argument("--timeout", type=float, default=3600.0)
    args = parser.parse_args(argv)
    result = run(args.input.resolve(), args.var.resolve(), args.timeout)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
    return 0 if "error" not in result else 1


if __name__ == "__main__":
    sys.exit(main())
