-- purpose: request lifecycle edges (gateway/runner milestones) used for latency metrics.
-- grain:   one row per stream_trace event.
-- writer:  naap_ingest (Flink SQL JSON functions).
-- notes:
--   * trace_type = data.type (gateway_receive_stream_request, ..., orchestrator_swap, app_*).
--   * data_timestamp is the emitter's own time (data.timestamp); events without one
--     (orchestrator_swap) carry the envelope time and is_data_timestamp_from_envelope = true.
--   * message / pipeline are set on orchestrator_swap events.
-- sort key: (event_date, request_id, trace_type, data_timestamp) as designed: one request's edges
--          sit together for the correlation queries.
CREATE TABLE IF NOT EXISTS naap.stream_trace_events
(
    event_id            String,
    event_timestamp     DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    event_date          Date MATERIALIZED toDate(event_timestamp),
    stream_id           String,
    request_id          String,
    gateway             LowCardinality(String),
    orchestrator_address String,
    orchestrator_url    String,
    pipeline_id         String,
    pipeline            LowCardinality(String),
    trace_type          LowCardinality(String),
    data_timestamp      DateTime64(3, 'UTC'),
    is_data_timestamp_from_envelope Bool,
    message             String,
    ingestion_timestamp DateTime DEFAULT now()
)
ENGINE = MergeTree()
PARTITION BY toYYYYMM(event_date)
ORDER BY (event_date, request_id, trace_type, data_timestamp)
SETTINGS index_granularity = 8192, non_replicated_deduplication_window = 10000
