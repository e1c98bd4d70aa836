-- purpose: the "golden table": every derived metric, one polymorphic value column.
-- grain:   one row per (metric_name, subject, window): a request for latencies, a stream and
--          5-minute event-time window for FPS metrics. The catalog (jobs/catalog.py, rendered in
--          the README) defines each metric once: its edges, time field, unit and version.
-- writer:  naap_metrics (jobs/naap_metrics.py), batched per event-time window with insert
--          deduplication tokens; the same rows also land in Parquet
--          (calculated_metrics/metric_date=YYYY-MM-DD/metric_category=<c>/part-*.parquet).
-- changes from the design (seeds/000, "Calculated Metrics Table"):
--   * orchestrator_url and metric_version added (a definition change must be visible in the
--     data, not only in the code); window_start/window_end are the metric's own window
--     (a request's first and last trace edge for latencies).
--   * retention is a setting (see raw_events), not a hard-coded 90-day TTL.
-- sort key: (metric_date, metric_name, orchestrator_address, pipeline, metric_timestamp) as designed.
CREATE TABLE IF NOT EXISTS naap.calculated_metrics
(
    metric_timestamp    DateTime64(3, 'UTC'),
    metric_date         Date MATERIALIZED toDate(metric_timestamp),
    window_start        DateTime64(3, 'UTC'),
    window_end          DateTime64(3, 'UTC'),
    stream_id           String,
    request_id          Nullable(String),
    gateway             LowCardinality(String),
    orchestrator_address String,
    orchestrator_url    String,
    gpu_id              Nullable(String),
    region              LowCardinality(String),
    pipeline            LowCardinality(String),
    model_id            String,
    metric_name         LowCardinality(String),
    metric_category     LowCardinality(String),
    metric_version      UInt16,
    metric_value        Float64,
    metric_unit         LowCardinality(String),
    metric_metadata     String,
    ingestion_timestamp DateTime DEFAULT now()
)
ENGINE = MergeTree()
PARTITION BY toYYYYMM(metric_date)
ORDER BY (metric_date, metric_name, orchestrator_address, pipeline, metric_timestamp)
SETTINGS index_granularity = 8192, non_replicated_deduplication_window = 10000
