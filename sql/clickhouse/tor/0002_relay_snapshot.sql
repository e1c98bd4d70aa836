-- purpose: one immutable point per relay per consensus hour: the consensus entry joined with
--          the relay's latest server descriptor, extra-info descriptor, the votes of that hour
--          (flags_by_auth) and the latest bandwidth-authority measurement, plus derivations kept
--          in Flink keyed state (first_seen, all_nicknames, last_restarted, last_ip_change) and
--          country/AS looked up at ingest in an offline database.
-- grain:   one row per (fingerprint, ts); ts = the consensus valid-after (UTC).
-- writer:  jobs/tor_relays.py (Flink job tor-relays), one insert per consensus hour with a
--          deterministic insert_deduplication_token, so a replayed hour is not written twice.
-- engine:  MergeTree, append only (design: "no updates"). PARTITION BY toYYYYMM(ts) and
--          ORDER BY (fingerprint, ts) as designed: a relay's history is contiguous, so the
--          Delta/DoubleDelta codecs on its time columns see small steps; indexes as designed.
-- types:   as designed, with two deliberate readings: DateTime columns carry 'UTC' so a server
--          in another time zone cannot shift them; fingerprint is the 20 raw bytes of the
--          40-hex identity (query with hex(fingerprint)). Unknown country is '??' (Tor's own
--          convention) and unknown AS is 0. cw and bw_consensus both hold the `w Bandwidth=`
--          value (Onionoo calls it the consensus weight); the design lists both.
-- added:   platform, descriptor_published (the join's provenance), bw_measured_source
--          (which bandwidth file), geoip_source / geoip_date (which database located the
--          address: there is no historical geolocation, so each row says what it used),
--          is_uptime_rejected (the descriptor had a negative uptime: uptime and last_restarted
--          are NULL and the descriptor is in tor.dead_letter).
-- codecs:  DoubleDelta on the hourly ts, Delta on the other times and on the bandwidth gauges
--          (rows of one relay are adjacent and change little hour to hour), T64 on ports,
--          uptime and asn; all then ZSTD. The design's Gorilla is a floating-point codec:
--          ClickHouse refuses it on these integer columns ("meaningless" codec), and no column
--          here is a float.
-- projection relays_by_flag: (ts, flags) -> count, cw sum; per-flag counts read it with
--          SELECT ts, flag, sum(relays) FROM (SELECT ts, flags, count() AS relays
--          FROM tor.relay_snapshot GROUP BY ts, flags) ARRAY JOIN flags AS flag GROUP BY ts, flag
--          (ClickHouse projections cannot ARRAY JOIN; a flag set has few distinct values/hour).
-- TTL:     none by default: a backfill of old consensuses would be erased on insert. The
--          design's option, if disk is tight (aggregates are kept):
--          ALTER TABLE tor.relay_snapshot MODIFY TTL ts + INTERVAL 2 YEAR DELETE
CREATE TABLE IF NOT EXISTS tor.relay_snapshot
(
    ts                  DateTime('UTC') CODEC(DoubleDelta, ZSTD(1)),
    fingerprint         FixedString(20),
    nickname            LowCardinality(String),
    all_nicknames       Array(String),
    address_v4          IPv4,
    address_v6          Nullable(IPv6),
    or_port             UInt16 CODEC(T64, ZSTD(1)),
    dir_port            UInt16 CODEC(T64, ZSTD(1)),

    flags               Array(String),
    flags_by_auth       Nested(
        auth String,
        flags Array(String)
    ),

    bw_consensus        UInt32 CODEC(Delta, ZSTD(1)),
    bw_measured         Nullable(UInt32) CODEC(Delta, ZSTD(1)),
    bw_observed         Nullable(UInt32) CODEC(Delta, ZSTD(1)),
    bw_read             Nullable(UInt64) CODEC(Delta, ZSTD(1)),
    bw_write            Nullable(UInt64) CODEC(Delta, ZSTD(1)),
    cw                  UInt32 CODEC(Delta, ZSTD(1)),

    uptime              Nullable(UInt32) CODEC(T64, ZSTD(1)),
    first_seen          DateTime('UTC') CODEC(Delta, ZSTD(1)),
    last_restarted      Nullable(DateTime('UTC')) CODEC(Delta, ZSTD(1)),
    last_ip_change      Nullable(DateTime('UTC')) CODEC(Delta, ZSTD(1)),

    exit_policy         String CODEC(ZSTD(3)),
    contact             LowCardinality(Nullable(String)),
    family              Array(FixedString(20)),
    version             LowCardinality(String),
    platform            LowCardinality(Nullable(String)),
    descriptor_published Nullable(DateTime('UTC')) CODEC(Delta, ZSTD(1)),
    bw_measured_source  LowCardinality(Nullable(String)),
    is_uptime_rejected  Bool DEFAULT false,

    asn                 UInt32 CODEC(T64, ZSTD(1)),
    country             FixedString(2),
    geoip_source        LowCardinality(String),
    geoip_date          Date,

    INDEX idx_ts_fpr (fingerprint, ts) TYPE minmax GRANULARITY 1,
    INDEX idx_country_ts (country, ts) TYPE minmax GRANULARITY 4,

    PROJECTION relays_by_flag
    (
        SELECT ts, flags, count(), sum(cw)
        GROUP BY ts, flags
    )
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (fingerprint, ts)
SETTINGS index_granularity = 8192, non_replicated_deduplication_window = 10000
