-- purpose: whole-network totals per consensus hour, with the median relay uptime.
-- grain:   one row per ts (consensus valid-after) after merges.
-- writer:  the materialized view tor.network_hour_stats_mv (next file).
-- engine:  AggregatingMergeTree: the sums are SimpleAggregateFunction(sum) (exact after any
--          merge) and the median is a quantile state merged at query time
--          (quantileMerge(0.5)(median_uptime)); a median of medians or a summed median would
--          be wrong. quantile() keeps a reservoir of 8192 values: exact for an hour with fewer
--          relays with an uptime, a uniform-sample estimate above. The *_relays counts say how
--          many rows had a value, so means divide by the right count. Explicit TO target with
--          the insert deduplication window (see country_hour_stats).
-- query:   SELECT ts, sum(relays), quantileMerge(0.5)(median_uptime) FROM tor.network_hour_stats
--          GROUP BY ts ORDER BY ts
CREATE TABLE IF NOT EXISTS tor.network_hour_stats
(
    ts                  DateTime('UTC'),
    relays              SimpleAggregateFunction(sum, UInt64),
    exit_relays         SimpleAggregateFunction(sum, UInt64),
    guard_relays        SimpleAggregateFunction(sum, UInt64),
    cw_sum              SimpleAggregateFunction(sum, UInt64),
    bw_consensus_sum    SimpleAggregateFunction(sum, UInt64),
    bw_measured_sum     SimpleAggregateFunction(sum, UInt64),
    bw_measured_relays  SimpleAggregateFunction(sum, UInt64),
    bw_observed_sum     SimpleAggregateFunction(sum, UInt64),
    bw_observed_relays  SimpleAggregateFunction(sum, UInt64),
    median_uptime       AggregateFunction(quantile(0.5), UInt32)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY ts
SETTINGS index_granularity = 8192, non_replicated_deduplication_window = 10000
