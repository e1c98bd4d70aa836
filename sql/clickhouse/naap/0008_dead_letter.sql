-- purpose: every rejected record, with the reason and the original payload: nothing is lost.
-- grain:   one row per (job, stage, reason, source position, event id, detail, payload).
-- writer:  every job. Stages: decode (not JSON, too large), validate (envelope fields, unknown
--          type), late (older than the watermark: NETPULSE_ALLOWED_LATENESS_S), parse (a known
--          type whose fields are wrong), metric (reserved), sink (reserved).
-- notes:   payload is cut at NETPULSE_DLQ_PAYLOAD_CAP_CHARS; payload_length keeps the original
--          length in characters and is_payload_truncated says whether it was cut. Source-level rejects are
--          batched by processing time (they may have no usable event time), so a replay after a
--          failover can re-send one: ReplacingMergeTree on the deterministic reject_key
--          (sha256 of job, stage, reason, source position, event id, detail and payload) folds it away. No
--          partitioning: a re-sent reject must merge with the first one whatever the day.
CREATE TABLE IF NOT EXISTS naap.dead_letter
(
    reject_key          String,
    job                 LowCardinality(String),
    stage               LowCardinality(String),
    reason              LowCardinality(String),
    detail              String,
    event_id            String,
    event_type          LowCardinality(String),
    event_timestamp     Nullable(DateTime64(3, 'UTC')),
    source_position     String,
    payload             String CODEC(ZSTD(3)),
    payload_length      UInt64,
    is_payload_truncated Bool,
    ingestion_timestamp DateTime DEFAULT now()
)
ENGINE = ReplacingMergeTree(ingestion_timestamp)
ORDER BY (job, stage, reason, reject_key)
SETTINGS index_granularity = 8192, non_replicated_deduplication_window = 10000
