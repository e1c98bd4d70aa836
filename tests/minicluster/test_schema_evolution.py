"""Schema evolution on a live database: ai_stream_status.session_key in the design's three phases.

The streaming job and the migrations run in one helper process (tests/evolution_run.py: chDB
allows one process per database directory, and the job's writer runs in the driver process);
this test asserts on the JSON it writes. Real events are published in four parts with the job
running; between parts, phase 1 (0014: add a Nullable column), phase 2 (0015: backfill) and
phase 3 (0016: enforce) are applied with ``migrate(settings, until=...)``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT

from jobs.connectors import clickhouse
from jobs.ops import migrate
from jobs.settings import Settings

PHASES = (
    "naap/0014_ai_stream_status_add_session_key.sql",
    "naap/0015_ai_stream_status_backfill_session_key.sql",
    "naap/0016_ai_stream_status_enforce_session_key.sql",
)


@pytest.fixture(scope="module")
def evolution(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    var = tmp_path_factory.mktemp("evolution")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NETPULSE_")}
    env.update({
        "NETPULSE_VAR_DIR": str(var),
        "NETPULSE_MONITOR_INTERVAL_S": "1",   # streaming: the job watches the input directory
        "NETPULSE_ALLOWED_LATENESS_S": "1",   # a part's batches are written once the next
        "NETPULSE_BATCH_INTERVAL_S": "1",     # part's first event moved the watermark
        "PYTHONPATH": str(ROOT),
    })
    result = var / "result.json"
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "evolution_run.py"), str(var), str(result)],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    data = json.loads(result.read_text())
    data["by_step"] = {s["step"]: s for s in data["steps"]}
    return data


def _keys(step: dict[str, Any]) -> dict[str, str | None]:
    return {event_id: key for event_id, key, _ in step["rows"]}


def _expected(step: dict[str, Any]) -> dict[str, str]:
    return {event_id: expected for event_id, _, expected in step["rows"]}


@pytest.mark.slow
def test_rows_written_before_phase_1_have_no_session_key(evolution: dict[str, Any]) -> None:
    before = evolution["by_step"]["after part-A.jsonl"]
    assert before["session_key_type"] is None
    assert len(before["rows"]) == 17  # every ai_stream_status event of part A (2026-01-08)
    # the job already sends the key: the writer skipped it and said so, once
    notices = [m for m in evolution["warnings"] if "ai_stream_status" in m]
    assert len(notices) == 1 and "['session_key']" in notices[0], evolution["warnings"]


@pytest.mark.slow
def test_phase_1_adds_the_column_while_the_job_runs_and_new_rows_fill_it(evolution: dict[str, Any]) -> None:
    steps = evolution["by_step"]
    old = _keys(steps["after part-A.jsonl"])
    added = steps[f"after {PHASES[0]}"]
    assert added["session_key_type"] == "Nullable(String)"
    assert _keys(added) == {event_id: None for event_id in old}  # old rows: NULL = not known yet
    after = steps["after part-B.jsonl"]
    new = {k: v for k, v in _keys(after).items() if k not in old}
    assert len(new) == 10
    assert new == {k: v for k, v in _expected(after).items() if k in new}  # stream_id|request_id
    assert all(_keys(after)[k] is None for k in old)


@pytest.mark.slow
def test_phase_2_backfills_the_old_rows(evolution: dict[str, Any]) -> None:
    steps = evolution["by_step"]
    for name in (f"after {PHASES[1]}", "after part-C.jsonl"):
        step = steps[name]
        assert step["session_key_type"] == "Nullable(String)"
        assert _keys(step) == _expected(step), name
    assert _keys(steps[f"after {PHASES[1]}"])["f24a1391-be1c-400b-9d9c-4c823333dfcd"] == (
        "stream-o5s73x-mk5zc8fy|db936fab")  # a 2026-01-08 row, written before phase 1


@pytest.mark.slow
def test_phase_3_enforces_the_column(evolution: dict[str, Any]) -> None:
    for name in (f"after {PHASES[2]}", "after part-D.jsonl", "final"):
        step = evolution["final"] if name == "final" else evolution["by_step"][name]
        assert step["session_key_type"] == "String", name
        assert _keys(step) == _expected(step), name


@pytest.mark.slow
def test_no_row_is_lost_or_doubled(evolution: dict[str, Any]) -> None:
    final = evolution["final"]
    assert sorted(r[0] for r in final["rows"]) == sorted(evolution["input_status_ids"])
    assert len(final["rows"]) == 32  # every real ai_stream_status event
    raw = evolution["raw_event_ids"]
    assert len(raw) == len(set(raw)) and set(raw) <= set(evolution["input_ids"])
    # all but the newest events (the last batch waits for a later watermark)
    settled = {i for i, ms in evolution["event_ms"].items() if ms <= evolution["last_event_ms"] - 3000}
    assert settled <= set(raw) and len(settled) > 130
    assert not [r for r in evolution["dead_letter"] if r[0] != "parse"]  # nothing late or undecodable


@pytest.mark.slow
def test_the_ledger_records_each_step(evolution: dict[str, Any]) -> None:
    checksums = {m.name: m.checksum for m in migrate.discover()}
    assert evolution["applied"] == {
        "before": [n for n in checksums if n.startswith("naap/") and n < PHASES[0]],
        **{phase: [phase] for phase in PHASES},
    }
    sizes = [len(s["ledger"]) for s in evolution["steps"]]
    assert sizes == [13, 14, 14, 15, 15, 16, 16]
    final = evolution["final"]["ledger"]
    assert all(checksums[name] == checksum for name, checksum, _ in final)
    assert [name for name, _, _ in final][-3:] == list(PHASES)  # in order of application
    times = [at for name, _, at in final if name in PHASES]
    assert times == sorted(times)


def test_until_and_a_phase_3_precondition(migrated: Settings, tmp_path: Path) -> None:
    """Fast: ``until`` applies one phase at a time; phase 3 is refused while NULLs remain."""
    root = tmp_path / "sql"
    (root / "evotest").mkdir(parents=True)
    files = {
        "0001_database.sql": "CREATE DATABASE IF NOT EXISTS evotest",
        "0002_t.sql": "CREATE TABLE IF NOT EXISTS evotest.t (a String, b String) ENGINE = MergeTree ORDER BY a",
        "0003_t_add_k.sql": "ALTER TABLE evotest.t ADD COLUMN IF NOT EXISTS k Nullable(String)",
        "0004_t_backfill_k.sql": "ALTER TABLE evotest.t UPDATE k = concat(a, '|', b) WHERE k IS NULL",
        "0005_t_enforce_k.sql": "-- requires: SELECT count() = 0 FROM evotest.t WHERE k IS NULL\n"
                                "ALTER TABLE evotest.t MODIFY COLUMN k String DEFAULT ''",
    }
    for name, text in files.items():
        (root / "evotest" / name).write_text(text)
    client = clickhouse.connect(migrated)
    client.command("DROP DATABASE IF EXISTS evotest")
    ledger = f"DELETE FROM {migrate.LEDGER} WHERE name LIKE 'evotest/%'"
    client.command(ledger)
    try:
        with pytest.raises(migrate.MigrationError, match="must name exactly one migration file"):
            migrate.migrate(migrated, root=root, until="evotest/000")
        assert migrate.migrate(migrated, root=root, until="evotest/0003") == [
            "evotest/0001_database.sql", "evotest/0002_t.sql", "evotest/0003_t_add_k.sql"]
        assert migrate.migrate(migrated, root=root, until="evotest/0003_t_add_k") == []
        client.command("INSERT INTO evotest.t (a, b) VALUES ('x', '1')")  # written before the phase
        # phase 3 released before phase 2: refused, nothing recorded
        (root / "evotest" / "0004_t_backfill_k.sql").rename(tmp_path / "held-back.sql")
        with pytest.raises(migrate.MigrationError, match="evotest/0005_t_enforce_k.sql requires"):
            migrate.migrate(migrated, root=root)
        assert "evotest/0005_t_enforce_k.sql" not in migrate.applied(client)
        assert client.query("SELECT toTypeName(k) FROM evotest.t").result_rows == [("Nullable(String)",)]
        (tmp_path / "held-back.sql").rename(root / "evotest" / "0004_t_backfill_k.sql")
        assert migrate.migrate(migrated, root=root) == ["evotest/0004_t_backfill_k.sql", "evotest/0005_t_enforce_k.sql"]
        assert client.query("SELECT k, toTypeName(k) FROM evotest.t").result_rows == [("x|1", "String")]
    finally:
        client.command("DROP DATABASE IF EXISTS evotest")
        client.command(ledger)
