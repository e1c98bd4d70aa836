"""Jackson's JSON reading and Java's number parsing, as the reference parser needs them.

Python's json module with hooks for what Jackson does differently (NaN/Infinity literals,
repeated keys, its nesting, number and key length limits; numbers kept exact), and
``Double.parseDouble`` / ``Long.parseLong`` after ``String.trim`` spelled out. Used by
tests/reliability/reference.py.
"""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from decimal import Decimal, InvalidOperation
from typing import Any

LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1
INT_MIN, INT_MAX = -(2**31), 2**31 - 1

# Jackson's default StreamReadConstraints (Flink 2.3 shades jackson-core 2.20).
MAX_NESTING_DEPTH = 1000
MAX_NUMBER_CHARS = 1000
MAX_KEY_CHARS = 50_000


class _Invalid(ValueError):
    """Not a document Jackson would accept."""


class _Duplicate(ValueError):
    """A key repeated in one object."""


# ---- JSON as Jackson reads it ---------------------------------------------------------------


def _constant(name: str) -> Any:
    raise _Invalid(f"non-standard number {name}")


def _integer(text: str) -> int:
    if len(text.lstrip("-")) > MAX_NUMBER_CHARS:
        raise _Invalid("number too long")
    return int(text)


def _decimal(text: str) -> Decimal:
    if len(text) > MAX_NUMBER_CHARS:
        raise _Invalid("number too long")
    value = Decimal(text)
    # BigDecimal: the scale is an int.
    if abs(value.as_tuple().exponent) > 2_000_000_000:  # type: ignore[arg-type]
        raise _Invalid("exponent out of range")
    return value


def _pairs(strict: bool) -> Any:
    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if len(key) > MAX_KEY_CHARS:
                raise _Invalid("key too long")
            if strict and key in out:
                raise _Duplicate(key)
            out[key] = value  # Jackson without the check keeps the last value
        return out

    return hook


def _depth(text: str) -> int:
    """Largest nesting of objects/arrays outside strings (a scan, no recursion)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def _loads(text: str, strict: bool) -> Any:
    try:
        return json.loads(
            text, parse_constant=_constant, parse_int=_integer, parse_float=_decimal,
            object_pairs_hook=_pairs(strict),
        )
    except (_Invalid, json.JSONDecodeError, RecursionError, InvalidOperation, ValueError) as error:
        if isinstance(error, _Duplicate):
            raise
        raise _Invalid(str(error)) from None


def read(text: str) -> Any:
    """The document, or the reason (a str in a 1-tuple) it is not one:
    ``("malformed_json",)`` or ``("duplicate_key",)``. Malformed anywhere beats a repeated key."""
    if not text.strip(" \t\r\n") or _depth(text) > MAX_NESTING_DEPTH:
        return ("malformed_json",)
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 4 * MAX_NESTING_DEPTH + 1000))
    try:
        try:
            return _loads(text, strict=True)
        except _Duplicate:
            try:
                _loads(text, strict=False)
            except _Invalid:
                return ("malformed_json",)
            return ("duplicate_key",)
        except _Invalid:
            return ("malformed_json",)
    finally:
        sys.setrecursionlimit(limit)


# ---- JSON_VALUE / TRY_CAST semantics ------------------------------------------------------


def big_decimal_text(value: Decimal) -> str:
    """java.math.BigDecimal#toString (the same scientific-notation rule as Python's, but
    BigDecimal has no negative zero)."""
    if value.is_zero():
        value = abs(value)
    return str(value)


def scalar(node: Any) -> str | None:
    """A scalar as text (Jackson's asText); None for null, missing or a container."""
    if node is None or isinstance(node, dict | list):
        return None
    if isinstance(node, bool):
        return "true" if node else "false"
    if isinstance(node, Decimal):
        return big_decimal_text(node)
    return str(node)


def text(node: Any) -> str:
    value = scalar(node)
    return "" if value is None else value


def scalar_or_json(node: Any) -> str | None:
    """A container as compact JSON (Jackson's toString), a scalar as text."""
    if isinstance(node, dict | list):
        return jackson_json(node)
    return scalar(node)


def jackson_json(node: Any) -> str:
    """Compact JSON as Jackson writes a tree (numbers as parsed, non-ASCII unescaped)."""
    if isinstance(node, dict):
        return "{" + ",".join(f"{_quote(k)}:{jackson_json(v)}" for k, v in node.items()) + "}"
    if isinstance(node, list):
        return "[" + ",".join(jackson_json(v) for v in node) + "]"
    if node is None:
        return "null"
    if isinstance(node, str):
        return _quote(node)
    return scalar(node) or ""


def _quote(value: str) -> str:
    out = ['"']
    for ch in value:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif code < 0x20:
            short = {"\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(ch)
            out.append(short or f"\\u{code:04X}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


_JAVA_WS = "".join(chr(c) for c in range(0x21))
_DIGITS = r"[0-9]+"
_EXP = rf"[eE][+-]?{_DIGITS}"
_JAVA_DOUBLE = re.compile(
    rf"[+-]?(NaN|Infinity|(({_DIGITS}\.?(?:[0-9]*)(?:{_EXP})?|\.{_DIGITS}(?:{_EXP})?)"
    rf"|(0[xX][0-9a-fA-F]+\.?|0[xX][0-9a-fA-F]*\.[0-9a-fA-F]+)[pP][+-]?{_DIGITS})[fFdD]?)"
)


def to_double(value: str | None) -> float | None:
    """Double.parseDouble(value.trim()), finite values only."""
    if value is None:
        return None
    s = value.strip(_JAVA_WS)
    match = _JAVA_DOUBLE.fullmatch(s)
    if not match:
        return None
    body = s.rstrip("fFdD") if match.group(2) else s
    if "NaN" in body or "Infinity" in body:
        return None
    try:
        number = float.fromhex(body) if "x" in body.lower() else float(body)
    except (ValueError, OverflowError):
        return None
    return number if number not in (float("inf"), float("-inf")) else None


def _java_digit(ch: str) -> int | None:
    """Character.digit(ch, 10) for one UTF-16 unit (supplementary digits are two units: none)."""
    if ord(ch) > 0xFFFF or unicodedata.category(ch) != "Nd":
        return None
    return unicodedata.decimal(ch)


def _parse_long(s: str) -> int | None:
    """Long.parseLong: an optional sign, then one or more (Unicode) decimal digits, in range."""
    negative = s[:1] == "-"
    digits = s[1:] if s[:1] in ("+", "-") else s
    if not digits:
        return None
    value = 0
    for ch in digits:
        digit = _java_digit(ch)
        if digit is None:
            return None
        value = value * 10 + digit
    value = -value if negative else value
    return value if LONG_MIN <= value <= LONG_MAX else None


def to_long(value: str | None) -> int | None:
    """ParseGatewayEvent.toLong: sign, digits, an optional fraction of digits (truncated)."""
    if value is None:
        return None
    s = value.strip(_JAVA_WS)
    integral, dot, fraction = s.partition(".")
    if dot and any(_java_digit(ch) is None for ch in fraction):
        return None
    if integral in ("", "+", "-"):
        return None
    return _parse_long(integral[1:] if integral.startswith("+") else integral)


def to_int(value: str | None) -> int | None:
    number = to_long(value)
    return number if number is not None and INT_MIN <= number <= INT_MAX else None


def within(value: int | None, low: int, high: int) -> int | None:
    """The value when it fits the ClickHouse column it is written to, else None."""
    return value if value is not None and low <= value <= high else None


def bad_double(node: Any) -> bool:
    value = scalar(node)
    return value is not None and to_double(value) is None
