"""(a) the Python baseline's metrics: request latencies, stream windows, SCD2 orchestrator versions."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from bench.baseline_common import WINDOW_MS
from jobs.naap import catalog


def metric_row(
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
    """One naap.calculated_metrics row of metric ``m`` in the table's column order."""
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


def orchestrator_versions(announcements: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
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


def latency_metrics(
    edges_by_request: dict[str, list[tuple[Any, ...]]], gap_ms: int, emit: Any
) -> None:
    """Emit the latency metrics of every request session and orchestrator attempt."""
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
                metric_row(
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
            metric_row(
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


def window_metrics(
    samples_by_stream: dict[str, list[tuple[Any, ...]]], minimum: int, emit: Any
) -> None:
    """Emit the per-stream 5-minute window metrics (jitter, fps mean, sample count)."""
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
                    metric_row(
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
                    metric_row(
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
                metric_row(
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
