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

``--source kafka`` runs the stages as production reads: STREAMING, from a topic of 4 partitions on
a local broker (jobs/ops/kafka_broker.py), every line produced (keyed by stream id, as
bench/latency_kafka.py does) before the first stage starts, each stage reading the whole topic
from the earliest offset up to the offsets at its start (``scan.bounded.mode`` latest-offset) in
a consumer group of its own. A STREAMING stage sends every row to the sink (no aggregate, whose
changelog would cost more than the stage). ``--full`` adds the stage ``naap``: the whole
pipeline (``python -m jobs run naap``: every job, the writers, ClickHouse and Parquet), so the
table shows what the pipeline adds to its floor. A stage's events/s is the most a steady feed
can get through that much of the pipeline on this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench import run
from jobs.connectors.sources import SOURCE_TABLE

STAGES = ("start", "read", "parse", "dedupe")
FULL = "naap"
TOPIC = "floor-events"

# grain: one row per stage run; the sink discards rows, the COUNT keeps every row computed
SINK_DDL = "CREATE TEMPORARY TABLE floor_sink (n BIGINT) WITH ('connector' = 'blackhole')"

QUERIES = {
    "start": "SELECT CAST(1 AS BIGINT)",
    "read": f"SELECT COUNT(*) FROM {SOURCE_TABLE}",
    "parse": "SELECT COUNT(reason) + COUNT(event_type) FROM gateway_lines",
    "dedupe": "SELECT COUNT(*) FROM gateway_events",
}
# STREAMING: one sink row per input row (an aggregate would emit a changelog row per row)
STREAMING_QUERIES = {
    "start": "SELECT CAST(1 AS BIGINT)",
    "read": f"SELECT CAST(CHAR_LENGTH(line) AS BIGINT) FROM {SOURCE_TABLE}",
    "parse": "SELECT CAST(CASE WHEN reason IS NULL AND event_type IS NULL THEN 0 ELSE 1 END AS BIGINT) "
             "FROM gateway_lines",
    "dedupe": "SELECT CAST(1 AS BIGINT) FROM gateway_events",
}


def run_stage(stage: str, input_dir: str, var_dir: str) -> None:
    """Run one stage in this process (called in a child process by ``measure``).

    The source and runtime mode come from the NETPULSE_* variables ``measure`` sets.
    """
    from jobs import runtime
    from jobs import settings as settings_module
    from jobs.naap import source as naap_source

    env = dict(os.environ, NETPULSE_INPUT_PATH=input_dir, NETPULSE_VAR_DIR=var_dir, NETPULSE_PROGRESS_INTERVAL_S="0")
    settings = settings_module.load(env)
    env, t_env = runtime.create_environment(settings, f"floor-{stage}")
    naap_source.register(env, t_env, settings)  # the pipeline's own source: table, parse, shared views
    t_env.execute_sql(SINK_DDL)
    queries = QUERIES if settings.is_batch else STREAMING_QUERIES
    t_env.execute_sql(f"INSERT INTO floor_sink {queries[stage]}").wait()


def stage_env(stage: str, bootstrap: str | None) -> dict[str, str]:
    """The environment of one stage run: BATCH over files, or STREAMING over the topic."""
    if bootstrap is None:
        return dict(os.environ, NETPULSE_RUNTIME_MODE="batch")
    return dict(
        os.environ, NETPULSE_RUNTIME_MODE="streaming", NETPULSE_SOURCE="kafka", NETPULSE_KAFKA_BOOTSTRAP=bootstrap,
        NETPULSE_KAFKA_TOPIC=TOPIC, NETPULSE_KAFKA_GROUP_ID=f"floor-{stage}", NETPULSE_KAFKA_START="earliest-offset",
        NETPULSE_KAFKA_BOUNDED_MODE="latest-offset",
    )


def measure(stage: str, input_dir: Path, var_dir: Path, bootstrap: str | None = None) -> dict[str, Any]:
    """Wall and CPU seconds and peak RSS (the process tree) of one stage run in a fresh process.

    ``bootstrap``: read the topic of that broker (STREAMING) instead of the files (BATCH).
    """
    env = stage_env(stage, bootstrap)
    if stage == FULL:
        env.update(NETPULSE_INPUT_PATH=str(input_dir), NETPULSE_VAR_DIR=str(var_dir / FULL))
        subprocess.run([sys.executable, "-m", "jobs", "migrate"], env=env, check=True, capture_output=True,
                       cwd=run.PROJECT_ROOT)
        cmd = [sys.executable, "-m", "jobs", "run", FULL]
    else:
        cmd = [sys.executable, "-m", "bench.floor", "--stage", stage, "--input", str(input_dir), "--var", str(var_dir)]
    figures = run.run_measured(cmd, env, var_dir / f"floor-{stage}.log")
    if figures["exit_code"] != 0:
        raise RuntimeError(f"stage {stage} failed: see {figures['log']}")
    return {"stage": stage, **figures}


def produce_all(bootstrap: str, input_dir: Path) -> int:
    """Every line of the input onto the topic (4 partitions, keyed by stream id); returns the count."""
    from confluent_kafka import Producer

    from bench import latency_kafka
    from jobs.connectors import kafka

    kafka.ensure_topic(bootstrap, TOPIC, latency_kafka.PARTITIONS)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "log_level": 3})
    count = 0

    def lines() -> Iterator[str]:
        for part in sorted(input_dir.glob("*.jsonl")):
            with part.open() as f:
                yield from (line.rstrip("\n") for line in f)

    # One pass over every file: a stream stays on one partition across the files.
    for value, key, partition, _ in latency_kafka.iter_records(lines()):
        while True:
            try:
                producer.produce(TOPIC, value=value, key=key, partition=partition)
                break
            except BufferError:  # the local queue is full: let deliveries drain
                producer.poll(0.05)
        count += 1
    if producer.flush(300):
        raise RuntimeError("records not acknowledged by the broker within 300 s")
    return count


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
    parser.add_argument("--source", choices=("files", "kafka"), default="files",
                        help="files: BATCH over the files; kafka: STREAMING over a topic holding them")
    parser.add_argument("--full", action="store_true", help="add the stage naap: the whole pipeline")
    args = parser.parse_args(argv)
    if args.stage:
        run_stage(args.stage, args.input, args.var)
        return
    var = Path(args.var).resolve()
    events = events_in(args.input)
    files = run.files_input(Path(args.input), var)  # the event files only (not the manifest)
    stages = STAGES + ((FULL,) if args.full else ())
    broker = None
    if args.source == "kafka":
        from jobs.ops import kafka_broker

        broker = kafka_broker.start(var / "kafka")
    try:
        if broker is not None:
            produced = produce_all(broker.bootstrap, files)
            print(f"{produced:,} records on {TOPIC}", file=sys.stderr, flush=True)
        load = os.getloadavg()[0]
        rows = []
        for stage in stages:
            rows.append(measure(stage, files, var, broker.bootstrap if broker else None))
            print(f"{stage}: {rows[-1]['wall_s']:.1f} s, CPU {rows[-1]['cpu_s']:.0f} s", file=sys.stderr, flush=True)
    finally:
        if broker is not None:
            broker.stop()
    mode = "STREAMING from Kafka (4 partitions)" if broker is not None else "BATCH from files"
    print(f"\n{events:,} events, {mode}, {os.cpu_count()} cores, load before {load:.1f}\n")
    print(table(rows, events))


if __name__ == "__main__":
    main()
