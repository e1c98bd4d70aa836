"""(a) the Python baseline's typed rows: one pure function per event type, a row or a reason.

Each returns what the loop of bench/baseline_python.py adds: the table row, the reject reason
(``parse`` stage of naap_ingest), and the metric input taken before validation, as the
pipeline's views take it.
"""

from __future__ import annotations

import json
from typing import Any

from bench.baseline_common import as_num, as_str, is_bad
from jobs.naap import catalog

Row = tuple[Any, ...]


def ingest_row(
    d: dict[str, Any], event_id: str, ms: int, stream_id: str, gateway: str, address: str
) -> tuple[str | None, Row | None]:
    """stream_ingest_metrics: (reason, row); both None = no row and no reject (stats a list)."""
    stats = d.get("stats")
    if type(stats) is not dict:
        return (None if type(stats) is list else "missing_stats"), None
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
        is_bad(video.get("jitter"))
        or is_bad(audio.get("jitter"))
        or is_bad(video.get("packets_lost"))
        or is_bad(audio.get("packets_lost"))
    ):
        return "invalid_track_stats", None
    pcs = stats.get("peer_conn_stats")
    pcs = pcs if type(pcs) is dict else {}
    return None, (
        event_id,
        ms,
        stream_id,
        as_str(d.get("request_id")),
        gateway,
        address,
        as_str(d.get("pipeline_id")),
        as_str(stats.get("conn_quality")),
        as_num(video.get("jitter")) or 0.0,
        int(as_num(video.get("packets_received")) or 0),
        int(as_num(video.get("packets_lost")) or 0),
        as_num(video.get("packet_loss_pct")) or 0.0,
        as_num(video.get("last_input_ts")) or 0.0,
        as_num(audio.get("jitter")) or 0.0,
        int(as_num(audio.get("packets_received")) or 0),
        int(as_num(audio.get("packets_lost")) or 0),
        as_num(audio.get("packet_loss_pct")) or 0.0,
        as_num(audio.get("last_input_ts")) or 0.0,
        int(as_num(pcs.get("BytesReceived")) or 0),
        int(as_num(pcs.get("BytesSent")) or 0),
        as_str(pcs.get("ID")),
    )


def status_row(
    d: dict[str, Any],
    event_id: str,
    ms: int,
    stream_id: str,
    gateway: str,
    address: str,
    url: str,
) -> tuple[Row | None, str | None, Row | None]:
    """ai_stream_status: (window sample or None, reason, row)."""
    inf = d.get("inference_status")
    inf = inf if type(inf) is dict else {}
    inp = d.get("input_status")
    inp = inp if type(inp) is dict else {}
    fps_raw = inf.get("fps")
    bad_fps = is_bad(fps_raw)
    fps = as_num(fps_raw) or 0.0
    pipeline = as_str(d.get("pipeline"))
    sample = None
    if stream_id and not bad_fps:
        sample = (ms, fps, as_str(d.get("request_id")), gateway, address, url, pipeline)
    if bad_fps:
        return sample, "invalid_output_fps", None
    if is_bad(inp.get("fps")):
        return sample, "invalid_input_fps", None
    if not stream_id and not as_str(d.get("request_id")):
        return sample, "missing_stream_id", None
    params = inf.get("last_params")
    params = params if type(params) is dict else {}
    error = inf.get("last_error")
    error_time = as_num(inf.get("last_error_time"))
    start_time = as_num(d.get("start_time"))
    prompt = params.get("prompt")
    return sample, None, (
        event_id,
        ms,
        stream_id,
        as_str(d.get("request_id")),
        gateway,
        address,
        url,
        pipeline,
        as_str(d.get("pipeline_id")),
        pipeline,
        fps,
        as_num(inp.get("fps")) or 0.0,
        as_str(d.get("state")),
        int(as_num(inf.get("restart_count")) or 0),
        error if error is None or type(error) is str else json.dumps(error),
        int(error_time) if error_time is not None else None,
        prompt if prompt is None or type(prompt) is str else json.dumps(prompt),
        int(as_num(params.get("width")) or 0),
        int(as_num(params.get("height")) or 0),
        as_str(inf.get("last_params_hash")),
        int(start_time) if start_time is not None else None,
    )


def trace_row(
    d: dict[str, Any],
    event_id: str,
    ms: int,
    rt: int,
    stream_id: str,
    request_id: str,
    gateway: str,
    address: str,
    url: str,
) -> tuple[Row | None, str | None, Row | None]:
    """stream_trace: (latency edge or None, reason, row)."""
    trace_type = as_str(d.get("type"))
    payload_raw = d.get("timestamp")
    payload_ms = as_num(payload_raw)
    payload_ms = (
        int(payload_ms) if payload_ms is not None and float(payload_ms).is_integer() else None
    )
    edge_ms = payload_ms if payload_ms and payload_ms > 0 else ms
    pipeline = as_str(d.get("pipeline"))
    edge = None
    if request_id:
        relay = (
            ms - payload_ms
            if payload_ms and payload_ms > 0 and trace_type in catalog.RUNNER_EDGES
            else None
        )
        edge = (rt, trace_type, edge_ms, stream_id, address, url, pipeline, gateway, relay)
    if not trace_type:
        return edge, "missing_trace_type", None
    if payload_raw is not None and payload_ms is None:
        return edge, "invalid_data_timestamp", None
    return edge, None, (
        event_id,
        ms,
        stream_id,
        as_str(d.get("request_id")),
        gateway,
        address,
        url,
        as_str(d.get("pipeline_id")),
        pipeline,
        trace_type,
        edge_ms,
        not (payload_ms and payload_ms > 0),
        as_str(d.get("message")),
    )
