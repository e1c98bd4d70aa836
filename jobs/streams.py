"""The DataStream side that the runtime and the jobs share.

The runtime converts the job's outputs to one DataStream (rows ``(kind, route, tag, body, ms)``,
see jobs/runtime.py ``build``); each consumer takes the rows of its kind from it. Kept apart from
the runtime so a job can use it without importing the runtime (which imports every job).
"""

from __future__ import annotations

from typing import Any


def by_kind(stream: Any, kind: str, pipeline: str) -> Any:
    """The rows of one kind of the single table-to-stream conversion (see build)."""
    return stream.filter(lambda row: row[0] == kind).uid(f"{pipeline}-split-{kind}").name(f"split {kind}")
