# ruff: noqa: F811 - pytest fixtures imported from conftest_tor are parameters here
"""The tor DDL on the embedded ClickHouse engine: schema as designed, idempotent hourly inserts,
and the five aggregate tables after forced merges (no Flink: rows come from udfs.tor_state)."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conftest_tor import (  # noqa: E402,F401 - fixtures
    COLLECTOR_TREE,
    geoip_dir,
    reference_rows,
    tor_settings,
    truncate_tor,
)

from jobs.connectors import clickhouse  # noqa: E402
from jobs.connectors.sinks import ClickHouseWriter, batch_token  # noqa: E402
from jobs.ops import migrate  # noqa: E402
from jobs.settings import Settings  # noqa: E402
from jobs.tor import relays as tor_relays  # noqa: E402
from udfs.tor_geoip import GeoIP  # noqa: E402

AGGREGATES = (
    "country_hour_stats",
    "asn_day_stats",
    "version_day_stats",
    "operator_day_stats",
    "network_hour_stats",
)


def query(settings: Settings, sql: str, **parameters: Any) -> list[tuple]:
    client = clickhouse.connect(settings)
    with clickhouse.lock():
        return client.query(sql, parameters=parameters).result_rows


def test_relay_snapshot_is_as_designed(tor_settings: Settings) -> None:
    columns = dict(
        query(
            tor_settings,
            "SELECT name, type FROM system.columns WHERE database = 'tor' AND table = 'relay_snapshot'",
        )
    )
    designed = {
        "ts": "DateTime('UTC')",
        "fingerprint": "FixedString(20)",
        "nickname": "LowCardinality(String)",
        "all_nicknames": "Array(String)",
        "address_v4": "IPv4",
        "address_v6": "Nullable(IPv6)",
        "or_port": "UInt16",
        "dir_port": "UInt16",
        "flags": "Array(String)",
        "flags_by_auth.auth": "Array(String)",
        "flags_by_auth.flags": "Array(Array(String))",
        "bw_consensus": "UInt32",
        "bw_measured": "Nullable(UInt32)",
        "bw_observed": "Nullable(UInt32)",
        "bw_read": "Nullable(UInt64)",
        "bw_write": "Nullable(UInt64)",
        "cw": "UInt32",
        "uptime": "Nullable(UInt32)",
        "first_seen": "DateTime('UTC')",
        "last_restarted": "Nullable(DateTime('UTC'))",
        "last_ip_change": "Nullable(DateTime('UTC'))",
        "exit_policy": "String",
        "contact": "LowCardinality(Nullable(String))",
        "family": "Array(FixedString(20))",
        "version": "LowCardinality(String)",
        "asn": "UInt32",
        "country": "FixedString(2)",
    }
    assert {k: columns[k] for k in designed} == designed
    # the writer fills every column, and only existing ones
    assert set(tor_relays.SNAPSHOT_COLUMNS) == set(columns)
    (keys,) = query(
        tor_settings,
        "SELECT partition_key, sorting_key, engine FROM system.tables WHERE database = 'tor' AND name = 'relay_snapshot'",
    )
    assert keys == ("toYYYYMM(ts)", "fingerprint, ts", "MergeTree")
    indexes = query(
        tor_settings,
        "SELECT name, type, expr, granularity FROM system.data_skipping_indices WHERE database = 'tor' ORDER BY name",
    )
    assert indexes == [
        ("idx_country_ts", "minmax", "country, ts", 4),
        ("idx_ts_fpr", "minmax", "fingerprint, ts", 1),
    ]
    assert query(tor_settings, "SELECT name FROM system.projections WHERE database = 'tor'") == [
        ("relays_by_flag",)
    ]
    codecs = dict(
        query(
            tor_settings,
            "SELECT name, compression_codec FROM system.columns WHERE database = 'tor' AND table = 'relay_snapshot'",
        )
    )
    assert (
        codecs["ts"] == "CODEC(DoubleDelta, ZSTD(1))"
        and codecs["bw_consensus"] == "CODEC(Delta(4), ZSTD(1))"
    )


def test_every_target_table_deduplicates_replayed_inserts(tor_settings: Settings) -> None:
    settings = dict(
        query(
            tor_settings,
            "SELECT name, engine_full FROM system.tables WHERE database = 'tor' AND engine LIKE '%MergeTree'",
        )
    )
    assert set(settings) == {
        "relay_snapshot", "dead_letter", "relay_hour_metrics", "network_hour_metrics", *AGGREGATES
    }
    assert all("non_replicated_deduplication_window = 10000" in e for e in settings.values())


def test_migrations_are_idempotent(tor_settings: Settings) -> None:
    assert migrate.migrate(tor_settings, databases=("tor",)) == []


@pytest.fixture(scope="module")
def loaded(tor_settings: Settings, geoip_dir: Path) -> dict[str, list[str]]:
    """Three real/derived consensus hours + the 2012 hour, inserted twice (replay)."""
    truncate_tor(tor_settings)
    rows = reference_rows(COLLECTOR_TREE, GeoIP(geoip_dir))
    for _ in range(2):
        for hour, lines in sorted(rows.items()):
            tor_relays.insert_snapshots(
                tor_settings, lines, batch_token(tor_relays.SNAPSHOT_TABLE, hour, lines)
            )
    client = clickhouse.connect(tor_settings)
    with clickhouse.lock():
        for table in AGGREGATES:
            client.command(f"OPTIMIZE TABLE tor.{table} FINAL")
    return rows


def test_replayed_hours_are_not_duplicated(
    tor_settings: Settings, loaded: dict[str, list[str]]
) -> None:
    counts = query(
        tor_settings, "SELECT toString(ts), count() FROM tor.relay_snapshot GROUP BY ts ORDER BY ts"
    )
    assert counts == [
        ("2012-07-12 10:00:00", 7),
        ("2018-06-01 00:00:00", 208),
        ("2018-06-01 01:00:00", 35),
        ("2018-06-01 02:00:00", 35),
    ]


def test_hour_writer_skips_relays_already_written(
    tor_settings: Settings, loaded: dict[str, list[str]]
) -> None:
    """A re-run recomputes an hour (values may differ, e.g. a newly joined descriptor): only
    relays the hour does not have yet are written (jobs/tor/writer.py)."""
    from jobs.tor.writer import existing_fingerprints, new_rows

    hour = "2018-06-01 01:00:00"
    hour_ms = 1527814800 * 1000
    assert len(existing_fingerprints(tor_settings, hour_ms)) == 35
    recomputed = [json.dumps(dict(json.loads(line), bw_observed=1)) for line in loaded[hour]]
    newcomer = dict(json.loads(loaded[hour][0]), fingerprint="AB" * 20)
    lines = [*recomputed, json.dumps(newcomer)]
    assert new_rows(lines, existing_fingerprints(tor_settings, hour_ms)) == [json.dumps(newcomer)]
    assert existing_fingerprints(tor_settings, 1527818400 * 1000 + 3600_000) == set()


def test_country_hour_stats(tor_settings: Settings, loaded: dict[str, list[str]]) -> None:
    rows = query(
        tor_settings,
        "SELECT country, relays, exit_relays, guard_relays, cw_sum FROM tor.country_hour_stats "
        "WHERE ts = '2018-06-01 00:00:00' ORDER BY relays DESC, country LIMIT 4",
    )
    assert rows == [
        (b"DE", 52, 1, 21, 479524),
        (b"US", 34, 3, 7, 116249),
        (b"FR", 27, 2, 16, 530349),
        (b"NL", 22, 5, 11, 221141),
    ]
    # one row per (country, hour) after the merge, and the same totals as the raw rows
    (dupes,) = query(
        tor_settings, "SELECT count() - uniqExact(country, ts) FROM tor.country_hour_stats"
    )
    assert dupes == (0,)
    raw = query(
        tor_settings,
        "SELECT country, count() FROM tor.relay_snapshot WHERE ts = '2018-06-01 01:00:00' GROUP BY country ORDER BY country",
    )
    agg = query(
        tor_settings,
        "SELECT country, relays FROM tor.country_hour_stats WHERE ts = '2018-06-01 01:00:00' ORDER BY country",
    )
    assert raw == agg


def test_network_hour_stats(tor_settings: Settings, loaded: dict[str, list[str]]) -> None:
    rows = query(
        tor_settings,
        "SELECT toString(ts), sum(relays), sum(exit_relays), sum(guard_relays), sum(cw_sum), sum(bw_measured_relays), "
        "sum(bw_observed_sum), quantileMerge(0.5)(median_uptime) FROM tor.network_hour_stats GROUP BY ts ORDER BY ts",
    )
    assert rows[1][:7] == ("2018-06-01 00:00:00", 208, 22, 79, 1768728, 1, 0)
    assert rows[2][:7] == ("2018-06-01 01:00:00", 35, 6, 11, 253226, 0, 0)
    # 02:00: ddetor2 gone, caerSidi (w Bandwidth=100, observed 104590, uptime 588217) new
    assert rows[3] == ("2018-06-01 02:00:00", 35, 6, 10, 249266, 0, 104590, 588217.0)


def test_day_tables(tor_settings: Settings, loaded: dict[str, list[str]]) -> None:
    asn = query(
        tor_settings,
        "SELECT asn, relays, cw_sum FROM tor.asn_day_stats WHERE day = '2018-06-01' ORDER BY relays DESC, asn LIMIT 2",
    )
    assert asn == [
        (24940, 24, 394974),
        (16276, 23, 419523),
    ]  # Hetzner, OVH: relay-hours over the day
    version = query(
        tor_settings,
        "SELECT relays FROM tor.version_day_stats WHERE day = '2018-06-01' AND version = '0.2.1.30'",
    )
    assert version == [(1,)]  # caerSidi
    operators = query(
        tor_settings,
        "SELECT contact, relays, cw_sum, bw_read_sum, bw_write_sum FROM tor.operator_day_stats WHERE day = '2018-06-01' ORDER BY contact",
    )
    assert operators == [
        ("", 277, 2271120, 3 * 8186880, 3 * 16678912),
        ("www.atagar.com/contact", 1, 100, 0, 0),
    ]
    # the day tables sum over hours: equal to the raw rows of the day
    (raw,) = query(
        tor_settings, "SELECT count() FROM tor.relay_snapshot WHERE toDate(ts) = '2018-06-01'"
    )
    assert (
        sum(
            r
            for _, r in query(
                tor_settings, "SELECT asn, relays FROM tor.asn_day_stats WHERE day = '2018-06-01'"
            )
        )
        == raw[0]
    )


def test_per_flag_counts_read_the_projection(
    tor_settings: Settings, loaded: dict[str, list[str]]
) -> None:
    inner = "SELECT ts, flags, count() AS relays FROM tor.relay_snapshot GROUP BY ts, flags"
    plan = "\n".join(r[0] for r in query(tor_settings, f"EXPLAIN {inner}"))
    assert "relays_by_flag" in plan
    via_projection = query(
        tor_settings,
        f"SELECT flag, sum(relays) FROM ({inner}) ARRAY JOIN flags AS flag WHERE ts = '2018-06-01 00:00:00' GROUP BY flag ORDER BY flag",
    )
    direct = Counter(f for line in loaded["2018-06-01 00:00:00"] for f in json.loads(line)["flags"])
    assert dict(via_projection) == dict(direct)
    assert dict(via_projection)["Exit"] == 22


def test_dead_letter_folds_resent_rejects(tor_settings: Settings) -> None:
    client = clickhouse.connect(tor_settings)
    row = {
        "reject_key": "k1",
        "job": "tor_relays",
        "stage": "parse",
        "document": "d",
        "doc_type": "unknown",
        "line": 1,
        "reason": "not_a_tor_document",
        "detail": "",
        "excerpt": "garbage{",
    }
    writer = ClickHouseWriter(tor_settings)
    writer.insert("tor.dead_letter", [json.dumps(row)], None)
    writer.insert("tor.dead_letter", [json.dumps(row)], None)
    with clickhouse.lock():
        client.command("OPTIMIZE TABLE tor.dead_letter FINAL")
    assert query(tor_settings, "SELECT count() FROM tor.dead_letter WHERE reject_key = 'k1'") == [
        (1,)
    ]
