"""A stream silent for longer than the state TTL: the scenario of tests/minicluster/test_state_ttl.py.

chDB allows one process per database directory, and in local mode the job's Python writer runs
inside this (the driver) process, so both jobs run in this process; the test process only
reads the JSON result.

    python tests/state_ttl_run.py VAR_DIR RESULT_JSON   (settings from NETPULSE_* env: a
    streaming run, NETPULSE_MONITOR_INTERVAL_S > 0)

Every event is a copy of a real ``ai_stream_status`` event of the fixtures with its id, times,
stream and fps changed. Stream S lives in one 5-minute window, a sample every 10 s:

* part A, job 1 **without** a state TTL: S at +0 s fps 0 (warm-up), +10 s fps 10;
  stop with a savepoint;
* job 2 restored from it **with** a TTL of ``TTL_S`` seconds (the same statements):
  part B1, S at +20 s fps 0: the restored first positive time says "not warm-up";
  then S is silent for ``SILENT_S`` (more than 1.5 x the TTL: Flink's cleanup timers);
* part B2: S at +30 s fps 0 (S's state is gone: warm-up again) and +40 s fps 12, and a tick
  10 minutes later that closes the window.

The window's ``warmup_sample_count`` / ``sample_count`` tell the cases apart: 2 / 3 when the
savepoint restored S's state and the TTL dropped it; 1 / 4 without expiry; 3 / 2 if the
restore had lost the state. A tick stream T moves the watermark past each part.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from restore_late_run import query, start, stop_with_savepoint

from jobs import settings
from jobs.connectors import clickhouse
from jobs.naap import sample
from jobs.ops import migrate
from tests.waiting import wait_until

PIPELINE = "naap"
TTL_S = 2
SILENT_S = 8
STREAM = "ttl-silent-stream"
TICK_STREAM = "ttl-tick-stream"
# A 5-minute window boundary (2026-01-09 00:00 UTC) plus one minute.
T0_MS = 1_767_916_800_000 + 60_000


def template() -> dict[str, Any]:
    """The first real ai_stream_status event of the fixtures."""
    line = next(line for line in sample.fixture_lines() if '"type":"ai_stream_status"' in line)
    return json.loads(line)


def status(base: dict[str, Any], stream: str, offset_s: float, fps: float) -> str:
    """``base`` as a sample of ``stream`` at T0 + ``offset_s`` with output fps ``fps``."""
    ms = T0_MS + int(offset_s * 1000)
    event = json.loads(json.dumps(base))
    event["id"] = f"{stream}-{int(offset_s * 1000)}"
    event["timestamp"] = str(ms)
    data = event["data"]
    data.update(stream_id=stream, request_id=f"{stream}-request", timestamp=ms, start_time=T0_MS)
    data["inference_status"]["fps"] = fps
    return json.dumps(event, separators=(",", ":"))


def wait_for(client: Any, event_ids: list[str], timeout_s: float = 120.0) -> None:
    """Block until raw_events holds every one of ``event_ids`` (their batch was written)."""
    ids = ", ".join(f"'{i}'" for i in event_ids)
    sql = f"SELECT count() FROM naap.raw_events WHERE event_id IN ({ids})"
    wait_until(lambda: query(client, sql)[0][0] == len(event_ids), timeout_s, f"raw_events holding {event_ids}", 0.3)


def window_rows(client: Any, timeout_s: float = 120.0) -> list[tuple]:
    """S's ``status_sample_count`` rows (value, metadata), once its window is written."""
    sql = ("SELECT metric_value, metric_metadata FROM naap.calculated_metrics "
           f"WHERE stream_id = '{STREAM}' AND metric_name = 'status_sample_count'")
    wait_until(lambda: query(client, sql), timeout_s, f"a window row of {STREAM}")
    time.sleep(2)  # a second row would show up now
    return query(client, sql)


def main() -> int:
    var_dir, result_path = Path(sys.argv[1]), Path(sys.argv[2])
    loaded = settings.load()
    assert loaded.var_dir == var_dir.resolve() and loaded.monitor_interval_s > 0, loaded
    # Below the 60 s floor NETPULSE_STATE_TTL_S accepts: the test's stream is silent for seconds.
    without_ttl, with_ttl = loaded.replace(state_ttl_s=0), loaded.replace(state_ttl_s=TTL_S)
    started = time.monotonic()
    result: dict[str, Any] = {"timings": {}}
    client = clickhouse.connect(loaded)
    migrate.migrate(loaded)
    loaded.input_path.mkdir(parents=True, exist_ok=True)  # the file source needs it at start
    base = template()

    job = start(without_ttl, pipeline=PIPELINE)
    part_a = [status(base, STREAM, 0, 0.0), status(base, STREAM, 10, 10.0), status(base, TICK_STREAM, 17, 15.0)]
    sample.publish(part_a, loaded.input_path, "part-a.jsonl")
    wait_for(client, [f"{STREAM}-0", f"{STREAM}-10000"])
    result["savepoint"] = stop_with_savepoint(job, var_dir / "savepoints")
    result["timings"]["savepoint"] = round(time.monotonic() - started, 1)

    job = start(with_ttl, restore_from=result["savepoint"], pipeline=PIPELINE)
    try:
        sample.publish([status(base, STREAM, 20, 0.0), status(base, TICK_STREAM, 27, 15.0)],
                       loaded.input_path, "part-b1.jsonl")
        wait_for(client, [f"{STREAM}-20000"])
        result["timings"]["b1_written"] = round(time.monotonic() - started, 1)
        time.sleep(SILENT_S)
        sample.publish([status(base, STREAM, 30, 0.0), status(base, STREAM, 40, 12.0),
                        status(base, TICK_STREAM, 600, 15.0)], loaded.input_path, "part-b2.jsonl")
        result["window"] = [(value, json.loads(meta)) for value, meta in window_rows(client)]
    finally:
        job.cancel().result()
    result["seconds"] = round(time.monotonic() - started, 1)
    result_path.write_text(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
