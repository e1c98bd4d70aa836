"""A request with two orchestrator attempts, derived from real trace events, for latency tests.

The bundled requests with a swap never reach a second orchestrator (734b33f3 swaps out of its
only orchestrator and finds none). This request joins two real attempts under one request id:

1. Attempt 1: the trace events of request 734b33f3 (2026-02-24 session, orchestrator
   0x5fd25374..., https://server.ai-bitbender.xyz:1112) from its stream request up to and
   including its ``orchestrator_swap`` (envelope 1771950584256), unchanged but for the ids.
2. Attempt 2: the five orchestrator edges of request cae483be (2026-02-22 session, orchestrator
   0x22d4da4b..., https://legiocorp.link:8777), envelope and ``data.timestamp`` both shifted by
   the same SHIFT_MS, so that its first edge (runner_send_first_processed_segment, envelope
   1771802074979) comes 2 s after the swap; the relay offsets (envelope - data.timestamp) and
   the gaps between edges stay as they were.

Every event gets request id ``swap2att``, stream id ``aiJobTesterStream-swap-sequence`` and
an id ``swap-<n>``; the events of 734b33f3 after the swap (no orchestrator available, closed)
are left out.

A second request, ``noclock1`` (ids ``noclock-<n>``), holds only two edges of a818d729's
orchestrator: gateway_send_first_ingest_segment as it was and runner_receive_first_ingest_segment
without its ``data.timestamp`` (as the orchestrator_swap events come), so its time is the
gateway's relay time, not the runner's clock: the cross-host latency must not be emitted.
"""

from __future__ import annotations

import json

from conftest import ROOT

EVENTS = ROOT / "tests" / "fixtures" / "livepeer" / "events"
FIRST = EVENTS / "prod_snapshot_20260224T184416Z__scenario_3_success_with_swap__aiJobTesterStream-1771950556537836313_734b33f3.jsonl"
CLOCKLESS = EVENTS / "prod_snapshot_20260223T160454Z__scenario_1_clean_success_no_swap_fps_gt_12__aiJobTesterStream-1771803956707505111_a818d729.jsonl"
SECOND = EVENTS / "prod_snapshot_20260223T160454Z__scenario_3_success_with_swap__aiJobTesterStream-1771802048971586760_cae483be.jsonl"
REQUEST_ID = "swap2att"
STREAM_ID = "aiJobTesterStream-swap-sequence"
SWAP_MS = 1771950584256
SHIFT_MS = SWAP_MS + 2000 - 1771802074979
ORCHESTRATOR_EDGES = (
    "gateway_send_first_ingest_segment", "runner_receive_first_ingest_segment",
    "runner_send_first_processed_segment", "gateway_receive_first_processed_segment",
    "gateway_receive_few_processed_segments",
)


def _traces(path) -> list[dict]:  # type: ignore[no-untyped-def]
    out = []
    for line in path.read_text().splitlines():
        event = json.loads(line)
        if event["type"] == "stream_trace":
            if isinstance(event["data"], str):
                event["data"] = json.loads(event["data"])
            out.append(event)
    return sorted(out, key=lambda e: int(e["timestamp"]))


def lines() -> list[str]:
    first = [e for e in _traces(FIRST) if int(e["timestamp"]) <= SWAP_MS]
    second = [e for e in _traces(SECOND) if e["data"]["type"] in ORCHESTRATOR_EDGES]
    for event in second:
        event["timestamp"] = str(int(event["timestamp"]) + SHIFT_MS)
        if event["data"].get("timestamp"):
            event["data"]["timestamp"] = int(event["data"]["timestamp"]) + SHIFT_MS
    out = []
    for n, event in enumerate(first + second, start=1):
        event["id"] = f"swap-{n}"
        event["data"]["request_id"] = REQUEST_ID
        event["data"]["stream_id"] = STREAM_ID
        out.append(json.dumps(event, separators=(",", ":")))
    clockless = [e for e in _traces(CLOCKLESS) if e["data"]["type"] in ORCHESTRATOR_EDGES[:2]]
    for n, event in enumerate(clockless, start=1):
        event["id"] = f"noclock-{n}"
        event["data"]["request_id"] = "noclock1"
        event["data"]["stream_id"] = "aiJobTesterStream-noclock"
        if event["data"]["type"] == "runner_receive_first_ingest_segment":
            del event["data"]["timestamp"]
        out.append(json.dumps(event, separators=(",", ":")))
    return out
