"""The benchmark event generator (bench/generate.py): deterministic, realistic, complete."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest

from bench import generate

EVENTS = 30_000
STREAMS = 60
SUCCESS_EDGES = {
    "gateway_receive_stream_request",
    "gateway_send_first_ingest_segment",
    "runner_receive_first_ingest_segment",
    "runner_send_first_processed_segment",
    "gateway_receive_first_processed_segment",
    "gateway_receive_few_processed_segments",
    "gateway_ingest_stream_closed",
}


def _lines(directory: Path) -> list[str]:
    out: list[str] = []
    for path in sorted(directory.glob(generate.FILE_PATTERN)):
        out.extend(path.read_text(encoding="utf-8").splitlines())
    return out


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("gen")
    manifest = generate.generate(out, EVENTS, seed=7, streams=STREAMS, per_file=8_000)
    lines = _lines(out)
    events: list[tuple[str, dict[str, Any] | None]] = []
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            event = None
        events.append((line, event if isinstance(event, dict) else None))
    return {"dir": out, "manifest": manifest, "lines": lines, "events": events}


def _data(event: dict[str, Any]) -> Any:
    data = event.get("data")
    return json.loads(data) if isinstance(data, str) else data


def _valid(generated: dict[str, Any]) -> list[dict[str, Any]]:
    """Well-formed envelopes of the known types, in file order."""
    return [
        e
        for _, e in generated["events"]
        if e
        and str(e.get("timestamp", "")).isdigit()
        and "data" in e
        and e.get("type") in generated["manifest"]["by_type"]
    ]


def _on_time(generated: dict[str, Any]) -> list[dict[str, Any]]:
    """Valid envelopes without the late ones (at or before the highest earlier time - 120 s)."""
    out, seen = [], 0
    for e in _valid(generated):
        ms = int(e["timestamp"])
        if not seen or ms > seen - 120_000:
            out.append(e)
        seen = max(seen, ms)
    return out


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate.generate(a, 3_000, seed=1, streams=20, per_file=1_000)
    generate.generate(b, 3_000, seed=1, streams=20, per_file=1_000)
    generate.generate(c, 3_000, seed=2, streams=20, per_file=1_000)
    files = sorted(p.name for p in a.glob(generate.FILE_PATTERN))
    assert files == ["events-00000.jsonl", "events-00001.jsonl", "events-00002.jsonl"]
    for name in files:
        assert (a / name).read_bytes() == (b / name).read_bytes()
    assert _lines(a) != _lines(c)


def test_exact_count_and_file_split(generated: dict[str, Any]) -> None:
    assert len(generated["lines"]) == EVENTS == generated["manifest"]["events"]
    sizes = [
        len(p.read_text().splitlines())
        for p in sorted(generated["dir"].glob(generate.FILE_PATTERN))
    ]
    assert sizes == [8_000, 8_000, 8_000, 6_000]
    assert (
        generated["dir"] / generate.MANIFEST
    ).exists()  # `_` prefix: ignored by the Flink file source


def test_event_mix_like_the_production_sample(generated: dict[str, Any]) -> None:
    counts = Counter(e["type"] for e in _valid(generated))
    share = {t: n / EVENTS for t, n in counts.items()}
    assert 0.45 <= share["stream_ingest_metrics"] <= 0.55
    assert 0.21 <= share["ai_stream_status"] <= 0.30
    assert 0.08 <= share["stream_trace"] <= 0.14
    rest = 1 - share["stream_ingest_metrics"] - share["ai_stream_status"] - share["stream_trace"]
    assert 0.08 <= rest <= 0.20
    for kind in (
        "create_new_payment",
        "discovery_results",
        "network_capabilities",
        "ai_stream_events",
    ):
        assert counts[kind] > 0, kind


def test_average_line_is_about_700_bytes(generated: dict[str, Any]) -> None:
    total = sum(len(line.encode()) for line in generated["lines"])
    average = total / len(generated["lines"])
    assert 650 <= average <= 800
    assert abs(average - generated["manifest"]["avg_line_bytes"]) < 1


def test_quirks_of_the_real_events_are_present(generated: dict[str, Any]) -> None:
    valid = _valid(generated)
    assert any(isinstance(e["timestamp"], str) for e in valid)
    assert any(isinstance(e["timestamp"], int) for e in valid)
    assert any(isinstance(e["data"], str) for e in valid)
    assert any(isinstance(e["data"], dict) for e in valid)
    assert any(isinstance(e["data"], list) for e in valid)
    assert any(e["id"] == "" for e in valid)
    assert any(e["gateway"] == "" for e in valid)
    status = [_data(e) for e in valid if e["type"] == "ai_stream_status"]
    addresses = [d["orchestrator_info"]["address"] for d in status]
    assert any(a != a.lower() for a in addresses) and any(a == a.lower() for a in addresses)
    assert all(d["pipeline_id"] == "" for d in status)
    caps = [o for e in valid if e["type"] == "network_capabilities" for o in _data(e)]
    assert any(o["address"] != o["address"].lower() for o in caps)
    assert any(o["hardware"] is None and o["capabilities_prices"] is None for o in caps)
    gpu = next(o for o in caps if o["hardware"])
    assert set(gpu["hardware"][0]["gpu_info"]["0"]) >= {
        "id",
        "name",
        "major",
        "minor",
        "memory_free",
        "memory_total",
    }
    assert "PerCapability" in gpu["capabilities"]["constraints"]
    ingest = [_data(e) for e in valid if e["type"] == "stream_ingest_metrics"]
    orders = {tuple(t["type"] for t in d["stats"]["track_stats"]) for d in ingest}
    assert orders == {("video", "audio"), ("audio", "video")}
    swaps = [
        _data(e)
        for e in valid
        if e["type"] == "stream_trace" and _data(e)["type"] == "orchestrator_swap"
    ]
    assert swaps and all("timestamp" not in d for d in swaps)
    payments = [_data(e) for e in valid if e["type"] == "create_new_payment"]
    assert any(p["requestID"] == "" for p in payments)


def test_faults_malformed_duplicates_and_late(generated: dict[str, Any]) -> None:
    malformed = sum(1 for _, e in generated["events"] if e is None)
    assert 0 < malformed < EVENTS * 0.005
    ids = Counter(e["id"] for e in _valid(generated) if e["id"])
    duplicates = sum(n - 1 for n in ids.values() if n > 1)
    assert EVENTS * 0.001 < duplicates < EVENTS * 0.01
    # bounded disorder below the 120 s lateness, except the deliberately late events (hours old)
    seen = 0
    late = 0
    for e in _valid(generated):
        ms = int(e["timestamp"])
        if seen and ms <= seen - 120_000:
            late += 1
            assert ms <= seen - 3_000_000  # late means far in the past, not borderline
        seen = max(seen, ms)
    assert 0 < late < EVENTS * 0.005
    assert late == generated["manifest"]["extras"]["late"]


def test_trace_sequences_are_complete(generated: dict[str, Any]) -> None:
    edges: dict[str, list[str]] = defaultdict(list)
    for e in _on_time(generated):
        if e["type"] == "stream_trace":
            edges[_data(e)["request_id"]].append(_data(e)["type"])
    outcomes = Counter()
    for request, kinds in edges.items():
        kinds_set = set(kinds)
        assert "gateway_receive_stream_request" in kinds_set, request
        assert "gateway_ingest_stream_closed" in kinds_set, request
        if "gateway_send_first_ingest_segment" in kinds_set:
            assert SUCCESS_EDGES <= kinds_set, request
            outcomes["served"] += 1
        else:
            assert "gateway_no_orchestrators_available" in kinds_set, request
            outcomes["no_orchestrator"] += 1
        if "orchestrator_swap" in kinds_set:
            outcomes["swap"] += 1
    assert outcomes["served"] > 10 * outcomes["no_orchestrator"] > 0
    assert outcomes["swap"] > 0


def test_status_series_start_with_a_zero_fps_warmup(generated: dict[str, Any]) -> None:
    series: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for e in _on_time(generated):
        if e["type"] == "ai_stream_status":
            d = _data(e)
            series[d["stream_id"]].append((int(e["timestamp"]), d["inference_status"]["fps"]))
    assert len(series) > 50
    for samples in series.values():
        samples.sort()
        assert samples[0][1] == 0
        gaps = [b[0] - a[0] for a, b in zip(samples, samples[1:], strict=False)]
        assert all(
            9_000 <= g <= 11_000 for g in gaps if g
        )  # ~10 s cadence (0: a duplicate delivery)
    assert any(fps > 0 for samples in series.values() for _, fps in samples)
