"""Stop a job with a savepoint, and measure savepoints (local folders or ``s3://``)."""

from __future__ import annotations

import re
from pathlib import Path

from jobs import settings as settings_module
from jobs.ops.flink_conf import ensure_conf, flink_env
from jobs.ops.flink_dist import ClusterError, ClusterPaths, flink_home, rest_address, run_script
from jobs.ops.rest import list_jobs
from jobs.settings import Settings

_SAVEPOINT_DONE = re.compile(r"Savepoint completed\.\s+Path:\s*(\S+)")


def stop_with_savepoint(
    job_id: str,
    settings: Settings | None = None,
    *,
    drain: bool = False,
    timeout: float = 180.0,
    job_name: str | None = None,
) -> str:
    """Stop a job with a savepoint (``flink stop --savepointPath``) and return the savepoint path.

    Savepoints go to ``var/flink-savepoints/<job name>/``. ``drain`` emits MAX_WATERMARK first,
    flushing event-time windows: use it only when the job will not be resumed.
    """
    settings = settings or settings_module.load()
    if job_name is None:
        job_name = next((j.name for j in list_jobs() if j.job_id == job_id), job_id)
    target_dir = ClusterPaths.of(settings).savepoints / _safe(job_name)
    target_dir.mkdir(parents=True, exist_ok=True)
    cmd = [str(flink_home() / "bin" / "flink"), "stop"]
    if rest_address():
        cmd += ["-m", str(rest_address())]
    cmd += ["--savepointPath", _savepoint_uri(target_dir, settings)]
    if drain:
        cmd.append("--drain")
    cmd.append(job_id)
    ensure_conf(settings)
    out = run_script(cmd, flink_env(settings), timeout, f"flink stop {job_id}")
    match = _SAVEPOINT_DONE.search(out)
    if not match:
        raise ClusterError(
            f"flink stop printed no savepoint path for {job_id}; output:\n{out[-3000:]}"
        )
    return match.group(1)


def _savepoint_uri(local_dir: Path, settings: Settings) -> str:
    """Savepoint target: the local dir, or under the configured savepoint dir (e.g. s3://)."""
    remote = settings.flink_savepoint_dir
    return f"{remote.rstrip('/')}/{local_dir.name}" if remote else f"file://{local_dir}"


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name) or "job"


def savepoint_size(path: str, settings: Settings | None = None) -> int:
    """Bytes under a savepoint directory: ``file:`` URIs, plain paths, or ``s3://`` URLs."""
    if path.startswith("s3://"):
        return sum(size for _, size in s3_objects(path, settings or settings_module.load()))
    local = Path(re.sub(r"^file:(//)?", "", path))
    return sum(p.stat().st_size for p in local.rglob("*") if p.is_file()) if local.exists() else 0


def s3_objects(url: str, settings: Settings) -> list[tuple[str, int]]:
    """(key, size) of every object under an ``s3://bucket/prefix`` URL (the ``s3_*`` settings)."""
    import boto3
    from botocore.config import Config

    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    client = boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint or None,
        aws_access_key_id=settings.s3_access_key or None,
        aws_secret_access_key=settings.s3_secret_key or None,
        region_name=settings.s3_region,
        config=Config(s3={"addressing_style": "path"}),
    )
    found: list[tuple[str, int]] = []
    for page in client.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=prefix.rstrip("/") + "/" if prefix else ""
    ):
        found += [(o["Key"], int(o["Size"])) for o in page.get("Contents", [])]
    return found
