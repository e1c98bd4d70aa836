-- purpose: feeds stream_ingest_metrics_hourly from every insert into stream_ingest_metrics.
-- grain:   partial aggregates per insert block; the target merges them (see previous file).
CREATE MATERIALIZED VIEW IF NOT EXISTS naap.stream_ingest_metrics_hourly_mv
TO naap.stream_ingest_metrics_hourly
AS
SELECT
    toStartOfHour(event_timestamp) AS hour_bucket,
    toDate(hour_bucket) AS metric_date,
    stream_id,
    orchestrator_address,
    count() AS sample_count,
    sum(toFloat64(video_jitter)) AS video_jitter_sum,
    sum(toFloat64(audio_jitter)) AS audio_jitter_sum,
    max(video_packets_lost) AS video_packets_lost_max,
    max(audio_packets_lost) AS audio_packets_lost_max,
    min(bytes_received) AS bytes_received_min,
    max(bytes_received) AS bytes_received_max,
    min(bytes_sent) AS bytes_sent_min,
    max(bytes_sent) AS bytes_sent_max
FROM naap.stream_ingest_metrics
GROUP BY hour_bucket, metric_date, stream_id, orchestrator_address
