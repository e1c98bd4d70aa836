"""A live schema change (ai_stream_status.session_key, migrations naap/0014-0016) while the
streaming ingest job keeps writing: the scenario of tests/minicluster/test_schema_evolution.py.

chDB allows one process per database directory, and in local mode the job's Python writer runs
inside this (the driver) process, so the job and the migrations share this process and its one
client; the test process only reads the JSON result.

    python tests/evolution_run.py VAR_DIR RESULT_JSON   (settings from NETPULSE_* env: a
    streaming run, NETPULSE_MONITOR_INTERVAL_S > 0)

Steps: migrate through 0013 (the schema before the change); start the job (naap_ingest, see
PIPELINE); publish part A of the real events (the column does not exist: the job's session_key
value is skipped); phase 1 (0014, add the Nullable column) while the job runs; part B (new rows
carry the key); phase 2 (0015, backfill); part C; phase 3 (0016, enforce); part D; cancel.
After each step the table's rows and the ledger are recorded.

Parts are the real events sorted by envelope time and split at a day change; each part ends
with the first event of the next day (the "tick"), so the watermark passes every
ai_stream_status event of the part and its batches are written before the next step.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from jobs import runtime, settings
from jobs.connectors import clickhouse
from jobs.naap import sample
from jobs.ops import migrate

STATUS = "ai_stream_status"
# the job that writes ai_stream_status (the naap pipeline runs it together with naap_metrics,
# which this change does not touch and which only adds start-up time here)
PIPELINE = "naap_ingest"
BEFORE = "naap/0013_calculated_metrics_enriched.sql"
PHASES = (
    "naap/0014_ai_stream_status_add_session_key.sql",
    "naap/0015_ai_stream_status_backfill_session_key.sql",
    "naap/0016_ai_stream_status_enforce_session_key.sql",
)


class Captured(logging.Handler):
    """Keeps the writer's warnings (the skipped-keys notice)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def parts(lines: list[str]) -> list[list[str]]:
    """The events in envelope-time order, cut after the first event of selected new days."""
    lines = sorted(lines, key=sample.envelope_ms)
    day = [dt.datetime.fromtimestamp(sample.envelope_ms(line) / 1000, dt.UTC).date() for line in lines]
    # A: 2026-01-08; B: 2026-02-02 + 02-22; C: 2026-02-24; D: 2026-02-25 (+ the tick of each next part)
    cuts = [i + 1 for i in range(1, len(lines)) if day[i] != day[i - 1] and str(day[i]) in
            ("2026-02-02", "2026-02-24", "2026-02-25")]
    bounds = [0, *cuts, len(lines)]
    return [lines[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


def status_ids(lines: list[str]) -> list[str]:
    return [json.loads(line)["id"] for line in lines if json.loads(line)["type"] == STATUS]


def query(client: Any, sql: str) -> list[tuple]:
    with clickhouse.lock():
        return client.query(sql).result_rows


def snapshot(client: Any, step: str) -> dict[str, Any]:
    """ai_stream_status rows (event_id, session_key, expected key), the column type, the ledger."""
    column = query(client, "SELECT type FROM system.columns WHERE database = 'naap' "
                           f"AND table = '{STATUS}' AND name = 'session_key'")
    key = "session_key" if column else "CAST(NULL AS Nullable(String))"
    rows = query(client, f"SELECT event_id, {key}, concat(stream_id, '|', request_id) FROM naap.{STATUS}")
    ledger = query(client, f"SELECT name, checksum, toString(applied_at) FROM {migrate.LEDGER} ORDER BY applied_at, name")
    return {
        "step": step,
        "at": time.monotonic(),
        "session_key_type": column[0][0] if column else None,
        "rows": [list(r) for r in rows],
        "ledger": [list(r) for r in ledger],
    }


def wait_for_rows(client: Any, expected: int, timeout_s: float = 30.0) -> float:
    """Block until the job has written ``expected`` ai_stream_status rows; return the wait."""
    started = time.monotonic()
    count = -1
    while time.monotonic() - started < timeout_s:
        (count,), = query(client, f"SELECT count() FROM naap.{STATUS}")
        if count >= expected:
            return time.monotonic() - started
        time.sleep(0.2)
    raise TimeoutError(f"{count} of {expected} {STATUS} rows after {timeout_s} s")


def main() -> int:
    var_dir, result_path = Path(sys.argv[1]), Path(sys.argv[2])
    config = settings.load()
    assert config.var_dir == var_dir.resolve() and config.monitor_interval_s > 0, config
    captured = Captured()
    logging.getLogger("netpulse.sinks").addHandler(captured)
    started = time.monotonic()
    result: dict[str, Any] = {"steps": [], "applied": {}}
    client = clickhouse.connect(config)

    result["applied"]["before"] = migrate.migrate(config, until=BEFORE)
    chunks = parts(sample.fixture_lines())
    result["parts"] = [len(c) for c in chunks]
    result["input_status_ids"] = status_ids([line for c in chunks for line in c])
    result["input_ids"] = [json.loads(line)["id"] for c in chunks for line in c]
    result["last_event_ms"] = sample.envelope_ms(chunks[-1][-1])
    result["event_ms"] = {json.loads(line)["id"]: sample.envelope_ms(line) for c in chunks for line in c}

    config.input_path.mkdir(parents=True, exist_ok=True)  # a watched directory must exist
    result["timings"] = {"migrated": time.monotonic() - started}
    job = runtime.run(config, PIPELINE, wait=False)
    result["timings"]["submitted"] = time.monotonic() - started
    written = 0
    try:
        for index, (chunk, phase) in enumerate(zip(chunks, (*PHASES, None), strict=True)):
            name = f"part-{'ABCD'[index]}.jsonl"
            sample.publish(chunk, config.input_path, name)
            written += len(status_ids(chunk))
            waited = wait_for_rows(client, written)
            result["steps"].append(snapshot(client, f"after {name}") | {"waited_s": waited})
            if phase is not None:
                result["applied"][phase] = migrate.migrate(config, until=phase)
                result["steps"].append(snapshot(client, f"after {phase}"))
        time.sleep(1)  # a row written twice or late would show up now
        result["final"] = snapshot(client, "final")
        result["raw_event_ids"] = [r[0] for r in query(client, "SELECT event_id FROM naap.raw_events")]
        result["dead_letter"] = query(client, "SELECT stage, reason, event_id FROM naap.dead_letter FINAL")
    finally:
        result["timings"]["done"] = time.monotonic() - started
        job.cancel().result()
    result["timings"]["cancelled"] = time.monotonic() - started
    result["warnings"] = captured.messages
    result["seconds"] = time.monotonic() - started
    result_path.write_text(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
