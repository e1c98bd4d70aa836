"""An hours-late record read right after a restore: the scenario of
tests/minicluster/test_late_after_restore.py.

chDB allows one process per database directory, and in local mode the job's Python writer runs
inside this (the driver) process, so both jobs run in this process and share its one client;
the test process only reads the JSON result.

    python tests/restore_late_run.py VAR_DIR RESULT_JSON   (settings from NETPULSE_* env: a
    streaming run, NETPULSE_MONITOR_INTERVAL_S > 0)

Steps: start ``naap_ingest`` on the watched directory; publish the real events (part A, in
envelope-time order) and wait until the written rows stop changing (the windows then hold a
watermark); stop with a savepoint (no drain). Restore a new job from it and publish part B: an
event stamped 3 hours before the last event of part A (LATE_ID), one a second after it
(ON_TIME_ID) and one 10 minutes after it (TICK_ID: moves the watermark past the on-time
event's batch). Wait for the late event's dead letter and the on-time event's row, then cancel.

Before the late marker (java/netpulse/operators/LateMarker.java) the restored job's source had
no watermark yet, so LATE_ID passed the late check as on time and the restored deduplication
window dropped it: no row, no dead letter.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from jobs import runtime, settings
from jobs.connectors import clickhouse
from jobs.naap import sample
from jobs.ops import migrate

PIPELINE = "naap_ingest"
LATE_ID = "restore-late-0001"
ON_TIME_ID = "restore-on-time-0001"
TICK_ID = "restore-tick-0001"
HOURS_LATE_MS = 3 * 3600 * 1000


def query(client: Any, sql: str) -> list[tuple]:
    with clickhouse.lock():
        return client.query(sql).result_rows


def count(client: Any) -> int:
    return query(client, "SELECT count() FROM naap.raw_events")[0][0]


def wait_until_still(client: Any, quiet_s: float = 4.0, timeout_s: float = 120.0) -> int:
    """Block until raw_events has rows and their count has not changed for ``quiet_s``."""
    started, last, since = time.monotonic(), -1, time.monotonic()
    while time.monotonic() - started < timeout_s:
        now = count(client)
        if now != last:
            last, since = now, time.monotonic()
        elif now > 0 and time.monotonic() - since >= quiet_s:
            return now
        time.sleep(0.3)
    raise TimeoutError(f"raw_events still changing or empty ({last} rows) after {timeout_s} s")


def part_b(last_line: str) -> list[str]:
    """Three copies of the last event of part A with new ids and times (see the docstring)."""
    last_ms = sample.envelope_ms(last_line)
    lines = []
    for event_id, delta_ms in ((LATE_ID, -HOURS_LATE_MS), (ON_TIME_ID, 1000), (TICK_ID, 600_000)):
        event = json.loads(last_line) | {"id": event_id, "timestamp": str(last_ms + delta_ms)}
        lines.append(json.dumps(event, separators=(",", ":")))
    return lines


def start(config: settings.Settings, restore_from: str | None = None, pipeline: str = PIPELINE) -> Any:
    """Build and submit ``pipeline`` (detached), restoring ``restore_from`` when given."""
    from pyflink.common import Configuration

    env, t_env = runtime.create_environment(config, pipeline)
    if restore_from:
        recovery = Configuration()
        recovery.set_string("execution.state-recovery.path", restore_from)
        env.configure(recovery)
    runtime.build(env, t_env, config, pipeline)
    return env.execute_async(pipeline)


def stop_with_savepoint(job: Any, directory: Path) -> str:
    """Stop without draining (no end-of-time watermark); PyFlink's wrapper misses the format argument."""
    from pyflink.java_gateway import get_gateway

    canonical = get_gateway().jvm.org.apache.flink.core.execution.SavepointFormatType.CANONICAL
    return str(job._j_job_client.stopWithSavepoint(False, directory.resolve().as_uri(), canonical).get())


def main() -> int:
    var_dir, result_path = Path(sys.argv[1]), Path(sys.argv[2])
    config = settings.load()
    assert config.var_dir == var_dir.resolve() and config.monitor_interval_s > 0, config
    started = time.monotonic()
    result: dict[str, Any] = {"timings": {}}
    client = clickhouse.connect(config)
    migrate.migrate(config)
    config.input_path.mkdir(parents=True, exist_ok=True)
    lines = sorted(sample.fixture_lines(), key=sample.envelope_ms)

    job = start(config)
    sample.publish(lines, config.input_path, "part-a.jsonl")
    result["rows_before_savepoint"] = wait_until_still(client)
    savepoint = stop_with_savepoint(job, var_dir / "savepoints")
    result["savepoint"] = savepoint
    result["timings"]["savepoint"] = time.monotonic() - started

    job = start(config, restore_from=savepoint)
    result["timings"]["restored"] = time.monotonic() - started
    sample.publish(part_b(lines[-1]), config.input_path, "part-b.jsonl", ordered=False)
    ids = f"('{LATE_ID}', '{ON_TIME_ID}', '{TICK_ID}')"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            letters = query(client, f"SELECT event_id FROM naap.dead_letter WHERE event_id IN {ids}")
            written = query(client, f"SELECT event_id FROM naap.raw_events WHERE event_id IN {ids}")
            if letters and written:
                break
            time.sleep(0.5)
        time.sleep(2)  # a second row for one of the ids would show up now
        result["timings"]["waited"] = time.monotonic() - started
        result["dead_letter"] = query(
            client, f"SELECT event_id, stage, reason, detail FROM naap.dead_letter FINAL WHERE event_id IN {ids}"
        )
        result["raw_events"] = [r[0] for r in query(
            client, f"SELECT event_id FROM naap.raw_events WHERE event_id IN {ids} ORDER BY event_id")]
        result["rows_after"] = count(client)
    finally:
        job.cancel().result()
    result["seconds"] = time.monotonic() - started
    result_path.write_text(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
