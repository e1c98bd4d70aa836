"""jobs/connectors/staging.py: the bulk load of a bounded run's staged rows (no JVM, no database).

The writers are replaced by recorders: what is checked is which batches, rows and tokens the
load would send, and that they depend on the staged content only, not on how Flink happened to
split it into files or order the lines.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from jobs.connectors import staging
from jobs.connectors.sinks import batch_token
from jobs.settings import Settings


class Recorder:
    """Stands in for BatchSink and ClickHouseWriter: records every write."""

    calls: list[tuple[str, str, list[str]]] = []

    def __init__(self, settings: Any) -> None:
        self.settings = settings

    def write(self, target: str, batch: str, lines: list[str], presorted: bool = False) -> int:
        assert not presorted or lines == sorted(lines)
        Recorder.calls.append((target, batch, list(lines)))
        return len(lines)

    def insert(self, target: str, lines: list[str], token: Any) -> None:
        Recorder.calls.append((target, "-", list(lines)))

    def describe(self) -> str:
        return "recorded"


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> type[Recorder]:
    Recorder.calls = []
    monkeypatch.setattr(staging, "BatchSink", Recorder)
    monkeypatch.setattr(staging, "ClickHouseWriter", Recorder)
    return Recorder


def _announcement(seen: str, runner: str) -> str:
    row = {
        "orchestrator_address": "0xabc", "gpu_id": "GPU-1", "pipeline": "p", "model_id": "m",
        "gpu_name": "RTX", "gpu_memory_total": 1, "gpu_memory_free": 1, "gpu_major_version": 8,
        "gpu_minor_version": 9, "runner_version": runner, "orchestrator_version": "0.8",
        "supported_pipelines": ["p"], "supported_models": ["m"], "capacity": 1, "capacity_in_use": 0,
        "price_per_pixel": 1.0, "local_address": "", "orchestrator_url": "https://o", "region": "",
        "valid_from": seen, "valid_to": None, "is_current": True, "last_seen": seen, "gateway": "g",
        "source_event_id": seen,
    }
    return f"0xabc|GPU-1|p|m\t0\t{json.dumps(row)}"


def _staged_lines() -> list[str]:
    lines = []
    for i in range(250):
        hour = "20260101-000000-1h" if i % 3 else "20260101-010000-1h"
        lines.append(f"naap.raw_events\t{hour}\t" + json.dumps({"event_id": f"e{i:03d}", "raw_data": "x\ty"}))
    lines += [f"naap.dead_letter\tsource-rejects\t{json.dumps({'reject_key': k})}" for k in "abc"]
    seen = [f"2026-01-01 00:00:0{s}.000" for s in range(4)]
    runners = ["1", "1", "2", "2"]
    lines += [f"scd\tall\t{_announcement(s, r)}" for s, r in zip(seen, runners, strict=True)]
    return lines


def _stage(root: Path, lines: list[str], files: int) -> Path:
    """Write ``lines`` as Flink would: spread over part files, plus an in-progress hidden file."""
    rows = root / "rows"
    rows.mkdir(parents=True)
    for index in range(files):
        (rows / f"part-{index}").write_text("".join(line + "\n" for line in lines[index::files]))
    (rows / ".part-9.inprogress").write_text("naap.raw_events\tx\t{\"never\": 1}\n")
    return root


def test_batches_and_rows_depend_on_the_content_only(tmp_path: Path, recorder: type[Recorder]) -> None:
    lines = _staged_lines()
    settings = Settings(var_dir=tmp_path)
    staging.load(settings, _stage(tmp_path / "a", lines, files=1))
    first = recorder.calls
    recorder.calls = []
    shuffled = list(lines)
    random.Random(7).shuffle(shuffled)
    staging.load(settings, _stage(tmp_path / "b", shuffled, files=3))
    # batches load on several threads: the set of writes is fixed, not their order
    assert sorted(recorder.calls) == sorted(first)
    batches = {(target, batch): rows for target, batch, rows in first}
    # every raw row in its hour, sorted; the hidden in-progress file is not read
    assert len(batches[("naap.raw_events", "20260101-000000-1h")]) == 166
    assert len(batches[("naap.raw_events", "20260101-010000-1h")]) == 84
    assert all(rows == sorted(rows) for rows in batches.values())
    assert json.loads(batches[("naap.raw_events", "20260101-000000-1h")][0])["raw_data"] == "x\ty"
    assert len(batches[("naap.dead_letter", "source-rejects")]) == 3
    # the staging directory is removed after the load
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_announcements_fold_into_scd2_versions_in_event_time_order(tmp_path: Path, recorder: type[Recorder]) -> None:
    lines = [line for line in _staged_lines() if line.startswith("scd")]
    staging.load(Settings(var_dir=tmp_path), _stage(tmp_path / "s", list(reversed(lines)), files=2))
    [(table, _, rows)] = recorder.calls
    versions = [json.loads(r) for r in rows]
    assert table == "naap.orchestrator_metadata"
    # version 1 opened, refreshed, closed when runner 2 appears; version 2 opened, refreshed
    final = {(v["valid_from"], v["last_seen"], v["is_current"]) for v in versions}
    assert ("2026-01-01 00:00:00.000", "2026-01-01 00:00:02.000", False) in final
    assert ("2026-01-01 00:00:02.000", "2026-01-01 00:00:03.000", True) in final


def test_a_large_batch_is_split_into_deterministic_chunks(
    tmp_path: Path, recorder: type[Recorder], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(staging, "CHUNK_ROWS", 100)
    lines = [line for line in _staged_lines() if line.startswith("naap.raw_events")]
    staging.load(Settings(var_dir=tmp_path), _stage(tmp_path / "c", lines, files=2))
    names = sorted(batch for target, batch, _ in recorder.calls if target == "naap.raw_events")
    assert names == ["20260101-000000-1h-000", "20260101-000000-1h-001", "20260101-010000-1h"]
    tokens = {batch_token("naap.raw_events", name, rows) for _, name, rows in recorder.calls}
    assert len(tokens) == 3
