-- purpose: per relay per consensus hour: consensus weight fraction and the guard / middle / exit
--          selection probabilities from the consensus `bandwidth-weights` footer (Onionoo's
--          definitions), and the relay's uptime-pattern group when it is flagged for review.
--          Definitions: jobs/catalog.py (TOR_RELAY_METRICS, rendered in README) and docs/tor.md.
-- grain:   one row per (fingerprint, ts, metric_version); ts = the consensus valid-after.
-- writer:  jobs/tor_network.py (the metrics stage of the Flink job tor_relays), one insert per
--          hour with a deterministic insert_deduplication_token.
-- why a table and not naap.calculated_metrics rows: the grain is relay x hour (the largest of
--          the Tor metrics: ~7000 relays x 24 hours a day on the public network), the four
--          values come out of one computation over the same hour totals and are read together
--          (Onionoo's details document), so one wide row replaces four long rows; and
--          calculated_metrics lives in the NaaP database with Livepeer dimensions
--          (orchestrator, pipeline, stream) that a relay does not have.
-- version: metric_version is the version of the set (udfs/tor_metrics.METRICS_VERSION), bumped
--          when any definition changes; a recomputation under a new version adds rows beside
--          the old ones (select the version you mean).
-- engine:  ReplacingMergeTree(ingestion_timestamp) on (fingerprint, ts, metric_version): a
--          recomputed hour (a re-run over a grown tree, a replay) replaces the row after a
--          merge (query with FINAL), and a replayed identical insert is dropped by its token.
--          ORDER BY and PARTITION BY as relay_snapshot, so the two join on (fingerprint, ts).
-- NULLs:   the probabilities are NULL when the consensus has no bandwidth-weights footer (or
--          lacks one of Wgg Wgd Wmg Wmm Wme Wmd Wee Wed) or no relay can take the position.
CREATE TABLE IF NOT EXISTS tor.relay_hour_metrics
(
    ts                  DateTime('UTC') CODEC(DoubleDelta, ZSTD(1)),
    fingerprint         FixedString(20),
    metric_version      UInt16,
    weight_class        LowCardinality(String),
    cw                  UInt32 CODEC(Delta, ZSTD(1)),
    cw_fraction         Nullable(Float64),
    guard_probability   Nullable(Float64),
    middle_probability  Nullable(Float64),
    exit_probability    Nullable(Float64),
    uptime_group        LowCardinality(String),
    uptime_group_size   UInt32,
    ingestion_timestamp DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree(ingestion_timestamp)
PARTITION BY toYYYYMM(ts)
ORDER BY (fingerprint, ts, metric_version)
SETTINGS index_granularity = 8192, non_replicated_deduplication_window = 10000
