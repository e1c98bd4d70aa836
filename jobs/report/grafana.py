"""The production Grafana dashboard: the report's charts as live panels over ClickHouse.

``python -m jobs.report.grafana`` writes docker/grafana/dashboards/netpulse.json from the panel SQL
below; docker-compose.yml provisions it with the ClickHouse data source
(docker/grafana/provisioning/). A test checks the file is up to date, that every panel's SQL
runs on the migrated schema once the Grafana macros are expanded, and that the panels cover
every chart of the HTML report (``chart`` names the report chart a panel shows).

Macros (grafana-clickhouse-datasource): ``$__timeFilter(col)`` / ``$__timeFilter_ms(col)`` keep
the dashboard's time range (DateTime / DateTime64 columns), ``$__timeInterval(col)`` buckets
by Grafana's interval for the panel width, ``($__interval_s)`` is that interval in seconds.
The plugin's parser wants plain columns as macro arguments (it splits at every comma) and a
bare macro in parentheses (otherwise it swallows the text up to the next parenthesised group).
Tor panels insert nulls after an hour without a point (``insertNulls``): a missing consensus
hour is a gap, never an interpolated line.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobs.report import grafana_analytics as analytics
from jobs.settings import PROJECT_ROOT

DATASOURCE_UID = "netpulse-clickhouse"
DATASOURCE = {"type": "grafana-clickhouse-datasource", "uid": DATASOURCE_UID}
DASHBOARD_PATH = PROJECT_ROOT / "docker" / "grafana" / "dashboards" / "netpulse.json"
HOUR_MS = 3_600_000

# grain: one row per orchestrator with latencies in range (quantiles of per-request values)
LATENCY_DISTRIBUTION = """SELECT
    orchestrator_address AS orchestrator,
    quantileExactInclusive(0.05)(metric_value) AS p5_ms,
    quantileExactInclusive(0.5)(metric_value) AS p50_ms,
    quantileExactInclusive(0.95)(metric_value) AS p95_ms,
    max(metric_value) AS max_ms
FROM naap.calculated_metrics
WHERE metric_name = 'prompt_to_first_frame_latency' AND $__timeFilter_ms(metric_timestamp)
GROUP BY orchestrator ORDER BY p50_ms"""

# grain: one row per (interval, orchestrator, quantile)
LATENCY_OVER_TIME = """SELECT t, series, value FROM (
    SELECT $__timeInterval(metric_timestamp) AS t, orchestrator_address AS orch,
        quantileExactInclusive(0.5)(metric_value) AS p50, quantileExactInclusive(0.95)(metric_value) AS p95
    FROM naap.calculated_metrics
    WHERE metric_name = 'prompt_to_first_frame_latency' AND $__timeFilter_ms(metric_timestamp)
    GROUP BY t, orch
) ARRAY JOIN [concat(orch, ' p50'), concat(orch, ' p95')] AS series, [p50, p95] AS value
ORDER BY t"""

# grain: one row per (5-minute window, orchestrator): mean jitter of its streams' windows
JITTER_BY_ORCHESTRATOR = """SELECT window_start AS t, orchestrator_address AS orchestrator, avg(metric_value) AS jitter
FROM naap.calculated_metrics
WHERE metric_name = 'jitter_coefficient' AND $__timeFilter_ms(window_start)
GROUP BY t, orchestrator ORDER BY t"""

# grain: one row per stream (the 20 with most jitter windows in range)
JITTER_BY_STREAM = """SELECT stream_id, any(orchestrator_address) AS orchestrator, count() AS windows,
    avg(metric_value) AS mean_jitter, max(metric_value) AS max_jitter
FROM naap.calculated_metrics
WHERE metric_name = 'jitter_coefficient' AND $__timeFilter_ms(window_start)
GROUP BY stream_id ORDER BY windows DESC, stream_id LIMIT 20"""

# grain: one row per interval: status samples used and warm-up samples excluded
SAMPLE_COUNTS = """SELECT $__timeInterval(window_start) AS t,
    sum(metric_value) - sum(JSONExtractUInt(metric_metadata, 'warmup_sample_count')) AS samples_used,
    sum(JSONExtractUInt(metric_metadata, 'warmup_sample_count')) AS warmup_samples
FROM naap.calculated_metrics
WHERE metric_name = 'status_sample_count' AND $__timeFilter_ms(window_start)
GROUP BY t ORDER BY t"""

# grain: one row per jitter status
JITTER_STATUS = """SELECT JSONExtractString(metric_metadata, 'jitter') AS status, count() AS windows
FROM naap.calculated_metrics
WHERE metric_name = 'status_sample_count' AND $__timeFilter_ms(window_start)
GROUP BY status ORDER BY windows DESC"""

# grain: one row per (interval, stage: reason); event time, else the time of the reject
# (computed in a subquery: a macro argument must be a plain column, the plugin splits at commas)
DEAD_LETTERS = """SELECT $__timeInterval(reject_time) AS t, stage_reason, count() AS rejects
FROM (
    SELECT ifNull(event_timestamp, toDateTime64(ingestion_timestamp, 3, 'UTC')) AS reject_time,
        concat(stage, ': ', reason) AS stage_reason
    FROM naap.dead_letter FINAL
)
WHERE $__timeFilter_ms(reject_time)
GROUP BY t, stage_reason ORDER BY t"""

# grain: one row per (interval, event type): events per minute of event time
INGEST_RATES = """SELECT $__timeInterval(event_timestamp) AS t, toString(event_type) AS event_type,
    count() * 60 / ($__interval_s) AS events_per_min
FROM naap.raw_events
WHERE $__timeFilter_ms(event_timestamp)
GROUP BY t, event_type ORDER BY t"""

# grain: one row per consensus hour present
TOR_NETWORK = """SELECT ts AS t, sum(relays) AS relays, sum(guard_relays) AS guards, sum(exit_relays) AS exits
FROM tor.network_hour_stats
WHERE $__timeFilter(ts)
GROUP BY t ORDER BY t"""

# grain: one row per (consensus hour, country) for the 8 countries with most weight in range
TOR_COUNTRY_RELAYS = """SELECT ts AS t, toString(country) AS country, sum(relays) AS relays
FROM tor.country_hour_stats
WHERE $__timeFilter(ts) AND country IN (
    SELECT country FROM tor.country_hour_stats WHERE $__timeFilter(ts)
    GROUP BY country ORDER BY sum(cw_sum) DESC LIMIT 8)
GROUP BY t, country ORDER BY t"""

# grain: one row per (consensus hour, country): share of the hour's consensus weight (%)
TOR_COUNTRY_WEIGHT = """SELECT ts AS t, toString(country) AS country,
    100 * sum(cw_sum) / any(total) AS cw_share_pct
FROM tor.country_hour_stats
INNER JOIN (SELECT ts, sum(cw_sum) AS total FROM tor.country_hour_stats WHERE $__timeFilter(ts) GROUP BY ts) AS h
    USING ts
WHERE $__timeFilter(ts) AND country IN (
    SELECT country FROM tor.country_hour_stats WHERE $__timeFilter(ts)
    GROUP BY country ORDER BY sum(cw_sum) DESC LIMIT 8)
GROUP BY t, country ORDER BY t"""

# grain: one row per (consensus hour, AS) for the 8 ASes with most weight in range
TOR_AS_RELAYS = """SELECT ts AS t, concat('AS', toString(asn)) AS as_name, count() AS relays
FROM tor.relay_snapshot
WHERE $__timeFilter(ts) AND asn IN (
    SELECT asn FROM tor.relay_snapshot WHERE $__timeFilter(ts)
    GROUP BY asn ORDER BY sum(toUInt64(cw)) DESC LIMIT 8)
GROUP BY t, as_name ORDER BY t"""

# grain: one row per (consensus hour, AS): share of the hour's consensus weight (%)
TOR_AS_WEIGHT = """SELECT ts AS t, concat('AS', toString(asn)) AS as_name,
    100 * sum(toUInt64(cw)) / any(total) AS cw_share_pct
FROM tor.relay_snapshot
INNER JOIN (SELECT ts, sum(toUInt64(cw)) AS total FROM tor.relay_snapshot WHERE $__timeFilter(ts) GROUP BY ts) AS h
    USING ts
WHERE $__timeFilter(ts) AND asn IN (
    SELECT asn FROM tor.relay_snapshot WHERE $__timeFilter(ts)
    GROUP BY asn ORDER BY sum(toUInt64(cw)) DESC LIMIT 8)
GROUP BY t, as_name ORDER BY t"""

# grain: one row per (consensus hour, flag)
TOR_FLAGS = """SELECT ts AS t, flag, sum(relays) AS relays
FROM (SELECT ts, flags, count() AS relays FROM tor.relay_snapshot WHERE $__timeFilter(ts) GROUP BY ts, flags)
ARRAY JOIN flags AS flag
GROUP BY t, flag ORDER BY t"""

# grain: one row per (UTC day, release series x.y.z): relays, mean over the day's consensuses
TOR_VERSIONS = """SELECT toDateTime(v.day) AS t,
    if(v.version = '', 'unknown',
       arrayStringConcat(arraySlice(splitByChar('.', toString(v.version)), 1, 3), '.')) AS series,
    sum(v.relays) / any(h.consensuses) AS relays
FROM tor.version_day_stats AS v
INNER JOIN (SELECT toDate(ts) AS day, uniqExact(ts) AS consensuses FROM tor.network_hour_stats
            WHERE $__timeFilter(ts) GROUP BY day) AS h ON v.day = h.day
GROUP BY t, series ORDER BY t"""


# grain: one row per (consensus hour, churn series); no row where the previous consensus is missing
TOR_CHURN = """SELECT ts AS t,
    concat(toString(subject), if(metric_name = 'flag_joined_share', ' joined', ' left')) AS series,
    100 * metric_value AS share_pct
FROM tor.network_hour_metrics FINAL
WHERE $__timeFilter(ts) AND metric_name IN ('flag_joined_share', 'flag_left_share')
    AND subject IN ('listed', 'Guard', 'Exit') AND metric_version = 1
ORDER BY t"""

# grain: one row per (consensus hour, grouping): HHI of consensus weight
TOR_CONCENTRATION = """SELECT ts AS t, toString(subject) AS grouping, metric_value AS hhi
FROM tor.network_hour_metrics FINAL
WHERE $__timeFilter(ts) AND metric_name = 'cw_hhi' AND metric_version = 1
ORDER BY t"""


@dataclass(frozen=True)
class Panel:
    """One dashboard panel: its report chart, title, visualization, SQL and display options."""

    chart: str
    title: str
    kind: str  # Grafana panel type
    sql: str
    unit: str = "short"
    width: int = 12
    height: int = 9
    table: bool = False  # query format: table (else time series)
    custom: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)


LINES = {"drawStyle": "line", "lineWidth": 2, "showPoints": "always", "pointSize": 5, "spanNulls": False}
HOURLY = {**LINES, "insertNulls": HOUR_MS}
POINTS = {"drawStyle": "points", "pointSize": 7, "showPoints": "always"}
BARS = {"drawStyle": "bars", "fillOpacity": 80, "lineWidth": 1, "stacking": {"mode": "normal", "group": "A"}}
HBAR = {
    "orientation": "horizontal",
    "showValue": "auto",
    "legend": {"showLegend": True, "displayMode": "list", "placement": "bottom"},
}

NAAP_PANELS = (
    Panel("latency_distribution", "Prompt to first frame: latency per orchestrator", "barchart",
          LATENCY_DISTRIBUTION, "ms", table=True, options={**HBAR, "xField": "orchestrator"}),
    Panel("latency_over_time", "Prompt to first frame: p50 / p95 over time", "timeseries", LATENCY_OVER_TIME, "ms",
          custom=LINES),
    Panel("jitter_by_orchestrator", "Jitter per 5-minute window, by orchestrator", "timeseries",
          JITTER_BY_ORCHESTRATOR, custom=POINTS),
    Panel("jitter_by_stream", "Jitter per stream", "barchart", JITTER_BY_STREAM, table=True,
          options={**HBAR, "xField": "stream_id"}),
    Panel("sample_counts", "Status samples and warm-up", "timeseries", SAMPLE_COUNTS, custom=BARS),
    Panel("jitter_status", "Jitter windows by status", "barchart", JITTER_STATUS, table=True,
          options={**HBAR, "orientation": "vertical", "xField": "status"}),
    Panel("dead_letters", "Dead letters by stage and reason", "timeseries", DEAD_LETTERS, custom=BARS),
    Panel("ingest_rates", "Ingest rate per event type (events/min)", "timeseries", INGEST_RATES,
          custom={**BARS, "fillOpacity": 70}),
    Panel("orchestrator_scorecard", "Orchestrator scorecard (latest hour: score, components in %)", "barchart",
          analytics.SCORECARD, width=24, table=True, options={**HBAR, "xField": "subject"}),
    Panel("orchestrator_score_hours", "Orchestrator score by hour", "timeseries", analytics.SCORE_HOURS,
          custom=HOURLY),
    Panel("demand_supply", "Demand vs supply (sessions) by gateway and pipeline", "timeseries",
          analytics.DEMAND_SUPPLY, custom={**BARS, "stacking": {"mode": "none", "group": "A"}}),
    Panel("capacity_pipelines", "Capacity per pipeline: available vs total", "timeseries",
          analytics.CAPACITY_PIPELINES, custom=HOURLY),
    Panel("capacity_orchestrators", "Capacity per orchestrator (latest hour)", "barchart",
          analytics.CAPACITY_ORCHESTRATORS, table=True,
          options={**HBAR, "xField": "subject", "stacking": "normal"}),
)
TOR_PANELS = (
    Panel("tor_network", "Tor network: relays per consensus hour", "timeseries", TOR_NETWORK, width=24, height=8,
          custom=HOURLY),
    Panel("tor_countries", "Relays by country", "timeseries", TOR_COUNTRY_RELAYS, custom=HOURLY),
    Panel("tor_countries", "Consensus weight by country (%)", "timeseries", TOR_COUNTRY_WEIGHT, "percent",
          custom=HOURLY),
    Panel("tor_ases", "Relays by AS", "timeseries", TOR_AS_RELAYS, custom=HOURLY),
    Panel("tor_ases", "Consensus weight by AS (%)", "timeseries", TOR_AS_WEIGHT, "percent", custom=HOURLY),
    Panel("tor_flags", "Relay flags over time", "timeseries", TOR_FLAGS, custom=HOURLY),
    Panel("tor_versions", "Tor versions (relays, daily mean)", "timeseries", TOR_VERSIONS, custom=BARS),
    Panel("tor_churn", "Churn between consecutive consensuses (%)", "timeseries", TOR_CHURN, "percent",
          custom=HOURLY),
    Panel("tor_concentration", "Concentration of consensus weight (HHI)", "timeseries", TOR_CONCENTRATION,
          custom=HOURLY),
    Panel("tor_top_shares", "Consensus weight of the largest groups (%)", "timeseries", analytics.TOR_TOP_SHARES,
          "percent", custom=HOURLY),
    Panel("tor_path_probabilities", "Path selection probabilities (latest consensus, %)", "barchart",
          analytics.TOR_PATH_PROBABILITIES, table=True, options={**HBAR, "xField": "relay"}),
    Panel("tor_uptime_flagged", "Relays with identical uptime patterns (for review)", "timeseries",
          analytics.TOR_UPTIME_FLAGGED, custom=HOURLY),
)


def panel_json(panel: Panel, panel_id: int, x: int, y: int) -> dict[str, Any]:
    """One Grafana panel (schema of dashboards v1, as Grafana 12 exports them)."""
    return {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "datasource": DATASOURCE,
        "gridPos": {"x": x, "y": y, "w": panel.width, "h": panel.height},
        "fieldConfig": {"defaults": {"unit": panel.unit, "custom": dict(panel.custom)}, "overrides": []},
        "options": {"legend": {"showLegend": True, "displayMode": "list", "placement": "bottom"},
                    "tooltip": {"mode": "multi", "sort": "desc"}, **panel.options},
        "targets": [{
            "refId": "A",
            "datasource": DATASOURCE,
            "editorType": "sql",
            "queryType": "table" if panel.table else "timeSeries",
            "format": 1 if panel.table else 0,  # sqlutil.FormatQueryOption: 0 time series, 1 table
            "rawSql": panel.sql,
        }],
    }


def row_json(title: str, panel_id: int, y: int) -> dict[str, Any]:
    """A collapsible row panel titled ``title`` at height ``y`` of the dashboard."""
    return {"id": panel_id, "type": "row", "title": title, "collapsed": False,
            "gridPos": {"x": 0, "y": y, "w": 24, "h": 1}, "panels": []}


def dashboard() -> dict[str, Any]:
    """The whole dashboard: a row per domain, panels two per line (or full width)."""
    panels: list[dict[str, Any]] = []
    y = 0
    for title, group in (("Livepeer NaaP", NAAP_PANELS), ("Tor relays", TOR_PANELS)):
        panels.append(row_json(title, len(panels) + 1, y))
        y += 1
        x, line_height = 0, 0
        for panel in group:
            if x + panel.width > 24:
                x, y, line_height = 0, y + line_height, 0
            panels.append(panel_json(panel, len(panels) + 1, x, y))
            x, line_height = x + panel.width, max(line_height, panel.height)
        y += line_height
    return {
        "uid": "netpulse",
        "title": "netpulse",
        "description": "Livepeer NaaP telemetry and Tor relay history (the panels of python -m jobs report)",
        "tags": ["netpulse", "livepeer", "tor"],
        "timezone": "utc",
        "editable": False,
        "graphTooltip": 1,
        "schemaVersion": 41,
        "version": 1,
        "refresh": "1m",
        "time": {"from": "now-7d", "to": "now"},
        "templating": {"list": []},
        "annotations": {"list": []},
        "panels": panels,
    }


def render() -> str:
    """The dashboard file's text (stable: sorted keys, two-space indent)."""
    return json.dumps(dashboard(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    """``python -m jobs.report.grafana [PATH]``: write the dashboard JSON."""
    if argv and argv[0].startswith("-"):
        print("usage: python -m jobs.report.grafana [PATH]  (writes the dashboard JSON; default: "
              f"{DASHBOARD_PATH})", file=sys.stderr)
        return 0 if argv[0] in ("-h", "--help") else 2
    path = Path(argv[0]) if argv else DASHBOARD_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(), encoding="utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
