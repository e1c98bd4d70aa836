-- purpose: WebRTC ingest quality per stream (jitter, packets, bytes), from stream_ingest_metrics.
-- grain:   one row per stream_ingest_metrics event; data.stats.track_stats[] is split into the
--          video and audio columns by each entry's `type` (either order).
-- writer:  naap_ingest (Flink SQL JSON functions).
-- notes:   packets_* and bytes_* are cumulative counters of the peer connection since it
--          started: rates come from differences, never from sums (see the hourly MV).
--          orchestrator_address is empty in the real events (kept for when gateways send it).
-- sort key: (event_date, stream_id, event_timestamp) as designed.
CREATE TABLE IF NOT EXISTS naap.stream_ingest_metrics
(
    event_id            String,
    event_timestamp     DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    event_date          Date MATERIALIZED toDate(event_timestamp),
    stream_id           String,
    request_id          String,
    gateway             LowCardinality(String),
    orchestrator_address String,
    pipeline_id         String,
    connection_quality  LowCardinality(String),
    video_jitter        Float32 CODEC(Gorilla, ZSTD(1)),
    video_packets_received UInt32,
    video_packets_lost  UInt32,
    video_packet_loss_pct Float32,
    video_last_input_ts Float32,
    audio_jitter        Float32 CODEC(Gorilla, ZSTD(1)),
    audio_packets_received UInt32,
    audio_packets_lost  UInt32,
    audio_packet_loss_pct Float32,
    audio_last_input_ts Float32,
    bytes_received      UInt64 CODEC(Delta, ZSTD(1)),
    bytes_sent          UInt64 CODEC(Delta, ZSTD(1)),
    transport_id        String,
    ingestion_timestamp DateTime DEFAULT now()
)
ENGINE = MergeTree()
PARTITION BY toYYYYMM(event_date)
ORDER BY (event_date, stream_id, event_timestamp)
SETTINGS index_granularity = 8192, non_replicated_deduplication_window = 10000
