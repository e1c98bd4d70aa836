#!/usr/bin/env bash
# The reliability suite (tests/reliability): bad input, the parser property, the exactly-once
# oracle, security basics; prints one table of outcomes and figures at the end.
#
#   bash scripts/reliability.sh          the quick part (also in the default test run)
#   bash scripts/reliability.sh --long   everything: + 100k mutants, 5000 property examples,
#                                        the security scenario, the sink outages, the soak
#   bash scripts/reliability.sh --long -k test_soak   the soak alone (20 min at 2,200 events/s
#                                        + start and drain; SOAK_MINUTES, SOAK_RATE)
#
# Extra arguments go to pytest; RELIABILITY_RESULTS=<file> also writes the table as JSON.
set -euo pipefail
cd "$(dirname "$0")/.."
markers="not long"
if [ "${1:-}" = "--long" ]; then
  shift
  markers="long or not long"
  export RELIABILITY_EXAMPLES="${RELIABILITY_EXAMPLES:-5000}"
fi
export PYTHONPATH="$PWD:$PWD/tests/reliability${PYTHONPATH:+:$PYTHONPATH}"
exec .venv/bin/python -m pytest tests/reliability -m "$markers" -p table_report -p no:cacheprovider "$@"
