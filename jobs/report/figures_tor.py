"""The report's Tor figures: pure functions from query rows to charts (see jobs/report/figures.py).

Tor series are per consensus hour; an hour without a consensus has no row, and the lines break
there (never interpolated), with the count of missing hours in the chart's note.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import plotly.graph_objects as go
from plotly.colors import sample_colorscale
from plotly.subplots import make_subplots

from jobs.report.figures import (
    FONT,
    Chart,
    Rows,
    bar_width_ms,
    base_figure,
    color_map,
    group,
    missing_steps,
    opens_on_last_week,
    time_axis,
    with_gaps,
)

HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)


def hours_note(hours: list[dt.datetime]) -> str:
    """``"3 consensus hours 2018-06-01 00:00 – 02:00 UTC, 2 missing (gaps)"``."""
    present = sorted(set(hours))
    missing = missing_steps(present, HOUR)
    span = f"{present[0]:%Y-%m-%d %H:%M} – {present[-1]:%Y-%m-%d %H:%M} UTC"
    note = f"{len(present):,} consensus hours, {span}; {missing:,} missing hours show as gaps"
    if opens_on_last_week(present):
        note += "; opens on the latest week, 'all' shows the rest"
    return note


def hourly_lines(fig: go.Figure, rows: Rows, series: str, value: str, colors: dict[str, str],
                 row: int | None = None, showlegend: bool = True, unit: str = "") -> None:
    """One line per ``series`` over consensus hours, broken at missing hours."""
    for name, points in sorted(group(rows, series).items(), key=lambda kv: (kv[0] == "other", kv[0])):
        gx, gy = with_gaps([p["ts"] for p in points], [p[value] for p in points], HOUR)
        trace = go.Scatter(
            x=gx, y=gy, mode="lines+markers", name=name, legendgroup=name, showlegend=showlegend,
            connectgaps=False, line={"color": colors[name], "width": 2}, marker={"size": 6},
            hovertemplate="%{y:,.4~r}" + unit + "<extra>" + name + "</extra>",
        )
        if row is None:
            fig.add_trace(trace)
        else:
            fig.add_trace(trace, row=row, col=1)


def network(rows: Rows) -> Chart:
    """Relays, exits and guards per consensus hour."""
    title = "Tor network: relays per consensus hour"
    if not rows:
        return Chart("tor_network", title, "", None, wide=True)
    fig = base_figure(height=340)
    xs = [r["ts"] for r in rows]
    for col, name, color in (("relays", "all relays", "#1f77b4"), ("guard_relays", "guard", "#2ca02c"),
                             ("exit_relays", "exit (not BadExit)", "#d62728")):
        gx, gy = with_gaps(xs, [r[col] for r in rows], HOUR)
        fig.add_trace(go.Scatter(x=gx, y=gy, mode="lines+markers", name=name, connectgaps=False,
                                 line={"color": color, "width": 2}, marker={"size": 7},
                                 hovertemplate="%{y:,} relays<extra>" + name + "</extra>"))
    fig.update_layout(xaxis=time_axis(xs, "consensus valid-after (UTC)"),
                      yaxis={"title": {"text": "relays"}, "rangemode": "tozero"})
    return Chart("tor_network", title, hours_note(xs), fig, wide=True)


def shares(rows: Rows, value: str) -> Rows:
    """Rows with ``share_pct``: the row's ``value`` as a percentage of its hour's total."""
    totals: dict[Any, float] = {}
    for r in rows:
        totals[r["ts"]] = totals.get(r["ts"], 0) + r[value]
    return [{**r, "share_pct": 100.0 * r[value] / totals[r["ts"]] if totals[r["ts"]] else 0.0} for r in rows]


def relays_and_weight(key: str, title: str, rows: Rows, what: str) -> Chart:
    """Two stacked panels sharing the time axis: relays, and share of consensus weight."""
    if not rows:
        return Chart(key, title, "", None)
    colors = color_map(r["label"] for r in rows)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08)
    hourly_lines(fig, rows, "label", "relays", colors, row=1)
    hourly_lines(fig, shares(rows, "cw_sum"), "label", "share_pct", colors, row=2, showlegend=False, unit=" %")
    fig.update_layout(
        template="plotly_white", height=520, margin={"l": 64, "r": 24, "t": 36, "b": 56},
        font={"family": FONT, "size": 12, "color": "#1f2933"}, hovermode="closest",
        legend={"font": {"size": 11}, "tracegroupgap": 2},
    )
    axis = time_axis([r["ts"] for r in rows], "consensus valid-after (UTC)")
    fig.update_xaxes(type="date", range=axis.get("range"), nticks=5)
    fig.update_xaxes(title=axis["title"], row=2, col=1)
    if "rangeselector" in axis:
        fig.update_xaxes(rangeselector=axis["rangeselector"], row=1, col=1)
    fig.update_yaxes(title={"text": "relays"}, rangemode="tozero", row=1, col=1)
    fig.update_yaxes(title={"text": "consensus weight (%)"}, rangemode="tozero", row=2, col=1)
    labels = {r["label"] for r in rows} - {"other"}
    note = f"top {len(labels)} {what} by total consensus weight, the rest as 'other'"
    return Chart(key, title, note, fig)


def flags(rows: Rows) -> Chart:
    """Relays holding each flag per consensus hour."""
    title = "Relay flags over time"
    if not rows:
        return Chart("tor_flags", title, "", None)
    colors = color_map(r["flag"] for r in rows)
    fig = base_figure(height=420)
    hourly_lines(fig, rows, "flag", "relays", colors, unit=" relays")
    fig.update_layout(xaxis=time_axis([r["ts"] for r in rows], "consensus valid-after (UTC)"),
                      yaxis={"title": {"text": "relays with the flag"}, "rangemode": "tozero"})
    return Chart("tor_flags", title, "from the consensus (not the votes); one line per flag", fig)


def versions(rows: Rows) -> Chart:
    """Relays per Tor release series per day (daily mean over the day's consensuses)."""
    title = "Tor versions"
    if not rows:
        return Chart("tor_versions", title, "", None)
    by_series = group(rows, "series")
    ordered = sorted(by_series, key=lambda s: [int(p) if p.isdigit() else -1 for p in s.split(".")])
    # Oldest dark to newest bright: an upgrade wave reads as colour moving up the stack.
    shades = sample_colorscale("Viridis", [i / max(len(ordered) - 1, 1) for i in range(len(ordered))])
    colors = dict(zip(ordered, shades, strict=True))
    fig = base_figure(height=420)
    for name in ordered:
        points = by_series[name]
        fig.add_trace(go.Bar(x=[p["day"] for p in points], y=[p["relays"] for p in points], name=name,
                             marker={"color": colors[name]}, width=bar_width_ms(DAY),
                             hovertemplate="%{y:,.1f} relays<extra>" + name + "</extra>"))
    days = [
        dt.datetime.combine(r["day"], dt.time())
        if isinstance(r["day"], dt.date) and not isinstance(r["day"], dt.datetime)
        else r["day"]
        for r in rows
    ]
    fig.update_layout(barmode="stack", xaxis=time_axis(days, "day (UTC)", DAY),
                      yaxis={"title": {"text": "relays (mean over the day's consensuses)"}})
    return Chart("tor_versions", title, "release series x.y.z (alpha and rc releases included)", fig)


def churn(rows: Rows) -> Chart:
    """Share of relays that joined / left between consecutive consensuses, per flag."""
    title = "Churn between consecutive consensuses"
    if not rows:
        return Chart("tor_churn", title, "", None)
    colors = color_map(r["series"] for r in rows)
    fig = base_figure(height=400)
    hourly_lines(fig, rows, "series", "share_pct", colors, unit=" %")
    fig.update_layout(xaxis=time_axis([r["ts"] for r in rows], "consensus valid-after (UTC)"),
                      yaxis={"title": {"text": "relays with the flag (%)"}, "rangemode": "tozero"})
    note = ("joined: share of the flag's relays that did not have it in the previous consensus; "
            "left: share of the previous consensus' holders that lost it ('listed' = any relay). "
            "No point where the previous consensus is missing (never a zero)")
    return Chart("tor_churn", title, note, fig)


def concentration(rows: Rows) -> Chart:
    """HHI of consensus weight by AS, country, family and contact per consensus hour."""
    title = "Concentration of consensus weight (HHI)"
    if not rows:
        return Chart("tor_concentration", title, "", None)
    colors = color_map(r["grouping"] for r in rows)
    fig = base_figure(height=400)
    hourly_lines(fig, rows, "grouping", "hhi", colors)
    fig.update_layout(xaxis=time_axis([r["ts"] for r in rows], "consensus valid-after (UTC)"),
                      yaxis={"title": {"text": "HHI (0..1)"}, "rangemode": "tozero"})
    note = ("sum of squared weight shares of the groups; family = mutual MyFamily components, "
            "contact = descriptor contact line; a relay of unknown group counts as its own group")
    return Chart("tor_concentration", title, note, fig)


def path_probabilities(rows: Rows) -> Chart:
    """Guard, middle and exit probability of the relays most likely in each position.

    From the latest consensus with a bandwidth-weights footer, with each relay's consensus
    weight fraction beside.
    """
    title = "Path selection: the relays most likely in each position"
    if not rows:
        return Chart("tor_path_probabilities", title, "", None, wide=True)
    ordered = list(reversed(rows))  # the query sorts by exit probability, largest first: top of the chart
    labels = [f"{r['nickname'] or '?'} {r['fingerprint'][:8]}" for r in ordered]
    fig = base_figure(height=max(340, 90 + 30 * len(ordered)))
    for key, name, color in (("guard_probability", "guard", "#2ca02c"), ("middle_probability", "middle", "#1f77b4"),
                             ("exit_probability", "exit", "#d62728"), ("cw_fraction", "consensus weight", "#9a9a9a")):
        fig.add_trace(go.Bar(
            x=[None if r[key] is None else 100 * r[key] for r in ordered], y=labels, orientation="h", name=name,
            marker={"color": color}, customdata=[r["fingerprint"] for r in ordered],
            hovertemplate="%{x:.3f} %<br>%{customdata}<extra>" + name + "</extra>",
        ))
    fig.update_layout(barmode="group", xaxis={"title": {"text": "probability / share (%)"}, "rangemode": "tozero"},
                      yaxis={"automargin": True, "tickfont": {"size": 10}})
    ts, relays = rows[0]["ts"], rows[0]["relays"]
    note = (f"consensus {ts:%Y-%m-%d %H:%M} UTC (the latest with a bandwidth-weights footer), {relays:,} relays: "
            "the most likely guards, middles and exits (Onionoo's definitions; every relay in "
            "tor.relay_hour_metrics)")
    return Chart("tor_path_probabilities", title, note, fig, wide=True)


def top_shares(rows: Rows) -> Chart:
    """Share of consensus weight held by the 1, 5 and 10 largest groups, per grouping and hour."""
    title = "Concentration: weight share of the largest groups"
    if not rows:
        return Chart("tor_top_shares", title, "", None)
    colors = color_map(r["grouping"] for r in rows)
    fig = base_figure(height=400)
    dashes = {1: "dot", 5: "solid", 10: "dash"}
    for (grouping, k), points in sorted(group_by(rows, ("grouping", "k")).items()):
        gx, gy = with_gaps([p["ts"] for p in points], [p["share_pct"] for p in points], HOUR)
        name = f"{grouping} top {k}"
        fig.add_trace(go.Scatter(
            x=gx, y=gy, mode="lines+markers", name=name, legendgroup=grouping, connectgaps=False,
            line={"color": colors[grouping], "dash": dashes.get(k, "solid"), "width": 2}, marker={"size": 6},
            hovertemplate="%{y:.2f} %<extra>" + name + "</extra>",
        ))
    fig.update_layout(xaxis=time_axis([r["ts"] for r in rows], "consensus valid-after (UTC)"),
                      yaxis={"title": {"text": "consensus weight (%)"}, "range": [0, 100]})
    note = "groups as the HHI (AS, country, family, contact); dotted top 1, solid top 5, dashed top 10"
    return Chart("tor_top_shares", title, note, fig)


def uptime_flagged(rows: Rows) -> Chart:
    """Relays flagged for review (identical uptime patterns) and their groups per consensus hour."""
    title = "Relays with identical uptime patterns (for review)"
    if not rows:
        return Chart("tor_uptime_flagged", title, "", None)
    fig = base_figure(height=340)
    series = [{"ts": r["ts"], "series": name, "value": r[key]}
              for r in rows for key, name in (("flagged", "flagged relays"), ("groups", "groups"))]
    hourly_lines(fig, series, "series", "value", {"flagged relays": "#d62728", "groups": "#1f77b4"})
    fig.update_layout(xaxis=time_axis([r["ts"] for r in rows], "consensus valid-after (UTC)"),
                      yaxis={"title": {"text": "relays / groups"}, "rangemode": "tozero"})
    note = ("groups of >= 2 relays sharing first seen, presence and restart hours over the last 24 consensus "
            "hours; members: tor.relay_hour_metrics.uptime_group")
    return Chart("tor_uptime_flagged", title, note, fig)


def group_by(rows: Rows, keys: tuple[str, ...]) -> dict[tuple[Any, ...], Rows]:
    """Rows split by the values of ``keys``, in first-seen order."""
    out: dict[tuple[Any, ...], Rows] = {}
    for row in rows:
        out.setdefault(tuple(row[k] for k in keys), []).append(row)
    return out


def tor_charts(data: dict[str, Any]) -> list[Chart]:
    """Every Tor chart from the fetched rows (see jobs.report.queries.fetch)."""
    rows = data["rows"]
    return [
        network(rows["tor_network"]),
        relays_and_weight("tor_countries", "Relays and consensus weight by country",
                          rows["tor_countries"], "countries"),
        relays_and_weight("tor_ases", "Relays and consensus weight by AS", rows["tor_ases"],
                          "autonomous systems"),
        flags(rows["tor_flags"]),
        versions(rows["tor_versions"]),
        churn(rows.get("tor_churn", [])),
        concentration(rows.get("tor_concentration", [])),
        top_shares(rows.get("tor_top_shares", [])),
        path_probabilities(rows.get("tor_path_probabilities", [])),
        uptime_flagged(rows.get("tor_uptime_flagged", [])),
    ]
