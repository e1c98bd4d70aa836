-- purpose: relays, weight and traffic per operator (descriptor `contact` line) per UTC day.
-- grain:   one row per (day, contact) after merges; contact '' = no descriptor or no contact
--          line (a sort key cannot be Nullable).
-- writer:  the materialized view tor.operator_day_stats_mv (next file).
-- engine:  SummingMergeTree, ORDER BY every GROUP BY column, explicit TO target with the
--          insert deduplication window. bw_read_sum / bw_write_sum add the last read/write
--          history slot (bytes in that slot) of each relay-hour; NULLs count as 0.
CREATE TABLE IF NOT EXISTS tor.operator_day_stats
(
    day                 Date,
    contact             String,
    relays              UInt32,
    cw_sum              UInt64,
    bw_read_sum         UInt64,
    bw_write_sum        UInt64
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (contact, day)
SETTINGS index_granularity = 8192, non_replicated_deduplication_window = 10000
