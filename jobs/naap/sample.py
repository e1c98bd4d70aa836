"""The bundled real sample events, and publishing lines into an input directory.

A bounded run reads the fixture files as they are (BATCH mode: the order in which files are
read does not matter). ``publish`` writes one file atomically, optionally in envelope-time
order, which is what a STREAMING run over a watched directory wants (as a topic delivers it).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from jobs.settings import PROJECT_ROOT

FIXTURES = PROJECT_ROOT / "tests" / "fixtures" / "livepeer"


def capture_lines(root: Path = FIXTURES) -> list[str]:
    """The envelopes of the real capture files (``events/*.jsonl``: what the demo reads)."""
    return [
        line
        for path in sorted((root / "events").glob("*.jsonl"))
        for line in path.read_text().splitlines()
        if line.strip()
    ]


def fixture_lines(root: Path = FIXTURES) -> list[str]:
    """Every real envelope of the fixtures, one compact JSON line each (files in name order)."""
    lines: list[str] = []
    for path in sorted((root / "events").glob("*.jsonl")):
        lines.extend(line.rstrip("\n") for line in path.read_text().splitlines() if line.strip())
    for path in sorted((root / "samples").glob("*.json")):
        lines.append(json.dumps(json.loads(path.read_text()), separators=(",", ":")))
    return lines


def envelope_ms(line: str) -> int:
    """Envelope time of a line for ordering (lines without one sort first)."""
    try:
        return int(json.loads(line).get("timestamp"))
    except (ValueError, TypeError, AttributeError):
        return 0


def publish(lines: list[str], directory: Path, name: str = "sample-events.jsonl", ordered: bool = True) -> Path:
    """Write ``lines`` (sorted by envelope time when ``ordered``) as one file, atomically."""
    directory.mkdir(parents=True, exist_ok=True)
    lines = sorted(lines, key=envelope_ms) if ordered else lines
    tmp = directory / f".{name}"
    tmp.write_text("\n".join(lines) + "\n")
    target = directory / name
    os.replace(tmp, target)
    return target
