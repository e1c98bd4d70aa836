"""Explode a ``network_capabilities`` event into orchestrator_metadata rows (one per GPU).

``data`` is an array with one entry per orchestrator: on-chain ``address``, ``local_address``
(the key stream events carry), ``orch_uri``, ``capabilities`` (version, constraints
PerCapability -> models -> warm/capacity/capacityInUse/runnerVersion), ``capabilities_prices``
(capability, constraint = model, pricePerUnit, pixelsPerUnit) and ``hardware`` (pipeline,
model_id, gpu_info keyed "0", "1", ... -> id, name, major, minor, memory_free, memory_total).

The parser never raises. A defective part of one orchestrator (a hardware entry without
gpu_info, a price without pricePerUnit, an entry that is not an object) becomes a reject with
a reason and that part as payload, while everything usable in the event is still emitted:
the production event of 2026-02-24 that crashed the earlier parser yields its GPU rows plus
rejects naming its defects.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pyflink.table import DataTypes
from pyflink.table.udf import udtf

from udfs.scd import key_of

METADATA_TABLE = "naap.orchestrator_metadata"
DEAD_LETTER_TABLE = "naap.dead_letter"


@dataclass(frozen=True)
class Reject:
    """A part of an event that could not be used."""

    reason: str
    detail: str
    payload: str


def _ms_text(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _int(value: Any, default: int = 0) -> int:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        digits = text[1:] if text.startswith("-") else text
        # ASCII digits only: str.isdigit() also accepts superscripts, which int() refuses.
        if digits and digits.isascii() and digits.isdigit() and len(digits) <= 30:
            return int(text)
    return default


def _clamp(value: int, high: int) -> int:
    """A count into its unsigned column's range (a value outside would fail the batch insert)."""
    return min(max(value, 0), high)


UINT64_MAX = 2**64 - 1


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _models(capabilities: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Model id -> its constraint entry (warm, capacity, capacityInUse, runnerVersion)."""
    constraints = capabilities.get("constraints")
    per_capability = constraints.get("PerCapability") if isinstance(constraints, dict) else None
    models: dict[str, dict[str, Any]] = {}
    if isinstance(per_capability, dict):
        for entry in per_capability.values():
            entry_models = entry.get("models") if isinstance(entry, dict) else None
            if isinstance(entry_models, dict):
                for model_id, info in entry_models.items():
                    if isinstance(info, dict):
                        models[model_id] = info
    return models


def _prices(orchestrator: dict[str, Any], rejects: list[Reject], address: str) -> dict[str, float]:
    """Model id (price constraint) -> price per pixel."""
    prices: dict[str, float] = {}
    listed = orchestrator.get("capabilities_prices")
    if listed is not None and not isinstance(listed, list):
        rejects.append(Reject("prices_not_an_array", f"orchestrator {address}", json.dumps(listed)))
        return prices
    for price in listed or []:
        if not isinstance(price, dict):
            rejects.append(Reject("price_not_an_object", f"orchestrator {address}", json.dumps(price)))
            continue
        per_unit, pixels = price.get("pricePerUnit"), price.get("pixelsPerUnit")
        if not isinstance(per_unit, int | float) or isinstance(per_unit, bool):
            rejects.append(
                Reject(
                    "price_without_price_per_unit",
                    f"orchestrator {address}, constraint {price.get('constraint')!r}",
                    json.dumps(price, sort_keys=True),
                )
            )
            continue
        pixels_n = pixels if isinstance(pixels, int | float) and not isinstance(pixels, bool) and pixels else 1
        try:
            per_pixel = float(per_unit) / float(pixels_n)
        except (OverflowError, ZeroDivisionError):
            per_pixel = math.inf
        if not math.isfinite(per_pixel):
            rejects.append(
                Reject("price_out_of_range", f"orchestrator {address}, constraint {price.get('constraint')!r}",
                       json.dumps(price, sort_keys=True))
            )
            continue
        prices[_str(price.get("constraint"))] = per_pixel
    return prices


def _gpus(hardware: Any, rejects: list[Reject], address: str) -> list[dict[str, Any]]:
    """One dict per (hardware entry, GPU)."""
    gpus: list[dict[str, Any]] = []
    if not isinstance(hardware, list):
        return gpus
    for entry in hardware:
        if not isinstance(entry, dict):
            rejects.append(Reject("hardware_not_an_object", f"orchestrator {address}", json.dumps(entry)))
            continue
        gpu_info = entry.get("gpu_info")
        if not isinstance(gpu_info, dict) or not gpu_info:
            rejects.append(
                Reject(
                    "hardware_without_gpu_info",
                    f"orchestrator {address}, pipeline {entry.get('pipeline')!r}, "
                    f"model {entry.get('model_id')!r}",
                    json.dumps(entry, sort_keys=True),
                )
            )
            continue
        for key in sorted(gpu_info, key=lambda k: _int(k, 1 << 30)):
            gpu = gpu_info[key]
            if not isinstance(gpu, dict):
                rejects.append(Reject("gpu_not_an_object", f"orchestrator {address}, gpu {key}", json.dumps(gpu)))
                continue
            gpus.append(
                {
                    "pipeline": _str(entry.get("pipeline")),
                    "model_id": _str(entry.get("model_id")),
                    "gpu_id": _str(gpu.get("id")),
                    "gpu_name": _str(gpu.get("name")),
                    "gpu_memory_total": _clamp(_int(gpu.get("memory_total")), UINT64_MAX),
                    "gpu_memory_free": _clamp(_int(gpu.get("memory_free")), UINT64_MAX),
                    "gpu_major_version": _clamp(_int(gpu.get("major")), 255),
                    "gpu_minor_version": _clamp(_int(gpu.get("minor")), 255),
                }
            )
    return gpus


def explode(data: Any, event_ms: int, gateway: str, event_id: str) -> tuple[list[dict[str, Any]], list[Reject]]:
    """Rows of orchestrator_metadata and the rejects of one network_capabilities event.

    Args:
        data: the decoded ``data`` (a list of orchestrators; anything else is a reject).
        event_ms: envelope time: the version's valid_from and last_seen.
        gateway: the announcing gateway.
        event_id: the envelope id (source_event_id).
    """
    rows: list[dict[str, Any]] = []
    rejects: list[Reject] = []
    if not isinstance(data, list):
        return rows, [Reject("capabilities_not_an_array", type(data).__name__, json.dumps(data)[:4096])]
    seen_at = _ms_text(event_ms)
    for index, orchestrator in enumerate(data):
        if not isinstance(orchestrator, dict):
            rejects.append(Reject("orchestrator_not_an_object", f"entry {index}", json.dumps(orchestrator)))
            continue
        address = _str(orchestrator.get("address")).lower()
        if not address:
            rejects.append(
                Reject("missing_orchestrator_address", f"entry {index}", json.dumps(orchestrator, sort_keys=True))
            )
            continue
        capabilities = orchestrator.get("capabilities")
        capabilities = capabilities if isinstance(capabilities, dict) else {}
        models = _models(capabilities)
        prices = _prices(orchestrator, rejects, address)
        gpus = _gpus(orchestrator.get("hardware"), rejects, address)
        pipelines = sorted({g["pipeline"] for g in gpus if g["pipeline"]})
        model_ids = sorted(set(models) | {g["model_id"] for g in gpus if g["model_id"]})
        base = {
            "orchestrator_address": address,
            "local_address": _str(orchestrator.get("local_address")).lower(),
            "orchestrator_url": _str(orchestrator.get("orch_uri")),
            "orchestrator_version": _str(capabilities.get("version")),
            "supported_pipelines": pipelines,
            "supported_models": model_ids,
            "region": "",
            "valid_from": seen_at,
            "valid_to": None,
            "is_current": True,
            "last_seen": seen_at,
            "gateway": gateway,
            "source_event_id": event_id,
        }
        for gpu in gpus or [_NO_GPU]:
            model = models.get(gpu["model_id"], {})
            price = prices.get(gpu["model_id"])
            rows.append(
                base
                | gpu
                | {
                    "runner_version": _str(model.get("runnerVersion")),
                    "capacity": min(max(_int(model.get("capacity")), 0), 65535),
                    "capacity_in_use": min(max(_int(model.get("capacityInUse")), 0), 65535),
                    "price_per_pixel": price,
                }
            )
    return rows, rejects


_NO_GPU: dict[str, Any] = {
    "pipeline": "",
    "model_id": "",
    "gpu_id": "",
    "gpu_name": "",
    "gpu_memory_total": 0,
    "gpu_memory_free": 0,
    "gpu_major_version": 0,
    "gpu_minor_version": 0,
}


# One row of the table function: (target, row_json, scd_key, reason, detail, payload). A
# metadata row carries its JSON and its SCD2 key (udfs/scd.key_of, the key production's keyed
# state uses); a reject carries its reason, detail and payload, and becomes a naap.dead_letter
# row by the one SQL recipe of every reject (jobs/naap/envelopes.py ``dead_letter_row``).
Output = tuple[str, str | None, str | None, str | None, str | None, str | None]


def capability_outputs(data: str, event_ms: int, gateway: str, event_id: str) -> Iterator[Output]:
    """The table function's rows for one event: metadata rows, then rejects."""
    rows: list[dict[str, Any]]
    rejects: list[Reject]
    try:
        decoded = json.loads(data)
    except (TypeError, ValueError) as exc:
        decoded, rows = None, []
        rejects = [Reject("invalid_data", str(exc), data or "")]
    else:
        try:
            rows, rejects = explode(decoded, event_ms, gateway, event_id)
        except Exception as exc:  # a shape nobody foresaw: a dead letter, never a failed job
            rows, rejects = [], [Reject("capabilities_unparseable", f"{type(exc).__name__}: {exc}", data)]
    for row in rows:
        yield METADATA_TABLE, json.dumps(row, separators=(",", ":")), key_of(row), None, None, None
    for reject in rejects:
        yield DEAD_LETTER_TABLE, None, None, reject.reason, reject.detail, reject.payload


def capabilities_udtf() -> Any:
    """The PyFlink table function over :func:`capability_outputs`."""

    @udtf(
        result_types=[DataTypes.STRING()] * 6,
        input_types=[DataTypes.STRING(), DataTypes.BIGINT(), DataTypes.STRING(), DataTypes.STRING()],
    )
    def explode_capabilities(data, event_ms, gateway, event_id):  # type: ignore[no-untyped-def]
        yield from capability_outputs(data, event_ms, gateway, event_id)

    return explode_capabilities


# --- capacity facts (the naap_metrics capacity metrics) -------------------------------------
