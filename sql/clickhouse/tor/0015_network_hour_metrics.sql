-- purpose: Tor network metrics per consensus hour, as versioned rows: flag churn between
--          consecutive consensuses, concentration of consensus weight (HHI, top-k shares) by
--          AS, country, family and contact, relays flagged for identical uptime patterns, and
--          the hour's weight totals with the bandwidth-weights footer used.
--          Definitions: jobs/catalog.py (TOR_NETWORK_METRICS, rendered in README), docs/tor.md.
-- grain:   one row per (metric_name, subject, metric_version, ts); subject = the flag (churn;
--          'listed' = any relay), the grouping (asn | country | family | contact), 'all' or
--          'window_24h'.
-- writer:  jobs/tor_network.py (tor_relays), one insert per hour with a deterministic token.
-- shape:   the calculated_metrics pattern (metric_name, metric_version, value, unit, JSON
--          metadata with the counts behind the value) in the tor database, because the Tor job
--          owns only `tor` and these rows have none of calculated_metrics' Livepeer dimensions.
-- engine:  ReplacingMergeTree(ingestion_timestamp): a recomputed hour replaces (FINAL), a
--          replayed identical insert is dropped by its token. A missing consensus hour has no
--          rows, and the hour after it has no churn rows (never a zero).
CREATE TABLE IF NOT EXISTS tor.network_hour_metrics
(
    ts                  DateTime('UTC'),
    metric_name         LowCardinality(String),
    metric_version      UInt16,
    subject             LowCardinality(String),
    metric_value        Float64,
    metric_unit         LowCardinality(String),
    metric_metadata     String CODEC(ZSTD(3)),
    ingestion_timestamp DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree(ingestion_timestamp)
PARTITION BY toYYYYMM(ts)
ORDER BY (metric_name, subject, metric_version, ts)
SETTINGS index_granularity = 8192, non_replicated_deduplication_window = 10000
