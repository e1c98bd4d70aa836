"""(a) a careful single-process Python program doing the pipeline's work (see bench/baselines.py)."""

from __future__ import annotations

import hashlib
import json
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.baseline_common import (
    AI_STREAM_STATUS,
    CALCULATED_METRICS,
    DEAD_LETTER,
    DECODE_REASONS,
    JOB_INGEST,
    JOB_SOURCE,
    KNOWN_EVENT_TYPES,
    ORCHESTRATOR_METADATA,
    RAW_EVENTS,
    STREAM_INGEST_METRICS,
    STREAM_TRACE_EVENTS,
    BatchTable,
    as_str,
    live_columns,
    ms_text,
    write_parquet,
)
from bench.baseline_python_metrics import latency_metrics, orchestrator_versions, window_metrics
from bench.baseline_python_rows import ingest_row, status_row, trace_row
from jobs.connectors.sources import MIN_EVENT_MS
from jobs.settings import Settings


def run_python(files: list[Path], settings: Settings, client: Any) -> dict[str, Any]:
    """Baseline (a): read, classify, deduplicate, write and compute metrics in one process."""
    from udfs.capabilities import explode  # the pipeline's own pure parser (no JVM)

    loads = json.loads
    sha256 = hashlib.sha256
    lateness = settings.allowed_lateness_s * 1000
    batch_ms = settings.dedup_window_s * 1000
    max_bytes = settings.max_event_bytes
    cap = settings.dlq_payload_cap_chars
    now_max = int(time.time() * 1000) + settings.max_future_skew_s * 1000
    known = frozenset(KNOWN_EVENT_TYPES)

    writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="insert")
    tables = {
        name: BatchTable(client, name, layout, live_columns(client, name), writer)
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
        # The baseline's own dead-letter row, not the pipeline's recipe (jobs/naap/envelopes.py
        # dead_letter_row): a reference computation stays independent of the code it measures.
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
                # ---- envelope: classify like jobs/naap/envelopes.py ----
                reason = None
                obj: Any = None
                event_id = etype = ""
                ms = None
                data: Any = None
                if len(line) * 3 > max_bytes and len(line.encode("utf-8", "surrogatepass")) > max_bytes:
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
                        event_id = as_str(obj.get("id"))
                        etype = as_str(obj.get("type"))
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
                            f"event time {ms_text(ms or 0)} is at or before the watermark",
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
                assert ms is not None  # noqa: S101 - accepted lines have a plausible envelope time
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
                stream_id = as_str(d.get("stream_id"))
                request_id = d.get("request_id")
                if request_id is None:
                    request_id = d.get("requestID")
                request_id = as_str(request_id)
                oi = d.get("orchestrator_info")
                if type(oi) is dict:
                    address = as_str(oi.get("address")).lower()
                    url = as_str(oi.get("url"))
                else:
                    address = url = ""
                gateway = as_str(obj.get("gateway"))
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
                    reason, row = ingest_row(d, event_id, ms, stream_id, gateway, address)
                    if reason is not None:
                        reject(JOB_INGEST, "parse", reason, "", event_id, etype, ms, pos, line)
                    elif row is not None:
                        ingest_add(row)
                elif etype == "ai_stream_status":
                    sample, reason, row = status_row(d, event_id, ms, stream_id, gateway, address, url)
                    if sample is not None:
                        samples_by_stream[stream_id].append(sample)
                    if reason is not None:
                        reject(JOB_INGEST, "parse", reason, "", event_id, etype, ms, pos, line)
                    else:
                        status_add(row)
                elif etype == "stream_trace":
                    edge, reason, row = trace_row(
                        d, event_id, ms, rt, stream_id, request_id, gateway, address, url
                    )
                    if edge is not None:
                        edges_by_request[request_id].append(edge)
                    if reason is not None:
                        reject(JOB_INGEST, "parse", reason, "", event_id, etype, ms, pos, line)
                    else:
                        trace_add(row)
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

    latency_metrics(edges_by_request, settings.trace_session_gap_s * 1000, emit)
    window_metrics(samples_by_stream, settings.jitter_min_samples, emit)
    for version in orchestrator_versions(announcements):
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
    write_parquet(metrics_table.arrow(), Path(settings.parquet_url), "python")
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
