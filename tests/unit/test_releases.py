"""A release runs on its own: its packages, and the jar pins the jobs load from it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from jobs import settings
from jobs.ops import releases
from jobs.settings import PROJECT_ROOT


def _release(tmp_path: Path) -> Path:
    config = settings.load({"NETPULSE_VAR_DIR": str(tmp_path / "var")})
    return releases.make_release(config)


def test_a_release_carries_the_jar_pins_and_reaches_the_verified_jars(tmp_path: Path) -> None:
    release = _release(tmp_path)
    assert (release / "jars.lock").read_bytes() == (PROJECT_ROOT / "jars.lock").read_bytes()
    assert (release / "build" / "jars").resolve() == (PROJECT_ROOT / "build" / "jars").resolve()
    # Run from the release as `flink run` does (cwd and PYTHONPATH the release): the Kafka
    # connector the job adds is found through the release's own lock, checked by SHA-256.
    probe = (
        "from jobs.connectors import kafka; from jobs.ops import jars; "
        "print(jars.MANIFEST); print(kafka.connector_jar().resolve())"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=release, env={"PYTHONPATH": str(release), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, check=True, timeout=120,
    ).stdout.splitlines()
    assert out[0] == str(release / "jars.lock")
    assert Path(out[1]).is_file() and Path(out[1]).parent.name == "flink-kafka", out


def test_the_jar_pins_are_part_of_the_code_identity(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    (root / "jobs").mkdir(parents=True)
    (root / "jobs" / "x.py").write_text("X = 1\n")
    (root / "jars.lock").write_text('[flink-kafka]\njars = ["a:b:1"]\n')
    before = releases.code_hash(root)
    (root / "jars.lock").write_text('[flink-kafka]\njars = ["a:b:2"]\n')
    assert releases.code_hash(root) != before
