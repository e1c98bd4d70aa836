"""The HTML report end to end: real pipelines fill an embedded ClickHouse, the CLI renders the
report, headless Chromium opens it and every chart must have drawn data marks.

The database is filled by the real commands in their own processes (chDB: one database
directory per process): ``python -m jobs demo`` (bundled real gateway events through the naap
pipeline; the demo also writes the report and says where) and ``python -m jobs tor`` (bundled
real Tor documents). A screenshot of each rendered page is kept in the test's tmp dir (path
printed; ``pytest -s`` shows it).
"""

from __future__ import annotations

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
CHARTS = 15  # NaaP 8, Tor 7 (churn and concentration added with the Tor network metrics)
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
    chromium(page, f"--screenshot={out}", "--window-size=1400,4300")
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
