-- purpose: feeds tor.asn_day_stats from every insert into tor.relay_snapshot.
-- grain:   partial sums per insert block; the SummingMergeTree target adds them up.
CREATE MATERIALIZED VIEW IF NOT EXISTS tor.asn_day_stats_mv
TO tor.asn_day_stats
AS
SELECT
    toDate(ts) AS day,
    asn,
    toUInt32(count()) AS relays,
    sum(toUInt64(cw)) AS cw_sum,
    sum(toUInt64(bw_consensus)) AS bw_consensus_sum
FROM tor.relay_snapshot
GROUP BY day, asn
