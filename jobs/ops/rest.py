"""The JobManager REST API: jobs, their vertices, failures and states."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jobs.ops.flink_dist import ClusterError, rest_url
from jobs.settings import Settings

TERMINAL = {"FINISHED", "FAILED", "CANCELED", "SUSPENDED"}


def rest_get(path: str, *, timeout: float = 5.0) -> Any:
    """GET a JobManager REST path and decode the JSON answer."""
    url = f"{rest_url()}/{path.lstrip('/')}"
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback URL
        return json.load(response)


def cluster_running() -> bool:
    """True when the REST API answers and at least one TaskManager is registered."""
    try:
        return int(rest_get("overview", timeout=2).get("taskmanagers", 0)) > 0
    except (OSError, urllib.error.URLError, ValueError):
        return False


@dataclass(frozen=True)
class JobInfo:
    """One job as the JobManager reports it."""

    job_id: str
    name: str
    state: str
    start_time_ms: int = 0


def list_jobs(settings: Settings | None = None) -> list[JobInfo]:
    """All jobs the cluster knows (running and finished), newest first, via the REST API."""
    del settings  # the REST URL comes from NETPULSE_FLINK_REST_URL
    jobs = rest_get("jobs/overview").get("jobs", [])
    found = [
        JobInfo(j["jid"], j.get("name", ""), j.get("state", ""), int(j.get("start-time", 0)))
        for j in jobs
    ]
    return sorted(found, key=lambda j: j.start_time_ms, reverse=True)


def find_running(job_name: str) -> JobInfo | None:
    """The non-terminal job called ``job_name``, if any (refuses ambiguous duplicates)."""
    live = [j for j in list_jobs() if j.name == job_name and j.state not in TERMINAL]
    if len(live) > 1:
        ids = ", ".join(j.job_id for j in live)
        raise ClusterError(
            f"{len(live)} live jobs are named {job_name!r} ({ids}); stop the extra ones"
        )
    return live[0] if live else None


def cancel_job(job_id: str) -> None:
    """Cancel a job (REST ``PATCH /jobs/<id>?mode=cancel``); a job already gone is fine."""
    url = f"{rest_url()}/jobs/{job_id}?mode=cancel"
    request = urllib.request.Request(url, method="PATCH")  # noqa: S310 - loopback URL
    try:
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - loopback URL
            pass
    except urllib.error.HTTPError as exc:
        if exc.code not in (404, 409):  # unknown, or no longer cancellable (terminal)
            raise


def job_vertices(job_id: str) -> list[dict[str, str]]:
    """The job's vertices (operator chains): id and name, in plan order."""
    detail = rest_get(f"jobs/{job_id}")
    return [{"id": v["id"], "name": v.get("name", "")} for v in detail.get("vertices", [])]


def job_failure(job_id: str) -> str:
    """The root exception text of a failed job ('' when none is recorded)."""
    try:
        data = rest_get(f"jobs/{job_id}/exceptions")
    except (OSError, urllib.error.URLError, ValueError):
        return ""
    history = data.get("exceptionHistory", {}).get("entries", [])
    if history:
        return str(history[0].get("stacktrace") or history[0].get("exceptionName", ""))
    return str(data.get("root-exception") or "")


def wait_for_state(
    job_id: str, states: set[str], *, timeout: float = 120.0, running_tasks: bool = True
) -> str:
    """Wait until the job reaches one of ``states`` (or a terminal state); return the state.

    With ``running_tasks``, RUNNING only counts once every vertex runs (sources really read).
    """
    deadline = time.monotonic() + timeout
    state = ""
    while time.monotonic() < deadline:
        try:
            detail = rest_get(f"jobs/{job_id}")
        except urllib.error.HTTPError as exc:
            if exc.code != 404:  # not yet known right after submission
                raise
            time.sleep(0.3)
            continue
        state = detail.get("state", "")
        if state in states and not (
            state == "RUNNING" and running_tasks and not _all_running(detail)
        ):
            return state
        if state in TERMINAL:
            return state
        time.sleep(0.3)
    failure = job_failure(job_id)
    raise ClusterError(
        f"job {job_id} stayed {state or 'unknown'} for {timeout:.0f} s, expected {sorted(states)}"
        + (f"; last failure:\n{failure[:2000]}" if failure else "")
    )


def _all_running(detail: Mapping[str, Any]) -> bool:
    vertices = detail.get("vertices", [])
    return bool(vertices) and all(v.get("status") in ("RUNNING", "FINISHED") for v in vertices)
