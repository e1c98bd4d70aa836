#!/usr/bin/env bash
# Idempotent setup for a fresh machine: a JDK 17+ (installed with apt-get when missing and we
# are root), Python 3.11, a virtual environment in .venv with the project and its test extras,
# the jar of the jobs' Java functions (build/java/), every third-party jar of jars.lock
# (Kafka connector, Kafka broker for tests, S3 filesystem plugin) fetched with Maven into
# build/jars/, sha256-checked,
# and Chromium for the report's browser test (apt-get when root; without it that test is
# skipped, saying why).
set -euo pipefail
cd "$(dirname "$0")/.."

java_major() {
  java -version 2>&1 | awk -F'"' '/version/ {split($2, v, "."); print (v[1] == "1" ? v[2] : v[1])}'
}
# A JDK, not only a runtime: the jobs' Java functions (java/) are compiled with javac.
if ! command -v java >/dev/null 2>&1 || ! command -v javac >/dev/null 2>&1 || [ "$(java_major)" -lt 17 ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing OpenJDK 17 (apt-get)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jdk-headless >/dev/null
  else
    echo "setup: a JDK 17 or 21 is required (Flink, and javac for java/); install it (e.g. apt-get install openjdk-17-jdk-headless)" >&2
    exit 1
  fi
fi

# Headless Chromium opens the HTML report in tests/integration/test_report.py.
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing Chromium (apt-get) for the report's browser test"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "setup: chromium not found: the report's browser test will be skipped (apt-get install chromium)" >&2
  fi
fi

if ! command -v mvn >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing Apache Maven (apt-get)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq maven >/dev/null
  else
    echo "setup: Apache Maven is required to fetch the jars of jars.lock (e.g. apt-get install maven)" >&2
    exit 1
  fi
fi

PYTHON="${PYTHON:-}"
if [ -z "$PYTHON" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      PYTHON="$candidate"; break
    fi
  done
fi
if [ -z "$PYTHON" ]; then
  echo "setup: Python 3.11 is required (PyFlink 2.3 supports 3.9-3.12; this project pins 3.11)" >&2
  exit 1
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $PYTHON"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.netpulse-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: installing the project and its dependencies into .venv (first run: a few minutes)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[test]'
  touch "$stamp"
fi

echo "setup: Java functions: $(.venv/bin/python -m jobs.ops.java_udfs)"
# Idempotent: sets already present and matching their sha256 are not fetched again.
.venv/bin/python -m jobs.ops.jars fetch | sed 's/^/setup: /'

if ! ls data/geoip/*.mmdb >/dev/null 2>&1; then
  echo "setup: installing the offline GeoIP databases (DB-IP Lite, CC BY 4.0) into data/geoip/"
  .venv/bin/python -m jobs.tor.geoip_install install
fi
