"""Where the floor of a Flink run is: the same input through ever larger parts of the pipeline.

Each stage is a BATCH job of its own, in its own process (no JIT warm-up carried over), that
ends in Flink's ``blackhole`` sink, so nothing is written and only the named work is timed:

``start``   one row, no input: JVM, MiniCluster and planner start-up, job submission.
``read``    the source reads every line (Flink's filesystem source, ``raw`` format).
``parse``   + the Java parse of every line (parse_gateway_event: envelope, data, typed fields).
``dedupe``  + the shared views of jobs/naap/envelopes.py (reject reasons, deduplication): the
            stream every metric and table of the pipeline reads.

The full pipeline (``bench.run`` leg ``batch``) adds the jobs' SQL, the staged files and the
load. A stage's time bounds from below every design that keeps that stage in Flink::

    .venv/bin/python -m bench.floor --input var/bench/data/s42-n1000000-k200-f100000-v1
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from bench import run
from jobs.connectors.sources import SOURCE_TABLE

STAGES = ("start", "read", "parse", "dedupe")

# grain: one row per stage run; the sink discards rows, the COUNT keeps every row computed
SINK_DDL = "CREATE TEMPORARY TABLE floor_sink (n BIGINT) WITH ('connector' = 'blackhole')"

QUERIES = {
    "start": "SELECT CAST(1 AS BIGINT)",
    "read": f"SELECT COUNT(*) FROM {SOURCE_TABLE}",
    "parse": "SELECT COUNT(reason) + COUNT(event_type) FROM gateway_lines",
    "dedupe": "SELECT COUNT(*) FROM gateway_events",
}


def run_stage(stage: str, input_dir: str, var_dir: str) -> None:
    """Run one stage in this process (called in a child process by ``measure``)."""
    from jobs import runtime
    from jobs import settings as settings_module
    from jobs.connectors import sources
    from jobs.naap import envelopes
    from jobs.ops import java_udfs

    env = dict(os.environ, NETPULSE_INPUT_PATH=input_dir, NETPULSE_VAR_DIR=var_dir,
               NETPULSE_RUNTIME_MODE="batch", NETPULSE_PROGRESS_INTERVAL_S="0")
    settings = settings_module.load(env)
    _, t_env = runtime.create_environment(settings, f"floor-{stage}")
    java_udfs.register(t_env)
    t_env.execute_sql(sources.source_ddl(settings))
    envelopes.register(t_env, settings)
    t_env.execute_sql(SINK_DDL)
    t_env.execute_sql(f"INSERT INTO floor_sink {QUERIES[stage]}").wait()


def measure(stage: str, input_dir: Path, var_dir: Path) -> dict[str, Any]:
    """Wall and CPU seconds and peak RSS (the process tree) of one stage run in a fresh process."""
    cmd = [sys.executable, "-m", "bench.floor", "--stage", stage, "--input", str(input_dir), "--var", str(var_dir)]
    figures = run.run_measured(cmd, dict(os.environ), var_dir / f"floor-{stage}.log")
    if figures["exit_code"] != 0:
        raise RuntimeError(f"stage {stage} failed: see {figures['log']}")
    return {"stage": stage, **figures}


def events_in(input_dir: str) -> int:
    """Lines of the input, from bench.generate's manifest when there is one."""
    manifest = Path(input_dir) / "manifest.json"
    if manifest.exists():
        return int(json.loads(manifest.read_text())["events"])
    return sum(sum(1 for _ in p.open("rb")) for p in Path(input_dir).glob("*.jsonl"))


def table(rows: list[dict[str, Any]], events: int) -> str:
    """Markdown table of the stages; the increment is what a stage adds to the one before."""
    lines = [
        "| stage | wall s | + wall s | events/s | CPU s | + CPU s | peak RSS MB |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    previous: dict[str, Any] = {"wall_s": 0.0, "cpu_s": 0.0}
    for row in rows:
        lines.append(
            f"| {row['stage']} | {row['wall_s']:.1f} | {row['wall_s'] - previous['wall_s']:+.1f} "
            f"| {events / row['wall_s']:,.0f} | {row['cpu_s']:.0f} | {row['cpu_s'] - previous['cpu_s']:+.0f} "
            f"| {row['peak_rss_mb']:,} |"
        )
        previous = row
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Run every stage (or one, with --stage) and print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", required=True, help="a directory of JSON-lines files (bench.generate)")
    parser.add_argument("--var", default="var/bench/runs/floor", help="var directory of the runs")
    parser.add_argument("--stage", choices=STAGES, help="run one stage in this process (internal)")
    args = parser.parse_args(argv)
    if args.stage:
        run_stage(args.stage, args.input, args.var)
        return
    var = Path(args.var).resolve()
    events = events_in(args.input)
    files = run.files_input(Path(args.input), var)  # the event files only (not the manifest)
    load = os.getloadavg()[0]
    rows = []
    for stage in STAGES:
        rows.append(measure(stage, files, var))
        print(f"{stage}: {rows[-1]['wall_s']:.1f} s, CPU {rows[-1]['cpu_s']:.0f} s", file=sys.stderr, flush=True)
    print(f"\n{events:,} events, {os.cpu_count()} cores, load before {load:.1f}\n")
    print(table(rows, events))


if __name__ == "__main__":
    main()
