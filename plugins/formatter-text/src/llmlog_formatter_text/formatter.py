"""The text formatter."""

from __future__ import annotations

from typing import Any

import attrs

from llmlog import Formatter, LogEntry, Severity
from llmlog.ext import (
    LEVEL_NAMES,
    EntryCode,
    continuation_lines,
    escape,
    format_cost,
    format_fields,
    format_value,
    quote_if_needed,
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
        if type(self).format is TextFormatter.format:
            # Only where the lines are this class's: a subclass's own format() is honoured.
            self.line_from_parts = _line_from_parts(opts, self.format)
            self.line_code = lambda severity: _line_code(opts, severity)

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


_NS_LOW, _NS_HIGH = 10**18, 10**19  # 19-digit nanosecond times (2001-2286)
_INT_LIMIT = 1 << 1024  # format_value writes larger integers as a size marker
_SPECIAL = frozenset(' ="')  # quote_if_needed(strict=False) quotes a value holding one of these


def _line_from_parts(opts: TextOptions, format_entry: Any) -> Any:
    """:attr:`~llmlog.Formatter.line_from_parts` of a text formatter: the line of an entry given
    as its parts, with its newline, the same bytes as ``format_bytes`` + newline.

    The common entry (no logger name, trace, span, model, tokens, latency, cost or exception) is
    built here: the timestamp's second cached, and each string tested once (printable, nothing
    to quote) before the escaping and quoting functions are called for what needs them; any
    other goes through :meth:`TextFormatter.format` on a ``LogEntry`` of the parts.
    """
    with_time, location = opts.include_timestamp, opts.include_location
    clock = rfc3339_utc if opts.utc else rfc3339_local
    digits = 16 if opts.utc else 13  # microseconds in UTC, milliseconds in local time
    levels = {severity: f"[{name}]" for severity, name in LEVEL_NAMES.items()}
    special, limit = _SPECIAL, _INT_LIMIT
    keys: dict[str, str] = {}  # a field's key as written, with its "="
    # (start, end, "YYYY-MM-DDTHH:MM:SS", zone) of the last entry's second, in nanoseconds.
    cache = (0, 0, "", "")

    def line(
        time: int,
        severity: Severity,
        message: str,
        file: str,
        line: int,
        function: str,
        trace_id: str | None,
        span_id: str | None,
        model_id: str | None,
        token_info: Any,
        latency_ms: float | None,
        cost: float | None,
        fields: Any,
        logger: str,
        exception: str | None,
    ) -> bytes:
        nonlocal cache
        if (trace_id or span_id or model_id or logger or exception) or not (
            token_info is None and latency_ms is None and cost is None
        ):
            text: str = format_entry(
                LogEntry(
                    time, severity, message, file, line, function, trace_id, span_id,
                    model_id, token_info, latency_ms, cost, fields, logger, exception,
                )
            )  # fmt: skip
            return (text + "\n").encode("utf-8", "backslashreplace")
        parts = []
        if with_time:
            cached = cache
            if cached[0] <= time < cached[1]:
                parts.append(f"{cached[2]}.{str(time)[10:digits]}{cached[3]}")
            else:
                stamp = clock(time)
                parts.append(stamp)
                if _NS_LOW <= time < _NS_HIGH:
                    start = time - time % 1_000_000_000
                    cache = (start, start + 1_000_000_000, stamp[:19], stamp[digits + 10 :])
        parts.append(levels[severity])
        parts.append(message if message.isprintable() else escape(message))
        if location and file:
            parts.append(f"[{file if file.isprintable() else escape(file)}:{line}]")
        if fields:
            for key, value in fields.items():
                key_text = keys.get(key) if type(key) is str else None
                if key_text is None:
                    key_text = f"{quote_if_needed(escape(str(key)), strict=False)}="
                    if type(key) is str and len(keys) < 1000:
                        keys[key] = key_text
                kind = type(value)
                if kind is str:
                    if not (value and value.isprintable() and special.isdisjoint(value)):
                        value = quote_if_needed(escape(value), strict=False)
                elif kind is int and -limit < value < limit:
                    value = str(value)
                else:
                    value = quote_if_needed(format_value(value), strict=False)
                parts.append(key_text + value)
        return (" ".join(parts) + "\n").encode("utf-8", "backslashreplace")

    return line


def _line_code(opts: TextOptions, severity: Severity) -> EntryCode:
    """:attr:`~llmlog.Formatter.line_code` of a text formatter: ``_line_from_parts``' common
    entry inline, with its options fixed (the same statements, less the escaping that printable
    ASCII strings never need: a property test compares the lines); inside a trace's context too,
    with ``[traceId=…]`` and ``[spanId=…]`` after the logger's name, as :meth:`TextFormatter.format`
    writes them."""
    digits = 16 if opts.utc else 13
    stamp = ""
    if opts.include_timestamp:
        stamp = f"""
        t_cached = t_cache
        if t_cached[0] <= ns < t_cached[1]:
            t_parts = [f"{{t_cached[2]}}.{{str(ns)[10:{digits}]}}{{t_cached[3]}}", t_level]
        else:
            t_stamp = t_clock(ns)
            t_parts = [t_stamp, t_level]
            if t_low <= ns < t_high:
                t_start = ns - ns % 1_000_000_000
                t_cache = (t_start, t_start + 1_000_000_000, t_stamp[:19], t_stamp[{digits + 10}:])
        """
    else:
        stamp = """
        t_parts = [t_level]
        """
    location = ""
    if opts.include_location:
        location = """
        if file:
            t_parts.append(f"[{file}:{line}]")
        """
    head = (
        stamp
        + """
        t_parts.append(message)
        """
        + location
        + """
        if logger:
            t_parts.append(f"[logger={logger}]")
        """
    )
    # The ids are printable ASCII (see EntryCode): escape() leaves them as they are.
    ids = """
        if trace_id:
            t_parts.append(f"[traceId={trace_id}]")
        if span_id:
            t_parts.append(f"[spanId={span_id}]")
        """
    tail = """
        for t_key, t_value in fields.items():
            t_key_text = t_keys.get(t_key)
            if t_key_text is None:
                t_key_text = f"{t_quote(t_escape(t_key), strict=False)}="
                if len(t_keys) < 1000:
                    t_keys[t_key] = t_key_text
            t_kind = type(t_value)
            if t_kind is str:
                if not (t_value and t_special.isdisjoint(t_value)):
                    t_value = t_quote(t_escape(t_value), strict=False)
            elif t_kind is int and -t_limit < t_value < t_limit:
                t_value = str(t_value)
            else:
                t_value = t_quote(t_format_value(t_value), strict=False)
            t_parts.append(t_key_text + t_value)
        data = (" ".join(t_parts) + "\\n").encode("utf-8", "backslashreplace")
        """
    return EntryCode(
        line=head + tail,
        line_traced=head + ids + tail,
        namespace={
            "t_clock": rfc3339_utc if opts.utc else rfc3339_local,
            "t_level": f"[{LEVEL_NAMES[severity]}]",
            "t_low": _NS_LOW,
            "t_high": _NS_HIGH,
            "t_escape": escape,
            "t_quote": quote_if_needed,
            "t_format_value": format_value,
            "t_special": _SPECIAL,
            "t_limit": _INT_LIMIT,
            "t_keys": {},
        },
        setup='t_cache = (0, 0, "", "")',
        state=("t_cache",),
    )
