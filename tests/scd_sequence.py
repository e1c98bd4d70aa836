"""A sequence of network_capabilities announcements derived from a real one, for SCD2 tests.

Source: tests/fixtures/livepeer/samples/flink-test-resources_net_caps.json (event bcca7b6c...,
2026-02-02 20:10:08.615 UTC). Documented edits, applied to its first orchestrator only
(0x9D61ae58..., https://rtv.nullworks.xyz:9924, two RTX 4090 GPUs), each re-announced alone:

1. +1 h (21:10:08.615), id ``scd-1``: unchanged but for each GPU's memory_free (-1 GiB) and the
   model's capacityInUse (2 -> 1): volatile values, so no new version, only last_seen moves.
2. +2 h (22:10:08.615), id ``scd-2``: the model's runnerVersion 0.14.1 -> 0.14.2 (a runner
   upgrade): both GPU rows close their version and open a new one.
"""

from __future__ import annotations

import copy
import json

from conftest import ROOT

SOURCE = ROOT / "tests" / "fixtures" / "livepeer" / "samples" / "flink-test-resources_net_caps.json"
T0 = 1770063008615
HOUR = 3_600_000


def lines() -> list[str]:
    event = json.loads(SOURCE.read_text())
    orchestrator = event["data"][0]
    first = copy.deepcopy(orchestrator)
    for hardware in first["hardware"]:
        for gpu in hardware["gpu_info"].values():
            gpu["memory_free"] -= 1 << 30
    first["capabilities"]["constraints"]["PerCapability"]["35"]["models"]["streamdiffusion-sdxl"]["capacityInUse"] = 1
    second = copy.deepcopy(first)
    second["capabilities"]["constraints"]["PerCapability"]["35"]["models"]["streamdiffusion-sdxl"]["runnerVersion"] = "0.14.2"
    out = []
    for n, entry in enumerate((first, second), start=1):
        out.append(json.dumps({"id": f"scd-{n}", "type": "network_capabilities", "timestamp": str(T0 + n * HOUR),
                               "gateway": "", "data": [entry]}, separators=(",", ":")))
    return out
