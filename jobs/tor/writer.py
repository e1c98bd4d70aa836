"""The hourly relay_snapshot writer of the tor_relays job (runs inside the Flink job).

One insert per consensus hour into tor.relay_snapshot, an immutable MergeTree that feeds the
aggregate materialized views, so a row must never be inserted twice: before inserting, the
writer reads which fingerprints the hour already has and drops those rows (a re-run over a
grown tree writes only the new hours); the insert carries a deterministic
insert_deduplication_token (a replay after a failover is dropped by the table and the MVs).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from pyflink.common import Types
from pyflink.datastream import KeyedProcessFunction, RuntimeContext
from pyflink.datastream.state import ListStateDescriptor

from jobs.connectors.sinks import ClickHouseWriter, batch_token
from jobs.settings import Settings

SNAPSHOT_TABLE = "tor.relay_snapshot"
# An hour is emitted when the watermark reaches the NEXT hour: descriptors and bandwidth files
# that arrive until the next consensus is read still join. The watermark is the newest hour
# read (a finished file releases its split's watermark hold, measured), so without this wait
# an hour would fire as soon as its own consensus file ends.
HOUR_WAIT_MS = 3_600_000


SNAPSHOT_COLUMNS = (
    "ts",
    "fingerprint",
    "nickname",
    "all_nicknames",
    "address_v4",
    "address_v6",
    "or_port",
    "dir_port",
    "flags",
    "flags_by_auth.auth",
    "flags_by_auth.flags",
    "bw_consensus",
    "bw_measured",
    "bw_observed",
    "bw_read",
    "bw_write",
    "cw",
    "uptime",
    "first_seen",
    "last_restarted",
    "last_ip_change",
    "exit_policy",
    "contact",
    "family",
    "version",
    "platform",
    "descriptor_published",
    "bw_measured_source",
    "is_uptime_rejected",
    "asn",
    "country",
    "geoip_source",
    "geoip_date",
)
_TIME_COLUMNS = ("ts", "first_seen", "last_restarted", "last_ip_change", "descriptor_published")


def _time(text: str | None) -> dt.datetime | None:
    return None if text is None else dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def snapshot_values(row: dict[str, Any]) -> list[Any]:
    """One JSON snapshot row as insert values (fingerprints become their 20 raw bytes)."""
    values: list[Any] = []
    for column in SNAPSHOT_COLUMNS:
        value: Any = row.get(column)
        if column in _TIME_COLUMNS:
            value = _time(value)
        elif column == "fingerprint":
            value = bytes.fromhex(value)
        elif column == "family":
            value = [bytes.fromhex(f) for f in value or []]
        elif column == "geoip_date":
            value = dt.date.fromisoformat(value)
        values.append(value)
    return values


# grain: one row per relay already written for the hour
_HOUR_FINGERPRINTS = """
SELECT DISTINCT hex(fingerprint) FROM tor.relay_snapshot WHERE ts = {ts:DateTime64(3, 'UTC')}
"""


def existing_fingerprints(settings: Settings, hour_ms: int) -> set[str]:
    """The fingerprints (upper-case hex) tor.relay_snapshot already has for this hour."""
    ts = dt.datetime.fromtimestamp(hour_ms / 1000, tz=dt.UTC)
    what = f"read of {SNAPSHOT_TABLE} fingerprints of {ts:%Y-%m-%d %H:%M}"
    rows = ClickHouseWriter(settings).query_rows(what, _HOUR_FINGERPRINTS, {"ts": ts})
    return {fp.decode() if isinstance(fp, bytes) else fp for (fp,) in rows}


def new_rows(lines: list[str], existing: set[str]) -> list[str]:
    """The rows (JSON lines) of relays the hour does not have yet, one per relay, sorted."""
    out: dict[str, str] = {}
    for line in sorted(lines):
        fingerprint = json.loads(line)["fingerprint"]
        if fingerprint not in existing:
            out.setdefault(fingerprint, line)
    return sorted(out.values())


def insert_snapshots(settings: Settings, lines: list[str], token: str, attempts: int = 6) -> None:
    """Insert one hour of snapshot rows as one block with its deduplication token; retry, raise."""
    rows = [snapshot_values(json.loads(line)) for line in sorted(lines)]
    insert_rows(settings, SNAPSHOT_TABLE, SNAPSHOT_COLUMNS, rows, token, attempts)


def insert_rows(
    settings: Settings,
    table: str,
    columns: tuple[str, ...],
    rows: list[list[Any]],
    token: str,
    attempts: int = 6,
) -> None:
    """Insert ``rows`` (values in ``columns`` order) as one block with a deduplication token.

    The shared writer and retry policy (jobs/connectors/sinks.py ``ClickHouseWriter``).
    """
    ClickHouseWriter(settings, attempts=attempts).insert_values(table, columns, rows, token)


# A handler of other hourly outputs: (settings, hour in epoch seconds, the key's lines) ->
# rows written. Module-level functions only (the operator is pickled to the Python workers).
HourHandler = Callable[[Settings, int, list[str]], int]


class HourBatchWriter(KeyedProcessFunction):
    """Keyed by (target, hour): buffers the hour's lines in state, writes them as one block.

    The hour is written when the watermark passes it, i.e. after every relay's row of that
    hour has arrived (in BATCH mode: once the hour's rows are all here). Rows of relays the
    hour already has in the table (an earlier run) are dropped first, so re-running over a
    grown tree adds only new (fingerprint, hour) rows. The rest is fixed by the input, so a
    replay after a failover rebuilds the same block with the same token and the table drops it.

    Other targets (``handlers``: the network metrics' inputs) are buffered and timed the same
    way and handed to their handler; one operator instead of one more keyed stage (in BATCH
    mode each keyed Python stage runs after the previous one, with its own worker start).
    """

    def __init__(self, settings: Settings, handlers: dict[str, HourHandler] | None = None):
        self.settings = settings
        self.handlers = dict(handlers or {})
        self.buffer: Any = None

    def open(self, runtime_context: RuntimeContext) -> None:
        self.buffer = runtime_context.get_list_state(ListStateDescriptor("rows", Types.STRING()))
        # The same metric names as the NaaP batch writer (netpulse.rows_written /
        # batches_written): what a watched job on a cluster has written, from the REST API,
        # and what the progress lines show (jobs/progress.py).
        group = runtime_context.get_metrics_group().add_group("netpulse")
        self.rows_counter = group.counter("rows_written")  # relay_snapshot rows only
        self.batches_counter = group.counter("batches_written")
        self.metric_rows_counter = group.counter("metric_rows_written")  # handlers' rows

    def process_element(self, value: Any, ctx: KeyedProcessFunction.Context) -> Any:
        self.buffer.add(value[2])
        # the upstream timer that emitted this row fired at hour + HOUR_WAIT_MS; every relay's
        # row of the hour is here once the watermark passes that time here too
        ctx.timer_service().register_event_time_timer(value[1] + HOUR_WAIT_MS)

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext) -> Any:
        lines = list(self.buffer.get() or [])
        handler = self.handlers.get(str(ctx.get_current_key()).split("|", 1)[0])
        if handler is not None:
            self.buffer.clear()
            written = handler(self.settings, (timestamp - HOUR_WAIT_MS) // 1000, lines)
            self.metric_rows_counter.inc(written)
            yield written
            return
        if lines:
            hour_ms = timestamp - HOUR_WAIT_MS
            lines = new_rows(lines, existing_fingerprints(self.settings, hour_ms))
            if lines:
                hour = dt.datetime.fromtimestamp(hour_ms / 1000, tz=dt.UTC)
                token = batch_token(SNAPSHOT_TABLE, f"{hour:%Y%m%d-%H%M%S}", lines)
                insert_snapshots(self.settings, lines, token)
                self.rows_counter.inc(len(lines))
                self.batches_counter.inc()
            self.buffer.clear()
            yield len(lines)
