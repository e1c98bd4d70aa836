"""The project's Java functions (java/): built into a jar on first use, registered per job.

The per-line parsing runs in Java because Flink's JSON functions each parse the whole document
again: one ``JSON_VALUE`` costs ~4 µs on a 700-byte event, and the NaaP jobs need ~45 fields
per event (BENCHMARKS.md). ``ParseGatewayEvent`` parses a line once into all of them,
``EnvelopeTime`` streams the envelope for the source's event time. The same jar holds one
DataStream operator, ``netpulse.operators.LateMarker`` (STREAMING mode's late check, whose
watermark survives restores; inserted by jobs/naap/envelopes.py, not registered as a function).

The jar is compiled with the JDK's ``javac`` against the jars of the installed PyFlink (the
same Flink the job runs on) and cached under ``build/java/`` by a digest of the sources, so an
edited source builds a new jar and a release (jobs/ops/releases.py) builds from its own copy.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from jobs.settings import PROJECT_ROOT

SOURCE_DIR = PROJECT_ROOT / "java"
BUILD_DIR = PROJECT_ROOT / "build" / "java"
PACKAGE = "netpulse.udfs"
# SQL name -> Java class (temporary system functions: usable in computed columns too).
FUNCTIONS = {
    "parse_gateway_event": f"{PACKAGE}.ParseGatewayEvent",
    "envelope_time_ms": f"{PACKAGE}.EnvelopeTime",
}


class BuildError(RuntimeError):
    """The Java functions could not be compiled (no JDK, or a compile error)."""


def sources(root: Path = SOURCE_DIR) -> list[Path]:
    """The .java files, in a stable order."""
    return sorted(root.rglob("*.java"))


def source_digest(root: Path = SOURCE_DIR) -> str:
    """sha256 (first 16 hex) over the sources' paths and contents."""
    digest = hashlib.sha256()
    for path in sources(root):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def flink_lib() -> Path:
    """The lib/ directory of the installed PyFlink (compile classpath)."""
    import pyflink

    return Path(pyflink.__file__).resolve().parent / "lib"


def javac() -> str:
    """Path of javac: JAVA_HOME's, else the one on PATH."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "javac").exists():
        return str(Path(home) / "bin" / "javac")
    found = shutil.which("javac")
    if not found:
        raise BuildError(
            "javac not found: the job's Java functions need a JDK 17+ "
            "(e.g. apt-get install openjdk-17-jdk-headless; scripts/setup.sh installs it as root)"
        )
    return found


def jar_path(root: Path = SOURCE_DIR, build_dir: Path = BUILD_DIR) -> Path:
    """Where the jar of the current sources lives (built or not)."""
    return build_dir / f"netpulse-udfs-{source_digest(root)}.jar"


def ensure_jar(root: Path = SOURCE_DIR, build_dir: Path = BUILD_DIR) -> Path:
    """The jar of the current sources, compiling it when it is not built yet."""
    jar = jar_path(root, build_dir)
    if jar.exists():
        return jar
    build_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=build_dir) as tmp:
        classes = Path(tmp) / "classes"
        cmd = [
            javac(), "--release", "17", "-nowarn", "-encoding", "UTF-8",
            "-cp", str(flink_lib() / "*"), "-d", str(classes), *map(str, sources(root)),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise BuildError(f"javac failed:\n{proc.stdout}{proc.stderr}")
        staging = Path(tmp) / jar.name
        with zipfile.ZipFile(staging, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\nCreated-By: netpulse\n\n")
            for path in sorted(classes.rglob("*.class")):
                zf.write(path, path.relative_to(classes).as_posix())
        os.replace(staging, jar)
    return jar


def register(t_env: Any) -> Path:
    """Add the jar to the job and register the functions; returns the jar.

    ``ADD JAR`` puts the jar on the table environment's user class loader (planning and code
    generation load the classes there) and into the jars submitted with the job.
    """
    jar = ensure_jar()
    t_env.execute_sql(f"ADD JAR '{jar}'")
    for name, cls in FUNCTIONS.items():
        t_env.execute_sql(f"CREATE TEMPORARY SYSTEM FUNCTION IF NOT EXISTS {name} AS '{cls}' LANGUAGE JAVA")
    return jar


def main() -> None:
    """``python -m jobs.ops.java_udfs``: build the jar (setup does this once) and print its path."""
    print(ensure_jar())


if __name__ == "__main__":
    main()
