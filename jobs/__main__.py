"""netpulse command line: ``python -m jobs <command>`` (also installed as ``netpulse``).

    demo [--source kafka]
                         migrate, publish the bundled real events (to a file, or to a topic of
                         a local Kafka broker), run the naap pipeline, print a summary
    migrate [--until NAME]
                         apply sql/clickhouse/** to NETPULSE_CLICKHOUSE_URL (through NAME only)
    run PIPELINE         run a pipeline (naap | naap_ingest | naap_metrics | tor_relays) on the
                         settings (tor_relays: over NETPULSE_INPUT_PATH when it is set away
                         from var/input, else the bundled Tor documents)
    summary              print rows per table, rejects and headline metrics
    report [--out PATH]  write the HTML report of the NaaP and Tor tables (default var/report.html)
    replay --from D --to D [--types T,..] [--archive URL] [--replace]
                         reprocess the raw event archive's date range through the pipeline
    tor [DIR]            the Tor relay pipeline over a CollecTor tree (default: the bundled
                         real documents), then a network summary
    catalog              print the metric catalog as a Markdown table
    list                 list the pipelines
    cluster start|stop|status, submit JOB, jobs, stop JOB, redeploy JOB [--force], deployments
                         the local standalone Flink cluster (see docs/operations.md)
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import time
from pathlib import Path

from jobs import settings as settings_module


def _demo(settings: settings_module.Settings, fresh: bool, source: str = "files") -> int:
    from jobs import runtime
    from jobs.naap import sample, summary
    from jobs.ops import migrate

    if fresh:
        for sub in ("clickhouse", "parquet"):
            shutil.rmtree(settings.var_dir / sub, ignore_errors=True)
    applied = migrate.migrate(settings)
    print(f"migrated {settings.clickhouse_url}: {len(applied)} new DDL files applied")
    broker = None
    if source == "kafka":
        from jobs.ops import kafka_demo

        lines = sample.capture_lines()
        broker, settings = kafka_demo.publish_sample(lines, settings)
        print(
            f"published {len(lines)} real gateway events to Kafka topic {settings.kafka_topic!r} "
            f"({kafka_demo.PARTITIONS} partitions, keyed by stream id) at {broker.bootstrap}"
        )
    else:
        # The real capture files as they are (one per streaming session, three days apart): a
        # bounded input runs in BATCH mode, where the order in which files are read does not matter.
        events = sample.FIXTURES / "events"
        settings = settings.replace(input_path=events)
        count = len(sample.capture_lines())
        print(f"reading {count} real gateway events from the capture files in {events}")
    started = time.monotonic()
    try:
        runtime.run(settings, "naap")
    finally:
        if broker is not None:
            broker.stop()
    elapsed = time.monotonic() - started
    mode = "BATCH" if settings.is_batch else "STREAMING"
    print(f"pipeline 'naap' (ingest + metrics, {mode} mode) finished in {elapsed:.1f} s")
    print(summary.render(summary.collect(settings)))
    print(f"ClickHouse (embedded): {settings.chdb_path}" if settings.is_embedded else "")
    print(f"Parquet: {settings.parquet_url}/calculated_metrics/")
    from jobs.report import page as report_page

    path, seconds = report_page.build(settings)
    print(f"Report (open in a browser): {path} ({seconds:.1f} s; python -m jobs report rebuilds it)")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(
        prog="netpulse", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run the main job on the bundled sample events")
    demo.add_argument("--keep", action="store_true", help="keep earlier var/ outputs")
    demo.add_argument(
        "--source", choices=("files", "kafka"), default="files",
        help="kafka: through a local one-node Kafka broker and a 4-partition topic",
    )
    migrate_cmd = sub.add_parser("migrate", help="apply the ClickHouse DDL")
    migrate_cmd.add_argument(
        "--until", metavar="NAME",
        help="stop after this file (e.g. naap/0014_ai_stream_status_add_session_key.sql, or naap/0014): "
        "release the phases of a schema change one at a time (docs/schema-evolution.md)",
    )
    run = sub.add_parser("run", help="run a pipeline")
    run.add_argument("pipeline")
    sub.add_parser("summary", help="print the summary of the current database")
    report = sub.add_parser("report", help="write the HTML report (charts) of the current database")
    report.add_argument("--out", type=Path, help="the HTML file (default: var/report.html)")
    replay = sub.add_parser("replay", help="reprocess a date range of the raw event archive")
    replay.add_argument("--from", dest="date_from", required=True, help="first event date, YYYY-MM-DD")
    replay.add_argument("--to", dest="date_to", required=True, help="last event date, YYYY-MM-DD")
    replay.add_argument("--types", help="comma-separated event types (default: all)")
    replay.add_argument("--archive", help="archive URL (default: NETPULSE_PARQUET_URL)")
    replay.add_argument("--replace", action="store_true", help="replace the range's rows in the target")
    tor_collect = sub.add_parser(
        "tor-collect", help="stage a CollecTor tree / tor data directory for the tor_relays job"
    )
    tor_collect.add_argument("input", help="a CollecTor-format tree or a tor data directory")
    tor_collect.add_argument(
        "--watch", action="store_true",
        help="keep staging new files every NETPULSE_MONITOR_INTERVAL_S (next to a job on a cluster)",
    )
    tor = sub.add_parser("tor", help="run the Tor relay pipeline and print a network summary")
    tor.add_argument("input", nargs="?", help="a CollecTor-format tree (default: bundled fixtures)")
    sub.add_parser("catalog", help="print the metric catalog")
    sub.add_parser("list", help="list pipelines")
    from jobs.ops import cluster

    cluster.register(sub)  # cluster start|stop|status, submit, jobs, stop, redeploy, deployments, render-conf
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = settings_module.load()
    except settings_module.SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if hasattr(args, "func"):
        try:
            return int(args.func(args, settings))
        except cluster.ClusterError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    if args.command == "demo":
        return _demo(settings, fresh=not args.keep, source=args.source)
    if args.command == "migrate":
        from jobs.ops import migrate

        try:
            applied = migrate.migrate(settings, until=args.until)
        except migrate.MigrationError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        for name in applied:
            print(f"applied {name}")
        return 0
    if args.command == "run":
        from jobs import registry, runtime

        try:
            registry.get(args.pipeline)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        # No summary here: on a cluster this process is the submitting client, and the
        # embedded database belongs to the job's workers (`jobs tor` prints one).
        runtime.run(settings, args.pipeline)
        return 0
    if args.command == "summary":
        from jobs.naap import summary

        print(summary.render(summary.collect(settings)))
        return 0
    if args.command == "report":
        from jobs.report import page as report_module

        path, seconds = report_module.build(settings, args.out)
        print(f"report: {path} ({seconds:.1f} s)")
        return 0
    if args.command == "replay":
        from jobs import replay as replay_module

        try:
            plan = replay_module.ReplayPlan(
                replay_module.parse_date(args.date_from),
                replay_module.parse_date(args.date_to),
                tuple(args.types.split(",")) if args.types else None,
            )
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        replay_module.replay(settings, plan, archive_url=args.archive, replace=args.replace)
        return 0
    if args.command == "tor-collect":
        import threading

        from jobs.tor import collect as tor_collect
        from jobs.tor import source as tor_source

        staged = tor_source.staging_dir(settings)
        print(f"staged {args.input} into {staged}: {tor_collect.collect(Path(args.input), staged)}")
        if args.watch:
            try:
                tor_source.watch(settings, Path(args.input), threading.Event())
            except KeyboardInterrupt:
                return 0
        return 0
    if args.command == "tor":
        from jobs import runtime
        from jobs.tor import source as tor_source
        from jobs.tor import summary as tor_summary

        tree = Path(args.input).resolve() if args.input else tor_source.BUNDLED_INPUT
        runtime.run(settings.replace(input_path=tree), tor_source.NAME)
        tor_summary.print_summary(settings)
        return 0
    if args.command == "catalog":
        from jobs.naap import catalog
        from jobs.tor import catalog as tor_catalog

        print(catalog.markdown_table())
        print("\nTor metrics (tor_relays):\n")
        print(tor_catalog.tor_markdown_table())
        return 0
    if args.command == "list":
        from jobs import registry

        for name, pipeline in registry.PIPELINES.items():
            about = f" ({pipeline.description})" if pipeline.description else ""
            print(f"{name:<14} {' + '.join(job.name for job in pipeline.jobs)}{about}")
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
