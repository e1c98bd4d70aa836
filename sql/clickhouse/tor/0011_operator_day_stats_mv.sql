-- purpose: feeds tor.operator_day_stats from every insert into tor.relay_snapshot.
-- grain:   partial sums per insert block; the SummingMergeTree target adds them up.
CREATE MATERIALIZED VIEW IF NOT EXISTS tor.operator_day_stats_mv
TO tor.operator_day_stats
AS
SELECT
    toDate(ts) AS day,
    ifNull(toString(contact), '') AS contact,
    toUInt32(count()) AS relays,
    sum(toUInt64(cw)) AS cw_sum,
    sum(ifNull(bw_read, 0)) AS bw_read_sum,
    sum(ifNull(bw_write, 0)) AS bw_write_sum
FROM tor.relay_snapshot
GROUP BY day, contact
