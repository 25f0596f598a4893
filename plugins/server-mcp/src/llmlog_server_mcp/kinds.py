"""What a file is, from its first line: a trace (its format's name), a flight snapshot, llmlog
JSON log lines, or nothing the server shows."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

__all__ = ["kind_of"]


def kind_of(path: Path, formats: Mapping[str, Any]) -> str | None:
    """``"dspy"``, ``"rlm"`` (any installed trace format's name), ``"flight snapshot"``,
    ``"llmlog JSON log"``, or ``None``."""
    try:
        with path.open("rb") as fh:
            first = fh.readline(1 << 20)
    except OSError:
        return None
    if not first.strip():
        return None
    for name, component in sorted(formats.items()):
        detect = component.support.detect
        try:
            if detect is not None and detect(first):
                return str(name)
        except Exception:  # a format's detect() that raises does not recognise the file
            continue
    from llmlog_engine_flight.snapshot import KNOWN_BACKENDS

    if any(first.startswith(magic) for magic in KNOWN_BACKENDS) or (
        first.lstrip().startswith(b"{") and b'"llmlog-flight"' in first
    ):
        return "flight snapshot"
    try:
        record = orjson.loads(first)
    except orjson.JSONDecodeError:
        return None
    if isinstance(record, dict) and "level" in record and "message" in record:
        return "llmlog JSON log"
    return None
