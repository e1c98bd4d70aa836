#!/usr/bin/env bash
# One-shot job submitter of the compose stack: submits every job in NETPULSE_JOBS that is not
# running yet. A job with a savepoint in the deploy ledger (a stopped deployment) resumes from
# it; anything else starts fresh. Redeploys are manual: `python -m jobs.ops.cluster redeploy JOB`.
set -euo pipefail

jobs="${NETPULSE_JOBS:-naap}"
for job in ${jobs//,/ }; do
    if python -m jobs.ops.cluster jobs | awk '{print $3}' | grep -qx "$job"; then
        echo "job $job is already running; leaving it alone"
        continue
    fi
    savepoint="$(python - "$job" <<'PY'
import sys
from jobs import settings
from jobs.ops import ledger
entries = [e for e in ledger.read_ledger(settings.load()) if e["job_name"] == sys.argv[1]]
last = entries[-1] if entries else {}
print(last.get("savepoint_taken") or "" if last.get("action") == "stop" else "")
PY
)"
    if [ -n "$savepoint" ]; then
        echo "submitting $job from savepoint $savepoint"
        python -m jobs.ops.cluster submit "$job" --savepoint "$savepoint"
    else
        echo "submitting $job"
        python -m jobs.ops.cluster submit "$job"
    fi
done
