"""Metric values on the real fixtures, at parallelism 1 and 2, in ClickHouse and in Parquet.

Expected values are computed by hand below from the fixture timestamps (payload
``data.timestamp`` for trace edges, envelope time for status samples).
"""

import json
import statistics

import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pytest
import s3server
from conftest import canonical, load_parquet_copy

from jobs import clickhouse
from jobs.settings import Settings

pytestmark = pytest.mark.slow


def _metrics(run) -> list[dict]:  # type: ignore[no-untyped-def]
    return run.tables()["calculated_metrics"]


def _value(rows: list[dict], name: str, **where: str) -> float:
    (row,) = [r for r in rows if r["metric_name"] == name and all(r[k] == v for k, v in where.items())]
    return row["metric_value"]


def test_prompt_to_first_frame_and_related_latencies(runs) -> None:  # type: ignore[no-untyped-def]
    m = _metrics(runs["p1"])
    # request a818d729 (2026-02-23 session 1): gateway_receive_stream_request 1771803961194,
    # gateway_send_first_ingest_segment 1771803970508, runner_receive_first_ingest_segment
    # 1771803972754, runner_send_first_processed_segment 1771803970682,
    # gateway_receive_first_processed_segment 1771803971774, ..._few_processed_segments 1771803974211
    assert _value(m, "prompt_to_first_frame_latency", request_id="a818d729") == 1771803971774 - 1771803961194  # 10580
    assert _value(m, "prompt_to_playable_latency", request_id="a818d729") == 1771803974211 - 1771803961194  # 13017
    assert _value(m, "first_frame_to_playable_latency", request_id="a818d729") == 1771803974211 - 1771803971774  # 2437
    assert _value(m, "orchestrator_selection_latency", request_id="a818d729") == 1771803970508 - 1771803961194  # 9314
    assert _value(m, "gateway_to_runner_latency", request_id="a818d729") == 1771803972754 - 1771803970508  # 2246
    assert _value(m, "runner_to_gateway_latency", request_id="a818d729") == 1771803971774 - 1771803970682  # 1092
    # the runner "sent" its first processed segment 2072 ms before it "received" the first
    # ingest segment (two clocks): no value, a counted reject with the reason instead.
    assert [r for r in m if r["metric_name"] == "runner_processing_latency" and r["request_id"] == "a818d729"] == []
    (rejects,) = [r for r in m if r["metric_name"] == "trace_latency_rejects" and r["request_id"] == "a818d729"]
    assert rejects["metric_value"] == 1.0
    assert json.loads(rejects["metric_metadata"]) == {"runner_processing_latency": "negative:-2072"}
    # request cae483be: stream request 1771802056762, first processed 1771802076130 -> 19368
    assert _value(m, "prompt_to_first_frame_latency", request_id="cae483be") == 19368.0
    # request db936fab (2026-01-08 Kafka capture): 2655 ms
    assert _value(m, "prompt_to_first_frame_latency", request_id="db936fab") == 2655.0
    row = [r for r in m if r["metric_name"] == "prompt_to_first_frame_latency" and r["request_id"] == "a818d729"][0]
    assert row["orchestrator_address"] == "0xcf5654abfaefc001a84aeb18fe4c13bfd0f8a77b"
    assert row["gateway"] == "cloud-spe-ai-live-video-tester-fra"
    assert row["stream_id"] == "aiJobTesterStream-1771803956707505111"
    assert (row["window_start"], row["window_end"]) == ("2026-02-22 23:46:01.194000", "2026-02-22 23:46:11.774000")
    assert (row["metric_unit"], row["metric_category"], row["metric_version"]) == ("ms", "performance", 1)


def test_missing_edges_are_counted_not_emitted(runs) -> None:  # type: ignore[no-untyped-def]
    m = _metrics(runs["p1"])
    # request 7ae0c39b: no orchestrator was available, so no first processed segment
    assert [r for r in m if r["request_id"] == "7ae0c39b" and r["metric_unit"] == "ms"] == []
    (rejects,) = [r for r in m if r["metric_name"] == "trace_latency_rejects" and r["request_id"] == "7ae0c39b"]
    assert json.loads(rejects["metric_metadata"]) == {
        "orchestrator_selection_latency": "missing_edge:gateway_send_first_ingest_segment",
        "prompt_to_first_frame_latency": "missing_edge:gateway_receive_first_processed_segment",
        "prompt_to_playable_latency": "missing_edge:gateway_receive_few_processed_segments",
    }


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
        r.pop("metric_date")
        for k in ("metric_timestamp", "window_start", "window_end"):
            r[k] = r[k].strftime("%Y-%m-%d %H:%M:%S.%f") if r[k].microsecond else r[k].strftime("%Y-%m-%d %H:%M:%S")
        out.append(r)
    return out


def test_local_parquet_equals_clickhouse_rows(runs) -> None:  # type: ignore[no-untyped-def]
    runs["p1"].tables()  # wait for the run
    root = runs["p1"].var_dir / "parquet" / "calculated_metrics"
    files = sorted(root.rglob("*.parquet"))
    assert files and all(f.parent.name.startswith("metric_category=") and f.parent.parent.name.startswith("metric_date=") for f in files)
    assert {f.parent.name for f in files} == {"metric_category=performance", "metric_category=data_quality"}
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
