"""Replay / backfill: reprocess a date range of the raw event archive through the same pipeline.

The archive (``raw_events/event_date=.../event_type=.../part-*.parquet``, written by
naap_ingest) holds every accepted envelope exactly as received (``raw_data``). A replay reads
the requested partitions, publishes their envelopes in event-time order as one input file, and
runs the same ``naap`` pipeline (same parsing, metrics and sinks) on a bounded source into the
target named by the settings (NETPULSE_CLICKHOUSE_URL / NETPULSE_PARQUET_URL):

* **fresh target** (default): a database that does not hold these rows yet (e.g. another
  NETPULSE_VAR_DIR or server). Batches carry the live tokens, so running it twice inserts
  nothing the second time.
* **replace** (``--replace``): the live database. The affected rows (the range's events of the
  chosen types, and the metrics derived from those types) are deleted first, then re-inserted
  with tokens salted by this replay's id, so the new rows are not mistaken for the deleted ones;
  running it twice gives the same rows again. This is how history is recomputed after a
  metric definition changes (a new ``metric_version``, jobs/naap/catalog.py): the deletion takes
  every version of the metrics the replay rewrites, and the rows of metrics the catalog no
  longer defines (``catalog.REMOVED``), in ClickHouse and in the range's Parquet files
  (``ParquetSink.delete_metrics``); the new Parquet files carry the replay's id in their
  names, so they never overwrite a file that also holds metrics the replay does not rewrite.

Events rejected by the live run (bad input, late) are not in the archive: they are in
naap.dead_letter. Sessions and windows that cross the range's edges are cut: replay whole days,
and one more on each side when a request or a 5-minute window may straddle midnight.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from jobs import runtime
from jobs.connectors import clickhouse
from jobs.connectors.parquet import ParquetSink
from jobs.naap import catalog, sample
from jobs.naap.envelopes import KNOWN_EVENT_TYPES
from jobs.ops import migrate
from jobs.settings import Settings

# Which event types each table's rows come from (for --replace deletions).
TYPED_TABLES = {
    "ai_stream_status": "ai_stream_status",
    "stream_ingest_metrics": "stream_ingest_metrics",
    "stream_trace_events": "stream_trace",
}


@dataclass(frozen=True)
class ReplayPlan:
    """What a replay reprocesses: a date range and, optionally, some event types only."""

    date_from: dt.date
    date_to: dt.date
    event_types: tuple[str, ...] | None  # None: every type

    def __post_init__(self) -> None:
        # The types reach SQL (ALTER TABLE ... DELETE): only known event type names pass.
        unknown = sorted(set(self.event_types or ()) - set(KNOWN_EVENT_TYPES))
        if unknown:
            raise ValueError(
                f"unknown event type(s) {unknown}; choose from {', '.join(KNOWN_EVENT_TYPES)}"
            )
        if self.date_from > self.date_to:
            raise ValueError(f"--from {self.date_from} is after --to {self.date_to}")
        if self.event_types:
            # frozen dataclass: the completed set replaces the one given
            object.__setattr__(self, "event_types", complete_types(self.event_types))

    def partition_filter(self) -> Any:
        expr = (pc.field("event_date") >= pc.scalar(self.date_from)) & (
            pc.field("event_date") <= pc.scalar(self.date_to)
        )
        if self.event_types:
            expr = expr & pc.field("event_type").isin(list(self.event_types))
        return expr


def _archive_dataset(settings: Settings, archive_url: str) -> ds.Dataset:
    sink = ParquetSink(settings.replace(parquet_url=archive_url))
    fs, root = sink._filesystem()
    path = f"{root}/raw_events"
    partitioning = ds.partitioning(
        pa.schema([("event_date", pa.date32()), ("event_type", pa.string())]), flavor="hive"
    )
    return ds.dataset(path, filesystem=fs, format="parquet", partitioning=partitioning)


def read_archive(settings: Settings, archive_url: str, plan: ReplayPlan, progress: bool = True) -> list[str]:
    """The archived envelopes of the plan, in event-time order (then by dedup key)."""
    dataset = _archive_dataset(settings, archive_url)
    lines: list[tuple[int, str, str]] = []
    for fragment in dataset.get_fragments(filter=plan.partition_filter()):
        table = fragment.to_table(columns=["event_timestamp", "dedup_key", "raw_data"])
        ms = pc.cast(table.column("event_timestamp"), "int64").to_pylist()
        lines.extend(zip(ms, table.column("dedup_key").to_pylist(), table.column("raw_data").to_pylist(), strict=True))
        if progress:
            print(f"  read {table.num_rows:>7} events from {fragment.path}")
    lines.sort()
    return [raw for _, _, raw in lines]


def complete_types(event_types: Iterable[str]) -> tuple[str, ...]:
    """The chosen types plus every type combined with one of them by a metric of the catalog.

    A metric that combines several event types (the hourly analytics: trace edges, status
    samples and ai_stream_events of a request) computed from only some of them would be wrong,
    so replaying any of its types replays all of them (and recomputes their tables and metrics).
    """
    types = set(event_types)
    grown = True
    while grown:
        grown = False
        for metric in catalog.CATALOG:
            inputs = set(metric.inputs)
            if inputs & types and not inputs <= types:
                types |= inputs
                grown = True
    return tuple(t for t in KNOWN_EVENT_TYPES if t in types)


def _metrics_of(event_types: Iterable[str] | None) -> list[str]:
    """The metric names a replay of these types rewrites.

    The catalog's metrics derived from them, and the metrics the catalog no longer defines
    (catalog.REMOVED, all from stream_trace), whose old rows the recomputed range must not keep.
    """
    types = None if event_types is None else set(event_types)
    names = [m.name for m in catalog.CATALOG if types is None or set(m.inputs) & types]
    if types is None or "stream_trace" in types:
        names += list(catalog.REMOVED)
    return names


def delete_range(settings: Settings, plan: ReplayPlan) -> None:
    """Delete what the replay will rewrite (replace mode), synchronously."""
    client = clickhouse.connect(settings)
    span = f"BETWEEN '{plan.date_from.isoformat()}' AND '{plan.date_to.isoformat()}'"
    types = plan.event_types
    type_filter = "" if not types else " AND event_type IN ({})".format(", ".join(f"'{t}'" for t in types))
    statements = [f"ALTER TABLE naap.raw_events DELETE WHERE event_date {span}{type_filter}"]
    for table, event_type in TYPED_TABLES.items():
        if types is None or event_type in types:
            statements.append(f"ALTER TABLE naap.{table} DELETE WHERE event_date {span}")
    if types is None or "network_capabilities" in types:
        statements.append(f"ALTER TABLE naap.orchestrator_metadata DELETE WHERE toDate(valid_from) {span}")
    metrics = _metrics_of(types)
    if metrics:
        # every version: the range is recomputed at the catalog's current versions
        names = ", ".join(f"'{m}'" for m in metrics)
        statements.append(
            f"ALTER TABLE naap.calculated_metrics DELETE WHERE metric_date {span} AND metric_name IN ({names})"
        )
    with clickhouse.lock():
        for statement in statements:
            client.command(statement, settings={"mutations_sync": 2})
    if metrics:
        days = [plan.date_from + dt.timedelta(days=n) for n in range((plan.date_to - plan.date_from).days + 1)]
        changed = ParquetSink(settings).delete_metrics(days, set(metrics))
        print(f"  removed the rewritten metrics from {changed} Parquet file(s) of the range")


def replay(
    settings: Settings,
    plan: ReplayPlan,
    archive_url: str | None = None,
    replace: bool = False,
) -> dict[str, Any]:
    """Run a replay; returns a summary (events read, seconds, rows per table in the range)."""
    archive = archive_url or settings.parquet_url
    started = time.monotonic()
    print(f"replay {plan.date_from}..{plan.date_to} types={','.join(plan.event_types or ['all'])} from {archive}")
    lines = read_archive(settings, archive, plan)
    print(f"  {len(lines)} archived events to reprocess")
    migrate.migrate(settings)
    run_id = uuid.uuid4().hex[:12]
    if replace:
        print("  deleting the range's rows from the target (replace mode)")
        delete_range(settings, plan)
    # A deterministic input location: the source path is part of every raw_events row, so a
    # second replay of the same plan must read "the same file" to rebuild identical batches.
    name = f"{plan.date_from}_{plan.date_to}_{'-'.join(plan.event_types or ['all'])}"
    target = settings.replace(
        input_path=settings.var_dir / "replay" / name,
        monitor_interval_s=0,
        token_salt=f"replay-{run_id}/" if replace else "",
    )
    sample.publish(lines, target.input_path, "archive.jsonl", ordered=False)
    print(f"  running pipeline 'naap' over {target.input_path}")
    runtime.run(target, "naap")
    elapsed = time.monotonic() - started
    counts = range_counts(settings, plan)
    print(f"replay done in {elapsed:.1f} s ({len(lines) / max(elapsed, 1e-9):,.0f} events/s); rows in range:")
    for table, n in counts.items():
        print(f"  {table:<24} {n:>8}")
    return {"events": len(lines), "seconds": elapsed, "counts": counts, "run_id": run_id}


def range_counts(settings: Settings, plan: ReplayPlan) -> dict[str, int]:
    """Rows per NaaP table in the plan's date range (before and after a replay)."""
    client = clickhouse.connect(settings)
    span = f"BETWEEN '{plan.date_from.isoformat()}' AND '{plan.date_to.isoformat()}'"
    queries = {
        "raw_events": f"SELECT count() FROM naap.raw_events WHERE event_date {span}",
        "ai_stream_status": f"SELECT count() FROM naap.ai_stream_status WHERE event_date {span}",
        "stream_ingest_metrics": f"SELECT count() FROM naap.stream_ingest_metrics WHERE event_date {span}",
        "stream_trace_events": f"SELECT count() FROM naap.stream_trace_events WHERE event_date {span}",
        "calculated_metrics": f"SELECT count() FROM naap.calculated_metrics WHERE metric_date {span}",
    }
    with clickhouse.lock():
        return {t: int(client.query(q).result_rows[0][0]) for t, q in queries.items()}


def parse_date(text: str) -> dt.date:
    """A ``YYYY-MM-DD`` command-line date; exits naming the value otherwise."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise SystemExit(f"error: {text!r} is not a date; use YYYY-MM-DD") from None

