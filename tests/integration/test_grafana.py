"""The provisioned Grafana dashboard (no Grafana here): structure, data source, and SQL.

Every panel's SQL runs on the migrated embedded ClickHouse schema once the Grafana macros are
expanded the way grafana-clickhouse-datasource expands them, so a renamed column or table
breaks this test instead of a production panel.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

from jobs import clickhouse, grafana, report_queries
from jobs.report_figures import naap_charts
from jobs.report_figures_tor import tor_charts
from jobs.settings import PROJECT_ROOT, Settings

PROVISIONING = PROJECT_ROOT / "docker" / "grafana" / "provisioning"
FROM_S, TO_S = 1_514_764_800, 1_893_456_000  # 2018-01-01 .. 2030-01-01: covers the fixtures
INTERVAL_S = 300
PANEL_TYPES = {"row", "timeseries", "barchart"}


def expand_macros(sql: str) -> str:
    """Expand the data source's macros for a fixed time range and interval."""
    def balanced(name: str, text: str, render: Any) -> str:
        # Arguments may hold parentheses (ifNull(...)): match them by depth.
        out, i = [], 0
        token = f"$__{name}("
        while (j := text.find(token, i)) >= 0:
            k, depth = j + len(token), 1
            while depth:
                depth += {"(": 1, ")": -1}.get(text[k], 0)
                k += 1
            out.append(text[i:j] + render(text[j + len(token):k - 1]))
            i = k
        return "".join(out) + text[i:]

    sql = balanced("timeFilter_ms", sql, lambda c: f"{c} >= fromUnixTimestamp64Milli({FROM_S * 1000}) "
                                                   f"AND {c} <= fromUnixTimestamp64Milli({TO_S * 1000})")
    sql = balanced("timeFilter", sql, lambda c: f"{c} >= toDateTime({FROM_S}) AND {c} <= toDateTime({TO_S})")
    sql = balanced("timeInterval", sql,
                   lambda c: f"toStartOfInterval(toDateTime({c}), INTERVAL {INTERVAL_S} second)")
    return sql.replace("$__interval_s", str(INTERVAL_S))


@pytest.fixture(scope="module")
def board() -> dict[str, Any]:
    return json.loads(grafana.DASHBOARD_PATH.read_text())


@pytest.fixture(scope="module")
def datasource() -> dict[str, Any]:
    config = yaml.safe_load((PROVISIONING / "datasources" / "clickhouse.yaml").read_text())
    (source,) = config["datasources"]
    return source


def test_dashboard_file_is_generated_from_jobs_grafana() -> None:
    assert grafana.DASHBOARD_PATH.read_text() == grafana.render(), (
        "docker/grafana/dashboards/netpulse.json is stale: run python -m jobs.grafana"
    )


def test_dashboard_structure(board: dict[str, Any]) -> None:
    assert board["uid"] == "netpulse" and board["title"]
    panels = board["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    cells: set[tuple[int, int]] = set()
    for p in panels:
        assert p["type"] in PANEL_TYPES, p["title"]
        pos = p["gridPos"]
        assert 0 <= pos["x"] and pos["x"] + pos["w"] <= 24 and pos["h"] > 0, p["title"]
        mine = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])}
        assert not mine & cells, f"{p['title']} overlaps another panel"
        cells |= mine
        if p["type"] != "row":
            (target,) = p["targets"]
            assert target["rawSql"].strip() and target["refId"] == "A"
            assert p["title"] and p["fieldConfig"]["defaults"]["unit"]


def test_every_panel_uses_the_provisioned_datasource(board: dict[str, Any], datasource: dict[str, Any]) -> None:
    assert datasource["type"] == "grafana-clickhouse-datasource"
    expected = {"type": datasource["type"], "uid": datasource["uid"]}
    for p in board["panels"]:
        if p["type"] != "row":
            assert p["datasource"] == expected, p["title"]
            assert all(t["datasource"] == expected for t in p["targets"]), p["title"]


def test_datasource_reaches_the_compose_clickhouse_without_committed_secrets(datasource: dict[str, Any]) -> None:
    compose = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())
    grafana_env = compose["services"]["grafana"]["environment"]
    assert datasource["jsonData"]["host"] in compose["services"]
    assert f"{datasource['jsonData']['port']}" in compose["services"]["clickhouse"]["ports"][0]
    assert datasource["jsonData"]["protocol"] == "http"
    for key, value in (("username", datasource["jsonData"]["username"]),
                       ("password", datasource["secureJsonData"]["password"])):
        variable = re.fullmatch(r"\$\{?([A-Z_]+)\}?", value)
        assert variable, f"{key} must come from the environment, not be committed: {value!r}"
        assert variable.group(1) in grafana_env, f"{variable.group(1)} is not set for the grafana service"


def test_panels_cover_every_report_chart() -> None:
    empty = {"bucket_s": 60, "naap_span": (None, None, 0),
             "rows": {name: [] for name in report_queries.QUERIES}, "missing_tables": []}
    charts = {c.key for c in naap_charts(empty) + tor_charts(empty)}
    assert {p.chart for p in grafana.NAAP_PANELS + grafana.TOR_PANELS} == charts


def test_every_panel_sql_runs_on_the_migrated_schema(migrated: Settings, board: dict[str, Any]) -> None:
    client = clickhouse.connect(migrated)
    ran = 0
    for p in board["panels"]:
        for target in p.get("targets", []):
            sql = expand_macros(target["rawSql"])
            assert "$" not in sql, f"{p['title']}: unexpanded macro in\n{sql}"
            with clickhouse.lock():
                client.query(sql)  # runs (an empty schema: no rows)
                columns = client.query(f"DESCRIBE ({sql})").result_rows
            names = [c[0] for c in columns]
            if target["queryType"] == "timeseries":
                # Grafana's time series format needs a time column; the rest are labels/values.
                assert columns[0][1].startswith("DateTime"), (p["title"], columns[0])
                assert len(names) >= 2, p["title"]
            else:
                assert len(names) >= 2 and p["options"]["xField"] in names, (p["title"], names)
            ran += 1
    assert ran == len(grafana.NAAP_PANELS) + len(grafana.TOR_PANELS)


def test_macro_expansion_handles_nested_arguments() -> None:
    sql = expand_macros("SELECT $__timeInterval(ifNull(a, b)) WHERE $__timeFilter_ms(ifNull(a, b)) AND $__timeFilter(ts)")
    assert sql == (
        f"SELECT toStartOfInterval(toDateTime(ifNull(a, b)), INTERVAL {INTERVAL_S} second) "
        f"WHERE ifNull(a, b) >= fromUnixTimestamp64Milli({FROM_S * 1000}) AND ifNull(a, b) <= "
        f"fromUnixTimestamp64Milli({TO_S * 1000}) AND ts >= toDateTime({FROM_S}) AND ts <= toDateTime({TO_S})"
    )
