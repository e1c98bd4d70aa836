#!/usr/bin/env bash
# The main job on the embedded defaults: bundled real events in, ClickHouse (var/clickhouse)
# and Parquet (var/parquet) out, a summary printed and the charts written to var/report.html.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m jobs demo "$@"
