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
    assert ReplayPlan(DAY, DAY, ("stream_ingest_metrics",)).event_types == ("stream_ingest_metrics",)
    assert ReplayPlan(DAY, DAY, ("network_capabilities",)).event_types == ("network_capabilities",)
    with pytest.raises(ValueError, match="after"):
        ReplayPlan(DAY, DAY - dt.timedelta(days=1), None)


def test_cli_reports_a_bad_type_without_running(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["replay", "--from", "2026-02-23", "--to", "2026-02-23", "--types", "stream_trace';--"])
    assert code == 2
    assert "unknown event type" in capsys.readouterr().err


def test_a_replay_of_one_input_of_the_hourly_analytics_replays_all_of_them() -> None:
    # the scorecard and demand metrics combine trace edges, status samples and ai_stream_events:
    # recomputed from status samples alone they would be wrong, so the plan takes all three
    plan = ReplayPlan(DAY, DAY, ("ai_stream_status",))
    assert plan.event_types == ("ai_stream_status", "stream_trace", "ai_stream_events")
    from jobs.replay import _metrics_of

    names = _metrics_of(plan.event_types)
    assert {"orchestrator_reliability", "demand_requested_sessions", "jitter_coefficient",
            "prompt_to_first_frame_latency"} <= set(names)
    assert "capacity_total" not in names
    assert "capacity_total" in _metrics_of(("network_capabilities",))
