"""udfs/capabilities.py on the real network_capabilities events (no JVM)."""

import json

from conftest import ROOT

from udfs.capabilities import capability_outputs, explode
from udfs.scd import key_of

SAMPLES = ROOT / "tests" / "fixtures" / "livepeer" / "samples"


def _load(name: str) -> dict:
    return json.loads((SAMPLES / name).read_text())


def test_net_caps_explodes_into_one_row_per_gpu() -> None:
    event = _load("flink-test-resources_net_caps.json")
    rows, rejects = explode(event["data"], int(event["timestamp"]), event["gateway"], event["id"])
    assert rejects == []
    # 4 orchestrators: 0x9D61... has two hardware entries (2 GPUs), the others one each.
    assert len(rows) == 5
    first = rows[0]
    assert first["orchestrator_address"] == "0x9d61ae5875e89036fbf6059f3116d01a22ace3c8"  # lower-cased
    assert first["local_address"] == "0xcdf93b13efcf63f84f2affb01bec48a5c096c69e"
    assert first["orchestrator_url"] == "https://rtv.nullworks.xyz:9924"
    assert first["gpu_id"] == "GPU-1e7025d4-a3dd-5371-daec-b666af6ec29c"
    assert first["gpu_name"] == "NVIDIA GeForce RTX 4090"
    assert (first["gpu_major_version"], first["gpu_minor_version"]) == (8, 9)
    assert first["gpu_memory_total"] == 25757220864
    assert first["gpu_memory_free"] == 25176571904
    assert first["pipeline"] == "live-video-to-video"
    assert first["model_id"] == "streamdiffusion-sdxl"
    assert first["runner_version"] == "0.14.1"
    assert first["orchestrator_version"] == "0.8.8"
    assert first["capacity_in_use"] == 2
    assert first["price_per_pixel"] == 2149.0  # pricePerUnit 2149 / pixelsPerUnit 1
    assert first["valid_from"] == "2026-02-02 20:10:08.615"  # envelope timestamp 1770063008615
    rtx5090 = [r for r in rows if r["orchestrator_address"] == "0x47a907a0bd1627d71cd14430a721d1550d6d6f58"]
    assert [r["gpu_name"] for r in rtx5090] == ["NVIDIA GeForce RTX 5090"]
    assert rtx5090[0]["gpu_minor_version"] == 0  # no "minor" key in this GPU's info


def test_production_parse_failure_is_parsed_with_its_defects_rejected() -> None:
    event = _load("flink-test-resources_net_caps_prod_parse_failed_20260224.json")
    rows, rejects = explode(event["data"], int(event["timestamp"]), event["gateway"], event["id"])
    # 50 orchestrator entries (one address twice); 34 GPUs reported in total.
    assert len({r["orchestrator_address"] for r in rows}) == 49
    assert sum(1 for r in rows if r["gpu_id"]) == 34
    reasons = sorted(r.reason for r in rejects)
    assert reasons == ["hardware_without_gpu_info"] * 3 + ["price_without_price_per_unit"]
    price = next(r for r in rejects if r.reason == "price_without_price_per_unit")
    assert "0xb5164d6b780786338c52f4787abba0e4a371af4d" in price.detail
    assert "pricePerUnit" not in json.loads(price.payload)


def test_garbage_never_raises() -> None:
    for data in (None, 42, "x", {"a": 1}, [None, 1, "s", {}, {"address": 5}, {"address": "0xA", "hardware": [1, {"gpu_info": {"0": 3}}]}]):
        rows, rejects = explode(data, 1771936670203, "", "id")
        assert isinstance(rows, list) and isinstance(rejects, list)
    outputs = list(capability_outputs("{not json", 1771936670203, "gw", "id"))
    # a reject's fields only: the dead-letter row is built by the SQL recipe of every reject
    # (jobs/naap/envelopes.py dead_letter_row; tests/minicluster/test_naap_ingest.py)
    assert [(t, row, key, reason, payload) for t, row, key, reason, _, payload in outputs] == [
        ("naap.dead_letter", None, None, "invalid_data", "{not json")
    ]


def test_metadata_rows_carry_their_scd2_key() -> None:
    """The key production's keyed state uses is udfs/scd.key_of, computed in the table function."""
    event = _load("flink-test-resources_net_caps.json")
    outputs = list(capability_outputs(json.dumps(event["data"]), int(event["timestamp"]), event["gateway"], event["id"]))
    assert len(outputs) == 5 and {o[0] for o in outputs} == {"naap.orchestrator_metadata"}
    keys = [key for _, _, key, _, _, _ in outputs]
    assert keys == [key_of(json.loads(row)) for _, row, _, _, _, _ in outputs]  # type: ignore[arg-type]
    assert keys[0] == (
        "0x9d61ae5875e89036fbf6059f3116d01a22ace3c8|GPU-1e7025d4-a3dd-5371-daec-b666af6ec29c|"
        + "|".join(json.loads(outputs[0][1])[k] for k in ("pipeline", "model_id"))  # type: ignore[arg-type]
    )
    assert len(set(keys)) == 5


def test_wrong_types_and_out_of_range_values_are_rejected_or_clamped() -> None:
    """Shapes found by the reliability suite's mutants (each failed the job before)."""
    orchestrator = {"address": "0xA", "capabilities_prices": 7, "hardware": [
        {"pipeline": "p", "model_id": "m", "gpu_info": {"0": {"id": "g", "memory_total": 10**30, "memory_free": "²",
                                                          "major": -3, "minor": "9" * 40}}}]}
    rows, rejects = explode([orchestrator], 1771936670203, "", "id")
    assert [r.reason for r in rejects] == ["prices_not_an_array"]
    (row,) = rows
    assert (row["gpu_memory_total"], row["gpu_memory_free"], row["gpu_major_version"], row["gpu_minor_version"]) == (
        2**64 - 1, 0, 0, 0)
    prices = {"address": "0xB", "capabilities_prices": [
        {"constraint": "m", "pricePerUnit": 10**400, "pixelsPerUnit": 1},
        {"constraint": "n", "pricePerUnit": 1e308, "pixelsPerUnit": 1e-300},
        {"constraint": "o", "pricePerUnit": 6, "pixelsPerUnit": True}]}
    rows, rejects = explode([prices], 1771936670203, "", "id")
    assert [r.reason for r in rejects] == ["price_out_of_range", "price_out_of_range"]
    assert all(json.loads(json.dumps(r, allow_nan=False)) for r in rows)


def test_mutated_real_announcements_never_raise() -> None:
    """Seeded type swaps and deletions all over the real announcements: rows or rejects, and
    every output line is strict JSON (no NaN or Infinity)."""
    import random

    events = [_load("flink-test-resources_net_caps.json"), _load("flink-test-resources_net_caps_prod_parse_failed_20260224.json")]
    swaps = (None, True, 0, -1, 2**70, 1e308, "", "x", "²", [], [1], {}, {"k": 1})
    rng = random.Random(5)
    for _ in range(2000):
        data = json.loads(json.dumps(rng.choice(events)["data"]))
        for _ in range(rng.randint(1, 3)):
            parent, key = None, None
            node: object = data
            for _ in range(rng.randint(1, 6)):
                keys = list(node) if isinstance(node, dict) else list(range(len(node))) if isinstance(node, list) else []
                if not keys:
                    break
                parent, key = node, rng.choice(keys)
                node = parent[key]  # type: ignore[index]
                if not isinstance(node, dict | list) or rng.random() < 0.3:
                    break
            if parent is not None:
                parent[key] = json.loads(json.dumps(rng.choice(swaps)))  # type: ignore[index]
        for target, line, key, reason, _, payload in capability_outputs(json.dumps(data), 1771936670203, "gw", "id"):
            assert target in ("naap.orchestrator_metadata", "naap.dead_letter")
            if target == "naap.dead_letter":
                assert line is None and key is None and reason and isinstance(payload, str)
                continue
            assert key == key_of(json.loads(line))
            json.loads(line, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))


def test_capacity_facts_of_a_real_announcement() -> None:
    """Free vs in-use capacity per orchestrator x model (udfs.capacity.capacity_facts), by hand
    from the 2026-02-25 announcement of gateway cloud-spe-ai-batch-tester-mdw."""
    import json as _json

    from udfs.capacity import capacity_facts

    path = next((ROOT / "tests" / "fixtures" / "livepeer" / "events").glob("*20260225T211506Z__scenario_1_*"))
    (event,) = [e for e in map(_json.loads, path.read_text().splitlines())
                if e["type"] == "network_capabilities" and e["gateway"] == "cloud-spe-ai-batch-tester-mdw"]
    data = _json.loads(event["data"])
    rows = {(r[0], r[4]): r for r in capacity_facts(data)}
    # 0xb120...: constraint {warm, capacity 16, capacityInUse 9}; 11 hardware entries with 25 GPUs
    moudi = rows[("0xb120a72a9264e90092e8197c0fabd210c18bc5be", "streamdiffusion-sdxl")]
    assert moudi[3:] == ("live-video-to-video", "streamdiffusion-sdxl", True, 16, 9, 2425.0, 1.0, 25,
                         "NVIDIA GeForce RTX 4090,NVIDIA GeForce RTX 5090")
    # capacity omitted (Go omitempty: 0 free), 2 in use, 2 hardware entries of one GPU
    arjo = rows[("0xbd677e96a755207d348578727aa57a512c2022bd", "streamdiffusion-sdxl")]
    assert (arjo[1], arjo[6], arjo[7], arjo[10]) == ("0x5fd25374e1e87d6728ec8601c512dfabab375ab5", 0, 2, 2)
    # an LLM runner: a model constraint without hardware entries (no pipeline, no GPU)
    llms = [r for r in rows.values() if r[4] == "meta-llama/Meta-Llama-3.1-8B-Instruct" and r[0].startswith("0xdef1")]
    (llm,) = llms
    assert (llm[3], llm[5], llm[6], llm[7], llm[10]) == ("", True, 1, 0, 0)
    # every model with free + in-use capacity and hardware: total = the GPUs listed
    for r in rows.values():
        if r[3] == "live-video-to-video":
            assert r[6] + r[7] == r[10], r
    assert capacity_facts("not a list") == [] and capacity_facts([None, {"address": ""}]) == []
