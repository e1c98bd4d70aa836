"""The report's queries of the analytics metrics (issue 19): one named SQL constant per chart.

Livepeer: the orchestrator scorecard (view naap.orchestrator_scorecard), demand vs supply and
capacity (hourly rows of naap.calculated_metrics, categories ``demand`` and ``capacity``).
Tor: path-selection probabilities (tor.relay_hour_metrics), top-k shares of consensus weight
and relays flagged for identical uptime patterns (tor.network_hour_metrics). Definitions:
jobs/naap/catalog.py (ANALYTICS) and jobs/tor/catalog.py. Every query selects the metric version
the catalog defines, so rows of an older definition never mix into a chart. The queries are
registered with the others in jobs/report/queries.py (QUERIES).
"""

from __future__ import annotations

from jobs.naap.catalog import BY_NAME
from udfs.tor_metrics import METRICS_VERSION as TOR_METRICS_VERSION

SCORECARD_VERSION = BY_NAME["orchestrator_score"].version
DEMAND_VERSION = BY_NAME["demand_requested_sessions"].version
CAPACITY_VERSION = BY_NAME["capacity_total"].version
# Hourly metrics: a bucket is never finer than their hour.
HOUR_S = 3600

# grain: one row per orchestrator x pipeline scored in the 24 hours ending at the latest scored
# hour: its latest hour there, with the score's components and counts
SCORECARD_LATEST = f"""
WITH (SELECT max(hour) FROM naap.orchestrator_scorecard WHERE metric_version = {SCORECARD_VERSION}) AS latest
SELECT
    hour, orchestrator_address AS orchestrator, pipeline, score, coverage, reliability, quality,
    startup_success, no_swap, viability, ptff_score, playable_score, fps_score, attempts, covered_minutes
FROM naap.orchestrator_scorecard
WHERE metric_version = {SCORECARD_VERSION} AND hour > latest - INTERVAL 24 HOUR
ORDER BY orchestrator, pipeline, hour DESC
LIMIT 1 BY orchestrator, pipeline
"""

# grain: one row per orchestrator x pipeline x hour with a score (the 30 days up to the latest)
SCORECARD_HOURS = f"""
WITH (SELECT max(hour) FROM naap.orchestrator_scorecard WHERE metric_version = {SCORECARD_VERSION}) AS latest
SELECT hour, orchestrator_address AS orchestrator, pipeline, score, coverage, reliability, quality
FROM naap.orchestrator_scorecard
WHERE metric_version = {SCORECARD_VERSION} AND hour > latest - INTERVAL 30 DAY
ORDER BY orchestrator, pipeline, hour
"""

# grain: one row per (time bucket of at least an hour, gateway, pipeline); sums of the hourly
# counts (a request whose edges fall into two hours counts in both: jobs/naap/catalog.py)
DEMAND_SUPPLY = f"""
SELECT
    toStartOfInterval(metric_timestamp, toIntervalSecond(greatest({{bucket_s:UInt32}}, {HOUR_S}))) AS bucket,
    gateway,
    toString(pipeline) AS pipeline,
    sumIf(metric_value, metric_name = 'demand_requested_sessions') AS requested,
    sumIf(metric_value, metric_name = 'demand_served_sessions') AS served,
    sumIf(metric_value, metric_name = 'unmet_demand_sessions') AS unmet,
    sumIf(metric_value, metric_name = 'demand_no_orchestrator_sessions') AS no_orchestrator,
    sumIf(metric_value, metric_name = 'demand_served_minutes') AS served_minutes,
    sumIf(JSONExtractUInt(metric_metadata, 'requested_and_served'),
          metric_name = 'demand_requested_sessions') AS requested_and_served
FROM naap.calculated_metrics
WHERE metric_category = 'demand' AND metric_version = {DEMAND_VERSION}
GROUP BY bucket, gateway, pipeline
ORDER BY gateway, pipeline, bucket
"""

# grain: one row per (hour, pipeline): total and available capacity summed over the
# orchestrators and models that announced it in the hour
CAPACITY_PIPELINES = f"""
SELECT
    metric_timestamp AS ts,
    toString(pipeline) AS pipeline,
    sumIf(metric_value, metric_name = 'capacity_total') AS total,
    sumIf(metric_value, metric_name = 'capacity_available') AS available,
    uniqExactIf(orchestrator_address, metric_name = 'capacity_total') AS orchestrators
FROM naap.calculated_metrics
WHERE metric_name IN ('capacity_total', 'capacity_available') AND metric_version = {CAPACITY_VERSION}
GROUP BY ts, pipeline
ORDER BY pipeline, ts
"""

# grain: one row per orchestrator x pipeline announced in the 24 hours ending at the latest
# announced hour: its latest hour there, capacities and warm models (the sum of the models' warm
# shares) summed over its models; GPUs, swing and price: the largest / smallest of its models
CAPACITY_ORCHESTRATORS = f"""
WITH (SELECT max(metric_timestamp) FROM naap.calculated_metrics
      WHERE metric_name = 'capacity_total' AND metric_version = {CAPACITY_VERSION}) AS latest
SELECT
    metric_timestamp AS hour,
    orchestrator_address AS orchestrator,
    toString(pipeline) AS pipeline,
    sumIf(metric_value, metric_name = 'capacity_total') AS total,
    sumIf(metric_value, metric_name = 'capacity_available') AS available,
    uniqExactIf(model_id, metric_name = 'capacity_total') AS models,
    sumIf(metric_value, metric_name = 'model_warm_share') AS warm_models,
    maxIf(metric_value, metric_name = 'gpu_count') AS gpus,
    maxIf(metric_value, metric_name = 'capacity_swing') AS swing,
    if(countIf(metric_name = 'price_per_unit') > 0, minIf(metric_value, metric_name = 'price_per_unit'), NULL)
        AS price_min,
    if(countIf(metric_name = 'price_per_unit') > 0, maxIf(metric_value, metric_name = 'price_per_unit'), NULL)
        AS price_max
FROM naap.calculated_metrics
WHERE metric_category = 'capacity' AND metric_version = {CAPACITY_VERSION}
    AND metric_timestamp > latest - INTERVAL 24 HOUR
GROUP BY hour, orchestrator, pipeline
ORDER BY orchestrator, pipeline, hour DESC
LIMIT 1 BY orchestrator, pipeline
"""

# grain: one row per relay among the {top:UInt8} most likely in a position (guard, middle or
# exit; a probability of 0 is not "likely") in the latest consensus hour that has
# probabilities (a bandwidth-weights footer)
TOR_PATH_PROBABILITIES = f"""
WITH (SELECT max(ts) FROM tor.relay_hour_metrics FINAL
      WHERE metric_version = {TOR_METRICS_VERSION} AND guard_probability IS NOT NULL) AS latest
SELECT ts, fingerprint_hex AS fingerprint, nickname, cw_fraction, guard_probability, middle_probability,
    exit_probability, relays
FROM (
    SELECT
        m.ts AS ts,
        hex(m.fingerprint) AS fingerprint_hex,
        s.nickname AS nickname,
        m.cw_fraction AS cw_fraction,
        m.guard_probability AS guard_probability,
        m.middle_probability AS middle_probability,
        m.exit_probability AS exit_probability,
        count() OVER () AS relays,
        row_number() OVER (ORDER BY m.guard_probability DESC, fingerprint_hex) AS guard_rank,
        row_number() OVER (ORDER BY m.middle_probability DESC, fingerprint_hex) AS middle_rank,
        row_number() OVER (ORDER BY m.exit_probability DESC, fingerprint_hex) AS exit_rank
    FROM tor.relay_hour_metrics AS m FINAL
    LEFT JOIN (SELECT fingerprint, ts, any(nickname) AS nickname FROM tor.relay_snapshot
               GROUP BY fingerprint, ts) AS s ON s.fingerprint = m.fingerprint AND s.ts = m.ts
    WHERE m.ts = latest AND m.metric_version = {TOR_METRICS_VERSION}
)
WHERE (guard_rank <= {{top:UInt8}} AND guard_probability > 0)
    OR (middle_rank <= {{top:UInt8}} AND middle_probability > 0)
    OR (exit_rank <= {{top:UInt8}} AND exit_probability > 0)
ORDER BY exit_probability DESC, guard_probability DESC, fingerprint_hex
"""

# grain: one row per (consensus hour, grouping, k): share of the consensus weight held by the
# k largest groups
TOR_TOP_SHARES = f"""
SELECT ts, toString(subject) AS grouping, toUInt8(extract(metric_name, '[0-9]+')) AS k,
    metric_value * 100 AS share_pct
FROM tor.network_hour_metrics FINAL
WHERE metric_name IN ('cw_top1_share', 'cw_top5_share', 'cw_top10_share') AND metric_version = {TOR_METRICS_VERSION}
ORDER BY grouping, k, ts
"""

# grain: one row per consensus hour: relays flagged for identical uptime patterns, in how many groups
TOR_UPTIME_FLAGGED = f"""
SELECT ts, metric_value AS flagged, JSONLength(metric_metadata, 'groups') AS groups
FROM tor.network_hour_metrics FINAL
WHERE metric_name = 'uptime_pattern_flagged_relays' AND metric_version = {TOR_METRICS_VERSION}
ORDER BY ts
"""
