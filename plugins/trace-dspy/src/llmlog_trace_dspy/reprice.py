"""``llmlog reprice`` for dspy-format traces: each ``llm_call`` line's ``usage`` priced again.

A line is re-encoded only when its call's ``usage`` changed, and then as the writer encodes it:
the envelope's keys in the order they came, ``data`` with its keys sorted at every level (the
order dspy-go's encoder gives maps), text outside ASCII as ``\\u`` escapes. Every other line is
kept byte for byte by the command.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from llmlog.ext import PriceUsage, escape_json_bytes, serializer
from llmlog_trace_dspy.format import parse_timestamp

__all__ = ["reprice"]


def reprice(lines: Iterable[bytes], price: PriceUsage) -> Iterator[bytes | None]:
    """For each line, the line with its LLM call priced again by ``price``, or ``None`` when it
    is no ``llm_call`` with a ``usage`` object (or cannot be read) or its ``usage`` came out the
    same."""
    for line in lines:
        yield _repriced(line, price)


def _repriced(line: bytes, price: PriceUsage) -> bytes | None:
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(record, dict) or record.get("type") != "llm_call":
        return None
    data = record.get("data")
    usage = data.get("usage") if isinstance(data, dict) else None
    if not isinstance(data, dict) or not isinstance(usage, dict):
        return None
    before = dict(usage)
    price(usage, _text(data.get("provider")), _text(data.get("model")), _when(record))
    if usage == before:
        return None
    return _encode(record)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _when(record: dict[str, Any]) -> int | None:
    """When the call was made, for an override's ``valid_from``; ``None``: not said."""
    stamp = record.get("timestamp")
    if not isinstance(stamp, str):
        return None
    try:
        return parse_timestamp(stamp)
    except ValueError:
        return None


def _encode(record: dict[str, Any]) -> bytes:
    dumps = serializer.dumps
    parts = [
        dumps(key) + b":" + dumps(value, sort_keys=key == "data") for key, value in record.items()
    ]
    line = b"{" + b",".join(parts) + b"}"
    return line if line.isascii() and 0x7F not in line else escape_json_bytes(line)
