"""Sink writers that run inside the Flink job: ClickHouse (server or embedded) and Parquet.

Exactly-once without two-phase commit (PyFlink functions have no checkpoint hooks):

* Event-time outputs arrive as finished batches: one row per (target table, event-time batch
  window), built in Java state by the runtime (``jobs/runtime.py``). A window's content is
  fixed by the input, so after a restart from a checkpoint a re-fired window carries the same
  rows. The ClickHouse insert uses ``insert_deduplication_token`` = table + window + digest of
  the sorted rows, so a replayed batch is dropped by the table (and by the MV targets, via
  ``deduplicate_blocks_in_dependent_materialized_views``). Parquet files are named by table,
  partition and window, so a replay overwrites the same object with the same rows.
* Source-level rejects (no usable event time) are buffered in keyed Flink state and flushed by
  count, by processing-time timer and at end of input; naap.dead_letter is a
  ReplacingMergeTree on a deterministic reject_key, so a re-sent reject folds away.

A failing insert or Parquet write is retried with backoff, logged, then raised: Flink restarts
the job from the last checkpoint (with its own exponential backoff between restarts) and the
idempotent writes above make that safe (rows are delayed, not lost). The batch writer's gauge
``netpulse.newest_batch_end_ms`` (event time up to which batches have been written) against the
source's watermark is the write lag (docs/reliability.md, "Sink outages").
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import pyarrow as pa
from pyflink.common import Types
from pyflink.datastream import KeyedProcessFunction, MapFunction, RuntimeContext
from pyflink.datastream.state import ListStateDescriptor, ValueStateDescriptor

from jobs.connectors import clickhouse
from jobs.connectors.parquet import ParquetSink, encode_lines, parse_rows
from jobs.settings import Settings

log = logging.getLogger("netpulse.sinks")

INSERT_SETTINGS = {
    "deduplicate_blocks_in_dependent_materialized_views": 1,
    "input_format_null_as_default": 1,
    # A key the table does not have (yet) is skipped, so a job can start writing a column before
    # the migration that adds it (schema evolution, phase 1); each writer logs such keys once
    # per table, and tests/integration/test_migrate.py holds writers and DDL in agreement.
    "input_format_skip_unknown_fields": 1,
    "date_time_input_format": "best_effort",
}
PARQUET_TABLES = ("naap.raw_events", "naap.calculated_metrics")
DISCARDING_SINK = "org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink"
END_OF_INPUT_MS = 2**62  # a timer at Long.MAX never fires behind an interval join (FLINK-NOTES)
ATTEMPTS = 6
FIRST_BACKOFF_S = 0.5
MAX_BACKOFF_S = 30.0
T = TypeVar("T")


def retried(
    what: str,
    call: Callable[[], T],
    *,
    attempts: int = ATTEMPTS,
    first_backoff_s: float = FIRST_BACKOFF_S,
    rows: int | None = None,
    on_failure: Callable[[], None] | None = None,
    storage: str = "ClickHouse",
) -> T:
    """The retry policy of every writer: ``call()``, retried with exponential backoff.

    Each failure is logged with ``what`` (and the row count); ``storage`` names what failed in
    the final error ("ClickHouse"; "" when ``what`` says it); ``on_failure`` runs after each
    (e.g. drop a broken connection). After the last attempt the error is raised: Flink
    restarts the job from its last checkpoint, and the idempotent writes make that safe.
    """
    delay = first_backoff_s
    counted = "" if rows is None else f", {rows} rows"
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except Exception as exc:  # noqa: BLE001 - any client/server error is retried
            log.warning("%s failed (attempt %d/%d%s): %s", what, attempt, attempts, counted, exc)
            if on_failure is not None:
                on_failure()
            if attempt == attempts:
                raise RuntimeError(
                    f"{storage} {what} failed {attempts} times; the job will restart from its last checkpoint".lstrip()
                ) from exc
            time.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF_S)
    raise AssertionError("unreachable: attempts >= 1")


def terminate(operator: Any, uid: str, name: str, parallelism: int) -> None:
    """Name a writer operator, give it and its terminal discarding sink stable uids."""
    from pyflink.datastream.connectors import Sink

    (
        operator.uid(uid)
        .name(name)
        .set_parallelism(parallelism)
        .sink_to(Sink(DISCARDING_SINK))
        .uid(f"{uid}-end")
        .set_parallelism(parallelism)
    )


def is_dead_letter(target: str) -> bool:
    """Whether ``target`` is a dead-letter table (its rows are rejects, in progress lines)."""
    return target.endswith(".dead_letter")


def batch_token(target: str, batch_id: str, lines: list[str]) -> str:
    """Deterministic insert deduplication token for one batch (order-independent)."""
    return _token(target, batch_id, len(lines), "\n".join(sorted(lines)).encode())


def _token(target: str, batch_id: str, rows: int, sorted_text: bytes | memoryview) -> str:
    """The token of a batch of ``rows`` rows whose sorted lines, newline-joined, are ``sorted_text``."""
    return f"{target}/{batch_id}/{rows}/{hashlib.sha256(sorted_text).hexdigest()[:32]}"


class ClickHouseWriter:
    """Batched JSONEachRow inserts with deduplication tokens and retries."""

    def __init__(self, settings: Settings, attempts: int = 6, first_backoff_s: float = 0.5):
        self.settings = settings
        self.attempts = attempts
        self.first_backoff_s = first_backoff_s
        self.client: Any = None
        self.failures = 0
        self._checked: set[str] = set()
        self._schemas: dict[str, tuple[Any, bool]] = {}  # target: (schema, a key is missing)

    def arrow_rows(self, target: str, lines: list[str], text: bytes | None = None) -> Any:
        """``lines`` (JSONEachRow) as an Arrow table of the columns the table has, or None.

        The schema is the table's own (``SELECT * LIMIT 0`` over Arrow), restricted to the keys
        the rows carry, every field nullable (a NULL becomes the column default, as for JSON
        text: ``input_format_null_as_default``); parsing runs in Arrow's C++ reader. While the
        rows carry a key the table lacks (a column a migration has yet to add), the schema is
        read again for every batch (~1 ms), so a column added while the job runs is filled
        from the next batch on, as with JSON text. Rows Arrow cannot read as typed return None, and the batch goes
        in as JSON text, which ClickHouse reads more leniently.
        """
        keys = list(json.loads(lines[0]))
        cached = self._schemas.get(target)
        if cached is None or cached[1]:
            try:
                if self.client is None:
                    self.client = clickhouse.connect(self.settings)
                with clickhouse.lock():
                    table = self.client.query_arrow(f"SELECT * FROM {target} LIMIT 0").schema
            except Exception as exc:  # noqa: BLE001 - insert() retries and reports outages
                log.warning("%s: table schema unavailable (%s); inserting as JSON text", target, exc)
                return None
            schema = pa.schema([table.field(k).with_nullable(True) for k in keys if k in table.names])
            cached = (schema, len(schema) < len(keys))
            self._schemas[target] = cached
        try:
            return parse_rows(lines, cached[0], text)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            log.warning("%s: batch not readable as Arrow (%s); inserting it as JSON text", target, exc)
            return None

    def _warn_unknown_keys(self, target: str, first_line: str) -> None:
        """Log, once per table, the keys the table does not have (they are being skipped)."""
        self._checked.add(target)
        database, table = target.split(".", 1)
        with clickhouse.lock():
            columns = {
                name for (name,) in self.client.query(
                    "SELECT name FROM system.columns WHERE database = %(d)s AND table = %(t)s",
                    parameters={"d": database, "t": table},
                ).result_rows
            }
        missing = sorted(set(json.loads(first_line)) - columns)
        if missing:
            log.warning(
                "%s has no column(s) %s yet: those values are skipped until a migration adds them", target, missing
            )

    def insert(self, target: str, lines: list[str], token: str | None, arrow: Any = None) -> None:
        """Insert ``lines`` (JSONEachRow) into ``target``; retry, then raise.

        When ``arrow`` (the same rows already parsed into an Arrow table, as for the Parquet
        tables) is given it is sent instead: ClickHouse reads Arrow columns several times
        faster than JSON text holding large escaped payloads.
        """
        body = ("\n".join(lines) + "\n").encode() if arrow is None else b""
        settings = dict(INSERT_SETTINGS)
        if token:
            settings["insert_deduplication_token"] = token

        def insert() -> None:
            client = self._connected()
            if target not in self._checked:
                self._warn_unknown_keys(target, lines[0])
            with clickhouse.lock():
                if arrow is not None:
                    client.insert_arrow(target, arrow, settings=settings)
                else:
                    client.raw_insert(target, insert_block=body, settings=settings, fmt="JSONEachRow")

        self._retried(f"insert into {target}", insert, len(lines))

    def insert_values(self, table: str, columns: tuple[str, ...], rows: list[list[Any]], token: str) -> None:
        """Insert ``rows`` (values in ``columns`` order) as one block with a deduplication token."""
        settings = dict(INSERT_SETTINGS, insert_deduplication_token=token)

        def insert() -> None:
            client = self._connected()
            with clickhouse.lock():
                client.insert(table, rows, column_names=list(columns), settings=settings)

        self._retried(f"insert into {table}", insert, len(rows))

    def query_rows(self, what: str, query: str, parameters: dict[str, Any]) -> list[Any]:
        """The result rows of ``query``, with the writers' retry policy (a writer's read)."""

        def read() -> list[Any]:
            client = self._connected()
            with clickhouse.lock():
                return list(client.query(query, parameters=parameters).result_rows)

        return self._retried(what, read)

    def _connected(self) -> Any:
        if self.settings.fault_file and os.path.exists(self.settings.fault_file):
            # Outage drill (NETPULSE_FAULT_FILE): fail before touching the client.
            raise ConnectionError(f"ClickHouse unavailable (fault file {self.settings.fault_file} exists)")
        if self.client is None:
            self.client = clickhouse.connect(self.settings)
        return self.client

    def _retried(self, what: str, call: Callable[[], T], rows: int | None = None) -> T:
        def failed() -> None:
            self.failures += 1
            self.client = None if not self.settings.is_embedded else self.client

        return retried(
            what, call, attempts=self.attempts, first_backoff_s=self.first_backoff_s, rows=rows, on_failure=failed
        )


def batch_end_ms(batch_id: str) -> int:
    """End of the event-time window a batch id names (``yyyyMMdd-HHmmss-<interval>s``), or 0."""
    try:
        day, clock, interval = batch_id.split("-")[:3]
        start = datetime.strptime(day + clock, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
        return int(start.timestamp() * 1000) + int(interval.removesuffix("s")) * 1000
    except ValueError:
        return 0


class BatchSink:
    """Writes one batch of one table.

    A ClickHouse insert with its deduplication token, and for the lake's tables (PARQUET_TABLES)
    the batch's Parquet files. Used by the streaming writer operator (BatchWriter) and by the
    bulk load of bounded runs (jobs/connectors/staging.py).
    """

    def __init__(self, settings: Settings, attempts: int = 6, first_backoff_s: float = 0.5):
        self.settings = settings
        self.clickhouse = ClickHouseWriter(settings, attempts, first_backoff_s)
        self.parquet = ParquetSink(settings)
        self.attempts = attempts
        self.first_backoff_s = first_backoff_s
        self.seconds = {"clickhouse": 0.0, "parquet": 0.0}
        self.rows = 0
        self.batches = 0
        self.newest_batch_end_ms = 0

    def write(self, target: str, batch_id: str, lines: list[str], presorted: bool = False) -> int:
        """Write ``lines`` (JSONEachRow) as batch ``batch_id`` of ``target``; returns the row count.

        ``presorted``: the lines are in sorted order already (the bulk load sorts every batch),
        so the token's digest is taken over the very text the Arrow reader parses.
        """
        started = time.perf_counter()
        text = encode_lines(lines)
        if presorted:
            digest = _token(target, batch_id, len(lines), memoryview(text)[:-1])
        else:
            digest = batch_token(target, batch_id, lines)
        token = self.settings.token_salt + digest
        if target in PARQUET_TABLES:
            arrow = self.parquet.parse(target, lines, text)
        else:
            arrow = self.clickhouse.arrow_rows(target, lines, text)
        self.clickhouse.insert(target, lines, token, arrow)
        written = time.perf_counter()
        if target in PARQUET_TABLES and arrow is not None:
            # An S3 outage: retried like an insert, then the job restarts; the replay inserts
            # the batch again (dropped by its token) and puts the same object again.
            retried(
                f"Parquet write of {target} batch {batch_id} ({len(lines)} rows)",
                lambda: self.parquet.write(target, batch_id, arrow),
                attempts=self.attempts, first_backoff_s=self.first_backoff_s, storage="",
            )
        self.seconds["clickhouse"] += written - started
        self.seconds["parquet"] += time.perf_counter() - written
        self.rows += len(lines)
        self.batches += 1
        self.newest_batch_end_ms = max(self.newest_batch_end_ms, batch_end_ms(batch_id))
        return len(lines)

    def describe(self) -> str:
        return (
            f"{self.rows} rows in {self.batches} batches, {self.seconds['clickhouse']:.1f} s in ClickHouse "
            f"inserts, {self.seconds['parquet']:.1f} s in Parquet writes, {self.clickhouse.failures} failed attempts"
        )


class BatchWriter(MapFunction):
    """Writes one event-time batch: Row(kind, target, batch_id, rows joined by newlines, _)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.sink: BatchSink | None = None

    def open(self, runtime_context: RuntimeContext) -> None:
        self.sink = BatchSink(self.settings)
        group = runtime_context.get_metrics_group().add_group("netpulse")
        self.rows_counter = group.counter("rows_written")  # read by jobs/progress.py
        self.rejects_counter = group.counter("rejects_written")  # rows into a dead-letter table
        self.batches_counter = group.counter("batches_written")
        # Event time up to which this writer has written every batch it received (0 until its
        # first batch after a (re)start): the source watermark minus this is the write lag.
        sink = self.sink
        group.gauge("newest_batch_end_ms", lambda: sink.newest_batch_end_ms)

    def map(self, value: Any) -> int:
        assert self.sink is not None  # noqa: S101 - set in open()
        target = value[1]
        count = self.sink.write(target, value[2], value[3].split("\n"))
        (self.rejects_counter if is_dead_letter(target) else self.rows_counter).inc(count)
        self.batches_counter.inc()
        return count

    def close(self) -> None:
        if self.sink is not None:
            log.info("batch writer: %s", self.sink.describe())


class BufferedWriter(KeyedProcessFunction):
    """Buffers (target, row) pairs in keyed state; flushes by count, timer and end of input.

    For tables whose engine folds replayed rows by key (naap.dead_letter on reject_key,
    naap.orchestrator_metadata on key + valid_from), so batches need no deduplication token.
    """

    def __init__(self, settings: Settings, max_rows: int = 2000, key_index: int = 0, row_index: int = 1):
        self.settings = settings
        self.max_rows = max_rows
        self.key_index = key_index
        self.row_index = row_index
        self.buffer: Any = None
        self.size: Any = None
        self.writer: ClickHouseWriter | None = None

    def open(self, runtime_context: RuntimeContext) -> None:
        self.buffer = runtime_context.get_list_state(ListStateDescriptor("rows", Types.STRING()))
        self.size = runtime_context.get_state(ValueStateDescriptor("size", Types.INT()))
        self.writer = ClickHouseWriter(self.settings)
        group = runtime_context.get_metrics_group().add_group("netpulse")
        # read by jobs/progress.py (which counts this writer's rejects from its input records)
        self.rows_counter = group.counter("rows_written")

    def process_element(self, value: Any, ctx: KeyedProcessFunction.Context) -> Any:
        self.buffer.add(value[self.row_index])
        size = (self.size.value() or 0) + 1
        self.size.update(size)
        if size == 1:
            now = ctx.timer_service().current_processing_time()
            ctx.timer_service().register_processing_time_timer(now + self.settings.batch_interval_s * 1000)
            ctx.timer_service().register_event_time_timer(END_OF_INPUT_MS)
        if size >= self.max_rows:
            yield from self._flush(value[self.key_index])

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext) -> Any:
        yield from self._flush(ctx.get_current_key())

    def _flush(self, target: str) -> Any:
        rows = list(self.buffer.get())
        if rows:
            assert self.writer is not None  # noqa: S101 - set in open()
            self.writer.insert(target, rows, None)
            if not is_dead_letter(target):
                self.rows_counter.inc(len(rows))
            self.buffer.clear()
            self.size.clear()
            yield len(rows)
