"""The hourly analytics metrics (jobs/naap/analytics.py) on the real fixtures, against a hand
computation: an independent Python reading of the catalog's definitions over the same events
(the real capture files, the single-event samples and the two-attempt request derived from real
trace events, tests/swap_sequence.py), compared row by row with the BATCH run ``p1``. The other
runs (file orders, parallelism 2, STREAMING) are compared whole with ``p1`` by
test_order_independence.py, so they give the same rows.
"""

from __future__ import annotations

import datetime
import json
from collections import defaultdict
from typing import Any

import pytest
import swap_sequence
from conftest import input_files

from jobs import settings
from jobs.naap import catalog

pytestmark = pytest.mark.slow

HOUR_MS = 3_600_000
DEDUP_MS = settings.load({}).dedup_window_s * 1000
STARTUP = {catalog.SEND_INGEST, catalog.RUNNER_RECEIVE, catalog.RUNNER_SEND, catalog.FIRST_PROCESSED,
           catalog.FEW_PROCESSED, catalog.SWAP}


def _events() -> list[dict[str, Any]]:
    """The clean inputs, decoded and deduplicated by id (the corpus's hours are left out)."""
    files = input_files()
    lines = [line for name, ls in files.items() if name != "corpus.jsonl" for line in ls]
    assert set(swap_sequence.lines()) <= set(lines)
    seen, events = set(), []
    for line in lines:
        env = json.loads(line)
        if env["id"] in seen:
            continue
        seen.add(env["id"])
        data = env["data"]
        data = json.loads(data) if isinstance(data, str) else data
        events.append({"type": env["type"], "ms": int(env["timestamp"]), "gateway": env.get("gateway", ""), "data": data})
    return events


def _request_rows(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of requests: trace edges, status samples (with warm-up), ai_stream_events."""
    rows = []
    for e in events:
        d = e["data"]
        if not isinstance(d, dict) or not d.get("request_id"):
            continue
        info = d.get("orchestrator_info") or {}
        base = {"request": d["request_id"], "gateway": e["gateway"], "orch": (info.get("address") or "").lower(),
                "url": info.get("url") or "", "pipeline": d.get("pipeline") or "", "ms": e["ms"],
                "win": e["ms"] // DEDUP_MS, "fps": None, "warmup": False, "stream": d.get("stream_id", "")}
        if e["type"] == "stream_trace" and d.get("type") in catalog.EDGES:
            rows.append(base | {"edge": d["type"], "edge_ms": d.get("timestamp") or e["ms"]})
        elif e["type"] == "ai_stream_status" and d.get("stream_id"):
            fps = (d.get("inference_status") or {}).get("fps") or 0.0
            rows.append(base | {"edge": "status", "edge_ms": e["ms"], "fps": float(fps)})
        elif e["type"] == "ai_stream_events":
            rows.append(base | {"edge": "event", "edge_ms": e["ms"], "orch": "", "url": ""})
    for r in rows:
        if r["edge"] == "status":
            positives = [s["ms"] for s in rows if s["edge"] == "status" and s["stream"] == r["stream"]
                         and s["fps"] > 0 and s["win"] <= r["win"]]
            r["warmup"] = r["fps"] == 0 and (not positives or r["ms"] < min(positives))
        before = [s for s in rows if s["request"] == r["request"] and s["win"] <= r["win"]]
        r["req_pipeline"] = max((s["pipeline"] for s in before if s["pipeline"]), default="")
        r["req_request_ms"] = min((s["edge_ms"] for s in before if s["edge"] == catalog.REQUEST), default=None)
        r["req_swaps"] = sum(s["edge"] == catalog.SWAP for s in before)
        r["hour"] = r["ms"] // HOUR_MS
    return rows


def _expected_demand(rows: list[dict[str, Any]]) -> dict[tuple, dict[str, float]]:
    per_request: dict[tuple, list] = defaultdict(list)
    for r in rows:
        per_request[(r["hour"], r["request"])].append(r)
    groups: dict[tuple, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for (hour, _), rs in per_request.items():
        edges = {r["edge"] for r in rs}
        gateway = max((r["gateway"] for r in rs if r["gateway"]), default="")
        pipeline = max((r["req_pipeline"] for r in rs if r["req_pipeline"]), default="")
        out = [r["edge_ms"] for r in rs if r["edge"] in (catalog.FIRST_PROCESSED, catalog.FEW_PROCESSED)
               or (r["edge"] == "status" and r["fps"] > 0)]
        requested, served = catalog.REQUEST in edges, catalog.FIRST_PROCESSED in edges
        g = groups[(hour, gateway, pipeline)]
        g["demand_requested_sessions"] += requested
        g["demand_no_orchestrator_sessions"] += catalog.NO_ORCHESTRATORS in edges
        g["demand_served_sessions"] += served
        g["demand_served_minutes"] += (max(out) - min(out)) / 60000 if out else 0
        g["unmet_demand_sessions"] += requested and not served
        g["_requested_served"] += requested and served
    for g in groups.values():
        if g["demand_requested_sessions"]:
            g["demand_effective_success_rate"] = g["_requested_served"] / g["demand_requested_sessions"]
        del g["_requested_served"]
    return groups


def _expected_scorecard(rows: list[dict[str, Any]]) -> dict[tuple, dict[str, Any]]:
    attempts: dict[tuple, list] = defaultdict(list)
    minutes: dict[tuple, set] = defaultdict(set)
    for r in rows:
        if r["orch"]:
            attempts[(r["hour"], r["request"], r["orch"])].append(r)
        if r["orch"] and r["edge"] == "status":
            minutes[(r["hour"], r["orch"], r["req_pipeline"])].add(r["ms"] // 60000)
    groups: dict[tuple, dict[str, Any]] = defaultdict(lambda: defaultdict(float))
    for (hour, _, orch), rs in attempts.items():
        pipeline = max((r["req_pipeline"] for r in rs if r["req_pipeline"]), default="")
        edges = {r["edge"] for r in rs}
        g = groups[(hour, orch, pipeline)]
        g["started"] += bool(edges & STARTUP)
        g["first"] += catalog.FIRST_PROCESSED in edges
        g["with_edges"] += bool(edges - {"status", "event"})
        g["swapped"] += catalog.SWAP in edges
        status = [r for r in rs if r["edge"] == "status"]
        g["windows"] += len({r["ms"] // 300000 for r in status})
        g["viable"] += len({r["ms"] // 300000 for r in status if r["fps"] > 0})
        for name, edge in (("ptff", catalog.FIRST_PROCESSED), ("playable", catalog.FEW_PROCESSED)):
            values = [r["edge_ms"] - r["req_request_ms"] for r in rs if r["edge"] == edge and r["req_swaps"] == 0
                      and r["req_request_ms"] is not None and r["edge_ms"] >= r["req_request_ms"]]
            if values:
                g[f"{name}_n"] += 1
                g[f"{name}_sum"] += min(values)
        fps = [r["fps"] for r in status if not r["warmup"]]
        g["fps_n"] += len(fps)
        g["fps_sum"] += sum(fps)
    for key, g in groups.items():
        g["coverage"] = len(minutes[key]) / 60
        parts = [(0.4, g["first"] / g["started"] if g["started"] else None),
                 (0.2, 1 - g["swapped"] / g["with_edges"] if g["with_edges"] else None),
                 (0.4, g["viable"] / g["windows"] if g["windows"] else None)]
        weight = sum(w for w, v in parts if v is not None)
        g["reliability"] = sum(w * v for w, v in parts if v is not None) / weight if weight else None
    return groups


def _rows(run, category: str) -> list[dict]:  # type: ignore[no-untyped-def]
    return [r for r in run.tables()["calculated_metrics"] if r["metric_category"] == category]


def _hour(row: dict) -> int:
    return int(datetime.datetime.fromisoformat(row["window_start"] + "+00:00").timestamp() * 1000) // HOUR_MS


def test_demand_vs_supply_matches_a_hand_computation(runs) -> None:  # type: ignore[no-untyped-def]
    expected = _expected_demand(_request_rows(_events()))
    got: dict[tuple, dict[str, float]] = defaultdict(dict)
    for r in _rows(runs["p1"], "demand"):
        key = (_hour(r), r["gateway"], r["pipeline"])
        if key[0] in {k[0] for k in expected}:
            got[key][r["metric_name"]] = r["metric_value"]
            assert r["metric_version"] == 1 and r["window_end"][11:13] in ("00", *(f"{h:02d}" for h in range(1, 24)))
    assert set(got) == set(expected)
    for key, values in expected.items():
        assert got[key] == pytest.approx(dict(values), abs=1e-6), key
    # the 9 real requests, the sample file's lone stream request and swap2att: 11 requested;
    # 4 with no orchestrator available (734b33f3 after its swap, 7ae0c39b, 7dc25b96, a06463a9);
    # 6 served (5 real + swap2att); 5 unmet (the three without orchestrator, 6806f180 that timed
    # out, the sample's request with no further edge)
    total = {name: sum(v.get(name, 0) for v in got.values()) for name in
             ("demand_requested_sessions", "demand_no_orchestrator_sessions", "demand_served_sessions",
              "unmet_demand_sessions")}
    assert total == {"demand_requested_sessions": 11, "demand_no_orchestrator_sessions": 4,
                     "demand_served_sessions": 6, "unmet_demand_sessions": 5}
    unmet = [r for r in _rows(runs["p1"], "demand") if r["metric_name"] == "unmet_demand_sessions"
             and r["metric_value"] > 0]
    assert {json.loads(r["metric_metadata"])["unmet_no_orchestrator"] for r in unmet} == {0, 1}


def test_orchestrator_scorecard_components_match_a_hand_computation(runs) -> None:  # type: ignore[no-untyped-def]
    expected = _expected_scorecard(_request_rows(_events()))
    rows = _rows(runs["p1"], "scorecard")
    got = {(_hour(r), r["orchestrator_address"], r["pipeline"], r["metric_name"]): r for r in rows
           if _hour(r) in {k[0] for k in expected}}
    assert {k[:3] for k in got} == set(expected)
    for key, g in expected.items():
        coverage = got[(*key, "orchestrator_coverage")]
        assert coverage["metric_value"] == pytest.approx(g["coverage"]), key
        meta = json.loads(coverage["metric_metadata"])
        assert (meta["started"], meta["first_frame"], meta["with_edges"], meta["swapped"], meta["windows"],
                meta["viable_windows"], meta["ptff_n"], meta["playable_n"], meta["fps_n"]) == (
            g["started"], g["first"], g["with_edges"], g["swapped"], g["windows"], g["viable"],
            g["ptff_n"], g["playable_n"], g["fps_n"]), key
        assert meta["ptff_sum_ms"] == (g["ptff_sum"] if g["ptff_n"] else None)
        assert meta["fps_sum"] == pytest.approx(g["fps_sum"])
        reliability = got[(*key, "orchestrator_reliability")]
        assert reliability["metric_value"] == pytest.approx(g["reliability"]), key
        assert json.loads(reliability["metric_metadata"]) == meta
    # the two-attempt request: 0x5fd2... delivered the first frame, then was swapped away (no-swap
    # 0 for that attempt); 0x22d4... took over: its latencies are not scored (a swap came first)
    swapped = got[(1771948800000 // HOUR_MS, "0x5fd25374e1e87d6728ec8601c512dfabab375ab5",
                   "streamdiffusion-sdxl-v2v", "orchestrator_reliability")]
    meta = json.loads(swapped["metric_metadata"])
    assert (meta["attempts"], meta["swapped"], meta["no_swap"], meta["ptff_n"]) == (2, 2, 0.0, 2)
    taker = json.loads(got[(1771948800000 // HOUR_MS, "0x22d4da4b5ce66601a7fca3cee56070d2deaa6072",
                            "streamdiffusion-sdxl-v2v", "orchestrator_coverage")]["metric_metadata"])
    assert (taker["first_frame"], taker["ptff_n"], taker["no_swap"]) == (1, 0, 1.0)


def test_capacity_matches_the_announcements(runs) -> None:  # type: ignore[no-untyped-def]
    from udfs.capacity import capacity_facts

    events = [e for e in _events() if e["type"] == "network_capabilities"]
    groups: dict[tuple, list] = defaultdict(list)
    for e in events:
        for orch in e["data"]:
            if not isinstance(orch, dict) or not orch.get("address"):
                continue
            caps = orch.get("capabilities") or {}
            per = (caps.get("constraints") or {}).get("PerCapability") or {}
            models = {m: v for entry in per.values() for m, v in (entry.get("models") or {}).items()}
            hardware = [h for h in orch.get("hardware") or [] if isinstance(h, dict) and h.get("model_id")]
            prices = {p.get("constraint"): p["pricePerUnit"] / (p.get("pixelsPerUnit") or 1)
                      for p in orch.get("capabilities_prices") or [] if "pricePerUnit" in p}
            for model in set(models) | {h["model_id"] for h in hardware}:
                hw = [h for h in hardware if h["model_id"] == model]
                c = models.get(model, {})
                groups[(e["ms"] // HOUR_MS, orch["address"].lower(), hw[0]["pipeline"] if hw else "", model)].append(
                    (c.get("capacity") or 0, c.get("capacityInUse") or 0, sum(len(h.get("gpu_info") or {}) for h in hw),
                     c.get("warm") is True, prices.get(model)))
    rows = {(_hour(r), r["orchestrator_address"], r["pipeline"], r["model_id"], r["metric_name"]): r["metric_value"]
            for r in _rows(runs["p1"], "capacity")}
    assert {k[:4] for k in rows} == set(groups)
    for key, announced in groups.items():
        totals = [a[0] + a[1] for a in announced]
        available = [a[0] for a in announced]
        assert rows[(*key, "capacity_total")] == max(totals), key
        assert rows[(*key, "capacity_available")] == pytest.approx(sum(available) / len(available)), key
        assert rows[(*key, "gpu_count")] == max(a[2] for a in announced), key
        assert rows[(*key, "model_warm_share")] == pytest.approx(sum(a[3] for a in announced) / len(announced)), key
        priced = [a[4] for a in announced if a[4] is not None]
        assert rows.get((*key, "price_per_unit")) == (pytest.approx(max(priced)) if priced else None), key
        if max(totals):
            assert rows[(*key, "capacity_swing")] == pytest.approx((max(available) - min(available)) / max(totals))
    # 0xb120a72a...: two gateways' announcements 26 s apart, 16 then 19 free of 25 (25 GPUs listed)
    key = (1772049600000 // HOUR_MS, "0xb120a72a9264e90092e8197c0fabd210c18bc5be", "live-video-to-video",
           "streamdiffusion-sdxl")
    assert (rows[(*key, "capacity_total")], rows[(*key, "capacity_available")], rows[(*key, "gpu_count")]) == (25, 17.5, 25)
    assert rows[(*key, "capacity_swing")] == pytest.approx(3 / 25)
    # every capacity metric of the catalog is on the fixtures; a model without a price has no price row
    assert {k[4] for k in rows} == {m.name for m in catalog.ANALYTICS if m.category == "capacity"}
    assert (1771936670203 // HOUR_MS, "0xb5164d6b780786338c52f4787abba0e4a371af4d", "", "openai/whisper-large-v3",
            "price_per_unit") not in rows
    assert rows[(1771936670203 // HOUR_MS, "0xb5164d6b780786338c52f4787abba0e4a371af4d", "",
                 "openai/whisper-large-v3", "model_warm_share")] == 0.0
    assert len(capacity_facts([])) == 0


def test_every_metric_row_is_defined_by_the_catalog(runs) -> None:  # type: ignore[no-untyped-def]
    """Every calculated_metrics row of the run names a catalog metric with its category, unit
    and version; every analytics metric the job computes is written on the fixtures (the score is
    the view's: tests/integration/test_scorecard_view.py)."""
    rows = runs["p1"].tables()["calculated_metrics"]
    for r in rows:
        m = catalog.BY_NAME[r["metric_name"]]
        assert (r["metric_category"], r["metric_unit"], r["metric_version"]) == (m.category, m.unit, m.version), m.name
    computed = {m.name for m in catalog.ANALYTICS} - set(catalog.QUERY_TIME)
    assert computed <= {r["metric_name"] for r in rows}
    assert all(catalog.BY_NAME[n].definition and catalog.BY_NAME[n].grain.endswith("hour") for n in computed)


def _weighted_quantile(pairs: list[tuple[float, int]], level: float) -> float:
    """The first value (ascending) whose cumulative weight reaches level x the total weight."""
    total, seen = sum(w for _, w in pairs), 0
    for value, weight in sorted(pairs):
        seen += weight
        if seen >= level * total:
            return value
    raise AssertionError("empty cohort")


def _expected_scores(rows: list[dict]) -> dict[tuple, dict[str, Any]]:
    """The catalog's orchestrator_score over the run's orchestrator_reliability rows."""
    inputs = []
    for r in rows:
        if r["metric_name"] != "orchestrator_reliability":
            continue
        meta = json.loads(r["metric_metadata"])
        hour = datetime.datetime.fromisoformat(r["metric_timestamp"])
        inputs.append({"key": (r["metric_timestamp"][:19], r["orchestrator_address"], r["pipeline"]),
                       "day": hour.date(), "pipeline": r["pipeline"], "reliability": r["metric_value"], **meta})
    out = {}
    for i in inputs:
        cohort = [c for c in inputs if c["pipeline"] == i["pipeline"] and 1 <= (i["day"] - c["day"]).days <= 7]
        scores = {}
        for kind, low, high, higher_is_better in (("ptff", 0.5, 0.9, False), ("playable", 0.5, 0.9, False),
                                                  ("fps", 0.1, 0.5, True)):
            n, value = i[f"{kind}_n"], i[f"{kind}_mean" if kind == "fps" else f"{kind}_mean_ms"]
            pairs = [(c[f"{kind}_mean" if kind == "fps" else f"{kind}_mean_ms"], c[f"{kind}_n"])
                     for c in cohort if c[f"{kind}_n"] > 0]
            raw = None
            if n > 0 and sum(w for _, w in pairs) >= 3:
                q_low, q_high = _weighted_quantile(pairs, low), _weighted_quantile(pairs, high)
                if higher_is_better:  # fps: 0 at p10, 1 at p50
                    raw = (min(1.0, max(0.0, (value - q_low) / (q_high - q_low))) if q_high > q_low
                           else float(value >= q_high))
                else:  # latency: 1 at p50, 0 at p90
                    raw = (min(1.0, max(0.0, (q_high - value) / (q_high - q_low))) if q_high > q_low
                           else float(value <= q_low))
            scores[kind] = 0.5 if raw is None else (n * raw + 1.5) / (n + 3)
            scores[f"{kind}_raw"] = raw
        quality = 0.6 * (0.6 * scores["ptff"] + 0.4 * scores["playable"]) + 0.4 * scores["fps"]
        out[i["key"]] = {**scores, "quality": quality,
                         "score": 100 * i["coverage"] * (0.7 * i["reliability"] + 0.3 * quality)}
    return out


def test_orchestrator_score_on_the_real_fixtures_matches_a_hand_computation(runs, migrated) -> None:  # type: ignore[no-untyped-def]
    """naap.orchestrator_scorecard (sql/clickhouse/naap/0017) over the run's own rows, loaded from
    its Parquet copy into a database of their own, against the catalog's formula in Python.

    The fixtures alone never fill a cohort (3 samples of the pipeline in the 7 days before an
    hour with its own sample): every score would be neutral. So the component rows are also
    copied one week later, derived from the real ones: the copies' cohorts are the real hours,
    and their quality is placed against them.
    """
    from conftest import ROOT, load_parquet_copy

    from jobs.connectors import clickhouse

    week = datetime.timedelta(days=7)
    real = [r for r in runs["p1"].tables()["calculated_metrics"] if r["metric_category"] == "scorecard"]
    later = [r | {"metric_timestamp": str(datetime.datetime.fromisoformat(r["metric_timestamp"]) + week)} for r in real]
    rows = real + later
    client = clickhouse.connect(migrated)
    load_parquet_copy(client, "calculated_metrics", runs["p1"].var_dir / "parquet" / "calculated_metrics",
                      "scorecard_real", "metric_date")
    client.command(
        "INSERT INTO scorecard_real.calculated_metrics SELECT * REPLACE (metric_timestamp + INTERVAL 7 DAY AS "
        "metric_timestamp, window_start + INTERVAL 7 DAY AS window_start, window_end + INTERVAL 7 DAY AS window_end) "
        "FROM scorecard_real.calculated_metrics WHERE metric_category = 'scorecard'")
    view = (ROOT / "sql" / "clickhouse" / "naap" / "0017_orchestrator_scorecard.sql").read_text()
    client.command(view.replace("naap.", "scorecard_real."))
    result = client.query("SELECT toString(hour) AS h, * FROM scorecard_real.orchestrator_scorecard")
    got = {(r["h"][:19], r["orchestrator_address"], r["pipeline"]): r
           for r in (dict(zip(result.column_names, row, strict=True)) for row in result.result_rows)}
    expected = _expected_scores(rows)
    assert set(got) == set(expected) and len(got) == len([r for r in rows if r["metric_name"] ==
                                                          "orchestrator_reliability"])
    for key, want in expected.items():
        row = got[key]
        for kind in ("ptff", "playable", "fps"):
            assert row[f"{kind}_score"] == pytest.approx(want[kind]), (key, kind)
        assert row["quality"] == pytest.approx(want["quality"]), key
        assert row["score"] == pytest.approx(want["score"]), key
    # the copies are placed against the real hours (not every score neutral)
    placed = {k: [kind for kind in ("ptff", "playable", "fps") if w[f"{kind}_raw"] is not None]
              for k, w in expected.items()}
    placed = {k: kinds for k, kinds in placed.items() if kinds}
    print(f"\n{len(expected)} scored orchestrator-hours, placed against a cohort: {placed}")
    copies = {(r["metric_timestamp"][:19], r["orchestrator_address"], r["pipeline"]) for r in later}
    assert placed and set(placed) <= copies
    assert {kind for kinds in placed.values() for kind in kinds} == {"ptff", "playable", "fps"}
