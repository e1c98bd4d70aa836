"""Builds the table environment, registers the source, wires job outputs to the sinks, runs.

One runtime for every pipeline of jobs/registry.py, wired from its declarations
(jobs/contract.py). One pipeline = one Flink job: the source is read once, parsed once and
fanned out to every job of the pipeline, then to ClickHouse, Parquet and the dead-letter table.

Every job's ``build(t_env, settings)`` returns output views of (target, row_json, rt). They are
unioned and grouped per (target table, event-time batch window) into one row per batch, in Java
state; only finished batches cross into Python (one string per batch, not one row per event:
the bytes shipped to Python per row are what costs). See jobs/connectors/sinks.py for exactly-once.
A job's keyed DataStream part (``StreamPart``) gets its rows from the same single conversion,
or, declared with a view of its own (tor_relays), from that view's conversion.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from pathlib import Path
from typing import Any

from pyflink.common import Configuration, Types
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.table import StreamTableEnvironment

from jobs import flink_sql, progress, registry
from jobs.connectors import staging
from jobs.connectors.sinks import BatchWriter, BufferedWriter, terminate
from jobs.contract import BODY, ROUTE, Pipeline, StreamPart, stream_select
from jobs.ops import flink_logs
from jobs.settings import Settings
from jobs.streams import by_kind

log = logging.getLogger("netpulse.runtime")

# grain: one row per (target table, event-time batch window)
BATCHES = """
SELECT
    target,
    CONCAT(DATE_FORMAT(window_start, 'yyyyMMdd-HHmmss'), '-{interval}s') AS batch_id,
    COUNT(*) AS row_count,
    ARRAY_JOIN(ARRAY_AGG(row_json), '\n') AS rows_text
FROM TABLE(TUMBLE(TABLE {rows}, DESCRIPTOR(rt), {window}))
GROUP BY target, window_start, window_end
"""
METRICS_TABLE = "naap.calculated_metrics"
LOCAL_BIND_KEYS = ("jobmanager.bind-host", "taskmanager.bind-host", "taskmanager.host", "rest.bind-address")
BATCH_LOCAL_MANAGED_MEMORY = "1g"
# REST address of each environment's local cluster, when progress lines are on (progress.py)
REST_URLS: dict[int, str] = {}


def create_environment(settings: Settings, pipeline: str) -> tuple[Any, Any]:
    """An environment in the runtime mode of ``settings`` (BATCH or STREAMING).

    The runtime mode is set before the table environment is created: its planner is chosen
    then. The cluster's config.yaml still applies.
    """
    flink_logs.use_for_local_runs(settings.var_dir)  # before the first PyFlink call starts the JVM
    config = Configuration()
    config.set_string("python.executable", sys.executable)
    config.set_string("pipeline.name", pipeline)
    # Bounded input runs in BATCH mode: the answer is a function of the input set, not of the
    # order in which files are read (settings.runtime_mode). It can only be set here, before
    # the table environment exists.
    config.set_string("execution.runtime-mode", "BATCH" if settings.is_batch else "STREAMING")
    # Chained operators hand rows over without a defensive copy (each copy of a row holding a
    # 700-byte line was the largest single cost in the JVM profile; the SQL operators and the
    # Python operators, which serialize, do not keep references to their input rows).
    config.set_string("pipeline.object-reuse", "true")
    if settings.is_batch:
        # Python keyed state and timers in BATCH mode: Flink's batch state backend keeps the
        # state of the current key only and fires a key's timers when the next key begins,
        # while a Python operator works through a bundle of elements asynchronously and so
        # reads and writes the state of a key the backend has already left (measured: the
        # SCD2 versions of orchestrator_metadata lost 61 of 81 rows; Tor lost relays per
        # hour). The ordinary state backend keeps every key; inputs stay grouped by key and
        # timers fire at the end of input, in time order per key.
        config.set_string("execution.batch-state-backend.enabled", "false")
        # Sorts (deduplication, OVER windows, aggregates) work in managed memory and spill to
        # disk beyond it; a local run's default is 128 MB, shared with the Python workers
        # (ignored on a cluster, whose config.yaml sizes its TaskManagers).
        config.set_string("taskmanager.memory.managed.size", BATCH_LOCAL_MANAGED_MEMORY)
    env = StreamExecutionEnvironment.get_execution_environment(config)
    if progress.runs_locally(env):
        # A local run's MiniCluster listens on loopback only (its BLOB server bound every
        # interface by default). A cluster submission is left alone: its processes bind what
        # the cluster's config.yaml says.
        loopback = Configuration()
        for key in LOCAL_BIND_KEYS:
            loopback.set_string(key, "127.0.0.1")
        env.configure(loopback)
    rest_url = progress.configure(env, settings)
    if rest_url:
        REST_URLS[id(env)] = rest_url
    env.set_parallelism(settings.effective_parallelism)
    t_env = StreamTableEnvironment.create(env)
    table_config = t_env.get_config()
    table_config.set("table.local-time-zone", "UTC")
    # Views read by several outputs (the deduplicated events above all) become one optimize
    # block each, planned once: without this, every output prunes its own columns out of the
    # shared view and the planner builds one deduplication window (with its state) per output.
    table_config.set("table.optimizer.reuse-optimize-block-with-digest-enabled", "true")
    if settings.source_idle_timeout_s > 0:
        table_config.set("table.exec.source.idle-timeout", f"{settings.source_idle_timeout_s} s")
    for key, value in state_options(settings).items():
        table_config.set(key, value)
    table_config.set("pipeline.name", pipeline)
    table_config.set("python.executable", sys.executable)
    return env, t_env


def state_options(settings: Settings) -> dict[str, str]:
    """The table options that bound keyed state (STREAMING only; BATCH keeps none between runs).

    Per-key state that no window closes (the OVER aggregates: the warm-up flag per stream, the
    running values per request; a watched directory's reject copy counts) is dropped
    ``settings.state_ttl_s`` after its key's last row. Window, session and deduplication state
    ignore it. A savepoint taken without it restores with it (tests/minicluster/test_state_ttl.py).
    """
    if settings.is_batch or settings.state_ttl_s == 0:
        return {}
    return {"table.exec.state.ttl": f"{settings.state_ttl_s} s"}


def build(env: Any, t_env: Any, settings: Settings, pipeline: str) -> Path | None:
    """Define the whole pipeline: source, shared parsing, jobs, sinks.

    Returns the staging directory of a bounded (BATCH) run of a staged source, whose outputs
    are loaded after the job (jobs/connectors/staging.py), or None when the job writes as it goes.
    """
    spec = registry.get(pipeline)
    spec.source.register(env, t_env, settings)
    outputs: list[str] = []
    for job in spec.jobs:
        outputs.extend(job.build(t_env, settings))
    if outputs:
        union = " UNION ALL ".join(f"SELECT target, row_json, rt FROM {o}" for o in outputs)
        flink_sql.view(t_env, "sink_rows", union)
    if settings.is_batch and spec.source.staged_load:
        return _stage(t_env, settings, spec, outputs)
    _write_as_it_goes(t_env, settings, spec, outputs)
    return None


def _parts(spec: Pipeline) -> list[StreamPart]:
    return [job.stream for job in spec.jobs if job.stream is not None]


def _stage(t_env: Any, settings: Settings, spec: Pipeline, outputs: list[str]) -> Path:
    """BATCH: every output row goes to the staging files in Java (no Python on the row path)."""
    directory = staging.new_directory(settings, spec.name)
    line = staging.staged_line
    rows = [
        f"SELECT {line('target', staging.batch_id('rt'), 'row_json')} AS line FROM {output}" for output in outputs
    ] + [
        f"SELECT {line('target', flink_sql.literal('source-rejects'), 'row_json')} AS line "
        f"FROM ({spec.source.rejects(settings, spec.name)})",
    ]
    for part in _parts(spec):
        if part.view is not None:
            raise ValueError(f"pipeline {spec.name!r}: a staged bounded run cannot feed a StreamPart view")
        for select in part.rows:
            # stream rows of the job's keyed DataStream part, staged as key TAB event ms TAB row
            # and folded at load time (jobs/connectors/staging.py).
            row = "CONCAT(route, CHR(9), CAST(ms AS STRING), CHR(9), body)"
            rows.append(f"SELECT {line('kind', flink_sql.literal('all'), row)} AS line FROM ({select})")
    staging.attach(t_env, directory, rows)
    return directory


def _write_as_it_goes(t_env: Any, settings: Settings, spec: Pipeline, outputs: list[str]) -> None:
    """Writers inside the job: batches per event-time window, rejects, the jobs' keyed parts.

    Everything that crosses into Python leaves the table world through ONE conversion: each
    to_data_stream() is planned on its own, so three conversions would read and parse the
    source three times (and give each branch its own watermark). Its rows are stream rows
    (jobs/contract.py STREAM_ROW); the Python side splits them by kind. A part declared with a
    view of its own is converted apart, and a pipeline with no batches and no shared rows
    (tor_relays) converts its rejects apart too: operators and their uids stay what they were.
    """
    pipeline, writers = spec.name, settings.writer_parallelism
    rejects = spec.source.rejects(settings, pipeline)
    shared = [part for part in _parts(spec) if part.rows]
    selects = []
    if outputs:
        batches = _batches(t_env, settings)
        selects.append(stream_select("'batch'", "target", "batch_id", "rows_text", "CAST(0 AS BIGINT)", batches))
    if selects or shared:
        selects.append(stream_select("'reject'", "target", "''", "row_json", "CAST(0 AS BIGINT)", f"({rejects})"))
        for part in shared:
            selects.extend(part.rows)
        out = t_env.to_data_stream(t_env.sql_query(" UNION ALL ".join(selects)))
        if outputs:
            terminate(
                by_kind(out, "batch", pipeline)
                .key_by(lambda row: row[ROUTE], key_type=Types.STRING())
                .map(BatchWriter(settings), output_type=Types.LONG()),
                f"{pipeline}-batch-writer", "clickhouse+parquet batch writer", writers,
            )
        terminate(
            by_kind(out, "reject", pipeline)
            .key_by(lambda row: row[ROUTE], key_type=Types.STRING())
            .process(BufferedWriter(settings, key_index=ROUTE, row_index=BODY), output_type=Types.INT()),
            f"{pipeline}-reject-writer", "dead-letter writer", writers,
        )
        for part in shared:
            part.attach(out, settings, pipeline)
    for part in _parts(spec):
        if part.view is not None:
            part.attach(t_env.to_data_stream(t_env.from_path(part.view)), settings, pipeline)
    if not (selects or shared):
        # rows (target, row_json)
        terminate(
            t_env.to_data_stream(t_env.sql_query(rejects))
            .key_by(lambda row: row[0], key_type=Types.STRING())
            .process(BufferedWriter(settings), output_type=Types.INT()),
            f"{pipeline}-reject-writer", "dead-letter writer", writers,
        )


def _batches(t_env: Any, settings: Settings) -> str:
    """The view of finished batches: one row per (target table, event-time batch window)."""
    # Event tables: large batches (ClickHouse wants few, big inserts). calculated_metrics: its own
    # interval, a divisor of 5 minutes, so a 5-minute window's rows land in the batch that closes
    # with the same watermark (settings.metrics_batch_interval_s).
    flink_sql.view(t_env, "sink_rows_tables", f"SELECT * FROM sink_rows WHERE target <> '{METRICS_TABLE}'")
    flink_sql.view(t_env, "sink_rows_metrics", f"SELECT * FROM sink_rows WHERE target = '{METRICS_TABLE}'")
    batches_sql = (
        BATCHES.format(
            rows="sink_rows_tables",
            interval=settings.batch_interval_s,
            window=flink_sql.seconds(settings.batch_interval_s),
        )
        + " UNION ALL "
        + BATCHES.format(
            rows="sink_rows_metrics",
            interval=settings.metrics_batch_interval_s,
            window=flink_sql.seconds(settings.metrics_batch_interval_s),
        )
    )
    flink_sql.view(t_env, "sink_batches", batches_sql)
    return "sink_batches"


def run(settings: Settings, pipeline: str = "naap", wait: bool = True, *, prepare: bool = True) -> Any:
    """Build and execute ``pipeline``; blocks until a bounded run ends when ``wait``.

    ``prepare``: run the source's preparation first (the Tor collector stages its input; False
    runs over what is already staged). A watched run whose source watches its input (Tor)
    keeps preparing in a thread of this process while the job runs.

    Returns the JobExecutionResult (wait) or the JobClient (no wait). A run that waits prints
    progress lines to stderr (events read, rate, rows written, rejects; NETPULSE_PROGRESS_INTERVAL_S).
    """
    source = registry.get(pipeline).source
    if prepare and source.prepare is not None:
        source.prepare(settings)
    if settings.runtime_mode == "auto" and source.bounded is not None and source.bounded(settings):
        settings = settings.replace(runtime_mode="batch")
    env, t_env = create_environment(settings, pipeline)
    staged = build(env, t_env, settings, pipeline)
    if staged is None:
        stop = threading.Event()
        if source.watch is not None and settings.monitor_interval_s > 0:
            threading.Thread(
                target=source.watch, args=(settings, stop), name=f"{pipeline}-watch", daemon=True
            ).start()
        if not wait:
            return env.execute_async(pipeline)
        try:
            return execute(env, pipeline, settings)
        finally:
            stop.set()
    if not wait or not _attached(env):
        raise ValueError(
            "a bounded run (BATCH mode) loads its staged outputs once the job has finished, so it "
            "runs attached; for a detached job, watch the directory or set NETPULSE_RUNTIME_MODE=streaming"
        )
    result = execute(env, pipeline, settings, staged=True)
    started = time.monotonic()
    rows = staging.load(settings, staged)
    progress.loaded(pipeline, settings, rows, time.monotonic() - started)
    return result


def execute(env: Any, name: str, settings: Settings, staged: bool = False) -> Any:
    """Run a built environment to the end of its input; returns the JobExecutionResult.

    Prints progress lines (progress.py) every NETPULSE_PROGRESS_INTERVAL_S seconds.
    """
    return progress.execute(env, name, settings, REST_URLS.get(id(env)), staged)


def _attached(env: Any) -> bool:
    """False when the client submits detached (``flink run -d``): execute() returns at once."""
    conf = env._j_stream_execution_environment.getConfiguration()
    return str(conf.toMap().get("execution.attached")) != "false"
