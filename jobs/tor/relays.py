"""tor_relays: Tor directory documents into the tor.relay_snapshot time series.

Reads:    staged JSON-lines files (the source: jobs/tor/source.py; jobs/tor/collect.py
          turns a CollecTor tree or a tor data directory of consensuses, votes, server /
          extra-info descriptors and bandwidth files into one record per router entry /
          descriptor / measurement, parsed with stem). With
          NETPULSE_MONITOR_INTERVAL_S > 0 the collector re-scans the input tree and the Flink
          source picks up new staged files (source.monitor-interval, streaming mode);
          otherwise the run is bounded and runs in Flink BATCH mode.
Computes: per fingerprint (Python KeyedProcessFunction, keyed state): the latest server
          descriptor, extra-info and bandwidth measurement at or before each consensus hour,
          that hour's votes (flags_by_auth), first_seen, all_nicknames, last_restarted and
          last_ip_change (definitions: udfs/tor_state.py); country and AS of the address from
          the offline DB-IP Lite databases (udfs/tor_geoip.py), with the database name and date.
          Per consensus hour (jobs/tor/network.py, udfs/tor_metrics.py; catalog:
          jobs/tor/catalog.py TOR_*): Onionoo's consensus weight fraction and guard / middle /
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
from pathlib import Path
from typing import Any

from pyflink.common import Types
from pyflink.datastream import KeyedProcessFunction, RuntimeContext
from pyflink.datastream.state import ValueStateDescriptor

from jobs.connectors.sinks import terminate
from jobs.settings import Settings
from jobs.tor.network import NET, consensus_copies, relay_copies, write_hour_metrics
from jobs.tor.source import BUNDLED_INPUT, NAME, default_input, source_ddl, staging_dir
from jobs.tor.summary import format_summary, network_summary, print_summary
from jobs.tor.writer import HOUR_WAIT_MS, SNAPSHOT_COLUMNS, SNAPSHOT_TABLE, HourBatchWriter, insert_snapshots
from udfs.tor_geoip import GeoIP
from udfs.tor_state import RelayState, add_record, emit_due_with_network

__all__ = [  # the source, writer and summary live in their own modules; callers keep these names
    "BUNDLED_INPUT",
    "NAME",
    "SNAPSHOT_COLUMNS",
    "attach",
    "build",
    "default_input",
    "format_summary",
    "insert_snapshots",
    "network_summary",
    "print_summary",
    "source_ddl",
    "staging_dir",
]


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


def build(t_env: Any, settings: Settings) -> list[str]:
    """No table outputs: every row of the job comes from its keyed part (``attach``).

    The part reads the source's ``tor_records`` view (jobs/tor/source.py).
    """
    return []


def attach(records: Any, settings: Settings, pipeline: str) -> None:
    """The keyed part over the records' stream: relay state -> hourly writer.

    One keyed writer for every hourly output: relay_snapshot rows keyed by (table, hour),
    network-metric inputs by ('net', hour), handled by jobs.tor.network. The operator uids
    name the job (``tor_relays``), as they always have: savepoints restore by them.
    """
    hourly = (
        records.key_by(lambda row: row[1], key_type=Types.STRING())
        .process(
            RelaySnapshots(str(settings.geoip_dir)),
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
    terminate(hourly, f"{NAME}-snapshot-writer", "relay_snapshot hourly writer", settings.writer_parallelism)
