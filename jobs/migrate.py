"""Forward-only ClickHouse migrator with a ledger of applied files and their checksums.

Files live in ``sql/clickhouse/<database>/NNNN_name.sql`` (one object per file) and are applied
in (directory, number) order to a server or to the embedded engine, through the same client.
An applied file that was edited afterwards is refused: write a new file instead.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobs import clickhouse
from jobs.settings import PROJECT_ROOT, Settings

SQL_ROOT = PROJECT_ROOT / "sql" / "clickhouse"
LEDGER = "netpulse_meta.schema_migrations"
_NAME = re.compile(r"^\d{4}_[a-z0-9_]+\.sql$")

# Tables that take the retention TTL (NETPULSE_RETENTION_DAYS), with their date column.
RETENTION_COLUMNS = {
    "naap.raw_events": "event_date",
    "naap.ai_stream_status": "event_date",
    "naap.stream_ingest_metrics": "event_date",
    "naap.stream_trace_events": "event_date",
    "naap.calculated_metrics": "metric_date",
    "naap.ai_stream_status_5min": "metric_date",
    "naap.stream_ingest_metrics_hourly": "metric_date",
}


class MigrationError(RuntimeError):
    """A migration file was edited after it was applied, or is badly named."""


@dataclass(frozen=True)
class Migration:
    """One DDL file: its ledger name (``db/file``), text and checksum."""

    name: str
    path: Path
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover(root: Path = SQL_ROOT, databases: tuple[str, ...] | None = None) -> list[Migration]:
    """All migration files under ``root``, in apply order."""
    found = []
    for directory in sorted(p for p in root.iterdir() if p.is_dir()):
        if databases is not None and directory.name not in databases:
            continue
        for path in sorted(directory.glob("*.sql")):
            if not _NAME.match(path.name):
                raise MigrationError(f"{path}: expected NNNN_lower_snake.sql; rename the file")
            found.append(Migration(f"{directory.name}/{path.name}", path, path.read_text()))
    return found


def _ensure_ledger(client: Any) -> None:
    client.command("CREATE DATABASE IF NOT EXISTS netpulse_meta")
    client.command(
        f"CREATE TABLE IF NOT EXISTS {LEDGER} (name String, checksum String, "
        "applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) ENGINE = MergeTree ORDER BY name"
    )


def applied(client: Any) -> dict[str, str]:
    """Ledger contents: file name -> checksum."""
    _ensure_ledger(client)
    rows = client.query(f"SELECT name, checksum FROM {LEDGER}").result_rows
    return {name: checksum for name, checksum in rows}


def _statement(sql: str) -> str:
    lines = [line for line in sql.splitlines() if not line.strip().startswith("--")]
    return "\n".join(lines).strip().rstrip(";")


def migrate(
    settings: Settings,
    root: Path = SQL_ROOT,
    databases: tuple[str, ...] | None = None,
) -> list[str]:
    """Apply every pending file, then the retention setting. Returns the names applied.

    Raises:
        MigrationError: an applied file's checksum changed.
    """
    client = clickhouse.connect(settings)
    with clickhouse.lock():
        done = applied(client)
        pending = []
        for migration in discover(root, databases):
            previous = done.get(migration.name)
            if previous is None:
                pending.append(migration)
            elif previous != migration.checksum:
                raise MigrationError(
                    f"{migration.name} was edited after it was applied "
                    f"(ledger {previous[:12]}, file {migration.checksum[:12]}); "
                    "restore it and add a new numbered file for the change"
                )
        for migration in pending:
            client.command(_statement(migration.sql))
            client.insert(LEDGER, [[migration.name, migration.checksum]], column_names=["name", "checksum"])
        apply_retention(client, settings.retention_days)
    return [m.name for m in pending]


def apply_retention(client: Any, days: int) -> None:
    """Set (days > 0) or remove (days == 0) the TTL on every NaaP table; idempotent.

    Retention is a setting rather than DDL: the design's hard-coded 90-day TTL erased the
    sample events (and would erase any backfill of older history) seconds after the insert.
    """
    existing = {
        f"{db}.{name}": ttl
        for db, name, ttl in client.query(
            "SELECT database, name, engine_full LIKE '% TTL %' FROM system.tables "
            "WHERE database = 'naap'"
        ).result_rows
    }
    for table, column in RETENTION_COLUMNS.items():
        if table not in existing:
            continue
        if days > 0:
            client.command(f"ALTER TABLE {table} MODIFY TTL {column} + INTERVAL {days} DAY DELETE")
        elif existing[table]:
            client.command(f"ALTER TABLE {table} REMOVE TTL")
