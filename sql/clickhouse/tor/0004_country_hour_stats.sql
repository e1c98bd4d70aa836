-- purpose: relays per country per consensus hour, for dashboards and "relays by country"
--          history (dropped from Tor Metrics in 2013 as too expensive to compute).
-- grain:   one row per (ts, country) after merges; ts = consensus valid-after.
-- writer:  the materialized view tor.country_hour_stats_mv (next file).
-- engine:  SummingMergeTree: only sums and counts, which stay exact after any merge (an
--          average is computed at query time: cw_sum / relays). ORDER BY holds every GROUP BY
--          column, so a merge never folds two countries or two hours together. An explicit TO
--          target (instead of an inner table) carries non_replicated_deduplication_window: a
--          replayed relay_snapshot insert (same token) is not counted twice here.
-- metrics: relays = listed relays; exit_relays = Exit and not BadExit (Tor Metrics' rule);
--          guard_relays = Guard; cw_sum / bw_consensus_sum = sums of `w Bandwidth=`.
-- country: where the address is used, per the offline database named in relay_snapshot.
-- TTL:     none: aggregates are kept indefinitely (the design drops raw rows first).
CREATE TABLE IF NOT EXISTS tor.country_hour_stats
(
    ts                  DateTime('UTC'),
    country             FixedString(2),
    relays              UInt32,
    exit_relays         UInt32,
    guard_relays        UInt32,
    cw_sum              UInt64,
    bw_consensus_sum    UInt64
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (country, ts)
SETTINGS index_granularity = 8192, non_replicated_deduplication_window = 10000
