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

from jobs import settings  # noqa: E402
from jobs.naap import sample  # noqa: E402

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
    from jobs.ops import migrate

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


def start_run(
    var_dir: Path, lines: list[str] | dict[str, list[str]], env: dict[str, str], pipeline: str = "naap"
) -> Run:
    """Start ``tests/pipeline_run.py`` in its own process (returns at once).

    ``lines``: one input file's lines, or a directory's files (name: lines), read as they are.
    """
    var_dir.mkdir(parents=True, exist_ok=True)
    if isinstance(lines, dict):
        source = var_dir / "input-files"
        source.mkdir()
        for name, file_lines in lines.items():
            (source / name).write_text("\n".join(file_lines) + "\n")
    else:
        source = var_dir / "input-lines.jsonl"
        source.write_text("\n".join(lines) + "\n")
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("NETPULSE_")}
    full_env.update({"NETPULSE_VAR_DIR": str(var_dir), "PYTHONPATH": str(ROOT)}, **env)
    log = var_dir / "run.log"
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "pipeline_run.py"), str(var_dir), str(source), pipeline],
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


def input_files() -> dict[str, list[str]]:
    """The runs' input as files: the real capture files as they are (three days, one file per
    streaming session), the single-event samples, the broken-input corpus, an announcement
    sequence derived from a real one (tests/scd_sequence.py) and requests derived from real trace events
    (tests/swap_sequence.py: two orchestrator attempts; a runner edge without its own clock)."""
    import scd_sequence
    import swap_sequence

    files = {p.name: [line for line in p.read_text().splitlines() if line.strip()]
             for p in sorted((sample.FIXTURES / "events").glob("*.jsonl"))}
    files["samples.jsonl"] = [line for line in sample.fixture_lines() if not any(line in f for f in files.values())]
    files["corpus.jsonl"] = corpus.corpus_lines()
    files["scd-sequence.jsonl"] = scd_sequence.lines()
    files["swap-sequence.jsonl"] = swap_sequence.lines()
    return files


def shuffled(files: dict[str, list[str]], seed: int, parts: int) -> dict[str, list[str]]:
    """The same lines dealt at random into ``parts`` files with random names."""
    import random

    rng = random.Random(seed)
    lines = [line for file_lines in files.values() for line in file_lines]
    rng.shuffle(lines)
    return {f"{rng.getrandbits(64):016x}.jsonl": lines[i::parts] for i in range(parts)}


def reversed_files(files: dict[str, list[str]]) -> dict[str, list[str]]:
    """Every file's lines reversed, and the files named so that they list in reverse order."""
    names = sorted(files)
    return {f"{len(names) - i:03d}-{name}": files[name][::-1] for i, name in enumerate(names)}


def time_ordered(files: dict[str, list[str]]) -> list[str]:
    """One topic-like file: lines in envelope-time order, the corpus's far-out-of-order event
    last (after the watermark has moved past it, so a streaming run calls it late)."""
    late = [line for line in files["corpus.jsonl"] if '"corpus-late"' in line]
    rest = [line for file_lines in files.values() for line in file_lines if line not in late]
    return sorted(rest, key=sample.envelope_ms) + late


@pytest.fixture(scope="session")
def s3(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    server = s3server.start(tmp_path_factory.mktemp("s3"))
    server.client().create_bucket(Bucket="lake")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def runs(tmp_path_factory: pytest.TempPathFactory, s3) -> dict[str, Run]:  # type: ignore[no-untyped-def]
    """Pipeline runs over the same input (``input_files``), started together (each in its own
    process). The bounded ones run in BATCH mode and must give identical tables:

    * ``p1``: the files as they are, parallelism 1, local Parquet; progress lines every second.
    * ``p2``: the lines shuffled into 5 randomly named files, parallelism 2, Parquet on the
      loopback S3 server.
    * ``p3``: every file reversed and the files listed in reverse order, parallelism 1; progress
      lines off.
    * ``ps``: STREAMING mode over one time-ordered file (as a topic delivers it), parallelism 1:
      the reference, in which the corpus's far-out-of-order event is late.
    """
    base = tmp_path_factory.mktemp("runs")
    files = input_files()
    s3_env = {
        "NETPULSE_PARQUET_URL": "s3://lake/netpulse",
        "NETPULSE_S3_ENDPOINT": s3.endpoint,
        "NETPULSE_S3_ACCESS_KEY": s3server.ACCESS_KEY,
        "NETPULSE_S3_SECRET_KEY": s3server.SECRET_KEY,
    }
    return {
        "p1": start_run(base / "p1", files, {"NETPULSE_PARALLELISM": "1", "NETPULSE_PROGRESS_INTERVAL_S": "1"}),
        "p2": start_run(base / "p2", shuffled(files, seed=7, parts=5), {"NETPULSE_PARALLELISM": "2", **s3_env}),
        "p3": start_run(base / "p3", reversed_files(files), {"NETPULSE_PARALLELISM": "1", "NETPULSE_PROGRESS_INTERVAL_S": "0"}),
        "ps": start_run(
            base / "ps", time_ordered(files), {"NETPULSE_PARALLELISM": "1", "NETPULSE_RUNTIME_MODE": "streaming"}
        ),
    }


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("TMPDIR", tempfile.gettempdir())
