"""The report's figures of the Livepeer analytics metrics: scorecard, demand vs supply, capacity.

Pure functions from the rows of jobs/report/queries_analytics.py to charts (see
jobs/report/figures.py for the shared helpers). The metrics are hourly: their time series
break at a missing hour, their buckets are never finer than an hour.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from jobs.report.figures import (
    FONT,
    OTHER_COLOR,
    PALETTE,
    Chart,
    Rows,
    bar_width_ms,
    base_figure,
    color_map,
    describe_bucket,
    group,
    short_address,
    time_axis,
    with_gaps,
)

HOUR = dt.timedelta(hours=1)
MAX_BARS = 20  # orchestrators x pipelines shown as bars
MAX_PANELS = 6  # gateway x pipeline panels of the demand chart; the rest is 'other'
COMPONENTS = (("coverage", "coverage", "#1f77b4"), ("reliability", "reliability", "#2ca02c"),
              ("quality", "quality", "#ff7f0e"))
DEMAND_SUMS = ("requested", "served", "unmet", "no_orchestrator", "served_minutes", "requested_and_served")
DEMAND = (("requested", "requested", "#1f77b4"), ("served", "served", "#2ca02c"),
          ("unmet", "unmet", "#d62728"))


def pipeline_label(pipeline: str) -> str:
    """A pipeline as shown: ``''`` (models without hardware entries, e.g. LLM runners) is named."""
    return pipeline or "(no pipeline)"


def subject_label(orchestrator: str, pipeline: str) -> str:
    """``0x52cf…5954 · live-video-to-video``."""
    return f"{short_address(orchestrator)} · {pipeline_label(pipeline)}"


def _layout(fig: go.Figure, height: int) -> None:
    fig.update_layout(
        template="plotly_white", height=height, margin={"l": 64, "r": 24, "t": 36, "b": 56},
        font={"family": FONT, "size": 12, "color": "#1f2933"}, hovermode="closest",
        legend={"font": {"size": 11}, "tracegroupgap": 2},
    )


def _fmt(value: Any, pattern: str = "{:.2f}") -> str:
    return "–" if value is None else pattern.format(value)


def scorecard(rows: Rows) -> Chart:
    """Score per orchestrator x pipeline beside its coverage, reliability and quality.

    Each pair at its latest scored hour of the last 24 h; the hover shows reliability's parts,
    the quality scores and the counts.
    """
    title = "Orchestrator scorecard: latest hour per orchestrator and pipeline"
    if not rows:
        return Chart("orchestrator_scorecard", title, "", None, wide=True)
    ranked = sorted(rows, key=lambda r: (r["score"], r["orchestrator"], r["pipeline"]))[-MAX_BARS:]
    labels = [subject_label(r["orchestrator"], r["pipeline"]) for r in ranked]
    hover = [
        f"{r['orchestrator']}<br>{pipeline_label(r['pipeline'])}, hour {r['hour']:%Y-%m-%d %H:00} UTC<br>"
        f"startup {_fmt(r['startup_success'])}, no-swap {_fmt(r['no_swap'])}, viability {_fmt(r['viability'])}<br>"
        f"ptff {_fmt(r['ptff_score'])}, playable {_fmt(r['playable_score'])}, fps {_fmt(r['fps_score'])}<br>"
        f"{r['attempts']} attempts, {r['covered_minutes']} minutes with samples"
        for r in ranked
    ]
    # meta: what each bar is, for readers of the figure's data (tests compare it with the tables)
    keys = [[r["orchestrator"], r["pipeline"], f"{r['hour']:%Y-%m-%d %H:%M:%S}"] for r in ranked]
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, column_widths=[0.4, 0.6], horizontal_spacing=0.03,
                        subplot_titles=("score (0-100)", "components (0-1)"))
    fig.add_trace(go.Bar(
        x=[r["score"] for r in ranked], y=labels, orientation="h", name="score", marker={"color": "#102a43"},
        text=[f"{r['score']:.1f}" for r in ranked], textposition="auto", customdata=hover, meta=keys,
        hovertemplate="score %{x:.1f}<br>%{customdata}<extra></extra>",
    ), row=1, col=1)
    for key, name, color in COMPONENTS:
        fig.add_trace(go.Bar(
            x=[r[key] for r in ranked], y=labels, orientation="h", name=name, marker={"color": color},
            customdata=hover, meta=keys, hovertemplate=name + " %{x:.3f}<br>%{customdata}<extra></extra>",
        ), row=1, col=2)
    _layout(fig, max(320, 90 + 46 * len(ranked)))
    fig.update_layout(barmode="group", legend={"orientation": "h", "y": -0.12})
    fig.update_xaxes(range=[0, 100], row=1, col=1)
    fig.update_xaxes(range=[0, 1.05], row=1, col=2)
    fig.update_yaxes(automargin=True, tickfont={"size": 10})
    latest = max(r["hour"] for r in rows)
    note = (f"{len(rows)} orchestrator x pipeline scored in the 24 h up to {latest:%Y-%m-%d %H:00} UTC, each at "
            "its latest hour (naap.orchestrator_scorecard); score = 100 x coverage x (0.7 reliability + 0.3 quality)")
    return Chart("orchestrator_scorecard", title, note, fig, wide=True)


def score_over_time(rows: Rows) -> Chart:
    """Score per orchestrator x pipeline and hour (line per pair, broken at unscored hours)."""
    title = "Orchestrator score by hour"
    if not rows:
        return Chart("orchestrator_score_hours", title, "", None)
    rows = [{**r, "label": subject_label(r["orchestrator"], r["pipeline"])} for r in rows]
    by_label = group(rows, "label")
    colors = color_map(by_label)
    fig = base_figure()
    for label, points in sorted(by_label.items()):
        gx, gy = with_gaps([p["hour"] for p in points], [p["score"] for p in points], HOUR)
        fig.add_trace(go.Scatter(
            x=gx, y=gy, mode="lines+markers", name=label, connectgaps=False,
            meta=[points[0]["orchestrator"], points[0]["pipeline"]],
            line={"color": colors[label], "width": 2}, marker={"size": 8},
            hovertemplate="score %{y:.1f}<extra>" + label + "</extra>",
        ))
    fig.update_layout(xaxis=time_axis([r["hour"] for r in rows], "hour (UTC)"),
                      yaxis={"title": {"text": "score (0-100)"}, "rangemode": "tozero"})
    return Chart("orchestrator_score_hours", title, "the last 30 days of scored hours; an hour without samples "
                 "of the orchestrator has no score (a gap)", fig)


def success_text(row: dict[str, Any]) -> str:
    """``, effective success 50%`` (requests served in their hour / requested), '' without requests."""
    if not row["requested"]:
        return ""
    return f", effective success {100 * row.get('requested_and_served', 0) / row['requested']:.0f}%"


def demand_supply(rows: Rows, bucket_s: int) -> Chart:
    """Requested, served and unmet sessions per time bucket, one panel per gateway x pipeline."""
    title = "Demand vs supply by gateway and pipeline"
    if not rows:
        return Chart("demand_supply", title, "", None, wide=True)
    bucket_s = max(bucket_s, 3600)
    rows = [{**r, "panel": f"{r['gateway'] or '(no gateway)'} · {pipeline_label(r['pipeline'])}",
             "key": [r["gateway"], r["pipeline"]]} for r in rows]
    panels = group(rows, "panel")
    ranked = sorted(panels, key=lambda p: (-sum(r["requested"] for r in panels[p]), p))
    shown = ranked[:MAX_PANELS]
    if len(ranked) > MAX_PANELS:
        folded: dict[Any, dict[str, Any]] = {}
        for p in ranked[MAX_PANELS:]:
            for r in panels[p]:
                f = folded.setdefault(r["bucket"], {"bucket": r["bucket"], **dict.fromkeys(DEMAND_SUMS, 0)})
                for key in DEMAND_SUMS:
                    f[key] += r.get(key, 0)
        panels["other"] = sorted(folded.values(), key=lambda r: r["bucket"])
        shown.append("other")
    fig = make_subplots(rows=len(shown), cols=1, shared_xaxes=True, vertical_spacing=min(0.08, 0.4 / len(shown)),
                        subplot_titles=shown)
    step = dt.timedelta(seconds=bucket_s)
    for i, panel in enumerate(shown, start=1):
        points = panels[panel]
        hover = [f"{r['no_orchestrator']:.0f} with no orchestrator available, {r['served_minutes']:.1f} min served"
                 + success_text(r) for r in points]
        for key, name, color in DEMAND:
            fig.add_trace(go.Bar(
                x=[r["bucket"] for r in points], y=[r[key] for r in points], name=name, legendgroup=name,
                showlegend=i == 1, marker={"color": color}, width=bar_width_ms(step) / 3, customdata=hover,
                meta=points[0].get("key", "other"),
                hovertemplate="%{y:,.0f} " + name + "<br>%{customdata}<extra>" + panel + "</extra>",
            ), row=i, col=1)
        fig.update_yaxes(title={"text": "sessions"}, rangemode="tozero", row=i, col=1)
    _layout(fig, 140 + 170 * len(shown))
    axis = time_axis([r["bucket"] for r in rows], step=step)
    fig.update_layout(barmode="group")
    fig.update_xaxes(type="date", range=axis.get("range"), nticks=6)
    fig.update_xaxes(title=axis["title"], row=len(shown), col=1)
    note = (f"naap.calculated_metrics (demand), summed per {describe_bucket(bucket_s)}: requested = stream requests, "
            "served = reached a first processed segment, unmet = requested and not served in the hour")
    return Chart("demand_supply", title, note, fig, wide=True)


def capacity_over_time(rows: Rows) -> Chart:
    """Total (solid) and available (dashed) capacity per pipeline and hour, over orchestrators."""
    title = "Capacity per pipeline: available vs total"
    if not rows:
        return Chart("capacity_pipelines", title, "", None)
    rows = [{**r, "label": pipeline_label(r["pipeline"])} for r in rows]
    by_pipeline = group(rows, "label")
    colors = color_map(by_pipeline)
    fig = base_figure()
    for label, points in sorted(by_pipeline.items()):
        xs = [p["ts"] for p in points]
        for key, dash in (("total", "solid"), ("available", "dash")):
            gx, gy = with_gaps(xs, [p[key] for p in points], HOUR)
            fig.add_trace(go.Scatter(
                x=gx, y=gy, mode="lines+markers", name=f"{label} {key}", legendgroup=label, connectgaps=False,
                meta=points[0]["pipeline"],
                line={"color": colors[label], "dash": dash, "width": 2},
                marker={"size": 8, "symbol": "circle" if key == "total" else "diamond"},
                customdata=[p["orchestrators"] for p in points],
                hovertemplate="%{y:,.1f} " + key + " (%{customdata} orchestrators)<extra>" + label + "</extra>",
            ))
    fig.update_layout(xaxis=time_axis([r["ts"] for r in rows], "hour (UTC)"),
                      yaxis={"title": {"text": "capacity (sessions)"}, "rangemode": "tozero"})
    note = ("network_capabilities: total = available + in use (largest in the hour), available = mean over the "
            "hour's announcements, summed over orchestrators and models; solid total, dashed available")
    return Chart("capacity_pipelines", title, note, fig)


def capacity_text(row: dict[str, Any]) -> str:
    """The hover of an orchestrator's capacity bar: its hour, models, GPUs, swing and prices."""
    low, high = row.get("price_min"), row.get("price_max")
    price = "no price" if low is None else (
        f"{low:,.4g} wei/pixel" if low == high else f"{low:,.4g}–{high:,.4g} wei/pixel")
    return (f"{row['orchestrator']}<br>hour {row['hour']:%Y-%m-%d %H:00} UTC, total {row['total']:,.0f}<br>"
            f"{row['models']} model(s), {row.get('warm_models', 0):.1f} warm, {row.get('gpus', 0):.0f} GPUs "
            f"(largest model), swing {row.get('swing', 0):.2f}, {price}")


def capacity_by_orchestrator(rows: Rows) -> Chart:
    """Available and in-use capacity per orchestrator x pipeline at its latest announced hour."""
    title = "Capacity per orchestrator: available and in use"
    if not rows:
        return Chart("capacity_orchestrators", title, "", None)
    ranked = sorted(rows, key=lambda r: (r["total"], r["orchestrator"], r["pipeline"]))[-MAX_BARS:]
    labels = [subject_label(r["orchestrator"], r["pipeline"]) for r in ranked]
    hover = [capacity_text(r) for r in ranked]
    keys = [[r["orchestrator"], r["pipeline"], f"{r['hour']:%Y-%m-%d %H:%M:%S}"] for r in ranked]
    fig = base_figure(height=max(320, 90 + 26 * len(ranked)))
    for name, values, color in (("available", [r["available"] for r in ranked], PALETTE[2]),
                                ("in use", [max(r["total"] - r["available"], 0.0) for r in ranked], OTHER_COLOR)):
        fig.add_trace(go.Bar(x=values, y=labels, orientation="h", name=name, marker={"color": color},
                             customdata=hover, meta=keys,
                             hovertemplate="%{x:,.1f} " + name + "<br>%{customdata}<extra></extra>"))
    fig.update_layout(barmode="stack", xaxis={"title": {"text": "capacity (sessions)"}, "rangemode": "tozero"},
                      yaxis={"automargin": True, "tickfont": {"size": 10}},
                      legend={"orientation": "h", "y": -0.15})
    shown = f"the {len(ranked)} largest of {len(rows)}" if len(rows) > len(ranked) else f"{len(rows)}"
    note = f"{shown} orchestrator x pipeline announced in the last 24 h, each at its latest hour; models summed"
    return Chart("capacity_orchestrators", title, note, fig)


def analytics_charts(data: dict[str, Any]) -> list[Chart]:
    """The analytics charts of the NaaP section (after jobs.report.figures.naap_charts)."""
    rows = data["rows"]
    return [
        scorecard(rows.get("scorecard_latest", [])),
        score_over_time(rows.get("scorecard_hours", [])),
        demand_supply(rows.get("demand_supply", []), data["bucket_s"]),
        capacity_over_time(rows.get("capacity_pipelines", [])),
        capacity_by_orchestrator(rows.get("capacity_orchestrators", [])),
    ]
