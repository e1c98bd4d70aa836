-- purpose: relays and weight per Tor version per UTC day (upgrade tracking).
-- grain:   one row per (day, version) after merges; version = the consensus `v` line
--          without the "Tor " prefix (e.g. 0.3.2.10), else the descriptor's, else ''.
-- writer:  the materialized view tor.version_day_stats_mv (next file).
-- engine:  SummingMergeTree, ORDER BY every GROUP BY column, explicit TO target with the
--          insert deduplication window. Sums over the day's hours; divide by the day's
--          consensus count (tor.network_hour_stats) for the daily mean.
CREATE TABLE IF NOT EXISTS tor.version_day_stats
(
    day                 Date,
    version             LowCardinality(String),
    relays              UInt32,
    cw_sum              UInt64
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (version, day)
SETTINGS index_granularity = 8192, non_replicated_deduplication_window = 10000
