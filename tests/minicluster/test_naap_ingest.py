"""The naap pipeline on the local MiniCluster over every real fixture envelope + broken inputs.

Run p1 (tests/conftest.py): the 143 real envelopes of tests/fixtures/livepeer (the capture
files as they are, read in BATCH mode), the corpus of tests/corpus.py and two announcements
derived from a real one (tests/scd_sequence.py). Run ps reads the same lines in time order in
STREAMING mode, where the corpus's far-out-of-order event is late.
"""

from collections import Counter

import corpus
import pytest

pytestmark = pytest.mark.slow

REAL_EVENTS = 143  # 73 session events + 65 Kafka values + 5 single samples (no id repeats)


def _by(rows: list[dict], key: str, value: str) -> list[dict]:
    return [r for r in rows if r[key] == value]


def test_row_counts_per_table(runs) -> None:  # type: ignore[no-untyped-def]
    t = runs["p1"].tables()
    # corpus adds 4 accepted events: the fps-wrong-type one, one of 3 duplicates, one of 2
    # id-less, and the far-out-of-order one (nothing is late in BATCH mode); scd_sequence 2;
    # swap_sequence 14 (stream_trace).
    assert len(t["raw_events"]) == REAL_EVENTS + 4 + 2 + 14
    types = Counter(r["event_type"] for r in t["raw_events"])
    assert types == {
        "stream_trace": 48 + 14, "stream_ingest_metrics": 34, "ai_stream_status": 32 + 3,
        "ai_stream_events": 16, "create_new_payment": 6 + 1, "network_capabilities": 5 + 2,
        "discovery_results": 2,
    }
    # + corpus-dup once and corpus-late; corpus-fps is rejected
    assert len(t["ai_stream_status"]) == 32 + 2
    assert len(t["stream_ingest_metrics"]) == 34
    assert len(t["stream_trace_events"]) == 48 + 14
    # 4 network_capabilities events: net_caps sample (5 GPU rows), the 2026-02-24 production
    # orchestrator_metadata: SCD2 versions, see test_orchestrator_metadata_versions
    assert {r["is_current"] for r in t["orchestrator_metadata"]} == {True, False}


def test_sampled_ai_stream_status_fields(runs) -> None:  # type: ignore[no-untyped-def]
    rows = _by(runs["p1"].tables()["ai_stream_status"], "event_id", "0f93c8a8-8cd5-4180-a862-0f80da6ea28a")
    assert len(rows) == 1
    r = rows[0]
    assert r["event_timestamp"] == "2026-02-22 23:46:21.246000"  # envelope "1771803981246"
    assert r["stream_id"] == "aiJobTesterStream-1771803956707505111"
    assert r["request_id"] == "a818d729"
    assert r["gateway"] == "cloud-spe-ai-live-video-tester-fra"
    assert r["orchestrator_address"] == "0xcf5654abfaefc001a84aeb18fe4c13bfd0f8a77b"
    assert r["orchestrator_url"] == "https://lpt.gzp.link:8888"
    assert r["pipeline"] == "streamdiffusion-sdxl-v2v" and r["pipeline_id"] == ""
    assert r["output_fps"] == pytest.approx(22.57620251022858, rel=1e-6)
    assert r["input_fps"] == pytest.approx(22.87588661434666, rel=1e-6)
    assert r["state"] == "ONLINE" and r["restart_count"] == 0 and r["last_error"] is None
    assert (r["prompt_width"], r["prompt_height"]) == (0, 0)  # last_params is {} here
    assert r["params_hash"] == "99914b932bd37a50b983c5e7c90ae93b"
    assert r["start_time"] == "2026-02-22 23:46:01.242000"


def test_data_as_json_string_and_numeric_timestamp(runs) -> None:  # type: ignore[no-untyped-def]
    # the 2026-02-25 snapshot files carry `data` as a JSON-encoded string and a numeric timestamp
    t = runs["p1"].tables()
    traces = _by(t["stream_trace_events"], "request_id", "7d208f6e")
    assert {r["trace_type"] for r in traces} >= {"gateway_receive_stream_request", "gateway_receive_first_processed_segment"}
    first = _by(traces, "trace_type", "gateway_receive_first_processed_segment")[0]
    assert first["orchestrator_address"] == "0x5fd25374e1e87d6728ec8601c512dfabab375ab5"
    assert first["is_data_timestamp_from_envelope"] is False
    swap = _by(t["stream_trace_events"], "trace_type", "orchestrator_swap")[0]
    assert swap["is_data_timestamp_from_envelope"] is True and swap["message"] == "orchestrator is slow"
    assert swap["data_timestamp"] == swap["event_timestamp"]


def test_track_stats_split_into_video_and_audio(runs) -> None:  # type: ignore[no-untyped-def]
    rows = [r for r in runs["p1"].tables()["stream_ingest_metrics"] if r["event_timestamp"].startswith("2026-01-08 21:49:10.608")]
    assert len(rows) == 1
    r = rows[0]  # the first stream_ingest_metrics value of the 2026-01-08 Kafka capture
    assert r["stream_id"] == "stream-o5s73x-mk5zc8fy" and r["request_id"] == "db936fab"
    assert r["connection_quality"] == "good"
    assert r["video_jitter"] == pytest.approx(10.126770701625134, rel=1e-6)
    assert (r["video_packets_received"], r["video_packets_lost"]) == (413, 0)
    assert r["audio_jitter"] == pytest.approx(20.29064497237114, rel=1e-6)
    assert r["audio_packets_received"] == 248
    assert (r["bytes_received"], r["bytes_sent"], r["transport_id"]) == (477890, 4013, "iceTransport")


def test_network_capabilities_exploded_into_gpu_rows(runs) -> None:  # type: ignore[no-untyped-def]
    # the versions opened by the net_caps sample (bcca7b6c..., 2026-02-02 20:10:08.615); two of
    # them were refreshed by the derived announcements of tests/scd_sequence.py since
    rows = _by(runs["p1"].tables()["orchestrator_metadata"], "valid_from", "2026-02-02 20:10:08.615000")
    assert len(rows) == 5
    assert {r["source_event_id"] for r in rows} == {"bcca7b6c-e09e-4567-a34a-2c4f5200a8e8", "scd-1"}
    nullworks = [r for r in rows if r["orchestrator_url"] == "https://rtv.nullworks.xyz:9924"]
    assert sorted(r["gpu_id"] for r in nullworks) == [
        "GPU-1e7025d4-a3dd-5371-daec-b666af6ec29c", "GPU-c391d107-0999-d9be-45a4-b494d6da1ccf"]
    assert {r["gpu_name"] for r in nullworks} == {"NVIDIA GeForce RTX 4090"}
    assert {r["orchestrator_address"] for r in nullworks} == {"0x9d61ae5875e89036fbf6059f3116d01a22ace3c8"}
    assert {r["price_per_pixel"] for r in nullworks} == {2149.0}
    assert {r["supported_pipelines"] == ["live-video-to-video"] for r in nullworks} == {True}


def test_production_parse_failure_routed_with_reasons(runs) -> None:  # type: ignore[no-untyped-def]
    t = runs["p1"].tables()
    event_id = "a0b048eb-cb94-4639-8f9f-f283a22a154d"
    rejects = _by(t["dead_letter"], "event_id", event_id)
    assert sorted((r["stage"], r["reason"]) for r in rejects) == [
        ("parse", "hardware_without_gpu_info")] * 3 + [("parse", "price_without_price_per_unit")]
    assert all(r["job"] == "naap_ingest" and r["event_type"] == "network_capabilities" for r in rejects)
    # built by the SQL recipe of every reject (jobs/naap/envelopes.py dead_letter_row): a 64-hex key,
    # the defect's part as payload, its length
    assert all(len(r["reject_key"]) == 64 and r["payload_length"] == len(r["payload"]) > 0 for r in rejects)
    assert len({r["reject_key"] for r in rejects}) == 4
    # its 34 GPUs are all in orchestrator_metadata (later announcements may have refreshed them)
    announced = {"GPU-873dd3e4-2f43-9cef-985b-933e03c0b58b", "GPU-99b54e96-3182-54cb-9b0a-2f8cf156249d",
                 "GPU-c51e6500-0fd2-0938-5505-0da0b0dc7c7f", "GPU-ce08cebd-9ef7-3a17-4269-5b0f45784e99"}
    assert announced <= {r["gpu_id"] for r in t["orchestrator_metadata"]}
    assert len({r["gpu_id"] for r in t["orchestrator_metadata"] if r["gpu_id"]}) >= 34
    assert len(_by(t["raw_events"], "event_id", event_id)) == 1  # kept for a replay after a fix


def test_broken_corpus_one_outcome_per_input(runs) -> None:  # type: ignore[no-untyped-def]
    t = runs["p1"].tables()
    # the production capabilities event's 4 defects, and the same orchestrator's 3 hardware
    # entries without gpu_info again in two other announcements (01438768-..., 2240b782-...)
    real_rejects = 10
    corpus_rejects = [r for r in t["dead_letter"] if r["reason"] not in ("hardware_without_gpu_info", "price_without_price_per_unit")]
    expected = [c for c in corpus.cases() if c.stage not in (None, "late")]  # BATCH: none late
    assert len(t["dead_letter"]) == real_rejects + len(expected)
    assert Counter((r["stage"], r["reason"]) for r in corpus_rejects) == Counter((c.stage, c.reason) for c in expected)
    for case in expected:
        line = case.lines[0]
        (row,) = [r for r in corpus_rejects if r["reason"] == case.reason and line.startswith(r["payload"])]
        assert row["payload_length"] == len(line)
        if case.name == "payload_10mb":
            assert row["is_payload_truncated"] is True and len(row["payload"]) == 65536
            assert row["payload"] == line[:65536]
        else:
            assert row["is_payload_truncated"] is False and row["payload"] == line
        assert row["source_position"].endswith("corpus.jsonl")
    raw = t["raw_events"]
    assert len(_by(raw, "event_id", "corpus-late")) == 1
    assert len(_by(raw, "event_id", "corpus-fps")) == 1  # parse reject: raw kept, typed row not
    assert len(_by(raw, "event_id", "corpus-dup")) == 1  # delivered 3 times
    no_id = [r for r in raw if '"corpus-noid"' in r["raw_data"]]  # delivered twice, no id
    assert len(no_id) == 1 and no_id[0]["event_id"] == "" and len(no_id[0]["dedup_key"]) == 64
    for reject_id in ("corpus-trunc", "corpus-big", "corpus-tsobj", "corpus-unknown"):
        assert _by(raw, "event_id", reject_id) == []
    assert len(_by(t["ai_stream_status"], "stream_id", "corpus-s-dup")) == 1
    assert _by(t["ai_stream_status"], "stream_id", "corpus-s-fps") == []


def test_orchestrator_metadata_versions(runs) -> None:  # type: ignore[no-untyped-def]
    """Every announced (orchestrator, GPU, pipeline, model) has exactly one current version, and
    the versions equal a fold of the pure SCD2 function over the real announcements in time order."""
    import json as _json

    from jobs.naap import sample
    from udfs.capabilities import explode
    from udfs.scd import advance, key_of

    current: dict[str, dict] = {}
    expected: dict[tuple, dict] = {}
    import scd_sequence

    lines = sample.fixture_lines() + scd_sequence.lines()
    events = sorted((_json.loads(line) for line in lines), key=lambda e: int(e["timestamp"]))
    for event in events:
        if event["type"] != "network_capabilities":
            continue
        data = event["data"] if not isinstance(event["data"], str) else _json.loads(event["data"])
        rows, _ = explode(data, int(event["timestamp"]), event["gateway"], event["id"])
        for row in sorted(rows, key=lambda r: _json.dumps(r, sort_keys=True)):
            key = key_of(row)
            current[key], emitted = advance(current.get(key), row)
            for out in emitted:
                expected[(key, out["valid_from"])] = out
    table = runs["p1"].tables()["orchestrator_metadata"]
    assert len(table) == len(expected) == 149 + 2  # + the 2 versions opened by scd-2
    assert sum(r["is_current"] for r in table) == len(current) == 87
    got = {(key_of(r), r["valid_from"][:23]): r for r in table}
    for (key, valid_from), row in expected.items():
        actual = got[(key, valid_from)]
        assert actual["is_current"] == row["is_current"], key
        assert (actual["valid_to"] or "")[:23] == (row["valid_to"] or ""), key
        assert actual["last_seen"][:23] == row["last_seen"], key


def test_scd2_versions_for_an_edited_announcement_sequence(runs) -> None:  # type: ignore[no-untyped-def]
    # run p2: real announcement at 20:10:08.615, re-announced at 21:10 (volatile changes only)
    # and at 22:10 with runnerVersion 0.14.1 -> 0.14.2 (tests/scd_sequence.py)
    rows = [r for r in runs["p2"].tables()["orchestrator_metadata"]
            if r["orchestrator_address"] == "0x9d61ae5875e89036fbf6059f3116d01a22ace3c8"]
    by_gpu: dict[str, list[dict]] = {}
    for r in sorted(rows, key=lambda r: r["valid_from"]):
        by_gpu.setdefault(r["gpu_id"], []).append(r)
    assert sorted(by_gpu) == ["GPU-1e7025d4-a3dd-5371-daec-b666af6ec29c", "GPU-c391d107-0999-d9be-45a4-b494d6da1ccf"]
    for versions in by_gpu.values():
        old, new = versions
        assert (old["valid_from"], old["valid_to"]) == ("2026-02-02 20:10:08.615000", "2026-02-02 22:10:08.615000")
        assert old["is_current"] is False and old["runner_version"] == "0.14.1"
        assert old["last_seen"] == "2026-02-02 22:10:08.615000"
        assert old["capacity_in_use"] == 1 and old["source_event_id"] == "scd-1"  # refreshed at 21:10
        assert (new["valid_from"], new["valid_to"], new["is_current"]) == ("2026-02-02 22:10:08.615000", None, True)
        assert new["runner_version"] == "0.14.2" and new["last_seen"] == "2026-02-02 22:10:08.615000"
    gpu = by_gpu["GPU-1e7025d4-a3dd-5371-daec-b666af6ec29c"]
    assert gpu[0]["gpu_memory_free"] == 25176571904 - (1 << 30)
