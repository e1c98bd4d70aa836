"""Pure parsers for Tor directory documents (CollecTor format), built on ``stem``.

Each parser takes one document (its name and bytes) and returns a ``Parsed``: plain-dict
records ready to be written as JSON lines, and ``Reject`` rows (document, line, reason) for
whatever could not be used. Parsers never raise on bad data.

Record kinds (the ``kind`` field):

``status``  one router entry of a network-status consensus (valid-after hour, r/a/s/v/w/p lines)
``vote``    one router entry of an authority's vote: the flags that authority assigned
``server``  a relay server descriptor (published, uptime, observed bandwidth, contact, ...)
``extra``   a relay extra-info descriptor: the last slot of its read/write history
``bw``      one relay line of a bandwidth-authority file (measured bandwidth, ``bw=``)

Times are whole seconds since the epoch (UTC). Flags stay strings: stem's Flag enum lacks
MiddleOnly and Sybil. Validation: a document is parsed with ``validate=True`` first; if stem
refuses it, it is parsed leniently and each entry is re-checked on its own, so one garbage
entry rejects that entry, not the whole consensus.
"""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
import io
import re
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import stem.descriptor
from stem.descriptor import DocumentHandler
from stem.descriptor.router_status_entry import RouterStatusEntryV3

CONSENSUS = "network-status-consensus-3 1.0"
VOTE = "network-status-vote-3 1.0"
SERVER = "server-descriptor 1.0"
EXTRA = "extra-info 1.0"
BANDWIDTH = "bandwidth-file 1.0"
DOC_TYPES = (CONSENSUS, VOTE, SERVER, EXTRA, BANDWIDTH)

EXCERPT_CAP = 4096
_FINGERPRINT = re.compile(r"^[0-9A-F]{40}$")
_FAMILY_FP = re.compile(r"^\$([0-9A-Fa-f]{40})(?:[=~].*)?$")
_TOR_VERSION = re.compile(r"^Tor (\S+)")
_MIN_TIME = 946_684_800  # 2000-01-01: Tor directory documents do not predate 2003


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
    """Records and rejects from one document."""

    records: list[dict[str, Any]] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)

    def extend(self, other: Parsed) -> None:
        self.records.extend(other.records)
        self.rejects.extend(other.rejects)


# ---------------------------------------------------------------------------------------------
# small helpers


def epoch(value: dt.datetime | None) -> int | None:
    """A naive-UTC datetime (stem's convention) as whole epoch seconds."""
    if value is None:
        return None
    return calendar.timegm(value.utctimetuple())


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _cap(text: str) -> str:
    raw = text.encode("utf-8", "replace")
    if len(raw) <= EXCERPT_CAP:
        return text
    return raw[:EXCERPT_CAP].decode("utf-8", "ignore")


def _line_of(data: bytes, needle: bytes, start: int = 0) -> int:
    """1-based line number of ``needle`` in ``data`` (searching from byte ``start``), or 0."""
    if not needle:
        return 0
    pos = data.find(needle, start)
    if pos < 0:
        return 0
    return data.count(b"\n", 0, pos) + 1


def _error_line(data: bytes, message: str, start: int = 0) -> tuple[int, str]:
    """Locate the document line a stem error message quotes; (0, '') when none matches."""
    best = (0, "")
    for raw_line in data[start:].split(b"\n"):
        text = raw_line.decode("utf-8", "replace").strip()
        if len(text) >= 3 and text in message and len(text) > len(best[1]):
            best = (_line_of(data, raw_line, start), text)
    return best


def detect_type(data: bytes) -> str | None:
    """The stem descriptor type of a document, from its ``@type`` line or first keyword."""
    head = data.lstrip()[:2048]
    first = head.split(b"\n", 1)[0].strip()
    if first.startswith(b"@type "):
        name = first[6:].decode("ascii", "replace").strip()
        kind = name.rsplit(" ", 1)[0]
        for known in DOC_TYPES:
            if known.rsplit(" ", 1)[0] == kind:
                return known
        if kind == "bridge-server-descriptor" or kind == "bridge-extra-info":
            return None
        return None
    if first.startswith(b"network-status-version 3"):
        if b"\nvote-status vote" in head:
            return VOTE
        return CONSENSUS
    if first.startswith(b"router "):
        return SERVER
    if first.startswith(b"extra-info "):
        return EXTRA
    if first.isdigit():
        return BANDWIDTH
    return None


def _reject_document(name: str, data: bytes, reason: str, detail: str, doc_type: str) -> Reject:
    first = data.split(b"\n", 1)[0].decode("utf-8", "replace")
    return Reject(name, 1 if data else 0, reason, detail, _cap(first), doc_type)


# ---------------------------------------------------------------------------------------------
# entry points


def parse_document(name: str, data: bytes) -> Parsed:
    """Parse one document of any supported type. Never raises on bad data.

    Args:
        name: where the document came from (recorded in records and rejects).
        data: the document's bytes.
    """
    doc_type = detect_type(data)
    if doc_type is None:
        return Parsed(
            rejects=[
                _reject_document(
                    name,
                    data,
                    "not_a_tor_document",
                    "no @type line and no known first keyword (network-status-version, router, "
                    "extra-info, or a bandwidth-file timestamp)",
                    "unknown",
                )
            ]
        )
    try:
        if doc_type in (CONSENSUS, VOTE):
            return parse_network_status(name, data, doc_type)
        if doc_type == SERVER:
            return parse_server_descriptors(name, data)
        if doc_type == EXTRA:
            return parse_extra_infos(name, data)
        return parse_bandwidth_file(name, data)
    except Exception as exc:  # noqa: BLE001 - stem raises many types on garbage; never propagate
        return Parsed(rejects=[_reject_document(name, data, "parser_error", repr(exc), doc_type)])


def iter_documents(name: str, data: bytes) -> Iterator[tuple[str, bytes]]:
    """Yield (name, bytes) per document: archive members for a tar (.tar, .tar.xz, ...)."""
    if tarfile.is_tarfile(io.BytesIO(data)):
        with tarfile.open(fileobj=io.BytesIO(data)) as archive:
            for member in sorted(archive.getmembers(), key=lambda m: m.name):
                if not member.isfile():
                    continue
                handle = archive.extractfile(member)
                if handle is not None:
                    yield f"{name}:{member.name}", handle.read()
        return
    yield name, data


def parse_any(name: str, data: bytes) -> Parsed:
    """Parse a file that is a document or a tar archive of documents."""
    out = Parsed()
    try:
        documents = list(iter_documents(name, data))
    except (tarfile.TarError, EOFError, OSError) as exc:
        return Parsed(rejects=[_reject_document(name, data, "bad_archive", repr(exc), "unknown")])
    for member_name, member in documents:
        out.extend(parse_document(member_name, member))
    return out


# ---------------------------------------------------------------------------------------------
# network status (consensus and votes)


def _unknown_keyword_rejects(
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
            _line_of(data, line.encode()),
            "unknown_keyword",
            f"keyword {keyword!r} is not known to stem 1.8.2; the line was ignored",
            _cap(line),
            doc_type,
            stage="validate",
        )
        for keyword, line in sorted(seen.items())
    ]


def parse_network_status(name: str, data: bytes, doc_type: str = CONSENSUS) -> Parsed:
    """Router entries of a consensus (``status`` records) or a vote (``vote`` records)."""
    out = Parsed()
    strict_error: str | None = None
    try:
        document = next(
            stem.descriptor.parse_file(
                io.BytesIO(data),
                descriptor_type=doc_type,
                document_handler=DocumentHandler.DOCUMENT,
                validate=True,
            )
        )
    except StopIteration:
        return Parsed(
            rejects=[_reject_document(name, data, "empty_document", "no document found", doc_type)]
        )
    except Exception as exc:  # noqa: BLE001
        strict_error = str(exc)
        try:
            document = next(
                stem.descriptor.parse_file(
                    io.BytesIO(data),
                    descriptor_type=doc_type,
                    document_handler=DocumentHandler.DOCUMENT,
                    validate=False,
                )
            )
        except Exception as lenient_exc:  # noqa: BLE001
            return Parsed(
                rejects=[
                    _reject_document(name, data, "malformed_document", repr(lenient_exc), doc_type)
                ]
            )
    valid_after = epoch(getattr(document, "valid_after", None))
    if valid_after is None or valid_after < _MIN_TIME:
        line, text = _error_line(data, strict_error or "valid-after")
        return Parsed(
            rejects=[
                Reject(
                    name,
                    line,
                    "missing_valid_after",
                    strict_error or "the document has no usable valid-after line",
                    _cap(text or ""),
                    doc_type,
                )
            ]
        )
    authority = ""
    if doc_type == VOTE:
        authorities = getattr(document, "directory_authorities", None) or []
        authority = authorities[0].nickname if authorities else ""
        if not authority:
            return Parsed(
                rejects=[
                    _reject_document(
                        name,
                        data,
                        "vote_without_authority",
                        "a vote must name its dir-source",
                        doc_type,
                    )
                ]
            )
    header_error_located = strict_error is None
    search_from = 0
    for fingerprint, entry in sorted(document.routers.items(), key=lambda item: str(item[0])):
        raw = entry.get_bytes()
        entry_line = _line_of(data, raw.split(b"\n", 1)[0], search_from)
        if strict_error is not None:
            try:
                RouterStatusEntryV3(raw, validate=True, document=document)
            except Exception as exc:  # noqa: BLE001
                line, text = _error_line(raw, str(exc))
                out.rejects.append(
                    Reject(
                        name,
                        (entry_line + line - 1) if line else entry_line,
                        "malformed_entry",
                        str(exc),
                        _cap(text or raw.decode("utf-8", "replace")),
                        doc_type,
                    )
                )
                header_error_located = header_error_located or strict_error == str(exc)
                continue
        if not isinstance(fingerprint, str) or not _FINGERPRINT.match(fingerprint or ""):
            out.rejects.append(
                Reject(
                    name,
                    entry_line,
                    "bad_fingerprint",
                    f"fingerprint {fingerprint!r} is not 40 hex digits",
                    _cap(raw.decode("utf-8", "replace")),
                    doc_type,
                )
            )
            continue
        if doc_type == VOTE:
            out.records.append(
                {
                    "kind": "vote",
                    "document": name,
                    "valid_after": valid_after,
                    "auth": authority,
                    "fingerprint": fingerprint,
                    "flags": sorted(str(f) for f in entry.flags or []),
                }
            )
        else:
            out.records.append(_status_record(name, valid_after, entry))
        out.rejects.extend(
            _unknown_keyword_rejects(
                name, data, [str(x) for x in entry.get_unrecognized_lines()], doc_type
            )
        )
    if strict_error is not None and not header_error_located:
        # stem refused the header or footer: the entries are still usable, say what was wrong.
        line, text = _error_line(data, strict_error)
        out.rejects.append(
            Reject(
                name,
                line,
                "malformed_header_or_footer",
                strict_error,
                _cap(text),
                doc_type,
                stage="validate",
            )
        )
    return out


def _status_record(name: str, valid_after: int, entry: Any) -> dict[str, Any]:
    v6 = [(addr, port) for addr, port, is_v6 in entry.or_addresses or [] if is_v6]
    version_line = entry.version_line or ""
    match = _TOR_VERSION.match(version_line)
    policy = entry.exit_policy
    return {
        "kind": "status",
        "document": name,
        "valid_after": valid_after,
        "fingerprint": entry.fingerprint,
        "nickname": entry.nickname,
        "published": epoch(entry.published),
        "address": entry.address,
        "or_port": entry.or_port or 0,
        "dir_port": entry.dir_port or 0,
        "address_v6": v6[0][0] if v6 else None,
        "or_addresses": sorted(
            f"[{a}]:{p}" if is_v6 else f"{a}:{p}" for a, p, is_v6 in entry.or_addresses or []
        ),
        "flags": sorted(str(f) for f in entry.flags or []),
        "version": match.group(1) if match else "",
        "bandwidth": entry.bandwidth,
        "measured": entry.measured,
        "is_unmeasured": bool(entry.is_unmeasured),
        "exit_policy": str(policy) if policy is not None else "",
    }


# ---------------------------------------------------------------------------------------------
# server descriptors


def _family(value: Any) -> list[str]:
    """Family members given by fingerprint (``$HEX``, ``$HEX~nick``); bare nicknames dropped."""
    out = set()
    for member in value or []:
        match = _FAMILY_FP.match(str(member))
        if match:
            out.add(match.group(1).upper())
    return sorted(out)


def _split_descriptors(data: bytes, first_keyword: bytes) -> list[tuple[int, bytes]]:
    """(1-based start line, bytes) per descriptor of a file that concatenates several."""
    lines = data.split(b"\n")
    starts = [i for i, line in enumerate(lines) if line.startswith(first_keyword)]
    out = []
    for n, start in enumerate(starts):
        head = start
        # keep preceding @annotation lines with their descriptor
        while (
            head > 0 and lines[head - 1].startswith(b"@") and (n == 0 or head - 1 > starts[n - 1])
        ):
            head -= 1
        end = starts[n + 1] if n + 1 < len(starts) else len(lines)
        while end > start + 1 and lines[end - 1].startswith(b"@"):
            end -= 1
        out.append((head + 1, b"\n".join(lines[head:end]) + b"\n"))
    return out


def _parse_each(
    name: str, data: bytes, doc_type: str, first_keyword: bytes
) -> Iterator[tuple[int, bytes, Any, Reject | None]]:
    parts = _split_descriptors(data, first_keyword)
    if not parts:
        yield (
            0,
            data,
            None,
            _reject_document(
                name,
                data,
                "malformed_document",
                f"no {first_keyword.decode().strip()!r} line",
                doc_type,
            ),
        )
        return
    for start, part in parts:
        try:
            descriptor = next(
                stem.descriptor.parse_file(
                    io.BytesIO(part), descriptor_type=doc_type, validate=True
                )
            )
            yield start, part, descriptor, None
        except Exception as exc:  # noqa: BLE001
            line, text = _error_line(part, str(exc))
            yield (
                start,
                part,
                None,
                Reject(
                    name,
                    (start + line - 1) if line else start,
                    "malformed_descriptor",
                    str(exc),
                    _cap(text or part.split(b"\n", 1)[0].decode("utf-8", "replace")),
                    doc_type,
                ),
            )


def parse_server_descriptors(name: str, data: bytes) -> Parsed:
    """``server`` records from a file of one or more relay server descriptors.

    A negative uptime (a real descriptor has one) would put the restart in the future: the
    record keeps its other fields with ``uptime`` None and ``is_uptime_rejected`` True, and a
    validate-stage reject records the line.
    """
    out = Parsed()
    for start, part, desc, reject in _parse_each(name, data, SERVER, b"router "):
        if reject is not None:
            out.rejects.append(reject)
            continue
        uptime = desc.uptime
        is_uptime_rejected = False
        if uptime is not None and uptime < 0:
            is_uptime_rejected = True
            line = _line_of(part, b"uptime ")
            out.rejects.append(
                Reject(
                    name,
                    start + line - 1 if line else start,
                    "negative_uptime",
                    f"uptime {uptime} s would put the restart after the publication time; "
                    "uptime and last_restarted are left empty",
                    f"uptime {uptime}",
                    SERVER,
                    stage="validate",
                )
            )
            uptime = None
        published = epoch(desc.published)
        out.records.append(
            {
                "kind": "server",
                "document": name,
                "fingerprint": desc.fingerprint,
                "nickname": desc.nickname,
                "published": published,
                "address": desc.address,
                "uptime": uptime,
                "is_uptime_rejected": is_uptime_rejected,
                "observed_bandwidth": desc.observed_bandwidth,
                "contact": _text(desc.contact),
                "family": _family(desc.family),
                "version": str(desc.tor_version) if desc.tor_version else "",
                "platform": _text(desc.platform),
            }
        )
        out.rejects.extend(
            _unknown_keyword_rejects(
                name, data, [str(x) for x in desc.get_unrecognized_lines()], SERVER
            )
        )
    return out


# ---------------------------------------------------------------------------------------------
# extra-info descriptors


def _last_slot(
    values: list[int] | None, end: dt.datetime | None, interval: int | None
) -> tuple[int | None, int | None]:
    if not values or end is None:
        return None, None
    return int(values[-1]), epoch(end)


def parse_extra_infos(name: str, data: bytes) -> Parsed:
    """``extra`` records: the newest slot of the read and write histories (bytes per slot)."""
    out = Parsed()
    for _start, _part, desc, reject in _parse_each(name, data, EXTRA, b"extra-info "):
        if reject is not None:
            out.rejects.append(reject)
            continue
        read, read_end = _last_slot(
            desc.read_history_values, desc.read_history_end, desc.read_history_interval
        )
        write, write_end = _last_slot(
            desc.write_history_values, desc.write_history_end, desc.write_history_interval
        )
        out.records.append(
            {
                "kind": "extra",
                "document": name,
                "fingerprint": desc.fingerprint,
                "nickname": desc.nickname,
                "published": epoch(desc.published),
                "read_last_bytes": read,
                "read_history_end": read_end,
                "read_interval_s": desc.read_history_interval,
                "write_last_bytes": write,
                "write_history_end": write_end,
                "write_interval_s": desc.write_history_interval,
            }
        )
        out.rejects.extend(
            _unknown_keyword_rejects(
                name, data, [str(x) for x in desc.get_unrecognized_lines()], EXTRA
            )
        )
    return out


# ---------------------------------------------------------------------------------------------
# bandwidth-authority files


def parse_bandwidth_file(name: str, data: bytes) -> Parsed:
    """``bw`` records: each measured relay's ``bw=`` (KB/s, the unit of ``w Bandwidth``)."""
    out = Parsed()
    try:
        document = next(
            stem.descriptor.parse_file(io.BytesIO(data), descriptor_type=BANDWIDTH, validate=True)
        )
    except Exception as exc:  # noqa: BLE001
        line, text = _error_line(data, str(exc))
        return Parsed(
            rejects=[
                Reject(name, line, "malformed_bandwidth_file", str(exc), _cap(text), BANDWIDTH)
            ]
        )
    measured_at = epoch(document.timestamp)
    if measured_at is None or measured_at < _MIN_TIME:
        return Parsed(
            rejects=[
                _reject_document(
                    name,
                    data,
                    "missing_timestamp",
                    "a bandwidth file starts with its unix timestamp",
                    BANDWIDTH,
                )
            ]
        )
    source = name.rsplit("/", 1)[-1]
    for fingerprint, attrs in sorted(document.measurements.items()):
        raw_bw = attrs.get("bw")
        try:
            bw = int(raw_bw)
            if bw < 0 or bw > 2**32 - 1:
                raise ValueError("out of range")
        except (TypeError, ValueError):
            needle = f"node_id=${fingerprint}".encode()
            out.rejects.append(
                Reject(
                    name,
                    _line_of(data, needle),
                    "bad_bandwidth_value",
                    f"bw={raw_bw!r} is not a whole number of KB/s in [0, 2^32)",
                    f"node_id=${fingerprint} bw={raw_bw}",
                    BANDWIDTH,
                )
            )
            continue
        out.records.append(
            {
                "kind": "bw",
                "document": name,
                "fingerprint": fingerprint.upper(),
                "measured_at": measured_at,
                "bw": bw,
                "source": source,
            }
        )
    return out
