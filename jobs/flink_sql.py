"""Small helpers shared by the jobs' Flink SQL: view registration and value formatting.

Flink SQL only; the ClickHouse DDL lives in sql/clickhouse/ (applied by jobs/ops/migrate.py).
"""

from __future__ import annotations

from typing import Any


def view(t_env: Any, name: str, query: str) -> None:
    """Register ``query`` as a temporary view ``name`` (replacing an older one)."""
    t_env.create_temporary_view(name, t_env.sql_query(query))


def literal(value: str) -> str:
    """``value`` as a Flink SQL string literal: quoted, inner quotes doubled (paths, options)."""
    return "'" + str(value).replace("'", "''") + "'"


def with_options(options: dict[str, str]) -> str:
    """The body of a connector's WITH clause, every key and value a quoted literal."""
    return ", ".join(f"{literal(k)} = {literal(v)}" for k, v in options.items())


def ch_time(ms_expr: str) -> str:
    """SQL formatting epoch milliseconds as a ClickHouse DateTime64(3) literal (UTC), NULL-safe.

    Text rather than a number: ClickHouse reads a JSON integer as seconds, and pyarrow parses
    this form directly into ``timestamp[ms, UTC]`` for the Parquet files.
    """
    return f"DATE_FORMAT(TO_TIMESTAMP_LTZ({ms_expr}, 3), 'yyyy-MM-dd HH:mm:ss.SSS')"


def ch_timestamp(timestamp_expr: str) -> str:
    """SQL formatting a TIMESTAMP(3) (session time zone = UTC) like :func:`ch_time`."""
    return f"DATE_FORMAT({timestamp_expr}, 'yyyy-MM-dd HH:mm:ss.SSS')"


def seconds(n: int) -> str:
    """An interval literal of ``n`` seconds.

    Written DAY TO SECOND with the default precisions: ``SECOND`` alone holds two digits, and
    explicit precisions are not supported when a table becomes a DataStream.
    """
    days, rest = divmod(n, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"INTERVAL '{days} {hours:02d}:{minutes:02d}:{secs:02d}' DAY TO SECOND"
