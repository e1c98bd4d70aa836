"""Per-relay state and the relay_snapshot row: pure functions, no Flink.

The tor_relays job keeps one ``RelayState`` per fingerprint in Flink keyed state (serialized
as JSON) and calls these functions; tests call them directly.

Records are only collected by ``add_record`` (whatever order they arrive in); every derived
value is computed by ``emit_due``, which emits the buffered hours in ascending order. In a
bounded run (Flink BATCH mode) all of a relay's records are added before its first hour is
emitted, so the rows do not depend on the order in which files were read.

Definitions (Onionoo / Tor Metrics, see DOMAIN-NOTES):

* ``first_seen``: the earliest consensus valid-after the relay is listed in, among the hours
  emitted and the hours waiting: in a bounded run the minimum over the whole input, the same
  on every row of the relay.
* ``all_nicknames``: the nicknames of the consensus entries up to this hour, in the order they
  first appeared.
* ``last_restarted``: ``published - uptime`` of the relay's most recently published server
  descriptor at or before the hour; none without an uptime (or with a rejected negative one).
* ``last_ip_change``: the latest hour, at or before this one, in which an address or port the
  relay had in its previous consensus entry disappeared (r-line address/ORPort/DirPort and
  ``a`` lines). An added address (e.g. a new IPv6 ``a`` line) is not a change. NULL until
  the first change. Never later than the row's own hour.
* Hours in which the relay is not listed produce no row (a missing consensus hour stays
  missing); "previous entry" is the relay's previous listed hour.
* Joins: the newest server descriptor / extra-info descriptor / bandwidth measurement whose
  own time (published / measured) is at or before the consensus hour; a document from after
  the hour describes the future and is not used. Votes join on the same valid-after.
* Streaming only: an hour that arrives after a later hour of the relay was emitted (a late
  file) is written with the history known for its hour (nicknames and address changes up to
  it); it does not rewrite the address history, and rows already written keep their values.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from udfs.tor_geoip import UNKNOWN_COUNTRY, GeoResult
from udfs.tor_metrics import WINDOW_CONSENSUSES

# How many descriptors of each kind a relay keeps: relays publish a server descriptor every
# ~18 h, so a handful covers any plausible lateness of consensus hours while bounding state.
KEEP_DOCUMENTS = 4
# Hours remembered to recognize a consensus hour delivered twice (a file collected twice).
KEEP_EMITTED_HOURS = 72
# Address changes remembered, so that a late hour gets the change at or before it (a relay on
# a dynamic address changes daily: bounded, newest kept).
KEEP_IP_CHANGES = 64
# Restart hours remembered for the uptime pattern (udfs.tor_metrics: a 24-hour window).
KEEP_RESTARTS = 16
HOUR_S = 3600


@dataclass
class RelayState:
    """Everything the job remembers about one relay (one fingerprint).

    ``nicknames`` holds ``[nickname, first hour]`` pairs; ``ip_changes`` the hours of address
    changes (ascending); ``last_ts`` / ``last_endpoints`` the newest emitted entry;
    ``restarts`` the distinct restart hours (``last_restarted`` floored) of emitted rows.
    """

    first_seen: int | None = None
    nicknames: list[list[Any]] = field(default_factory=list)
    last_ts: int | None = None
    last_endpoints: list[str] = field(default_factory=list)
    ip_changes: list[int] = field(default_factory=list)
    emitted: list[int] = field(default_factory=list)
    servers: list[dict[str, Any]] = field(default_factory=list)
    extras: list[dict[str, Any]] = field(default_factory=list)
    bws: list[dict[str, Any]] = field(default_factory=list)
    votes: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    pending: dict[str, dict[str, Any]] = field(default_factory=dict)
    restarts: list[int] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> RelayState:
        if not text:
            return cls()
        data = json.loads(text)
        # state written before nicknames and address changes carried their hours (savepoints)
        old_change = data.pop("last_ip_change", None)
        data.setdefault("ip_changes", [old_change] if old_change is not None else [])
        data["nicknames"] = [
            [n, data.get("first_seen") or 0] if isinstance(n, str) else n
            for n in data.get("nicknames", [])
        ]
        return cls(**data)


def _keep_newest(
    items: list[dict[str, Any]], new: dict[str, Any], time_key: str
) -> list[dict[str, Any]]:
    if new.get(time_key) is None:
        return items
    merged = [i for i in items if i.get(time_key) != new[time_key]] + [new]
    merged.sort(key=lambda i: i[time_key])
    return merged[-KEEP_DOCUMENTS:]


def _newest_before(items: list[dict[str, Any]], ts: int, time_key: str) -> dict[str, Any] | None:
    found = None
    for item in items:
        if item[time_key] <= ts:
            found = item
    return found


def add_record(state: RelayState, record: dict[str, Any]) -> int | None:
    """Fold one parsed record into the state. Returns the hour to emit later (status), or None."""
    kind = record.get("kind")
    if kind == "server":
        state.servers = _keep_newest(state.servers, record, "published")
    elif kind == "extra":
        state.extras = _keep_newest(state.extras, record, "published")
    elif kind == "bw":
        state.bws = _keep_newest(state.bws, record, "measured_at")
    elif kind == "vote":
        state.votes.setdefault(str(record["valid_after"]), {})[record["auth"]] = list(
            record["flags"]
        )
    elif kind == "status":
        status_hour = int(record["valid_after"])
        state.pending[str(status_hour)] = record
        return status_hour
    return None


def endpoints(status: dict[str, Any]) -> list[str]:
    """The addresses and ports a consensus entry advertises, as comparable strings."""
    out = {
        f"{status['address']}:{status.get('or_port', 0)}",
        f"dir {status['address']}:{status.get('dir_port', 0)}",
    }
    out.update(status.get("or_addresses") or [])
    return sorted(out)


def _iso(seconds: int | None) -> str | None:
    if seconds is None:
        return None
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def emit_due(state: RelayState, up_to: int, geo: Any) -> list[dict[str, Any]]:
    """Snapshot rows for every buffered hour <= ``up_to``, oldest first; updates the state.

    ``geo`` has ``lookup(address) -> GeoResult``, ``source`` and ``build_date`` (udfs.tor_geoip).
    An hour already emitted (the same consensus delivered twice) yields no second row.
    """
    return [row for row, _ in emit_due_with_network(state, up_to, geo)]


def emit_due_with_network(
    state: RelayState, up_to: int, geo: Any
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """``emit_due`` with, per row, the relay's compact record for the network metrics."""
    if state.pending:
        # every hour seen so far counts, the ones still waiting included (bounded run: all)
        earliest = min(int(h) for h in state.pending)
        state.first_seen = earliest if state.first_seen is None else min(state.first_seen, earliest)
    rows = []
    for hour in sorted(int(h) for h in state.pending if int(h) <= up_to):
        status = state.pending.pop(str(hour))
        votes = state.votes.pop(str(hour), {})
        if hour in state.emitted:
            continue
        row = snapshot_row(state, hour, status, votes, geo)
        rows.append((row, network_record(state, hour, status, row)))
    # votes of hours with no consensus entry for this relay are not needed any more
    for stale in [h for h in state.votes if int(h) <= up_to]:
        del state.votes[stale]
    return rows


def derive(state: RelayState, ts: int, status: dict[str, Any]) -> dict[str, Any]:
    """first_seen, all_nicknames and last_ip_change of hour ``ts``; records the hour.

    Hours are expected in ascending order; an older hour than the newest one recorded (a late
    file in streaming mode) reads the history up to its hour and does not change it.
    """
    state.first_seen = ts if state.first_seen is None else min(state.first_seen, ts)
    nickname = status["nickname"]
    known = {n: first for n, first in state.nicknames}
    if nickname not in known or ts < known[nickname]:
        known[nickname] = ts
        state.nicknames = sorted(([n, f] for n, f in known.items()), key=lambda p: (p[1], p[0]))
    if state.last_ts is None or ts > state.last_ts:
        current = endpoints(status)
        # Only an address or port that disappeared counts (an added IPv6 address does not).
        if state.last_ts is not None and set(state.last_endpoints) - set(current):
            state.ip_changes = (state.ip_changes + [ts])[-KEEP_IP_CHANGES:]
        state.last_endpoints = current
        state.last_ts = ts
    state.emitted = sorted(set(state.emitted) | {ts})[-KEEP_EMITTED_HOURS:]
    changes = [c for c in state.ip_changes if c <= ts]
    return {
        "first_seen": state.first_seen,
        "all_nicknames": [n for n, first in state.nicknames if first <= ts],
        "last_ip_change": changes[-1] if changes else None,
    }


def network_record(
    state: RelayState, ts: int, status: dict[str, Any], row: dict[str, Any]
) -> dict[str, Any]:
    """What the hour's network metrics need of this relay (udfs.tor_metrics.hour_metrics).

    ``present``: the relay's listed hours in the uptime window ending at ``ts``;
    ``restarts``: its restart hours in that window known by ``ts``; ``fresh_until``: the
    valid-after of the next consensus (the churn pair's key).
    """
    fresh_until = int(status.get("fresh_until") or ts + HOUR_S)
    start = ts - WINDOW_CONSENSUSES * (fresh_until - ts)
    return {
        "fingerprint": row["fingerprint"],
        "ts": ts,
        "fresh_until": fresh_until,
        "flags": row["flags"],
        "cw": row["cw"],
        "asn": row["asn"],
        "country": row["country"],
        "contact": row["contact"],
        "family": row["family"],
        "first_seen": state.first_seen,
        "present": [h for h in state.emitted if start < h <= ts],
        "restarts": [r for r in state.restarts if start < r <= ts],
    }


def snapshot_row(
    state: RelayState, ts: int, status: dict[str, Any], votes: dict[str, list[str]], geo: Any
) -> dict[str, Any]:
    """The relay_snapshot row of one relay-hour, with the derived fields; updates the state."""
    derived = derive(state, ts, status)
    server = _newest_before(state.servers, ts, "published")
    extra = _newest_before(state.extras, ts, "published")
    bw = _newest_before(state.bws, ts, "measured_at")
    uptime = server.get("uptime") if server else None
    last_restarted = server["published"] - uptime if server and uptime is not None else None
    if last_restarted is not None:
        restart_hour = last_restarted - last_restarted % HOUR_S
        state.restarts = sorted(set(state.restarts) | {restart_hour})[-KEEP_RESTARTS:]
    located: GeoResult = geo.lookup(status["address"])
    auths = sorted(votes)
    return {
        "ts": _iso(ts),
        "fingerprint": status["fingerprint"],
        "nickname": status["nickname"],
        "all_nicknames": derived["all_nicknames"],
        "address_v4": status["address"],
        "address_v6": status.get("address_v6"),
        "or_port": status.get("or_port") or 0,
        "dir_port": status.get("dir_port") or 0,
        "flags": list(status.get("flags") or []),
        "flags_by_auth.auth": auths,
        "flags_by_auth.flags": [votes[a] for a in auths],
        "bw_consensus": status.get("bandwidth") or 0,
        "bw_measured": bw["bw"] if bw else None,
        "bw_observed": server.get("observed_bandwidth") if server else None,
        "bw_read": extra.get("read_last_bytes") if extra else None,
        "bw_write": extra.get("write_last_bytes") if extra else None,
        "cw": status.get("bandwidth") or 0,
        "uptime": uptime,
        "first_seen": _iso(derived["first_seen"]),
        "last_restarted": _iso(last_restarted),
        "last_ip_change": _iso(derived["last_ip_change"]),
        "exit_policy": status.get("exit_policy") or "",
        "contact": server.get("contact") if server else None,
        "family": list(server.get("family") or []) if server else [],
        "version": status.get("version") or (server.get("version") if server else "") or "",
        "platform": server.get("platform") if server else None,
        "descriptor_published": _iso(server["published"]) if server else None,
        "bw_measured_source": bw["source"] if bw else None,
        "is_uptime_rejected": bool(server.get("is_uptime_rejected")) if server else False,
        "asn": located.asn,
        "country": located.country or UNKNOWN_COUNTRY,
        "geoip_source": geo.source,
        "geoip_date": geo.build_date.isoformat(),
    }
