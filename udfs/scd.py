"""orchestrator_metadata as a Type 2 slowly changing dimension.

Key: (orchestrator_address, gpu_id, pipeline, model_id): one GPU may serve two models (two
hardware entries), and keying by GPU alone would flip versions between them on every
announcement. Tracked attributes (a change opens a new version): GPU model and memory size,
compute capability, runner and orchestrator versions, pipelines/models, capacity, price, and
the node's local key and URL. Volatile values (free GPU memory, capacity in use, announcing
gateway) only refresh the current version, like ``last_seen``.

Each transition emits whole rows; naap.orchestrator_metadata is a ReplacingMergeTree on
(key, valid_from) with version ``last_seen``, so a refreshed or closed version replaces its
earlier row, and a replay after a restart re-emits identical rows (idempotent).
"""

from __future__ import annotations

import json
from typing import Any

TRACKED = (
    "gpu_name",
    "gpu_memory_total",
    "gpu_major_version",
    "gpu_minor_version",
    "runner_version",
    "orchestrator_version",
    "supported_pipelines",
    "supported_models",
    "capacity",
    "price_per_pixel",
    "local_address",
    "orchestrator_url",
)
KEY = ("orchestrator_address", "gpu_id", "pipeline", "model_id")


def key_of(row: dict[str, Any]) -> str:
    """The dimension key of an announcement row."""
    return "|".join(str(row[k]) for k in KEY)


def advance(current: dict[str, Any] | None, row: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Apply one announcement (``row``, valid_from = last_seen = its event time) to a key.

    Returns the new current version and the rows to write (in order).
    """
    seen = row["last_seen"]
    if current is not None and seen < current["last_seen"]:
        return current, []  # older than what is known (replayed): nothing changes
    if current is None:
        return row, [row]
    if all(current[a] == row[a] for a in TRACKED):
        refreshed = current | {
            "last_seen": seen,
            "gpu_memory_free": row["gpu_memory_free"],
            "capacity_in_use": row["capacity_in_use"],
            "gateway": row["gateway"],
            "source_event_id": row["source_event_id"],
        }
        return refreshed, [refreshed]
    closed = current | {"valid_to": seen, "is_current": False, "last_seen": seen}
    return row, [closed, row]


def apply(
    current: dict[str, Any] | None, rows: list[dict[str, Any]]
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """Apply a key's announcements in event-time order; returns the new current version and the rows to write.

    Ties are ordered by content: the order in which they arrived never matters.
    """
    emitted: list[dict[str, Any]] = []
    for row in sorted(rows, key=lambda r: (r["last_seen"], json.dumps(r, sort_keys=True))):
        current, out = advance(current, row)
        emitted.extend(out)
    return current, emitted


class OrchestratorVersions:
    """Thin PyFlink KeyedProcessFunction over :func:`advance` (built lazily: see ``function``).

    Announcements are buffered until the watermark passes them and applied in event-time
    order; the current version lives in keyed state (checkpointed, restored from savepoints).
    """

    @staticmethod
    def function(body: int, ms: int) -> Any:
        """The operator over stream rows.

        ``body`` and ``ms``: the indexes of the row JSON and the event time (epoch ms) in a
        row (jobs/contract.py STREAM_ROW).
        """
        from pyflink.common import Types
        from pyflink.datastream import KeyedProcessFunction, RuntimeContext
        from pyflink.datastream.state import ListStateDescriptor, ValueStateDescriptor

        class _Versions(KeyedProcessFunction):  # type: ignore[misc]  # PyFlink ships no type hints
            def open(self, runtime_context: RuntimeContext) -> None:
                self.current = runtime_context.get_state(ValueStateDescriptor("current", Types.STRING()))
                self.pending = runtime_context.get_list_state(ListStateDescriptor("pending", Types.STRING()))

            def process_element(self, value: Any, ctx: KeyedProcessFunction.Context) -> Any:
                # applied once the watermark has passed the event, in event-time order
                row = json.loads(value[body])
                row["_rt"] = value[ms]
                self.pending.add(json.dumps(row))
                ctx.timer_service().register_event_time_timer(value[ms])
                return iter(())

            def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext) -> Any:
                rows = [json.loads(r) for r in self.pending.get()]
                if not rows:
                    return
                # Everything at or before the watermark is complete, not only this timer's
                # rows: in BATCH mode every timer fires at the end of input (watermark MAX),
                # and applying the whole backlog at the first one keeps the work linear.
                horizon = max(timestamp, ctx.timer_service().current_watermark())
                due = [r for r in rows if r["_rt"] <= horizon]
                later = [r for r in rows if r["_rt"] > horizon]
                for row in due:
                    row.pop("_rt")
                stored = self.current.value()
                current, emitted = apply(json.loads(stored) if stored else None, due)
                for out in emitted:
                    yield "naap.orchestrator_metadata", json.dumps(out, separators=(",", ":"))
                if current is not None:
                    self.current.update(json.dumps(current))
                self.pending.update([json.dumps(r) for r in later])

        return _Versions()
