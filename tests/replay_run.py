"""Replay scenario in its own process (chDB: one database directory per process).

    python tests/replay_run.py VAR_DIR ARCHIVE_URL

Replays 2026-01-01..2026-03-01 of the archive into the fresh database of VAR_DIR four times:
fresh, fresh again, --replace, --replace --types ai_stream_status; exports the tables after
each step as VAR_DIR/tables-<step>.json.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pipeline_run import export  # noqa: E402

from jobs import replay, settings  # noqa: E402


def main() -> int:
    var_dir, archive = Path(sys.argv[1]), sys.argv[2]
    config = settings.load()
    plan = replay.ReplayPlan(dt.date(2026, 1, 1), dt.date(2026, 3, 1), None)
    steps = [
        ("fresh", plan, False),
        ("fresh-again", plan, False),
        ("replace", plan, True),
        ("replace-status", replay.ReplayPlan(plan.date_from, plan.date_to, ("ai_stream_status",)), True),
    ]
    summaries = {}
    for name, step_plan, replace in steps:
        summaries[name] = replay.replay(config, step_plan, archive_url=archive, replace=replace)
        export(config, var_dir / f"tables-{name}.json")
    (var_dir / "replay.json").write_text(json.dumps(summaries, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
