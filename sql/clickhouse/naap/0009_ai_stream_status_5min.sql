-- purpose: 5-minute FPS aggregates per orchestrator/pipeline/GPU/region for dashboards.
-- grain:   one row per (time_bucket, orchestrator_address, pipeline, gpu_id, region) after merges.
-- writer:  the materialized view ai_stream_status_5min_mv (next file).
-- changes from the design (seeds/000, "5-Minute FPS Averages"):
--   * The design summed avg()/quantile() columns in a SummingMergeTree: after a background
--     merge an average becomes a sum of averages and a quantile a sum of quantiles. Here sums,
--     counts and sums of squares are SimpleAggregateFunction(sum) (mean and stddev exact after
--     any merge: mean = sum/count) and quantiles are AggregateFunction states (quantilesMerge).
--   * ORDER BY includes every GROUP BY dimension (gpu_id, region): with a narrower sort key a
--     merge folds rows of different GPUs/regions together.
--   * restart_count is a cumulative per-stream counter, so its sum over samples is meaningless;
--     the max is kept instead.
--   * An explicit TO table (instead of an inner engine) so the table carries the insert
--     deduplication window: a replayed batch is not counted twice here either.
-- query:   SELECT time_bucket, sum(output_fps_sum)/sum(sample_count) AS avg_output_fps,
--            quantilesMerge(0.5, 0.95)(output_fps_quantiles) FROM naap.ai_stream_status_5min
--            GROUP BY time_bucket ...
CREATE TABLE IF NOT EXISTS naap.ai_stream_status_5min
(
    time_bucket         DateTime('UTC'),
    metric_date         Date,
    orchestrator_address String,
    pipeline            LowCardinality(String),
    gpu_id              String,
    region              LowCardinality(String),
    sample_count        SimpleAggregateFunction(sum, UInt64),
    output_fps_sum      SimpleAggregateFunction(sum, Float64),
    output_fps_sq_sum   SimpleAggregateFunction(sum, Float64),
    input_fps_sum       SimpleAggregateFunction(sum, Float64),
    output_fps_quantiles AggregateFunction(quantiles(0.5, 0.95), Float32),
    restart_count_max   SimpleAggregateFunction(max, UInt32)
)
ENGINE = AggregatingMergeTree()
PARTITION BY toYYYYMM(metric_date)
ORDER BY (metric_date, orchestrator_address, pipeline, gpu_id, region, time_bucket)
SETTINGS index_granularity = 8192, non_replicated_deduplication_window = 10000
