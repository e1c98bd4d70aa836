"""The HTML report end to end: real pipelines fill an embedded ClickHouse, the CLI renders the
report, headless Chromium opens it and every chart must have drawn data marks.

The database is filled by the real commands in their own processes (chDB: one database
directory per process): ``python -m jobs demo`` (bundled real gateway events through the naap
pipeline; the demo also writes the report and says where) and ``python -m jobs tor`` (bundled
real Tor documents). A screenshot of each rendered page is kept in the test's tmp dir (path
printed; ``pytest -s`` shows it).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
# NaaP 8 + 5 analytics (scorecard, score by hour, demand vs supply, capacity per pipeline and per
# orchestrator), Tor 7 + 3 (top-k shares, path probabilities, uptime patterns)
CHARTS = 23
SECTION = re.compile(r'<section class="chart[^"]*" data-chart="([^"]+)" data-has-data="(\w+)">(.*?)</section>', re.S)
# A drawn data mark: a marker (path.point), a bar (g.point > path), a line (path.js-line) or a
# box (path.box) whose path has coordinates.
MARK = re.compile(r'<path\b[^>]*\bclass="(?:point|js-line|box)(?: [^"]*)?"[^>]*\bd="M[^"]+"|'
                  r'<path\b[^>]*\bd="M[^"]+"[^>]*\bclass="(?:point|js-line|box)(?: [^"]*)?"|'
                  r'<g class="point"><path\b[^>]*\bd="M[^"]+"')

needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (scripts/setup.sh installs it with apt-get when root)"
)


def plot_area(section: str) -> str:
    """The SVG of a chart's plot area (axes and traces) without its legend, whose symbols
    would count as marks even for an empty plot."""
    start = section.find('<g class="cartesianlayer"')
    return section[start:section.find('<g class="polarlayer"', start)] if start >= 0 else ""


def cli(var_dir: Path, *args: str, timeout: int = 900) -> str:
    """Run ``python -m jobs ARGS`` on ``var_dir``'s embedded database; return its stdout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NETPULSE_")}
    env.update({"NETPULSE_VAR_DIR": str(var_dir), "PYTHONPATH": str(ROOT)})
    done = subprocess.run([sys.executable, "-m", "jobs", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert done.returncode == 0, f"jobs {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
    return done.stdout


def chromium(page: Path, *flags: str) -> str:
    """Load ``page`` in headless Chromium (virtual time lets the scripts finish); return stdout."""
    assert CHROMIUM is not None
    done = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--virtual-time-budget=20000", *flags, page.resolve().as_uri()],
        capture_output=True, text=True, timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def screenshot(page: Path, out: Path) -> Path:
    chromium(page, f"--screenshot={out}", "--window-size=1400,7800")
    assert out.stat().st_size > 20_000, "the screenshot is (nearly) blank"
    print(f"\nreport screenshot: {out}")
    return out


@pytest.fixture(scope="module")
def populated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A var dir whose embedded ClickHouse holds the demo's NaaP tables and the Tor tables."""
    var = tmp_path_factory.mktemp("report-var")
    demo_out = cli(var, "demo")
    cli(var, "tor")
    return var, demo_out


@pytest.mark.slow
def test_demo_says_where_the_report_is(populated: tuple[Path, str]) -> None:
    var, demo_out = populated
    match = re.search(r"^Report \(open in a browser\): (\S+) ", demo_out, re.M)
    assert match, demo_out[-2000:]
    assert Path(match.group(1)) == var / "report.html"
    assert (var / "report.html").stat().st_size > 1_000_000  # plotly.js is inline


@pytest.mark.slow
@needs_chromium
def test_every_chart_draws_data_in_a_browser(populated: tuple[Path, str], tmp_path: Path) -> None:
    var, _ = populated
    page = tmp_path / "report.html"
    started = time.monotonic()
    out = cli(var, "report", "--out", str(page))
    print(f"\nreport built in {time.monotonic() - started:.1f} s (process included): {out.strip()}")
    dom = chromium(page, "--dump-dom")
    sections = SECTION.findall(dom)
    assert len(sections) == CHARTS
    for key, has_data, body in sections:
        assert has_data == "True", f"{key}: no rows from the populated database"
        assert 'class="main-svg"' in body, f"{key}: plotly drew no SVG"
        assert len(MARK.findall(plot_area(body))) > 0, f"{key}: the plot area has no data marks"
        assert "no data" not in body, key
    # The Tor fixtures hold a 2012 consensus and three hours of 2018-06-01: the gap is counted.
    assert re.search(r"4 consensus hours, 2012-07-12 10:00 – 2018-06-01 02:00 UTC; 51,589 missing", dom)
    screenshot(page, tmp_path / "report.png")


@pytest.mark.slow
@needs_chromium
def test_empty_database_says_no_data(tmp_path: Path) -> None:
    var = tmp_path / "var"
    pages = []
    for step in ("not migrated", "migrated"):
        if step == "migrated":
            cli(var, "migrate")
        page = tmp_path / f"report-{step.replace(' ', '-')}.html"
        cli(var, "report", "--out", str(page))
        pages.append(page)
        dom = chromium(page, "--dump-dom")
        sections = SECTION.findall(dom)
        assert len(sections) == CHARTS, step
        for key, has_data, body in sections:
            assert has_data == "False" and '<div class="no-data">no data</div>' in body, (step, key)
            assert 'class="main-svg"' not in body, (step, key)
    assert "Tables not found (run python -m jobs migrate)" in pages[0].read_text()
    screenshot(pages[1], tmp_path / "report-empty.png")


def _hour(text: str) -> str:
    """``2026-02-25 20:00:00.000`` or a datetime's ``str`` -> ``2026-02-25 20:00:00``."""
    return str(text)[:19]


def _plotted(trace: dict) -> list[tuple[str, float]]:
    """(x, y) of a line's points, without the None points that break it at a gap."""
    return [(_hour(x), y) for x, y in zip(trace["x"], trace["y"], strict=True) if y is not None]


@pytest.fixture(scope="module")
def plotted(populated: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The analytics charts' traces and reference rows (tests/report_values.py, own process)."""
    var, _ = populated
    out = tmp_path_factory.mktemp("report-values") / "values.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("NETPULSE_")}
    env.update({"PYTHONPATH": str(ROOT)})
    done = subprocess.run([sys.executable, str(ROOT / "tests" / "report_values.py"), str(var), str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(out.read_text())


@pytest.mark.slow
def test_scorecard_charts_carry_the_database_values(plotted: dict) -> None:
    charts, db = plotted["charts"], plotted["db"]
    components = {(r["orchestrator"], r["pipeline"], _hour(r["hour"])): r for r in db["components"]}
    scores = {(r["orchestrator"], r["pipeline"], _hour(r["hour"])): r["score"] for r in db["scores"]}
    assert components and set(scores) == set(components)
    score, coverage, reliability, quality = charts["orchestrator_scorecard"]
    assert (score["name"], coverage["name"], reliability["name"], quality["name"]) == (
        "score", "coverage", "reliability", "quality")
    keys = [tuple(k) for k in score["meta"]]
    # each orchestrator x pipeline of the 24 h up to the latest scored hour, at its latest hour there
    latest = max(h for _, _, h in scores)
    day_before = str(dt.datetime.fromisoformat(latest) - dt.timedelta(hours=24))
    expected: dict[tuple[str, str], str] = {}
    for orch, pipeline, hour in scores:
        if hour > day_before:
            expected[(orch, pipeline)] = max(hour, expected.get((orch, pipeline), hour))
    assert sorted(keys) == sorted((o, p, h) for (o, p), h in expected.items())
    for i, key in enumerate(keys):
        assert score["x"][i] == pytest.approx(scores[key]), key
        assert coverage["x"][i] == pytest.approx(components[key]["coverage"]), key
        assert reliability["x"][i] == pytest.approx(components[key]["reliability"]), key
        assert 0 <= quality["x"][i] <= 1
    # score by hour: every scored hour of each pair in the 30 days up to the latest
    month = {k: s for k, s in scores.items() if k[2] > str(dt.datetime.fromisoformat(latest) - dt.timedelta(days=30))}
    lines = charts["orchestrator_score_hours"]
    assert len(lines) == len({(o, p) for o, p, _ in month}) > 0
    for line in lines:
        orch, pipeline = line["meta"]
        assert _plotted(line) == [(h, pytest.approx(s)) for (o, p, h), s in sorted(month.items())
                                  if (o, p) == (orch, pipeline)]


@pytest.mark.slow
def test_demand_and_capacity_charts_carry_the_database_values(plotted: dict) -> None:
    charts, db = plotted["charts"], plotted["db"]
    totals = {(r["gateway"], r["pipeline"], r["metric_name"]): r["total"] for r in db["demand"]}
    names = {"requested": "demand_requested_sessions", "served": "demand_served_sessions",
             "unmet": "unmet_demand_sessions"}
    traces = charts["demand_supply"]
    panels = {tuple(t["meta"]) for t in traces}
    assert "other" not in {t["meta"] for t in traces if isinstance(t["meta"], str)}
    assert panels == {(g, p) for g, p, _ in totals}
    for t in traces:
        gateway, pipeline = t["meta"]
        assert sum(t["y"]) == pytest.approx(totals[(gateway, pipeline, names[t["name"]])]), (gateway, pipeline)
    assert sum(v for (_, _, n), v in totals.items() if n == "demand_requested_sessions") > 0

    everything = db["capacity"]
    capacity = [r for r in everything if r["metric_name"] in ("capacity_total", "capacity_available")]
    assert capacity
    per_hour: dict[tuple[str, str, str], float] = {}
    for r in capacity:
        key = (r["pipeline"], r["metric_name"].removeprefix("capacity_"), _hour(r["hour"]))
        per_hour[key] = per_hour.get(key, 0.0) + r["metric_value"]
    lines = charts["capacity_pipelines"]
    assert len(lines) == 2 * len({p for p, _, _ in per_hour})
    for line in lines:
        kind = line["name"].rsplit(" ", 1)[1]
        assert _plotted(line) == [(h, pytest.approx(v)) for (p, k, h), v in sorted(per_hour.items())
                                  if (p, k) == (line["meta"], kind)], line["name"]
    available, in_use = charts["capacity_orchestrators"]
    latest = max(_hour(r["hour"]) for r in capacity)
    day_before = str(dt.datetime.fromisoformat(latest) - dt.timedelta(hours=24))
    shown = [tuple(k) for k in available["meta"]]
    assert len(shown) == min(20, len({(r["orchestrator"], r["pipeline"]) for r in capacity
                                      if _hour(r["hour"]) > day_before}))
    for i, (orch, pipeline, hour) in enumerate(shown):
        rows = [r for r in capacity if (r["orchestrator"], r["pipeline"], _hour(r["hour"])) == (orch, pipeline, hour)]
        assert hour == max(_hour(r["hour"]) for r in capacity if (r["orchestrator"], r["pipeline"]) == (orch, pipeline))
        free = sum(r["metric_value"] for r in rows if r["metric_name"] == "capacity_available")
        total = sum(r["metric_value"] for r in rows if r["metric_name"] == "capacity_total")
        assert (available["x"][i], in_use["x"][i]) == (pytest.approx(free), pytest.approx(total - free)), orch
        # the hover: warm models (sum of the models' warm shares) and GPUs (largest model)
        more = [r for r in everything if (r["orchestrator"], r["pipeline"], _hour(r["hour"])) == (orch, pipeline, hour)]
        warm = sum(r["metric_value"] for r in more if r["metric_name"] == "model_warm_share")
        gpus = max(r["metric_value"] for r in more if r["metric_name"] == "gpu_count")
        assert f"{warm:.1f} warm, {gpus:.0f} GPUs" in available["customdata"][i], orch


@pytest.mark.slow
def test_tor_metric_charts_carry_the_database_values(plotted: dict) -> None:
    charts, db = plotted["charts"], plotted["db"]
    latest = max(r["ts"] for r in db["probabilities"])
    relays = {r["fingerprint"]: r for r in db["probabilities"] if r["ts"] == latest}
    traces = {t["name"]: t for t in charts["tor_path_probabilities"]}
    shown = traces["guard"]["customdata"]
    for position in ("guard", "middle", "exit"):
        trace = traces[position]
        assert trace["customdata"] == shown
        for fingerprint, x in zip(shown, trace["x"], strict=True):
            assert x == pytest.approx(100 * relays[fingerprint][f"{position}_probability"]), (position, fingerprint)
        # the relays most likely in the position are shown
        top = sorted(relays, key=lambda f: (-relays[f][f"{position}_probability"], f))[:8]
        top = [f for f in top if relays[f][f"{position}_probability"] > 0]
        assert set(top) <= set(shown), position
    assert sum(1 for x in traces["exit"]["x"] if x) > 0
    # no relay is shown for a position it has no chance of
    assert all(any(traces[p]["x"][i] for p in ("guard", "middle", "exit")) for i in range(len(shown)))

    network = db["network"]
    shares = {(r["subject"], int(r["metric_name"][6:-6]), _hour(r["ts"])): r["metric_value"]
              for r in network if r["metric_name"].startswith("cw_top")}
    lines = charts["tor_top_shares"]
    assert len(lines) == len({(g, k) for g, k, _ in shares}) > 0
    for line in lines:
        grouping, _, k = line["name"].split(" ")
        assert _plotted(line) == [(h, pytest.approx(100 * v)) for (g, kk, h), v in sorted(shares.items())
                                  if (g, kk) == (grouping, int(k))], line["name"]
    flagged = {_hour(r["ts"]): r for r in network if r["metric_name"] == "uptime_pattern_flagged_relays"}
    lines = {t["name"]: _plotted(t) for t in charts["tor_uptime_flagged"]}
    assert lines["flagged relays"] == [(h, flagged[h]["metric_value"]) for h in sorted(flagged)]
    assert lines["groups"] == [(h, len(json.loads(flagged[h]["metric_metadata"])["groups"])) for h in sorted(flagged)]
    assert max(v for _, v in lines["flagged relays"]) > 0
    # the churn and HHI charts (issue item 5, charted before the probabilities) carry the rows too
    churn = {(f"{r['subject']} {'joined' if r['metric_name'] == 'flag_joined_share' else 'left'}", _hour(r["ts"])):
             100 * r["metric_value"] for r in network if r["metric_name"].startswith("flag_")}
    lines = {t["name"]: _plotted(t) for t in charts["tor_churn"]}
    assert set(lines) == {s for s, _ in churn if s.split(" ")[0] in ("listed", "Guard", "Exit")}
    for name, points in lines.items():
        assert points == [(h, pytest.approx(v)) for (s, h), v in sorted(churn.items()) if s == name], name
    hhi = {(r["subject"], _hour(r["ts"])): r["metric_value"] for r in network if r["metric_name"] == "cw_hhi"}
    lines = {t["name"]: _plotted(t) for t in charts["tor_concentration"]}
    assert lines == {g: [(h, pytest.approx(v)) for (gg, h), v in sorted(hhi.items()) if gg == g] for g, _ in hhi}
