"""The collector step of the tor_relays job: CollecTor documents -> staged JSON-lines files.

Reads:    a directory tree of Tor directory documents as CollecTor publishes them (plain
          files, or .tar / .tar.xz archives of them): consensuses, votes, server and
          extra-info descriptors, bandwidth files. Names starting with ``.`` or ``_`` are
          skipped (files being written).
Computes: stem parsing (jobs.tor.parse) into one JSON record per router entry / descriptor /
          measurement, plus reject records for what could not be used.
Writes:   one staged file per input file, named after the input's content hash, published
          atomically (written as ``.name`` then renamed) so the Flink filesystem source, which
          skips dot files, never sees half a file; with source.monitor-interval it picks up
          new staged files as they appear. The same content is staged once: re-collecting
          the tree is a no-op, and a file copied under two names is read once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from jobs.tor.parse import parse_any

log = logging.getLogger("netpulse.tor_collect")


@dataclass
class CollectStats:
    """What one pass over the input tree did."""

    files_seen: int = 0
    files_staged: int = 0
    records: int = 0
    documents: int = 0  # network-status documents (kind ``consensus``)
    rejects: int = 0
    skipped: dict[str, int] = field(default_factory=dict)  # documents not used, by type


def _input_files(input_dir: Path) -> list[Path]:
    out: list[Path] = []
    for root, dirs, files in os.walk(input_dir):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
        out.extend(Path(root) / f for f in sorted(files) if not f.startswith((".", "_")))
    return out


def staged_name(relative: str, data: bytes) -> str:
    """Deterministic staged file name: content hash plus a readable tail of the input name."""
    digest = hashlib.sha256(data).hexdigest()[:24]
    tail = "".join(c if c.isalnum() or c in "-." else "-" for c in relative.rsplit("/", 1)[-1])[
        -60:
    ]
    return f"{digest}-{tail}.jsonl"


def collect_file(path: Path, relative: str, staging_dir: Path, stats: CollectStats) -> Path | None:
    """Parse one input file and stage its records; None if this content is already staged."""
    data = path.read_bytes()
    target = staging_dir / staged_name(relative, data)
    stats.files_seen += 1
    if target.exists():
        return None
    parsed = parse_any(relative, data)
    lines = [
        json.dumps(r, separators=(",", ":"), sort_keys=True)
        for r in [*parsed.documents, *parsed.records]
    ]
    lines += [
        json.dumps(r.as_record(), separators=(",", ":"), sort_keys=True) for r in parsed.rejects
    ]
    hidden = staging_dir / f".{target.name}"
    hidden.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    hidden.replace(target)
    stats.files_staged += 1
    stats.records += len(parsed.records)
    stats.documents += len(parsed.documents)
    stats.rejects += len(parsed.rejects)
    for kind, count in parsed.skipped.items():
        stats.skipped[kind] = stats.skipped.get(kind, 0) + count
        log.info("%s: %d %s document(s) recognized and skipped (not used)", relative, count, kind)
    return target


def collect(input_dir: Path, staging_dir: Path) -> CollectStats:
    """Stage every not-yet-staged file under ``input_dir`` (sorted order). Idempotent.

    Raises:
        FileNotFoundError: ``input_dir`` does not exist.
    """
    input_dir = Path(input_dir)
    if not input_dir.is_dir():
        raise FileNotFoundError(
            f"Tor input directory {input_dir} does not exist; pass a CollecTor tree"
        )
    staging_dir.mkdir(parents=True, exist_ok=True)
    stats = CollectStats()
    for path in _input_files(input_dir):
        collect_file(path, path.relative_to(input_dir).as_posix(), staging_dir, stats)
    return stats
