-- purpose: AI live-video stream health samples (the gateway emits one about every 10 s).
-- grain:   one row per ai_stream_status event.
-- writer:  naap_ingest; fields extracted by Flink SQL JSON functions (no Python per row).
-- notes:
--   * output_fps = data.inference_status.fps, input_fps = data.input_status.fps.
--   * pipeline holds what the gateway sends in `pipeline`, which is a model label
--     (e.g. streamdiffusion-sdxl-v2v); model_id repeats it so queries can use either name.
--   * orchestrator_address is data.orchestrator_info.address lower-cased: the orchestrator
--     node's local (hot) key, NOT its on-chain address (map it through orchestrator_metadata).
--   * gpu_id / region stay empty until the gateways report them (the design's "data gap").
--   * the design's MATERIALIZED event_date/event_hour are kept: the writer never sends them.
--   * retention: see raw_events (a setting, not a hard-coded TTL).
-- sort key: (event_date, orchestrator_address, pipeline, stream_id, event_timestamp) as designed.
CREATE TABLE IF NOT EXISTS naap.ai_stream_status
(
    event_id            String,
    event_timestamp     DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    event_date          Date MATERIALIZED toDate(event_timestamp),
    event_hour          UInt8 MATERIALIZED toHour(event_timestamp),
    stream_id           String,
    request_id          String,
    gateway             LowCardinality(String),
    orchestrator_address String,
    orchestrator_url    String,
    gpu_id              String,
    region              LowCardinality(String),
    pipeline            LowCardinality(String),
    pipeline_id         String,
    model_id            String,
    output_fps          Float32 CODEC(Gorilla, ZSTD(1)),
    input_fps           Float32 CODEC(Gorilla, ZSTD(1)),
    state               LowCardinality(String),
    restart_count       UInt32,
    last_error          Nullable(String),
    last_error_time     Nullable(DateTime64(3, 'UTC')),
    prompt_text         Nullable(String),
    prompt_width        UInt16,
    prompt_height       UInt16,
    params_hash         String,
    start_time          Nullable(DateTime64(3, 'UTC')),
    is_cold_start       Bool DEFAULT false,
    startup_time_ms     Nullable(UInt32),
    ingestion_timestamp DateTime DEFAULT now()
)
ENGINE = MergeTree()
PARTITION BY toYYYYMM(event_date)
ORDER BY (event_date, orchestrator_address, pipeline, stream_id, event_timestamp)
SETTINGS index_granularity = 8192, non_replicated_deduplication_window = 10000
