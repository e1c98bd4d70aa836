"""Pytest plugin of the reliability suite: one table of outcomes and figures at the end.

Loaded by scripts/reliability.sh (``-p table_report``). Tests attach their figures with
``record_property("figures", {...})``; the table lists every test with its outcome, duration
and figures, and ``RELIABILITY_RESULTS`` (a path) also receives them as JSON.
"""

from __future__ import annotations

import json
import os
from typing import Any

_ROWS: list[dict[str, Any]] = []
_SETUP: dict[str, float] = {}


def pytest_runtest_logreport(report: Any) -> None:
    # A module fixture's work (a whole pipeline run) is timed in the setup of its first test.
    if report.when == "setup":
        _SETUP[report.nodeid] = report.duration
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        figures = dict(report.user_properties).get("figures", {})
        _ROWS.append({"test": report.nodeid.split("::", 1)[-1], "file": report.nodeid.split("::", 1)[0].rsplit("/", 1)[-1],
                      "outcome": report.outcome,
                      "seconds": round(report.duration + (_SETUP.get(report.nodeid, 0.0) if report.when == "call" else 0.0), 1),
                      "figures": figures})


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _ROWS:
        return
    write = terminalreporter.write_line
    write("")
    write("reliability suite")
    header = f"{'test':<58} {'outcome':<8} {'s':>7}  figures"
    write(header)
    write("-" * len(header))
    for row in _ROWS:
        figures = ", ".join(f"{k}={v}" for k, v in row["figures"].items() if not isinstance(v, dict))
        write(f"{row['test'][:58]:<58} {row['outcome']:<8} {row['seconds']:>7}  {figures}")
    path = os.environ.get("RELIABILITY_RESULTS")
    if path:
        with open(path, "w") as out:
            json.dump(_ROWS, out, indent=2)
