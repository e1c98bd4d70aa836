"""Capacity facts of a ``network_capabilities`` announcement: one per orchestrator x model.

The hourly capacity metrics (jobs/naap/analytics.py) aggregate these facts; the per-GPU rows
of orchestrator_metadata come from udfs/capabilities.py, whose readers of an announcement's
fields this module shares.
"""

from __future__ import annotations

import json
import math
from typing import Any

from pyflink.table import DataTypes
from pyflink.table.udf import udtf

from udfs.capabilities import _clamp, _int, _models, _str

# One row per orchestrator x model of an announcement, from the model constraints (not per
# GPU: the constraint entry is per model, and a model may run on several hardware entries or,
# for LLM runners, on none). In go-livepeer's ModelConstraint `capacity` is the FREE capacity
# and `capacityInUse` what is in use, both omitted when 0 (Go omitempty): on the bundled
# announcements capacity + capacityInUse equals the number of GPUs listed for the model
# (e.g. 16 + 9 = 25 GPUs over 11 hardware entries), so total = capacity + capacityInUse.
CAPACITY_COLUMNS = (
    "orchestrator_address", "local_address", "orchestrator_url", "pipeline", "model_id",
    "is_warm", "available", "in_use", "price_per_unit", "pixels_per_unit", "gpu_count", "gpu_names",
)


def capacity_facts(data: Any) -> list[tuple[Any, ...]]:
    """Capacity facts per orchestrator x model of one announcement.

    Each fact: (orchestrator, local key, URL, pipeline, model, warm, available, in use, price per
    unit, pixels per unit, GPU count, GPU names).

    Models come from the capability constraints and from the hardware entries; a model with
    no constraint entry has warm False and no capacity (available and in use 0). The pipeline
    is the hardware entries' pipeline for the model ('' when none lists it). Never raises:
    parts that are not objects are skipped (naap_ingest dead-letters them).
    """
    rows: list[tuple[Any, ...]] = []
    if not isinstance(data, list):
        return rows
    for orchestrator in data:
        if not isinstance(orchestrator, dict):
            continue
        address = _str(orchestrator.get("address")).lower()
        if not address:
            continue
        capabilities = orchestrator.get("capabilities")
        models = _models(capabilities if isinstance(capabilities, dict) else {})
        prices: dict[str, tuple[float, float]] = {}
        listed = orchestrator.get("capabilities_prices")
        for price in listed if isinstance(listed, list) else []:
            if not isinstance(price, dict):
                continue
            per_unit, pixels = price.get("pricePerUnit"), price.get("pixelsPerUnit")
            if isinstance(per_unit, int | float) and not isinstance(per_unit, bool) and math.isfinite(per_unit):
                ok = (
                    isinstance(pixels, int | float)
                    and not isinstance(pixels, bool)
                    and bool(pixels)
                    and math.isfinite(pixels)
                )
                prices[_str(price.get("constraint"))] = (float(per_unit), float(pixels) if ok and pixels else 1.0)
        pipelines: dict[str, str] = {}
        gpus: dict[str, list[str]] = {}
        hardware = orchestrator.get("hardware")
        for entry in hardware if isinstance(hardware, list) else []:
            if not isinstance(entry, dict):
                continue
            model_id = _str(entry.get("model_id"))
            if not model_id:
                continue
            pipelines.setdefault(model_id, _str(entry.get("pipeline")))
            gpu_info = entry.get("gpu_info")
            names = gpus.setdefault(model_id, [])
            if isinstance(gpu_info, dict):
                names.extend(_str(g.get("name")) for g in gpu_info.values() if isinstance(g, dict))
        for model_id in sorted(set(models) | set(gpus)):
            info = models.get(model_id, {})
            per_unit, pixels = prices.get(model_id, (None, None))
            names = gpus.get(model_id, [])
            rows.append((
                address,
                _str(orchestrator.get("local_address")).lower(),
                _str(orchestrator.get("orch_uri")),
                pipelines.get(model_id, ""),
                model_id,
                info.get("warm") is True,
                _clamp(_int(info.get("capacity")), 65535),
                _clamp(_int(info.get("capacityInUse")), 65535),
                per_unit,
                pixels,
                len(names),
                ",".join(sorted({n for n in names if n})),
            ))
    return rows


def capacity_udtf() -> Any:
    """The PyFlink table function over :func:`capacity_facts` (``data`` as JSON text)."""

    @udtf(
        result_types=[
            DataTypes.STRING(), DataTypes.STRING(), DataTypes.STRING(), DataTypes.STRING(), DataTypes.STRING(),
            DataTypes.BOOLEAN(), DataTypes.INT(), DataTypes.INT(), DataTypes.DOUBLE(), DataTypes.DOUBLE(),
            DataTypes.INT(), DataTypes.STRING(),
        ],
        input_types=[DataTypes.STRING()],
    )
    def capacity_facts_udtf(data):  # type: ignore[no-untyped-def]
        try:
            decoded = json.loads(data)
        except (TypeError, ValueError):
            return
        try:
            yield from capacity_facts(decoded)
        except Exception:  # noqa: BLE001 - naap_ingest dead-letters the event's defects
            return

    return capacity_facts_udtf
