"""The ``stdlib`` output."""

from __future__ import annotations

import logging

import attrs

from llmlog import LogEntry, Output
from llmlog.ext import FORWARDED_ATTRIBUTE

__all__ = ["StdlibOutput", "StdlibOutputOptions"]

# Attributes a LogRecord already has (or that makeRecord refuses in ``extra``).
_TAKEN = frozenset(vars(logging.LogRecord("n", logging.INFO, "p", 1, "m", (), None, "f", None))) | {
    "message",
    "asctime",
    "taskName",
    "llmlog",
    FORWARDED_ATTRIBUTE,
}


@attrs.frozen(kw_only=True)
class StdlibOutputOptions:
    """Options of the ``stdlib`` output."""

    #: Name of the standard logger to forward into; the entry's own logger name is appended
    #: (``llmlog.app.qa``) so standard per-logger levels and handlers apply.
    logger: str = "llmlog"


class StdlibOutput(Output):
    """Forwards each entry to ``logging.getLogger(prefix + "." + entry.logger)``."""

    def __init__(self, options: StdlibOutputOptions | None = None) -> None:
        self._prefix = (options or StdlibOutputOptions()).logger

    def _target(self, entry: LogEntry) -> logging.Logger:
        if entry.logger and self._prefix:
            return logging.getLogger(f"{self._prefix}.{entry.logger}")
        return logging.getLogger(entry.logger or self._prefix or None)

    def write(self, entry: LogEntry) -> None:
        target = self._target(entry)
        level = int(entry.severity)
        if not target.isEnabledFor(level):
            return
        context = {
            "fields": dict(entry.fields),
            "model_id": entry.model_id,
            "trace_id": entry.trace_id,
            "span_id": entry.span_id,
            "token_info": attrs.asdict(entry.token_info) if entry.token_info else None,
            "latency_ms": entry.latency_ms,
            "cost": entry.cost,
        }
        extra = {k: v for k, v in entry.fields.items() if k not in _TAKEN}
        extra["llmlog"] = context
        extra[FORWARDED_ATTRIBUTE] = True
        record = target.makeRecord(
            target.name,
            level,
            entry.file,
            entry.line,
            entry.message,
            (),
            None,
            func=entry.function or None,
            extra=extra,
        )
        seconds = entry.time / 1e9
        record.created = seconds
        record.msecs = (entry.time // 1_000_000) % 1000
        record.relativeCreated = (seconds - logging._startTime) * 1000  # type: ignore[attr-defined]
        record.filename = entry.file
        if entry.exception:
            record.exc_text = entry.exception
        target.handle(record)
