"""What the exactly-once scenario reads off a running job: REST metrics, checkpoints, files, logs."""

from __future__ import annotations

import urllib.parse
from pathlib import Path

from jobs.ops import rest
from tests.waiting import wait_until  # noqa: F401 - the scenarios call it as eo_probes.wait_until


def source_watermark(job_id: str) -> int:
    """The lowest watermark any source instance of the job has emitted (Long.MIN_VALUE: none).

    The plan scans the input directory once per Table-to-DataStream conversion (three source
    vertices for ``naap``), each with its own reader and watermark: a file is read by all of
    them only when the lowest of their watermarks has passed its events.
    """
    lowest = 2**63 - 1
    sources = [v for v in rest.job_vertices(job_id) if v["name"].startswith("Source:")]
    for vertex in sources:
        base = f"jobs/{job_id}/vertices/{vertex['id']}/metrics"
        ids = [m["id"] for m in rest.rest_get(base) if m["id"].endswith(".currentOutputWatermark")]
        if not ids:
            return -(2**63)
        values = rest.rest_get(f"{base}?get=" + urllib.parse.quote(",".join(ids), safe=","))
        lowest = min(lowest, max(int(float(v["value"])) for v in values))
    return lowest if sources else -(2**63)



def parquet_rows(var_dir: Path) -> int:
    import pyarrow.parquet as pq

    return sum(
        pq.ParquetFile(p).metadata.num_rows for p in (var_dir / "parquet").rglob("part-*.parquet")
    )


def parquet_mtimes(var_dir: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in (var_dir / "parquet").rglob("part-*.parquet")}


def completed_checkpoints(job_id: str) -> tuple[int, int]:
    """(completed checkpoint count, trigger time in ms of the latest completed one)."""
    data = rest.rest_get(f"jobs/{job_id}/checkpoints")
    latest = (data.get("latest") or {}).get("completed") or {}
    return int(data.get("counts", {}).get("completed", 0)), int(latest.get("trigger_timestamp") or 0)


def num_restarts(job_id: str) -> int:
    metrics = rest.rest_get(f"jobs/{job_id}/metrics?get=numRestarts")
    return int(float(metrics[0]["value"])) if metrics else 0


def exceptions(job_id: str) -> list[str]:
    data = rest.rest_get(f"jobs/{job_id}/exceptions")
    return [
        str(e.get("stacktrace") or e.get("exceptionName") or "")
        for e in data.get("exceptionHistory", {}).get("entries", [])
    ]


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (children, grandchildren, ...), from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(stat.parent.name))
    found, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def writer_warnings(log_dir: Path) -> list[str]:
    found = []
    for path in sorted(log_dir.glob("*taskexecutor*.log*")):
        for line in path.read_text(errors="replace").splitlines():
            if "netpulse.sinks" in line or ("insert into naap." in line and "failed" in line):
                found.append(line)
    return found
