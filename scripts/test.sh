#!/usr/bin/env bash
# Set up (idempotent), lint (ruff: the rules of ../shared/STYLE.md), type-check (mypy), and run the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python -m ruff check jobs udfs tests bench
# strict on udfs/ and the typed parts of jobs/ ([tool.mypy] files in pyproject.toml)
.venv/bin/python -m mypy
exec .venv/bin/python -m pytest "$@"
