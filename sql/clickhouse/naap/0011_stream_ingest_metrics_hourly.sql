-- purpose: hourly network statistics per stream.
-- grain:   one row per (hour_bucket, stream_id, orchestrator_address) after merges.
-- writer:  the materialized view stream_ingest_metrics_hourly_mv (next file).
-- changes from the design (seeds/000, "Hourly Network Stats"):
--   * avg(jitter) summed by a SummingMergeTree is wrong after merges: jitter sums and the sample
--     count are stored, the average is sum/count at query time.
--   * packets_lost and bytes_received/sent are cumulative counters of the peer connection, so
--     the design's sum() over samples multiplies them by the sample count. min and max per hour
--     are stored instead: the hour's traffic is max - min (plus the first sample's value for a
--     stream that started in that hour).
--   * ORDER BY covers every GROUP BY column (orchestrator_address was missing), and an explicit
--     TO table carries the insert deduplication window.
CREATE TABLE IF NOT EXISTS naap.stream_ingest_metrics_hourly
(
    hour_bucket         DateTime('UTC'),
    metric_date         Date,
    stream_id           String,
    orchestrator_address String,
    sample_count        SimpleAggregateFunction(sum, UInt64),
    video_jitter_sum    SimpleAggregateFunction(sum, Float64),
    audio_jitter_sum    SimpleAggregateFunction(sum, Float64),
    video_packets_lost_max SimpleAggregateFunction(max, UInt32),
    audio_packets_lost_max SimpleAggregateFunction(max, UInt32),
    bytes_received_min  SimpleAggregateFunction(min, UInt64),
    bytes_received_max  SimpleAggregateFunction(max, UInt64),
    bytes_sent_min      SimpleAggregateFunction(min, UInt64),
    bytes_sent_max      SimpleAggregateFunction(max, UInt64)
)
ENGINE = AggregatingMergeTree()
PARTITION BY toYYYYMM(metric_date)
ORDER BY (metric_date, stream_id, orchestrator_address, hour_bucket)
SETTINGS index_granularity = 8192, non_replicated_deduplication_window = 10000
