"""The operator uids and names of every registered pipeline, pinned (no JVM).

A savepoint maps its state to operators by uid: a uid that changes (a renamed module, a
pipeline wired differently) makes ``redeploy`` refuse the savepoint, or, with ``--force``,
drop that state. The uids are string constants and the pipeline's name, never a module's
``__name__``; this test builds each pipeline's STREAMING topology (the mode that takes
savepoints) with the runtime's own code over a recording stand-in for Flink's environments,
and compares every ``uid()`` given, with the ``name()`` that follows it, to the list below.

The source's own registration (table DDL, Java functions, the late marker) is left out: it
needs a JVM. The late marker's uid is a constant and is pinned on its own.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from jobs import registry, runtime
from jobs import settings as settings_module

EXPECTED = {
    "naap": [
        ("naap-split-batch", "split batch"),
        ("naap-batch-writer", "clickhouse+parquet batch writer"),
        ("naap-batch-writer-end", None),
        ("naap-split-reject", "split reject"),
        ("naap-reject-writer", "dead-letter writer"),
        ("naap-reject-writer-end", None),
        ("naap-split-scd", "split scd"),
        ("naap-orchestrator-versions", "orchestrator_metadata SCD2 versions"),
        ("naap-orchestrator-metadata-writer", "orchestrator_metadata writer"),
        ("naap-orchestrator-metadata-writer-end", None),
    ],
    "naap_ingest": [
        ("naap_ingest-split-batch", "split batch"),
        ("naap_ingest-batch-writer", "clickhouse+parquet batch writer"),
        ("naap_ingest-batch-writer-end", None),
        ("naap_ingest-split-reject", "split reject"),
        ("naap_ingest-reject-writer", "dead-letter writer"),
        ("naap_ingest-reject-writer-end", None),
        ("naap_ingest-split-scd", "split scd"),
        ("naap_ingest-orchestrator-versions", "orchestrator_metadata SCD2 versions"),
        ("naap_ingest-orchestrator-metadata-writer", "orchestrator_metadata writer"),
        ("naap_ingest-orchestrator-metadata-writer-end", None),
    ],
    "naap_metrics": [
        ("naap_metrics-split-batch", "split batch"),
        ("naap_metrics-batch-writer", "clickhouse+parquet batch writer"),
        ("naap_metrics-batch-writer-end", None),
        ("naap_metrics-split-reject", "split reject"),
        ("naap_metrics-reject-writer", "dead-letter writer"),
        ("naap_metrics-reject-writer-end", None),
    ],
    "tor_relays": [
        ("tor_relays-relay-state", "relay state: joins and derivations"),
        ("tor_relays-snapshot-writer", "relay_snapshot hourly writer"),
        ("tor_relays-snapshot-writer-end", None),
        ("tor_relays-reject-writer", "dead-letter writer"),
        ("tor_relays-reject-writer-end", None),
    ],
}


class Recorder:
    """Stands for a table environment, a table and a DataStream at once.

    Every method call returns a recorder; ``uid(u)`` and ``name(n)`` are written to ``calls``.
    """

    def __init__(self, calls: list[tuple[str, Any]]) -> None:
        self._calls = calls

    def __getattr__(self, attr: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Recorder:
            if attr in ("uid", "name"):
                self._calls.append((attr, args[0]))
            return Recorder(self._calls)

        return call


def operators(calls: list[tuple[str, Any]]) -> list[tuple[str, str | None]]:
    """(uid, the name given right after it, or None), in the order the topology set them."""
    out: list[tuple[str, str | None]] = []
    for i, (kind, value) in enumerate(calls):
        if kind == "uid":
            follows = calls[i + 1] if i + 1 < len(calls) else ("", None)
            out.append((value, follows[1] if follows[0] == "name" else None))
    return out


def streaming_topology(name: str, settings: settings_module.Settings, monkeypatch: pytest.MonkeyPatch) -> list:
    import pyflink.datastream.connectors as connectors

    monkeypatch.setattr(connectors, "Sink", lambda java_class: java_class)
    pipeline = registry.get(name)
    quiet = dataclasses.replace(pipeline.source, register=lambda env, t_env, settings: None)
    monkeypatch.setitem(registry.PIPELINES, name, dataclasses.replace(pipeline, source=quiet))
    calls: list[tuple[str, Any]] = []
    assert runtime.build(Recorder(calls), Recorder(calls), settings, name) is None
    return operators(calls)


def test_every_registered_pipeline_is_pinned() -> None:
    assert set(EXPECTED) == set(registry.PIPELINES)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_operator_uids_and_names_do_not_change(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_module.load({"NETPULSE_VAR_DIR": str(tmp_path), "NETPULSE_RUNTIME_MODE": "streaming"})
    assert not settings.is_batch
    assert streaming_topology(name, settings, monkeypatch) == EXPECTED[name]


def test_the_late_marker_uid_does_not_change() -> None:
    from jobs.naap import envelopes

    assert envelopes.LATE_MARKER_UID == "gateway-late-marker"
