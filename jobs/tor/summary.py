"""Reading tor.relay_snapshot's aggregates back: the short network summary of the CLI."""

from __future__ import annotations

from typing import Any

from jobs.connectors import clickhouse
from jobs.settings import Settings

# grain: one row per consensus hour (the newest one)
_LATEST_HOUR = """
SELECT ts, sum(relays), sum(exit_relays), sum(guard_relays), sum(cw_sum),
    quantileMerge(0.5)(median_uptime)
FROM tor.network_hour_stats
GROUP BY ts ORDER BY ts DESC LIMIT 1
"""
# grain: one row per country of that hour
_TOP_COUNTRIES = """
SELECT country, sum(relays) AS relays, sum(cw_sum) AS cw
FROM tor.country_hour_stats WHERE ts = {ts:DateTime('UTC')}
GROUP BY country ORDER BY cw DESC, country LIMIT {limit:UInt32}
"""


def network_summary(settings: Settings, top: int = 5) -> dict[str, Any]:
    """The newest consensus hour in ClickHouse: relays, exits, guards, top countries by weight."""
    client = clickhouse.connect(settings)
    with clickhouse.lock():
        latest = client.query(_LATEST_HOUR).result_rows
        if not latest:
            return {}
        ts, relays, exits, guards, cw_total, median_uptime = latest[0]
        countries = client.query(_TOP_COUNTRIES, parameters={"ts": ts, "limit": top}).result_rows
    return {
        "ts": ts,
        "relays": int(relays),
        "exit_relays": int(exits),
        "guard_relays": int(guards),
        "cw_sum": int(cw_total),
        "median_uptime_s": None if median_uptime != median_uptime else float(median_uptime),
        "top_countries": [
            {
                "country": c.decode() if isinstance(c, bytes) else c,
                "relays": int(r),
                "cw_fraction": (int(w) / int(cw_total)) if cw_total else 0.0,
            }
            for c, r, w in countries
        ],
    }


def format_summary(summary: dict[str, Any]) -> str:
    """Human-readable lines for network_summary()."""
    if not summary:
        return "tor: no consensus in tor.relay_snapshot yet"
    lines = [
        f"tor network at {summary['ts']:%Y-%m-%d %H:%M} UTC: {summary['relays']} relays, "
        f"{summary['exit_relays']} exits, {summary['guard_relays']} guards",
        "top countries by consensus weight:",
    ]
    for c in summary["top_countries"]:
        lines.append(f"  {c['country']}  {c['cw_fraction']:6.1%}  ({c['relays']} relays)")
    return "\n".join(lines)


def print_summary(settings: Settings, top: int = 5) -> None:
    """Print the short network summary (the CLI's ``tor`` command ends with this)."""
    print(format_summary(network_summary(settings, top)))
