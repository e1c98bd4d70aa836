"""The deploy ledger, ``var/deployments.jsonl``.

Every submit, stop and redeploy appends one JSON line: job name, job id, the savepoint restored
from or taken, the code version and the job's operator (vertex) ids, which is the plan
fingerprint a redeploy compares.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from jobs.ops.flink_dist import ClusterPaths
from jobs.settings import Settings


@dataclass
class Deployment:
    """The result of a submit or redeploy, also one line of the deploy ledger."""

    action: str
    job_name: str
    job_id: str
    code_hash: str
    git: str
    release: str
    restored_from: str | None = None
    savepoint_taken: str | None = None
    previous_job_id: str | None = None
    vertices: list[dict[str, str]] = field(default_factory=list)
    target: dict[str, Any] = field(default_factory=dict)
    savepoint_bytes: int | None = None
    plan_changed: bool | None = None
    forced: bool = False
    flink_version: str = ""
    timings_s: dict[str, float] = field(default_factory=dict)
    at: str = ""

    def record(self, settings: Settings) -> None:
        """Append this deployment to ``var/deployments.jsonl``."""
        self.at = datetime.now(UTC).isoformat(timespec="seconds")
        ledger = ClusterPaths.of(settings).ledger
        ledger.parent.mkdir(parents=True, exist_ok=True)
        with ledger.open("a") as out:
            out.write(json.dumps(dataclasses.asdict(self), sort_keys=True) + "\n")


def read_ledger(settings: Settings) -> list[dict[str, Any]]:
    """Every ledger line, oldest first."""
    ledger = ClusterPaths.of(settings).ledger
    if not ledger.exists():
        return []
    return [json.loads(line) for line in ledger.read_text().splitlines() if line.strip()]


def last_deployment(settings: Settings, job_name: str) -> dict[str, Any] | None:
    """The newest ledger line that started ``job_name`` (submit or redeploy)."""
    for entry in reversed(read_ledger(settings)):
        if entry["job_name"] == job_name and entry["action"] in ("submit", "redeploy", "rollback"):
            return entry
    return None
