"""Retention (NETPULSE_RETENTION_DAYS) on copies of the NaaP tables in the session's chDB.

A row is kept N days after the later of its event date and its ingestion date: a backfill of
old history survives, rows that are old on both counts go, nothing goes when retention is off.
The tables are copies (``CREATE TABLE ... AS naap.x``) in a database of their own, so the naap
tables other tests use keep their settings.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest

from jobs.connectors import clickhouse
from jobs.connectors.sinks import ClickHouseWriter
from jobs.ops import migrate
from jobs.settings import Settings

DB = "retention_test"
DAYS = 90
TODAY = dt.datetime.now(dt.UTC).date()
# the real sample events are of 2026-02-23; an older day when the clock says that is not old yet
OLD_DAY = min(dt.date(2026, 2, 23), TODAY - dt.timedelta(days=2 * DAYS))
OLD = f"{OLD_DAY} 12:00:00"
NOW = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


@pytest.fixture
def tables(migrated: Settings) -> Iterator[Any]:
    client = clickhouse.connect(migrated)
    client.command(f"DROP DATABASE IF EXISTS {DB}")
    client.command(f"CREATE DATABASE {DB}")
    for table in (*migrate.RETENTION_DATES, *migrate.RETENTION_KEPT):
        client.command(f"CREATE TABLE {DB}.{table} AS naap.{table}")
    yield client
    client.command(f"DROP DATABASE IF EXISTS {DB}")


def _ttl(client: Any, table: str) -> str:
    (engine_full,), = client.query(
        "SELECT engine_full FROM system.tables WHERE database = %(d)s AND name = %(t)s",
        parameters={"d": DB, "t": table},
    ).result_rows
    return migrate._current_ttl(engine_full)


def _write(migrated: Settings, table: str, rows: list[dict[str, Any]]) -> None:
    """Insert through the jobs' own writer (JSONEachRow, the job's insert settings)."""
    ClickHouseWriter(migrated).insert(f"{DB}.{table}", [json.dumps(r) for r in rows], None)


def _raw(event_id: str, event_time: str, ingested: str | None = None) -> dict[str, Any]:
    row = {"event_id": event_id, "dedup_key": event_id, "event_timestamp": f"{event_time}.000",
           "event_type": "ai_stream_status", "stream_id": "s", "request_id": "r", "gateway": "g",
           "orchestrator_address": "", "orchestrator_url": "", "raw_data": "{}", "source_position": "test"}
    if ingested is not None:
        row["ingestion_timestamp"] = ingested
    return row


def _survivors(client: Any, table: str, column: str) -> list[str]:
    client.command(f"OPTIMIZE TABLE {DB}.{table} FINAL")
    return sorted(r[0] for r in client.query(f"SELECT {column} FROM {DB}.{table}").result_rows)


def test_ttl_is_set_changed_and_removed_idempotently(tables: Any) -> None:
    ran = migrate.apply_retention(tables, DAYS, DB)
    assert len(ran) == len(migrate.RETENTION_DATES)
    assert _ttl(tables, "raw_events") == (
        f"TTL greatest(event_date, toDate(ingestion_timestamp)) + toIntervalDay({DAYS})")
    assert _ttl(tables, "orchestrator_metadata") == (
        f"TTL greatest(toDate(last_seen), toDate(ingestion_timestamp)) + toIntervalDay({DAYS})")
    assert _ttl(tables, "dead_letter") == f"TTL toDate(ingestion_timestamp) + toIntervalDay({DAYS})"
    for table in migrate.RETENTION_DATES:
        assert _ttl(tables, table) == migrate.retention_ttl(table, DAYS), table
    for table in migrate.RETENTION_KEPT:  # aggregates are kept indefinitely
        assert _ttl(tables, table) == "", table
    assert migrate.apply_retention(tables, DAYS, DB) == []  # unchanged: nothing re-applied
    assert len(migrate.apply_retention(tables, 30, DB)) == len(migrate.RETENTION_DATES)
    assert _ttl(tables, "calculated_metrics").endswith("toIntervalDay(30)")
    assert len(migrate.apply_retention(tables, 0, DB)) == len(migrate.RETENTION_DATES)
    assert all(_ttl(tables, t) == "" for t in (*migrate.RETENTION_DATES, *migrate.RETENTION_KEPT))
    assert migrate.apply_retention(tables, 0, DB) == []


def test_a_ttl_left_on_an_aggregate_table_is_removed(tables: Any) -> None:
    tables.command(f"ALTER TABLE {DB}.ai_stream_status_5min MODIFY TTL metric_date + INTERVAL 90 DAY")
    assert _ttl(tables, "ai_stream_status_5min") != ""
    assert f"ALTER TABLE {DB}.ai_stream_status_5min REMOVE TTL" in migrate.apply_retention(tables, DAYS, DB)
    assert _ttl(tables, "ai_stream_status_5min") == ""


def test_retention_keeps_a_backfill_and_deletes_what_is_old_on_both_counts(migrated: Settings, tables: Any) -> None:
    migrate.apply_retention(tables, DAYS, DB)
    _write(migrated, "raw_events", [
        _raw("backfilled", OLD),              # old event, loaded now: kept N days from now
        _raw("expired", OLD, OLD),            # old event, loaded long ago: deleted
        _raw("fresh", NOW, NOW),
        _raw("late-arrival", NOW, OLD),       # (clock skew) event recent: kept
    ])
    assert _survivors(tables, "raw_events", "event_id") == ["backfilled", "fresh", "late-arrival"]

    _write(migrated, "dead_letter", [
        {"reject_key": k, "job": "j", "stage": "decode", "reason": "malformed_json", "detail": "",
         "event_id": "", "event_type": "", "event_timestamp": None, "source_position": "p",
         "payload": "x", "payload_length": 1, "is_payload_truncated": False, "ingestion_timestamp": t}
        for k, t in (("old-reject", OLD), ("new-reject", NOW))
    ])
    assert _survivors(tables, "dead_letter", "reject_key") == ["new-reject"]

    _write(migrated, "calculated_metrics", [
        {"metric_timestamp": f"{OLD}.000", "window_start": f"{OLD}.000", "window_end": f"{OLD}.000",
         "stream_id": s, "request_id": None, "gateway": "g", "orchestrator_address": "",
         "orchestrator_url": "", "gpu_id": None, "region": "", "pipeline": "p", "model_id": "m",
         "metric_name": "output_fps_mean", "metric_category": "performance", "metric_version": 1,
         "metric_value": 1.0, "metric_unit": "fps", "metric_metadata": "{}", **extra}
        for s, extra in (("recomputed", {}), ("expired", {"ingestion_timestamp": OLD}))
    ])
    assert _survivors(tables, "calculated_metrics", "stream_id") == ["recomputed"]


def test_retention_off_deletes_nothing(migrated: Settings, tables: Any) -> None:
    migrate.apply_retention(tables, DAYS, DB)
    migrate.apply_retention(tables, 0, DB)
    _write(migrated, "raw_events", [_raw("backfilled", OLD), _raw("expired", OLD, OLD)])
    assert _survivors(tables, "raw_events", "event_id") == ["backfilled", "expired"]


def test_migrate_applies_the_setting_to_the_naap_tables(migrated: Settings) -> None:
    client = clickhouse.connect(migrated)
    try:
        assert migrate.migrate(migrated.replace(retention_days=DAYS)) == []
        tables = dict(client.query(
            "SELECT name, engine_full FROM system.tables WHERE database = 'naap'").result_rows)
        for table in migrate.RETENTION_DATES:
            assert migrate._current_ttl(tables[table]) == migrate.retention_ttl(table, DAYS), table
        for table in migrate.RETENTION_KEPT:
            assert " TTL " not in tables[table], table
    finally:
        migrate.apply_retention(client, 0)
    assert not any(" TTL " in e for (e,) in client.query(
        "SELECT engine_full FROM system.tables WHERE database = 'naap'").result_rows)
