"""Run a pipeline in a fresh process and export every NaaP table as JSON (test harness).

chDB allows one database directory per process, so each pipeline run of the tests happens in
its own process; the test process reads the exported rows and the Parquet files.

    python tests/pipeline_run.py VAR_DIR INPUT PIPELINE  (settings from NETPULSE_* env)

INPUT is a directory of JSON-lines files, read as it is (NETPULSE_INPUT_PATH), or one file,
published unchanged as the input directory's only file.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from jobs import runtime, settings
from jobs.connectors import clickhouse
from jobs.naap import sample
from jobs.ops import migrate

EXPORT_TABLES = {
    "raw_events": "",
    "ai_stream_status": "",
    "stream_ingest_metrics": "",
    "stream_trace_events": "",
    "orchestrator_metadata": " FINAL",
    "calculated_metrics": "",
    "dead_letter": " FINAL",
    "ai_stream_status_5min": "",
    "stream_ingest_metrics_hourly": "",
    "calculated_metrics_enriched": "",
}


def export(config: settings.Settings, out: Path) -> None:
    client = clickhouse.connect(config)
    tables = {}
    for table, final in EXPORT_TABLES.items():
        result = client.query(f"SELECT * EXCEPT (ingestion_timestamp) FROM naap.{table}{final}"
                              if table not in ("ai_stream_status_5min", "stream_ingest_metrics_hourly")
                              else f"SELECT * EXCEPT (output_fps_quantiles) FROM naap.{table} FINAL"
                              if table == "ai_stream_status_5min" else f"SELECT * FROM naap.{table} FINAL")
        rows = [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]
        tables[table] = sorted((json.loads(json.dumps(r, default=str)) for r in rows), key=lambda r: json.dumps(r, sort_keys=True))
    out.write_text(json.dumps(tables, sort_keys=True))


def main() -> int:
    var_dir, source, pipeline = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    config = settings.load()
    assert config.var_dir == var_dir.resolve(), (config.var_dir, var_dir)
    migrate.migrate(config)
    if source.is_dir():
        config = config.replace(input_path=source.resolve())
    else:
        sample.publish(source.read_text().splitlines(), config.input_path, "events.jsonl", ordered=False)
    started = time.monotonic()
    runtime.run(config, pipeline)
    elapsed = time.monotonic() - started
    export(config, var_dir / "tables.json")
    (var_dir / "run.json").write_text(json.dumps({"seconds": elapsed}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
