"""What a file is, from its first line: a trace (its format's name), a flight snapshot, llmlog
JSON log lines, or nothing the server shows."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from llmlog.ext import (
    TraceInputError,
    recognising_format,
    trace_first_line,
)

__all__ = ["kind_of"]


def kind_of(path: Path, formats: Mapping[str, Any]) -> str | None:
    """``"dspy"``, ``"rlm"`` (any installed trace format's name), ``"flight snapshot"``,
    ``"llmlog JSON log"``, or ``None``."""
    try:
        first = trace_first_line(path)
    except TraceInputError:
        return None
    if not first.strip():
        return None
    found = recognising_format(first, formats)
    if found is not None:
        return str(found[0])
    from llmlog_engine_flight.snapshot import starts_like_snapshot

    if starts_like_snapshot(first):
        return "flight snapshot"
    try:
        record = orjson.loads(first)
    except orjson.JSONDecodeError:
        return None
    if isinstance(record, dict) and "level" in record and "message" in record:
        return "llmlog JSON log"
    return None
