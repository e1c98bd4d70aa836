"""Relay descriptors and bandwidth files: ``server``, ``extra`` and ``bw`` records.

A file may concatenate several descriptors, each optionally preceded by annotation lines
(``@type`` in CollecTor; ``@downloaded-at``, ``@source``, ``@purpose`` in tor's own
cached-descriptors / cached-extrainfo): each descriptor is parsed on its own with its
annotations, so one broken descriptor rejects only itself.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Iterator
from typing import Any

import stem.descriptor

from udfs.tor_docs import (
    BANDWIDTH,
    EXTRA,
    MIN_TIME,
    SERVER,
    Parsed,
    Reject,
    as_text,
    cap,
    epoch,
    error_line,
    line_of,
    reject_document,
    unknown_keyword_rejects,
)

_FAMILY_FP = re.compile(r"^\$([0-9A-Fa-f]{40})(?:[=~].*)?$")


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
            reject_document(
                name,
                data,
                "malformed_document",
                f"no {first_keyword.decode().strip()!r} line",
                doc_type,
            ),
        )
        return
    for start, part in parts:
        # stem skips annotations before server descriptors but not before extra-info ones
        # (tor's cached-extrainfo has them): the job does not use them, so stem never sees them
        body = b"".join(
            line for line in part.splitlines(keepends=True) if not line.startswith(b"@")
        )
        try:
            descriptor = next(
                stem.descriptor.parse_file(
                    io.BytesIO(body), descriptor_type=doc_type, validate=True
                )
            )
            yield start, part, descriptor, None
        except Exception as exc:  # noqa: BLE001
            line, text = error_line(part, str(exc))
            yield (
                start,
                part,
                None,
                Reject(
                    name,
                    (start + line - 1) if line else start,
                    "malformed_descriptor",
                    str(exc),
                    cap(text or part.split(b"\n", 1)[0].decode("utf-8", "replace")),
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
            line = line_of(part, b"uptime ")
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
                "contact": as_text(desc.contact),
                "family": _family(desc.family),
                "version": str(desc.tor_version) if desc.tor_version else "",
                "platform": as_text(desc.platform),
            }
        )
        out.rejects.extend(
            unknown_keyword_rejects(
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
            unknown_keyword_rejects(
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
        line, text = error_line(data, str(exc))
        return Parsed(
            rejects=[Reject(name, line, "malformed_bandwidth_file", str(exc), cap(text), BANDWIDTH)]
        )
    measured_at = epoch(document.timestamp)
    if measured_at is None or measured_at < MIN_TIME:
        return Parsed(
            rejects=[
                reject_document(
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
                    line_of(data, needle),
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
