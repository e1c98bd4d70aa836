"""What both baselines share: the event classes, the table layouts, the database, the row helpers."""

from __future__ import annotations

import resource
import shutil
import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from bench.generate import FILE_PATTERN
from jobs import settings as settings_module
from jobs.connectors import clickhouse
from jobs.naap import summary
from jobs.ops import migrate
from jobs.settings import Settings

JOB_SOURCE = "naap"  # source rejects carry the pipeline name (jobs/runtime.py)
JOB_INGEST = "naap_ingest"
TYPED_EVENT_TYPES = (
    "ai_stream_status",
    "stream_ingest_metrics",
    "stream_trace",
    "network_capabilities",
)
KNOWN_EVENT_TYPES = (
    *TYPED_EVENT_TYPES,
    "ai_stream_events",
    "create_new_payment",
    "discovery_results",
)
DECODE_REASONS = ("payload_too_large", "malformed_json")
WINDOW_MS = 300_000
BATCH_ROWS = 100_000
TS = pa.timestamp("ms", tz="UTC")
S = pa.string()
COUNT_TABLES = summary.TABLES  # the tables the pipeline's summary reports
# Engines whose logical row count is the count after merges (FINAL).
FINAL_TABLES = (
    "dead_letter",
    "orchestrator_metadata",
    "ai_stream_status_5min",
    "stream_ingest_metrics_hourly",
)

# -- table layouts for the Python baseline (column, Arrow type), in row-tuple order ------------------
RAW_EVENTS = [
    ("event_id", S),
    ("dedup_key", S),
    ("event_timestamp", TS),
    ("event_type", S),
    ("stream_id", S),
    ("request_id", S),
    ("gateway", S),
    ("orchestrator_address", S),
    ("orchestrator_url", S),
    ("raw_data", S),
    ("source_position", S),
]
AI_STREAM_STATUS = [
    ("event_id", S),
    ("event_timestamp", TS),
    ("stream_id", S),
    ("request_id", S),
    ("gateway", S),
    ("orchestrator_address", S),
    ("orchestrator_url", S),
    ("pipeline", S),
    ("pipeline_id", S),
    ("model_id", S),
    ("output_fps", pa.float32()),
    ("input_fps", pa.float32()),
    ("state", S),
    ("restart_count", pa.uint32()),
    ("last_error", S),
    ("last_error_time", TS),
    ("prompt_text", S),
    ("prompt_width", pa.uint16()),
    ("prompt_height", pa.uint16()),
    ("params_hash", S),
    ("start_time", TS),
]
STREAM_INGEST_METRICS = [
    ("event_id", S),
    ("event_timestamp", TS),
    ("stream_id", S),
    ("request_id", S),
    ("gateway", S),
    ("orchestrator_address", S),
    ("pipeline_id", S),
    ("connection_quality", S),
    ("video_jitter", pa.float32()),
    ("video_packets_received", pa.uint32()),
    ("video_packets_lost", pa.uint32()),
    ("video_packet_loss_pct", pa.float32()),
    ("video_last_input_ts", pa.float32()),
    ("audio_jitter", pa.float32()),
    ("audio_packets_received", pa.uint32()),
    ("audio_packets_lost", pa.uint32()),
    ("audio_packet_loss_pct", pa.float32()),
    ("audio_last_input_ts", pa.float32()),
    ("bytes_received", pa.uint64()),
    ("bytes_sent", pa.uint64()),
    ("transport_id", S),
]
STREAM_TRACE_EVENTS = [
    ("event_id", S),
    ("event_timestamp", TS),
    ("stream_id", S),
    ("request_id", S),
    ("gateway", S),
    ("orchestrator_address", S),
    ("orchestrator_url", S),
    ("pipeline_id", S),
    ("pipeline", S),
    ("trace_type", S),
    ("data_timestamp", TS),
    ("is_data_timestamp_from_envelope", pa.bool_()),
    ("message", S),
]
ORCHESTRATOR_METADATA = [
    ("orchestrator_address", S),
    ("local_address", S),
    ("orchestrator_url", S),
    ("gpu_id", S),
    ("gpu_name", S),
    ("gpu_memory_total", pa.uint64()),
    ("gpu_memory_free", pa.uint64()),
    ("gpu_major_version", pa.uint8()),
    ("gpu_minor_version", pa.uint8()),
    ("pipeline", S),
    ("model_id", S),
    ("runner_version", S),
    ("orchestrator_version", S),
    ("supported_pipelines", pa.list_(S)),
    ("supported_models", pa.list_(S)),
    ("capacity", pa.uint16()),
    ("capacity_in_use", pa.uint16()),
    ("price_per_pixel", pa.float64()),
    ("region", S),
    ("valid_from", TS),
    ("valid_to", TS),
    ("is_current", pa.bool_()),
    ("last_seen", TS),
    ("gateway", S),
    ("source_event_id", S),
]
DEAD_LETTER = [
    ("reject_key", S),
    ("job", S),
    ("stage", S),
    ("reason", S),
    ("detail", S),
    ("event_id", S),
    ("event_type", S),
    ("event_timestamp", TS),
    ("source_position", S),
    ("payload", S),
    ("payload_length", pa.uint64()),
    ("is_payload_truncated", pa.bool_()),
]
CALCULATED_METRICS = [
    ("metric_timestamp", TS),
    ("window_start", TS),
    ("window_end", TS),
    ("stream_id", S),
    ("request_id", S),
    ("gateway", S),
    ("orchestrator_address", S),
    ("orchestrator_url", S),
    ("gpu_id", S),
    ("region", S),
    ("pipeline", S),
    ("model_id", S),
    ("metric_name", S),
    ("metric_category", S),
    ("metric_version", pa.uint16()),
    ("metric_value", pa.float64()),
    ("metric_unit", S),
    ("metric_metadata", S),
]


def ms_text(ms: int) -> str:
    """Epoch milliseconds as ``YYYY-MM-DD HH:MM:SS.mmm`` (UTC), the pipeline's late-reject detail."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def cpu_s() -> float:
    """CPU seconds of this process, all threads (the embedded engine's included)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def input_files(input_dir: Path) -> list[Path]:
    """The generated event files of ``input_dir`` in name order; exits when there are none."""
    files = sorted(Path(input_dir).glob(FILE_PATTERN))
    if not files:
        raise SystemExit(
            f"no {FILE_PATTERN} files in {input_dir}; run python -m bench.generate first"
        )
    return files


def fresh_database(var_dir: Path) -> tuple[Settings, Any]:
    """An empty var dir with the NaaP schema applied by the project's migrator."""
    shutil.rmtree(var_dir, ignore_errors=True)
    var_dir.mkdir(parents=True)
    settings = settings_module.load({"NETPULSE_VAR_DIR": str(var_dir)})
    migrate.migrate(settings, databases=("naap",))
    return settings, clickhouse.connect(settings)


def row_counts(client: Any) -> dict[str, int]:
    """Rows per NaaP table (after merges for the Replacing/Aggregating engines)."""
    existing = {
        r[0]
        for r in client.query("SELECT name FROM system.tables WHERE database = 'naap'").result_rows
    }
    counts = {}
    for table in COUNT_TABLES:
        if table in existing:
            final = " FINAL" if table in FINAL_TABLES else ""
            counts[table] = int(client.command(f"SELECT count() FROM naap.{table}{final}"))
    return counts


def parquet_rows(parquet_dir: Path) -> int:
    """Rows in the calculated_metrics Parquet files under ``parquet_dir``."""
    files = sorted(Path(parquet_dir).glob("calculated_metrics/**/*.parquet"))
    return sum(pq.ParquetFile(f).metadata.num_rows for f in files)


class BatchTable:
    """Rows of one table as tuples; flushed as an Arrow table of >= BATCH_ROWS rows.

    The insert itself runs on one writer thread (the embedded engine releases the GIL while it
    parses, sorts and compresses), so parsing the next batch overlaps with writing this one.
    """

    def __init__(
        self,
        client: Any,
        table: str,
        layout: list[tuple[str, pa.DataType]],
        live: set[str],
        writer: ThreadPoolExecutor | None = None,
    ):
        self.client = client
        self.writer = writer
        self.pending: list[Future[None]] = []
        self.table = table
        self.layout = layout
        self.keep = [i for i, (name, _) in enumerate(layout) if name in live]
        self.rows: list[tuple[Any, ...]] = []
        self.inserted = 0
        self.seconds = 0.0

    def add(self, row: tuple[Any, ...]) -> None:
        self.rows.append(row)
        if len(self.rows) >= BATCH_ROWS:
            self.flush()

    def arrow(self) -> pa.Table:
        columns = list(zip(*self.rows, strict=True)) if self.rows else [() for _ in self.layout]
        return pa.Table.from_arrays(
            [pa.array(columns[i], type=self.layout[i][1]) for i in self.keep],
            names=[self.layout[i][0] for i in self.keep],
        )

    def flush(self) -> None:
        if not self.rows:
            return
        table = self.arrow()
        self.inserted += len(self.rows)
        self.rows = []
        if self.writer is None:
            self._insert(table)
        else:
            self.pending.append(self.writer.submit(self._insert, table))

    def _insert(self, table: pa.Table) -> None:
        started = time.perf_counter()
        self.client.insert_arrow(self.table.split(".")[1], table, database=self.table.split(".")[0])
        self.seconds += time.perf_counter() - started

    def wait(self) -> None:
        for future in self.pending:
            future.result()
        self.pending = []


def live_columns(client: Any, table: str) -> set[str]:
    """The columns of ``db.table`` that an insert may set (not MATERIALIZED or ALIAS)."""
    db, name = table.split(".")
    rows = client.query(
        "SELECT name FROM system.columns WHERE database = {db:String} AND table = {t:String} "
        "AND default_kind NOT IN ('MATERIALIZED', 'ALIAS')",
        parameters={"db": db, "t": name},
    ).result_rows
    return {r[0] for r in rows}


def as_str(value: Any) -> str:
    """A JSON string value, or '' for anything else (Flink's JSON_VALUE on a non-string)."""
    return value if type(value) is str else ""


def as_num(value: Any) -> float | None:
    """A JSON number or numeric string (Flink TRY_CAST(JSON_VALUE(...) AS DOUBLE)); None if absent."""
    t = type(value)
    if t is float or t is int:
        return value
    if t is str:
        try:
            return float(value)
        except ValueError:
            return None
    return None


def is_bad(value: Any) -> bool:
    """Present but not a number (a wrong type, not a missing one)."""
    if value is None or type(value) in (int, float):
        return False
    if type(value) is str:
        try:
            float(value)
            return False
        except ValueError:
            return True
    return type(value) is bool




def write_parquet(table: pa.Table, parquet_root: Path, tag: str) -> None:
    """Write ``calculated_metrics/metric_date=YYYY-MM-DD/metric_category=<c>/part-<tag>.parquet``."""
    import pyarrow.compute as pc

    if table.num_rows == 0:
        return
    dates = pc.strftime(table.column("metric_timestamp"), format="%Y-%m-%d")
    table = table.append_column(
        "metric_date", pc.cast(table.column("metric_timestamp"), pa.date32())
    )
    categories = table.column("metric_category")
    for day, category in sorted(set(zip(dates.to_pylist(), categories.to_pylist(), strict=True))):
        part = table.filter(pc.and_(pc.equal(dates, day), pc.equal(categories, category)))
        path = (
            parquet_root
            / "calculated_metrics"
            / f"metric_date={day}"
            / f"metric_category={category}"
            / f"part-{tag}.parquet"
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(part, path)
