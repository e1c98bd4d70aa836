"""(b) ClickHouse SQL in batch inside the embedded engine: the metrics statements and the run."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bench.baseline_common import (
    CALCULATED_METRICS,
    JOB_INGEST,
    JOB_SOURCE,
    KNOWN_EVENT_TYPES,
    WINDOW_MS,
    cpu_s,
)
from bench.baseline_sql_ingest import (
    _ENVELOPE,
    SQL_ACCEPTED_VIEW,
    SQL_DEAD_LETTER,
    SQL_DUPLICATES,
    SQL_INGEST,
    SQL_INGEST_TABLE,
    SQL_LATE,
    SQL_LINES,
    SQL_ORCHESTRATOR_METADATA,
    SQL_ORCHESTRATOR_VERSIONS,
    SQL_RAW_EVENTS,
    SQL_STATUS,
    SQL_STATUS_TABLE,
    SQL_TRACE,
    SQL_TRACE_TABLE,
)
from bench.generate import FILE_PATTERN
from jobs.connectors.sources import MIN_EVENT_MS
from jobs.naap import catalog
from jobs.settings import Settings

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
            f"SELECT fromUnixTimestamp64Milli(assumeNotNull({s}), 'UTC'), "
            f"fromUnixTimestamp64Milli(assumeNotNull({s}), 'UTC'), "
            f"fromUnixTimestamp64Milli(assumeNotNull({e}), 'UTC'), "
            f"stream_id, request_id, gateway, orchestrator_address, "
            f"orchestrator_url, NULL, '', pipeline, pipeline, '{m.name}', '{m.category}', {m.version}, "
            f"toFloat64({e} - {s}), '{m.unit}', {_sql_json(pairs)} "
            f"FROM {table} WHERE {s} IS NOT NULL AND {e} IS NOT NULL AND {e} >= {s}{evidence}"
        )
    scopes = ((catalog.REQUEST_SCOPE, "bench.request_edges"), (catalog.ATTEMPT_SCOPE, "bench.attempt_edges"))
    for scope, table in scopes:
        metrics = sorted((m for m in catalog.LATENCIES if m.scope == scope), key=lambda m: m.name)
        reasons = []
        for m in metrics:
            s, e = f"`{m.start_edge}`", f"`{m.end_edge}`"
            clock = (
                f"{s} IS NOT NULL AND {e} IS NOT NULL AND receive_relay IS NULL, 'no_runner_clock', "
                if m.is_cross_host
                else ""
            )
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
            f"concat('{{', arrayStringConcat(arrayMap(r -> concat('\"', r.1, '\":\"', r.2, '\"'), reasons), ','), "
            f"'}}') "
            f"FROM (SELECT *, arrayFilter(r -> r.2 != '', [{pairs}]) AS reasons FROM {table}) "
            f"WHERE length(reasons) > 0"
        )
    return selects


def _sql_window_selects(minimum: int) -> list[str]:
    status = f"multiIf(n = 0, 'warmup_only', n < {minimum}, 'too_few_samples', mean_fps <= 0, 'zero_mean', 'ok')"
    meta = (
        "concat('{\"sample_count\":', toString(n), ',\"warmup_sample_count\":', toString(warmup_count), "
        "',\"mean_fps\":', if(n = 0, 'null', toString(mean_fps)), "
        "',\"stddev_fps\":', if(n = 0, 'null', toString(stddev_fps)), "
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
        raw_request_id String, orchestrator_address String, orchestrator_url String, pipeline String,
        pipeline_id String, fps Float64,
        input_fps Float64, state String, restart_count Int64, last_error Nullable(String),
        last_error_time Nullable(Int64), prompt Nullable(String), width Int64, height Int64, params_hash String,
        start_time Nullable(Int64)) ENGINE = Memory""",
    """CREATE TABLE bench.trace (event_id String, dedup_key String, envelope_ms Int64, event_ts DateTime64(3, 'UTC'),
        rt Int64, gateway String, source_position String, line String, stream_id String, request_id String,
        raw_request_id String, orchestrator_address String, orchestrator_url String, pipeline_id String,
        pipeline String, trace_type String, edge_ms Int64, from_envelope Bool, message String) ENGINE = Memory""",
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
    """Baseline (b): the whole run as ClickHouse SQL statements in the embedded engine."""
    input_dir = files[0].parent
    profile: dict[str, float] = {}
    cpu_profile: dict[str, float] = {}
    now_max = int(time.time() * 1000) + settings.max_future_skew_s * 1000
    batch = settings.dedup_window_s * 1000
    cap = settings.dlq_payload_cap_chars

    def step(name: str, sql: str) -> None:
        started, cpu = time.perf_counter(), cpu_s()
        client.command(sql)
        profile[name] = round(profile.get(name, 0.0) + time.perf_counter() - started, 2)
        cpu_profile[name] = round(cpu_profile.get(name, 0.0) + cpu_s() - cpu, 2)

    for ddl in [*SQL_STAGING, _request_edges_ddl(), _attempt_edges_ddl()]:
        client.command(ddl)
    known = "(" + ", ".join(f"'{t}'" for t in KNOWN_EVENT_TYPES) + ")"
    step(
        "read + classify lines",
        SQL_LINES.format(
            min_ms=MIN_EVENT_MS,
            max_ms=now_max,
            max_bytes=settings.max_event_bytes,
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
            SELECT event_id, 'ai_stream_status' AS event_type, event_ts, source_position, line,
                'missing_stream_id' AS reason
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
