"""The one retry policy of every writer (jobs/connectors/sinks.py ``retried``), NaaP's and Tor's (no JVM)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from jobs import settings as settings_module
from jobs.connectors import sinks
from jobs.tor import writer as tor_writer


def test_retried_until_success_logs_each_failure(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    sleeps: list[float] = []
    monkeypatch.setattr(sinks.time, "sleep", sleeps.append)
    calls, failures = [], []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("refused")
        return "done"

    with caplog.at_level(logging.WARNING, logger="netpulse.sinks"):
        result = sinks.retried("insert into naap.x", flaky, rows=7, on_failure=lambda: failures.append(1))
    assert result == "done" and len(calls) == 3 and len(failures) == 2
    assert sleeps == [0.5, 1.0]  # exponential backoff
    assert [r.getMessage() for r in caplog.records] == [
        "insert into naap.x failed (attempt 1/6, 7 rows): refused",
        "insert into naap.x failed (attempt 2/6, 7 rows): refused",
    ]


def test_retried_raises_after_the_last_attempt(monkeypatch: pytest.MonkeyPatch) -> None:
    sleeps: list[float] = []
    monkeypatch.setattr(sinks.time, "sleep", sleeps.append)

    def down() -> None:
        raise ConnectionError("down")

    with pytest.raises(RuntimeError, match="ClickHouse insert into t failed 8 times; the job will restart") as err:
        sinks.retried("insert into t", down, attempts=8)
    assert isinstance(err.value.__cause__, ConnectionError)
    assert sleeps == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0]  # capped at 30 s


def test_tor_inserts_go_through_the_shared_writer(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The outage drill switch of the shared writer stops a Tor insert too, retried then raised."""
    monkeypatch.setattr(sinks.time, "sleep", lambda s: None)
    fault = tmp_path / "fault"
    fault.touch()
    settings = settings_module.load({"NETPULSE_VAR_DIR": str(tmp_path), "NETPULSE_FAULT_FILE": str(fault)})
    with pytest.raises(RuntimeError, match=r"ClickHouse insert into tor.relay_hour_metrics failed 3 times"):
        tor_writer.insert_rows(settings, "tor.relay_hour_metrics", ("ts",), [[None]], "token", attempts=3)
    with pytest.raises(RuntimeError, match=r"ClickHouse read of tor.relay_snapshot fingerprints of 2018-06-01"):
        tor_writer.existing_fingerprints(settings, 1527811200000)
    assert not (tmp_path / "clickhouse").exists()  # failed before touching the client
