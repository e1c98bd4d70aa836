"""Seeded random mutations of the real fixture events: byte flips, field deletions, type swaps,
truncations (and a few combinations of them).

Every mutated event first gets an id of its own (``mut-<seed>-<n>``), so accepted mutants are
not folded into the original delivery by the deduplication window: each accepted line must show
up as its own raw_events row (unless a mutation removed or changed the id, which the accounting
follows through the same deduplication key the job uses). Deterministic for a seed.
"""

from __future__ import annotations

import json
import random
from typing import Any

from jobs.naap import sample

KINDS = ("byte_flip", "field_deletion", "type_swap", "truncation", "combined")

# Values a field is swapped to: every JSON type, numbers as text, the text the parser must refuse.
SWAPS: tuple[Any, ...] = (
    None, True, False, 0, -1, 1.5, 2**63, -(2**63) - 1, 1e308, "", "x", "12", " 12 ", "1.5",
    "NaN", "Infinity", "-0", "1e3", "0x1p3", "1d", "+5", "++5", "١٢", [], [1, "a"], {}, {"k": "v"},
    "\u0000\u001f", "caf\u00e9 \u2603 \U0001f600",
)


def real_events() -> list[dict[str, Any]]:
    """Every real fixture envelope (decoded)."""
    return [json.loads(line) for line in sample.fixture_lines()]


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path into a decoded document (objects and arrays)."""
    out = []
    if isinstance(node, dict):
        for key, value in node.items():
            out.append(prefix + (key,))
            out.extend(_paths(value, prefix + (key,)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out.append(prefix + (index,))
            out.extend(_paths(value, prefix + (index,)))
    return out


def _parent(doc: Any, path: tuple[Any, ...]) -> Any:
    for key in path[:-1]:
        doc = doc[key]
    return doc


def delete_field(rng: random.Random, event: dict[str, Any]) -> str:
    paths = [p for p in _paths(event) if not isinstance(p[-1], int)]
    path = rng.choice(paths)
    parent = _parent(event, path)
    del parent[path[-1]]
    return json.dumps(event)


def swap_type(rng: random.Random, event: dict[str, Any]) -> str:
    paths = _paths(event)
    # Half the swaps hit the envelope and the typed fields the parser reads.
    typed = [p for p in paths if p[0] in ("id", "type", "timestamp", "gateway", "data") and len(p) <= 4]
    path = rng.choice(typed if typed and rng.random() < 0.5 else paths)
    parent = _parent(event, path)
    value = rng.choice(SWAPS)
    if path == ("data",) and rng.random() < 0.5:
        value = json.dumps(parent["data"])  # data sent as a JSON string: still valid
    parent[path[-1]] = value
    return json.dumps(event, ensure_ascii=rng.random() < 0.5)


def flip_bytes(rng: random.Random, line: str) -> bytes:
    """One to three flipped bits; never a line break (that would be two records: the
    corpus has its own cases for control characters)."""
    data = bytearray(line.encode())
    for _ in range(rng.randint(1, 3)):
        position = rng.randrange(len(data))
        flipped = data[position] ^ (1 << rng.randrange(8))
        if flipped not in (0x0A, 0x0D):
            data[position] = flipped
    return bytes(data)


def truncate(rng: random.Random, line: str) -> str:
    return line[: rng.randrange(len(line))]


def mutate(rng: random.Random, event: dict[str, Any], kind: str) -> bytes:
    """One mutant line (bytes: a flip may leave invalid UTF-8 or a raw newline)."""
    event = json.loads(json.dumps(event))
    if kind == "byte_flip":
        return flip_bytes(rng, json.dumps(event))
    if kind == "field_deletion":
        return delete_field(rng, event).encode()
    if kind == "type_swap":
        return swap_type(rng, event).encode()
    if kind == "truncation":
        return truncate(rng, json.dumps(event)).encode()
    line = swap_type(rng, event) if rng.random() < 0.5 else delete_field(rng, event)
    return flip_bytes(rng, line) if rng.random() < 0.5 else truncate(rng, line).encode()


def mutants(count: int, seed: int) -> list[tuple[str, bytes]]:
    """``count`` (kind, line) mutants of the real events, with fresh ids, for one seed."""
    rng = random.Random(seed)
    events = real_events()
    out = []
    for n in range(count):
        event = dict(rng.choice(events))
        event["id"] = f"mut-{seed}-{n}"
        kind = KINDS[n % len(KINDS)]
        out.append((kind, mutate(rng, event, kind)))
    return out
