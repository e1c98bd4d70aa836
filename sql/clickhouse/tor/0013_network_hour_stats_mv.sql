-- purpose: feeds tor.network_hour_stats from every insert into tor.relay_snapshot.
-- grain:   partial aggregates per insert block; the AggregatingMergeTree target merges them.
-- note:    the uptime median skips relays without an uptime (no descriptor, or a rejected
--          negative uptime) instead of counting them as 0.
CREATE MATERIALIZED VIEW IF NOT EXISTS tor.network_hour_stats_mv
TO tor.network_hour_stats
AS
SELECT
    ts,
    toUInt64(count()) AS relays,
    toUInt64(countIf(has(flags, 'Exit') AND NOT has(flags, 'BadExit'))) AS exit_relays,
    toUInt64(countIf(has(flags, 'Guard'))) AS guard_relays,
    sum(toUInt64(cw)) AS cw_sum,
    sum(toUInt64(bw_consensus)) AS bw_consensus_sum,
    sum(toUInt64(ifNull(bw_measured, 0))) AS bw_measured_sum,
    toUInt64(count(bw_measured)) AS bw_measured_relays,
    sum(toUInt64(ifNull(bw_observed, 0))) AS bw_observed_sum,
    toUInt64(count(bw_observed)) AS bw_observed_relays,
    quantileStateIf(0.5)(ifNull(uptime, 0), uptime IS NOT NULL) AS median_uptime
FROM tor.relay_snapshot
GROUP BY ts
