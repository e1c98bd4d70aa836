"""Forward-only ClickHouse migrator with a ledger of applied files and their checksums.

Files live in ``sql/clickhouse/<database>/NNNN_name.sql`` (one object per file) and are applied
in (directory, number) order to a server or to the embedded engine, through the same client.
An applied file that was edited afterwards is refused: write a new file instead.

A file may state preconditions in header lines ``-- requires: <query returning true>``, checked
right before its statement (after the files before it): e.g. a phase that makes a column
NOT NULL requires that no NULL is left, so it is refused until the backfill ran.

Statements run with ``mutations_sync = 2``: an ``ALTER TABLE ... UPDATE`` or a column type
change is a mutation, asynchronous by default, and a file is only recorded in the ledger once
its mutation has finished (on every replica). ``until`` stops after a named file, so the phases
of a schema change (add a nullable column, backfill it, enforce it: docs/schema-evolution.md)
can be released one at a time to a live database.

Retention (``NETPULSE_RETENTION_DAYS``) is applied after the files, as a TTL that keeps a row
N days after the later of its event date and its ingestion date (see :func:`apply_retention`).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobs.connectors import clickhouse
from jobs.settings import PROJECT_ROOT, Settings

SQL_ROOT = PROJECT_ROOT / "sql" / "clickhouse"
LEDGER = "netpulse_meta.schema_migrations"
_NAME = re.compile(r"^\d{4}_[a-z0-9_]+\.sql$")

# Settings of every migration statement: wait for mutations (ALTER ... UPDATE, MODIFY COLUMN)
# to finish on all replicas before the file is recorded as applied.
STATEMENT_SETTINGS = {"mutations_sync": 2}

# The retention TTL (NETPULSE_RETENTION_DAYS) of each NaaP table: the date a row's age counts
# from. Rows are kept N days after the LATER of their event date and their ingestion date, so a
# backfill of old history lives N days from its load instead of being deleted at insert.
# Written as ClickHouse prints it back in system.tables (so an unchanged TTL is not re-applied).
RETENTION_DATES = {
    "raw_events": "greatest(event_date, toDate(ingestion_timestamp))",
    "ai_stream_status": "greatest(event_date, toDate(ingestion_timestamp))",
    "stream_ingest_metrics": "greatest(event_date, toDate(ingestion_timestamp))",
    "stream_trace_events": "greatest(event_date, toDate(ingestion_timestamp))",
    "calculated_metrics": "greatest(metric_date, toDate(ingestion_timestamp))",
    # SCD2 versions: kept N days after their last announcement (or their load).
    "orchestrator_metadata": "greatest(toDate(last_seen), toDate(ingestion_timestamp))",
    # rejects may have no event time: kept N days after they were recorded.
    "dead_letter": "toDate(ingestion_timestamp)",
}
# Aggregate MV targets are kept indefinitely (a few rows per stream-hour / orchestrator-5min):
# a TTL left on them by an earlier version is removed.
RETENTION_KEPT = ("ai_stream_status_5min", "stream_ingest_metrics_hourly")


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


_REQUIRES = re.compile(r"^--\s*requires:\s*(.+)$")


def _requirements(sql: str) -> list[str]:
    """The ``-- requires: <query>`` header lines of a file."""
    return [m.group(1).strip() for line in sql.splitlines() if (m := _REQUIRES.match(line.strip()))]


def _statement(sql: str) -> str:
    lines = [line for line in sql.splitlines() if not line.strip().startswith("--")]
    return "\n".join(lines).strip().rstrip(";")


def _through(migrations: list[Migration], until: str) -> list[Migration]:
    """The migrations up to and including the one named ``until``.

    ``until`` is a ledger name (``naap/0014_x.sql``), with or without ``.sql``, or a unique
    prefix of one (``naap/0014``).
    """
    names = [m.name for m in migrations]
    matches = [i for i, name in enumerate(names)
               if name in (until, f"{until}.sql") or name.startswith(until)]
    exact = [i for i in matches if names[i] in (until, f"{until}.sql")]
    if exact:
        matches = exact
    if len(matches) != 1:
        found = ", ".join(names[i] for i in matches) or "no file"
        raise MigrationError(f"--until {until!r} must name exactly one migration file (matches: {found})")
    return migrations[: matches[0] + 1]


def migrate(
    settings: Settings,
    root: Path = SQL_ROOT,
    databases: tuple[str, ...] | None = None,
    until: str | None = None,
) -> list[str]:
    """Apply every pending file (through ``until`` only, when given), then the retention setting.

    Returns the names applied, in order; each is recorded in the ledger with its checksum right
    after its statement succeeded, so a failed file stops the run and is retried next time.

    Raises:
        MigrationError: an applied file's checksum changed, or ``until`` names no single file.
    """
    client = clickhouse.connect(settings)
    with clickhouse.lock():
        done = applied(client)
        pending = []
        migrations = discover(root, databases)
        if until is not None:
            migrations = _through(migrations, until)
        for migration in migrations:
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
            for requirement in _requirements(migration.sql):
                if not client.query(requirement).result_rows[0][0]:
                    raise MigrationError(
                        f"{migration.name} requires `{requirement}`, which is false: apply the "
                        "earlier phase everywhere first (docs/schema-evolution.md)"
                    )
            client.command(_statement(migration.sql), settings=STATEMENT_SETTINGS)
            client.insert(LEDGER, [[migration.name, migration.checksum]], column_names=["name", "checksum"])
        apply_retention(client, settings.retention_days)
    return [m.name for m in pending]


def retention_ttl(table: str, days: int) -> str:
    """The TTL clause of ``table`` for ``days`` of retention, as system.tables prints it."""
    return f"TTL {RETENTION_DATES[table]} + toIntervalDay({days})"


def _current_ttl(engine_full: str) -> str:
    """The TTL clause of a table's ``engine_full`` ('' when it has none)."""
    match = re.search(r" (TTL .*?)(?: SETTINGS |$)", engine_full)
    return match.group(1) if match else ""


def apply_retention(client: Any, days: int, database: str = "naap") -> list[str]:
    """Set (days > 0) or remove (days == 0) the retention TTL of the NaaP tables; idempotent.

    A row is deleted ``days`` after the later of its event date and its ingestion date:
    ``TTL greatest(event_date, toDate(ingestion_timestamp)) + INTERVAL N DAY DELETE``
    (metric_date for calculated_metrics, last_seen for orchestrator_metadata, the ingestion
    date alone for dead_letter). The design's ``TTL event_date + INTERVAL 90 DAY DELETE``
    deleted any event older than 90 days at insert: the sample events and every backfill of
    old history. Counting from the later date keeps a backfill N days from its load, the same
    age rule as the Parquet archive's object lifecycle (docs/retention.md). The aggregate MV
    targets (RETENTION_KEPT) are kept indefinitely.

    Only a table whose TTL differs is altered (MODIFY TTL rewrites the TTL information of every
    part), so running the migrator again costs nothing. Returns the statements it ran.
    """
    current = {
        name: _current_ttl(engine_full)
        for name, engine_full in client.query(
            "SELECT name, engine_full FROM system.tables WHERE database = %(d)s",
            parameters={"d": database},
        ).result_rows
    }
    statements = []
    for table in (*RETENTION_DATES, *RETENTION_KEPT):
        if table not in current:
            continue
        wanted = retention_ttl(table, days) if days > 0 and table in RETENTION_DATES else ""
        if current[table] == wanted:
            continue
        if wanted:
            statements.append(
                f"ALTER TABLE {database}.{table} MODIFY TTL "
                f"{RETENTION_DATES[table]} + INTERVAL {days} DAY DELETE"
            )
        else:
            statements.append(f"ALTER TABLE {database}.{table} REMOVE TTL")
    for statement in statements:
        client.command(statement)
    return statements
