"""Panel SQL of the Grafana dashboard for the analytics metrics (issue 19), as the report shows them.

Macros as in jobs/report/grafana.py (the panels themselves are declared there). Hourly metrics: the
time series panels insert nulls after an hour without a point, like the Tor panels.
"""

from __future__ import annotations

# grain: one row per orchestrator x pipeline scored in range: its latest hour (components in %)
SCORECARD = """SELECT concat(orchestrator_address, ' · ', pipeline) AS subject,
    argMax(score, hour) AS score, 100 * argMax(coverage, hour) AS coverage_pct,
    100 * argMax(reliability, hour) AS reliability_pct, 100 * argMax(quality, hour) AS quality_pct
FROM naap.orchestrator_scorecard
WHERE $__timeFilter_ms(hour) AND metric_version = 1
GROUP BY subject ORDER BY score DESC LIMIT 20"""

# grain: one row per (hour, orchestrator x pipeline) with a score
SCORE_HOURS = """SELECT hour AS t, concat(orchestrator_address, ' · ', pipeline) AS subject, score
FROM naap.orchestrator_scorecard
WHERE $__timeFilter_ms(hour) AND metric_version = 1
ORDER BY t"""

# grain: one row per (interval, gateway x pipeline, measure): sessions summed over the hours
DEMAND_SUPPLY = """SELECT $__timeInterval(metric_timestamp) AS t,
    concat(gateway, ' · ', pipeline, ': ',
           multiIf(metric_name = 'demand_requested_sessions', 'requested',
                   metric_name = 'demand_served_sessions', 'served', 'unmet')) AS series,
    sum(metric_value) AS sessions
FROM naap.calculated_metrics
WHERE $__timeFilter_ms(metric_timestamp) AND metric_version = 1
    AND metric_name IN ('demand_requested_sessions', 'demand_served_sessions', 'unmet_demand_sessions')
GROUP BY t, series ORDER BY t"""

# grain: one row per (hour, pipeline, total | available): summed over orchestrators and models
CAPACITY_PIPELINES = """SELECT metric_timestamp AS t,
    concat(if(pipeline = '', '(no pipeline)', toString(pipeline)),
           if(metric_name = 'capacity_total', ' total', ' available')) AS series,
    sum(metric_value) AS capacity
FROM naap.calculated_metrics
WHERE $__timeFilter_ms(metric_timestamp) AND metric_version = 1
    AND metric_name IN ('capacity_total', 'capacity_available')
GROUP BY t, series ORDER BY t"""

# grain: one row per orchestrator x pipeline announced in range, at its latest hour (models summed)
CAPACITY_ORCHESTRATORS = """SELECT concat(orchestrator, ' · ', pipeline) AS subject, available,
    greatest(total - available, 0) AS in_use
FROM (
    SELECT metric_timestamp AS hour, orchestrator_address AS orchestrator, toString(pipeline) AS pipeline,
        sumIf(metric_value, metric_name = 'capacity_total') AS total,
        sumIf(metric_value, metric_name = 'capacity_available') AS available
    FROM naap.calculated_metrics
    WHERE $__timeFilter_ms(metric_timestamp) AND metric_version = 1
        AND metric_name IN ('capacity_total', 'capacity_available')
    GROUP BY hour, orchestrator, pipeline
    ORDER BY orchestrator, pipeline, hour DESC
    LIMIT 1 BY orchestrator, pipeline
)
ORDER BY total DESC LIMIT 20"""

# grain: one row per relay of the latest consensus in range with probabilities (20 most likely)
TOR_PATH_PROBABILITIES = """SELECT hex(fingerprint) AS relay, 100 * guard_probability AS guard_pct,
    100 * middle_probability AS middle_pct, 100 * exit_probability AS exit_pct, 100 * cw_fraction AS cw_pct
FROM tor.relay_hour_metrics FINAL
WHERE metric_version = 1 AND ts = (
    SELECT max(ts) FROM tor.relay_hour_metrics WHERE $__timeFilter(ts) AND guard_probability IS NOT NULL)
ORDER BY greatest(guard_pct, middle_pct, exit_pct) DESC LIMIT 20"""

# grain: one row per (consensus hour, grouping x k): share of weight of the k largest groups (%)
TOR_TOP_SHARES = """SELECT ts AS t, concat(toString(subject), ' top ', extract(metric_name, '[0-9]+')) AS series,
    100 * metric_value AS share_pct
FROM tor.network_hour_metrics FINAL
WHERE $__timeFilter(ts) AND metric_name IN ('cw_top1_share', 'cw_top5_share', 'cw_top10_share')
    AND metric_version = 1
ORDER BY t"""

# grain: one row per consensus hour: relays flagged for identical uptime patterns, and groups
TOR_UPTIME_FLAGGED = """SELECT ts AS t, metric_value AS flagged_relays, JSONLength(metric_metadata, 'groups') AS groups
FROM tor.network_hour_metrics FINAL
WHERE $__timeFilter(ts) AND metric_name = 'uptime_pattern_flagged_relays' AND metric_version = 1
ORDER BY t"""
