-- purpose: feeds ai_stream_status_5min from every insert into ai_stream_status.
-- grain:   partial aggregates per insert block; the target merges them (see previous file).
CREATE MATERIALIZED VIEW IF NOT EXISTS naap.ai_stream_status_5min_mv
TO naap.ai_stream_status_5min
AS
SELECT
    toStartOfInterval(event_timestamp, INTERVAL 5 MINUTE) AS time_bucket,
    toDate(time_bucket) AS metric_date,
    orchestrator_address,
    pipeline,
    gpu_id,
    region,
    count() AS sample_count,
    sum(toFloat64(output_fps)) AS output_fps_sum,
    sum(toFloat64(output_fps) * toFloat64(output_fps)) AS output_fps_sq_sum,
    sum(toFloat64(input_fps)) AS input_fps_sum,
    quantilesState(0.5, 0.95)(output_fps) AS output_fps_quantiles,
    max(restart_count) AS restart_count_max
FROM naap.ai_stream_status
GROUP BY time_bucket, metric_date, orchestrator_address, pipeline, gpu_id, region
