"""Network-status documents: router entries of consensuses (``status``) and votes (``vote``).

Validation: a document is parsed with ``validate=True`` first; if stem refuses it, it is parsed
leniently and each entry is re-checked on its own, so one garbage entry rejects that entry,
not the whole consensus. Flags stay strings (stem's Flag enum lacks MiddleOnly and Sybil).
"""

from __future__ import annotations

import io
import re
from typing import Any

import stem.descriptor
from stem.descriptor import DocumentHandler
from stem.descriptor.router_status_entry import RouterStatusEntryV3

from udfs.tor_docs import (
    CONSENSUS,
    FINGERPRINT,
    MIN_TIME,
    VOTE,
    Parsed,
    Reject,
    cap,
    epoch,
    error_line,
    line_of,
    reject_document,
    unknown_keyword_rejects,
)

_TOR_VERSION = re.compile(r"^Tor (\S+)")
# A consensus without a usable fresh-until is taken to be hourly (the public network's interval).
DEFAULT_INTERVAL_S = 3600


def _first_document(data: bytes, doc_type: str, *, validate: bool) -> Any:
    """The first network-status document of ``data`` (StopIteration when there is none)."""
    return next(
        stem.descriptor.parse_file(
            io.BytesIO(data),
            descriptor_type=doc_type,
            document_handler=DocumentHandler.DOCUMENT,
            validate=validate,
        )
    )


def parse_network_status(name: str, data: bytes, doc_type: str = CONSENSUS) -> Parsed:
    """Router entries of a consensus (``status`` records) or a vote (``vote`` records)."""
    out = Parsed()
    strict_error: str | None = None
    try:
        document = _first_document(data, doc_type, validate=True)
    except StopIteration:
        return Parsed(
            rejects=[reject_document(name, data, "empty_document", "no document found", doc_type)]
        )
    except Exception as exc:  # noqa: BLE001
        strict_error = str(exc)
        try:
            document = _first_document(data, doc_type, validate=False)
        except Exception as lenient_exc:  # noqa: BLE001
            return Parsed(
                rejects=[
                    reject_document(name, data, "malformed_document", repr(lenient_exc), doc_type)
                ]
            )
    valid_after = epoch(getattr(document, "valid_after", None))
    if valid_after is None or valid_after < MIN_TIME:
        line, text = error_line(data, strict_error or "valid-after")
        return Parsed(
            rejects=[
                Reject(
                    name,
                    line,
                    "missing_valid_after",
                    strict_error or "the document has no usable valid-after line",
                    cap(text or ""),
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
                    reject_document(
                        name,
                        data,
                        "vote_without_authority",
                        "a vote must name its dir-source",
                        doc_type,
                    )
                ]
            )
    fresh_until = epoch(getattr(document, "fresh_until", None))
    if fresh_until is None or fresh_until <= valid_after:
        fresh_until = valid_after + DEFAULT_INTERVAL_S
    if doc_type == CONSENSUS:
        out.documents.append(_consensus_record(name, valid_after, fresh_until, document))
    header_error_located = strict_error is None
    search_from = 0
    for fingerprint, entry in sorted(document.routers.items(), key=lambda item: str(item[0])):
        raw = entry.get_bytes()
        entry_line = line_of(data, raw.split(b"\n", 1)[0], search_from)
        if strict_error is not None:
            try:
                RouterStatusEntryV3(raw, validate=True, document=document)
            except Exception as exc:  # noqa: BLE001
                line, text = error_line(raw, str(exc))
                out.rejects.append(
                    Reject(
                        name,
                        (entry_line + line - 1) if line else entry_line,
                        "malformed_entry",
                        str(exc),
                        cap(text or raw.decode("utf-8", "replace")),
                        doc_type,
                    )
                )
                header_error_located = header_error_located or strict_error == str(exc)
                continue
        if not isinstance(fingerprint, str) or not FINGERPRINT.match(fingerprint or ""):
            out.rejects.append(
                Reject(
                    name,
                    entry_line,
                    "bad_fingerprint",
                    f"fingerprint {fingerprint!r} is not 40 hex digits",
                    cap(raw.decode("utf-8", "replace")),
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
            out.records.append(_status_record(name, valid_after, fresh_until, entry))
        out.rejects.extend(
            unknown_keyword_rejects(
                name, data, [str(x) for x in entry.get_unrecognized_lines()], doc_type
            )
        )
    if strict_error is not None and not header_error_located:
        # stem refused the header or footer: the entries are still usable, say what was wrong.
        line, text = error_line(data, strict_error)
        out.rejects.append(
            Reject(
                name,
                line,
                "malformed_header_or_footer",
                strict_error,
                cap(text),
                doc_type,
                stage="validate",
            )
        )
    return out


def _consensus_record(name: str, valid_after: int, fresh_until: int, document: Any) -> dict[str, Any]:
    """The document-level facts of a consensus: its hour, interval and bandwidth-weights footer.

    ``fresh_until`` tells which consensus is the next one (valid-after = this fresh-until):
    consecutive consensuses are paired on it, so a missing hour breaks the pair. The
    ``bandwidth-weights`` footer (dir-spec, "Computing Bandwidth Weights") is kept whole, as
    integers; the weights are relative to ``bwweightscale`` (a consensus parameter, 10000).
    """
    weights = getattr(document, "bandwidth_weights", None) or {}
    params = getattr(document, "params", None) or {}
    return {
        "kind": "consensus",
        "document": name,
        "valid_after": valid_after,
        "fresh_until": fresh_until,
        "consensus_method": getattr(document, "consensus_method", None),
        "bandwidth_weights": {str(k): int(v) for k, v in sorted(weights.items())},
        "bwweightscale": int(params.get("bwweightscale", 10000)),
        "entries": len(document.routers),
    }


def _status_record(name: str, valid_after: int, fresh_until: int, entry: Any) -> dict[str, Any]:
    v6 = [(addr, port) for addr, port, is_v6 in entry.or_addresses or [] if is_v6]
    version_line = entry.version_line or ""
    match = _TOR_VERSION.match(version_line)
    policy = entry.exit_policy
    return {
        "kind": "status",
        "document": name,
        "valid_after": valid_after,
        "fresh_until": fresh_until,
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
