"""Replay scenario in its own process (chDB: one database directory per process).

    python tests/replay_run.py VAR_DIR ARCHIVE_URL

Replays 2026-01-01..2026-03-01 of the archive into the fresh database of VAR_DIR four times:
fresh, fresh again, --replace, --replace --types ai_stream_status; exports the tables after
each step as VAR_DIR/tables-<step>.json (and the metric versions of the Parquet files as
parquet-<step>.json). Before --replace, rows of latency catalog version 1 are added to the
database and to Parquet: the replace must take them out.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pipeline_run import export  # noqa: E402

from jobs import replay, settings  # noqa: E402

# rows as catalog version 1 wrote them for request a818d729 (2026-02-22 23:46 UTC): a latency
# version 2 redefines and one it removed; the replace step must leave neither behind
VERSION_1_ROWS = [
    {"metric_timestamp": "2026-02-22 23:46:01.194", "window_start": "2026-02-22 23:46:01.194",
     "window_end": "2026-02-22 23:46:11.774", "stream_id": "aiJobTesterStream-1771803956707505111",
     "request_id": "a818d729", "gateway": "cloud-spe-ai-live-video-tester-fra",
     "orchestrator_address": "0xcf5654abfaefc001a84aeb18fe4c13bfd0f8a77b", "orchestrator_url": "https://lpt.gzp.link:8888",
     "gpu_id": None, "region": "", "pipeline": "streamdiffusion-sdxl-v2v", "model_id": "streamdiffusion-sdxl-v2v",
     "metric_name": name, "metric_category": "performance", "metric_version": 1, "metric_value": value,
     "metric_unit": "ms", "metric_metadata": "{}"}
    for name, value in (("prompt_to_first_frame_latency", 10580.0), ("runner_to_gateway_latency", 1092.0))
]


def add_version_1_rows(config: settings.Settings) -> None:
    from jobs.connectors import clickhouse
    from jobs.connectors.parquet import ParquetSink

    lines = [json.dumps(r) for r in VERSION_1_ROWS]
    clickhouse.connect(config).raw_insert(
        "naap.calculated_metrics", insert_block=("\n".join(lines) + "\n").encode(), fmt="JSONEachRow",
        settings={"date_time_input_format": "best_effort"})
    sink = ParquetSink(config)
    sink.write("naap.calculated_metrics", "20260222-234600-v1", sink.parse("naap.calculated_metrics", lines))


def export_parquet_versions(config: settings.Settings, out: Path) -> None:
    """(metric_name, metric_version, rows) of the calculated_metrics Parquet files."""
    import pyarrow.dataset as ds

    table = ds.dataset(f"{config.parquet_url}/calculated_metrics", format="parquet", partitioning=None).to_table()
    counts: dict[str, int] = {}
    for name, version in zip(table.column("metric_name").to_pylist(), table.column("metric_version").to_pylist(), strict=True):
        counts[f"{name}/{version}"] = counts.get(f"{name}/{version}", 0) + 1
    out.write_text(json.dumps(counts, sort_keys=True))


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
        if name == "replace":
            add_version_1_rows(config)
        summaries[name] = replay.replay(config, step_plan, archive_url=archive, replace=replace)
        export(config, var_dir / f"tables-{name}.json")
        export_parquet_versions(config, var_dir / f"parquet-{name}.json")
    (var_dir / "replay.json").write_text(json.dumps(summaries, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
