"""tor_relays: Tor directory documents into the tor.relay_snapshot time series.

Reads:    staged JSON-lines files (jobs/tor/collect.py turns a CollecTor tree or a tor data
          directory of consensuses, votes, server / extra-info descriptors and bandwidth files
          into one record per router entry / descriptor / measurement, parsed with stem). With
          NETPULSE_MONITOR_INTERVAL_S > 0 the collector re-scans the input tree and the Flink
          source picks up new staged files (source.monitor-interval, streaming mode);
          otherwise the run is bounded and runs in Flink BATCH mode.
Computes: per fingerprint (Python KeyedProcessFunction, keyed state): the latest server
          descriptor, extra-info and bandwidth measurement at or before each consensus hour,
          that hour's votes (flags_by_auth), first_seen, all_nicknames, last_restarted and
          last_ip_change (definitions: udfs/tor_state.py); country and AS of the address from
          the offline DB-IP Lite databases (udfs/tor_geoip.py), with the database name and date.
          Per consensus hour (jobs/tor/network.py, udfs/tor_metrics.py; catalog:
          jobs/catalog.py TOR_*): Onionoo's consensus weight fraction and guard / middle /
          exit probabilities from the bandwidth-weights footer, flag churn against the
          previous consensus, weight concentration by AS / country / family / contact, and
          uptime-pattern groups flagged for review.
Writes:   tor.relay_snapshot, one immutable row per relay per consensus hour, one insert per
          hour, without the relays the hour already has (a re-run over a grown tree writes
          only new rows) and with a deterministic insert_deduplication_token (the materialized
          views feed the five aggregate tables from it); tor.relay_hour_metrics and
          tor.network_hour_metrics, one insert each per hour (ReplacingMergeTrees: a
          recomputation replaces); tor.dead_letter (collector rejects, and staged lines that
          are not records) through the shared reject writer.
Time:     event time = consensus valid-after; only consensus and vote records carry it (a
          descriptor's own time is a join key, not stream time). Records only fill the keyed
          state; rows are derived when hours are emitted, in ascending hour order. Bounded
          (BATCH): every record of a relay is in its state before its timers fire at the end
          of input, so the rows do not depend on the order files are read. Streaming: the
          watermark is the newest hour read, so an hour's rows are written when the next
          consensus arrives (descriptors that arrive up to then are joined); an hour read
          after a later one was written gets the history up to its hour.
State:    one JSON value per fingerprint: nicknames and address changes with their hours, the
          newest 4 documents of each kind, hours waiting for their timer, the last 72
          emitted hours (a consensus collected twice is written once). No TTL: state per relay
          is bounded and small, and first_seen must survive a relay's absence of any length.
          Per-hour write buffers are keyed by (table, hour) or ('net', hour) (the metrics'
          inputs: relay records of the hour and of the previous consensus, consensus records
          of the window) and cleared when written.
Rejects:  collector stages (parse: not_a_tor_document, malformed_document/_entry/_descriptor,
          missing_valid_after, bad_bandwidth_value, ...; validate: negative_uptime,
          unknown_keyword, malformed_header_or_footer) and decode (a staged line that is not a
          JSON record: malformed_json, unknown_kind, bad_fingerprint, bad_consensus_record).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from pathlib import Path
from typing import Any

from pyflink.common import Types
from pyflink.datastream import KeyedProcessFunction, RuntimeContext
from pyflink.datastream.state import ValueStateDescriptor

from jobs import sql
from jobs.settings import PROJECT_ROOT, Settings
from jobs.sinks import BufferedWriter, terminate
from jobs.tor.collect import collect
from jobs.tor.network import NET, consensus_copies, relay_copies, write_hour_metrics
from jobs.tor.summary import format_summary, network_summary, print_summary
from jobs.tor.writer import HOUR_WAIT_MS, SNAPSHOT_COLUMNS, SNAPSHOT_TABLE, HourBatchWriter, insert_snapshots
from udfs.tor_geoip import GeoIP
from udfs.tor_state import RelayState, add_record, emit_due_with_network

__all__ = [  # the writer and the summary live in their own modules; callers keep these names
    "SNAPSHOT_COLUMNS",
    "build",
    "execute",
    "format_summary",
    "insert_snapshots",
    "network_summary",
    "print_summary",
    "run",
]

NAME = "tor_relays"
DEAD_LETTER_TABLE = "tor.dead_letter"
BUNDLED_INPUT = PROJECT_ROOT / "tests" / "fixtures" / "tor" / "collector"
RECORD_KINDS = ("status", "vote", "server", "extra", "bw")  # per relay; plus 'consensus' (per document)

log = logging.getLogger("netpulse.tor_relays")


def staging_dir(settings: Settings) -> Path:
    """Where the collector stages JSON lines for this job."""
    return settings.var_dir / "tor" / "staged"


def default_input(settings: Settings) -> Path:
    """The tree ``run tor_relays`` reads.

    NETPULSE_INPUT_PATH when it is set to somewhere other than its default (var/input, where the
    NaaP events go), else the bundled Tor documents.
    """
    if settings.input_path != (settings.var_dir / "input").resolve():
        return settings.input_path
    return BUNDLED_INPUT


def source_ddl(settings: Settings, path: Path, *, batch: bool = False) -> str:
    """The staged JSON-lines directory, read raw so that no line vanishes unseen.

    Streaming: event time is the consensus hour of router entries (``rt``; watermark = newest
    hour read). Consensus document records carry none: the collector stages them at the top of
    their file, before the entries of the file's earlier hours, so a valid-after of theirs
    would move the watermark past hours not yet read. A value that is not a number gives 0
    (TRY_CAST: a CAST error would fail the job; the line is dead-lettered by the decode check).
    Batch: no rowtime (BATCH mode fires a key's timers at the end of its input, in order).
    """
    monitor = (
        f",\n    'source.monitor-interval' = {sql.literal(f'{settings.monitor_interval_s} s')}"
        if settings.monitor_interval_s > 0 and not batch
        else ""
    )
    rowtime = (
        ""
        if batch
        else """,
    rt AS TO_TIMESTAMP_LTZ(COALESCE(CASE WHEN JSON_VALUE(line, '$.kind') IN ('status', 'vote')
        THEN TRY_CAST(JSON_VALUE(line, '$.valid_after') AS BIGINT) * 1000 END, 0), 3),
    WATERMARK FOR rt AS rt"""
    )
    return f"""
CREATE TEMPORARY TABLE tor_staged (
    line STRING,
    source_position STRING NOT NULL METADATA FROM 'file.path' VIRTUAL,
    kind AS JSON_VALUE(line, '$.kind'){rowtime}
) WITH (
    'connector' = 'filesystem',
    'path' = {sql.literal(str(path))},
    'format' = 'raw'{monitor}
)"""


_KINDS = ", ".join(f"'{k}'" for k in RECORD_KINDS)
_FINGERPRINT = "JSON_VALUE(line, '$.fingerprint')"

_CONSENSUS_OK = """(TRY_CAST(JSON_VALUE(line, '$.valid_after') AS BIGINT) IS NOT NULL
        AND TRY_CAST(JSON_VALUE(line, '$.fresh_until') AS BIGINT) IS NOT NULL)"""

# grain: one row per staged line that is a usable record, keyed by relay fingerprint (a
# consensus document record by 'consensus:<valid-after>': it only passes through the keyed
# operator, which copies it to the hours whose metrics need it)
RECORDS = f"""
SELECT kind, CASE WHEN kind = 'consensus' THEN CONCAT('consensus:', JSON_VALUE(line, '$.valid_after'))
    ELSE {_FINGERPRINT} END AS fingerprint, line
FROM tor_staged
WHERE line IS JSON OBJECT AND (
    (kind IN ({_KINDS}) AND REGEXP({_FINGERPRINT}, '^[0-9A-F]{{40}}$'))
    OR (kind = 'consensus' AND {_CONSENSUS_OK}))
"""

# grain: one row per reject found by the collector (already dead-letter shaped)
COLLECTOR_REJECTS = f"""
SELECT '{DEAD_LETTER_TABLE}' AS target, JSON_OBJECT(
    'reject_key' VALUE JSON_VALUE(line, '$.reject_key'),
    'job' VALUE '{NAME}',
    'stage' VALUE JSON_VALUE(line, '$.stage'),
    'document' VALUE JSON_VALUE(line, '$.document'),
    'doc_type' VALUE JSON_VALUE(line, '$.doc_type'),
    'line' VALUE COALESCE(TRY_CAST(JSON_VALUE(line, '$.line') AS INT), 0),
    'reason' VALUE JSON_VALUE(line, '$.reason'),
    'detail' VALUE COALESCE(JSON_VALUE(line, '$.detail'), ''),
    'excerpt' VALUE COALESCE(JSON_VALUE(line, '$.excerpt'), '')
) AS row_json
FROM tor_staged
WHERE line IS JSON OBJECT AND kind = 'reject'
"""

_DECODE_REASON = f"""CASE
    WHEN NOT (line IS JSON OBJECT) THEN 'malformed_json'
    WHEN kind IS NULL OR kind NOT IN ({_KINDS}, 'reject', 'consensus') THEN 'unknown_kind'
    WHEN kind = 'consensus' AND NOT {_CONSENSUS_OK} THEN 'bad_consensus_record'
    WHEN kind NOT IN ('reject', 'consensus')
        AND NOT COALESCE(REGEXP({_FINGERPRINT}, '^[0-9A-F]{{40}}$'), FALSE)
        THEN 'bad_fingerprint'
END"""

# grain: one row per staged line that is neither a record nor a collector reject
DECODE_REJECTS = f"""
SELECT '{DEAD_LETTER_TABLE}' AS target, JSON_OBJECT(
    'reject_key' VALUE SHA256(CONCAT_WS('|', 'decode', source_position, reason, line)),
    'job' VALUE '{NAME}',
    'stage' VALUE 'decode',
    'document' VALUE source_position,
    'doc_type' VALUE 'staged-jsonl',
    'line' VALUE 0,
    'reason' VALUE reason,
    'detail' VALUE 'a staged line must be a JSON record written by jobs/tor/collect.py',
    'excerpt' VALUE SUBSTRING(line, 1, 4096)
) AS row_json
FROM (SELECT line, source_position, {_DECODE_REASON} AS reason FROM tor_staged)
WHERE reason IS NOT NULL
"""


class RelaySnapshots(KeyedProcessFunction):
    """Keyed by fingerprint: folds documents into RelayState, emits rows when hours are due."""

    def __init__(self, geoip_dir: str):
        self.geoip_dir = geoip_dir
        self.state: Any = None
        self.geo: GeoIP | None = None

    def open(self, runtime_context: RuntimeContext) -> None:
        self.state = runtime_context.get_state(ValueStateDescriptor("relay", Types.STRING()))
        self.geo = GeoIP(Path(self.geoip_dir))

    def close(self) -> None:
        if self.geo is not None:
            self.geo.close()

    def process_element(self, value: Any, ctx: KeyedProcessFunction.Context) -> Any:
        try:
            record = json.loads(value[2])
        except ValueError:
            return  # unreachable: the SQL filter passes JSON objects only
        if record.get("kind") == "consensus":
            # no relay state: the document record goes to the hours whose metrics use it
            for key_ms, payload in consensus_copies(record):
                yield NET, key_ms, payload
            return
        relay = RelayState.from_json(self.state.value())
        hour = add_record(relay, record)
        if hour is not None:
            # Fires when the watermark (the newest consensus hour read) reaches this hour.
            ctx.timer_service().register_event_time_timer(hour * 1000 + HOUR_WAIT_MS)
        self.state.update(relay.to_json())

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext) -> Any:
        relay = RelayState.from_json(self.state.value())
        rows = emit_due_with_network(relay, (timestamp - HOUR_WAIT_MS) // 1000, self.geo)
        self.state.update(relay.to_json())
        for row, network in rows:
            hour_ms = int(
                dt.datetime.fromisoformat(row["ts"]).replace(tzinfo=dt.UTC).timestamp() * 1000
            )
            yield SNAPSHOT_TABLE, hour_ms, json.dumps(row, separators=(",", ":"), sort_keys=True)
            for key_ms, payload in relay_copies(network):
                yield NET, key_ms, payload


def build(
    env: Any, t_env: Any, settings: Settings, staged: Path, geoip_dir: Path, *, batch: bool = False
) -> None:
    """Define the job: staged source -> keyed relay state -> hourly writer; rejects -> DLQ."""
    t_env.execute_sql(source_ddl(settings, staged, batch=batch))
    sql.view(t_env, "tor_records", RECORDS)
    sql.view(t_env, "tor_rejects", f"{COLLECTOR_REJECTS} UNION ALL {DECODE_REJECTS}")
    writers = settings.writer_parallelism
    # One keyed writer for every hourly output: relay_snapshot rows keyed by (table, hour),
    # network-metric inputs by ('net', hour), handled by jobs.tor.network.
    hourly = (
        t_env.to_data_stream(t_env.from_path("tor_records"))
        .key_by(lambda row: row[1], key_type=Types.STRING())
        .process(
            RelaySnapshots(str(geoip_dir)),
            output_type=Types.TUPLE([Types.STRING(), Types.LONG(), Types.STRING()]),
        )
        .uid(f"{NAME}-relay-state")
        .name("relay state: joins and derivations")
        .key_by(lambda row: f"{row[0]}|{row[1]}", key_type=Types.STRING())
        .process(
            HourBatchWriter(settings, {NET: write_hour_metrics}), output_type=Types.INT()
        )
    )
    # the name stays: tests/cluster reads this operator's netpulse.rows_written by name
    terminate(hourly, f"{NAME}-snapshot-writer", "relay_snapshot hourly writer", writers)
    terminate(
        t_env.to_data_stream(t_env.from_path("tor_rejects"))
        .key_by(lambda row: row[0], key_type=Types.STRING())
        .process(BufferedWriter(settings), output_type=Types.INT()),
        f"{NAME}-reject-writer",
        "tor dead-letter writer",
        writers,
    )


def execute(settings: Settings, staged: Path, geoip_dir: Path, *, wait: bool = True) -> Any:
    """Run the job over the files already staged in ``staged``, to the end of its input.

    BATCH runtime mode: each relay's records reach its keyed state grouped, and its hours are
    emitted at the end of its input in ascending order, so the rows do not depend on the
    order in which files (or lines) are read. Returns the JobExecutionResult, or the
    JobClient when ``wait`` is False.
    """
    from jobs import runtime  # the runtime pulls in every NaaP job: import on use

    if settings.runtime_mode == "auto":  # the staged files are bounded: BATCH
        settings = settings.replace(runtime_mode="batch")
    env, t_env = runtime.create_environment(settings, NAME)
    build(env, t_env, settings, staged, geoip_dir, batch=settings.is_batch)
    return runtime.execute(env, NAME, settings) if wait else env.execute_async(NAME)


def watch(settings: Settings, input_dir: Path, stop: threading.Event, interval_s: float | None = None) -> None:
    """Stage ``input_dir`` for the job every interval until ``stop`` is set.

    The collector (stem, in Python) runs beside the Flink job: as a thread of ``run`` in a
    local watched run, or as its own process (``python -m jobs tor-collect DIR --watch``) next
    to a job submitted to a cluster, whose client process exits after the submission. Staged
    files are written under a hidden name and renamed, so the job's monitored source picks up
    each new hour once.
    """
    staged = staging_dir(settings)
    interval = interval_s if interval_s is not None else max(settings.monitor_interval_s, 1)
    while not stop.wait(interval):
        try:
            stats = collect(input_dir, staged)
            log.info("collected %s", stats)
        except Exception:  # noqa: BLE001 - keep watching; the next pass retries
            log.exception("collecting %s failed", input_dir)


def run(
    settings: Settings,
    input_dir: Path | str,
    *,
    geoip_dir: Path | str | None = None,
    wait: bool = True,
    migrate_first: bool = True,
) -> Any:
    """Collect ``input_dir`` and run the tor_relays Flink job over it.

    Bounded (NETPULSE_MONITOR_INTERVAL_S=0): stages the tree, runs the job in BATCH mode to
    the end of input (``execute``), returns the JobExecutionResult. Monitoring (> 0): a
    streaming job; a collector thread re-scans the tree every interval; returns the JobClient
    when ``wait`` is False.

    Raises:
        FileNotFoundError: the input tree or the GeoIP databases are missing (the message
            names the install command).
    """
    from jobs import runtime  # the runtime pulls in every NaaP job: import on use
    from jobs.ops import migrate

    # settings.geoip_dir is absolute: a job submitted from a release copy (var/releases/) reads
    # the databases installed in the checkout, not a data/ folder the release does not have.
    geo_dir = Path(geoip_dir) if geoip_dir else settings.geoip_dir
    GeoIP(geo_dir).close()  # fail before starting Flink, naming the install command
    if migrate_first:
        migrate.migrate(settings, databases=("tor",))
    staged = staging_dir(settings)
    stats = collect(Path(input_dir), staged)
    log.info("collected %s", stats)
    if settings.monitor_interval_s <= 0:
        return execute(settings, staged, geo_dir, wait=wait)
    env, t_env = runtime.create_environment(settings, NAME)
    build(env, t_env, settings, staged, geo_dir)
    stop = threading.Event()
    threading.Thread(
        target=watch, args=(settings, Path(input_dir), stop), name="tor-collector", daemon=True
    ).start()
    if not wait:
        return env.execute_async(NAME)
    try:
        return runtime.execute(env, NAME, settings)
    finally:
        stop.set()
