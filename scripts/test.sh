#!/usr/bin/env bash
# Set up (idempotent), lint, and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python -m ruff check jobs udfs tests bench
exec .venv/bin/python -m pytest "$@"
