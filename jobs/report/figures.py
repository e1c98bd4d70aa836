"""The report's figures: pure functions from query rows (jobs/report/queries.py) to charts.

Nothing here talks to ClickHouse, so every chart is unit-tested on plain rows. A chart without
rows is a :class:`Chart` whose figure is None: the page says "no data" in its place.

Time series break at missing buckets (a None point between two rows further apart than one
bucket) instead of drawing a line across time that has no data: a missing Tor consensus hour
or a quiet NaaP hour shows as a gap.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go
from plotly.colors import qualitative

Rows = list[dict[str, Any]]

# Grey is kept for "other": drop it from the series colours.
PALETTE = [c for c in qualitative.D3 if c.upper() != "#7F7F7F"] + qualitative.Dark2
OTHER_COLOR = "#9a9a9a"
# A time axis whose data spans more than this opens on its last DEFAULT_VIEW (buttons show all).
LONG_SPAN = dt.timedelta(days=90)
DEFAULT_VIEW = dt.timedelta(days=7)
MAX_STREAMS = 20


def opens_on_last_week(xs: Sequence[dt.datetime]) -> bool:
    """Whether :func:`time_axis` opens on the last week (the data spans more than LONG_SPAN)."""
    return bool(xs) and max(xs) - min(xs) > LONG_SPAN
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"


@dataclass(frozen=True)
class Chart:
    """One chart of the report: a figure, or None when its query returned no rows."""

    key: str
    title: str
    note: str
    figure: go.Figure | None
    wide: bool = False


def short_address(address: str) -> str:
    """``0x5fd25374...375ab5`` -> ``0x5fd2…5ab5``; an empty address is ``(none)``."""
    if not address:
        return "(none)"
    return f"{address[:6]}…{address[-4:]}" if len(address) > 12 else address


def color_map(keys: Iterable[str]) -> dict[str, str]:
    """A stable colour per key (sorted), grey for ``other``."""
    ordered = sorted({k for k in keys if k != "other"})
    colors = {k: PALETTE[i % len(PALETTE)] for i, k in enumerate(ordered)}
    colors["other"] = OTHER_COLOR
    return colors


def with_gaps(xs: Sequence[Any], ys: Sequence[Any], step: dt.timedelta) -> tuple[list[Any], list[Any]]:
    """Insert a None point after every x followed by a jump longer than ``step``.

    Plotly (connectgaps off) breaks the line there, so a missing bucket is a visible gap.

    Args:
        xs: ascending datetimes.
        ys: values, one per x.
        step: the expected distance between consecutive buckets.

    Returns:
        The new x and y lists.
    """
    out_x: list[Any] = []
    out_y: list[Any] = []
    for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
        if i and x - xs[i - 1] > step:
            out_x.append(xs[i - 1] + step)
            out_y.append(None)
        out_x.append(x)
        out_y.append(y)
    return out_x, out_y


def missing_steps(xs: Sequence[dt.datetime], step: dt.timedelta) -> int:
    """How many buckets of width ``step`` between the first and last x have no row."""
    distinct = sorted(set(xs))
    if len(distinct) < 2:
        return 0
    expected = int((distinct[-1] - distinct[0]) / step) + 1
    return max(expected - len(distinct), 0)


def group(rows: Rows, key: str) -> dict[str, Rows]:
    """Rows split by ``key``, in first-seen order."""
    out: dict[str, Rows] = {}
    for row in rows:
        out.setdefault(str(row[key]), []).append(row)
    return out


def time_axis(xs: Sequence[dt.datetime], title: str = "time (UTC)",
              step: dt.timedelta = dt.timedelta(hours=1)) -> dict[str, Any]:
    """A date x-axis; a long span opens on its last week, with buttons for the rest.

    Args:
        xs: the x values of every trace.
        title: the axis title (with its unit or time zone).
        step: the bucket width: the opening view keeps at least this much room on each side.
    """
    axis: dict[str, Any] = {"title": {"text": title}, "type": "date", "nticks": 5}
    if opens_on_last_week(xs):
        # Open on the data of the last week (padded), not on empty days before it.
        last = max(xs)
        low = min(x for x in xs if x >= last - DEFAULT_VIEW)
        pad = max((last - low) * 0.04, step / 2)
        axis["range"] = [low - pad, last + pad]
        axis["rangeselector"] = {
            "buttons": [
                {"count": 1, "label": "1d", "step": "day", "stepmode": "backward"},
                {"count": 7, "label": "7d", "step": "day", "stepmode": "backward"},
                {"count": 1, "label": "1m", "step": "month", "stepmode": "backward"},
                {"label": "all", "step": "all"},
            ],
            "x": 0, "y": 1.02, "yanchor": "bottom",
        }
    return axis


def base_figure(height: int = 380) -> go.Figure:
    """An empty figure in the report's style."""
    fig = go.Figure()
    fig.update_layout(
        template="plotly_white",
        height=height,
        margin={"l": 64, "r": 24, "t": 36, "b": 56},
        font={"family": FONT, "size": 12, "color": "#1f2933"},
        legend={"font": {"size": 11}, "tracegroupgap": 2},
        hovermode="closest",
    )
    return fig


def bar_width_ms(step: dt.timedelta) -> float:
    """Bars fill 85% of their bucket on a date axis (widths are in milliseconds there)."""
    return step.total_seconds() * 1000 * 0.85


def latency_distribution(rows: Rows, colors: dict[str, str] | None = None) -> Chart:
    """Prompt-to-first-frame latency per orchestrator: a box with every request as a point."""
    title = "Prompt to first frame: latency per orchestrator"
    if not rows:
        return Chart("latency_distribution", title, "", None)
    by_orch = group(rows, "orchestrator")
    colors = colors or color_map(by_orch)
    fig = base_figure()
    for orch, points in by_orch.items():
        fig.add_trace(go.Box(
            y=[p["latency_ms"] for p in points], name=short_address(orch), boxpoints="all",
            jitter=0.4, pointpos=0, marker={"color": colors[orch], "size": 7}, line={"width": 1.5},
            hovertemplate="%{y:,.0f} ms<extra>" + orch + "</extra>",
        ))
    fig.update_layout(showlegend=False, yaxis={"title": {"text": "latency (ms)"}, "rangemode": "tozero"},
                      xaxis={"title": {"text": "orchestrator (local key)"}})
    note = f"{len(rows):,} requests, {len(by_orch)} orchestrators; one point per request"
    return Chart("latency_distribution", title, note, fig)


def latency_over_time(rows: Rows, bucket_s: int, colors: dict[str, str] | None = None) -> Chart:
    """p50 (solid) and p95 (dashed) prompt-to-first-frame latency per orchestrator and bucket."""
    title = "Prompt to first frame: p50 / p95 over time"
    if not rows:
        return Chart("latency_over_time", title, "", None)
    step = dt.timedelta(seconds=bucket_s)
    by_orch = group(rows, "orchestrator")
    colors = colors or color_map(by_orch)
    fig = base_figure()
    for orch, points in by_orch.items():
        xs = [p["bucket"] for p in points]
        for q, dash in (("p50_ms", "solid"), ("p95_ms", "dash")):
            gx, gy = with_gaps(xs, [p[q] for p in points], step)
            fig.add_trace(go.Scatter(
                x=gx, y=gy, mode="lines+markers", name=f"{short_address(orch)} {q[:3]}",
                legendgroup=orch, line={"color": colors[orch], "dash": dash, "width": 2},
                marker={"size": 7, "symbol": "circle" if q == "p50_ms" else "diamond"},
                connectgaps=False, hovertemplate="%{y:,.0f} ms<extra>" + f"{orch} {q[:3]}</extra>",
            ))
    fig.update_layout(xaxis=time_axis([p["bucket"] for p in rows]),
                      yaxis={"title": {"text": "latency (ms)"}, "rangemode": "tozero"})
    return Chart("latency_over_time", title, f"per {describe_bucket(bucket_s)} bucket; solid p50, dashed p95", fig)


def describe_bucket(bucket_s: int) -> str:
    """``300`` -> ``5 min``, ``3600`` -> ``hour``, ``21600`` -> ``6 h``, ``86400`` -> ``day``."""
    if bucket_s % 86400 == 0:
        days = bucket_s // 86400
        return "day" if days == 1 else f"{days} days"
    if bucket_s % 3600 == 0:
        return "hour" if bucket_s == 3600 else f"{bucket_s // 3600} h"
    return f"{bucket_s // 60} min"


def jitter_by_orchestrator(rows: Rows, colors: dict[str, str] | None = None) -> Chart:
    """Jitter coefficient of every 5-minute stream window over time, coloured by orchestrator."""
    title = "Jitter per 5-minute window, by orchestrator"
    if not rows:
        return Chart("jitter_by_orchestrator", title, "", None)
    by_orch = group(rows, "orchestrator")
    colors = colors or color_map(by_orch)
    fig = base_figure()
    for orch, points in by_orch.items():
        fig.add_trace(go.Scatter(
            x=[p["window_start"] for p in points], y=[p["jitter"] for p in points], mode="markers",
            name=short_address(orch), marker={"color": colors[orch], "size": 9, "opacity": 0.85},
            customdata=[p["stream_id"] for p in points],
            hovertemplate="%{y:.3f}<br>%{customdata}<extra>" + orch + "</extra>",
        ))
    fig.update_layout(xaxis=time_axis([p["window_start"] for p in rows], "window start (UTC)"),
                      yaxis={"title": {"text": "jitter coefficient (σ/μ of output fps)"}, "rangemode": "tozero"})
    return Chart("jitter_by_orchestrator", title, f"{len(rows):,} windows; warm-up samples excluded", fig)


def jitter_by_stream(rows: Rows, colors: dict[str, str] | None = None) -> Chart:
    """Jitter coefficient per stream (the streams with most windows), one point per window."""
    title = "Jitter per stream"
    if not rows:
        return Chart("jitter_by_stream", title, "", None)
    by_stream = group(rows, "stream_id")
    ranked = sorted(by_stream, key=lambda s: (-len(by_stream[s]), s))[:MAX_STREAMS]
    colors = colors or color_map(r["orchestrator"] for r in rows)
    fig = base_figure()
    for stream in reversed(ranked):
        points = by_stream[stream]
        fig.add_trace(go.Box(
            x=[p["jitter"] for p in points], name=stream, orientation="h", boxpoints="all",
            pointpos=0, jitter=0.3, marker={"color": colors[points[0]["orchestrator"]], "size": 8},
            line={"width": 1.5}, hovertemplate="%{x:.3f}<extra>" + stream + "</extra>",
        ))
    fig.update_layout(showlegend=False, xaxis={"title": {"text": "jitter coefficient (σ/μ of output fps)"},
                                               "rangemode": "tozero"},
                      yaxis={"automargin": True, "tickfont": {"size": 10}})
    shown = f"the {len(ranked)} streams with most windows" if len(by_stream) > len(ranked) else f"{len(ranked)} streams"
    return Chart("jitter_by_stream", title, f"{shown}; colour = orchestrator", fig)


def sample_counts(rows: Rows, bucket_s: int) -> Chart:
    """ai_stream_status samples per bucket: those used for jitter and the warm-up ones excluded."""
    title = "Status samples and warm-up"
    if not rows:
        return Chart("sample_counts", title, "", None)
    step = dt.timedelta(seconds=bucket_s)
    xs = [r["bucket"] for r in rows]
    fig = base_figure()
    used = [r["samples"] - r["warmup_samples"] for r in rows]
    for name, ys, color in (("samples used", used, PALETTE[0]),
                            ("warm-up samples (excluded)", [r["warmup_samples"] for r in rows], PALETTE[1])):
        fig.add_trace(go.Bar(x=xs, y=ys, name=name, marker={"color": color}, width=bar_width_ms(step),
                             hovertemplate="%{y:,} samples<extra>" + name + "</extra>"))
    fig.update_layout(barmode="stack", xaxis=time_axis(xs),
                      yaxis={"title": {"text": f"samples per {describe_bucket(bucket_s)}"}})
    windows = sum(r["windows"] for r in rows)
    caption = f"{windows:,} stream windows (5 min), summed per {describe_bucket(bucket_s)}"
    return Chart("sample_counts", title, caption, fig)


def jitter_status(rows: Rows) -> Chart:
    """How many stream windows got a jitter value, and why the others did not."""
    title = "Jitter windows by status"
    if not rows:
        return Chart("jitter_status", title, "", None)
    fig = base_figure()
    colors = {"ok": "#2ca02c", "too_few_samples": "#ff7f0e", "warmup_only": "#1f77b4", "zero_mean": "#d62728"}
    fig.add_trace(go.Bar(
        x=[r["status"] for r in rows], y=[r["windows"] for r in rows],
        marker={"color": [colors.get(r["status"], OTHER_COLOR) for r in rows]},
        text=[r["windows"] for r in rows], textposition="outside",
        hovertemplate="%{x}: %{y:,} windows<extra></extra>",
    ))
    fig.update_layout(showlegend=False, xaxis={"title": {"text": "jitter status of the window"}},
                      yaxis={"title": {"text": "stream windows (5 min)"}, "rangemode": "tozero"})
    return Chart("jitter_status", title, "ok = a jitter value was emitted", fig)


def stacked_bars(key: str, title: str, rows: Rows, series: str, value: str, bucket_s: int,
                 y_title: str, note: str) -> Chart:
    """Bars per time bucket stacked by ``series`` (dead letters, ingest rates)."""
    if not rows:
        return Chart(key, title, "", None)
    step = dt.timedelta(seconds=bucket_s)
    by_series = group(rows, series)
    colors = color_map(by_series)
    fig = base_figure()
    for name in sorted(by_series):
        points = by_series[name]
        fig.add_trace(go.Bar(
            x=[p["bucket"] for p in points], y=[p[value] for p in points], name=name,
            marker={"color": colors[name]}, width=bar_width_ms(step),
            hovertemplate="%{y:,.3~f}<extra>" + name + "</extra>",
        ))
    fig.update_layout(barmode="stack", xaxis=time_axis([r["bucket"] for r in rows]),
                      yaxis={"title": {"text": y_title}})
    return Chart(key, title, note, fig)


def ingest_rates(rows: Rows, bucket_s: int) -> Chart:
    """Events per minute (buckets under an hour) or per hour, per event type, by event time."""
    per_s = 60 if bucket_s < 3600 else 3600
    unit = "minute" if per_s == 60 else "hour"
    rated = [{**r, "rate": r["events"] * per_s / bucket_s} for r in rows]
    return stacked_bars("ingest_rates", "Ingest rate per event type", rated, "event_type", "rate",
                        bucket_s, f"events per {unit}",
                        f"naap.raw_events by event time, mean over each {describe_bucket(bucket_s)}")


def naap_charts(data: dict[str, Any]) -> list[Chart]:
    """Every NaaP chart from the fetched rows (see jobs.report.queries.fetch)."""
    rows, bucket_s = data["rows"], data["bucket_s"]
    per = describe_bucket(bucket_s)
    # One colour per orchestrator across the section's charts.
    colors = color_map(r["orchestrator"] for r in rows["latency_values"] + rows["jitter_windows"])
    return [
        latency_distribution(rows["latency_values"], colors),
        latency_over_time(rows["latency_quantiles"], bucket_s, colors),
        jitter_by_orchestrator(rows["jitter_windows"], colors),
        jitter_by_stream(rows["jitter_windows"], colors),
        sample_counts(rows["sample_counts"], bucket_s),
        jitter_status(rows["jitter_status"]),
        stacked_bars("dead_letters", "Dead letters by stage and reason", rows["dead_letters"],
                     "stage_reason", "rejects", bucket_s, f"rejected records per {per}",
                     "naap.dead_letter; time = event time, else when rejected"),
        ingest_rates(rows["ingest_rates"], bucket_s),
    ]
