"""The exactly-once oracle: a run's outputs compared whole with an uninterrupted run's.

Used by tests/cluster/test_exactly_once.py (and shown to fail on a planted duplicate and on a
dropped row by tests/reliability/test_oracle.py). Pure functions over exported rows: every
NaaP table (``FINAL`` where the engine folds; exported by tests/pipeline_run.py or
tests/cluster/export_run.py) and every Parquet file, each a multiset of canonical JSON rows.

Runs differ in where they read their input (part files on a cluster, one file for the
reference), so ``source_position`` is compared as the part file holding the event and
``reject_key`` (a hash over the position) is left out; nothing else is normalised.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any


def row_key(row: dict[str, Any]) -> str:
    """A row as canonical JSON (sorted keys): the unit the multisets are made of."""
    return json.dumps(row, sort_keys=True, default=str)


def normalize(row: dict[str, Any], run: str, input_dir: str, part_of: dict[str, str]) -> dict[str, Any]:
    """The row with ``source_position`` as the part file name and without ``reject_key``.

    Args:
        row: one exported row.
        run: ``reference`` (one input file, ``.../events.jsonl``) or a cluster run (part files
            under ``input_dir``).
        input_dir: the cluster run's input directory, with a trailing slash.
        part_of: event id -> part file name (how the reference's lines were split).
    """
    row = {k: v for k, v in row.items() if k != "reject_key"}
    if "source_position" in row:
        position = str(row["source_position"])
        if run == "reference":
            assert position.endswith("/events.jsonl"), position
            row["source_position"] = part_of.get(row.get("event_id") or "", position)
        else:
            assert position.startswith(input_dir), (position, input_dir)
            row["source_position"] = position.removeprefix(input_dir)
    return row


def normalized_tables(
    tables: dict[str, list[dict[str, Any]]], run: str, input_dir: str, part_of: dict[str, str]
) -> dict[str, list[dict[str, Any]]]:
    """Every table's rows normalised and sorted."""
    return {
        table: sorted((normalize(r, run, input_dir, part_of) for r in rows), key=row_key)
        for table, rows in tables.items()
    }


def differences(got: dict[str, list[dict[str, Any]]], want: dict[str, list[dict[str, Any]]]) -> list[str]:
    """What differs between two sets of tables/files, compared as multisets of rows: names
    missing or extra, and per name the rows missing (lost) and extra (doubled or foreign)."""
    problems = []
    if sorted(got) != sorted(want):
        problems.append(f"tables/files: missing {sorted(set(want) - set(got))}, extra {sorted(set(got) - set(want))}")
    for name in sorted(set(want) & set(got)):
        g, w = Counter(map(row_key, got[name])), Counter(map(row_key, want[name]))
        if g != w:
            missing, extra = list((w - g).elements()), list((g - w).elements())
            problems.append(
                f"{name}: {len(got[name])} rows vs {len(want[name])}; missing {len(missing)} {missing[:2]}; "
                f"extra {len(extra)} {extra[:2]}"
            )
    return problems


def assert_same_rows(got: dict[str, list[dict[str, Any]]], want: dict[str, list[dict[str, Any]]], what: str) -> None:
    """Equal multisets per table/file; on failure, name what is missing and what is extra."""
    problems = differences(got, want)
    assert not problems, f"{what} differs from the uninterrupted run:\n" + "\n".join(problems)


def duplicate_events(raw_events: list[dict[str, Any]], parquet_raw_events: list[dict[str, Any]]) -> list[str]:
    """Event ids written more than once to raw_events (ClickHouse) or its Parquet files, and ids
    in one but not the other. An event without an id (gateways send some) is identified by its
    ``dedup_key`` (a digest of the line), as the job deduplicates it."""
    problems = []

    def key(row: dict[str, Any]) -> str:
        return row["event_id"] or row.get("dedup_key") or ""

    ids = Counter(map(key, raw_events))
    doubled = sorted(i for i, n in ids.items() if n > 1)
    if doubled:
        problems.append(f"raw_events: {len(doubled)} ids more than once, e.g. {doubled[:3]}")
    parquet_ids = Counter(map(key, parquet_raw_events))
    if parquet_ids != ids:
        problems.append(
            f"Parquet raw_events differ from ClickHouse: {sorted((parquet_ids - ids).elements())[:3]} extra, "
            f"{sorted((ids - parquet_ids).elements())[:3]} missing"
        )
    return problems


def lost_and_doubled(
    got: dict[str, list[dict[str, Any]]], want: dict[str, list[dict[str, Any]]]
) -> tuple[int, int]:
    """(rows of ``want`` missing from ``got``, rows of ``got`` beyond ``want``) over every table
    or file, as multisets: a row written twice counts once as doubled."""
    lost = doubled = 0
    for name in set(got) | set(want):
        g, w = Counter(map(row_key, got.get(name, []))), Counter(map(row_key, want.get(name, [])))
        lost += sum((w - g).values())
        doubled += sum((g - w).values())
    return lost, doubled
