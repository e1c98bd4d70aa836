"""The soak (issue 18, item 4): ``naap`` fed from Kafka at a steady rate for minutes, sampled every 10 s.

    python tests/reliability/soak_scenario.py WORK [--minutes 20] [--rate 2200] [--checkpoint-ms 10000]
                                                   [--warmup-s 180] [--heap-mb 1344]

The streaming path of bench/latency_kafka.py, for longer: a one-node Apache Kafka broker
(jobs/kafka_broker.py, loopback) and a 4-partition topic; ``naap`` reading it unbounded on the
local MiniCluster with a checkpoint every ``--checkpoint-ms`` (production's 10 s,
flink-conf/config.yaml), on which the consumer group's offsets are committed
(bench/latency_job.py), its JVM heap fixed at ``--heap-mb`` (:data:`JVM_HEAP_MB`); the generated events (bench/generate.py, ``--seed``, default 42: the 5M set for a 20
minute feed at 2,200/s, 2.64M events) read lazily from the files in arrival order, keyed by
stream id and dealt over the partitions (bench.latency_kafka.iter_records), produced at
``--rate`` events/s in acknowledged slices of 0.1 s. Every event id in the set is unique; the
generator's repeated deliveries (the same line again within 20 s) are counted as they are fed
(a sliding window of line digests, not every line).

Every ``--sample-s`` (10) seconds: the latest completed checkpoint (id, full state size,
end-to-end duration; Flink REST ``/jobs/<id>/checkpoints``), the JVM heap used of the
MiniCluster's one TaskManager (``Status.JVM.Memory.Heap.Used``; the JobManager and the client's
gateway share that JVM), the RSS of the job's process tree (the client, the JVM, the Python
workers with the embedded ClickHouse) per command name, the consumer group's lag (records not
committed), the records produced that the job's source has not emitted (Flink's metrics,
refreshed every 5 s) and the load average.

After the feed, until every record is committed and read (at most ``--settle-s``), then a
stop-with-savepoint with ``drain`` (the final watermark flushes every window and buffer, like a
bounded end). Then the checks: every 5-minute jitter window from the first to the last written
(every window the watermark closed during the feed among them) is in the Parquet files; every fed
record is accounted for (``raw_events`` rows + the source's dead letters + the repeated deliveries
folded by the deduplication = records fed) and no record is in ``raw_events`` twice; and the
verdicts of tests/reliability/soak_verdicts.py. Writes ``WORK/result.json`` (figures, verdicts,
every sample) and ``WORK/soak.html`` (one chart per series), prints a table and a last line
``RESULT <figures as JSON, without the samples>``.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
for path in (str(ROOT), str(HERE)):
    if path not in sys.path:
        sys.path.insert(0, path)

import soak_verdicts  # noqa: E402

from bench import latency_job  # noqa: E402
from bench import latency_kafka as lk  # noqa: E402
from bench.latency_windows import WINDOW_MS, dataset_for, window_closes, written_windows  # noqa: E402
from bench.process_tree import tree_cpu_s, tree_rss_kb  # noqa: E402
from jobs import progress  # noqa: E402
from jobs.connectors import kafka  # noqa: E402
from jobs.ops import kafka_broker  # noqa: E402

GROUP_ID = "netpulse-soak"
SOURCE_JOB = "naap"  # dead letters of the source stages (decode, validate, late) carry the pipeline's name
REPEAT_WINDOW = 50_000  # lines: ~13 min of event time, the generator repeats a line within 20 s
# The MiniCluster's one JVM hosts the JobManager and the TaskManager: its heap is bounded like
# theirs on a cluster with flink-conf/config.yaml (TaskManager 896 MB + JobManager 448 MB of heap),
# fixed from the start (-Xms) so that the RSS measures what is kept, not how far G1 has grown
# its heap (left alone it takes up to a quarter of the machine's memory, 6 GB here).
JVM_HEAP_MB = 1344
# NETPULSE_STATE_TTL_S of the soak's job. The feed compresses event time: at 2,200 events/s it
# runs ~34x event time (200 concurrent streams, ~65 events per second of event time), so
# production's one day would be weeks of event time, never reached in 20 minutes. 120 s (a key
# is kept 120-180 s after its last row) is 68-100 minutes of event time at that rate, more than
# twice the longest generated session (30 min): no live stream or request loses its state, and
# the state of ended ones is dropped within the warm-up (the verdicts skip the first 3 minutes).
STATE_TTL_S = 120
SERIES = ("state_bytes", "over_state_bytes", "checkpoint_ms", "heap_bytes", "rss_kb", "lag", "unread")


def _get(url: str, timeout_s: float = 5.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 - loopback REST
        return json.loads(response.read())


def _post(url: str, body: dict[str, Any], timeout_s: float = 10.0) -> Any:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",  # noqa: S310
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 - loopback REST
        return json.loads(response.read())


def is_event(line: str) -> bool:
    """A JSON object with a ``type``: what a repeated delivery is (bench/generate.py repeats only events)."""
    try:
        value = json.loads(line)
    except ValueError:
        return False
    return isinstance(value, dict) and "type" in value


class Repeats:
    """Counts events seen again among the last ``window`` lines (the generator's repeated deliveries).

    Only events (:func:`is_event`) count: the generator's constant broken lines (``}{``, ``[]``,
    ``{}``, a 502 page, ...) recur by chance, and each copy is a dead letter of its own.
    """

    def __init__(self, window: int = REPEAT_WINDOW):
        self.window = window
        self.recent: collections.deque[bytes] = collections.deque()
        self.seen: collections.Counter[bytes] = collections.Counter()
        self.count = 0
        self.lines = 0

    def through(self, lines: Iterable[str]) -> Iterator[str]:
        """``lines`` unchanged, counting the repeats as they pass."""
        for line in lines:
            digest = hashlib.blake2b(line.encode(), digest_size=12).digest()
            if self.seen[digest] and is_event(line):
                self.count += 1
            self.seen[digest] += 1
            self.recent.append(digest)
            if len(self.recent) > self.window:
                old = self.recent.popleft()
                self.seen[old] -= 1
                if not self.seen[old]:
                    del self.seen[old]
            self.lines += 1
            yield line


class Sampler(threading.Thread):
    """Every ``interval_s``: one sample of every series (see the module docstring)."""

    def __init__(self, rest_url: str, job_id: str, job_pid: int, bootstrap: str, interval_s: float):
        super().__init__(daemon=True, name="soak-sampler")
        self.rest_url, self.job_id, self.job_pid, self.bootstrap = rest_url, job_id, job_pid, bootstrap
        self.interval_s = interval_s
        self.reporter = progress.Reporter(rest_url, "naap", interval_s)
        self.samples: list[dict[str, Any]] = []
        self.stopped = threading.Event()
        self.phase = "start"
        self.t0 = time.time()
        self.produced = 0
        self.tm_id: str | None = None
        self.over_vertices: set[str] | None = None
        self.over_state: tuple[Any, int | None] = (None, None)

    def run(self) -> None:
        while not self.stopped.wait(self.interval_s - (time.time() - self.t0) % self.interval_s):
            self.samples.append(self.sample())

    def _checkpoint(self) -> dict[str, Any]:
        try:
            stats = _get(f"{self.rest_url}/jobs/{self.job_id}/checkpoints")
        except (OSError, ValueError):
            return {}
        counts = stats.get("counts", {})
        done = (stats.get("latest") or {}).get("completed") or {}
        return {
            "over_state_bytes": self._over_state(done.get("id")),
            "checkpoint_id": done.get("id"),
            "state_bytes": done.get("state_size"),
            "checkpointed_bytes": done.get("checkpointed_size"),
            "checkpoint_ms": done.get("end_to_end_duration"),
            "checkpoints_completed": counts.get("completed"),
            "checkpoints_failed": counts.get("failed"),
        }

    def _over_state(self, checkpoint_id: Any) -> int | None:
        """The state of checkpoint ``checkpoint_id`` in the ``OverAggregate`` vertices: the per-key
        state no window closes (the warm-up flag per stream, the running values per request),
        which ``NETPULSE_STATE_TTL_S`` bounds."""
        if checkpoint_id is None or self.over_state[0] == checkpoint_id:
            return self.over_state[1]
        try:
            if self.over_vertices is None:
                vertices = _get(f"{self.rest_url}/jobs/{self.job_id}")["vertices"]
                self.over_vertices = {v["id"] for v in vertices if "OverAggregate" in v["name"]}
            tasks = _get(f"{self.rest_url}/jobs/{self.job_id}/checkpoints/details/{checkpoint_id}")["tasks"]
        except (OSError, ValueError, KeyError):
            return self.over_state[1]
        total = sum(int(t.get("state_size") or 0) for vid, t in tasks.items() if vid in self.over_vertices)
        self.over_state = (checkpoint_id, total)
        return total

    def _heap(self) -> dict[str, Any]:
        try:
            if self.tm_id is None:
                self.tm_id = _get(f"{self.rest_url}/taskmanagers")["taskmanagers"][0]["id"]
            names = "Status.JVM.Memory.Heap.Used,Status.JVM.Memory.Heap.Committed,Status.JVM.Memory.Heap.Max"
            values = {m["id"]: float(m["value"]) for m in _get(f"{self.rest_url}/taskmanagers/{self.tm_id}/metrics?get={names}")}
        except (OSError, ValueError, KeyError, IndexError):
            return {}
        return {"heap_bytes": values.get("Status.JVM.Memory.Heap.Used"),
                "heap_committed_bytes": values.get("Status.JVM.Memory.Heap.Committed"),
                "heap_max_bytes": values.get("Status.JVM.Memory.Heap.Max")}

    def sample(self) -> dict[str, Any]:
        at = time.time()
        produced = self.produced
        try:
            totals = self.reporter.sample()
        except (OSError, ValueError, KeyError):
            totals = None
        read = None if totals is None else totals["events"]
        rss = tree_rss_kb(self.job_pid)
        return {
            "t_s": round(at - self.t0, 1), "phase": self.phase, "produced": produced, "read": read,
            "unread": None if read is None else produced - read,
            "lag": lk.total_lag(self.bootstrap, GROUP_ID),
            **self._checkpoint(), **self._heap(),
            "rss_kb": sum(rss.values()) or None, "rss_by_command_kb": rss, "cpu_s": round(tree_cpu_s(self.job_pid), 1),
            "load1": round(os.getloadavg()[0], 2),
        }


def stop_with_drain(rest_url: str, job_id: str, directory: Path, job: subprocess.Popen[bytes],
                    timeout_s: float = 600.0) -> str:
    """Stop-with-savepoint with ``drain`` (the final watermark flushes every window); the savepoint path.

    The job's process (bench/latency_job.py) exits as soon as the job has finished, taking the
    MiniCluster's REST endpoint with it, often before the status was polled: then a clean exit
    and a savepoint with its ``_metadata`` in ``directory`` are the answer.
    """
    trigger = _post(f"{rest_url}/jobs/{job_id}/stop", {"drain": True, "targetDirectory": directory.resolve().as_uri()})
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            status = _get(f"{rest_url}/jobs/{job_id}/savepoints/{trigger['request-id']}")
        except OSError:
            if job.poll() is None:
                time.sleep(2)
                continue
            saved = sorted(directory.glob("savepoint-*/_metadata"))
            if job.returncode == 0 and saved:
                return str(saved[-1].parent)
            raise RuntimeError(f"the job exited ({job.returncode}) during stop --drain; savepoints: {saved}") from None
        if status["status"]["id"] == "COMPLETED":
            operation = status.get("operation", {})
            if "failure-cause" in operation:
                raise RuntimeError(f"stop --drain failed: {str(operation['failure-cause'])[:2000]}")
            return str(operation.get("location"))
        time.sleep(2)
    raise RuntimeError(f"stop --drain not completed after {timeout_s:.0f} s")


def count_outputs(var: Path) -> dict[str, Any]:
    """Rows of the finished run's database: raw_events (distinct positions), dead letters by job/stage/reason."""
    from jobs import settings
    from jobs.connectors import clickhouse

    client = clickhouse.connect(settings.load({"NETPULSE_VAR_DIR": str(var)}))
    raw, positions = client.query("SELECT count(), uniqExact(source_position) FROM naap.raw_events").result_rows[0]
    dead = client.query(
        "SELECT job, stage, reason, count() FROM naap.dead_letter FINAL GROUP BY job, stage, reason ORDER BY 4 DESC"
    ).result_rows
    overlap = client.query(
        "SELECT count() FROM naap.raw_events WHERE source_position IN "
        f"(SELECT source_position FROM naap.dead_letter FINAL WHERE job = '{SOURCE_JOB}')"
    ).result_rows[0][0]
    tables = {
        name: client.query(f"SELECT count() FROM naap.{name}").result_rows[0][0]
        for name in ("ai_stream_status", "stream_ingest_metrics", "stream_trace_events", "calculated_metrics",
                     "orchestrator_metadata")
    }
    return {
        "raw_events": int(raw), "raw_events_positions": int(positions),
        "source_dead_letters": sum(int(n) for job, _, _, n in dead if job == SOURCE_JOB),
        "dead_letters": [[job, stage, reason, int(n)] for job, stage, reason, n in dead],
        "raw_and_dead_letter_positions": int(overlap), "tables": {k: int(v) for k, v in tables.items()},
    }


def window_check(parquet: Path, marks: list[tuple[float, int]], lateness_ms: int) -> dict[str, Any]:
    """Every jitter window from the first to the last written is in the Parquet files; those closed in the feed too."""
    written = written_windows(parquet)
    closed = window_closes(marks, lateness_ms)
    if not written:
        return {"written": 0, "closed_during_feed": len(closed), "missing": sorted(closed)}
    expected = set(range(min(written), max(written) + 1, WINDOW_MS)) | set(closed)
    return {"written": len(written), "closed_during_feed": len(closed), "missing": sorted(expected - set(written)),
            "first_end_ms": min(written), "last_end_ms": max(written)}


def run(work: Path, minutes: float, rate: int, *, checkpoint_ms: int = 10_000, sample_s: float = 10.0,
        settle_s: float = 600.0, data: Path | None = None, warmup_s: float = soak_verdicts.WARMUP_S,
        heap_mb: int = JVM_HEAP_MB, seed: int = 42, state_ttl_s: int = STATE_TTL_S) -> dict[str, Any]:
    """One soak; returns its figures (see the module docstring)."""
    events = int(rate * minutes * 60)
    data = data or dataset_for(ROOT / "var" / "bench", events, seed)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    var = work / "var"
    load_before = round(os.getloadavg()[0], 1)
    broker = kafka_broker.start(work / "kafka")
    job: subprocess.Popen[bytes] | None = None
    sampler: Sampler | None = None
    repeats = Repeats()
    marks: list[tuple[float, int]] = []
    fed = 0
    timings: dict[str, float] = {}
    savepoint = None
    not_read_at_stop: int | None = None
    try:
        kafka.ensure_topic(broker.bootstrap, lk.TOPIC, lk.PARTITIONS)
        env = latency_job.job_env(var, broker.bootstrap, lk.TOPIC, GROUP_ID, lk.LATENESS_S, PYTHONPATH=str(ROOT),
                         JVM_ARGS=f"-Xms{heap_mb}m -Xmx{heap_mb}m", NETPULSE_STATE_TTL_S=str(state_ttl_s))
        job, ready, log = latency_job.start_job(work, env, checkpoint_ms)
        started = time.time()
        _, rest_url = lk.wait_ready(job, ready, log, 300.0)
        if rest_url is None:
            raise RuntimeError("the job has no REST endpoint to sample")
        job_id = json.loads(ready.read_text())["job_id"]
        timings["job_start_s"] = round(time.time() - started, 1)

        from confluent_kafka import Producer

        errors: list[str] = []
        producer = Producer({
            "bootstrap.servers": broker.bootstrap, "enable.idempotence": True, "acks": "all", "linger.ms": 5,
            "log_level": 3, "delivery.report.only.error": True, "on_delivery": lambda err, _m: errors.append(str(err)),
        })
        sampler = feeding = Sampler(rest_url, job_id, job.pid, broker.bootstrap, sample_s)
        sampler.phase = "feed"
        sampler.start()

        def on_slice(_at: float, sent: int) -> None:
            feeding.produced = sent

        records = lk.iter_records(repeats.through(lk.iter_lines(data, events)))
        marks, fed = lk.feed(producer, records, rate, on_slice)
        feed_s = time.time() - sampler.t0
        del producer
        if errors:
            raise RuntimeError(f"{len(errors)} records were not delivered; first: {errors[0]}")
        sampler.phase = "settle"
        settle_start = time.time()
        drained_at = None
        while time.time() < settle_start + settle_s:
            if job.poll() is not None:
                raise RuntimeError(f"the job exited ({job.returncode}) during the soak; see {log}")
            lag = lk.total_lag(broker.bootstrap, GROUP_ID)
            read = lk.records_read(rest_url)
            if lag == 0 and read is not None and read >= fed:
                drained_at = time.time()
                break
            time.sleep(2)
        timings["feed_s"] = round(feed_s, 1)
        timings["drain_s"] = round(drained_at - settle_start, 1) if drained_at else -1.0
        sampler.phase = "stop"
        stopping = time.time()
        savepoint = stop_with_drain(rest_url, job_id, work / "savepoints", job)
        job.wait(timeout=600)
        timings["stop_drain_s"] = round(time.time() - stopping, 1)
        # The savepoint committed the group's offsets: what is left is what the job never read.
        not_read_at_stop = lk.total_lag(broker.bootstrap, GROUP_ID)
    finally:
        if sampler is not None:
            sampler.stopped.set()
            sampler.join(timeout=60)
        if job is not None:
            latency_job.stop_job(job)
        broker.stop()
        shutil.rmtree(work / "kafka" / "data", ignore_errors=True)  # the topic's log: ~0.75 GB per 1M events
    samples = sampler.samples if sampler else []
    outputs = count_outputs(var)
    accounted = outputs["raw_events"] + outputs["source_dead_letters"] + repeats.count
    result: dict[str, Any] = {
        "minutes": minutes, "rate": rate, "events_fed": fed, "achieved_rate": round(fed / timings["feed_s"]),
        "checkpoint_ms": checkpoint_ms, "sample_s": sample_s, "jvm_heap_mb": heap_mb, "data": str(data), "work": str(work),
        "seed": seed, "state_ttl_s": state_ttl_s,
        "savepoint": savepoint, "timings": timings, "job_exit": job.returncode if job else None,
        "load_before": load_before,
        "load_during": _load_figures([s["load1"] for s in samples if s["phase"] == "feed"]),
        "accounting": {"fed": fed, "raw_events": outputs["raw_events"], "source_dead_letters": outputs["source_dead_letters"],
                       "folded_repeats": repeats.count, "accounted": accounted, "unaccounted": fed - accounted,
                       # records the job never read (the settle deadline passed): unaccounted, not lost
                       "not_read_at_stop": not_read_at_stop,
                       "doubled_in_raw_events": outputs["raw_events"] - outputs["raw_events_positions"],
                       "raw_and_dead_letter_positions": outputs["raw_and_dead_letter_positions"]},
        "dead_letters": outputs["dead_letters"], "tables": outputs["tables"],
        "windows": window_check(var / "parquet", marks, lk.LATENESS_S * 1000),
        "verdicts": soak_verdicts.verdicts(samples, checkpoint_interval_s=checkpoint_ms / 1000, rate=rate,
                                           warmup_s=warmup_s),
        "first_last": first_last(samples, warmup_s),
        "plot": str(work / "soak.html"),
        "samples": samples,
    }
    (work / "result.json").write_text(json.dumps(result, indent=1) + "\n")
    plot(samples, work / "soak.html", warmup_s, f"soak: {minutes:g} min at {rate:,} events/s")
    return result


def _load_figures(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {"min": min(values), "mean": round(sum(values) / len(values), 1), "max": max(values)}


def first_last(samples: list[dict[str, Any]], warmup_s: float) -> dict[str, list[Any]]:
    """Per series: [first sample, first after the warm-up, last of the feed]."""
    feed = [s for s in samples if s["phase"] == "feed"]
    out = {}
    for name in SERIES:
        values = [(s["t_s"], s[name]) for s in feed if s.get(name) is not None]
        if values:
            warm = next((v for t, v in values if t >= warmup_s), None)
            out[name] = [values[0][1], warm, values[-1][1]]
    return out


def plot(samples: list[dict[str, Any]], path: Path, warmup_s: float, title: str, plotlyjs: str | bool = True) -> None:
    """One chart per series (state, checkpoint duration, heap, RSS, lag) in one HTML file.

    ``plotlyjs``: True inlines plotly.js (~4.8 MB, viewable offline); "cdn" loads it from the
    plotly CDN (the copies kept in docs/soak/, ~0.1 MB).
    """
    from plotly.subplots import make_subplots

    rows = [("state size (MB)", [("state", "state_bytes", 1e-6)]),
            ("state of the OverAggregates (kB)", [("per-key state", "over_state_bytes", 1e-3)]),
            ("checkpoint end-to-end (s)", [("duration", "checkpoint_ms", 1e-3)]),
            ("JVM heap used (MB)", [("heap", "heap_bytes", 1e-6), ("per-minute minimum", None, 1e-6)]),
            ("RSS of the job's processes (MB)", [("total", "rss_kb", 1 / 1024)]),
            ("records behind", [("not committed (lag)", "lag", 1.0), ("not read by the source", "unread", 1.0)]),
            ("load average (1 min)", [("load", "load1", 1.0)])]
    figure = make_subplots(rows=len(rows), cols=1, shared_xaxes=True, subplot_titles=[r[0] for r in rows],
                           vertical_spacing=0.04)
    commands = sorted({c for s in samples for c in s.get("rss_by_command_kb", {})})
    for index, (_, lines) in enumerate(rows, start=1):
        for name, field, scale in lines:
            if field is None:  # the heap's floor, the series its verdict is taken on
                points = soak_verdicts.per_minute_minimum(soak_verdicts.series(samples, "heap_bytes"))
                xs, ys = [t / 60 for t, _ in points], [v * scale for _, v in points]
            else:
                xs = [s["t_s"] / 60 for s in samples if s.get(field) is not None]
                ys = [s[field] * scale for s in samples if s.get(field) is not None]
            figure.add_scatter(x=xs, y=ys, name=name, mode="lines+markers", marker={"size": 3}, row=index, col=1)
        if index == 5:
            for command in commands:
                xs = [s["t_s"] / 60 for s in samples if command in s.get("rss_by_command_kb", {})]
                ys = [s["rss_by_command_kb"][command] / 1024 for s in samples if command in s.get("rss_by_command_kb", {})]
                figure.add_scatter(x=xs, y=ys, name=command, mode="lines", row=index, col=1)
        figure.add_vline(x=warmup_s / 60, line_dash="dot", line_color="grey", row=index, col=1)
    figure.update_xaxes(title_text="minutes since the feed started", row=len(rows), col=1)
    figure.update_layout(title=title + " (dotted: end of the warm-up)", height=300 * len(rows), width=1100)
    figure.write_html(path, include_plotlyjs=plotlyjs)


def table(result: dict[str, Any]) -> str:
    """The summary printed at the end."""
    v, fl = result["verdicts"], result["first_last"]
    units = {"state_bytes": (1e-6, "MB"), "over_state_bytes": (1e-3, "kB"), "checkpoint_ms": (1e-3, "s"), "heap_bytes": (1e-6, "MB"),
             "rss_kb": (1 / 1024, "MB"), "lag": (1.0, "records"), "unread": (1.0, "records")}
    names = {"state_bytes": "state_size", "over_state_bytes": "over_aggregate_state", "checkpoint_ms": "checkpoint_duration", "heap_bytes": "heap_floor",
             "rss_kb": "rss", "lag": "lag", "unread": "unread"}
    lines = [f"soak: {result['events_fed']:,} events in {result['timings']['feed_s']} s ({result['achieved_rate']:,}/s), "
             f"checkpoint every {result['checkpoint_ms'] / 1000:g} s, warm-up {v['warmup_s']:g} s, load {result['load_during']}",
             f"{'series':<22} {'first':>12} {'after warm-up':>14} {'last':>12} {'unit':<8} {'trend':>8}  verdict"]
    for field, (scale, unit) in units.items():
        first, warm, last = (fl.get(field) or [None, None, None])
        verdict = v[names[field]]

        def show(x: Any, scale: float = scale) -> str:
            return "-" if x is None else f"{x * scale:,.1f}"

        if "flat" in verdict:
            trend, ok = f"{verdict['trend_pct']}%", "flat" if verdict["flat"] else "NOT FLAT"
        else:
            trend = f"{verdict.get('first_quarter_mean', '-')}->{verdict.get('last_quarter_mean', '-')}"
            ok = "not growing" if verdict.get("not_growing") else "GROWING"
        lines.append(f"{names[field]:<22} {show(first):>12} {show(warm):>14} {show(last):>12} {unit:<8} {trend:>8}  {ok}")
    a, w = result["accounting"], result["windows"]
    lines.append(f"accounting: {a['fed']:,} fed = {a['raw_events']:,} raw_events + {a['source_dead_letters']:,} dead letters "
                 f"+ {a['folded_repeats']:,} folded repeats; unaccounted {a['unaccounted']} (never read {a['not_read_at_stop']}), "
                 f"doubled {a['doubled_in_raw_events']}")
    lines.append(f"windows: {w['written']} written, {w['closed_during_feed']} closed during the feed, "
                 f"{len(w['missing'])} missing; drain after the feed {result['timings']['drain_s']} s; plot {result['plot']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python tests/reliability/soak_scenario.py WORK``: run one soak, print its table and RESULT line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work", type=Path, help="work directory (emptied first)")
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--rate", type=int, default=2200, help="events/s (half the measured peak of ~4,400)")
    parser.add_argument("--checkpoint-ms", type=int, default=10_000)
    parser.add_argument("--sample-s", type=float, default=10.0)
    parser.add_argument("--settle-s", type=float, default=600.0, help="wait at most this long after the feed")
    parser.add_argument("--warmup-s", type=float, default=soak_verdicts.WARMUP_S)
    parser.add_argument("--heap-mb", type=int, default=JVM_HEAP_MB, help="the MiniCluster JVM's heap (-Xms/-Xmx)")
    parser.add_argument("--data", type=Path, help="a generated set (default: the smallest cached one big enough)")
    parser.add_argument("--seed", type=int, default=42, help="the generator's seed (bench/generate.py)")
    parser.add_argument("--state-ttl-s", type=int, default=STATE_TTL_S, help="NETPULSE_STATE_TTL_S of the job")
    args = parser.parse_args(argv)
    result = run(args.work.resolve(), args.minutes, args.rate, checkpoint_ms=args.checkpoint_ms,
                 sample_s=args.sample_s, settle_s=args.settle_s, data=args.data, warmup_s=args.warmup_s,
                 heap_mb=args.heap_mb, seed=args.seed, state_ttl_s=args.state_ttl_s)
    print(table(result))
    print("RESULT " + json.dumps({k: v for k, v in result.items() if k != "samples"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
