"""The migrator on the embedded engine, and the writers' columns against the live schema."""

import json
import re
from pathlib import Path

import pytest

from jobs.connectors import clickhouse
from jobs.naap import catalog, envelopes
from jobs.naap import ingest as naap_ingest
from jobs.naap import metrics as naap_metrics
from jobs.ops import migrate
from jobs.settings import Settings
from udfs.capabilities import explode


def test_all_naap_objects_exist(migrated: Settings) -> None:
    client = clickhouse.connect(migrated)
    tables = {r[0]: r[1] for r in client.query(
        "SELECT name, engine FROM system.tables WHERE database = 'naap'").result_rows}
    assert tables == {
        "raw_events": "MergeTree",
        "ai_stream_status": "MergeTree",
        "stream_ingest_metrics": "MergeTree",
        "stream_trace_events": "MergeTree",
        "calculated_metrics": "MergeTree",
        "orchestrator_metadata": "ReplacingMergeTree",
        "dead_letter": "ReplacingMergeTree",
        "ai_stream_status_5min": "AggregatingMergeTree",
        "ai_stream_status_5min_mv": "MaterializedView",
        "stream_ingest_metrics_hourly": "AggregatingMergeTree",
        "stream_ingest_metrics_hourly_mv": "MaterializedView",
        "calculated_metrics_enriched": "View",
        "orchestrator_scorecard": "View",
    }


def test_second_run_is_a_no_op_and_ledger_has_checksums(migrated: Settings) -> None:
    assert migrate.migrate(migrated) == []
    ledger = migrate.applied(clickhouse.connect(migrated))
    files = migrate.discover()
    assert {m.name: m.checksum for m in files}.items() <= ledger.items()


def test_edited_file_is_refused(migrated: Settings, tmp_path: Path) -> None:
    root = tmp_path / "sql"
    (root / "migtest").mkdir(parents=True)
    first = root / "migtest" / "0001_database.sql"
    first.write_text("CREATE DATABASE IF NOT EXISTS migtest")
    (root / "migtest" / "0002_t.sql").write_text("CREATE TABLE IF NOT EXISTS migtest.t (a UInt8) ENGINE = MergeTree ORDER BY a")
    assert migrate.migrate(migrated, root=root) == ["migtest/0001_database.sql", "migtest/0002_t.sql"]
    first.write_text("CREATE DATABASE IF NOT EXISTS migtest -- edited")
    with pytest.raises(migrate.MigrationError, match="migtest/0001_database.sql was edited after it was applied"):
        migrate.migrate(migrated, root=root)


def test_retention_is_a_setting(migrated: Settings) -> None:
    client = clickhouse.connect(migrated)
    def ttl() -> str:
        return client.query("SELECT engine_full FROM system.tables WHERE database='naap' AND name='raw_events'").result_rows[0][0]
    assert " TTL " not in ttl()
    migrate.apply_retention(client, 90)
    assert "TTL greatest(event_date, toDate(ingestion_timestamp)) + toIntervalDay(90)" in ttl()
    migrate.apply_retention(client, 0)
    assert " TTL " not in ttl()


def _keys(sql_text: str) -> set[str]:
    return set(re.findall(r"'(\w+)' VALUE", sql_text))


def _insertable(client, table: str) -> tuple[set[str], set[str]]:  # type: ignore[no-untyped-def]
    rows = client.query(
        "SELECT name, default_kind FROM system.columns WHERE database = 'naap' AND table = %(t)s",
        parameters={"t": table}).result_rows
    insertable = {n for n, kind in rows if kind not in ("MATERIALIZED", "ALIAS")}
    required = {n for n, kind in rows if kind == ""}
    return insertable, required


def test_writer_columns_match_system_columns(migrated: Settings) -> None:
    client = clickhouse.connect(migrated)
    dead_letter = _keys(envelopes.dead_letter_row(migrated, "j"))
    metric = set()
    for latency in catalog.LATENCIES:  # the row's keys, not those of its metadata object
        metric |= _keys(naap_metrics._latency_select(latency)) - _keys(naap_metrics._latency_metadata(latency))
    rows, _ = explode(json.loads((Path(__file__).parents[1] / "fixtures/livepeer/samples/flink-test-resources_net_caps.json").read_text())["data"], 1770063008615, "", "i")
    writers = {
        "raw_events": _keys(naap_ingest.RAW_EVENTS),
        "ai_stream_status": _keys(naap_ingest.AI_STREAM_STATUS),
        "stream_ingest_metrics": _keys(naap_ingest.STREAM_INGEST_METRICS),
        "stream_trace_events": _keys(naap_ingest.STREAM_TRACE_EVENTS),
        "calculated_metrics": metric,
        "dead_letter": dead_letter,
        "orchestrator_metadata": set(rows[0]),
    }
    for table, keys in writers.items():
        insertable, required = _insertable(client, table)
        assert keys <= insertable, f"{table}: writer sends unknown columns {keys - insertable}"
        assert required - {"ingestion_timestamp"} <= keys, f"{table}: writer omits {required - keys}"
