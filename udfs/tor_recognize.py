"""Which Tor document a file holds: one this suite reads, one it only counts, or none at all.

Recognized, from CollecTor (``@type`` line) or from a tor data directory (first keyword, after
tor's own annotation lines ``@downloaded-at``, ``@source``, ``@purpose``, ``@last-listed``):

* read: consensuses (``cached-consensus``, ``unverified-consensus``), votes, server
  descriptors (``cached-descriptors[.new]``), extra-info descriptors (``cached-extrainfo[.new]``),
  bandwidth files;
* counted and skipped (Tor documents the suite does not use): key certificates
  (``cached-certs``), microdescriptor consensuses and microdescriptors (``cached-microdesc-
  consensus``, ``cached-microdescs[.new]``), consensus diffs (``diff-cache/``), detached
  signatures, exit lists, v1/v2 directories, any other CollecTor ``@type`` (bridge
  descriptors, ...); an empty tor cache file (tor empties ``cached-descriptors.new`` after a
  rebuild); tor's state files and ``keys/`` (never read: the keys are secret).

Anything else is not a Tor document (a dead letter, ``not_a_tor_document``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from udfs.tor_docs import BANDWIDTH, CONSENSUS, DOC_TYPES, EXTRA, SERVER, VOTE

# first keyword of a document -> the (CollecTor) name of a type this suite does not read
UNUSED_KEYWORDS: tuple[tuple[bytes, str], ...] = (
    (b"network-status-version 3 microdesc", "network-status-microdesc-consensus-3"),
    (b"network-status-version 2", "network-status-2"),
    (b"network-status-diff-version", "network-status-diff"),
    (b"dir-key-certificate-version", "dir-key-certificate-3"),
    (b"onion-key", "microdescriptor"),
    (b"consensus-digest", "detached-signature-3"),
    (b"signed-directory", "directory"),
    (b"ExitNode ", "tordnsel"),
    (b"Downloaded ", "tordnsel"),
)
# Files of a tor data directory that are not directory documents.
STATE_FILES = frozenset(
    {
        "state",
        "lock",
        "sr-state",
        "router-stability",
        "bw_accounting",
        "fingerprint",
        "fingerprint-ed25519",
        "hashed-fingerprint",
        "key-pinning-journal",
        "approved-routers",
    }
)
TOR_DATA_FILE = "tor-data-file"
EMPTY_CACHE_FILE = "empty-cache-file"
_ANNOTATION = re.compile(rb"^@(?!type )\S+")


@dataclass(frozen=True)
class Recognized:
    """What a document is: ``doc_type`` (one of DOC_TYPES) to parse, or ``skip`` to count.

    Both None: not a Tor document. ``count`` is how many documents a skipped file holds.
    """

    doc_type: str | None = None
    skip: str | None = None
    count: int = 0


def _path_parts(name: str) -> list[str]:
    """The components of a document name (``archive.tar:member/path`` included)."""
    return [p for p in re.split(r"[/:\\]", name) if p]


def strip_annotations(data: bytes) -> bytes:
    """``data`` without the leading annotation lines tor writes before cached descriptors."""
    lines = data.lstrip().split(b"\n")
    start = 0
    while start < len(lines) and _ANNOTATION.match(lines[start]):
        start += 1
    return b"\n".join(lines[start:]).lstrip()


def _count(data: bytes, keyword: bytes) -> int:
    return max(1, sum(1 for line in data.split(b"\n") if line.startswith(keyword)))


def recognize(name: str, data: bytes) -> Recognized:
    """Classify one document (its name and bytes). Never raises."""
    parts = _path_parts(name)
    base = parts[-1] if parts else ""
    if "keys" in parts[:-1] or base in STATE_FILES:
        return Recognized(skip=TOR_DATA_FILE, count=1)
    body = strip_annotations(data)
    head = body[:2048]
    first = head.split(b"\n", 1)[0].strip()
    if not first:
        if base.startswith(("cached-", "unverified-")):
            return Recognized(skip=EMPTY_CACHE_FILE, count=1)
        return Recognized()
    if first.startswith(b"@type "):
        type_name = first[6:].decode("ascii", "replace").strip()
        kind = type_name.rsplit(" ", 1)[0]
        for known in DOC_TYPES:
            if known.rsplit(" ", 1)[0] == kind:
                return Recognized(doc_type=known)
        return Recognized(skip=kind or "unknown-type", count=1)
    for keyword, kind in UNUSED_KEYWORDS:
        if first.startswith(keyword):
            return Recognized(skip=kind, count=_count(body, keyword))
    if first.startswith(b"network-status-version 3"):
        return Recognized(doc_type=VOTE if b"\nvote-status vote" in head else CONSENSUS)
    if first.startswith(b"router "):
        return Recognized(doc_type=SERVER)
    if first.startswith(b"extra-info "):
        return Recognized(doc_type=EXTRA)
    if first.isdigit():
        return Recognized(doc_type=BANDWIDTH)
    return Recognized()


def detect_type(data: bytes) -> str | None:
    """The stem descriptor type of a document this suite reads, or None."""
    return recognize("", data).doc_type
