"""Releases: immutable copies of the project's code, and what ``flink run`` executes.

Submitting a job ships an immutable copy of the project's Python packages (a *release*,
``var/releases/<code hash>/``), so the exact code behind every deployment stays on disk. That is
what makes a refused redeploy safe: when the new version cannot restore the savepoint, the
previous release is resubmitted from the same savepoint and keeps running.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from jobs.ops.flink_dist import ClusterPaths
from jobs.settings import PROJECT_ROOT, Settings

# What a release holds: the importable packages, the DDL the jobs may read and the sources of
# the Java functions (the jar is built from them inside the release, see jobs/ops/java_udfs.py).
RELEASE_DIRS = ("jobs", "udfs", "sql", "java")
# ... and the pins of the third-party jars the jobs load (the Kafka connector): a release reads
# them from its own copy (jobs/ops/jars.py resolves jars.lock beside the packages it runs from), so a
# connector upgrade is a new release too. The verified jars themselves are shared with the work
# tree (``build/jars`` in the release links to it; every jar is checked against the release's
# lock before use, and fetched again with Maven when missing).
RELEASE_FILES = ("jars.lock",)
JAR_CACHE = Path("build") / "jars"
# What `flink run -pyfs` ships to the Python workers (directories keep their package name).
SHIPPED_PACKAGES = ("jobs", "udfs")


def code_hash(
    root: Path = PROJECT_ROOT, dirs: Sequence[str] = RELEASE_DIRS, files: Sequence[str] = RELEASE_FILES
) -> str:
    """sha256 (first 16 hex) over the .py/.sql/.java files of ``dirs`` and ``files``: the deployed code's identity."""
    digest = hashlib.sha256()
    for name in files:
        if (root / name).is_file():
            digest.update(name.encode() + b"\0" + (root / name).read_bytes() + b"\0")
    for name in dirs:
        base = root / name
        if not base.exists():
            continue
        for path in sorted(base.rglob("*")):
            if (
                path.is_file()
                and path.suffix in (".py", ".sql", ".java")
                and "__pycache__" not in path.parts
            ):
                digest.update(path.relative_to(root).as_posix().encode() + b"\0")
                digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def git_describe(root: Path = PROJECT_ROOT) -> str:
    """``git describe --always --dirty`` of the work tree, or '' outside a git checkout."""
    try:
        proc = subprocess.run(
            ["git", "-C", str(root), "describe", "--always", "--dirty"],  # noqa: S607 - git from PATH
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return proc.stdout.strip() if proc.returncode == 0 else ""


def make_release(settings: Settings, root: Path = PROJECT_ROOT) -> Path:
    """Copy the project's packages to ``var/releases/<code hash>/`` (once) and return that dir."""
    release = ClusterPaths.of(settings).releases / code_hash(root)
    if release.exists():
        return release
    staging = release.with_name(release.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    for name in RELEASE_DIRS:
        if (root / name).exists():
            shutil.copytree(
                root / name, staging / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
            )
    for name in RELEASE_FILES:
        if (root / name).is_file():
            shutil.copy2(root / name, staging / name)
    (root / JAR_CACHE).mkdir(parents=True, exist_ok=True)
    (staging / JAR_CACHE).parent.mkdir(parents=True, exist_ok=True)
    (staging / JAR_CACHE).symlink_to((root / JAR_CACHE).resolve(), target_is_directory=True)
    (staging / "RELEASE.json").write_text(
        json.dumps({"code_hash": release.name, "git": git_describe(root), "source": str(root)})
        + "\n"
    )
    staging.rename(release)
    return release


@dataclass(frozen=True)
class JobTarget:
    """What ``flink run`` executes.

    Attributes:
        name: the job name; the entry must set ``pipeline.name`` to it (list/redeploy find jobs
            by name).
        root: directory holding the shipped packages (a release, or the work tree in tests).
        module: the entry module, run as ``python -m <module> <args>`` (``-pym``).
        packages: directories under ``root`` shipped with ``-pyfs`` (importable by name).
        args: program arguments.
    """

    name: str
    root: Path
    module: str = "jobs"
    packages: tuple[str, ...] = SHIPPED_PACKAGES
    args: tuple[str, ...] = ()

    def command(
        self,
        flink: Path,
        python: str,
        *,
        savepoint: str | None,
        allow_non_restored: bool,
        address: str | None,
        parallelism: int | None = None,
    ) -> list[str]:
        """The full ``flink run -d`` command line."""
        cmd = [str(flink), "run", "-d"]
        if address:
            cmd += ["-m", address]
        if savepoint:
            cmd += ["-s", savepoint]
            if allow_non_restored:
                cmd.append("--allowNonRestoredState")
        if parallelism:
            cmd += ["-p", str(parallelism)]
        cmd += [
            "-pym",
            self.module,
            # A -pyfs directory itself goes on PYTHONPATH (client and workers), so shipping the
            # release root makes its packages importable by name.
            "-pyfs",
            str(self.root),
            "-pyexec",
            python,
            "-pyclientexec",
            python,
            *self.args,
        ]
        return cmd


def project_target(job_name: str, release: Path) -> JobTarget:
    """The project's own job: ``python -m jobs run <job_name>`` from a release directory."""
    return JobTarget(name=job_name, root=release, module="jobs", args=("run", job_name))
