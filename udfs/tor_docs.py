"""Shared pieces of the Tor document parsers: document types, records, rejects, helpers.

A parser takes one document (its name and bytes) and returns a ``Parsed``: plain-dict records
ready to be written as JSON lines, ``Reject`` rows (document, line, reason) for whatever could
not be used, and counts of documents recognized but not used by this suite (``skipped``).
"""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

CONSENSUS = "network-status-consensus-3 1.0"
VOTE = "network-status-vote-3 1.0"
SERVER = "server-descriptor 1.0"
EXTRA = "extra-info 1.0"
BANDWIDTH = "bandwidth-file 1.0"
DOC_TYPES = (CONSENSUS, VOTE, SERVER, EXTRA, BANDWIDTH)

EXCERPT_CAP = 4096
FINGERPRINT = re.compile(r"^[0-9A-F]{40}$")
MIN_TIME = 946_684_800  # 2000-01-01: Tor directory documents do not predate 2003


@dataclass(frozen=True)
class Reject:
    """Something in a document that could not be used, and why.

    Attributes:
        document: the source name (file path, ``archive.tar:member`` for archive members).
        line: 1-based line in that document; 0 when the whole document is concerned.
        reason: a short class (``not_a_tor_document``, ``malformed_entry``, ...).
        detail: the parser's own message.
        excerpt: the offending text, capped at ``EXCERPT_CAP`` bytes.
        doc_type: the stem descriptor type, or ``unknown``.
        stage: ``parse`` (the document or entry is unusable) or ``validate`` (a value was
            dropped, the record was kept).
    """

    document: str
    line: int
    reason: str
    detail: str
    excerpt: str
    doc_type: str = "unknown"
    stage: str = "parse"

    def key(self) -> str:
        """Deterministic id: the same reject found twice folds into one dead-letter row."""
        raw = "\x1f".join((self.stage, self.document, str(self.line), self.reason))
        return hashlib.sha256(raw.encode()).hexdigest()

    def as_record(self) -> dict[str, Any]:
        return {
            "kind": "reject",
            "reject_key": self.key(),
            "stage": self.stage,
            "document": self.document,
            "doc_type": self.doc_type,
            "line": self.line,
            "reason": self.reason,
            "detail": self.detail[:1000],
            "excerpt": self.excerpt,
        }


@dataclass
class Parsed:
    """Records and rejects from one document or file, and what was recognized but not used.

    ``records`` are per relay (they carry a ``fingerprint``); ``documents`` are per
    network-status document (kind ``consensus``: its hour, interval and ``bandwidth-weights``
    footer). ``skipped`` counts documents by type (``dir-key-certificate-3``,
    ``microdescriptor``, ...) that are Tor documents this suite does not read: counted, never
    dead letters.
    """

    records: list[dict[str, Any]] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    documents: list[dict[str, Any]] = field(default_factory=list)

    def extend(self, other: Parsed) -> None:
        self.records.extend(other.records)
        self.documents.extend(other.documents)
        self.rejects.extend(other.rejects)
        for kind, count in other.skipped.items():
            self.skipped[kind] = self.skipped.get(kind, 0) + count


# ---------------------------------------------------------------------------------------------
# small helpers


def epoch(value: dt.datetime | None) -> int | None:
    """A naive-UTC datetime (stem's convention) as whole epoch seconds."""
    if value is None:
        return None
    return calendar.timegm(value.utctimetuple())


def as_text(value: Any) -> str | None:
    """A stem value (str or bytes) as text; None stays None."""
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def cap(text: str) -> str:
    """``text`` cut to ``EXCERPT_CAP`` bytes of UTF-8 (on a character boundary)."""
    raw = text.encode("utf-8", "replace")
    if len(raw) <= EXCERPT_CAP:
        return text
    return raw[:EXCERPT_CAP].decode("utf-8", "ignore")


def line_of(data: bytes, needle: bytes, start: int = 0) -> int:
    """1-based line number of ``needle`` in ``data`` (searching from byte ``start``), or 0."""
    if not needle:
        return 0
    pos = data.find(needle, start)
    if pos < 0:
        return 0
    return data.count(b"\n", 0, pos) + 1


def error_line(data: bytes, message: str, start: int = 0) -> tuple[int, str]:
    """Locate the document line a stem error message quotes; (0, '') when none matches."""
    best = (0, "")
    for raw_line in data[start:].split(b"\n"):
        text = raw_line.decode("utf-8", "replace").strip()
        if len(text) >= 3 and text in message and len(text) > len(best[1]):
            best = (line_of(data, raw_line, start), text)
    return best


def reject_document(name: str, data: bytes, reason: str, detail: str, doc_type: str) -> Reject:
    """A reject of a whole document, quoting its first line."""
    first = data.split(b"\n", 1)[0].decode("utf-8", "replace")
    return Reject(name, 1 if data else 0, reason, detail, cap(first), doc_type)


def unknown_keyword_rejects(
    name: str, data: bytes, lines: list[str], doc_type: str
) -> list[Reject]:
    """One validate-stage reject per distinct unknown keyword (the record is still used)."""
    seen: dict[str, str] = {}
    for line in lines:
        keyword = line.split(" ", 1)[0]
        seen.setdefault(keyword, line)
    return [
        Reject(
            name,
            line_of(data, line.encode()),
            "unknown_keyword",
            f"keyword {keyword!r} is not known to stem 1.8.2; the line was ignored",
            cap(line),
            doc_type,
            stage="validate",
        )
        for keyword, line in sorted(seen.items())
    ]
