"""The job contract and the registry without a JVM: every pipeline is declared, the CLI knows
pipelines only through the registry, and the declarations are well formed."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobs import __main__ as cli
from jobs import contract, registry
from jobs import settings as settings_module
from jobs.naap import source as naap_source
from jobs.tor import source as tor_source


def test_every_pipeline_is_registered_with_its_jobs() -> None:
    names = {name: tuple(job.name for job in p.jobs) for name, p in registry.PIPELINES.items()}
    assert names == {
        "naap": ("naap_ingest", "naap_metrics"),
        "naap_ingest": ("naap_ingest",),
        "naap_metrics": ("naap_metrics",),
        "tor_relays": ("tor_relays",),
    }
    assert all(p.name == name for name, p in registry.PIPELINES.items())
    # the NaaP pipelines read one source; Tor its own, whose writers run inside the job in both modes
    assert {registry.PIPELINES[n].source for n in ("naap", "naap_ingest", "naap_metrics")} == {naap_source.SOURCE}
    assert registry.PIPELINES["tor_relays"].source is tor_source.SOURCE
    assert not tor_source.SOURCE.staged_load and naap_source.SOURCE.staged_load


def test_unknown_pipeline_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown pipeline 'nope'; choose one of \['naap', 'naap_ingest', "):
        registry.get("nope")


def test_list_prints_the_registry(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "naap           naap_ingest + naap_metrics",
        "naap_ingest    naap_ingest",
        "naap_metrics   naap_metrics",
        "tor_relays     tor_relays (Tor directory documents, docs/tor.md)",
    ]


@pytest.mark.parametrize("command", ["submit", "redeploy"])
def test_cluster_commands_refuse_an_unregistered_pipeline(
    command: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Refused before a release is copied or the cluster is called (nothing to monkeypatch away)."""
    monkeypatch.setenv("NETPULSE_VAR_DIR", str(tmp_path))
    assert cli.main([command, "naap_metric"]) == 2
    assert "unknown pipeline 'naap_metric'" in capsys.readouterr().err
    assert not (tmp_path / "releases").exists()


def test_a_stream_part_declares_rows_or_a_view() -> None:
    def attach(stream: object, settings: object, pipeline: str) -> None:
        return None

    with pytest.raises(ValueError, match="either rows"):
        contract.StreamPart(attach=attach)
    with pytest.raises(ValueError, match="either rows"):
        contract.StreamPart(attach=attach, rows=("SELECT 1",), view="v")
    assert contract.StreamPart(attach=attach, view="v").rows == ()


def test_stream_rows_are_read_by_their_column_names() -> None:
    assert [contract.STREAM_ROW[i] for i in (contract.KIND, contract.ROUTE, contract.TAG, contract.BODY, contract.MS)] == [
        "kind", "route", "tag", "body", "ms"
    ]
    select = contract.stream_select("'scd'", "k", "''", "b", "m", "t")
    assert select == "SELECT 'scd' AS kind, k AS route, '' AS tag, b AS body, m AS ms FROM t"


def test_rejects_of_both_sources_are_target_and_row(tmp_path: Path) -> None:
    settings = settings_module.load({"NETPULSE_VAR_DIR": str(tmp_path)})
    naap = naap_source.rejects(settings, "naap")
    assert naap.startswith("SELECT 'naap.dead_letter' AS target, JSON_OBJECT(") and "AS row_json FROM source_rejects" in naap
    assert "'job' VALUE 'naap'" in naap  # the pipeline is the job of a source reject
    assert tor_source.rejects(settings, "tor_relays") == "SELECT target, row_json FROM tor_rejects"


def test_tor_runs_bounded_unless_watched(tmp_path: Path) -> None:
    settings = settings_module.load({"NETPULSE_VAR_DIR": str(tmp_path)})
    assert tor_source.bounded(settings)
    assert not tor_source.bounded(settings.replace(monitor_interval_s=5))
