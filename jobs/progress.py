"""Progress of a running job on stderr: events read, their rate, rows written, rejects.

Read from Flink's own metrics through the REST API of the cluster that runs the job (the local
MiniCluster of ``python -m jobs run``, bound to 127.0.0.1 on a free port chosen here, or a
standalone cluster's REST address). One line every NETPULSE_PROGRESS_INTERVAL_S seconds
(0 = off), e.g.::

    progress naap 35 s: 120,400 events read (3,440/s), 96,212 rows written (310 batches), 17 rejects

* events read: the records the source vertices (``Source: ...``) emitted (their ``read-records``);
* rows written: the writers' ``netpulse.rows_written`` counters (jobs/connectors/sinks.py, jobs/tor/writer.py),
  dead-letter rows excluded; batches: the records into the batch writers (naap: one per table
  and batch window; tor: one per relay-hour row), kept after the writer finished;
* rejects: the records into the dead-letter writers (source rejects: decode, validate, late)
  plus the batch writers' ``netpulse.rejects_written`` (parse rejects written to dead_letter).

Writers count a batch once it is written, so in BATCH mode rows written stay 0 until the
stages before the writer have finished (they run one after another). The cluster serves a
task's own metrics only while it runs, and a Python function's counters reach it at the end
of a bundle: a writer that finishes within one bundle (a small input) is never seen with its
counters, only with its batches; the largest value seen is kept.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from jobs.settings import Settings

ROWS = "netpulse.rows_written"
REJECTS = "netpulse.rejects_written"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (for the MiniCluster's REST endpoint)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rest_options(settings: Settings, port: int) -> dict[str, str]:
    """The local cluster's REST endpoint on 127.0.0.1:``port``, metrics refreshed each interval."""
    return {
        "rest.address": "127.0.0.1",
        "rest.bind-address": "127.0.0.1",
        "rest.port": str(port),
        "rest.bind-port": str(port),
        # the REST API serves metrics fetched from the tasks this often (default 10 s)
        "metrics.fetcher.update-interval": f"{min(settings.progress_interval_s, 10) * 1000} ms",
    }


def configure(env: Any, settings: Settings) -> str | None:
    """Bind the local cluster's REST endpoint to 127.0.0.1 on a free port; returns its URL.

    Only when progress is on and ``env`` runs locally. A cluster submission is left alone: there the
    REST options name the cluster the client talks to.
    """
    if settings.progress_interval_s <= 0 or not runs_locally(env):
        return None
    from pyflink.common import Configuration

    port = free_port()
    config = Configuration()
    for key, value in rest_options(settings, port).items():
        config.set_string(key, value)
    env.configure(config)
    return f"http://127.0.0.1:{port}"


def _get(url: str, timeout_s: float = 5.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 - loopback REST
        return json.loads(response.read())


def _sum(values: list[dict[str, Any]]) -> int:
    return int(sum(float(v.get("sum", 0)) for v in values))


class Reporter(threading.Thread):
    """Polls the job's metrics every ``interval_s`` and prints one line to ``out``."""

    def __init__(
        self, rest_url: str, job_name: str, interval_s: float, out: TextIO | None = None, staged: bool = False
    ):
        super().__init__(daemon=True, name=f"progress-{job_name}")
        self.rest_url = rest_url.rstrip("/")
        self.job_name = job_name
        self.interval_s = interval_s
        self.out = out or sys.stderr
        self.stopped = threading.Event()
        self.started_at = time.monotonic()
        self.job_id: str | None = None
        self._ids: dict[str, tuple[list[str], list[str]]] = {}  # vertex: counter ids
        self._seen: dict[str, list[int]] = {}  # vertex: largest rows / rejects written seen
        self.last: dict[str, int] | None = None
        self._last_poll: tuple[float, int] | None = None
        self.lines = 0
        # A bounded run's rows go to staging sinks and are loaded after the job (jobs/connectors/staging.py).
        # Known from the start: BATCH jobs create their downstream vertices only as they get there.
        self.staged = staged

    def run(self) -> None:
        while not self.stopped.wait(self.interval_s):
            try:
                line = self.line()
            except Exception:  # noqa: BLE001, S112 - the cluster is starting or gone: try again
                continue
            if line:
                print(line, file=self.out, flush=True)
                self.lines += 1

    def stop(self) -> None:
        self.stopped.set()

    def _job(self) -> str | None:
        if self.job_id is None:
            jobs = _get(f"{self.rest_url}/jobs/overview")["jobs"]
            mine = [j for j in jobs if j["name"] == self.job_name] or jobs
            if mine:
                self.job_id = max(mine, key=lambda j: j.get("start-time", 0))["jid"]
        return self.job_id

    def _counter_ids(self, vertex_id: str) -> tuple[list[str], list[str]]:
        """The writers' (rows written, rejects written) counter ids of a running vertex."""
        if vertex_id not in self._ids:
            listed = _get(f"{self.rest_url}/jobs/{self.job_id}/vertices/{vertex_id}/subtasks/metrics")
            ids = [m["id"] for m in listed]
            found = ([i for i in ids if i.endswith(ROWS)], [i for i in ids if i.endswith(REJECTS)])
            if not found[0] and not found[1]:
                # A Python writer's counters reach the JVM with its first finished bundle, after
                # the task's own metrics: ask again next time (keeping the empty answer showed
                # "0 rows written" for the whole of a STREAMING run).
                return found
            self._ids[vertex_id] = found
        return self._ids[vertex_id]

    def sample(self) -> dict[str, int] | None:
        """Current totals over the job's vertices, or None before the job is known.

        Events read: the ``read-records`` of the source vertices (a source task counts what its
        source emits as its input), kept by the JobManager after a vertex finished. Source
        rejects: the same of the dead-letter writers (one record per reject). The writers'
        own counters are served only while their vertex runs (in BATCH mode a stage finishes
        and its metrics go), so the largest value seen of each is kept.
        """
        job = self._job()
        if job is None:
            return None
        detail = _get(f"{self.rest_url}/jobs/{job}")
        events = source_rejects = batches = 0
        staged = 0  # rows into a bounded run's staging sinks
        for vertex in detail.get("vertices", []):
            name, io = vertex.get("name", ""), vertex.get("metrics", {})
            if name.startswith("Source"):
                events += int(io.get("read-records", 0))
            if "batch writer" in name or "hourly writer" in name:
                batches += int(io.get("read-records", 0))
            if "dead-letter writer" in name:
                source_rejects += int(io.get("read-records", 0))
            if "Sink: Filesystem" in name:  # a bounded run's staging sinks (jobs/connectors/staging.py)
                staged += int(io.get("read-records", 0))
            if vertex.get("status") != "RUNNING" or "writer" not in name:
                continue  # only the writers (jobs/connectors/sinks.py, jobs/tor/writer.py) have the counters
            rows, rejects = self._counter_ids(vertex["id"])
            if not rows and not rejects:
                continue
            values = _get(
                f"{self.rest_url}/jobs/{job}/vertices/{vertex['id']}/subtasks/metrics"
                f"?get={','.join(rows + rejects)}&agg=sum"
            )
            by_id = {v["id"]: v for v in values}
            seen = self._seen.setdefault(vertex["id"], [0, 0])
            seen[0] = max(seen[0], _sum([by_id[i] for i in rows if i in by_id]))
            seen[1] = max(seen[1], _sum([by_id[i] for i in rejects if i in by_id]))
        return {
            "events": events,
            "batches": batches,
            "staged": staged,
            "rows": sum(v[0] for v in self._seen.values()),
            "rejects": source_rejects + sum(v[1] for v in self._seen.values()),
        }

    def line(self) -> str | None:
        totals = self.sample()
        if totals is None or not totals["events"]:
            return None  # the job is starting: nothing read yet, nothing to say
        now = time.monotonic()
        rate = 0.0
        if self._last_poll is not None and now > self._last_poll[0]:
            rate = (totals["events"] - self._last_poll[1]) / (now - self._last_poll[0])
        self._last_poll = (now, totals["events"])
        self.last = totals
        head = (
            f"progress {self.job_name} {now - self.started_at:.0f} s: "
            f"{totals['events']:,} events read ({rate:,.0f}/s), "
        )
        if self.staged:
            return head + f"{totals['staged']:,} rows staged for the load"
        return head + (
            f"{totals['rows']:,} rows written ({totals['batches']:,} batches), "
            f"{totals['rejects']:,} rejects"
        )


@contextmanager
def report(
    rest_url: str | None, job_name: str, interval_s: float, out: TextIO | None = None, staged: bool = False
) -> Iterator[Reporter | None]:
    """Print progress lines while the body runs (nothing when ``rest_url`` is None)."""
    if not rest_url or interval_s <= 0:
        yield None
        return
    reporter = Reporter(rest_url, job_name, interval_s, out, staged)
    reporter.start()
    try:
        yield reporter
    finally:
        reporter.stop()
        reporter.join(timeout=10)


def loaded(job_name: str, settings: Settings, rows: dict[str, int], seconds: float, out: TextIO | None = None) -> None:
    """The line a bounded run prints once its staged rows are loaded (jobs/connectors/staging.py)."""
    if settings.progress_interval_s <= 0:
        return
    rejects = sum(n for table, n in rows.items() if table.endswith(".dead_letter"))
    print(
        f"progress {job_name}: loaded {sum(rows.values()) - rejects:,} rows into {len(rows)} tables and "
        f"{rejects:,} rejects in {seconds:.1f} s",
        file=out or sys.stderr, flush=True,
    )


def runs_locally(env: Any) -> bool:
    """Whether ``env`` executes on a MiniCluster in this process and waits for the job.

    Under ``flink run -d`` (a cluster submission) the target is remote and detached: waiting
    for the result there would hold the client until a streaming job ends, i.e. forever.
    """
    conf = env._j_stream_execution_environment.getConfiguration().toMap()
    return conf.get("execution.target", "local") == "local" and conf.get("execution.attached", "true") == "true"


def execute(env: Any, job_name: str, settings: Settings, rest_url: str | None, staged: bool = False) -> Any:
    """``env.execute(job_name)`` with progress lines while it runs; returns the JobExecutionResult.

    Only a local, attached run reports (``runs_locally``); anything else is ``env.execute``.
    """
    if not rest_url or settings.progress_interval_s <= 0 or not runs_locally(env):
        return env.execute(job_name)
    client = env.execute_async(job_name)
    with report(rest_url, job_name, settings.progress_interval_s, staged=staged):
        return client.get_job_execution_result().result()
