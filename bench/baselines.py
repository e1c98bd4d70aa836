"""Two baselines doing the pipeline's work on the same files, for the benchmark ratios.

    python -m bench.baselines --impl python --input DIR --var DIR [--json FILE]
    python -m bench.baselines --impl sql    --input DIR --var DIR [--json FILE]
    python -m bench.baselines --counts --var DIR          # rows per table of any run's database

Both start from an empty ``--var`` directory, create the embedded ClickHouse database with the
project's migrator (``jobs.ops.migrate``, naap files only) and produce what ``python -m jobs run
naap`` produces (jobs/naap/: envelopes.py, ingest.py, metrics.py, catalog.py; jobs/connectors/parquet.py):

* naap.dead_letter: source rejects of the same classes (decode: payload_too_large,
  malformed_json; validate: not_an_object, missing_type, invalid_timestamp,
  timestamp_out_of_range, timestamp_in_future, missing_data, invalid_data, unknown_event_type; late: event time at or
  before the watermark = highest earlier event time - NETPULSE_ALLOWED_LATENESS_S), same
  payload cap and job names (the reject_key is each baseline's own hash: the baselines are
  independent reference computations of the pipeline's results, deliberately not calls into
  its code, so they do not share its dead-letter recipe, jobs/naap/envelopes.py dead_letter_row,
  nor its SCD2 key, udfs/scd.key_of; production and the tests use those alone);
* one row per distinct event (first delivery per NETPULSE_BATCH_INTERVAL_S event-time window and
  dedup_key = id, or sha256 of the line without an id) in naap.raw_events, and by type in
  naap.ai_stream_status, naap.stream_ingest_metrics, naap.stream_trace_events and
  naap.orchestrator_metadata (one row per snapshot x orchestrator x GPU); the materialized views
  fill the 5-minute and hourly tables as they do for the pipeline;
* naap.calculated_metrics with every metric of jobs/naap/catalog.py: the request latencies per
  request trace session and the attempt latencies per request x orchestrator (edges = minimum
  payload time per subtype; sessions split where the edges' 5 s batch times are
  NETPULSE_TRACE_SESSION_GAP_S apart), trace_latency_rejects,
  and per stream and 5-minute window jitter_coefficient, output_fps_mean and
  status_sample_count (warm-up samples excluded);
* the same rows as Parquet under ``<var>/parquet/calculated_metrics/metric_date=.../
  metric_category=.../``.

(a) ``python``: a careful single-process Python program: ``json.loads`` per line, rows kept as
tuples and turned into Arrow tables of >= 100k rows inserted with ``client.insert_arrow`` on
one writer thread (overlapping the next batch's parsing; at most one batch per table waits),
metrics in dictionaries, Parquet with pyarrow. The capabilities fan-out reuses the pipeline's
pure parser (udfs/capabilities.explode).

(b) ``sql``: ClickHouse SQL in batch inside the same embedded engine: the lines are read with
``file(..., 'LineAsString')`` (``JSONAsString`` aborts the whole query on the first malformed
line, and malformed lines must reach the dead-letter table), the envelope is parsed once with
``JSONExtract(line, 'Tuple(...)')``, late and duplicate lines are found with window functions,
(``data`` is re-validated only when it was sent as a JSON-encoded string), the typed tables
are filled by ``INSERT ... SELECT`` with ``JSONExtract`` of typed tuples, the
metrics by ``GROUP BY`` and the Parquet files by ``INSERT INTO FUNCTION file(..., 'Parquet')``.
Intermediate results live in Memory tables (a batch engine's advantage: it sees all input at
once, so peak memory grows with the input).

Known differences from the pipeline, all immaterial for the generated data: the SQL baseline
checks only missing_stream_id / missing_stats / missing_trace_type among the parse rejects
(not wrongly typed numbers); the watermark is exact per line (Flink's advances every 200 ms);
files are read in name order (the generator's files are in time order).

Each run prints events/s, wall time, peak RSS and rows per table; ``--json`` writes them.

Modules: this one runs a baseline and reports; bench/baseline_common.py (event classes, table
layouts, database, row helpers), bench/baseline_python.py with baseline_python_rows.py and
baseline_python_metrics.py (a), bench/baseline_sql.py with baseline_sql_ingest.py (b).
"""


import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from bench.baseline_common import (
    cpu_s,
    fresh_database,
    input_files,
    parquet_rows,
    peak_rss_mb,
    row_counts,
)
from bench.baseline_python import run_python
from bench.baseline_sql import run_sql
from jobs import settings as settings_module
from jobs.connectors import clickhouse


# ---------------------------------------------------------------------------------------------------
def run(impl: str, input_dir: Path, var_dir: Path) -> dict[str, Any]:
    """Run one baseline on ``input_dir`` into a fresh ``var_dir``; returns the figures."""
    files = input_files(input_dir)
    wall_started = time.perf_counter()
    settings, client = fresh_database(var_dir)
    migrate_s = time.perf_counter() - wall_started
    work_started, cpu_started = time.perf_counter(), cpu_s()
    result = (
        run_python(files, settings, client)
        if impl == "python"
        else run_sql(files, settings, client)
    )
    work_s = time.perf_counter() - work_started
    work_cpu_s = cpu_s() - cpu_started
    wall_s = time.perf_counter() - wall_started
    counts = row_counts(client)
    counts["parquet_rows"] = parquet_rows(Path(settings.parquet_url))
    events = result["lines"]
    return {
        "impl": impl,
        "input": str(input_dir),
        "events": events,
        "input_bytes": sum(f.stat().st_size for f in files),
        "migrate_s": round(migrate_s, 2),
        "work_s": round(work_s, 2),
        "wall_s": round(wall_s, 2),
        "events_per_s": round(events / work_s) if work_s else 0,
        "work_cpu_s": round(work_cpu_s, 2),
        "load_avg_1m": round(os.getloadavg()[0], 1),
        "peak_rss_mb": round(peak_rss_mb()),
        "profile_s": result["profile_s"],
        "profile_cpu_s": result.get("profile_cpu_s", {}),
        "rows": counts,
    }


def print_result(r: dict[str, Any]) -> None:
    """Print one baseline's figures: rate, wall time, memory, profile and rows per table."""
    name = {"python": "(a) careful Python", "sql": "(b) ClickHouse SQL batch"}.get(
        r["impl"], r["impl"]
    )
    print(
        f"{name}: {r['events']:,} events ({r['input_bytes'] / 1e6:,.0f} MB) in {r['work_s']} s "
        f"= {r['events_per_s']:,} events/s; wall {r['wall_s']} s (migrate {r['migrate_s']} s); "
        f"peak RSS {r['peak_rss_mb']:,} MB; CPU {r['work_cpu_s']} s; load {r['load_avg_1m']}"
    )
    cpu = r.get("profile_cpu_s", {})
    for step_name, seconds in r["profile_s"].items():
        extra = f"  (CPU {cpu[step_name]:.2f} s)" if step_name in cpu else ""
        print(f"  {step_name:<40} {seconds:>7.2f} s{extra}")
    print("  rows: " + ", ".join(f"{t}={n:,}" for t, n in r["rows"].items()))


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.baselines``: run one baseline, or print a database's row counts."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.baselines", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--impl", choices=("python", "sql"))
    parser.add_argument("--input", type=Path, help="directory of generated events-*.jsonl files")
    parser.add_argument(
        "--var", type=Path, required=True, help="var dir (emptied first, except with --counts)"
    )
    parser.add_argument("--json", type=Path, help="write the figures as JSON to this file")
    parser.add_argument(
        "--counts", action="store_true", help="only print rows per table of --var's database"
    )
    args = parser.parse_args(argv)
    if args.counts:
        settings = settings_module.load({"NETPULSE_VAR_DIR": str(args.var)})
        counts = row_counts(clickhouse.connect(settings))
        counts["parquet_rows"] = parquet_rows(Path(settings.parquet_url))
        text = json.dumps(counts)
        print(text)
        if args.json:
            args.json.write_text(text + "\n")
        return 0
    if not args.impl or not args.input:
        parser.error("--impl and --input are required (or use --counts)")
    result = run(args.impl, args.input.resolve(), args.var.resolve())
    print_result(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
