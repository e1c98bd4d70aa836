-- purpose: every accepted gateway event envelope, exactly as received, for debugging and replay.
-- grain:   one row per distinct event (event_id, or a payload hash when the gateway sent no id).
-- writer:  naap_ingest (jobs/naap_ingest.py), batched per event-time window with an insert
--          deduplication token, so a replay after a restart inserts nothing twice.
-- changes from the design (seeds/000, "Raw Events Table"):
--   * event_id is String, not UUID DEFAULT generateUUIDv4(): real gateways send ids that are not
--     UUIDs or empty strings; a generated UUID would make every replay a new row. dedup_key is
--     the id, or sha256 of the payload when the id is empty (never dropped, never invented).
--   * raw_data holds the whole envelope line (not only `data`), ZSTD compressed: that is what a
--     replay needs. source_position records the file (or Kafka topic/partition/offset).
--   * TTL: the design's `TTL event_date + INTERVAL 90 DAY DELETE` erased the real sample events
--     (older than 90 days) seconds after insert. Retention is a setting (NETPULSE_RETENTION_DAYS,
--     applied by the migrator with ALTER TABLE ... MODIFY TTL), off for the embedded default.
--   * non_replicated_deduplication_window: insert deduplication is off by default on a
--     non-replicated MergeTree; without it a replayed batch would be stored twice.
-- sort key: (event_date, event_type, stream_id, event_timestamp) as designed: per-day, per-type
--          scans and one stream's timeline.
CREATE TABLE IF NOT EXISTS naap.raw_events
(
    event_id            String,
    dedup_key           String,
    event_timestamp     DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    event_date          Date MATERIALIZED toDate(event_timestamp),
    event_type          LowCardinality(String),
    stream_id           String,
    request_id          String,
    gateway             LowCardinality(String),
    orchestrator_address String,
    orchestrator_url    String,
    raw_data            String CODEC(ZSTD(3)),
    source_position     String CODEC(ZSTD(1)),
    ingestion_timestamp DateTime DEFAULT now()
)
ENGINE = MergeTree()
PARTITION BY toYYYYMM(event_date)
ORDER BY (event_date, event_type, stream_id, event_timestamp)
SETTINGS index_granularity = 8192, non_replicated_deduplication_window = 10000
