-- purpose: what each orchestrator announces about itself (network_capabilities): GPUs, versions,
--          pipelines/models, capacity, prices, and the local_address / orch_uri identities that
--          stream events use (stream events carry the node's local key, not its on-chain address).
-- grain:   one row per (orchestrator, hardware entry GPU) per version; an orchestrator that
--          reports no GPU gets one row with an empty gpu_id so its identities are still known.
-- writer:  naap_ingest, via the pure parser udfs/capabilities.py (Python UDTF: the nested
--          hardware/gpu_info/constraints fan-out).
-- changes from the design (seeds/000, "Orchestrator Metadata Table"):
--   * PARTITION BY orchestrator_address removed: one partition per address is an anti-pattern
--     (thousands of tiny partitions, merges never across them); the table is small.
--   * is_current is a plain column written by the job: the design's
--     `is_current MATERIALIZED (valid_to IS NULL)` cannot be written by an INSERT, and a
--     materialized value is frozen at insert time anyway, so it could never turn false when a
--     later version closes the row.
--   * valid_from/valid_to/last_seen are event times (DateTime64) rather than now(): replays and
--     backfills must give the same rows.
--   * ReplacingMergeTree(last_seen) ordered by immutable keys only (a sort key containing a
--     moving value never collapses its versions).
CREATE TABLE IF NOT EXISTS naap.orchestrator_metadata
(
    orchestrator_address String,
    local_address       String,
    orchestrator_url    String,
    gpu_id              String,
    gpu_name            LowCardinality(String),
    gpu_memory_total    UInt64,
    gpu_memory_free     UInt64,
    gpu_major_version   UInt8,
    gpu_minor_version   UInt8,
    pipeline            LowCardinality(String),
    model_id            String,
    runner_version      LowCardinality(String),
    orchestrator_version LowCardinality(String),
    supported_pipelines Array(String),
    supported_models    Array(String),
    capacity            UInt16,
    capacity_in_use     UInt16,
    price_per_pixel     Nullable(Float64),
    region              LowCardinality(String),
    valid_from          DateTime64(3, 'UTC'),
    valid_to            Nullable(DateTime64(3, 'UTC')),
    is_current          Bool,
    last_seen           DateTime64(3, 'UTC'),
    gateway             LowCardinality(String),
    source_event_id     String,
    ingestion_timestamp DateTime DEFAULT now()
)
ENGINE = ReplacingMergeTree(last_seen)
ORDER BY (orchestrator_address, gpu_id, pipeline, model_id, valid_from)
SETTINGS index_granularity = 8192, non_replicated_deduplication_window = 10000
