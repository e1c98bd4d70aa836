"""The network-metrics stage of the tor_relays job: one consensus hour's Tor metrics.

Reads:    from the relay-state operator, keyed by ('net', consensus hour H in epoch ms) in the
          hourly writer (jobs/tor/writer.py HourBatchWriter, whose handler this is): the compact
          record of every relay listed at H (role ``cur``), the same records of the consensus
          before H sent forward to H (role ``prev``, keyed by their consensus' fresh-until),
          and the consensus document records of H and of the window before it (each
          consensus is copied to the keys of the next WINDOW_CONSENSUSES - 1 intervals).
Computes: udfs.tor_metrics.hour_metrics: per relay, consensus weight fraction and guard /
          middle / exit probabilities (Onionoo's definitions over the footer's
          bandwidth-weights) and uptime-pattern groups; per network, flag churn against the
          previous consensus (only when the consensus whose fresh-until is H is in the data:
          a missing hour gives no churn row), consensus-weight concentration (HHI, top-k) by
          AS, country, family and contact, and the number of relays flagged for review.
Writes:   tor.relay_hour_metrics and tor.network_hour_metrics, one insert each per hour with a
          deterministic insert_deduplication_token; both are ReplacingMergeTrees keyed by
          (subject, hour, version), so a recomputation (replay, re-run) replaces, never adds.
Time:     the hour is computed when the watermark passes H + HOUR_WAIT_MS, the time the relay
          operator emits H's rows (BATCH: at end of input, once every record is here), so the
          inputs of an hour are complete and the result does not depend on arrival order.
State:    per hour key, the records above until the hour is computed (then cleared), in the
          hourly writer's buffer.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from jobs.connectors.sinks import batch_token
from jobs.settings import Settings
from jobs.tor.writer import insert_rows
from udfs.tor_metrics import WINDOW_CONSENSUSES, hour_metrics

NET = "net"  # the relay operator's output tag of records for this stage
RELAY_METRICS_TABLE = "tor.relay_hour_metrics"
NETWORK_METRICS_TABLE = "tor.network_hour_metrics"
RELAY_METRICS_COLUMNS = (
    "ts",
    "fingerprint",
    "metric_version",
    "weight_class",
    "cw",
    "cw_fraction",
    "guard_probability",
    "middle_probability",
    "exit_probability",
    "uptime_group",
    "uptime_group_size",
)
NETWORK_METRICS_COLUMNS = (
    "ts",
    "metric_name",
    "metric_version",
    "subject",
    "metric_value",
    "metric_unit",
    "metric_metadata",
)

log = logging.getLogger("netpulse.tor_relays")


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def consensus_copies(record: dict[str, Any]) -> list[tuple[int, str]]:
    """(hour key in ms, payload) per copy of a consensus record.

    Its own hour and the next WINDOW_CONSENSUSES - 1 intervals (the hour after it reads it as its previous consensus
    when its valid-after equals this fresh-until; every hour of the window counts it present).
    """
    valid_after = int(record["valid_after"])
    interval = max(int(record["fresh_until"]) - valid_after, 1)
    payload = _dumps({"consensus": record})
    return [((valid_after + k * interval) * 1000, payload) for k in range(WINDOW_CONSENSUSES)]


def relay_copies(record: dict[str, Any]) -> list[tuple[int, str]]:
    """The relay's record for its own hour (``cur``) and for the next consensus (``prev``)."""
    return [
        (int(record["ts"]) * 1000, _dumps({"role": "cur", "relay": record})),
        (int(record["fresh_until"]) * 1000, _dumps({"role": "prev", "relay": record})),
    ]


def compute_hour(hour: int, payloads: list[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The metric rows of consensus hour ``hour`` (seconds) from the payloads of its key.

    No consensus with this valid-after among them (the key is only a later hour of some
    window, or the hour is missing): no rows. Duplicates (a consensus staged twice) count once.
    """
    consensuses: dict[int, dict[str, Any]] = {}
    relays: dict[str, dict[str, dict[str, Any]]] = {"cur": {}, "prev": {}}
    for payload in sorted(set(payloads)):
        item = json.loads(payload)
        if "consensus" in item:
            c = item["consensus"]
            consensuses.setdefault(int(c["valid_after"]), c)
        else:
            r = item["relay"]
            relays[item["role"]].setdefault(r["fingerprint"], r)
    consensus = consensuses.get(hour)
    if consensus is None:
        return [], []
    previous = next(
        (c for va, c in sorted(consensuses.items()) if va < hour and int(c["fresh_until"]) == hour),
        None,
    )
    window = sorted(va for va in consensuses if va <= hour)
    return hour_metrics(
        consensus,
        list(relays["cur"].values()),
        previous,
        list(relays["prev"].values()) if previous is not None else None,
        window,
    )


def _time(hour: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(hour, tz=dt.UTC)


def relay_metric_values(hour: int, rows: list[dict[str, Any]]) -> list[list[Any]]:
    """Relay metric rows as insert values (fingerprints as their 20 raw bytes)."""
    ts = _time(hour)
    return [
        [ts, bytes.fromhex(r["fingerprint"])] + [r[c] for c in RELAY_METRICS_COLUMNS[2:]]
        for r in rows
    ]


def network_metric_values(hour: int, rows: list[dict[str, Any]]) -> list[list[Any]]:
    """Rows of tor.network_hour_metrics for one hour, in the table's column order."""
    ts = _time(hour)
    return [[ts] + [r[c] for c in NETWORK_METRICS_COLUMNS[1:]] for r in rows]


def write_hour(
    settings: Settings, hour: int, relay_rows: list[dict[str, Any]], network_rows: list[dict[str, Any]]
) -> None:
    """One insert per table for the hour, each with a token derived from its sorted rows."""
    batch = f"{_time(hour):%Y%m%d-%H%M%S}"
    for table, columns, rows, values in (
        (RELAY_METRICS_TABLE, RELAY_METRICS_COLUMNS, relay_rows, relay_metric_values(hour, relay_rows)),
        (NETWORK_METRICS_TABLE, NETWORK_METRICS_COLUMNS, network_rows, network_metric_values(hour, network_rows)),
    ):
        if rows:
            token = batch_token(table, batch, [_dumps(r) for r in rows])
            insert_rows(settings, table, columns, values, token)


def write_hour_metrics(settings: Settings, hour: int, payloads: list[str]) -> int:
    """The hourly writer's handler for NET keys: compute the hour, write it; rows written."""
    relay_rows, network_rows = compute_hour(hour, payloads)
    if relay_rows or network_rows:
        write_hour(settings, hour, relay_rows, network_rows)
        log.info("tor metrics of %s: %d relays, %d network rows", _time(hour), len(relay_rows), len(network_rows))
    return len(relay_rows) + len(network_rows)
