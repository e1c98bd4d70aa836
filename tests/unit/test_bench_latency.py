"""bench.latency: window close (from the published files' event times) to the Parquet write."""

import datetime as dt
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.compute  # noqa: F401 - pa.compute
import pyarrow.parquet as pq

from bench.latency import window_latencies

END = dt.datetime(2026, 2, 23, 0, 5, tzinfo=dt.UTC)
END_MS = int(END.timestamp() * 1000)


def test_latency_runs_from_the_file_that_moved_the_watermark_past_the_window(tmp_path: Path) -> None:
    part = tmp_path / "calculated_metrics" / "metric_date=2026-02-23" / "metric_category=performance"
    part.mkdir(parents=True)
    path = part / "part-x.parquet"
    table = pa.table({
        "metric_name": ["status_sample_count", "jitter_coefficient", "status_sample_count"],
        "window_end": pa.array([END, END, END + dt.timedelta(minutes=5)], pa.timestamp("ms", tz="UTC")),
    })
    pq.write_table(table, path)
    os.utime(path, (1000.0, 1000.0))
    lateness = 120_000
    published = [
        (990.0, END_MS - 60_000),       # watermark still 3 minutes behind the window end
        (995.0, END_MS + lateness),     # this file closes the window ending at END
        (996.0, END_MS + 60_000),       # an older event does not move the watermark back
    ]
    # The window ending 5 minutes later never closed during the feed: not counted.
    assert window_latencies(tmp_path, published, lateness, stopped_at=1010.0) == ([5.0], 0)
    # A window that closed but was never written counts with the time it waited (a lower bound).
    later = published + [(1002.0, END_MS + 5 * 60_000 + lateness)]
    pq.write_table(table.filter(pa.compute.equal(table.column("window_end"), table.column("window_end")[0])), path)
    os.utime(path, (1000.0, 1000.0))
    assert window_latencies(tmp_path, later, lateness, stopped_at=1010.0) == ([5.0, 8.0], 1)
