"""(b) the SQL baseline's statements up to the typed tables: lines, rejects, dedup, typed events."""

from __future__ import annotations

_ENVELOPE = (
    "Tuple(id Nullable(String), type Nullable(String), gateway Nullable(String), timestamp Nullable(String), "
    "data Nullable(String))"
)

# grain: one row per input line, with its envelope fields and source reject reason
SQL_LINES = """
INSERT INTO bench.lines
SELECT source_position, file, line_no, line, event_id, event_type, gateway, envelope_ms,
    if(envelope_ms BETWEEN {min_ms} AND {max_ms}, envelope_ms, 0) AS plausible_ms, data,
    multiIf(
        lengthUTF8(line) > {max_bytes}, 'payload_too_large',
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

# grain: one row per rejected line (decode / validate / late). The baseline's own dead-letter
# rows (its own reject_key hash): a reference computation, independent of the pipeline's recipe
# (jobs/naap/envelopes.py dead_letter_row, the one production and the tests use).
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
    SELECT *, JSONExtract(data, 'Tuple(stream_id Nullable(String), request_id Nullable(String),
        requestID Nullable(String),
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
        pipeline String, pipeline_id String, state String, start_time Nullable(Int64),
        orchestrator_info Tuple(address String, url String),
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
        pipeline_id String, pipeline String, type String, timestamp Nullable(Int64), message String,
        orchestrator_info Tuple(address String, url String))') AS d
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
        arrayFlatten(arrayMap(c -> mapKeys(c.models), mapValues(o.capabilities.constraints.PerCapability)))
            AS model_keys,
        arrayFlatten(arrayMap(c -> mapValues(c.models), mapValues(o.capabilities.constraints.PerCapability)))
            AS model_values,
        arrayFilter(p -> p.pricePerUnit IS NOT NULL, o.capabilities_prices) AS valid_prices,
        arrayMap(p -> p.constraint, valid_prices) AS price_models,
        arrayMap(p -> assumeNotNull(p.pricePerUnit) / if(p.pixelsPerUnit = 0, 1, p.pixelsPerUnit), valid_prices)
            AS prices,
        arrayFlatten(arrayMap(h -> arrayMap(k -> (h.pipeline, h.model_id, h.gpu_info[k].id, h.gpu_info[k].name,
            greatest(h.gpu_info[k].major, 0), greatest(h.gpu_info[k].minor, 0),
            toUInt64(greatest(h.gpu_info[k].memory_free, 0)), toUInt64(greatest(h.gpu_info[k].memory_total, 0))),
            arraySort(k -> toInt64OrDefault(k, toInt64(1073741824)), mapKeys(h.gpu_info))), o.hardware)) AS gpus,
        arraySort(arrayDistinct(arrayFilter(p -> p != '', arrayMap(x -> x.1, gpus)))) AS pipelines,
        arraySort(arrayDistinct(arrayConcat(model_keys, arrayFilter(m -> m != '', arrayMap(x -> x.2, gpus)))))
            AS model_ids,
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
# The SCD2 key and tracked attributes restated in ClickHouse SQL on purpose: the SQL baseline
# is an independent reference computation (production and the tests use udfs/scd.py alone).
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
