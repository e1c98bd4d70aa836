"""bench/floor.py: the stage table and the event count (the stages themselves are a benchmark)."""

from __future__ import annotations

import json
from pathlib import Path

from bench import floor


def test_table_shows_each_stage_increment_and_rate() -> None:
    rows = [
        {"stage": "start", "wall_s": 10.0, "cpu_s": 12.0, "peak_rss_mb": 700},
        {"stage": "read", "wall_s": 15.0, "cpu_s": 20.0, "peak_rss_mb": 1000},
    ]
    lines = floor.table(rows, 1_000_000).splitlines()
    assert lines[2] == "| start | 10.0 | +10.0 | 100,000 | 12 | +12 | 700 |"
    assert lines[3] == "| read | 15.0 | +5.0 | 66,667 | 20 | +8 | 1,000 |"


def test_events_in_reads_the_manifest_or_counts_lines(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text('{"x":1}\n{"x":2}\n')
    (tmp_path / "b.jsonl").write_text('{"x":3}\n')
    assert floor.events_in(str(tmp_path)) == 3
    (tmp_path / "manifest.json").write_text(json.dumps({"events": 42}))
    assert floor.events_in(str(tmp_path)) == 42


def test_every_stage_has_a_query_and_stages_grow() -> None:
    assert list(floor.QUERIES) == list(floor.STAGES)
    assert "gateway_source" in floor.QUERIES["read"]
    assert "gateway_lines" in floor.QUERIES["parse"] and "gateway_events" in floor.QUERIES["dedupe"]
