-- purpose: relays and weight per autonomous system per UTC day.
-- grain:   one row per (day, asn) after merges.
-- writer:  the materialized view tor.asn_day_stats_mv (next file).
-- engine:  SummingMergeTree, ORDER BY every GROUP BY column, explicit TO target with the
--          insert deduplication window (see country_hour_stats).
-- metrics: sums over the day's consensus hours: relays = relay-hours, cw_sum = weight-hours.
--          The day's mean (Tor Metrics' definition) divides by the number of consensuses of
--          that day, taken from tor.network_hour_stats (count of hours), NOT by the hours in
--          which this AS appears: that would overstate ASes that come and go.
--          asn 0 = address not in the AS database.
CREATE TABLE IF NOT EXISTS tor.asn_day_stats
(
    day                 Date,
    asn                 UInt32,
    relays              UInt32,
    cw_sum              UInt64,
    bw_consensus_sum    UInt64
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (asn, day)
SETTINGS index_granularity = 8192, non_replicated_deduplication_window = 10000
