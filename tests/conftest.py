"""Shared fixtures: one chDB directory for this process, pipeline runs in their own processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus  # noqa: E402
import s3server  # noqa: E402

from jobs import sample, settings  # noqa: E402

_ENVIRONMENT_AT_START = dict(os.environ)


@pytest.fixture(autouse=True)
def _restore_environment():  # type: ignore[no-untyped-def]
    """Undo what an in-process PyFlink job leaves in os.environ.

    In local (loopback) mode PyFlink's worker pool runs in this process and copies the worker
    environment into os.environ (PYFLINK_GATEWAY_DISABLED, PYTHON_LOOPBACK_SERVER_ADDRESS, ...).
    Every process started afterwards (pipeline runs, a Flink cluster) would inherit it and fail.
    """
    yield
    for key in set(os.environ) - set(_ENVIRONMENT_AT_START):
        if not key.startswith("PYTEST_"):
            del os.environ[key]
    os.environ.update({k: v for k, v in _ENVIRONMENT_AT_START.items() if not k.startswith("PYTEST_")})


@pytest.fixture(scope="session")
def chdb_settings(tmp_path_factory: pytest.TempPathFactory) -> settings.Settings:
    """Settings for the one embedded database this test process may open (chDB: one per process)."""
    var = tmp_path_factory.mktemp("process-var")
    return settings.load({"NETPULSE_VAR_DIR": str(var)})


@pytest.fixture(scope="session")
def migrated(chdb_settings: settings.Settings) -> settings.Settings:
    from jobs import migrate

    migrate.migrate(chdb_settings)
    return chdb_settings


@dataclass
class Run:
    var_dir: Path
    process: subprocess.Popen
    log: Path
    _tables: dict[str, list[dict[str, Any]]] | None = None

    def tables(self) -> dict[str, list[dict[str, Any]]]:
        if self._tables is None:
            code = self.process.wait(timeout=600)
            assert code == 0, f"pipeline run failed ({code}):\n{self.log.read_text()[-6000:]}"
            self._tables = json.loads((self.var_dir / "tables.json").read_text())
        return self._tables

    @property
    def seconds(self) -> float:
        self.tables()
        return json.loads((self.var_dir / "run.json").read_text())["seconds"]


def start_run(var_dir: Path, lines: list[str], env: dict[str, str], pipeline: str = "naap") -> Run:
    """Start ``tests/pipeline_run.py`` in its own process (returns at once)."""
    var_dir.mkdir(parents=True, exist_ok=True)
    input_file = var_dir / "input-lines.jsonl"
    input_file.write_text("\n".join(lines) + "\n")
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("NETPULSE_")}
    full_env.update({"NETPULSE_VAR_DIR": str(var_dir), "PYTHONPATH": str(ROOT)}, **env)
    log = var_dir / "run.log"
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "pipeline_run.py"), str(var_dir), str(input_file), pipeline],
        stdout=log.open("w"), stderr=subprocess.STDOUT, env=full_env, cwd=ROOT,
    )
    return Run(var_dir, process, log)


def canonical(rows: list[dict[str, Any]], drop: tuple[str, ...] = ()) -> list[str]:
    """Rows as sorted canonical JSON lines (result sets compared whole, order-free)."""
    return sorted(json.dumps({k: v for k, v in r.items() if k not in drop}, sort_keys=True) for r in rows)


def load_parquet_copy(client: Any, table: str, root: Path, database: str, date_column: str) -> list[dict[str, Any]]:
    """Load a Parquet tree into a fresh copy of naap.<table> in ``database``; return its rows."""
    client.command(f"CREATE DATABASE IF NOT EXISTS {database}")
    client.command(f"CREATE TABLE {database}.{table} AS naap.{table}")
    client.command(
        f"INSERT INTO {database}.{table} SELECT * EXCEPT ({date_column}) "
        f"FROM file('{root}/**/*.parquet', 'Parquet')"
    )
    result = client.query(f"SELECT * EXCEPT (ingestion_timestamp) FROM {database}.{table}")
    return [
        json.loads(json.dumps(dict(zip(result.column_names, r, strict=True)), default=str))
        for r in result.result_rows
    ]


def sample_lines() -> list[str]:
    return sorted(sample.fixture_lines(), key=sample.envelope_ms)


@pytest.fixture(scope="session")
def s3(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    server = s3server.start(tmp_path_factory.mktemp("s3"))
    server.client().create_bucket(Bucket="lake")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def runs(tmp_path_factory: pytest.TempPathFactory, s3) -> dict[str, Run]:  # type: ignore[no-untyped-def]
    """Two pipeline runs started together (they run in parallel in their own processes):

    * ``p1``: the real sample events + the broken-input corpus, parallelism 1, local Parquet.
    * ``p2``: the real sample events + two announcements derived from a real one
      (tests/scd_sequence.py), parallelism 2, Parquet on the loopback S3 server.
    """
    base = tmp_path_factory.mktemp("runs")
    p1 = start_run(base / "p1", sample_lines() + corpus.corpus_lines(), {"NETPULSE_PARALLELISM": "1"})
    import scd_sequence

    p2 = start_run(
        base / "p2",
        sorted(sample_lines() + scd_sequence.lines(), key=sample.envelope_ms),
        {
            "NETPULSE_PARALLELISM": "2",
            "NETPULSE_PARQUET_URL": "s3://lake/netpulse",
            "NETPULSE_S3_ENDPOINT": s3.endpoint,
            "NETPULSE_S3_ACCESS_KEY": s3server.ACCESS_KEY,
            "NETPULSE_S3_SECRET_KEY": s3server.SECRET_KEY,
        },
    )
    return {"p1": p1, "p2": p2}


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("TMPDIR", tempfile.gettempdir())
