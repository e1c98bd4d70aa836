-- purpose: feeds tor.country_hour_stats from every insert into tor.relay_snapshot.
-- grain:   partial sums per insert block; the SummingMergeTree target adds them up.
CREATE MATERIALIZED VIEW IF NOT EXISTS tor.country_hour_stats_mv
TO tor.country_hour_stats
AS
SELECT
    ts,
    country,
    toUInt32(count()) AS relays,
    toUInt32(countIf(has(flags, 'Exit') AND NOT has(flags, 'BadExit'))) AS exit_relays,
    toUInt32(countIf(has(flags, 'Guard'))) AS guard_relays,
    sum(toUInt64(cw)) AS cw_sum,
    sum(toUInt64(bw_consensus)) AS bw_consensus_sum
FROM tor.relay_snapshot
GROUP BY ts, country
