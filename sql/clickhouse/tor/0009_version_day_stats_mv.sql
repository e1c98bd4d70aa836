-- purpose: feeds tor.version_day_stats from every insert into tor.relay_snapshot.
-- grain:   partial sums per insert block; the SummingMergeTree target adds them up.
CREATE MATERIALIZED VIEW IF NOT EXISTS tor.version_day_stats_mv
TO tor.version_day_stats
AS
SELECT
    toDate(ts) AS day,
    version,
    toUInt32(count()) AS relays,
    sum(toUInt64(cw)) AS cw_sum
FROM tor.relay_snapshot
GROUP BY day, version
