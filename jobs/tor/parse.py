"""Pure parsers for Tor directory documents (CollecTor or a tor data directory), on ``stem``.

Each parser takes one document (its name and bytes) and returns a ``Parsed``: plain-dict
records ready to be written as JSON lines, ``Reject`` rows (document, line, reason) for
whatever could not be used, and counts of recognized documents this suite does not use.
Parsers never raise on bad data. The collect step (jobs/tor/collect.py) calls them before the
Flink job, so this is no UDF: it holds the entry points; the pieces live in:

``udfs/tor_docs.py``         document types, ``Reject``, ``Parsed``, shared helpers
``udfs/tor_recognize.py``    which document a file holds (read / counted and skipped / none)
``udfs/tor_netstatus.py``    consensuses and votes
``udfs/tor_descriptors.py``  server and extra-info descriptors, bandwidth files

Record kinds (the ``kind`` field):

``status``  one router entry of a network-status consensus (valid-after hour, r/a/s/v/w/p lines)
``vote``    one router entry of an authority's vote: the flags that authority assigned
``server``  a relay server descriptor (published, uptime, observed bandwidth, contact, ...)
``extra``   a relay extra-info descriptor: the last slot of its read/write history
``bw``      one relay line of a bandwidth-authority file (measured bandwidth, ``bw=``)

Times are whole seconds since the epoch (UTC).
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator

from udfs.tor_descriptors import parse_bandwidth_file, parse_extra_infos, parse_server_descriptors
from udfs.tor_docs import (
    BANDWIDTH,
    CONSENSUS,
    DOC_TYPES,
    EXCERPT_CAP,
    EXTRA,
    SERVER,
    VOTE,
    Parsed,
    Reject,
    epoch,
    reject_document,
)
from udfs.tor_netstatus import parse_network_status
from udfs.tor_recognize import detect_type, recognize

__all__ = [
    "BANDWIDTH",
    "CONSENSUS",
    "DOC_TYPES",
    "EXCERPT_CAP",
    "EXTRA",
    "SERVER",
    "VOTE",
    "Parsed",
    "Reject",
    "detect_type",
    "epoch",
    "iter_documents",
    "parse_any",
    "parse_bandwidth_file",
    "parse_document",
    "parse_extra_infos",
    "parse_network_status",
    "parse_server_descriptors",
    "recognize",
]


def parse_document(name: str, data: bytes) -> Parsed:
    """Parse one document of any supported type. Never raises on bad data.

    Args:
        name: where the document came from (recorded in records and rejects).
        data: the document's bytes.
    """
    found = recognize(name, data)
    if found.skip is not None:
        return Parsed(skipped={found.skip: found.count})
    doc_type = found.doc_type
    if doc_type is None:
        return Parsed(
            rejects=[
                reject_document(
                    name,
                    data,
                    "not_a_tor_document",
                    "no @type line and no known first keyword (network-status-version, router, "
                    "extra-info, dir-key-certificate-version, onion-key, or a bandwidth-file "
                    "timestamp) after any @annotation lines",
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
        return Parsed(rejects=[reject_document(name, data, "parser_error", repr(exc), doc_type)])


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
        return Parsed(rejects=[reject_document(name, data, "bad_archive", repr(exc), "unknown")])
    for member_name, member in documents:
        out.extend(parse_document(member_name, member))
    return out
