"""Every input line accounted for: a bounded naap run over raw input files, and the check.

A line is accounted for when it is either accepted (its event is in raw_events: one row per
deduplication key and window, the job's own rule for repeated deliveries) or rejected with
exactly one dead-letter row carrying its reason and payload. The expected outcome of each line
comes from the Python reference of the rules (tests/reliability/reference.py): the check is
exact per line, not a count of totals, and identical bad lines must give as many rows.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import reference

from jobs import settings as settings_module

ROOT = Path(__file__).resolve().parents[2]
TYPED_TABLES = {"ai_stream_status": "ai_stream_status", "stream_ingest_metrics": "stream_ingest_metrics",
                "stream_trace": "stream_trace_events"}
SOURCE_JOB = "naap"  # source rejects carry the pipeline's name; parse rejects the job's


def write_inputs(directory: Path, files: dict[str, list[bytes]]) -> None:
    """One file per name, the raw lines joined by newlines (bytes as they are)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, lines in files.items():
        (directory / name).write_bytes(b"\n".join(lines) + b"\n")


def source_lines(directory: Path) -> list[tuple[str, str]]:
    """(file name, line) as the job's source reads them: split on newlines, decoded as UTF-8
    with U+FFFD for what is not UTF-8."""
    out = []
    for path in sorted(directory.iterdir()):
        data = path.read_bytes()
        parts = data.split(b"\n")
        if parts and parts[-1] == b"":
            parts.pop()
        out.extend((path.name, part.decode("utf-8", errors="replace")) for part in parts)
    return out


def run_pipeline(var_dir: Path, input_dir: Path, env: dict[str, str], timeout: float = 1800) -> tuple[dict[str, Any], float, int]:
    """Run tests/pipeline_run.py over ``input_dir`` (BATCH); (tables, seconds, exit code)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("NETPULSE_")}
    full_env.update({"NETPULSE_VAR_DIR": str(var_dir), "PYTHONPATH": str(ROOT)}, **env)
    log = var_dir / "run.log"
    started = time.monotonic()
    with log.open("w") as out:
        code = subprocess.run(
            [sys.executable, str(ROOT / "tests" / "pipeline_run.py"), str(var_dir), str(input_dir), "naap"],
            stdout=out, stderr=subprocess.STDOUT, env=full_env, cwd=ROOT, timeout=timeout, check=False,
        ).returncode
    seconds = time.monotonic() - started
    tables = json.loads((var_dir / "tables.json").read_text()) if code == 0 else {}
    return tables, seconds, code


_REPLACEMENTS = re.compile("\ufffd+")


def _reject(stage: str, reason: str, payload: str, length: int) -> tuple[str, str, str, int | None]:
    """A dead letter's identity for the comparison. Java and Python agree on where bytes are
    not UTF-8 but not always on how many U+FFFD replace them (a surrogate's three bytes: one
    or three), so runs of U+FFFD compare as one and such a line's length is not compared."""
    if "\ufffd" in payload:
        return stage, reason, _REPLACEMENTS.sub("\ufffd", payload), None
    return stage, reason, payload, length


@dataclass
class Accounting:
    lines: int = 0
    accepted_lines: int = 0
    rejected_lines: int = 0
    events: int = 0
    by_reason: Counter = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    def figures(self) -> dict[str, Any]:
        return {"lines": self.lines, "accepted_lines": self.accepted_lines, "events": self.events,
                "dead_letters": self.rejected_lines, "problems": len(self.problems)}


def account(lines: list[tuple[str, str]], tables: dict[str, Any], config: settings_module.Settings,
            future_limit_ms: int) -> Accounting:
    """Compare a run's tables with the outcome the rules give every line (see module doc)."""
    result = Accounting(lines=len(lines))
    cap = config.dlq_payload_cap_chars
    window_ms = config.dedup_window_s * 1000
    want_rejects: Counter = Counter()
    kept: dict[tuple[int, str], tuple[int, str, str, dict[str, Any]]] = {}
    for name, line in lines:
        stage, reason, row = reference.outcome(line, config.max_event_bytes, future_limit_ms)
        result.by_reason[reason] += 1
        if stage is not None:
            result.rejected_lines += 1
            want_rejects[_reject(stage, reason, line[:cap], len(line))] += 1
            continue
        result.accepted_lines += 1
        key = row["event_id"] or hashlib.sha256(line.encode()).hexdigest()
        ms = row["envelope_ms"]
        slot = (ms // window_ms, key)
        candidate = (ms, name, line, row)
        # BATCH keeps the first delivery by (time, position, line): the same choice here.
        if slot not in kept or candidate[:3] < kept[slot][:3]:
            kept[slot] = candidate
    result.events = len(kept)

    dead = tables["dead_letter"]
    got_rejects = Counter(
        _reject(r["stage"], r["reason"], r["payload"], r["payload_length"])
        for r in dead if r["job"] == SOURCE_JOB
    )
    if got_rejects != want_rejects:
        missing = want_rejects - got_rejects
        extra = got_rejects - want_rejects
        result.problems.append(
            f"source rejects: {sum(got_rejects.values())} rows vs {sum(want_rejects.values())} lines; "
            f"missing {[(s, r, p[:80], n) for s, r, p, n in list(missing)[:5]]}; "
            f"extra {[(s, r, p[:80], n) for s, r, p, n in list(extra)[:5]]}"
        )
    keys = {r["reject_key"] for r in dead}
    if len(keys) != len(dead):
        result.problems.append(f"dead_letter: {len(dead) - len(keys)} rows share a reject_key")

    raw = Counter(r["dedup_key"] for r in tables["raw_events"])
    want_raw = Counter(key for _, key in kept)
    if raw != want_raw:
        result.problems.append(
            f"raw_events: {sum(raw.values())} rows vs {len(kept)} events; missing {list(want_raw - raw)[:5]}; "
            f"extra {list(raw - want_raw)[:5]}"
        )
    parse_want: Counter = Counter()
    typed_want: Counter = Counter()
    for _, _, _, row in kept.values():
        if row["event_type"] in TYPED_TABLES:
            if row["parse_reason"]:
                parse_want[(row["event_id"], row["parse_reason"])] += 1
            else:
                typed_want[TYPED_TABLES[row["event_type"]]] += 1
    parse_got = Counter(
        (r["event_id"], r["reason"]) for r in dead if r["job"] == "naap_ingest" and r["stage"] == "parse"
        and r["reason"] in reference.PARSE_REASONS
    )
    if parse_got != parse_want:
        result.problems.append(f"parse rejects: missing {list(parse_want - parse_got)[:5]}; extra {list(parse_got - parse_want)[:5]}")
    for table, count in sorted(typed_want.items()):
        if len(tables[table]) != count:
            result.problems.append(f"{table}: {len(tables[table])} rows vs {count} well-formed events")
    return result


def per_class(lines_by_class: dict[str, list[str]], config: settings_module.Settings, future_limit_ms: int) -> dict[str, Counter]:
    """Reason counts per class (None: accepted)."""
    out: dict[str, Counter] = defaultdict(Counter)
    for name, lines in lines_by_class.items():
        for line in lines:
            stage, reason, row = reference.outcome(line, config.max_event_bytes, future_limit_ms)
            if stage is None and row["event_type"] in TYPED_TABLES and row["parse_reason"]:
                reason = row["parse_reason"]
            out[name][reason] += 1
    return dict(out)
