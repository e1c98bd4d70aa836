"""Submit, stop and redeploy jobs; every action is recorded in the deploy ledger.

A redeploy stops the job with a savepoint and starts the current code from it; when the new
version cannot restore that savepoint, or fails to start from it for any other reason (its job
raises while it is built, or fails while starting), the previous release is resubmitted from
the same savepoint and keeps running (see jobs/ops/releases.py).
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jobs import settings as settings_module
from jobs.ops.flink_conf import ensure_conf, flink_env
from jobs.ops.flink_dist import (
    ClusterError,
    IncompatiblePlanError,
    StartFailedError,
    flink_home,
    flink_version,
    python_executable,
    rest_address,
    run_script,
)
from jobs.ops.ledger import Deployment, last_deployment
from jobs.ops.releases import (
    SHIPPED_PACKAGES,
    JobTarget,
    code_hash,
    git_describe,
    make_release,
    project_target,
)
from jobs.ops.rest import cancel_job, find_running, job_failure, job_vertices, wait_for_state
from jobs.ops.savepoints import savepoint_size, stop_with_savepoint
from jobs.settings import Settings

# A savepoint that cannot be mapped onto the new program (Flink's own wording, 1.x and 2.x).
_NON_RESTORED = re.compile(r"Cannot map (?:checkpoint/savepoint )?state for operator", re.I)
_JOB_ID = re.compile(r"JobID\s+([0-9a-f]{32})")


def submit(
    job_name: str,
    settings: Settings,
    savepoint: str | None = None,
    *,
    allow_non_restored: bool = False,
    target: JobTarget | None = None,
    wait: bool = True,
    timeout: float = 180.0,
    action: str = "submit",
    record: bool = True,
) -> Deployment:
    """Submit a job to the cluster (``flink run -d``), optionally restoring a savepoint.

    The project's packages are copied to a release dir first, and the job runs from that copy.
    With ``wait`` the call returns once every operator runs, and raises if the job fails while
    starting (e.g. its plan cannot restore ``savepoint``).

    Args:
        job_name: the job (``python -m jobs run <job_name>``); also its Flink job name.
        settings: passed to the job's client as ``NETPULSE_*`` variables.
        savepoint: a savepoint or retained checkpoint path to restore from.
        allow_non_restored: let Flink drop savepoint state that maps to no operator.
        target: what to run instead of the project job (tests use a small sample job).
        wait: wait for the job to run.
        timeout: seconds to wait for the CLI and for the job to run.
        action: the ledger action name.
        record: append the deployment to the ledger.

    Raises:
        IncompatiblePlanError: the job could not restore ``savepoint``.
        ClusterError: the CLI failed or the job failed while starting.
    """
    if action == "submit" and find_running(job_name) is not None:
        raise ClusterError(f"{job_name!r} is already running; use redeploy to replace it")
    if target is None:
        release = make_release(settings)
        target = project_target(job_name, release)
    ensure_conf(settings)
    started = time.monotonic()
    cmd = target.command(
        flink_home() / "bin" / "flink",
        python_executable(),
        savepoint=savepoint,
        allow_non_restored=allow_non_restored,
        address=rest_address(),
    )
    # The job's client (which builds the plan) must import the target's code, not whatever an
    # inherited PYTHONPATH or the working directory hold (e.g. the project's current code):
    # else a rollback would rebuild the new version's plan, and a release could not be tested.
    client_env = flink_env(settings, {"PYTHONPATH": str(target.root)})
    try:
        out = run_script(cmd, client_env, timeout, f"flink run ({job_name})", cwd=target.root)
    except ClusterError as exc:
        # The JobMaster checks the savepoint against the new plan while the client submits.
        if savepoint and _NON_RESTORED.search(exc.output):
            raise IncompatiblePlanError(
                _incompatible_message(job_name, savepoint, exc.output)
            ) from exc
        raise
    match = _JOB_ID.search(out)
    if not match:
        raise ClusterError(f"flink run printed no JobID for {job_name}; output:\n{out[-3000:]}")
    job_id = match.group(1)
    deployment = Deployment(
        action=action,
        job_name=job_name,
        job_id=job_id,
        code_hash=target.root.name
        if target.root.parent.name == "releases"
        else code_hash(target.root, target.packages),
        git=git_describe(),
        release=str(target.root),
        restored_from=savepoint,
        forced=allow_non_restored,
        flink_version=flink_version(),
        target={
            "module": target.module,
            "packages": list(target.packages),
            "args": list(target.args),
        },
    )
    deployment.timings_s["submit"] = round(time.monotonic() - started, 2)
    if wait:
        state = wait_for_state(job_id, {"RUNNING"}, timeout=timeout)
        deployment.timings_s["running"] = round(time.monotonic() - started, 2)
        if state != "RUNNING":
            failure = job_failure(job_id)
            if savepoint and _NON_RESTORED.search(failure):
                raise IncompatiblePlanError(_incompatible_message(job_name, savepoint, failure))
            raise ClusterError(
                f"job {job_name} ({job_id}) ended {state} while starting:\n{failure[:3000]}"
            )
        deployment.vertices = job_vertices(job_id)
    if record:
        deployment.record(settings)
    return deployment


def _incompatible_message(job_name: str, savepoint: str, failure: str) -> str:
    operators = sorted(set(re.findall(r"state for operator ([0-9a-f]{32})", failure)))
    which = ", ".join(operators) if operators else "see the client log in var/flink-log"
    return (
        f"the new version of {job_name!r} cannot restore savepoint {savepoint}: state of "
        f"operator(s) {which} maps to no operator of the new plan (its SQL or topology changed). "
        "To keep the state, revert the change or make it state-compatible (same statements and "
        "topology, same uids); to drop that state on purpose, redeploy with --force (that "
        "state is lost: source positions, buffered rows, open windows)."
    )


def stop(job_name: str, settings: Settings) -> Deployment:
    """Stop the running job called ``job_name`` with a savepoint and record it in the ledger."""
    job = find_running(job_name)
    if job is None:
        raise ClusterError(f"no running job is named {job_name!r}; see `jobs` for what runs")
    started = time.monotonic()
    path = stop_with_savepoint(job.job_id, settings, job_name=job_name)
    last = last_deployment(settings, job_name) or {}
    entry = Deployment(
        action="stop",
        job_name=job_name,
        job_id=job.job_id,
        code_hash=last.get("code_hash", ""),
        git=last.get("git", ""),
        release=last.get("release", ""),
        savepoint_taken=path,
        flink_version=flink_version(),
        timings_s={"stop_with_savepoint": round(time.monotonic() - started, 2)},
    )
    entry.record(settings)
    return entry


def redeploy(
    job_name: str,
    settings: Settings | None = None,
    force: bool = False,
    *,
    target: JobTarget | None = None,
    timeout: float = 180.0,
) -> Deployment:
    """Stop ``job_name`` with a savepoint and start the current code from it.

    If the new version cannot restore the savepoint (its operators changed), the previous
    release is resubmitted from the same savepoint, so the old version keeps running, and
    :class:`IncompatiblePlanError` explains what happened. ``force`` starts the new version
    anyway with ``--allowNonRestoredState`` (the state of vanished operators is dropped).
    If the new version fails to start for another reason (its job raises while it is built,
    or fails while starting), a job of it still alive is cancelled and the previous release is
    resubmitted from the savepoint the same way (:class:`StartFailedError`).

    Raises:
        ClusterError: no such job is running, or the CLI failed (stop-with-savepoint failed:
            the job was not stopped).
        IncompatiblePlanError: refused (without ``force``); the old version runs again.
        StartFailedError: the new version did not start; the old version runs again.
    """
    settings = settings or settings_module.load()
    job = find_running(job_name)
    if job is None:
        raise ClusterError(f"no running job is named {job_name!r}; submit it first")
    previous = last_deployment(settings, job_name)
    if target is None:
        target = project_target(job_name, make_release(settings))
    started = time.monotonic()
    savepoint = stop_with_savepoint(job.job_id, settings, job_name=job_name, timeout=timeout)
    stopped = time.monotonic()
    try:
        deployment = submit(
            job_name,
            settings,
            savepoint,
            allow_non_restored=force,
            target=target,
            timeout=timeout,
            action="redeploy",
            record=False,
        )
    except IncompatiblePlanError as exc:
        where = _rollback_or_advice(job_name, settings, savepoint, previous, timeout)
        raise IncompatiblePlanError(f"redeploy refused: {exc} {where}") from exc
    except ClusterError as exc:
        # The new version did not come up (its client raised while building the job, or the
        # job failed while starting): nothing of it may keep running next to the old version.
        _cancel_leftover(job_name)
        where = _rollback_or_advice(job_name, settings, savepoint, previous, timeout)
        raise StartFailedError(
            f"redeploy failed: the new version of {job_name!r} did not start from savepoint "
            f"{savepoint}. {where}{_python_error(exc.output)}\nWhy it failed:\n{str(exc)[-3000:]}"
        ) from exc
    deployment.previous_job_id = job.job_id
    deployment.savepoint_taken = savepoint
    deployment.savepoint_bytes = savepoint_size(savepoint, settings)
    deployment.timings_s.update(
        stop_with_savepoint=round(stopped - started, 2), total=round(time.monotonic() - started, 2)
    )
    if previous and previous.get("vertices") and deployment.vertices:
        old = {v["id"] for v in previous["vertices"]}
        new = {v["id"] for v in deployment.vertices}
        # Informational: a changed plan that still restored (e.g. a new stateless operator).
        deployment.plan_changed = old != new
    deployment.record(settings)
    return deployment


def _rollback_or_advice(
    job_name: str,
    settings: Settings,
    savepoint: str,
    previous: Mapping[str, Any] | None,
    timeout: float,
) -> str:
    """Resubmit the previous release from ``savepoint``; say where the job runs now."""
    rolled_back = _rollback(job_name, settings, savepoint, previous, timeout)
    if rolled_back:
        return f"The previous version runs again from that savepoint as job {rolled_back}."
    return (
        "No previous release is recorded, so the job is NOT running now: resubmit a "
        f"compatible version with `submit {job_name} --savepoint {savepoint}`."
    )


# The last line of a Python traceback ("RuntimeError: ..."), not a Java one ("java.lang....").
_PYTHON_ERROR = re.compile(r"^([A-Za-z_]\w*(?:Error|Exception|Exit)(?::.*)?)$", re.M)


def _python_error(output: str) -> str:
    """The job client's Python exception in the CLI output, as a sentence ('' when none)."""
    found = _PYTHON_ERROR.findall(output or "")
    return f" The job's client raised: {found[-1].strip()[:500]}" if found else ""


def _cancel_leftover(job_name: str) -> None:
    """Cancel a live job of the failed version (e.g. one restarting over and over)."""
    job = find_running(job_name)
    if job is not None:
        cancel_job(job.job_id)
        wait_for_state(job.job_id, {"CANCELED"}, timeout=120, running_tasks=False)


def _rollback(
    job_name: str,
    settings: Settings,
    savepoint: str,
    previous: Mapping[str, Any] | None,
    timeout: float,
) -> str | None:
    """Resubmit the previously recorded release from ``savepoint``; return the new job id."""
    if not previous or not previous.get("release") or not Path(previous["release"]).exists():
        return None
    old = dict(previous)
    old_root = Path(old["release"])
    target = _target_from_ledger(job_name, old_root, old)
    deployment = submit(
        job_name,
        settings,
        savepoint,
        target=target,
        timeout=timeout,
        action="rollback",
    )
    return deployment.job_id


def _target_from_ledger(job_name: str, root: Path, entry: Mapping[str, Any]) -> JobTarget:
    spec = entry.get("target") or {}
    return JobTarget(
        name=job_name,
        root=root,
        module=spec.get("module", "jobs"),
        packages=tuple(spec.get("packages", SHIPPED_PACKAGES)),
        args=tuple(spec.get("args", ("run", job_name))),
    )
