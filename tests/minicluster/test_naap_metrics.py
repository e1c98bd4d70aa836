"""Metric values on the real fixtures, at parallelism 1 and 2, in ClickHouse and in Parquet.

Expected values are computed by hand below from the fixture timestamps (payload
``data.timestamp`` for trace edges, envelope time for status samples). Every latency of catalog
version 2 is checked on the real requests that have its edges, and per orchestrator attempt on
a request with a swap derived from real events (tests/swap_sequence.py).
"""

import json
import statistics

import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pytest
import s3server
from conftest import canonical, load_parquet_copy

from jobs.connectors import clickhouse
from jobs.naap import catalog
from jobs.settings import Settings

pytestmark = pytest.mark.slow


def _metrics(run) -> list[dict]:  # type: ignore[no-untyped-def]
    return run.tables()["calculated_metrics"]


def _value(rows: list[dict], name: str, **where: str) -> float:
    (row,) = [r for r in rows if r["metric_name"] == name and all(r[k] == v for k, v in where.items())]
    return row["metric_value"]


def _latency(rows: list[dict], name: str, request_id: str, orchestrator: str | None = None) -> dict:
    (row,) = [r for r in rows if r["metric_name"] == name and r["request_id"] == request_id
              and (orchestrator is None or r["orchestrator_address"] == orchestrator)]
    return row


def _gateway_edges(start: str, end: str) -> dict:
    moments = {catalog.REQUEST: "instant"}
    return {
        "start_edge": start, "end_edge": end, "start_clock": "gateway", "end_clock": "gateway",
        "start_moment": moments.get(start, "segment_end"), "end_moment": "segment_end", "time_field": "payload",
    }


def test_catalog_v2_latencies_on_a_real_request(runs) -> None:  # type: ignore[no-untyped-def]
    m = _metrics(runs["p1"])
    # request a818d729 (2026-02-23 session 1), payload times (envelope in brackets where it differs):
    # gateway_receive_stream_request 1771803961194, gateway_send_first_ingest_segment 1771803970508,
    # runner_receive_first_ingest_segment 1771803972754 [1771803972798: relay offset 44],
    # runner_send_first_processed_segment 1771803970682 [1771803970685: relay offset 3],
    # gateway_receive_first_processed_segment 1771803971774, ..._few_processed_segments 1771803974211
    expected = {
        "prompt_to_first_frame_latency": 1771803971774 - 1771803961194,  # 10580
        "prompt_to_playable_latency": 1771803974211 - 1771803961194,  # 13017
        "orchestrator_selection_latency": 1771803970508 - 1771803961194,  # 9314
        "first_segment_to_first_frame_latency": 1771803971774 - 1771803970508,  # 1266
        "first_frame_to_playable_latency": 1771803974211 - 1771803971774,  # 2437
        "gateway_to_runner_latency": 1771803972754 - 1771803970508,  # 2246 (two clocks)
    }
    assert {m.name for m in catalog.LATENCIES} == set(expected)
    rows = {name: _latency(m, name, "a818d729") for name in expected}
    assert {name: r["metric_value"] for name, r in rows.items()} == expected
    assert all(r["metric_version"] == 2 for r in rows.values())
    for name in ("prompt_to_first_frame_latency", "prompt_to_playable_latency", "orchestrator_selection_latency"):
        meta = json.loads(rows[name]["metric_metadata"])
        metric = catalog.BY_NAME[name]
        assert meta == {**_gateway_edges(metric.start_edge, metric.end_edge), "scope": "request",
                        "swap_count": 0, "orchestrator_count": 1}
    for name in ("first_segment_to_first_frame_latency", "first_frame_to_playable_latency"):
        metric = catalog.BY_NAME[name]
        assert json.loads(rows[name]["metric_metadata"]) == {
            **_gateway_edges(metric.start_edge, metric.end_edge), "scope": "attempt", "swap_count": 0}
    # the cross-host leg carries the clock-offset evidence: relay offsets 44 (its own edge) and
    # 3 (the other runner edge); at most 2246 + 3 ms on the gateway's clock
    assert json.loads(rows["gateway_to_runner_latency"]["metric_metadata"]) == {
        "start_edge": catalog.SEND_INGEST, "end_edge": catalog.RUNNER_RECEIVE,
        "start_clock": "gateway", "end_clock": "runner", "start_moment": "segment_end", "end_moment": "segment_end",
        "time_field": "payload", "scope": "attempt", "swap_count": 0,
        "relay_offset_ms": 44, "relay_offset_min_ms": 3, "relay_offset_max_ms": 44, "upper_bound_ms": 2249,
    }
    # removed from the catalog, so neither produced nor rejected
    assert not [r for r in m if r["metric_name"] in catalog.REMOVED]
    assert not [r for r in m if r["metric_name"] == "trace_latency_rejects" and r["request_id"] == "a818d729"]
    # request cae483be: stream request 1771802056762, first processed 1771802076130 -> 19368
    assert _value(m, "prompt_to_first_frame_latency", request_id="cae483be") == 19368.0
    # request db936fab (2026-01-08 Kafka capture): 2655 ms; the runner's clock is ahead of the
    # gateway's: relay offsets -2 (receive) and 1 (send), so 2 ms is at most 0 on the gateway's clock
    assert _value(m, "prompt_to_first_frame_latency", request_id="db936fab") == 2655.0
    cross = _latency(m, "gateway_to_runner_latency", "db936fab")
    assert cross["metric_value"] == 1767908947585 - 1767908947583
    assert json.loads(cross["metric_metadata"])["upper_bound_ms"] == 0
    row = rows["prompt_to_first_frame_latency"]
    assert row["orchestrator_address"] == "0xcf5654abfaefc001a84aeb18fe4c13bfd0f8a77b"
    assert row["gateway"] == "cloud-spe-ai-live-video-tester-fra"
    assert row["stream_id"] == "aiJobTesterStream-1771803956707505111"
    assert (row["window_start"], row["window_end"]) == ("2026-02-22 23:46:01.194000", "2026-02-22 23:46:11.774000")
    assert (row["metric_unit"], row["metric_category"], row["metric_version"]) == ("ms", "performance", 2)


def test_every_v2_latency_where_its_edges_exist(runs) -> None:  # type: ignore[no-untyped-def]
    m = _metrics(runs["p1"])
    # the six real requests that reached an orchestrator have every edge: every latency, once
    # per request (request metrics) or per attempt (one orchestrator each)
    served = {"a818d729", "cae483be", "734b33f3", "7d208f6e", "db936fab", "swap2att"}
    for metric in catalog.LATENCIES:
        got = sorted(r["request_id"] for r in m if r["metric_name"] == metric.name)
        # swap2att: two attempts, two rows of each attempt metric
        assert got == sorted([*served, *(["swap2att"] if metric.scope == catalog.ATTEMPT_SCOPE else [])]), metric.name
    # 7d208f6e (data as a JSON string): runner receive 1772052067394, gateway send 1772052065266
    assert _value(m, "gateway_to_runner_latency", request_id="7d208f6e") == 2128.0
    assert _value(m, "first_segment_to_first_frame_latency", request_id="7d208f6e") == 1772052066500 - 1772052065266


def test_latencies_per_orchestrator_attempt_after_a_swap(runs) -> None:  # type: ignore[no-untyped-def]
    m = _metrics(runs["p1"])
    first, second = "0x5fd25374e1e87d6728ec8601c512dfabab375ab5", "0x22d4da4b5ce66601a7fca3cee56070d2deaa6072"
    # tests/swap_sequence.py: attempt 1 = the edges of 734b33f3 (stream request 1771950561006,
    # send 1771950570934, first processed 1771950571655, few 1771950573340, runner receive
    # 1771950572309 [relay offset 50], runner send [53]) then orchestrator_swap; attempt 2 = the
    # edges of cae483be shifted: send 1771950586625, first 1771950587407, few 1771950590031,
    # runner receive 1771950588388 [72], runner send [72]
    request = {name: _latency(m, name, "swap2att") for name in (
        "prompt_to_first_frame_latency", "prompt_to_playable_latency", "orchestrator_selection_latency")}
    assert {n: r["metric_value"] for n, r in request.items()} == {
        "prompt_to_first_frame_latency": 10649, "prompt_to_playable_latency": 12334,
        "orchestrator_selection_latency": 9928}
    meta = json.loads(request["prompt_to_first_frame_latency"]["metric_metadata"])
    assert (meta["swap_count"], meta["orchestrator_count"]) == (1, 2)
    attempts = {
        (o, name): _latency(m, name, "swap2att", o)
        for o in (first, second)
        for name in ("first_segment_to_first_frame_latency", "first_frame_to_playable_latency",
                     "gateway_to_runner_latency")
    }
    assert {k: r["metric_value"] for k, r in attempts.items()} == {
        (first, "first_segment_to_first_frame_latency"): 1771950571655 - 1771950570934,  # 721
        (first, "first_frame_to_playable_latency"): 1771950573340 - 1771950571655,  # 1685
        (first, "gateway_to_runner_latency"): 1771950572309 - 1771950570934,  # 1375
        (second, "first_segment_to_first_frame_latency"): 1771950587407 - 1771950586625,  # 782
        (second, "first_frame_to_playable_latency"): 1771950590031 - 1771950587407,  # 2624
        (second, "gateway_to_runner_latency"): 1771950588388 - 1771950586625,  # 1763
    }
    assert attempts[(first, "first_frame_to_playable_latency")]["orchestrator_url"] == "https://server.ai-bitbender.xyz:1112"
    assert attempts[(second, "first_frame_to_playable_latency")]["orchestrator_url"] == "https://legiocorp.link:8777"
    # attempt 1 ended with the swap away from its orchestrator
    assert json.loads(attempts[(first, "gateway_to_runner_latency")]["metric_metadata"])["swap_count"] == 1
    assert json.loads(attempts[(second, "gateway_to_runner_latency")]["metric_metadata"])["upper_bound_ms"] == 1763 + 72
    assert json.loads(attempts[(first, "gateway_to_runner_latency")]["metric_metadata"])["upper_bound_ms"] == 1375 + 50


def test_missing_edges_are_counted_not_emitted(runs) -> None:  # type: ignore[no-untyped-def]
    m = _metrics(runs["p1"])
    # request 7ae0c39b: no orchestrator was available, so no first processed segment
    assert [r for r in m if r["request_id"] == "7ae0c39b" and r["metric_unit"] == "ms"] == []
    (rejects,) = [r for r in m if r["metric_name"] == "trace_latency_rejects" and r["request_id"] == "7ae0c39b"]
    assert rejects["metric_version"] == 2 and rejects["metric_value"] == 3
    assert json.loads(rejects["metric_metadata"]) == {
        "orchestrator_selection_latency": "missing_edge:gateway_send_first_ingest_segment",
        "prompt_to_first_frame_latency": "missing_edge:gateway_receive_first_processed_segment",
        "prompt_to_playable_latency": "missing_edge:gateway_receive_few_processed_segments",
    }
    # the 5 requests without an orchestrator (3 real "no orchestrator" sessions, 6806f180 closed
    # before one was found, 56bc6b29 a lone stream request sample) are the only rejects
    rejected = sorted(r["request_id"] for r in m if r["metric_name"] == "trace_latency_rejects")
    assert rejected == ["56bc6b29", "6806f180", "7ae0c39b", "7dc25b96", "a06463a9", "noclock1", "noclock1"]


def test_a_runner_edge_without_its_own_clock_gives_no_cross_host_latency(runs) -> None:  # type: ignore[no-untyped-def]
    m = _metrics(runs["p1"])
    # tests/swap_sequence.py, request noclock1: gateway send 1771803970508 and a runner receive
    # without data.timestamp (its time would be the gateway's relay time, envelope 1771803972798)
    assert [r for r in m if r["request_id"] == "noclock1" and r["metric_unit"] == "ms"] == []
    (attempt,) = [r for r in m if r["metric_name"] == "trace_latency_rejects" and r["request_id"] == "noclock1"
                  and "gateway_to_runner_latency" in r["metric_metadata"]]
    assert json.loads(attempt["metric_metadata"]) == {
        "gateway_to_runner_latency": "no_runner_clock",
        "first_segment_to_first_frame_latency": "missing_edge:gateway_receive_first_processed_segment",
    }
    (request,) = [r for r in m if r["metric_name"] == "trace_latency_rejects" and r["request_id"] == "noclock1"
                  and r is not attempt]
    assert json.loads(request["metric_metadata"]) == {
        "orchestrator_selection_latency": "missing_edge:gateway_receive_stream_request"}
    assert (attempt["metric_value"], request["metric_value"]) == (2, 1)
    assert attempt["orchestrator_address"] == request["orchestrator_address"] == "0xcf5654abfaefc001a84aeb18fe4c13bfd0f8a77b"


def test_jitter_coefficient_per_stream_window(runs) -> None:  # type: ignore[no-untyped-def]
    m = _metrics(runs["p1"])
    # stream ...586760 (request cae483be), window 23:10-23:15 UTC: samples at 23:14:27 (fps 0,
    # warm-up: before the first positive sample), 23:14:37 1.3981197751989396, 23:14:47
    # 21.276666859494778, 23:14:57 9.692206126970042; 23:15:07 falls in the next window.
    fps = [1.3981197751989396, 21.276666859494778, 9.692206126970042]
    expected = statistics.pstdev(fps) / statistics.mean(fps)  # 0.75561759...
    stream = "aiJobTesterStream-1771802048971586760"
    assert _value(m, "jitter_coefficient", stream_id=stream) == pytest.approx(expected, rel=1e-9)
    (row,) = [r for r in m if r["metric_name"] == "jitter_coefficient" and r["stream_id"] == stream]
    meta = json.loads(row["metric_metadata"])
    assert meta["sample_count"] == 3 and meta["warmup_sample_count"] == 1 and meta["jitter"] == "ok"
    assert meta["mean_fps"] == pytest.approx(statistics.mean(fps), rel=1e-9)
    assert meta["stddev_fps"] == pytest.approx(statistics.pstdev(fps), rel=1e-9)
    assert (row["window_start"], row["window_end"]) == ("2026-02-22 23:10:00", "2026-02-22 23:15:00")
    assert row["request_id"] == "cae483be" and row["metric_unit"] == "ratio"
    # the 23:15-23:20 window holds one sample (9.49171628297476): no jitter, explained
    later = [r for r in m if r["stream_id"] == stream and r["window_start"] == "2026-02-22 23:15:00"]
    assert sorted(r["metric_name"] for r in later) == ["output_fps_mean", "status_sample_count"]
    count = next(r for r in later if r["metric_name"] == "status_sample_count")
    assert json.loads(count["metric_metadata"])["jitter"] == "too_few_samples"
    # stream ...505111 (a818d729): warm-up 0, then 22.57620251022858, 18.18554627012108, 18.285201133783165
    fps = [22.57620251022858, 18.18554627012108, 18.285201133783165]
    assert _value(m, "jitter_coefficient", stream_id="aiJobTesterStream-1771803956707505111") == pytest.approx(
        statistics.pstdev(fps) / statistics.mean(fps), rel=1e-9)


def _comparable(rows: list[dict]) -> list[str]:
    return canonical(rows)


def test_parallelism_1_and_2_give_identical_metrics(runs) -> None:  # type: ignore[no-untyped-def]
    # the same input (p2: shuffled into other files), parallelism 1 and 2
    p1, p2 = _metrics(runs["p1"]), _metrics(runs["p2"])
    assert len(p1) > 50
    assert _comparable(p1) == _comparable(p2)


def _parquet_rows(table) -> list[dict]:  # type: ignore[no-untyped-def]
    out = []
    for r in table.to_pylist():
        r.pop("metric_date", None)
        for k in ("metric_timestamp", "window_start", "window_end"):
            r[k] = r[k].strftime("%Y-%m-%d %H:%M:%S.%f") if r[k].microsecond else r[k].strftime("%Y-%m-%d %H:%M:%S")
        out.append(r)
    return out


def test_local_parquet_equals_clickhouse_rows(runs) -> None:  # type: ignore[no-untyped-def]
    runs["p1"].tables()  # wait for the run
    root = runs["p1"].var_dir / "parquet" / "calculated_metrics"
    files = sorted(root.rglob("*.parquet"))
    assert files and all(f.parent.name.startswith("metric_category=") and f.parent.parent.name.startswith("metric_date=") for f in files)
    categories = {r["metric_category"] for r in _metrics(runs["p1"])}
    assert categories == {"performance", "data_quality", "scorecard", "demand", "capacity"}
    assert {f.parent.name for f in files} == {f"metric_category={c}" for c in categories}
    table = ds.dataset(str(root), format="parquet", partitioning=None).to_table()
    assert _comparable(_parquet_rows(table)) == _comparable(_metrics(runs["p1"]))


def test_s3_parquet_objects_under_partition_paths(runs, s3) -> None:  # type: ignore[no-untyped-def]
    runs["p2"].tables()
    keys = [o["Key"] for o in s3.client().list_objects_v2(Bucket="lake", Prefix="netpulse/calculated_metrics/")["Contents"]]
    raw = s3.client().list_objects_v2(Bucket="lake", Prefix="netpulse/raw_events/event_date=2026-02-22/event_type=ai_stream_status/")
    assert raw["KeyCount"] >= 1
    assert keys and all(k.startswith("netpulse/calculated_metrics/metric_date=2026-") for k in keys)
    assert any("/metric_category=performance/part-" in k and k.endswith(".parquet") for k in keys)
    fs = pafs.S3FileSystem(endpoint_override=s3.endpoint.split("://")[1], scheme="http",
                           access_key=s3server.ACCESS_KEY, secret_key=s3server.SECRET_KEY, region="us-east-1")
    table = ds.dataset("lake/netpulse/calculated_metrics", filesystem=fs, format="parquet", partitioning=None).to_table()
    assert _comparable(_parquet_rows(table)) == _comparable(_metrics(runs["p2"]))


def test_parquet_replays_into_a_fresh_table(runs, migrated: Settings) -> None:  # type: ignore[no-untyped-def]
    runs["p1"].tables()  # wait for the run
    root = runs["p1"].var_dir / "parquet" / "calculated_metrics"
    rows = load_parquet_copy(clickhouse.connect(migrated), "calculated_metrics", root, "replay", "metric_date")
    assert _comparable(rows) == _comparable(_metrics(runs["p1"]))


def test_enriched_view_maps_orchestrator_to_announced_gpus(runs) -> None:  # type: ignore[no-untyped-def]
    rows = [r for r in runs["p1"].tables()["calculated_metrics_enriched"]
            if r["metric_name"] == "prompt_to_first_frame_latency"]
    by_request = {r["request_id"]: r for r in rows}
    # request 7d208f6e ran on https://ai.arjo-node.uk:6500 with local key 0x5fd2...; the latest
    # network_capabilities before 20:40:54.932 (01438768-..., 20:40:26.119) lists that URL and key
    # under on-chain 0xbd67... with two RTX 4090: no single gpu_id, the GPU model is known.
    r = by_request["7d208f6e"]
    assert r["onchain_orchestrator_address"] == "0xbd677e96a755207d348578727aa57a512c2022bd"
    assert r["announced_gpu_names"] == ["NVIDIA GeForce RTX 4090"]
    assert len(r["announced_gpu_ids"]) == 2 and r["resolved_gpu_id"] is None
    assert r["capabilities_announced_at"] == "2026-02-25 20:40:26.119000"
    # request db936fab (2026-01-08 21:49:05) precedes the only announcement of its URL (21:50:21)
    assert by_request["db936fab"]["onchain_orchestrator_address"] is None


def test_bench_baselines_compute_the_same_latencies(runs, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """bench/baselines.py (a) Python and (b) ClickHouse SQL over the same lines in time order (their
    watermark is exact per line) give the pipeline's latency and reject rows, value for value."""
    import os
    import subprocess
    import sys

    from conftest import ROOT, input_files, time_ordered

    data = tmp_path / "data"
    data.mkdir()
    (data / "events-000.jsonl").write_text("\n".join(time_ordered(input_files())) + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NETPULSE_")} | {"PYTHONPATH": str(ROOT)}
    procs = {
        impl: subprocess.Popen(
            [sys.executable, "-m", "bench.baselines", "--impl", impl, "--input", str(data), "--var", str(tmp_path / impl)],
            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        for impl in ("python", "sql")
    }
    trace = {m.name for m in catalog.LATENCIES} | {"trace_latency_rejects"}
    live = [r for r in _metrics(runs["p1"]) if r["metric_name"] in trace]
    assert len(live) == 6 * 3 + 7 * 3 + 5 + 2  # request, attempt metrics (swap2att: 2 attempts), rejects
    for impl, proc in procs.items():
        out, _ = proc.communicate(timeout=600)
        assert proc.returncode == 0, out[-3000:]
        table = ds.dataset(str(tmp_path / impl / "parquet" / "calculated_metrics"), format="parquet", partitioning=None).to_table()
        rows = [r for r in _parquet_rows(table) if r["metric_name"] in trace]
        assert _comparable(rows) == _comparable(live), impl
