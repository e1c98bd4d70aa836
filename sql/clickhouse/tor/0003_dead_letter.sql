-- purpose: every Tor document (or part of one) the pipeline could not use, with why.
-- grain:   one row per (document, line, reason); document = the source file path (plus the
--          member name inside a .tar archive), line = 1-based line in that document (0 = the
--          whole document), excerpt = the offending text, capped at 4 KiB.
-- writer:  the collector (parse: not a Tor document, unknown @type, truncated or garbage
--          lines, values out of range, e.g. a negative uptime) through the tor_relays Flink job
--          (decode: a staged line that is not a JSON record).
-- engine:  ReplacingMergeTree on the deterministic reject_key (sha256 of stage, document, line,
--          reason): re-collecting the same file, or replaying a batch after a failover, folds
--          into one row. No partitioning: a re-sent reject must merge with the first whatever
--          the day. No TTL: the table stays small (rejects are rare) and is the audit trail.
CREATE TABLE IF NOT EXISTS tor.dead_letter
(
    reject_key          String,
    job                 LowCardinality(String),
    stage               LowCardinality(String),
    document            String,
    doc_type            LowCardinality(String),
    line                UInt32,
    reason              LowCardinality(String),
    detail              String,
    excerpt             String CODEC(ZSTD(3)),
    ingestion_timestamp DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree(ingestion_timestamp)
ORDER BY (stage, reason, reject_key)
SETTINGS index_granularity = 8192, non_replicated_deduplication_window = 10000
