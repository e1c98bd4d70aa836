"""``python -m jobs report``: one self-contained HTML page of the NaaP and Tor tables.

Reads:    the ClickHouse of the settings (embedded or a server) through jobs.connectors.clickhouse,
          with the queries of jobs/report/queries.py (and jobs/report/queries_analytics.py).
Computes: figures from the rows (jobs/report/figures.py, jobs/report/figures_analytics.py,
          jobs/report/figures_tor.py: pure).
Writes:   one HTML file (default var/report.html) holding plotly.js inline: it opens offline,
          from a mail attachment or a CI artifact, without a CDN.
Empty:    a chart without rows says "no data" in its place; a missing database (not migrated)
          counts as empty, so the command never fails on a fresh installation.
"""

from __future__ import annotations

import datetime as dt
import html
import time
from pathlib import Path
from typing import Any

from plotly.offline import get_plotlyjs

from jobs.report import queries
from jobs.report.figures import Chart, missing_steps, naap_charts
from jobs.report.figures_analytics import analytics_charts
from jobs.report.figures_tor import tor_charts
from jobs.settings import Settings

PLOT_CONFIG = {"displaylogo": False, "responsive": True,
               "modeBarButtonsToRemove": ["lasso2d", "select2d"]}

STYLE = """
:root { --ink: #1f2933; --muted: #616e7c; --line: #e4e7eb; --bg: #f5f7fa; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
       font: 14px/1.45 system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; }
header { background: #102a43; color: #fff; padding: 20px 32px; }
header h1 { margin: 0 0 4px; font-size: 22px; font-weight: 600; }
header p { margin: 0; color: #bcccdc; }
main { max-width: 1500px; margin: 0 auto; padding: 8px 24px 40px; }
h2 { font-size: 18px; margin: 28px 0 12px; font-weight: 600; }
.facts { display: flex; flex-wrap: wrap; gap: 12px; margin-bottom: 8px; }
.fact { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 10px 16px; min-width: 150px; }
.fact b { display: block; font-size: 20px; font-weight: 600; }
.fact span { color: var(--muted); font-size: 12px; }
.grid { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 16px; }
.chart { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px 6px; }
.chart.wide { grid-column: 1 / -1; }
.chart h3 { margin: 0; font-size: 15px; font-weight: 600; }
.chart .note { margin: 2px 0 4px; color: var(--muted); font-size: 12px; }
.chart .no-data { height: 200px; display: flex; align-items: center; justify-content: center;
                  color: var(--muted); font-size: 16px; border: 1px dashed var(--line); border-radius: 6px;
                  margin: 8px 0 10px; }
footer { color: var(--muted); font-size: 12px; margin-top: 24px; }
@media (max-width: 1000px) { .grid { grid-template-columns: 1fr; } }
"""


def chart_html(chart: Chart) -> str:
    """One chart card: title, note, and the plot or a "no data" placeholder."""
    classes = "chart wide" if chart.wide else "chart"
    head = f'<h3>{html.escape(chart.title)}</h3><p class="note">{html.escape(chart.note) or "&nbsp;"}</p>'
    if chart.figure is None:
        body = '<div class="no-data">no data</div>'
    else:
        body = chart.figure.to_html(full_html=False, include_plotlyjs=False, div_id=f"plot-{chart.key}",
                                    config=PLOT_CONFIG, default_width="100%")
    return (
        f'<section class="{classes}" data-chart="{chart.key}" data-has-data="{chart.figure is not None}">'
        f"{head}{body}</section>"
    )


def _fact(value: str, label: str) -> str:
    return f'<div class="fact"><b>{html.escape(value)}</b><span>{html.escape(label)}</span></div>'


def naap_facts(data: dict[str, Any]) -> list[str]:
    """Headline numbers of the NaaP section, from the fetched rows."""
    first, last, events = data["naap_span"]
    rows = data["rows"]
    span = f"{first:%Y-%m-%d} – {last:%Y-%m-%d}" if events else "–"
    return [
        _fact(f"{events:,}", "events (naap.raw_events)"),
        _fact(span, "event time span (UTC)"),
        _fact(f"{len(rows['latency_values']):,}", "requests with a first-frame latency"),
        _fact(f"{len({r['orchestrator'] for r in rows['latency_values'] + rows['jitter_windows']}):,}",
              "orchestrators measured"),
        _fact(f"{len(rows['jitter_windows']):,}", "jitter windows (5 min)"),
        _fact(f"{sum(r['rejects'] for r in rows['dead_letters']):,}", "dead letters"),
    ]


def tor_facts(data: dict[str, Any]) -> list[str]:
    """Headline numbers of the Tor section, from the fetched rows."""
    network = data["rows"]["tor_network"]
    if not network:
        return [_fact("–", "consensus hours")]
    latest = network[-1]
    hours = [r["ts"] for r in network]
    return [
        _fact(f"{len(hours):,}", "consensus hours"),
        _fact(f"{missing_steps(hours, dt.timedelta(hours=1)):,}", "missing hours between first and last"),
        _fact(f"{latest['ts']:%Y-%m-%d %H:%M}", "latest consensus (UTC)"),
        _fact(f"{latest['relays']:,}", "relays in the latest consensus"),
        _fact(f"{latest['exit_relays']:,} / {latest['guard_relays']:,}", "exits / guards"),
    ]


def render(data: dict[str, Any], generated_at: dt.datetime, source: str) -> str:
    """The whole page for the fetched data (pure: no I/O)."""
    sections = []
    for name, facts, charts in (("Livepeer NaaP", naap_facts(data), naap_charts(data) + analytics_charts(data)),
                                ("Tor relays", tor_facts(data), tor_charts(data))):
        cards = "\n".join(chart_html(c) for c in charts)
        sections.append(f'<h2>{name}</h2><div class="facts">{"".join(facts)}</div><div class="grid">{cards}</div>')
    missing = data.get("missing_tables") or []
    footer = f"Generated {generated_at:%Y-%m-%d %H:%M:%S} UTC from {html.escape(source)}."
    if missing:
        footer += f" Tables not found (run python -m jobs migrate): {html.escape(', '.join(missing))}."
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>netpulse report</title><style>{STYLE}</style>"
        f"<script type=\"text/javascript\">{get_plotlyjs()}</script></head><body>"
        "<header><h1>netpulse report</h1><p>Livepeer gateway telemetry and Tor relay history, "
        f"from ClickHouse. Times are UTC.</p></header><main>{''.join(sections)}"
        f"<footer>{footer}</footer></main></body></html>\n"
    )


def source_label(settings: Settings) -> str:
    """Where the data came from, without credentials (a server URL never carries them here)."""
    return str(settings.chdb_path) if settings.is_embedded else settings.clickhouse_url


def build(settings: Settings, out: Path | None = None) -> tuple[Path, float]:
    """Query ClickHouse, render the page, write it.

    Args:
        settings: the ClickHouse to read.
        out: the HTML file (default ``<var>/report.html``).

    Returns:
        The path written and the seconds it took.
    """
    started = time.monotonic()
    data = queries.fetch(settings)
    page = render(data, dt.datetime.now(dt.UTC), source_label(settings))
    path = out or settings.var_dir / "report.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path, time.monotonic() - started
