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

from jobs.connectors import clickhouse
from jobs.report import grafana, queries
from jobs.report.figures import naap_charts
from jobs.report.figures_analytics import analytics_charts
from jobs.report.figures_tor import tor_charts
from jobs.settings import PROJECT_ROOT, Settings

PROVISIONING = PROJECT_ROOT / "docker" / "grafana" / "provisioning"
FROM_S, TO_S = 1_514_764_800, 1_893_456_000  # 2018-01-01 .. 2030-01-01: covers the fixtures
INTERVAL_S = 300
PANEL_TYPES = {"row", "timeseries", "barchart"}


# What the plugin's macros expand to (grafana-clickhouse-datasource pkg/macros/macros.go), with
# the number of arguments each one requires (None: any, the argument is ignored).
MACROS: dict[str, tuple[int | None, Any]] = {
    "timeFilter": (1, lambda a: f"{a[0]} >= toDateTime({FROM_S}) AND {a[0]} <= toDateTime({TO_S})"),
    "timeFilter_ms": (1, lambda a: f"{a[0]} >= fromUnixTimestamp64Milli({FROM_S * 1000}) "
                                   f"AND {a[0]} <= fromUnixTimestamp64Milli({TO_S * 1000})"),
    "timeInterval": (1, lambda a: f"toStartOfInterval(toDateTime({a[0]}), INTERVAL {INTERVAL_S} second)"),
    "interval_s": (None, lambda a: str(INTERVAL_S)),
}


def macro_matches(sql: str, name: str) -> list[tuple[str, str]]:
    """Port of grafana-plugin-sdk-go sqlutil.getMacroMatches: (macro text, argument text).

    Its quirks matter: from a macro without parentheses the scan runs on to the next '(' of the
    query and swallows everything up to its ')' (write ``($__interval_s)``), and the arguments
    are split at every comma, nested or not (a macro takes a plain column, not an expression).
    """
    out = []
    for match in re.finditer(rf"\$__{name}\b", sql):
        rest = sql[match.start():]
        depth, arg_start, end = 0, 0, 0
        for i, ch in enumerate(rest):
            if depth == 0 and end > 0:
                break
            if ch == "(":
                depth += 1
                arg_start = arg_start or i + 1
            elif ch == ")":
                if depth == 0:
                    end = 0
                    break
                depth, end = depth - 1, i + 1
        end = end or match.end() - match.start()
        out.append((rest[:end], rest[arg_start:end - 1] if arg_start else ""))
    return out


def expand_macros(sql: str) -> str:
    """Expand the data source's macros as the plugin does (sqlutil.Interpolate), or fail."""
    for name, (arity, render) in MACROS.items():
        for text, arg_text in macro_matches(sql, name):
            args = [a.strip() for a in arg_text.split(",")]
            assert arity is None or len(args) == arity, f"$__{name} takes {arity} argument(s): {text!r}"
            assert arity is not None or text == f"$__{name}", f"$__{name} swallows {text!r}: write ($__{name})"
            sql = sql.replace(text, render(args))
    return sql


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
        "docker/grafana/dashboards/netpulse.json is stale: run python -m jobs.report.grafana"
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
             "rows": {name: [] for name in queries.QUERIES}, "missing_tables": []}
    charts = {c.key for c in naap_charts(empty) + analytics_charts(empty) + tor_charts(empty)}
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
            if target["queryType"] == "timeSeries":
                # Grafana's time series format needs a time column; the rest are labels/values.
                assert columns[0][1].startswith("DateTime"), (p["title"], columns[0])
                assert len(names) >= 2, p["title"]
            else:
                assert len(names) >= 2 and p["options"]["xField"] in names, (p["title"], names)
            ran += 1
    assert ran == len(grafana.NAAP_PANELS) + len(grafana.TOR_PANELS)


def test_macro_expansion_follows_the_plugin() -> None:
    assert expand_macros("SELECT $__timeInterval(ts) AS t, count() / ($__interval_s) WHERE $__timeFilter(ts)") == (
        f"SELECT toStartOfInterval(toDateTime(ts), INTERVAL {INTERVAL_S} second) AS t, count() / ({INTERVAL_S}) "
        f"WHERE ts >= toDateTime({FROM_S}) AND ts <= toDateTime({TO_S})"
    )
    # The plugin's quirks: a bare macro swallows up to the next parenthesised group; commas split.
    assert macro_matches("x / $__interval_s AS r WHERE f(ts)", "interval_s") == [("$__interval_s AS r WHERE f(ts)", "ts")]
    with pytest.raises(AssertionError, match="takes 1 argument"):
        expand_macros("WHERE $__timeFilter_ms(ifNull(a, b))")
    with pytest.raises(AssertionError, match="swallows"):
        expand_macros("x / $__interval_s AS r WHERE $__timeFilter(ts)")
