"""Two baselines doing the pipeline's work on the same files, for the benchmark ratios.

    python -m bench.baselines --impl python --input DIR --var DIR [--json FILE]
    python -m bench.baselines --impl sql    --input DIR --var DIR [--json FILE]
    python -m bench.baselines --counts --var DIR          # rows per table of any run's database

Both start from an empty ``--var`` directory, create the embedded ClickHouse database with the
project's migrator (``jobs.migrate``, naap files only) and produce what ``python -m jobs run
naap`` produces (jobs/envelopes.py, naap_ingest.py, naap_metrics.py, catalog.py, parquet.py):

* naap.dead_letter: source rejects of the same classes (decode: payload_too_large,
  malformed_json; validate: not_an_object, missing_type, invalid_timestamp,
  timestamp_out_of_range, timestamp_in_future, missing_data, invalid_data, unknown_event_type; late: event time at or
  before the watermark = highest earlier event time - NETPULSE_ALLOWED_LATENESS_S), same
  reject_key recipe, payload cap and job names;
* one row per distinct event (first delivery per NETPULSE_BATCH_INTERVAL_S event-time window and
  dedup_key = id, or sha256 of the line without an id) in naap.raw_events, and by type in
  naap.ai_stream_status, naap.stream_ingest_metrics, naap.stream_trace_events and
  naap.orchestrator_metadata (one row per snapshot x orchestrator x GPU); the materialized views
  fill the 5-minute and hourly tables as they do for the pipeline;
* naap.calculated_metrics with every metric of jobs/catalog.py: the request latencies per
  request trace session and the attempt latencies per request x orchestrator (edges = minimum
  payload time per subtype; sessions split where the edges' 5 s batch times are
  NETPULSE_TRACE_SESSION_GAP_S apart), trace_latency_rejects,
  and per stream and 5-minute window jitter_coefficient, output_fps_mean and
  status_sample_count (warm-up samples excluded);
* the same rows as Parquet under ``<var>/parquet/calculated_metrics/metric_date=.../
  metric_category=.../``.

(a) ``python``: a careful single-process Python program: ``json.loads`` per line, rows kept as
tuples and turned into Arrow tables of >= 100k rows inserted with ``client.insert_arrow`` on
one writer thread (overlapping the next batch's parsing; at most one batch per table waits),
metrics in dictionaries, Parquet with pyarrow. The capabilities fan-out reuses the pipeline's
pure parser (udfs/capabilities.explode).

(b) ``sql``: ClickHouse SQL in batch inside the same embedded engine: the lines are read with
``file(..., 'LineAsString')`` (``JSONAsString`` aborts the whole query on the first malformed
line, and malformed lines must reach the dead-letter table), the envelope is parsed once with
``JSONExtract(line, 'Tuple(...)')``, late and duplicate lines are found with window functions,
(``data`` is re-validated only when it was sent as a JSON-encoded string), the typed tables
are filled by ``INSERT ... SELECT`` with ``JSONExtract`` of typed tuples, the
metrics by ``GROUP BY`` and the Parquet files by ``INSERT INTO FUNCTION file(..., 'Parquet')``.
Intermediate results live in Memory tables (a batch engine's advantage: it sees all input at
once, so peak memory grows with the input).

Known differences from the pipeline, all immaterial for the generated data: the SQL baseline
checks only missing_stream_id / missing_stats / missing_trace_type among the parse rejects
(not wrongly typed numbers); the watermark is exact per line (Flink's advances every 200 ms);
files are read in name order (the generator's files are in time order).

Each run prints events/s, wall time, peak RSS and rows per table; ``--json`` writes them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import resource
import shutil
import sys
import time
from collections import defaultdict
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from bench.generate import FILE_PATTERN
from jobs import catalog, clickhouse, migrate, summary
from jobs import settings as settings_module
from jobs.settings import Settings
from jobs.sources import MIN_EVENT_MS

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


def _ms_text(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _cpu_s() -> float:
    """CPU seconds of this process, all threads (the embedded engine's included)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def input_files(input_dir: Path) -> list[Path]:
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
    files = sorted(Path(parquet_dir).glob("calculated_metrics/**/*.parquet"))
    return sum(pq.ParquetFile(f).metadata.num_rows for f in files)


class _Table:
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


def _live_columns(client: Any, table: str) -> set[str]:
    db, name = table.split(".")
    rows = client.query(
        "SELECT name FROM system.columns WHERE database = {db:String} AND table = {t:String} "
        "AND default_kind NOT IN ('MATERIALIZED', 'ALIAS')",
        parameters={"db": db, "t": name},
    ).result_rows
    return {r[0] for r in rows}


def _str(value: Any) -> str:
    return value if type(value) is str else ""


def _num(value: Any) -> float | None:
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


def _bad(value: Any) -> bool:
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


# ---------------------------------------------------------------------------------------------------
# (a) careful single-process Python
# ---------------------------------------------------------------------------------------------------
def run_python(files: list[Path], settings: Settings, client: Any) -> dict[str, Any]:
    from udfs.capabilities import explode  # the pipeline's own pure parser (no JVM)

    loads = json.loads
    sha256 = hashlib.sha256
    lateness = settings.allowed_lateness_s * 1000
    batch_ms = settings.dedup_window_s * 1000
    max_chars = settings.max_event_bytes
    cap = settings.dlq_payload_cap_chars
    now_max = int(time.time() * 1000) + settings.max_future_skew_s * 1000
    known = frozenset(KNOWN_EVENT_TYPES)

    writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="insert")
    tables = {
        name: _Table(client, name, layout, _live_columns(client, name), writer)
        for name, layout in (
            ("naap.raw_events", RAW_EVENTS),
            ("naap.ai_stream_status", AI_STREAM_STATUS),
            ("naap.stream_ingest_metrics", STREAM_INGEST_METRICS),
            ("naap.stream_trace_events", STREAM_TRACE_EVENTS),
            ("naap.orchestrator_metadata", ORCHESTRATOR_METADATA),
            ("naap.dead_letter", DEAD_LETTER),
            ("naap.calculated_metrics", CALCULATED_METRICS),
        )
    }
    raw_add = tables["naap.raw_events"].add
    status_add = tables["naap.ai_stream_status"].add
    ingest_add = tables["naap.stream_ingest_metrics"].add
    trace_add = tables["naap.stream_trace_events"].add
    meta_add = tables["naap.orchestrator_metadata"].add
    announcements: list[dict[str, Any]] = []
    dead_add = tables["naap.dead_letter"].add

    def reject(
        job: str,
        stage: str,
        reason: str,
        detail: str,
        event_id: str,
        etype: str,
        ms: int | None,
        pos: str,
        line: str,
    ) -> None:
        key = sha256("|".join((job, stage, reason, pos, line)).encode()).hexdigest()
        dead_add(
            (
                key,
                job,
                stage,
                reason,
                detail,
                event_id,
                etype,
                ms,
                pos,
                line[:cap],
                len(line),
                len(line) > cap,
            )
        )

    # metric inputs, in dictionaries
    edges_by_request: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    samples_by_stream: dict[str, list[tuple[Any, ...]]] = defaultdict(list)

    max_seen = 0
    windows: dict[int, set[str]] = {}
    lines_read = 0
    started = time.perf_counter()
    for path in files:
        pos = str(path)
        with open(path, encoding="utf-8", errors="replace", newline="\n") as f:
            for line in f:
                if line[-1:] == "\n":
                    line = line[:-1]
                lines_read += 1
                # ---- envelope: classify like jobs/envelopes.py ----
                reason = None
                obj: Any = None
                event_id = etype = ""
                ms = None
                data: Any = None
                if len(line) > max_chars:
                    reason = "payload_too_large"
                else:
                    try:
                        obj = loads(line)
                    except ValueError:
                        reason = "malformed_json"
                if reason is None:
                    if type(obj) is not dict:
                        reason = "not_an_object"
                    else:
                        event_id = _str(obj.get("id"))
                        etype = _str(obj.get("type"))
                        ts = obj.get("timestamp")
                        if type(ts) is str:
                            ms = int(ts) if ts.isascii() and ts.isdigit() else None
                        elif type(ts) is int:
                            ms = ts
                        if not etype:
                            reason = "missing_type"
                        elif ms is None:
                            reason = "invalid_timestamp"
                        elif ms < MIN_EVENT_MS:
                            reason = "timestamp_out_of_range"
                        elif ms > now_max:
                            reason = "timestamp_in_future"
                        else:
                            data = obj.get("data")
                            if data is None:
                                reason = "missing_data"
                            elif type(data) is str:
                                try:
                                    data = loads(data)
                                except ValueError:
                                    reason = "invalid_data"
                            if reason is None:
                                if etype not in known:
                                    reason = "unknown_event_type"
                                elif max_seen and ms <= max_seen - lateness:
                                    reason = "late"
                plausible = ms if ms is not None and MIN_EVENT_MS <= ms <= now_max else 0
                if reason is not None:
                    if reason == "late":
                        reject(
                            JOB_SOURCE,
                            "late",
                            reason,
                            f"event time {_ms_text(ms or 0)} is at or before the watermark",
                            event_id,
                            etype,
                            ms,
                            pos,
                            line,
                        )
                    else:
                        stage = "decode" if reason in DECODE_REASONS else "validate"
                        reject(JOB_SOURCE, stage, reason, "", event_id, etype, None, pos, line)
                    if plausible > max_seen:
                        max_seen = plausible
                    continue
                if plausible > max_seen:
                    max_seen = plausible
                assert ms is not None  # accepted lines have a plausible envelope time
                # ---- deduplication per event-time batch window ----
                dedup_key = event_id or sha256(line.encode()).hexdigest()
                window = ms // batch_ms
                seen = windows.get(window)
                if seen is None:
                    seen = windows[window] = set()
                    if len(windows) > 64:  # windows the watermark has passed can hold no new event
                        for w in [w for w in windows if (w + 1) * batch_ms <= max_seen - lateness]:
                            del windows[w]
                elif dedup_key in seen:
                    continue
                seen.add(dedup_key)
                rt = window * batch_ms + batch_ms - 1
                # ---- raw_events ----
                d = data if type(data) is dict else {}
                stream_id = _str(d.get("stream_id"))
                request_id = d.get("request_id")
                if request_id is None:
                    request_id = d.get("requestID")
                request_id = _str(request_id)
                oi = d.get("orchestrator_info")
                if type(oi) is dict:
                    address = _str(oi.get("address")).lower()
                    url = _str(oi.get("url"))
                else:
                    address = url = ""
                gateway = _str(obj.get("gateway"))
                raw_add(
                    (
                        event_id,
                        dedup_key,
                        ms,
                        etype,
                        stream_id,
                        request_id,
                        gateway,
                        address,
                        url,
                        line,
                        pos,
                    )
                )
                # ---- typed tables ----
                if etype == "stream_ingest_metrics":
                    stats = d.get("stats")
                    if type(stats) is not dict:
                        if type(stats) is not list:
                            reject(
                                JOB_INGEST,
                                "parse",
                                "missing_stats",
                                "",
                                event_id,
                                etype,
                                ms,
                                pos,
                                line,
                            )
                        continue
                    tracks = stats.get("track_stats")
                    video = audio = None
                    if type(tracks) is list:
                        for tr in tracks[:2]:
                            if type(tr) is dict:
                                kind = tr.get("type")
                                if kind == "video" and video is None:
                                    video = tr
                                elif kind == "audio" and audio is None:
                                    audio = tr
                    video = video or {}
                    audio = audio or {}
                    if (
                        _bad(video.get("jitter"))
                        or _bad(audio.get("jitter"))
                        or _bad(video.get("packets_lost"))
                        or _bad(audio.get("packets_lost"))
                    ):
                        reject(
                            JOB_INGEST,
                            "parse",
                            "invalid_track_stats",
                            "",
                            event_id,
                            etype,
                            ms,
                            pos,
                            line,
                        )
                        continue
                    pcs = stats.get("peer_conn_stats")
                    pcs = pcs if type(pcs) is dict else {}
                    ingest_add(
                        (
                            event_id,
                            ms,
                            stream_id,
                            _str(d.get("request_id")),
                            gateway,
                            address,
                            _str(d.get("pipeline_id")),
                            _str(stats.get("conn_quality")),
                            _num(video.get("jitter")) or 0.0,
                            int(_num(video.get("packets_received")) or 0),
                            int(_num(video.get("packets_lost")) or 0),
                            _num(video.get("packet_loss_pct")) or 0.0,
                            _num(video.get("last_input_ts")) or 0.0,
                            _num(audio.get("jitter")) or 0.0,
                            int(_num(audio.get("packets_received")) or 0),
                            int(_num(audio.get("packets_lost")) or 0),
                            _num(audio.get("packet_loss_pct")) or 0.0,
                            _num(audio.get("last_input_ts")) or 0.0,
                            int(_num(pcs.get("BytesReceived")) or 0),
                            int(_num(pcs.get("BytesSent")) or 0),
                            _str(pcs.get("ID")),
                        )
                    )
                elif etype == "ai_stream_status":
                    inf = d.get("inference_status")
                    inf = inf if type(inf) is dict else {}
                    inp = d.get("input_status")
                    inp = inp if type(inp) is dict else {}
                    fps_raw = inf.get("fps")
                    bad_fps = _bad(fps_raw)
                    fps = _num(fps_raw) or 0.0
                    pipeline = _str(d.get("pipeline"))
                    if stream_id and not bad_fps:
                        samples_by_stream[stream_id].append(
                            (ms, fps, _str(d.get("request_id")), gateway, address, url, pipeline)
                        )
                    if bad_fps:
                        reason = "invalid_output_fps"
                    elif _bad(inp.get("fps")):
                        reason = "invalid_input_fps"
                    elif not stream_id and not _str(d.get("request_id")):
                        reason = "missing_stream_id"
                    if reason is not None:
                        reject(JOB_INGEST, "parse", reason, "", event_id, etype, ms, pos, line)
                        continue
                    params = inf.get("last_params")
                    params = params if type(params) is dict else {}
                    error = inf.get("last_error")
                    error_time = _num(inf.get("last_error_time"))
                    start_time = _num(d.get("start_time"))
                    prompt = params.get("prompt")
                    status_add(
                        (
                            event_id,
                            ms,
                            stream_id,
                            _str(d.get("request_id")),
                            gateway,
                            address,
                            url,
                            pipeline,
                            _str(d.get("pipeline_id")),
                            pipeline,
                            fps,
                            _num(inp.get("fps")) or 0.0,
                            _str(d.get("state")),
                            int(_num(inf.get("restart_count")) or 0),
                            error if error is None or type(error) is str else json.dumps(error),
                            int(error_time) if error_time is not None else None,
                            prompt if prompt is None or type(prompt) is str else json.dumps(prompt),
                            int(_num(params.get("width")) or 0),
                            int(_num(params.get("height")) or 0),
                            _str(inf.get("last_params_hash")),
                            int(start_time) if start_time is not None else None,
                        )
                    )
                elif etype == "stream_trace":
                    trace_type = _str(d.get("type"))
                    payload_raw = d.get("timestamp")
                    payload_ms = _num(payload_raw)
                    payload_ms = (
                        int(payload_ms)
                        if payload_ms is not None and float(payload_ms).is_integer()
                        else None
                    )
                    edge_ms = payload_ms if payload_ms and payload_ms > 0 else ms
                    pipeline = _str(d.get("pipeline"))
                    if request_id:
                        relay = (
                            ms - payload_ms
                            if payload_ms and payload_ms > 0 and trace_type in catalog.RUNNER_EDGES
                            else None
                        )
                        edges_by_request[request_id].append(
                            (rt, trace_type, edge_ms, stream_id, address, url, pipeline, gateway, relay)
                        )
                    if not trace_type:
                        reject(
                            JOB_INGEST,
                            "parse",
                            "missing_trace_type",
                            "",
                            event_id,
                            etype,
                            ms,
                            pos,
                            line,
                        )
                        continue
                    if payload_raw is not None and payload_ms is None:
                        reject(
                            JOB_INGEST,
                            "parse",
                            "invalid_data_timestamp",
                            "",
                            event_id,
                            etype,
                            ms,
                            pos,
                            line,
                        )
                        continue
                    trace_add(
                        (
                            event_id,
                            ms,
                            stream_id,
                            _str(d.get("request_id")),
                            gateway,
                            address,
                            url,
                            _str(d.get("pipeline_id")),
                            pipeline,
                            trace_type,
                            edge_ms,
                            not (payload_ms and payload_ms > 0),
                            _str(d.get("message")),
                        )
                    )
                elif etype == "network_capabilities":
                    rows, rejects = explode(data, ms, gateway, event_id)
                    announcements.extend(rows)  # folded into SCD2 versions at the end
                    for rej in rejects:
                        key = sha256(
                            "|".join((JOB_INGEST, "parse", rej.reason, pos, rej.payload)).encode()
                        ).hexdigest()
                        dead_add(
                            (
                                key,
                                JOB_INGEST,
                                "parse",
                                rej.reason,
                                rej.detail,
                                event_id,
                                etype,
                                ms,
                                pos,
                                rej.payload[:cap],
                                len(rej.payload),
                                len(rej.payload) > cap,
                            )
                        )
    ingest_seconds = time.perf_counter() - started

    metrics_started = time.perf_counter()
    metrics_add = tables["naap.calculated_metrics"].add
    metric_rows: list[tuple[Any, ...]] = []

    def emit(row: tuple[Any, ...]) -> None:
        metric_rows.append(row)
        metrics_add(row)

    _python_latencies(edges_by_request, settings.trace_session_gap_s * 1000, emit)
    _python_windows(samples_by_stream, settings.jitter_min_samples, emit)
    for version in _python_versions(announcements):
        meta_add(version)
    for table in tables.values():
        table.flush()
    for table in tables.values():
        table.wait()
    writer.shutdown()
    metrics_seconds = time.perf_counter() - metrics_started

    parquet_started = time.perf_counter()
    metrics_table = tables["naap.calculated_metrics"]
    metrics_table.rows = metric_rows
    _write_parquet(metrics_table.arrow(), Path(settings.parquet_url), "python")
    metrics_table.rows = []
    parquet_seconds = time.perf_counter() - parquet_started
    return {
        "lines": lines_read,
        "profile_s": {
            "parse + classify + batch": round(ingest_seconds, 2),
            "insert_arrow (writer thread, overlapped)": round(
                sum(t.seconds for t in tables.values()), 2
            ),
            **{f"  insert_arrow {name}": round(t.seconds, 2) for name, t in tables.items()},
            "metrics + final inserts": round(metrics_seconds, 2),
            "parquet": round(parquet_seconds, 2),
        },
    }


def _metric(
    m: catalog.Metric,
    ts: int,
    start: int,
    end: int,
    stream_id: str,
    request_id: str | None,
    gateway: str,
    address: str,
    url: str,
    pipeline: str,
    value: float,
    metadata: dict[str, Any],
) -> tuple[Any, ...]:
    return (
        ts,
        start,
        end,
        stream_id,
        request_id,
        gateway,
        address,
        url,
        None,
        "",
        pipeline,
        pipeline,
        m.name,
        m.category,
        m.version,
        float(value),
        m.unit,
        json.dumps(metadata, separators=(",", ":"), sort_keys=True),
    )


def _python_versions(announcements: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """orchestrator_metadata as the pipeline keeps it: SCD2 versions (udfs/scd.advance).

    Announcements are applied per key in event-time order, as the pipeline applies them once
    the watermark passed; every emitted row replaces the earlier row of its version (the
    table is a ReplacingMergeTree on key + valid_from, version last_seen), so the rows kept are
    the last emitted per (key, valid_from): what the pipeline's table shows after FINAL.
    """
    from udfs.scd import advance, key_of

    ordered = sorted(
        announcements, key=lambda r: (key_of(r), r["last_seen"], json.dumps(r, sort_keys=True))
    )
    current: dict[str, dict[str, Any]] = {}
    final: dict[tuple[str, str], dict[str, Any]] = {}
    for row in ordered:
        key = key_of(row)
        current[key], emitted = advance(current.get(key), row)
        for out in emitted:
            final[(key, out["valid_from"])] = out

    def ms(text: str | None) -> int | None:
        if text is None:
            return None
        return int(datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC).timestamp() * 1000)

    return [
        (
            r["orchestrator_address"], r["local_address"], r["orchestrator_url"], r["gpu_id"],
            r["gpu_name"], r["gpu_memory_total"], r["gpu_memory_free"], r["gpu_major_version"],
            r["gpu_minor_version"], r["pipeline"], r["model_id"], r["runner_version"],
            r["orchestrator_version"], r["supported_pipelines"], r["supported_models"],
            r["capacity"], r["capacity_in_use"], r["price_per_pixel"], r["region"],
            ms(r["valid_from"]), ms(r["valid_to"]), r["is_current"], ms(r["last_seen"]),
            r["gateway"], r["source_event_id"],
        )
        for r in final.values()
    ]


def _sessions(edges: list[tuple[Any, ...]], gap_ms: int) -> list[list[tuple[Any, ...]]]:
    """Edges (sorted by batch time) split where two are at least the gap apart."""
    out: list[list[tuple[Any, ...]]] = []
    for edge in edges:
        if out and edge[0] - out[-1][-1][0] < gap_ms:
            out[-1].append(edge)
        else:
            out.append([edge])
    return out


def _python_latencies(
    edges_by_request: dict[str, list[tuple[Any, ...]]], gap_ms: int, emit: Any
) -> None:
    for request_id, edges in edges_by_request.items():
        edges.sort(key=lambda e: e[0])
        for session in _sessions(edges, gap_ms):
            _python_session(request_id, session, gap_ms, None, emit)
        by_orchestrator: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
        for edge in edges:
            if edge[4]:
                by_orchestrator[edge[4]].append(edge)
        for address, attempt in by_orchestrator.items():
            for session in _sessions(attempt, gap_ms):
                _python_session(request_id, session, gap_ms, address, emit)


def _python_session(
    request_id: str, session: list[tuple[Any, ...]], gap_ms: int, attempt: str | None, emit: Any
) -> None:
    """The latencies of one request session (attempt None) or one orchestrator attempt."""
    first_processed = catalog.FIRST_PROCESSED
    first: dict[str, int] = {}
    addresses = set()
    swaps = 0
    relays: list[int] = []
    receive_relays: list[int] = []
    stream_id = gateway = pipeline = ""
    fp_address = fp_url = any_address = any_url = ""
    for _, edge, edge_ms, sid, address, url, pl, gw, relay in session:
        if edge not in first or edge_ms < first[edge]:
            first[edge] = edge_ms
        stream_id = max(stream_id, sid)
        gateway = max(gateway, gw)
        pipeline = max(pipeline, pl)
        if relay is not None:
            relays.append(relay)
            if edge == catalog.RUNNER_RECEIVE:
                receive_relays.append(relay)
        if address:
            addresses.add(address)
            any_address = max(any_address, address)
            if edge == first_processed:
                fp_address = max(fp_address, address)
        if url:
            any_url = max(any_url, url)
            if edge == first_processed:
                fp_url = max(fp_url, url)
        if edge == catalog.SWAP:
            swaps += 1
    address = attempt if attempt is not None else fp_address or any_address
    url = fp_url or any_url
    session_end = session[-1][0] + gap_ms
    scope = catalog.REQUEST_SCOPE if attempt is None else catalog.ATTEMPT_SCOPE
    receive_relay = min(receive_relays) if receive_relays else None
    reasons: dict[str, str] = {}
    for m in catalog.LATENCIES:
        if m.scope != scope:
            continue
        start, end = first.get(m.start_edge), first.get(m.end_edge)
        no_clock = m.is_cross_host and receive_relay is None
        if start is not None and end is not None and end >= start and not no_clock:
            s, e = catalog.EDGE_INFO[m.start_edge], catalog.EDGE_INFO[m.end_edge]
            meta: dict[str, Any] = {
                "start_edge": m.start_edge,
                "end_edge": m.end_edge,
                "start_clock": s.clock,
                "end_clock": e.clock,
                "start_moment": s.moment,
                "end_moment": e.moment,
                "time_field": "payload",
                "scope": scope,
                "swap_count": swaps,
            }
            if attempt is None:
                meta["orchestrator_count"] = len(addresses)
            if m.is_cross_host:
                meta["relay_offset_ms"] = receive_relay
                meta["relay_offset_min_ms"] = min(relays)
                meta["relay_offset_max_ms"] = max(relays)
                meta["upper_bound_ms"] = end - start + min(relays)
            emit(
                _metric(
                    m,
                    start,
                    start,
                    end,
                    stream_id,
                    request_id,
                    gateway,
                    address,
                    url,
                    pipeline,
                    end - start,
                    meta,
                )
            )
        elif start is None and end is not None:
            reasons[m.name] = f"missing_edge:{m.start_edge}"
        elif end is None and start is not None:
            reasons[m.name] = f"missing_edge:{m.end_edge}"
        elif start is not None and end is not None and no_clock:
            reasons[m.name] = "no_runner_clock"
        elif start is not None and end is not None:
            reasons[m.name] = f"negative:{end - start}"
    if reasons:
        request_ms = first.get(catalog.REQUEST)
        if request_ms is None:
            request_ms = min(
                (first.get(e, 2**62) for e in catalog.EDGES if e != catalog.SWAP), default=2**62
            )
        emit(
            _metric(
                catalog.TRACE_LATENCY_REJECTS,
                request_ms,
                request_ms,
                session_end,
                stream_id,
                request_id,
                gateway,
                address,
                url,
                pipeline,
                len(reasons),
                reasons,
            )
        )


def _python_windows(
    samples_by_stream: dict[str, list[tuple[Any, ...]]], minimum: int, emit: Any
) -> None:
    for stream_id, samples in samples_by_stream.items():
        positives = [s[0] for s in samples if s[1] > 0]
        first_positive = min(positives) if positives else None
        windows: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
        for s in samples:
            windows[s[0] // WINDOW_MS].append(s)
        for w, rows in windows.items():
            start = w * WINDOW_MS
            end = start + WINDOW_MS
            n = warm = 0
            total = total_sq = 0.0
            request_id = gateway = address = url = pipeline = ""
            addresses = set()
            for ms, fps, rid, gw, addr, u, pl in rows:
                request_id = max(request_id, rid)
                gateway = max(gateway, gw)
                address = max(address, addr)
                url = max(url, u)
                pipeline = max(pipeline, pl)
                if addr:
                    addresses.add(addr)
                if fps == 0 and (first_positive is None or ms < first_positive):
                    warm += 1
                else:
                    n += 1
                    total += fps
                    total_sq += fps * fps
            mean = total / n if n else 0.0
            stddev = math.sqrt(max(0.0, total_sq / n - mean * mean)) if n else 0.0
            status = (
                "warmup_only"
                if n == 0
                else "too_few_samples"
                if n < minimum
                else "zero_mean"
                if mean <= 0
                else "ok"
            )
            meta = {
                "sample_count": n,
                "warmup_sample_count": warm,
                "mean_fps": mean if n else None,
                "stddev_fps": stddev if n else None,
                "sum_fps": total,
                "sum_sq_fps": total_sq,
                "orchestrator_count": len(addresses),
                "jitter": status,
            }
            rid = request_id or None
            if status == "ok":
                emit(
                    _metric(
                        catalog.JITTER,
                        start,
                        start,
                        end,
                        stream_id,
                        rid,
                        gateway,
                        address,
                        url,
                        pipeline,
                        stddev / mean,
                        meta,
                    )
                )
            if n > 0:
                emit(
                    _metric(
                        catalog.FPS_MEAN,
                        start,
                        start,
                        end,
                        stream_id,
                        rid,
                        gateway,
                        address,
                        url,
                        pipeline,
                        mean,
                        meta,
                    )
                )
            emit(
                _metric(
                    catalog.SAMPLE_COUNT,
                    start,
                    start,
                    end,
                    stream_id,
                    rid,
                    gateway,
                    address,
                    url,
                    pipeline,
                    len(rows),
                    meta,
                )
            )


def _write_parquet(table: pa.Table, parquet_root: Path, tag: str) -> None:
    """calculated_metrics/metric_date=YYYY-MM-DD/metric_category=<c>/part-<tag>.parquet"""
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


# ---------------------------------------------------------------------------------------------------
# (b) ClickHouse SQL in batch
# ---------------------------------------------------------------------------------------------------
_ENVELOPE = "Tuple(id Nullable(String), type Nullable(String), gateway Nullable(String), timestamp Nullable(String), data Nullable(String))"

# grain: one row per input line, with its envelope fields and source reject reason
SQL_LINES = """
INSERT INTO bench.lines
SELECT source_position, file, line_no, line, event_id, event_type, gateway, envelope_ms,
    if(envelope_ms BETWEEN {min_ms} AND {max_ms}, envelope_ms, 0) AS plausible_ms, data,
    multiIf(
        lengthUTF8(line) > {max_chars}, 'payload_too_large',
        e.type IS NULL AND NOT isValidJSON(line), 'malformed_json',
        e.type IS NULL AND JSONType(line) != 'Object', 'not_an_object',
        event_type = '', 'missing_type',
        envelope_ms IS NULL, 'invalid_timestamp',
        envelope_ms < {min_ms}, 'timestamp_out_of_range',
        envelope_ms > {max_ms}, 'timestamp_in_future',
        data IS NULL, 'missing_data',
        position(line, '"data":{{') = 0 AND position(line, '"data":[') = 0 AND NOT isValidJSON(data), 'invalid_data',
        event_type NOT IN {known}, 'unknown_event_type',
        '') AS reason
FROM (
    SELECT _path AS source_position, _file AS file, _row_number AS line_no, line,
        JSONExtract(line, '{envelope}') AS e,
        ifNull(e.id, '') AS event_id, ifNull(e.type, '') AS event_type, ifNull(e.gateway, '') AS gateway,
        toInt64OrNull(e.timestamp) AS envelope_ms, e.data AS data
    FROM file('{glob}', 'LineAsString')
)
"""

# grain: one row per late line (event time at or before the highest earlier event time - lateness)
SQL_LATE = """
INSERT INTO bench.dropped
SELECT file, line_no, 'late' FROM (
    SELECT file, line_no, reason, envelope_ms,
        max(plausible_ms) OVER (ORDER BY file, line_no ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS seen
    FROM bench.lines
)
WHERE reason = '' AND seen > 0 AND envelope_ms <= seen - {lateness}
"""

# grain: one row per repeated delivery (not the first per batch window and dedup_key)
SQL_DUPLICATES = """
INSERT INTO bench.dropped
SELECT file, line_no, 'duplicate' FROM (
    SELECT file, line_no,
        row_number() OVER (PARTITION BY intDiv(envelope_ms, {batch}), dedup_key ORDER BY file, line_no) AS delivery
    FROM (
        SELECT file, line_no, envelope_ms, if(event_id != '', event_id, lower(hex(SHA256(line)))) AS dedup_key
        FROM bench.lines
        WHERE reason = '' AND (file, line_no) NOT IN (SELECT file, line_no FROM bench.dropped)
    )
)
WHERE delivery > 1
"""

# grain: one row per accepted, distinct event
SQL_ACCEPTED_VIEW = """
CREATE VIEW bench.accepted AS
SELECT * REPLACE (assumeNotNull(data) AS data, assumeNotNull(envelope_ms) AS envelope_ms),
    if(event_id != '', event_id, lower(hex(SHA256(line)))) AS dedup_key,
    intDiv(envelope_ms, {batch}) * {batch} + {batch} - 1 AS rt,
    fromUnixTimestamp64Milli(envelope_ms, 'UTC') AS event_ts
FROM bench.lines
WHERE reason = '' AND (file, line_no) NOT IN (SELECT file, line_no FROM bench.dropped)
"""

# grain: one row per rejected line (decode / validate / late)
SQL_DEAD_LETTER = """
INSERT INTO naap.dead_letter (reject_key, job, stage, reason, detail, event_id, event_type, event_timestamp,
    source_position, payload, payload_length, is_payload_truncated)
SELECT lower(hex(SHA256(concatWithSeparator('|', '{job}', stage, r, source_position, line)))), '{job}', stage, r,
    if(r = 'late', concat('event time ', toString(fromUnixTimestamp64Milli(envelope_ms, 'UTC')),
                          ' is at or before the watermark'), ''),
    event_id, event_type, if(r = 'late', fromUnixTimestamp64Milli(envelope_ms, 'UTC'), NULL),
    source_position, substringUTF8(line, 1, {cap}), lengthUTF8(line), lengthUTF8(line) > {cap}
FROM (
    SELECT *, if(reason = '', 'late', reason) AS r,
        multiIf(r IN ('payload_too_large', 'malformed_json'), 'decode', r = 'late', 'late', 'validate') AS stage
    FROM bench.lines
    WHERE reason != '' OR (file, line_no) IN (SELECT file, line_no FROM bench.dropped WHERE why = 'late')
)
"""

# grain: one row per accepted event. The typed events' fields come from their staging tables
# (their data was parsed once there); the other types are parsed here.
SQL_RAW_EVENTS = """
INSERT INTO naap.raw_events (event_id, dedup_key, event_timestamp, event_type, stream_id, request_id, gateway,
    orchestrator_address, orchestrator_url, raw_data, source_position)
SELECT event_id, dedup_key, event_ts, 'ai_stream_status', stream_id, raw_request_id, gateway, orchestrator_address,
    orchestrator_url, line, source_position FROM bench.status
UNION ALL
SELECT event_id, dedup_key, event_ts, 'stream_trace', stream_id, raw_request_id, gateway, orchestrator_address,
    orchestrator_url, line, source_position FROM bench.trace
UNION ALL
SELECT event_id, dedup_key, event_ts, 'stream_ingest_metrics', stream_id, raw_request_id, gateway,
    orchestrator_address, orchestrator_url, line, source_position FROM bench.ingest
UNION ALL
SELECT event_id, dedup_key, event_ts, event_type, ifNull(x.stream_id, ''), coalesce(x.request_id, x.requestID, ''),
    gateway, lower(ifNull(x.orchestrator_info.address, '')), ifNull(x.orchestrator_info.url, ''), line, source_position
FROM (
    SELECT *, JSONExtract(data, 'Tuple(stream_id Nullable(String), request_id Nullable(String), requestID Nullable(String),
        orchestrator_info Tuple(address Nullable(String), url Nullable(String)))') AS x
    FROM bench.accepted WHERE event_type NOT IN ('ai_stream_status', 'stream_trace', 'stream_ingest_metrics')
)
"""

# grain: one row per accepted ai_stream_status event (parsed once, used by the table and the metrics)
SQL_STATUS = """
INSERT INTO bench.status
SELECT event_id, dedup_key, envelope_ms, event_ts, rt, gateway, source_position, line,
    d.stream_id, ifNull(d.request_id, ''), coalesce(d.request_id, d.requestID, ''),
    lower(d.orchestrator_info.address), d.orchestrator_info.url, d.pipeline, d.pipeline_id,
    ifNull(d.inference_status.fps, 0), ifNull(d.input_status.fps, 0), d.state,
    ifNull(d.inference_status.restart_count, 0), d.inference_status.last_error, d.inference_status.last_error_time,
    d.inference_status.last_params.prompt, ifNull(d.inference_status.last_params.width, 0),
    ifNull(d.inference_status.last_params.height, 0), d.inference_status.last_params_hash, d.start_time
FROM (
    SELECT *, JSONExtract(data, 'Tuple(stream_id String, request_id Nullable(String), requestID Nullable(String),
        pipeline String, pipeline_id String, state String, start_time Nullable(Int64), orchestrator_info Tuple(address String, url String),
        inference_status Tuple(fps Nullable(Float64), restart_count Nullable(Int64), last_error Nullable(String),
            last_error_time Nullable(Int64), last_params_hash String,
            last_params Tuple(width Nullable(Int64), height Nullable(Int64), prompt Nullable(String))),
        input_status Tuple(fps Nullable(Float64)))') AS d
    FROM bench.accepted WHERE event_type = 'ai_stream_status'
)
"""

SQL_STATUS_TABLE = """
INSERT INTO naap.ai_stream_status (event_id, event_timestamp, stream_id, request_id, gateway, orchestrator_address,
    orchestrator_url, pipeline, pipeline_id, model_id, output_fps, input_fps, state, restart_count, last_error,
    last_error_time, prompt_text, prompt_width, prompt_height, params_hash, start_time)
SELECT event_id, event_ts, stream_id, request_id, gateway, orchestrator_address, orchestrator_url, pipeline,
    pipeline_id, pipeline, fps, input_fps, state, restart_count, last_error,
    if(last_error_time IS NULL, NULL, fromUnixTimestamp64Milli(last_error_time, 'UTC')), prompt, width, height,
    params_hash, if(start_time IS NULL, NULL, fromUnixTimestamp64Milli(start_time, 'UTC'))
FROM bench.status
WHERE NOT (stream_id = '' AND request_id = '')
"""

# grain: one row per accepted stream_ingest_metrics event (parsed once, used by the table and raw_events)
SQL_INGEST = """
INSERT INTO bench.ingest
SELECT event_id, dedup_key, event_ts, gateway, source_position, line, d.stream_id, ifNull(d.request_id, ''),
    coalesce(d.request_id, d.requestID, ''), lower(d.orchestrator_info.address), d.orchestrator_info.url,
    d.pipeline_id, JSONType(data, 'stats') IN ('Object', 'Array'), d.stats.conn_quality,
    v.jitter, v.packets_received, v.packets_lost, v.packet_loss_pct, v.last_input_ts,
    a.jitter, a.packets_received, a.packets_lost, a.packet_loss_pct, a.last_input_ts,
    d.stats.peer_conn_stats.BytesReceived, d.stats.peer_conn_stats.BytesSent, d.stats.peer_conn_stats.ID
FROM (
    SELECT *, JSONExtract(data, 'Tuple(stream_id String, request_id Nullable(String), requestID Nullable(String),
        pipeline_id String, orchestrator_info Tuple(address String, url String),
        stats Tuple(conn_quality String, peer_conn_stats Tuple(ID String, BytesReceived UInt64, BytesSent UInt64),
            track_stats Array(Tuple(type String, jitter Float64, packets_received UInt32, packets_lost UInt32,
                packet_loss_pct Float64, last_input_ts Float64))))') AS d,
        arraySlice(d.stats.track_stats, 1, 2) AS tracks,
        arrayFirst(t -> t.type = 'video', tracks) AS v,
        arrayFirst(t -> t.type = 'audio', tracks) AS a
    FROM bench.accepted WHERE event_type = 'stream_ingest_metrics'
)
"""

# grain: one row per accepted stream_ingest_metrics event with stats
SQL_INGEST_TABLE = """
INSERT INTO naap.stream_ingest_metrics (event_id, event_timestamp, stream_id, request_id, gateway, orchestrator_address,
    pipeline_id, connection_quality, video_jitter, video_packets_received, video_packets_lost, video_packet_loss_pct,
    video_last_input_ts, audio_jitter, audio_packets_received, audio_packets_lost, audio_packet_loss_pct,
    audio_last_input_ts, bytes_received, bytes_sent, transport_id)
SELECT event_id, event_ts, stream_id, request_id, gateway, orchestrator_address, pipeline_id, connection_quality,
    video_jitter, video_packets_received, video_packets_lost, video_packet_loss_pct, video_last_input_ts,
    audio_jitter, audio_packets_received, audio_packets_lost, audio_packet_loss_pct, audio_last_input_ts,
    bytes_received, bytes_sent, transport_id
FROM bench.ingest
WHERE has_stats
"""

# grain: one row per accepted stream_trace event (parsed once, used by the table and the metrics)
SQL_TRACE = """
INSERT INTO bench.trace
SELECT event_id, dedup_key, envelope_ms, event_ts, rt, gateway, source_position, line,
    d.stream_id, ifNull(d.request_id, ''), coalesce(d.request_id, d.requestID, ''),
    lower(d.orchestrator_info.address), d.orchestrator_info.url, d.pipeline_id, d.pipeline,
    d.type, if(ifNull(d.timestamp, 0) > 0, d.timestamp, envelope_ms), NOT (ifNull(d.timestamp, 0) > 0), d.message
FROM (
    SELECT *, JSONExtract(data, 'Tuple(stream_id String, request_id Nullable(String), requestID Nullable(String),
        pipeline_id String, pipeline String, type String, timestamp Nullable(Int64), message String, orchestrator_info Tuple(address String, url String))') AS d
    FROM bench.accepted WHERE event_type = 'stream_trace'
)
"""

SQL_TRACE_TABLE = """
INSERT INTO naap.stream_trace_events (event_id, event_timestamp, stream_id, request_id, gateway, orchestrator_address,
    orchestrator_url, pipeline_id, pipeline, trace_type, data_timestamp, is_data_timestamp_from_envelope, message)
SELECT event_id, event_ts, stream_id, request_id, gateway, orchestrator_address, orchestrator_url, pipeline_id,
    pipeline, trace_type, fromUnixTimestamp64Milli(edge_ms, 'UTC'), from_envelope, message
FROM bench.trace
WHERE trace_type != ''
"""

# grain: one row per snapshot x orchestrator x GPU (one row without GPU for an orchestrator without hardware)
SQL_ORCHESTRATOR_METADATA = """
INSERT INTO bench.announcements (orchestrator_address, local_address, orchestrator_url, gpu_id, gpu_name,
    gpu_memory_total, gpu_memory_free, gpu_major_version, gpu_minor_version, pipeline, model_id, runner_version,
    orchestrator_version, supported_pipelines, supported_models, capacity, capacity_in_use, price_per_pixel, region,
    valid_from, valid_to, is_current, last_seen, gateway, source_event_id)
SELECT address, lower(o.local_address), o.orch_uri, g.3, g.4, g.8, g.7, least(g.5, 255), least(g.6, 255), g.1, g.2,
    m.1, o.capabilities.version, pipelines, model_ids, least(m.2, 65535), least(m.3, 65535),
    if(has(price_models, g.2), prices[indexOf(price_models, g.2)], NULL), '',
    event_ts, NULL, true, event_ts, gateway, event_id
FROM (
    SELECT *,
        JSONExtract(entry, 'Tuple(address String, local_address String, orch_uri String,
            capabilities Tuple(version String, constraints Tuple(PerCapability Map(String,
                Tuple(models Map(String, Tuple(runnerVersion String, capacity Int64, capacityInUse Int64)))))),
            capabilities_prices Array(Tuple(constraint String, pricePerUnit Nullable(Float64), pixelsPerUnit Float64)),
            hardware Array(Tuple(pipeline String, model_id String, gpu_info Map(String, Tuple(id String, name String,
                major Int64, minor Int64, memory_free Int64, memory_total Int64)))))') AS o,
        lower(o.address) AS address,
        arrayFlatten(arrayMap(c -> mapKeys(c.models), mapValues(o.capabilities.constraints.PerCapability))) AS model_keys,
        arrayFlatten(arrayMap(c -> mapValues(c.models), mapValues(o.capabilities.constraints.PerCapability))) AS model_values,
        arrayFilter(p -> p.pricePerUnit IS NOT NULL, o.capabilities_prices) AS valid_prices,
        arrayMap(p -> p.constraint, valid_prices) AS price_models,
        arrayMap(p -> assumeNotNull(p.pricePerUnit) / if(p.pixelsPerUnit = 0, 1, p.pixelsPerUnit), valid_prices) AS prices,
        arrayFlatten(arrayMap(h -> arrayMap(k -> (h.pipeline, h.model_id, h.gpu_info[k].id, h.gpu_info[k].name,
            greatest(h.gpu_info[k].major, 0), greatest(h.gpu_info[k].minor, 0),
            toUInt64(greatest(h.gpu_info[k].memory_free, 0)), toUInt64(greatest(h.gpu_info[k].memory_total, 0))),
            arraySort(k -> toInt64OrDefault(k, toInt64(1073741824)), mapKeys(h.gpu_info))), o.hardware)) AS gpus,
        arraySort(arrayDistinct(arrayFilter(p -> p != '', arrayMap(x -> x.1, gpus)))) AS pipelines,
        arraySort(arrayDistinct(arrayConcat(model_keys, arrayFilter(m -> m != '', arrayMap(x -> x.2, gpus))))) AS model_ids,
        arrayJoin(if(empty(gpus), [('', '', '', '', 0, 0, toUInt64(0), toUInt64(0))], gpus)) AS g,
        if(has(model_keys, g.2), model_values[indexOf(model_keys, g.2)], ('', 0, 0)) AS m
    FROM (
        SELECT event_id, event_ts, gateway, arrayJoin(JSONExtractArrayRaw(data)) AS entry
        FROM bench.accepted WHERE event_type = 'network_capabilities'
    )
)
WHERE address != ''
"""

_TRACKED = ", ".join(
    ("gpu_name", "gpu_memory_total", "gpu_major_version", "gpu_minor_version", "runner_version",
     "orchestrator_version", "supported_pipelines", "supported_models", "capacity", "price_per_pixel",
     "local_address", "orchestrator_url")
)  # udfs/scd.TRACKED
_META_KEY = "orchestrator_address, gpu_id, pipeline, model_id"  # udfs/scd.KEY

# grain: one row per SCD2 version of (orchestrator, GPU, pipeline, model), as udfs/scd.advance
# folds the announcements: a change of a tracked attribute opens a version and closes the
# previous one at that time; the volatile values are the version's last announcement's.
SQL_ORCHESTRATOR_VERSIONS = f"""
INSERT INTO naap.orchestrator_metadata (orchestrator_address, local_address, orchestrator_url, gpu_id, gpu_name,
    gpu_memory_total, gpu_memory_free, gpu_major_version, gpu_minor_version, pipeline, model_id, runner_version,
    orchestrator_version, supported_pipelines, supported_models, capacity, capacity_in_use, price_per_pixel, region,
    valid_from, valid_to, is_current, last_seen, gateway, source_event_id)
SELECT orchestrator_address, local_address, orchestrator_url, gpu_id, gpu_name, gpu_memory_total, gpu_memory_free,
    gpu_major_version, gpu_minor_version, pipeline, model_id, runner_version, orchestrator_version,
    supported_pipelines, supported_models, capacity, capacity_in_use, price_per_pixel, region,
    valid_from, next_from, next_from IS NULL, coalesce(next_from, seen), gateway, source_event_id
FROM (
    SELECT *, if(next_raw = toDateTime64(0, 3, 'UTC'), NULL, next_raw) AS next_from
    FROM (
        SELECT *, leadInFrame(valid_from, 1, toDateTime64(0, 3, 'UTC')) OVER (
            PARTITION BY {_META_KEY} ORDER BY valid_from ROWS BETWEEN CURRENT ROW AND 1 FOLLOWING) AS next_raw
        FROM (
            SELECT {_META_KEY}, version,
                any(local_address) AS local_address, any(orchestrator_url) AS orchestrator_url,
                any(gpu_name) AS gpu_name, any(gpu_memory_total) AS gpu_memory_total,
                argMax(gpu_memory_free, last_seen) AS gpu_memory_free, any(gpu_major_version) AS gpu_major_version,
                any(gpu_minor_version) AS gpu_minor_version, any(runner_version) AS runner_version,
                any(orchestrator_version) AS orchestrator_version, any(supported_pipelines) AS supported_pipelines,
                any(supported_models) AS supported_models, any(capacity) AS capacity,
                argMax(capacity_in_use, last_seen) AS capacity_in_use, any(price_per_pixel) AS price_per_pixel,
                any(region) AS region, min(last_seen) AS valid_from, max(last_seen) AS seen,
                argMax(gateway, last_seen) AS gateway, argMax(source_event_id, last_seen) AS source_event_id
            FROM (
                SELECT *, sum(changed) OVER (PARTITION BY {_META_KEY} ORDER BY last_seen
                                             ROWS UNBOUNDED PRECEDING) AS version
                FROM (
                    SELECT *, tracked != lagInFrame(tracked, 1, '') OVER (PARTITION BY {_META_KEY} ORDER BY last_seen
                                                  ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS changed
                    FROM (SELECT *, toString(tuple({_TRACKED})) AS tracked FROM bench.announcements)
                )
            )
            GROUP BY {_META_KEY}, version
        )
    )
)
"""

# grain: one row per request trace session with the first payload time of every edge
SQL_REQUEST_EDGES = """
INSERT INTO bench.request_edges
SELECT request_id, min(rt) AS session_start, max(rt) + {gap} AS session_end,
    max(stream_id), max(gateway), max(pipeline),
    coalesce(nullIf(maxIf(orchestrator_address, trace_type = '{fp}' AND orchestrator_address != ''), ''),
             nullIf(maxIf(orchestrator_address, orchestrator_address != ''), ''), ''),
    coalesce(nullIf(maxIf(orchestrator_url, trace_type = '{fp}' AND orchestrator_url != ''), ''),
             nullIf(maxIf(orchestrator_url, orchestrator_url != ''), ''), ''),
    uniqExactIf(orchestrator_address, orchestrator_address != ''),
    countIf(trace_type = '{swap}'),
    {edges}
FROM (
    SELECT *, sum(is_new) OVER (PARTITION BY request_id ORDER BY rt, edge_ms ROWS UNBOUNDED PRECEDING) AS session
    FROM (
        SELECT *, rt - lagInFrame(rt, 1, rt) OVER (PARTITION BY request_id ORDER BY rt, edge_ms
                                                    ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) >= {gap} AS is_new
        FROM bench.trace WHERE request_id != ''
    )
)
GROUP BY request_id, session
"""

# grain: one row per orchestrator attempt (trace session of a request's edges naming one
# orchestrator), with the relay offsets (envelope - data.timestamp) of its runner edges
SQL_ATTEMPT_EDGES = """
INSERT INTO bench.attempt_edges
SELECT request_id, orchestrator_address, min(rt) AS session_start, max(rt) + {gap} AS session_end,
    max(stream_id), max(gateway), max(pipeline),
    coalesce(nullIf(maxIf(orchestrator_url, trace_type = '{fp}' AND orchestrator_url != ''), ''),
             nullIf(maxIf(orchestrator_url, orchestrator_url != ''), ''), ''),
    countIf(trace_type = '{swap}'),
    min(relay), max(relay), minIf(relay, trace_type = '{receive}'),
    {edges}
FROM (
    SELECT *, sum(is_new) OVER (PARTITION BY request_id, orchestrator_address ORDER BY rt, edge_ms
                                ROWS UNBOUNDED PRECEDING) AS session
    FROM (
        SELECT *, rt - lagInFrame(rt, 1, rt) OVER (PARTITION BY request_id, orchestrator_address ORDER BY rt, edge_ms
                                                    ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) >= {gap} AS is_new,
            if(NOT from_envelope AND trace_type IN ({runner}), toNullable(envelope_ms - edge_ms), NULL) AS relay
        FROM bench.trace WHERE request_id != '' AND orchestrator_address != ''
    )
)
GROUP BY request_id, orchestrator_address, session
"""

_METRIC_COLUMNS = """metric_timestamp, window_start, window_end, stream_id, request_id, gateway, orchestrator_address,
    orchestrator_url, gpu_id, region, pipeline, model_id, metric_name, metric_category, metric_version, metric_value,
    metric_unit, metric_metadata"""

# grain: one row per stream and 5-minute window of status samples
SQL_STREAM_WINDOWS = """
INSERT INTO bench.stream_windows
SELECT stream_id, intDiv(envelope_ms, {window}) * {window} AS window_start,
    max(request_id), max(gateway), max(orchestrator_address), max(orchestrator_url), max(pipeline),
    uniqExactIf(orchestrator_address, orchestrator_address != ''),
    count(), countIf(warm), countIf(NOT warm),
    avgIf(fps, NOT warm), stddevPopIf(fps, NOT warm), sumIf(fps, NOT warm), sumIf(fps * fps, NOT warm)
FROM (
    SELECT *, fps = 0 AND (first_positive IS NULL OR envelope_ms < first_positive) AS warm
    FROM (
        SELECT *, minIf(toNullable(envelope_ms), fps > 0) OVER (PARTITION BY stream_id) AS first_positive
        FROM bench.status WHERE stream_id != ''
    )
)
GROUP BY stream_id, window_start
"""


def _sql_json(pairs: list[tuple[str, str, bool]]) -> str:
    """concat() building a JSON object with sorted keys from (key, SQL expression, is_text)."""
    parts = []
    for n, (key, expr, text) in enumerate(sorted(pairs)):
        lead = "," if n else "{"
        quote = '"' if text else ""
        parts.append(f"'{lead}\"{key}\":{quote}', {expr}, '{quote}'")
    return f"concat({', '.join(parts)}, '}}')"


def _sql_latency_selects(gap_ms: int) -> list[str]:
    selects = []
    for m in catalog.LATENCIES:
        s, e = f"`{m.start_edge}`", f"`{m.end_edge}`"
        start, end = catalog.EDGE_INFO[m.start_edge], catalog.EDGE_INFO[m.end_edge]
        pairs = [
            ("start_edge", f"'{start.name}'", True), ("end_edge", f"'{end.name}'", True),
            ("start_clock", f"'{start.clock}'", True), ("end_clock", f"'{end.clock}'", True),
            ("start_moment", f"'{start.moment}'", True), ("end_moment", f"'{end.moment}'", True),
            ("time_field", "'payload'", True), ("scope", f"'{m.scope}'", True),
            ("swap_count", "toString(swap_count)", False),
        ]
        if m.scope == catalog.REQUEST_SCOPE:
            pairs.append(("orchestrator_count", "toString(orchestrator_count)", False))
        evidence = ""
        if m.is_cross_host:
            pairs += [
                ("relay_offset_ms", "toString(receive_relay)", False),
                ("relay_offset_min_ms", "toString(relay_min)", False),
                ("relay_offset_max_ms", "toString(relay_max)", False),
                ("upper_bound_ms", f"toString({e} - {s} + relay_min)", False),
            ]
            evidence = " AND receive_relay IS NOT NULL"
        table = "bench.request_edges" if m.scope == catalog.REQUEST_SCOPE else "bench.attempt_edges"
        selects.append(
            f"SELECT fromUnixTimestamp64Milli(assumeNotNull({s}), 'UTC'), fromUnixTimestamp64Milli(assumeNotNull({s}), 'UTC'), "
            f"fromUnixTimestamp64Milli(assumeNotNull({e}), 'UTC'), stream_id, request_id, gateway, orchestrator_address, "
            f"orchestrator_url, NULL, '', pipeline, pipeline, '{m.name}', '{m.category}', {m.version}, "
            f"toFloat64({e} - {s}), '{m.unit}', {_sql_json(pairs)} "
            f"FROM {table} WHERE {s} IS NOT NULL AND {e} IS NOT NULL AND {e} >= {s}{evidence}"
        )
    for scope, table in ((catalog.REQUEST_SCOPE, "bench.request_edges"), (catalog.ATTEMPT_SCOPE, "bench.attempt_edges")):
        metrics = sorted((m for m in catalog.LATENCIES if m.scope == scope), key=lambda m: m.name)
        reasons = []
        for m in metrics:
            s, e = f"`{m.start_edge}`", f"`{m.end_edge}`"
            clock = f"{s} IS NOT NULL AND {e} IS NOT NULL AND receive_relay IS NULL, 'no_runner_clock', " if m.is_cross_host else ""
            reasons.append(
                f"multiIf({s} IS NULL AND {e} IS NOT NULL, 'missing_edge:{m.start_edge}', "
                f"{e} IS NULL AND {s} IS NOT NULL, 'missing_edge:{m.end_edge}', {clock}"
                f"{e} < {s}, concat('negative:', toString({e} - {s})), '')"
            )
        pairs = ", ".join(f"('{m.name}', {r})" for m, r in zip(metrics, reasons, strict=True))
        first = ", ".join(f"ifNull(`{x}`, {2**62})" for x in catalog.EDGES if x != catalog.SWAP)
        m = catalog.TRACE_LATENCY_REJECTS
        selects.append(
            f"SELECT fromUnixTimestamp64Milli(ifNull(`{catalog.REQUEST}`, least({first})), 'UTC'), "
            f"fromUnixTimestamp64Milli(ifNull(`{catalog.REQUEST}`, least({first})), 'UTC'), "
            f"fromUnixTimestamp64Milli(session_end, 'UTC'), stream_id, request_id, gateway, orchestrator_address, "
            f"orchestrator_url, NULL, '', pipeline, pipeline, '{m.name}', '{m.category}', {m.version}, "
            f"toFloat64(length(reasons)), '{m.unit}', "
            f"concat('{{', arrayStringConcat(arrayMap(r -> concat('\"', r.1, '\":\"', r.2, '\"'), reasons), ','), '}}') "
            f"FROM (SELECT *, arrayFilter(r -> r.2 != '', [{pairs}]) AS reasons FROM {table}) "
            f"WHERE length(reasons) > 0"
        )
    return selects


def _sql_window_selects(minimum: int) -> list[str]:
    status = f"multiIf(n = 0, 'warmup_only', n < {minimum}, 'too_few_samples', mean_fps <= 0, 'zero_mean', 'ok')"
    meta = (
        "concat('{\"sample_count\":', toString(n), ',\"warmup_sample_count\":', toString(warmup_count), "
        "',\"mean_fps\":', if(n = 0, 'null', toString(mean_fps)), ',\"stddev_fps\":', if(n = 0, 'null', toString(stddev_fps)), "
        "',\"sum_fps\":', toString(sum_fps), ',\"sum_sq_fps\":', toString(sum_sq_fps), "
        "',\"orchestrator_count\":', toString(orchestrator_count), ',\"jitter\":\"', jitter_status, '\"}')"
    )
    head = (
        "SELECT fromUnixTimestamp64Milli(window_start, 'UTC'), fromUnixTimestamp64Milli(window_start, 'UTC'), "
        f"fromUnixTimestamp64Milli(window_start + {WINDOW_MS}, 'UTC'), stream_id, nullIf(request_id, ''), gateway, "
        "orchestrator_address, orchestrator_url, NULL, '', pipeline, pipeline, "
    )
    source = f"FROM (SELECT *, {status} AS jitter_status FROM bench.stream_windows)"
    out = []
    for m, value, where in (
        (catalog.JITTER, "stddev_fps / mean_fps", "jitter_status = 'ok'"),
        (catalog.FPS_MEAN, "mean_fps", "n > 0"),
        (catalog.SAMPLE_COUNT, "toFloat64(sample_count)", "1"),
    ):
        out.append(
            f"{head}'{m.name}', '{m.category}', {m.version}, {value}, '{m.unit}', {meta} {source} WHERE {where}"
        )
    return out


SQL_PARQUET = """
INSERT INTO FUNCTION file('{root}/calculated_metrics/{{_partition_id}}/part-sql.parquet', 'Parquet')
PARTITION BY concat('metric_date=', toString(toDate(metric_timestamp)), '/metric_category=', metric_category)
SELECT {columns}
FROM naap.calculated_metrics
"""

SQL_STAGING = [
    "CREATE DATABASE IF NOT EXISTS bench",
    """CREATE TABLE bench.lines (source_position String, file String, line_no UInt64, line String, event_id String,
        event_type LowCardinality(String), gateway LowCardinality(String), envelope_ms Nullable(Int64),
        plausible_ms Int64, data Nullable(String), reason LowCardinality(String)) ENGINE = Memory""",
    "CREATE TABLE bench.dropped (file String, line_no UInt64, why LowCardinality(String)) ENGINE = Memory",
    "CREATE TABLE bench.announcements AS naap.orchestrator_metadata ENGINE = Memory",
    """CREATE TABLE bench.status (event_id String, dedup_key String, envelope_ms Int64, event_ts DateTime64(3, 'UTC'),
        rt Int64, gateway String, source_position String, line String, stream_id String, request_id String,
        raw_request_id String, orchestrator_address String, orchestrator_url String, pipeline String, pipeline_id String, fps Float64,
        input_fps Float64, state String, restart_count Int64, last_error Nullable(String),
        last_error_time Nullable(Int64), prompt Nullable(String), width Int64, height Int64, params_hash String,
        start_time Nullable(Int64)) ENGINE = Memory""",
    """CREATE TABLE bench.trace (event_id String, dedup_key String, envelope_ms Int64, event_ts DateTime64(3, 'UTC'),
        rt Int64, gateway String, source_position String, line String, stream_id String, request_id String,
        raw_request_id String, orchestrator_address String, orchestrator_url String, pipeline_id String, pipeline String,
        trace_type String, edge_ms Int64, from_envelope Bool, message String) ENGINE = Memory""",
    """CREATE TABLE bench.ingest (event_id String, dedup_key String, event_ts DateTime64(3, 'UTC'), gateway String,
        source_position String, line String, stream_id String, request_id String, raw_request_id String,
        orchestrator_address String, orchestrator_url String, pipeline_id String, has_stats Bool,
        connection_quality String, video_jitter Float64, video_packets_received UInt32, video_packets_lost UInt32,
        video_packet_loss_pct Float64, video_last_input_ts Float64, audio_jitter Float64,
        audio_packets_received UInt32, audio_packets_lost UInt32, audio_packet_loss_pct Float64,
        audio_last_input_ts Float64, bytes_received UInt64, bytes_sent UInt64, transport_id String) ENGINE = Memory""",
    """CREATE TABLE bench.stream_windows (stream_id String, window_start Int64, request_id String, gateway String,
        orchestrator_address String, orchestrator_url String, pipeline String, orchestrator_count UInt64,
        sample_count UInt64, warmup_count UInt64, n UInt64, mean_fps Float64, stddev_fps Float64, sum_fps Float64,
        sum_sq_fps Float64) ENGINE = Memory""",
]


def _request_edges_ddl() -> str:
    edges = ", ".join(f"`{e}` Nullable(Int64)" for e in catalog.EDGES)
    return (
        "CREATE TABLE bench.request_edges (request_id String, session_start Int64, session_end Int64, "
        "stream_id String, gateway String, pipeline String, orchestrator_address String, orchestrator_url String, "
        f"orchestrator_count UInt64, swap_count UInt64, {edges}) ENGINE = Memory"
    )


def _attempt_edges_ddl() -> str:
    edges = ", ".join(f"`{e}` Nullable(Int64)" for e in catalog.EDGES)
    return (
        "CREATE TABLE bench.attempt_edges (request_id String, orchestrator_address String, session_start Int64, "
        "session_end Int64, stream_id String, gateway String, pipeline String, orchestrator_url String, "
        "swap_count UInt64, relay_min Nullable(Int64), relay_max Nullable(Int64), receive_relay Nullable(Int64), "
        f"{edges}) ENGINE = Memory"
    )


def run_sql(files: list[Path], settings: Settings, client: Any) -> dict[str, Any]:
    input_dir = files[0].parent
    profile: dict[str, float] = {}
    cpu_profile: dict[str, float] = {}
    now_max = int(time.time() * 1000) + settings.max_future_skew_s * 1000
    batch = settings.dedup_window_s * 1000
    cap = settings.dlq_payload_cap_chars

    def step(name: str, sql: str) -> None:
        started, cpu = time.perf_counter(), _cpu_s()
        client.command(sql)
        profile[name] = round(profile.get(name, 0.0) + time.perf_counter() - started, 2)
        cpu_profile[name] = round(cpu_profile.get(name, 0.0) + _cpu_s() - cpu, 2)

    for ddl in [*SQL_STAGING, _request_edges_ddl(), _attempt_edges_ddl()]:
        client.command(ddl)
    known = "(" + ", ".join(f"'{t}'" for t in KNOWN_EVENT_TYPES) + ")"
    step(
        "read + classify lines",
        SQL_LINES.format(
            min_ms=MIN_EVENT_MS,
            max_ms=now_max,
            max_chars=settings.max_event_bytes,
            known=known,
            envelope=_ENVELOPE,
            glob=f"{input_dir}/{FILE_PATTERN}",
        ),
    )
    step("late (window function)", SQL_LATE.format(lateness=settings.allowed_lateness_s * 1000))
    step("duplicates (window function)", SQL_DUPLICATES.format(batch=batch))
    client.command(SQL_ACCEPTED_VIEW.format(batch=batch))
    step("dead_letter", SQL_DEAD_LETTER.format(job=JOB_SOURCE, cap=cap))
    step("parse typed events (staging)", SQL_STATUS)
    step("parse typed events (staging)", SQL_INGEST)
    step("parse typed events (staging)", SQL_TRACE)
    step("raw_events", SQL_RAW_EVENTS)
    step("ai_stream_status", SQL_STATUS_TABLE)
    step("stream_ingest_metrics", SQL_INGEST_TABLE)
    step("stream_trace_events", SQL_TRACE_TABLE)
    step("orchestrator_metadata", SQL_ORCHESTRATOR_METADATA)
    step("orchestrator_metadata", SQL_ORCHESTRATOR_VERSIONS)
    parse_rejects = f"""
        INSERT INTO naap.dead_letter (reject_key, job, stage, reason, detail, event_id, event_type, event_timestamp,
            source_position, payload, payload_length, is_payload_truncated)
        SELECT lower(hex(SHA256(concatWithSeparator('|', '{JOB_INGEST}', 'parse', reason, source_position, line)))),
            '{JOB_INGEST}', 'parse', reason, '', event_id, event_type, event_ts, source_position,
            substringUTF8(line, 1, {cap}), lengthUTF8(line), lengthUTF8(line) > {cap}
        FROM (
            SELECT event_id, 'ai_stream_status' AS event_type, event_ts, source_position, line, 'missing_stream_id' AS reason
            FROM bench.status WHERE stream_id = '' AND request_id = ''
            UNION ALL
            SELECT event_id, 'stream_trace', event_ts, source_position, line, 'missing_trace_type'
            FROM bench.trace WHERE trace_type = ''
            UNION ALL
            SELECT event_id, 'stream_ingest_metrics', event_ts, source_position, line, 'missing_stats'
            FROM bench.ingest WHERE NOT has_stats
        )"""
    step("dead_letter (parse)", parse_rejects)
    edges = ",\n    ".join(f"minIf(toNullable(edge_ms), trace_type = '{e}')" for e in catalog.EDGES)
    gap = settings.trace_session_gap_s * 1000
    step(
        "metrics: request edges (GROUP BY)",
        SQL_REQUEST_EDGES.format(
            gap=gap, fp=catalog.FIRST_PROCESSED, swap=catalog.SWAP, edges=edges
        ),
    )
    step(
        "metrics: attempt edges (GROUP BY)",
        SQL_ATTEMPT_EDGES.format(
            gap=gap, fp=catalog.FIRST_PROCESSED, swap=catalog.SWAP, edges=edges,
            receive=catalog.RUNNER_RECEIVE, runner=", ".join(f"'{e}'" for e in catalog.RUNNER_EDGES),
        ),
    )
    for select in _sql_latency_selects(gap):
        step(
            "metrics: latencies",
            f"INSERT INTO naap.calculated_metrics ({_METRIC_COLUMNS}) {select}",
        )
    step("metrics: stream windows (GROUP BY)", SQL_STREAM_WINDOWS.format(window=WINDOW_MS))
    for select in _sql_window_selects(settings.jitter_min_samples):
        step(
            "metrics: window metrics",
            f"INSERT INTO naap.calculated_metrics ({_METRIC_COLUMNS}) {select}",
        )
    columns = ", ".join(
        f"toTimeZone({name}, 'UTC') AS {name}"
        if name in ("metric_timestamp", "window_start", "window_end")
        else name
        for name, _ in CALCULATED_METRICS
    )
    step("parquet", SQL_PARQUET.format(root=Path(settings.parquet_url), columns=columns))
    lines = int(client.command("SELECT count() FROM bench.lines"))
    client.command("DROP DATABASE bench")
    return {"lines": lines, "profile_s": profile, "profile_cpu_s": cpu_profile}


# ---------------------------------------------------------------------------------------------------
def run(impl: str, input_dir: Path, var_dir: Path) -> dict[str, Any]:
    """Run one baseline on ``input_dir`` into a fresh ``var_dir``; returns the figures."""
    files = input_files(input_dir)
    wall_started = time.perf_counter()
    settings, client = fresh_database(var_dir)
    migrate_s = time.perf_counter() - wall_started
    work_started, cpu_started = time.perf_counter(), _cpu_s()
    result = (
        run_python(files, settings, client)
        if impl == "python"
        else run_sql(files, settings, client)
    )
    work_s = time.perf_counter() - work_started
    work_cpu_s = _cpu_s() - cpu_started
    wall_s = time.perf_counter() - wall_started
    counts = row_counts(client)
    counts["parquet_rows"] = parquet_rows(Path(settings.parquet_url))
    events = result["lines"]
    return {
        "impl": impl,
        "input": str(input_dir),
        "events": events,
        "input_bytes": sum(f.stat().st_size for f in files),
        "migrate_s": round(migrate_s, 2),
        "work_s": round(work_s, 2),
        "wall_s": round(wall_s, 2),
        "events_per_s": round(events / work_s) if work_s else 0,
        "work_cpu_s": round(work_cpu_s, 2),
        "load_avg_1m": round(os.getloadavg()[0], 1),
        "peak_rss_mb": round(_peak_rss_mb()),
        "profile_s": result["profile_s"],
        "profile_cpu_s": result.get("profile_cpu_s", {}),
        "rows": counts,
    }


def print_result(r: dict[str, Any]) -> None:
    name = {"python": "(a) careful Python", "sql": "(b) ClickHouse SQL batch"}.get(
        r["impl"], r["impl"]
    )
    print(
        f"{name}: {r['events']:,} events ({r['input_bytes'] / 1e6:,.0f} MB) in {r['work_s']} s "
        f"= {r['events_per_s']:,} events/s; wall {r['wall_s']} s (migrate {r['migrate_s']} s); "
        f"peak RSS {r['peak_rss_mb']:,} MB; CPU {r['work_cpu_s']} s; load {r['load_avg_1m']}"
    )
    cpu = r.get("profile_cpu_s", {})
    for step_name, seconds in r["profile_s"].items():
        extra = f"  (CPU {cpu[step_name]:.2f} s)" if step_name in cpu else ""
        print(f"  {step_name:<40} {seconds:>7.2f} s{extra}")
    print("  rows: " + ", ".join(f"{t}={n:,}" for t, n in r["rows"].items()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.baselines", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--impl", choices=("python", "sql"))
    parser.add_argument("--input", type=Path, help="directory of generated events-*.jsonl files")
    parser.add_argument(
        "--var", type=Path, required=True, help="var dir (emptied first, except with --counts)"
    )
    parser.add_argument("--json", type=Path, help="write the figures as JSON to this file")
    parser.add_argument(
        "--counts", action="store_true", help="only print rows per table of --var's database"
    )
    args = parser.parse_args(argv)
    if args.counts:
        settings = settings_module.load({"NETPULSE_VAR_DIR": str(args.var)})
        counts = row_counts(clickhouse.connect(settings))
        counts["parquet_rows"] = parquet_rows(Path(settings.parquet_url))
        text = json.dumps(counts)
        print(text)
        if args.json:
            args.json.write_text(text + "\n")
        return 0
    if not args.impl or not args.input:
        parser.error("--impl and --input are required (or use --counts)")
    result = run(args.impl, args.input.resolve(), args.var.resolve())
    print_result(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
