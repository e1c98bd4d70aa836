"""Every third-party jar the project runs, fetched with Maven and checked against jars.lock.

jars.lock (TOML, repository root) is the one place where a jar's version and SHA-256 are
written down. It holds named sets, each the full list of jars it needs (transitive
dependencies included, so nothing is resolved at fetch time):

    flink-kafka    Flink's Kafka SQL connector, added to every job that reads Kafka
    kafka-broker   Apache Kafka (KRaft), for tests and the local demo (jobs/ops/kafka_broker.py)
    flink-s3       Flink's S3 filesystem plugin: checkpoints and savepoints on S3 (loaded from
                   plugins/s3-fs-presto/, see jobs/ops/flink_conf.py ensure_plugins)

Readers: scripts/setup.sh (``python -m jobs.ops.jars fetch``), the jobs and the tests (:func:`ensure`,
:func:`paths`), docker/flink/Dockerfile (``python -I jars.py urls flink-kafka|flink-s3``: this module
imports only the standard library, so the image build runs it before the project is installed).

``fetch`` asks Maven for exactly the locked coordinates (every dependency excluded, so the
lock is the whole classpath) into build/jars/<set>/, then compares each file's SHA-256 with the
lock and fails on the first mismatch. ``lock`` re-resolves a set's roots transitively and
rewrites its entries: run it after changing a version, review the diff, commit.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "jars.lock"
JARS_DIR = ROOT / "build" / "jars"
MAVEN_CENTRAL = "https://repo.maven.apache.org/maven2"


class JarError(RuntimeError):
    """A jar is missing, cannot be fetched, or does not match its locked SHA-256."""


@dataclass(frozen=True)
class Jar:
    """One locked jar: ``group:artifact:version`` and the SHA-256 of its file."""

    coordinate: str
    sha256: str

    @property
    def group(self) -> str:
        return self.coordinate.split(":")[0]

    @property
    def artifact(self) -> str:
        return self.coordinate.split(":")[1]

    @property
    def version(self) -> str:
        return self.coordinate.split(":")[2]

    @property
    def file_name(self) -> str:
        """The name Maven's copy-dependencies gives the file."""
        return f"{self.artifact}-{self.version}.jar"

    @property
    def url(self) -> str:
        """Where Maven Central serves it (the image build downloads from here)."""
        return f"{MAVEN_CENTRAL}/{self.group.replace('.', '/')}/{self.artifact}/{self.version}/{self.file_name}"


@dataclass(frozen=True)
class JarSet:
    """A named list of jars fetched together into build/jars/<name>/."""

    name: str
    description: str
    roots: tuple[str, ...]
    jars: tuple[Jar, ...]

    def jar(self, artifact: str) -> Jar:
        """The locked jar of ``artifact`` (``group:artifact`` or ``artifact``)."""
        for jar in self.jars:
            if artifact in (jar.artifact, f"{jar.group}:{jar.artifact}"):
                return jar
        raise JarError(f"{artifact!r} is not in the {self.name!r} set of {MANIFEST.name}")


def load(manifest: Path = MANIFEST) -> dict[str, JarSet]:
    """The sets of ``manifest``, checked for shape (coordinates, hex digests, unique names)."""
    try:
        data = tomllib.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise JarError(f"cannot read the jar manifest {manifest}: {exc}") from None
    sets: dict[str, JarSet] = {}
    for name, body in data.get("set", {}).items():
        jars = tuple(Jar(c, str(h).lower()) for c, h in body.get("jars", {}).items())
        for jar in jars:
            if len(jar.coordinate.split(":")) != 3:
                raise JarError(f"{manifest.name} [{name}]: {jar.coordinate!r} is not group:artifact:version")
            if len(jar.sha256) != 64 or any(ch not in "0123456789abcdef" for ch in jar.sha256):
                raise JarError(f"{manifest.name} [{name}]: {jar.coordinate} has no valid sha256 ({jar.sha256!r})")
        names = [j.file_name for j in jars]
        if len(set(names)) != len(names):
            raise JarError(f"{manifest.name} [{name}]: two jars share a file name: {sorted(names)}")
        sets[name] = JarSet(name, str(body.get("description", "")), tuple(body.get("roots", ())), jars)
    return sets


def get(name: str, manifest: Path = MANIFEST) -> JarSet:
    """One set by name."""
    sets = load(manifest)
    if name not in sets:
        raise JarError(f"no set {name!r} in {manifest}; known: {sorted(sets)}")
    return sets[name]


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def set_dir(name: str, jars_dir: Path = JARS_DIR) -> Path:
    """The folder of jar set ``name`` under ``jars_dir``."""
    return jars_dir / name


def paths(name: str, jars_dir: Path = JARS_DIR, manifest: Path = MANIFEST) -> list[Path]:
    """The files of a set (fetched or not), in manifest order."""
    return [set_dir(name, jars_dir) / j.file_name for j in get(name, manifest).jars]


def _problems(jar_set: JarSet, directory: Path) -> list[str]:
    problems = []
    for jar in jar_set.jars:
        path = directory / jar.file_name
        if not path.exists():
            problems.append(f"{jar.coordinate}: missing ({path})")
            continue
        actual = sha256_of(path)
        if actual != jar.sha256:
            problems.append(f"{jar.coordinate}: sha256 {actual} != locked {jar.sha256} ({path})")
    return problems


def _pom(coordinates: Iterable[str], exclude_all: bool) -> str:
    exclusions = (
        "<exclusions><exclusion><groupId>*</groupId><artifactId>*</artifactId></exclusion></exclusions>"
        if exclude_all
        else ""
    )
    deps = "\n".join(
        f"    <dependency><groupId>{g}</groupId><artifactId>{a}</artifactId><version>{v}</version>"
        f"{exclusions}</dependency>"
        for g, a, v in (c.split(":") for c in coordinates)
    )
    return f"""<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>netpulse.jars</groupId><artifactId>fetch</artifactId><version>0</version>
  <packaging>pom</packaging>
  <dependencies>
{deps}
  </dependencies>
</project>
"""


def _mvn(pom_dir: Path, *goal: str) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise JarError("mvn not found: install Apache Maven (apt-get install maven) to fetch the jars")
    # --strict-checksums: a download whose SHA-1 does not match Central's fails in Maven already.
    cmd = [mvn, "-q", "-B", "--strict-checksums", "-f", str(pom_dir / "pom.xml"), *goal]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise JarError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}{proc.stderr[-2000:]}")


def fetch(names: Sequence[str] | None = None, jars_dir: Path = JARS_DIR, manifest: Path = MANIFEST) -> dict[str, Path]:
    """Fetch the named sets (default: all) into ``jars_dir/<set>/`` and verify every SHA-256.

    Idempotent: a set whose files are all present and match is left alone.

    Raises:
        JarError: Maven failed, or a file does not match its locked SHA-256 (the file is
            deleted, so a later run fetches it again rather than trusting it).
    """
    sets = load(manifest)
    out: dict[str, Path] = {}
    for name in names or sorted(sets):
        if name not in sets:
            raise JarError(f"no set {name!r} in {manifest}; known: {sorted(sets)}")
        jar_set, directory = sets[name], set_dir(name, jars_dir)
        out[name] = directory
        if not _problems(jar_set, directory):
            continue
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="netpulse-jars-") as tmp:
            (Path(tmp) / "pom.xml").write_text(_pom((j.coordinate for j in jar_set.jars), exclude_all=True))
            _mvn(
                Path(tmp),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={directory}",
                "-DincludeScope=runtime",
                "-Dmdep.overWriteReleases=true",
            )
        problems = _problems(jar_set, directory)
        if problems:
            for jar in jar_set.jars:
                path = directory / jar.file_name
                if path.exists() and sha256_of(path) != jar.sha256:
                    path.unlink()
            raise JarError(f"jar set {name!r} does not match {manifest.name}:\n  " + "\n  ".join(problems))
        extra = sorted({p.name for p in directory.glob("*.jar")} - {j.file_name for j in jar_set.jars})
        for stale in extra:  # left from an older lock: not on the classpath we promise
            (directory / stale).unlink()
    return out


def ensure(name: str, jars_dir: Path = JARS_DIR, manifest: Path = MANIFEST) -> list[Path]:
    """The verified files of one set, fetching it first if needed."""
    fetch([name], jars_dir, manifest)
    return paths(name, jars_dir, manifest)


def resolve(roots: Sequence[str]) -> list[Jar]:
    """Resolve ``roots`` transitively (runtime scope) with Maven; hash what it downloaded."""
    with tempfile.TemporaryDirectory(prefix="netpulse-lock-") as tmp:
        listing = Path(tmp) / "deps.txt"
        (Path(tmp) / "pom.xml").write_text(_pom(roots, exclude_all=False))
        _mvn(Path(tmp), "dependency:list", "-DincludeScope=runtime", f"-DoutputFile={listing}",
             "-DoutputAbsoluteArtifactFilename=true", "-DexcludeTransitive=false")
        jars = []
        for line in listing.read_text().splitlines():
            parts = line.strip().split(":")
            # group:artifact:type:version:scope:/abs/path (optionally a module note after)
            if len(parts) < 6 or parts[2] != "jar":
                continue
            path = Path(parts[5].split(" ")[0])
            jars.append(Jar(f"{parts[0]}:{parts[1]}:{parts[3]}", sha256_of(path)))
    return sorted(jars, key=lambda j: j.coordinate)


def lock(names: Sequence[str] | None = None, manifest: Path = MANIFEST) -> None:
    """Re-resolve the named sets (default: all) from their roots and rewrite ``manifest``."""
    sets = load(manifest)
    for name in names or sorted(sets):
        old = sets[name]
        sets[name] = JarSet(name, old.description, old.roots, tuple(resolve(old.roots)))
    header = [line for line in manifest.read_text().splitlines() if line.startswith("#")]
    body = []
    for jar_set in sets.values():
        roots = ", ".join(f'"{r}"' for r in jar_set.roots)
        body += ["", f"[set.{jar_set.name}]", f'description = "{jar_set.description}"', f"roots = [{roots}]",
                 f"[set.{jar_set.name}.jars]"]
        body += [f'"{j.coordinate}" = "{j.sha256}"' for j in jar_set.jars]
    manifest.write_text("\n".join(header + body) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m jobs.ops.jars fetch|verify|lock|urls|classpath``."""
    parser = argparse.ArgumentParser(prog="python -m jobs.ops.jars", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--manifest", type=Path, default=MANIFEST)
    parser.add_argument("--jars-dir", type=Path, default=JARS_DIR)
    sub = parser.add_subparsers(dest="command", required=True)
    for command, text in (("fetch", "fetch and verify sets (default: all)"),
                          ("verify", "check fetched sets against the lock, fetch nothing"),
                          ("lock", "re-resolve sets from their roots and rewrite the lock")):
        sub.add_parser(command, help=text).add_argument("sets", nargs="*")
    sub.add_parser("urls", help="'URL SHA256 FILE' per jar of a set (image build)").add_argument("set")
    sub.add_parser("classpath", help="the fetched files of a set, ':'-joined").add_argument("set")
    args = parser.parse_args(argv)
    try:
        if args.command == "fetch":
            for name, directory in fetch(args.sets, args.jars_dir, args.manifest).items():
                print(f"{name}: {len(get(name, args.manifest).jars)} jars verified in {directory}")
        elif args.command == "verify":
            sets = load(args.manifest)
            bad = [p for n in (args.sets or sorted(sets)) for p in _problems(sets[n], set_dir(n, args.jars_dir))]
            if bad:
                print("\n".join(bad), file=sys.stderr)
                return 1
        elif args.command == "lock":
            lock(args.sets, args.manifest)
        elif args.command == "urls":
            for jar in get(args.set, args.manifest).jars:
                print(f"{jar.url} {jar.sha256} {jar.file_name}")
        elif args.command == "classpath":
            print(os.pathsep.join(str(p) for p in paths(args.set, args.jars_dir, args.manifest)))
    except JarError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
