"""The DataStream side that the runtime and the jobs share.

The runtime converts the pipeline's outputs to one DataStream of stream rows (jobs/contract.py
``STREAM_ROW``); each consumer takes the rows of its kind from it. Kept apart from the runtime
so a job can use it without importing the runtime.
"""

from __future__ import annotations

from typing import Any

from jobs.contract import KIND


def by_kind(stream: Any, kind: str, pipeline: str) -> Any:
    """The rows of one kind of the single table-to-stream conversion (see build)."""
    return stream.filter(lambda row: row[KIND] == kind).uid(f"{pipeline}-split-{kind}").name(f"split {kind}")
