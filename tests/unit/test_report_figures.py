"""The report's rendering on plain rows (no ClickHouse): figures, gaps, "no data", the page.

The rows mirror what the queries return for the bundled real events and Tor documents (values
taken from a `python -m jobs demo` / `python -m jobs tor` run).
"""

from __future__ import annotations

import datetime as dt
import re

import pytest

from jobs.report import page as report_page
from jobs.report import queries
from jobs.report.figures import (
    describe_bucket,
    missing_steps,
    naap_charts,
    short_address,
    time_axis,
    with_gaps,
)
from jobs.report.figures_analytics import analytics_charts, subject_label
from jobs.report.figures_tor import shares, tor_charts

T = dt.datetime
H = dt.timedelta(hours=1)
ORCH_A = "0x52cf2968b3dc6016778742d3539449a6597d5954"
ORCH_B = "0x5fd25374e1e87d6728ec8601c512dfabab375ab5"


def naap_rows() -> dict[str, list[dict]]:
    return {
        "latency_values": [
            {"orchestrator": ORCH_A, "ts": T(2026, 1, 8, 21, 49, 5), "latency_ms": 2655.0},
            {"orchestrator": ORCH_B, "ts": T(2026, 2, 24, 16, 29, 21), "latency_ms": 10649.0},
            {"orchestrator": ORCH_B, "ts": T(2026, 2, 25, 20, 40, 54), "latency_ms": 11567.0},
        ],
        "latency_quantiles": [
            {"bucket": T(2026, 1, 8), "orchestrator": ORCH_A, "requests": 1, "p50_ms": 2655.0, "p95_ms": 2655.0},
            {"bucket": T(2026, 2, 24), "orchestrator": ORCH_B, "requests": 1, "p50_ms": 10649.0, "p95_ms": 10649.0},
            {"bucket": T(2026, 2, 25), "orchestrator": ORCH_B, "requests": 1, "p50_ms": 11567.0, "p95_ms": 11567.0},
        ],
        "jitter_windows": [
            {"window_start": T(2026, 1, 8, 21, 45), "orchestrator": ORCH_A, "stream_id": "stream-o5s73x-mk5zc8fy", "jitter": 0.00385},
            {"window_start": T(2026, 1, 8, 21, 50), "orchestrator": ORCH_A, "stream_id": "stream-o5s73x-mk5zc8fy", "jitter": 0.1301},
            {"window_start": T(2026, 2, 25, 20, 40), "orchestrator": ORCH_B, "stream_id": "aiJobTesterStream-1772052050242033096", "jitter": 0.1917},
        ],
        "sample_counts": [
            {"bucket": T(2026, 1, 8), "samples": 17, "warmup_samples": 0, "windows": 2},
            {"bucket": T(2026, 2, 22), "samples": 9, "warmup_samples": 2, "windows": 3},
        ],
        "jitter_status": [
            {"status": "ok", "windows": 5}, {"status": "too_few_samples", "windows": 2},
            {"status": "warmup_only", "windows": 1},
        ],
        "dead_letters": [
            {"bucket": T(2026, 2, 24), "stage_reason": "parse: hardware_without_gpu_info", "rejects": 3},
            {"bucket": T(2026, 2, 24), "stage_reason": "parse: price_without_price_per_unit", "rejects": 1},
            {"bucket": T(2026, 2, 25), "stage_reason": "parse: hardware_without_gpu_info", "rejects": 6},
        ],
        "ingest_rates": [
            {"bucket": T(2026, 1, 8), "event_type": "ai_stream_status", "events": 17},
            {"bucket": T(2026, 1, 8), "event_type": "stream_trace", "events": 24},
        ],
        **analytics_rows(),
    }


def analytics_rows() -> dict[str, list[dict]]:
    """Rows of the analytics queries (shapes of jobs/report/queries_analytics.py)."""
    score = {"coverage": 0.5, "reliability": 1.0, "quality": 0.5, "startup_success": 1.0, "no_swap": 1.0,
             "viability": 1.0, "ptff_score": 0.5, "playable_score": 0.5, "fps_score": 0.5, "attempts": 1,
             "covered_minutes": 30}
    return {
        "scorecard_latest": [
            {"hour": T(2026, 2, 25, 20), "orchestrator": ORCH_B, "pipeline": "streamdiffusion-sdxl-v2v",
             **score, "score": 42.5},
            {"hour": T(2026, 2, 25, 21), "orchestrator": ORCH_A, "pipeline": "streamdiffusion-sdxl-v2v",
             **score, "coverage": 0.1, "score": 8.5, "startup_success": None},
        ],
        "scorecard_hours": [
            {"hour": T(2026, 2, 24, 16), "orchestrator": ORCH_B, "pipeline": "p", "score": 20.0, "coverage": 0.2,
             "reliability": 1.0, "quality": 0.5},
            {"hour": T(2026, 2, 24, 18), "orchestrator": ORCH_B, "pipeline": "p", "score": 30.0, "coverage": 0.3,
             "reliability": 1.0, "quality": 0.5},
        ],
        "demand_supply": [
            {"bucket": T(2026, 2, 24), "gateway": "gw-fra", "pipeline": "p", "requested": 2, "served": 1,
             "unmet": 1, "no_orchestrator": 1, "served_minutes": 1.5, "requested_and_served": 1},
            {"bucket": T(2026, 2, 25), "gateway": "gw-fra", "pipeline": "p", "requested": 1, "served": 1,
             "unmet": 0, "no_orchestrator": 0, "served_minutes": 0.5},
            {"bucket": T(2026, 2, 25), "gateway": "gw-sea", "pipeline": "", "requested": 1, "served": 0,
             "unmet": 1, "no_orchestrator": 1, "served_minutes": 0.0},
        ],
        "capacity_pipelines": [
            {"ts": T(2026, 2, 24, 12), "pipeline": "live-video-to-video", "total": 30.0, "available": 9.0,
             "orchestrators": 8},
            {"ts": T(2026, 2, 25, 20), "pipeline": "live-video-to-video", "total": 38.0, "available": 26.5,
             "orchestrators": 9},
        ],
        "capacity_orchestrators": [
            {"hour": T(2026, 2, 25, 20), "orchestrator": "0xb120a72a9264e90092e8197c0fabd210c18bc5be",
             "pipeline": "live-video-to-video", "total": 25.0, "available": 17.5, "models": 1, "warm_models": 1.0,
             "gpus": 25.0, "swing": 0.12, "price_min": 2425.0, "price_max": 2425.0},
            {"hour": T(2026, 2, 25, 20), "orchestrator": ORCH_B, "pipeline": "live-video-to-video", "total": 2.0,
             "available": 2.0, "models": 1},
        ],
    }


def tor_rows() -> dict[str, list[dict]]:
    # 2018-06-01 00:00 and 02:00 present, 01:00 missing; one consensus six years earlier.
    hours = [T(2012, 7, 12, 10), T(2018, 6, 1, 0), T(2018, 6, 1, 2)]
    return {
        "tor_network": [
            {"ts": ts, "relays": n, "exit_relays": e, "guard_relays": g, "cw_sum": n * 1000}
            for ts, n, e, g in zip(hours, (7, 208, 35), (1, 22, 6), (2, 79, 10), strict=True)
        ],
        "tor_countries": [
            {"ts": hours[1], "label": "DE", "relays": 60, "cw_sum": 750},
            {"ts": hours[1], "label": "other", "relays": 148, "cw_sum": 250},
            {"ts": hours[2], "label": "DE", "relays": 10, "cw_sum": 454},
            {"ts": hours[2], "label": "other", "relays": 25, "cw_sum": 546},
        ],
        "tor_ases": [
            {"ts": hours[1], "label": "AS12876", "relays": 15, "cw_sum": 286481},
            {"ts": hours[2], "label": "AS12876", "relays": 3, "cw_sum": 20000},
        ],
        "tor_flags": [
            {"ts": hours[1], "flag": "Running", "relays": 208},
            {"ts": hours[2], "flag": "Running", "relays": 35},
        ],
        "tor_versions": [
            {"day": dt.date(2018, 6, 1), "series": "0.3.2", "relays": 33.3},
            {"day": dt.date(2018, 6, 1), "series": "0.3.3", "relays": 20.7},
        ],
        # values of the fixtures' 01:00 and 02:00 hours (docs/tor.md, "Metrics")
        "tor_churn": [
            {"ts": T(2018, 6, 1, 1), "series": "listed joined", "share_pct": 100 * 31 / 35},
            {"ts": T(2018, 6, 1, 2), "series": "listed joined", "share_pct": 100 / 35},
            {"ts": T(2018, 6, 1, 4), "series": "listed joined", "share_pct": 0.0},
        ],
        "tor_concentration": [
            {"ts": T(2018, 6, 1, 1), "grouping": "country", "hhi": 0.27663},
            {"ts": T(2018, 6, 1, 2), "grouping": "country", "hhi": 0.27049},
        ],
        "tor_top_shares": [
            {"ts": T(2018, 6, 1, 0), "grouping": "asn", "k": 1, "share_pct": 12.5},
            {"ts": T(2018, 6, 1, 2), "grouping": "asn", "k": 1, "share_pct": 20.0},
            {"ts": T(2018, 6, 1, 2), "grouping": "asn", "k": 5, "share_pct": 60.0},
        ],
        "tor_path_probabilities": [
            {"ts": T(2018, 6, 1, 2), "fingerprint": "A" * 40, "nickname": "exitA", "cw_fraction": 0.2,
             "guard_probability": 0.0, "middle_probability": 0.1, "exit_probability": 0.5, "relays": 35},
            {"ts": T(2018, 6, 1, 2), "fingerprint": "B" * 40, "nickname": "guardB", "cw_fraction": 0.3,
             "guard_probability": 0.4, "middle_probability": 0.2, "exit_probability": 0.0, "relays": 35},
        ],
        "tor_uptime_flagged": [
            {"ts": T(2018, 6, 1, 0), "flagged": 0.0, "groups": 0},
            {"ts": T(2018, 6, 1, 1), "flagged": 31.0, "groups": 1},
            {"ts": T(2018, 6, 1, 2), "flagged": 30.0, "groups": 1},
        ],
    }


def data(naap: bool = True, tor: bool = True) -> dict:
    rows = {name: [] for name in queries.QUERIES}
    if naap:
        rows.update(naap_rows())
    if tor:
        rows.update(tor_rows())
    span = (T(2026, 1, 8, 21, 49), T(2026, 2, 25, 20, 43), 143) if naap else (None, None, 0)
    return {"bucket_s": 86400, "naap_span": span, "rows": rows, "missing_tables": []}


def test_with_gaps_breaks_the_line_at_a_missing_hour() -> None:
    xs = [T(2018, 6, 1, 0), T(2018, 6, 1, 2), T(2018, 6, 1, 3)]
    gx, gy = with_gaps(xs, [208, 35, 36], H)
    assert gx == [T(2018, 6, 1, 0), T(2018, 6, 1, 1), T(2018, 6, 1, 2), T(2018, 6, 1, 3)]
    assert gy == [208, None, 35, 36]
    assert with_gaps(xs[1:], [35, 36], H) == (xs[1:], [35, 36])  # contiguous: unchanged


def test_missing_steps_counts_absent_hours() -> None:
    assert missing_steps([T(2018, 6, 1, 0), T(2018, 6, 1, 3)], H) == 2
    assert missing_steps([T(2018, 6, 1, 0)], H) == 0
    assert missing_steps([], H) == 0


@pytest.mark.parametrize(("span", "width"), [
    (dt.timedelta(minutes=30), 60), (dt.timedelta(hours=3), 300), (dt.timedelta(days=1), 900),
    (dt.timedelta(days=48), 86400), (dt.timedelta(days=2000), 7 * 86400),
])
def test_bucket_width_follows_the_span(span: dt.timedelta, width: int) -> None:
    first = T(2026, 1, 1)
    assert queries.bucket_seconds(first, first + span) == width
    assert queries.bucket_seconds(None, None) == 60


def test_labels() -> None:
    assert short_address(ORCH_A) == "0x52cf…5954"
    assert short_address("") == "(none)"
    assert [describe_bucket(s) for s in (300, 3600, 21600, 86400, 172800)] == ["5 min", "hour", "6 h", "day", "2 days"]


def test_naap_charts_plot_the_rows() -> None:
    charts = {c.key: c for c in naap_charts(data())}
    assert list(charts) == ["latency_distribution", "latency_over_time", "jitter_by_orchestrator",
                            "jitter_by_stream", "sample_counts", "jitter_status", "dead_letters",
                            "ingest_rates"]
    assert all(c.figure is not None for c in charts.values())
    boxes = charts["latency_distribution"].figure.data
    assert [(b.name, list(b.y)) for b in boxes] == [("0x52cf…5954", [2655.0]), ("0x5fd2…5ab5", [10649.0, 11567.0])]
    # p50 and p95 per orchestrator; ORCH_B's two consecutive days are one unbroken line.
    lines = {t.name: list(t.y) for t in charts["latency_over_time"].figure.data}
    assert lines["0x5fd2…5ab5 p95"] == [10649.0, 11567.0]
    # One colour per orchestrator across charts.
    color_a = boxes[0].marker.color
    assert {t.marker.color for t in charts["jitter_by_orchestrator"].figure.data if t.name == "0x52cf…5954"} == {color_a}
    used, warmup = charts["sample_counts"].figure.data
    assert (list(used.y), list(warmup.y)) == ([17, 7], [0, 2])
    rejects = {t.name: list(t.y) for t in charts["dead_letters"].figure.data}
    assert rejects == {"parse: hardware_without_gpu_info": [3, 6], "parse: price_without_price_per_unit": [1]}
    # Day buckets: rates per hour.
    rates = {t.name: list(t.y) for t in charts["ingest_rates"].figure.data}
    assert rates == {"ai_stream_status": [17 / 24], "stream_trace": [1.0]}
    assert charts["ingest_rates"].figure.layout.yaxis.title.text == "events per hour"


def test_tor_network_shows_missing_hours_as_gaps_not_lines() -> None:
    chart = tor_charts(data())[0]
    relays = next(t for t in chart.figure.data if t.name == "all relays")
    assert list(relays.y) == [7, None, 208, None, 35]
    assert relays.connectgaps is False
    assert "51,590 missing hours show as gaps" in chart.note
    # Six years of span: the axis opens on the last week of data, with an "all" button.
    low, high = chart.figure.layout.xaxis.range
    assert T(2018, 5, 31, 23) <= low < T(2018, 6, 1, 0) and T(2018, 6, 1, 2) < high <= T(2018, 6, 1, 3)
    assert chart.figure.layout.xaxis.rangeselector.buttons[-1].step == "all"


def test_weight_shares_add_up_per_hour() -> None:
    rows = shares(tor_rows()["tor_countries"], "cw_sum")
    assert [round(r["share_pct"], 1) for r in rows] == [75.0, 25.0, 45.4, 54.6]


def test_short_span_opens_on_everything() -> None:
    assert "range" not in time_axis([T(2026, 1, 8), T(2026, 2, 25)])


def test_empty_database_says_no_data_per_chart() -> None:
    page = report_page.render(data(naap=False, tor=False), T(2026, 12, 3), "chdb:///tmp/x")
    sections = re.findall(r'<section class="chart[^"]*" data-chart="([^"]+)" data-has-data="(\w+)">(.*?)</section>', page, re.S)
    assert len(sections) == 23
    for key, has_data, body in sections:
        assert has_data == "False", key
        assert '<div class="no-data">no data</div>' in body, key
        assert "Plotly.newPlot" not in body, key


def test_page_is_self_contained() -> None:
    page = report_page.render(data(), T(2026, 12, 3), "chdb:///tmp/x")
    assert not re.search(r"<script[^>]*\bsrc=|<link[^>]*\bhref=", page)  # nothing fetched
    assert page.count("Plotly.newPlot") == 23
    assert 'data-chart="tor_network" data-has-data="True"' in page


def test_tor_churn_breaks_at_a_missing_pair() -> None:
    charts = {c.key: c for c in tor_charts(data())}
    (line,) = charts["tor_churn"].figure.data
    # 03:00 has no churn row (its previous consensus is missing): a gap, not a zero
    assert [None if y is None else round(y, 2) for y in line.y] == [88.57, 2.86, None, 0.0]
    (hhi,) = charts["tor_concentration"].figure.data
    assert (hhi.name, list(hhi.y)) == ("country", [0.27663, 0.27049])


def test_analytics_charts_plot_the_rows() -> None:
    charts = {c.key: c for c in analytics_charts(data())}
    assert list(charts) == ["orchestrator_scorecard", "orchestrator_score_hours", "demand_supply",
                            "capacity_pipelines", "capacity_orchestrators"]
    score, coverage, reliability, quality = charts["orchestrator_scorecard"].figure.data
    # bars sorted by score, the best on top (last on a horizontal bar chart)
    assert list(score.y) == [subject_label(ORCH_A, "streamdiffusion-sdxl-v2v"),
                             subject_label(ORCH_B, "streamdiffusion-sdxl-v2v")]
    assert (list(score.x), list(coverage.x), list(reliability.x), list(quality.x)) == (
        [8.5, 42.5], [0.1, 0.5], [1.0, 1.0], [0.5, 0.5])
    assert [tuple(k) for k in score.meta][1] == (ORCH_B, "streamdiffusion-sdxl-v2v", "2026-02-25 20:00:00")
    assert "startup –" in score.customdata[0]  # no startup in that hour: shown as missing, not 0
    (line,) = charts["orchestrator_score_hours"].figure.data
    assert list(line.y) == [20.0, None, 30.0]  # 17:00 unscored: a gap
    demand = charts["demand_supply"].figure.data
    by_panel = {(tuple(t.meta), t.name): list(t.y) for t in demand}
    assert by_panel[(("gw-fra", "p"), "requested")] == [2, 1]
    assert by_panel[(("gw-fra", "p"), "unmet")] == [1, 0]
    assert by_panel[(("gw-sea", ""), "unmet")] == [1]
    assert [a.text for a in charts["demand_supply"].figure.layout.annotations] == ["gw-fra · p",
                                                                                   "gw-sea · (no pipeline)"]
    lines = {t.name: list(t.y) for t in charts["capacity_pipelines"].figure.data}
    # hours apart: a gap between them
    assert lines == {"live-video-to-video total": [30.0, None, 38.0], "live-video-to-video available": [9.0, None, 26.5]}
    available, in_use = charts["capacity_orchestrators"].figure.data
    assert (list(available.x), list(in_use.x)) == ([2.0, 17.5], [0.0, 7.5])
    assert "1 model(s), 1.0 warm, 25 GPUs (largest model), swing 0.12, 2,425 wei/pixel" in available.customdata[1]
    assert "no price" in available.customdata[0]
    (requested,) = [t for t in demand if tuple(t.meta) == ("gw-fra", "p") and t.name == "requested"]
    assert requested.customdata[0].endswith("1.5 min served, effective success 50%")


def test_demand_folds_the_smallest_panels_into_other() -> None:
    rows = [{"bucket": T(2026, 2, 25), "gateway": f"gw{i}", "pipeline": "p", "requested": i, "served": 0,
             "unmet": i, "no_orchestrator": 0, "served_minutes": 0.0} for i in range(1, 9)]
    chart = analytics_charts({"bucket_s": 300, "rows": {"demand_supply": rows}})[2]
    titles = [a.text for a in chart.figure.layout.annotations]
    assert titles == [f"gw{i} · p" for i in range(8, 2, -1)] + ["other"]
    other = [t for t in chart.figure.data if t.meta == "other" and t.name == "requested"]
    assert [list(t.y) for t in other] == [[1 + 2]]
    # hourly metrics: a 5-minute report bucket is widened to the hour
    assert "summed per hour" in chart.note


def test_tor_metric_charts_plot_the_rows() -> None:
    charts = {c.key: c for c in tor_charts(data())}
    shares_lines = {t.name: list(t.y) for t in charts["tor_top_shares"].figure.data}
    assert shares_lines == {"asn top 1": [12.5, None, 20.0], "asn top 5": [60.0]}
    traces = {t.name: t for t in charts["tor_path_probabilities"].figure.data}
    # the query sorts by exit probability, largest first: drawn at the top (last)
    assert list(traces["exit"].y) == ["guardB BBBBBBBB", "exitA AAAAAAAA"]
    assert (list(traces["exit"].x), list(traces["guard"].x)) == ([0.0, 50.0], [40.0, 0.0])
    assert "35 relays" in charts["tor_path_probabilities"].note
    flagged = {t.name: list(t.y) for t in charts["tor_uptime_flagged"].figure.data}
    assert flagged == {"flagged relays": [0.0, 31.0, 30.0], "groups": [0, 1, 1]}
