"""Values from the command line reach SQL only after validation (jobs/replay.py)."""

import datetime as dt

import pytest

from jobs import __main__ as cli
from jobs.replay import ReplayPlan

DAY = dt.date(2026, 2, 23)


@pytest.mark.parametrize("bad", ["ai_stream_status'; DROP TABLE naap.raw_events; --", "x'y", "a;b", ""])
def test_unknown_or_hostile_event_types_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="unknown event type"):
        ReplayPlan(DAY, DAY, ("stream_trace", bad))


def test_known_types_and_ranges() -> None:
    assert ReplayPlan(DAY, DAY, ("stream_trace", "ai_stream_status")).event_types == ("stream_trace", "ai_stream_status")
    with pytest.raises(ValueError, match="after"):
        ReplayPlan(DAY, DAY - dt.timedelta(days=1), None)


def test_cli_reports_a_bad_type_without_running(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["replay", "--from", "2026-02-23", "--to", "2026-02-23", "--types", "stream_trace';--"])
    assert code == 2
    assert "unknown event type" in capsys.readouterr().err
