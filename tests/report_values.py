"""What the report's analytics charts plot, and the same values read independently from ClickHouse.

    python tests/report_values.py VAR_DIR OUT_JSON

Runs in its own process (chDB: one database directory per process). Writes ``{"charts": {key:
[trace, ...]}, "db": {name: rows}}``: every trace (name, x, y, customdata) of the analytics
charts as jobs/report/page.py builds them, and reference rows queried here from the metric tables
themselves (calculated_metrics rows rather than the chart queries' aggregates where the chart
reads a view or an aggregate), so tests/integration/test_report.py can compare the two.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from jobs import settings
from jobs.connectors import clickhouse
from jobs.report import queries
from jobs.report.figures_analytics import analytics_charts
from jobs.report.figures_tor import tor_charts

# grain: one row per orchestrator x pipeline x hour: the two component rows the job wrote
COMPONENTS = """
SELECT toString(c.metric_timestamp) AS hour, c.orchestrator_address AS orchestrator, toString(c.pipeline) AS pipeline,
    c.metric_value AS coverage, r.metric_value AS reliability
FROM (SELECT * FROM naap.calculated_metrics WHERE metric_name = 'orchestrator_coverage') AS c
INNER JOIN (SELECT * FROM naap.calculated_metrics WHERE metric_name = 'orchestrator_reliability') AS r
    ON c.metric_timestamp = r.metric_timestamp AND c.orchestrator_address = r.orchestrator_address
    AND c.pipeline = r.pipeline
"""
# grain: one row per orchestrator x pipeline x hour of the view
SCORES = """
SELECT toString(hour) AS hour, orchestrator_address AS orchestrator, toString(pipeline) AS pipeline, score
FROM naap.orchestrator_scorecard
"""
# grain: one row per gateway x pipeline x demand metric: its sum over every hour
DEMAND = """
SELECT gateway, toString(pipeline) AS pipeline, metric_name, sum(metric_value) AS total
FROM naap.calculated_metrics WHERE metric_category = 'demand'
GROUP BY gateway, pipeline, metric_name
"""
# grain: one row per capacity metric row (orchestrator x pipeline x model x hour)
CAPACITY = """
SELECT toString(metric_timestamp) AS hour, orchestrator_address AS orchestrator, toString(pipeline) AS pipeline,
    model_id, metric_name, metric_value
FROM naap.calculated_metrics WHERE metric_category = 'capacity'
"""
# grain: one row per relay x consensus hour with probabilities
PROBABILITIES = """
SELECT toString(ts) AS ts, hex(fingerprint) AS fingerprint, guard_probability, middle_probability,
    exit_probability, cw_fraction
FROM tor.relay_hour_metrics FINAL WHERE guard_probability IS NOT NULL
"""
# grain: one row per Tor network metric row of the charts
NETWORK = """
SELECT toString(ts) AS ts, metric_name, toString(subject) AS subject, metric_value, metric_metadata
FROM tor.network_hour_metrics FINAL
WHERE metric_name LIKE 'cw_top%' OR metric_name IN ('uptime_pattern_flagged_relays', 'cw_hhi', 'flag_joined_share',
                                                      'flag_left_share')
"""


def _traces(figure: Any) -> list[dict[str, Any]]:
    if figure is None:
        return []
    return [{"name": t.name, "meta": t.meta, "x": list(t.x) if t.x is not None else [], "y": list(t.y) if t.y is not None else [],
             "customdata": list(t.customdata) if t.customdata is not None else []} for t in figure.data]


def main(var_dir: Path, out: Path) -> None:
    config = settings.load({"NETPULSE_VAR_DIR": str(var_dir)})
    data = queries.fetch(config)
    charts = {c.key: _traces(c.figure) for c in analytics_charts(data) + tor_charts(data)}
    client = clickhouse.connect(config)
    db: dict[str, list[dict[str, Any]]] = {}
    with clickhouse.lock():
        for name, sql in (("components", COMPONENTS), ("scores", SCORES), ("demand", DEMAND),
                          ("capacity", CAPACITY), ("probabilities", PROBABILITIES), ("network", NETWORK)):
            result = client.query(sql)
            db[name] = [dict(zip(result.column_names, r, strict=True)) for r in result.result_rows]
    out.write_text(json.dumps({"charts": charts, "db": db, "bucket_s": data["bucket_s"]}, default=str))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
