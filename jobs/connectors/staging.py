"""Bounded runs: Flink stages every output as files, then the run loads them in bulk.

A bounded run (BATCH mode: a directory read once, a replay, the demo, the bench) has no use for
incremental writes: nothing is queryable before the input is complete, and no checkpoint is
taken. So the job does not ship rows to Python writers at all. Every output row leaves the
table world through Flink's own filesystem sink (Java, the ``raw`` format: target, batch and the
row's JSON text on one line), and once the job has finished this module sorts the lines into
batches (streaming through the files) and loads each batch with the same batch writer the streaming path uses
(jobs/connectors/sinks.py ``BatchSink``: Arrow, an insert deduplication token over the sorted rows, the
Parquet files of the lake's tables). Measured at 1M events (BENCHMARKS.md): this removed the
sort-aggregate that built batch strings in Flink state, the table-to-stream conversion of every
row and the Beam transport of ~1 GB of text to the Python writer.

Grain of a staged batch: one event-time hour (``BOUNDED_BATCH``) per table, split into chunks of
at most ``CHUNK_ROWS`` rows: few, large inserts (ClickHouse merges fewer parts) and one Parquet
file per (partition, hour). Content decides everything (rows sorted before chunking), so a
second run over the same input sends the same tokens and ClickHouse drops the copies.

Rows that need keyed, order-dependent state (the SCD2 versions of orchestrator_metadata) are
staged as announcements and folded here by the same pure function the streaming operator
calls (udfs/scd.py ``apply``), per key in event-time order.

A failure before the load leaves the tables untouched (re-run); a failure during the load is
retried per insert and, re-run, sends identical tokens. The staging directory is removed after
a successful load.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from jobs import flink_sql
from jobs.connectors.sinks import BatchSink, ClickHouseWriter
from jobs.settings import Settings

log = logging.getLogger("netpulse.staging")

TABLE = "staged_rows"
BOUNDED_BATCH = "HOUR"  # the event-time unit of one staged batch (FLOOR(rt TO ...))
CHUNK_ROWS = 200_000
SCD_TARGET = "scd"  # announcements folded into SCD2 versions at load time (udfs/scd.py)
SCD_TABLE = "naap.orchestrator_metadata"
LOAD_THREADS = 2  # batches loaded at once (see load)
SEP = "\t"  # between target, batch and row in a staged line (none of the three holds a raw tab)

# grain: one line per output row: target TAB batch TAB row. Not partitioned: a partitioned
# filesystem sink makes the batch planner sort its whole input by partition first (measured:
# 30 s for the 1.9 GB of rows of 1M events); the load sorts rows into batches instead.
DDL = """
CREATE TEMPORARY TABLE {table} (line STRING) WITH (
    'connector' = 'filesystem',
    'path' = {path},
    'format' = 'raw'
)
"""


def batch_id(rt: str) -> str:
    """SQL naming the staged batch of a row time: its event-time hour."""
    return f"CONCAT(DATE_FORMAT(FLOOR({rt} TO {BOUNDED_BATCH}), 'yyyyMMdd-HHmmss'), '-1h')"


def staged_line(target: str, batch: str, row: str) -> str:
    """SQL of one staged line from SQL expressions of its target, batch and row."""
    return f"CONCAT({target}, CHR(9), {batch}, CHR(9), {row})"


def new_directory(settings: Settings, pipeline: str) -> Path:
    """A fresh staging directory for one run (under var/staging)."""
    return settings.var_dir / "staging" / f"{pipeline}-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"


def attach(t_env: Any, path: Path, selects: list[str]) -> None:
    """Stage the rows of ``selects`` (each a SELECT of one staged ``line``) under ``path``.

    One INSERT per output, each into its own sink table and directory, all in one statement
    set attached to the job: a view read by several sinks is planned once, as its own block
    (the shared parse and deduplication, see envelopes.register), where a single INSERT of the
    outputs' union would be planned as one tree in which every branch prunes its own copy.
    Separate directories: each batch sink commits its files from a staging folder of its own.
    """
    statements = t_env.create_statement_set()
    for index, select in enumerate(selects):
        table = f"{TABLE}_{index}"
        location = (path / "rows" / f"{index:03d}").resolve().as_uri()
        t_env.execute_sql(DDL.format(table=table, path=flink_sql.literal(location)))
        statements.add_insert_sql(f"INSERT INTO {table} {select}")
    statements.attach_as_datastream()


def _committed(directory: Path) -> list[Path]:
    """The finished files Flink committed under ``directory`` (in-progress files are hidden)."""
    return sorted(p for p in directory.rglob("*") if p.is_file() and not p.name.startswith((".", "_")))


def _bucket(root: Path) -> Path:
    """First pass: the staged lines into one file per (target, batch) under root/batches.

    Streams: memory holds one line at a time, whatever the size of the run.
    """
    out = root / "batches"
    handles: dict[tuple[str, str], Any] = {}
    try:
        for path in _committed(root / "rows"):
            with path.open("r", encoding="utf-8", newline="\n") as lines:
                for line in lines:
                    if line == "\n":
                        continue
                    target, batch, row = line.split(SEP, 2)
                    key = (target, batch)
                    handle = handles.get(key)
                    if handle is None:
                        directory = out / quote(target, safe="")
                        directory.mkdir(parents=True, exist_ok=True)
                        handle = handles[key] = (directory / quote(batch, safe="")).open("w", encoding="utf-8")
                    handle.write(row if row.endswith("\n") else row + "\n")
    finally:
        for handle in handles.values():
            handle.close()
    return out


def _batches(directory: Path) -> list[tuple[str, str, Path]]:
    """(target, batch, file) of every bucketed batch, in a stable order."""
    return [
        (unquote(path.parent.name), unquote(path.name), path)
        for path in sorted(directory.glob("*/*"))
    ]


def _scd_rows(lines: list[str]) -> list[str]:
    """Staged announcements (key TAB event ms TAB row) -> orchestrator_metadata rows."""
    from udfs.scd import apply

    by_key: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for line in lines:
        key, _, row = line.split(SEP, 2)
        by_key[key].append(json.loads(row))
    out = []
    for key in sorted(by_key):
        _, emitted = apply(None, by_key[key])
        out.extend(json.dumps(row, separators=(",", ":")) for row in emitted)
    return out


def load(settings: Settings, root: Path, keep: bool = False) -> dict[str, int]:
    """Load every staged batch under ``root``; returns rows written per table.

    Batches load on ``LOAD_THREADS`` threads, one staged file at a time each: the steps that
    take the longest (Arrow's JSON reader, the ClickHouse insert, the Parquet writer, the
    SHA-256 of the token) release the GIL, so two threads overlap most of the work on two
    cores (BENCHMARKS.md, "Bulk load"). The order of the inserts does not matter: every batch is
    named and tokened by its content, and the embedded engine serializes them (clickhouse.lock).
    """
    started = time.perf_counter()
    sinks: list[BatchSink] = []
    local = threading.local()

    def sink() -> BatchSink:
        if not hasattr(local, "sink"):
            local.sink = BatchSink(settings)
            sinks.append(local.sink)
        return local.sink

    batches = _batches(_bucket(root))
    with ThreadPoolExecutor(max_workers=LOAD_THREADS, thread_name_prefix="load") as pool:
        counts = list(pool.map(lambda batch: _load_batch(settings, sink, *batch), batches))
    written: dict[str, int] = defaultdict(int)
    for target, rows in counts:
        written[target] += rows
    log.info(
        "bulk load of %s in %.1f s: %s", root, time.perf_counter() - started, "; ".join(s.describe() for s in sinks)
    )
    if not keep:
        shutil.rmtree(root, ignore_errors=True)
    return {target: rows for target, rows in written.items() if rows}


def _load_batch(
    settings: Settings, sink: Callable[[], BatchSink], target: str, batch: str, path: Path
) -> tuple[str, int]:
    """Load one bucketed batch file; returns (table, rows written)."""
    lines = [line for line in path.read_text(encoding="utf-8").split("\n") if line]
    if target == SCD_TARGET:
        rows = sorted(_scd_rows(lines))
        writer = ClickHouseWriter(settings)
        for chunk in _chunks(rows):
            writer.insert(SCD_TABLE, chunk, None)  # ReplacingMergeTree on (key, valid_from)
        return SCD_TABLE, len(rows)
    lines.sort()  # content, not arrival order, decides the chunks and their tokens
    chunks = _chunks(lines)
    written = 0
    for index, chunk in enumerate(chunks):
        name = batch if len(chunks) == 1 else f"{batch}-{index:03d}"
        written += sink().write(target, name, chunk, presorted=True)
    return target, written


def _chunks(lines: list[str]) -> list[list[str]]:
    return [lines[i : i + CHUNK_ROWS] for i in range(0, len(lines), CHUNK_ROWS)]
