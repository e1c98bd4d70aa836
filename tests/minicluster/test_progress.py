"""Progress lines while a job runs (jobs/progress.py), on the runs of tests/conftest.py.

p1 prints them every second (NETPULSE_PROGRESS_INTERVAL_S=1), p3 has them off (0); both read
the same 177 lines, so the source's count is known exactly.
"""

from __future__ import annotations

import re

import pytest
from conftest import input_files

pytestmark = pytest.mark.slow

# p1 is a bounded run (BATCH): its rows are staged by Flink and loaded after the job, so its
# lines count rows staged, and one last line reports the load.
LINE = re.compile(r"^progress naap (\d+) s: ([\d,]+) events read \(([\d,]+)/s\), ([\d,]+) rows staged for the load$")
LOADED = re.compile(r"^progress naap: loaded ([\d,]+) rows into (\d+) tables and ([\d,]+) rejects in [\d.]+ s$")


def _progress(log: str) -> list[tuple[int, ...]]:
    out = []
    for line in log.splitlines():
        if line.startswith("progress ") and not LOADED.match(line):
            match = LINE.match(line)
            assert match, f"malformed progress line: {line!r}"
            out.append(tuple(int(g.replace(",", "")) for g in match.groups()))
    return out


def test_a_run_prints_events_read_as_it_goes(runs) -> None:  # type: ignore[no-untyped-def]
    runs["p1"].tables()  # wait for the run
    lines = _progress(runs["p1"].log.read_text())
    assert len(lines) >= 2, runs["p1"].log.read_text()[-3000:]
    # every line read from the files is an event read by the source; counts never go back
    assert max(e for _, e, *_ in lines) == sum(len(f) for f in input_files().values()) == 177
    for earlier, later in zip(lines, lines[1:], strict=False):
        assert all(later[i] >= earlier[i] for i in (0, 1, 3))
    [loaded] = [m.groups() for m in map(LOADED.match, runs["p1"].log.read_text().splitlines()) if m]
    rows, tables, rejects = (int(g.replace(",", "")) for g in loaded)
    assert rows > 177 and tables >= 6 and rejects > 0


def test_progress_lines_can_be_switched_off(runs) -> None:  # type: ignore[no-untyped-def]
    runs["p3"].tables()
    assert "progress " not in runs["p3"].log.read_text()
