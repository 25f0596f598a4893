"""The text formatter."""

from __future__ import annotations

import attrs

from llmlog import Formatter, LogEntry
from llmlog.ext import (
    continuation_lines,
    escape,
    format_cost,
    format_fields,
    rfc3339_local,
    rfc3339_utc,
    usage_detail_text,
)

__all__ = ["TextFormatter", "TextOptions"]


@attrs.frozen(kw_only=True)
class TextOptions:
    """Options of the ``text`` formatter."""

    #: Start each line with an RFC 3339 timestamp.
    include_timestamp: bool = True
    #: Show ``[file:line]`` of the logging call.
    include_location: bool = True
    #: Timestamps in UTC (``…Z``) rather than local time with its offset.
    utc: bool = False


class TextFormatter(Formatter):
    """Formats entries as dspy-go style text lines (see the package docstring)."""

    def __init__(self, options: TextOptions | None = None) -> None:
        opts = options or TextOptions()
        self._timestamp = opts.include_timestamp
        self._location = opts.include_location
        self._clock = rfc3339_utc if opts.utc else rfc3339_local

    def format(self, entry: LogEntry) -> str:
        parts = []
        if self._timestamp:
            parts.append(self._clock(entry.time))
        parts.append(f"[{entry.severity.name}]")
        parts.append(escape(entry.message))
        if self._location and entry.file:
            parts.append(f"[{escape(entry.file)}:{entry.line}]")
        if entry.logger:
            parts.append(f"[logger={escape(entry.logger)}]")
        if entry.trace_id:
            parts.append(f"[traceId={escape(entry.trace_id)}]")
        if entry.span_id:
            parts.append(f"[spanId={escape(entry.span_id)}]")
        if entry.model_id:
            parts.append(f"[model={escape(entry.model_id)}]")
        usage = entry.token_info
        if usage is not None:
            parts.append(
                f"[tokens={usage.prompt_tokens}/{usage.completion_tokens}"
                f"{usage_detail_text(usage)}]"
            )
        if entry.latency_ms is not None:
            parts.append(f"[latency={entry.latency_ms}ms]")
        if entry.cost is not None:
            parts.append(f"[cost={format_cost(entry.cost)}]")
        elif usage is not None and usage.cost is not None:
            source = f" {escape(usage.cost_source)}" if usage.cost_source else ""
            parts.append(f"[cost={format_cost(usage.cost)}{source}]")
        elif usage is not None and usage.cost_unknown:
            parts.append("[cost=unknown]")
        if entry.fields:
            parts.append(format_fields(entry.fields, strict=False))
        line = " ".join(parts)
        return line + continuation_lines(entry.exception) if entry.exception else line
