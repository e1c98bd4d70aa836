"""The job contract: what a pipeline, its source and its jobs declare, and nothing else.

A pipeline (one Flink job, one CLI name, one entry in jobs/registry.py) is a source and the jobs
that read it. The runtime (jobs/runtime.py) wires every pipeline the same way from these
declarations: it creates the environment, registers the source, calls each job's ``build``,
sends the table outputs to the batch writers (or, in a bounded NaaP run, to the staged bulk
load), the source's rejects to the dead-letter writer and the stream rows to the jobs' keyed
DataStream parts, gives every writer its operator uid and executes. Declarations do no I/O;
the one exception is named as such (``Source.prepare``, run before the job is built).

Rows that cross into a DataStream part through the pipeline's shared table-to-stream
conversion have the columns of ``STREAM_ROW`` (kind, route, tag, body, ms); Python code reads
them by the index constants below, never by a bare position.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jobs.settings import Settings

# The columns of a stream row, in order, and their indexes.
STREAM_ROW = ("kind", "route", "tag", "body", "ms")
KIND, ROUTE, TAG, BODY, MS = range(len(STREAM_ROW))


def stream_select(kind: str, route: str, tag: str, body: str, ms: str, source: str) -> str:
    """SQL of stream rows: one SQL expression per column of ``STREAM_ROW``, over ``source``."""
    return f"SELECT {kind} AS kind, {route} AS route, {tag} AS tag, {body} AS body, {ms} AS ms FROM {source}"


# (the converted DataStream, settings, pipeline name) -> None: adds operators, each with a uid.
Attach = Callable[[Any, Settings, str], None]


@dataclass(frozen=True)
class StreamPart:
    """A job's keyed DataStream part (Python operators with state), fed by the runtime.

    Exactly one of ``rows`` and ``view``:

    * ``rows``: SQL SELECTs of stream rows (``STREAM_ROW``); they travel in the pipeline's one
      shared conversion with the batches and the rejects, and ``attach`` receives that whole
      stream (``jobs.streams.by_kind`` takes its rows out of it). In a bounded run whose source
      is staged they are staged instead (key TAB event ms TAB row) and folded at load time.
    * ``view``: a view converted on its own (its own columns and keys); ``attach`` receives it.
    """

    attach: Attach
    rows: tuple[str, ...] = ()
    view: str | None = None

    def __post_init__(self) -> None:
        if bool(self.rows) == (self.view is not None):
            raise ValueError("a StreamPart declares either rows (the shared conversion) or a view, not both")


@dataclass(frozen=True)
class Job:
    """One job of a pipeline.

    ``build(t_env, settings)`` defines the job's views over the source's views and returns the
    names of its table outputs, views of (target, row_json, rt) that the runtime batches per
    event-time window into the writers. It does no I/O and wires no sink.
    """

    name: str
    build: Callable[[Any, Settings], list[str]]
    stream: StreamPart | None = None


@dataclass(frozen=True)
class Source:
    """Where a pipeline's rows come from.

    register(env, t_env, settings): the source table and the views every job of the pipeline
        reads (parsed and checked once); no I/O.
    rejects(settings, pipeline): SQL of the dead-letter rows found at the source, columns
        (target, row_json); the runtime sends them to the buffered dead-letter writer.
    prepare(settings): I/O before the job is built (the Tor collector stages its input).
        Skipped when a caller runs over input it has prepared itself.
    bounded(settings): whether a run in NETPULSE_RUNTIME_MODE=auto is bounded (Flink BATCH
        mode); None: ``settings.is_batch`` decides (files read once are bounded, Kafka is not).
    watch(settings, stop): keeps preparing input beside a watched (unbounded) run until ``stop``.
    staged_load: a bounded (BATCH) run stages every output as files in Java and loads them in
        bulk after the job (jobs/connectors/staging.py); False: the writers run inside the job in both modes.
    """

    name: str
    register: Callable[[Any, Any, Settings], None]
    rejects: Callable[[Settings, str], str]
    prepare: Callable[[Settings], None] | None = None
    bounded: Callable[[Settings], bool] | None = None
    watch: Callable[[Settings, threading.Event], None] | None = None
    staged_load: bool = True


@dataclass(frozen=True)
class Pipeline:
    """One Flink job: a source read once, fanned out to its jobs. Its name is the CLI name."""

    name: str
    source: Source
    jobs: tuple[Job, ...]
    description: str = ""

    def __post_init__(self) -> None:
        if not self.jobs:
            raise ValueError(f"pipeline {self.name!r} has no job")
