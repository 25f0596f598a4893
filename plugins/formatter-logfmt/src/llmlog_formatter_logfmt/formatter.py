"""The logfmt formatter, and a parser for what it writes."""

from __future__ import annotations

from typing import Any

import attrs

from llmlog import Formatter, LogEntry, Severity
from llmlog.ext import (
    SEVERITY_NAMES,
    EntryCode,
    escape,
    format_fields,
    format_value,
    quote_if_needed,
    rfc3339_utc,
    safe_field_items,
    usage_details,
)

__all__ = ["RESERVED_KEYS", "LogfmtFormatter", "LogfmtOptions", "parse_line"]

RESERVED_KEYS = frozenset(
    {
        "time",
        "level",
        "msg",
        "logger",
        "caller",
        "function",
        "trace_id",
        "span_id",
        "model",
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "cache_read_tokens",
        "cache_creation_tokens",
        "reasoning_tokens",
        "audio_tokens",
        "image_tokens",
        "token_cost",
        "cost_source",
        "cost_unknown",
        "latency_ms",
        "cost",
        "exception",
    }
)


@attrs.frozen(kw_only=True)
class LogfmtOptions:
    """Options of the ``logfmt`` formatter."""

    #: Include ``caller=file:line`` and ``function=…``.
    include_caller: bool = True


class LogfmtFormatter(Formatter):
    """Formats entries as logfmt lines (see the package docstring)."""

    def __init__(self, options: LogfmtOptions | None = None) -> None:
        self._caller = (options or LogfmtOptions()).include_caller
        if type(self).format is LogfmtFormatter.format:
            # Only where the lines are this class's: a subclass's own format() is honoured.
            self.line_from_parts = _line_from_parts(self._caller, self.format)
            caller = self._caller
            self.line_code = lambda severity: _line_code(caller, severity)

    def format(self, entry: LogEntry) -> str:
        pairs: list[tuple[str, Any]] = [
            ("time", rfc3339_utc(entry.time)),
            ("level", entry.severity.name.lower()),
            ("msg", entry.message),
        ]
        if entry.logger:
            pairs.append(("logger", entry.logger))
        if self._caller and entry.file:
            pairs.append(("caller", f"{entry.file}:{entry.line}"))
            pairs.append(("function", entry.function))
        if entry.trace_id:
            pairs.append(("trace_id", entry.trace_id))
        if entry.span_id:
            pairs.append(("span_id", entry.span_id))
        if entry.model_id:
            pairs.append(("model", entry.model_id))
        usage = entry.token_info
        if usage is not None:
            pairs += [
                ("prompt_tokens", usage.prompt_tokens),
                ("completion_tokens", usage.completion_tokens),
                ("total_tokens", usage.total_tokens),
            ]
            if usage.has_details:
                pairs += usage_details(usage)
            if usage.cost is not None:
                pairs.append(("token_cost", usage.cost))
                if usage.cost_source:
                    pairs.append(("cost_source", usage.cost_source))
            elif usage.cost_unknown:
                pairs.append(("cost_unknown", usage.cost_unknown))
        if entry.latency_ms is not None:
            pairs.append(("latency_ms", entry.latency_ms))
        if entry.cost is not None:
            pairs.append(("cost", entry.cost))
        if entry.exception:
            pairs.append(("exception", entry.exception))
        if entry.fields:
            pairs.extend(safe_field_items(entry.fields, RESERVED_KEYS))
        return format_fields(pairs)


_NS_LOW, _NS_HIGH = 10**18, 10**19  # 19-digit nanosecond times (2001-2286)
_INT_LIMIT = 1 << 1024  # format_value writes larger integers as a size marker
_SPECIAL = frozenset(' ="\\')  # quote_if_needed quotes a value holding one of these


def _line_from_parts(include_caller: bool, format_entry: Any) -> Any:
    """:attr:`~llmlog.Formatter.line_from_parts` of a logfmt formatter: the line of an entry
    given as its parts, with its newline, the same bytes as ``format_bytes`` + newline.

    The common entry (no logger name, trace, span, model, tokens, latency, cost or exception) is
    built here: the timestamp's second cached, each key rendered once, and each value tested once
    (printable, nothing to quote) before the escaping and quoting functions are called for what
    needs them; any other goes through :meth:`LogfmtFormatter.format` on a ``LogEntry``.
    """
    levels = {s: f"level={name}" for s, name in zip(Severity, SEVERITY_NAMES, strict=True)}
    special, limit, reserved = _SPECIAL, _INT_LIMIT, RESERVED_KEYS
    keys: dict[str, str] = {}  # a field's key as written (field.<key> if reserved), with "="
    cache = (0, 0, "")  # (start, end, "time=YYYY-MM-DDTHH:MM:SS") of the last entry's second

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
        cached = cache
        if cached[0] <= time < cached[1]:
            stamp = f"{cached[2]}.{str(time)[10:16]}Z"
        else:
            stamp = f"time={rfc3339_utc(time)}"
            if _NS_LOW <= time < _NS_HIGH:
                start = time - time % 1_000_000_000
                cache = (start, start + 1_000_000_000, stamp[:24])
        if not (message and message.isprintable() and special.isdisjoint(message)):
            message = quote_if_needed(escape(message))
        parts = [stamp, levels[severity], f"msg={message}"]
        if include_caller and file:
            caller = f"{file}:{line}"
            if not (caller.isprintable() and special.isdisjoint(caller)):
                caller = quote_if_needed(escape(caller))
            if not (function and function.isprintable() and special.isdisjoint(function)):
                function = quote_if_needed(escape(function))
            parts.append(f"caller={caller} function={function}")
        if fields:
            for key, value in fields.items():
                key_text = keys.get(key) if type(key) is str else None
                if key_text is None:
                    name = f"field.{key}" if key in reserved else key
                    key_text = f"{quote_if_needed(escape(str(name)))}="
                    if type(key) is str and len(keys) < 1000:
                        keys[key] = key_text
                kind = type(value)
                if kind is str:
                    if not (value and value.isprintable() and special.isdisjoint(value)):
                        value = quote_if_needed(escape(value))
                elif kind is int and -limit < value < limit:
                    value = str(value)
                else:
                    value = quote_if_needed(format_value(value))
                parts.append(key_text + value)
        return (" ".join(parts) + "\n").encode("utf-8", "backslashreplace")

    return line


def _line_code(include_caller: bool, severity: Severity) -> EntryCode:
    """:attr:`~llmlog.Formatter.line_code` of a logfmt formatter: ``_line_from_parts``' common
    entry inline (the same statements, less the escaping that printable ASCII strings never need:
    a property test compares the lines); inside a trace's context too, with ``trace_id`` and
    ``span_id`` after the caller, as :meth:`LogfmtFormatter.format` writes them."""
    caller = ""
    if include_caller:
        caller = """
        if file:
            l_caller = f"{file}:{line}"
            if not l_special.isdisjoint(l_caller):
                l_caller = l_quote(l_escape(l_caller))
            if not (function and l_special.isdisjoint(function)):
                function = l_quote(l_escape(function))
            l_parts.append(f"caller={l_caller} function={function}")
        """
    head = (
        """
        l_cached = l_cache
        if l_cached[0] <= ns < l_cached[1]:
            l_stamp = f"{l_cached[2]}.{str(ns)[10:16]}Z"
        else:
            l_stamp = f"time={l_utc(ns)}"
            if l_low <= ns < l_high:
                l_start = ns - ns % 1_000_000_000
                l_cache = (l_start, l_start + 1_000_000_000, l_stamp[:24])
        if not (message and l_special.isdisjoint(message)):
            message = l_quote(l_escape(message))
        l_parts = [l_stamp, l_level, f"msg={message}"]
        if logger:
            l_parts.append(
                f"logger={logger}"
                if l_special.isdisjoint(logger)
                else f"logger={l_quote(l_escape(logger))}"
            )
        """
        + caller
    )
    # The ids are printable ASCII (see EntryCode); quoted, as any value, when they hold a space,
    # "=", a quote or a backslash.
    ids = """
        if trace_id:
            l_parts.append(
                f"trace_id={trace_id}"
                if l_special.isdisjoint(trace_id)
                else f"trace_id={l_quote(l_escape(trace_id))}"
            )
        if span_id:
            l_parts.append(
                f"span_id={span_id}"
                if l_special.isdisjoint(span_id)
                else f"span_id={l_quote(l_escape(span_id))}"
            )
        """
    tail = """
        for l_key, l_value in fields.items():
            l_key_text = l_keys.get(l_key)
            if l_key_text is None:
                l_name = f"field.{l_key}" if l_key in l_reserved else l_key
                l_key_text = f"{l_quote(l_escape(l_name))}="
                if len(l_keys) < 1000:
                    l_keys[l_key] = l_key_text
            l_kind = type(l_value)
            if l_kind is str:
                if not (l_value and l_special.isdisjoint(l_value)):
                    l_value = l_quote(l_escape(l_value))
            elif l_kind is int and -l_limit < l_value < l_limit:
                l_value = str(l_value)
            else:
                l_value = l_quote(l_format_value(l_value))
            l_parts.append(l_key_text + l_value)
        data = (" ".join(l_parts) + "\\n").encode("utf-8", "backslashreplace")
        """
    return EntryCode(
        line=head + tail,
        line_traced=head + ids + tail,
        namespace={
            "l_utc": rfc3339_utc,
            "l_level": f"level={SEVERITY_NAMES[list(Severity).index(severity)]}",
            "l_low": _NS_LOW,
            "l_high": _NS_HIGH,
            "l_escape": escape,
            "l_quote": quote_if_needed,
            "l_format_value": format_value,
            "l_special": _SPECIAL,
            "l_limit": _INT_LIMIT,
            "l_keys": {},
            "l_reserved": RESERVED_KEYS,
        },
        setup='l_cache = (0, 0, "")',
        state=("l_cache",),
    )


def parse_line(line: str) -> dict[str, str]:
    """Parse one logfmt line into ``{key: raw value}`` (quotes removed, ``\\"``/``\\\\`` undone).

    Control-character escapes such as ``\\n`` stay as written: they are part of the value's text.

    :raises ValueError: on a line that is not logfmt (naming the column).
    """
    out: dict[str, str] = {}
    i, n = 0, len(line)
    while i < n:
        while i < n and line[i] == " ":
            i += 1
        if i >= n:
            break
        key_end = i
        while key_end < n and line[key_end] not in "= ":
            key_end += 1
        if key_end >= n or line[key_end] != "=" or key_end == i:
            raise ValueError(f"expected key=value at column {i + 1}")
        key, i = line[i:key_end], key_end + 1
        if i < n and line[i] == '"':
            i += 1
            chars: list[str] = []
            while True:
                if i >= n:
                    raise ValueError(f"unterminated quoted value for {key!r}")
                ch = line[i]
                if ch == "\\" and i + 1 < n and line[i + 1] in '"\\':
                    chars.append(line[i + 1])
                    i += 2
                elif ch == '"':
                    i += 1
                    break
                else:
                    chars.append(ch)
                    i += 1
            value = "".join(chars)
        else:
            end = line.find(" ", i)
            end = n if end < 0 else end
            value, i = line[i:end], end
        out[key] = value
    return out
