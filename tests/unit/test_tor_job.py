"""The Tor job's wiring without a JVM: the CLI names and runs it; its SQL escapes values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from jobs import __main__ as cli
from jobs.tor import relays as tor_relays


def test_list_names_tor_relays(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["list"]) == 0
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert "tor_relays" in names and "naap" in names


@pytest.mark.parametrize("input_path", [None, "/data/collector"])
def test_run_tor_relays(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, input_path: str | None
) -> None:
    """``run tor_relays`` goes through the one runtime, like every pipeline; its source reads
    NETPULSE_INPUT_PATH when set away from var/input, else the bundled documents."""
    from jobs import runtime
    from jobs.tor import source as tor_source

    calls: list[Any] = []
    monkeypatch.setenv("NETPULSE_VAR_DIR", str(tmp_path))
    if input_path:
        monkeypatch.setenv("NETPULSE_INPUT_PATH", input_path)
    else:
        monkeypatch.delenv("NETPULSE_INPUT_PATH", raising=False)
    monkeypatch.setattr(
        runtime, "run", lambda settings, name: calls.append((name, tor_source.default_input(settings)))
    )
    monkeypatch.setattr(tor_relays, "print_summary", lambda settings: calls.append("summary"))
    assert cli.main(["run", "tor_relays"]) == 0
    # no summary: on a cluster the submitting client must not open the job's embedded database
    assert calls == [("tor_relays", Path(input_path) if input_path else tor_relays.BUNDLED_INPUT)]


def test_run_refuses_an_unknown_pipeline(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["run", "tor_relay"]) == 2
    assert "unknown pipeline 'tor_relay'; choose one of" in capsys.readouterr().err


def test_tor_collect_stages_a_tree(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("NETPULSE_VAR_DIR", str(tmp_path))
    assert cli.main(["tor-collect", str(tor_relays.BUNDLED_INPUT)]) == 0
    staged = list((tmp_path / "tor" / "staged").glob("*.jsonl"))
    assert staged and sum(1 for p in staged for _ in p.open()) > 100
    assert "staged" in capsys.readouterr().out


def test_source_ddl_escapes_the_path(tmp_path: Path) -> None:
    from jobs import settings as settings_module

    settings = settings_module.load({"NETPULSE_VAR_DIR": str(tmp_path)})
    ddl = tor_relays.source_ddl(settings, Path("/data/o'hara/staged"), batch=True)
    assert "'path' = '/data/o''hara/staged'" in ddl
    # a quote and a semicolon in a staged path stay inside the one literal
    ddl = tor_relays.source_ddl(settings, Path("/data/x'; DROP TABLE tor.relay_snapshot; --/staged"), batch=True)
    assert "'path' = '/data/x''; DROP TABLE tor.relay_snapshot; --/staged'," in ddl
    assert ddl.count("'") % 2 == 0
    assert "WATERMARK" not in ddl and "monitor-interval" not in ddl
    streaming = settings.replace(monitor_interval_s=5)
    ddl = tor_relays.source_ddl(streaming, Path("/x"))
    assert "WATERMARK FOR rt AS rt" in ddl and "'source.monitor-interval' = '5 s'" in ddl
