"""The logfmt formatter, and a parser for what it writes."""

from __future__ import annotations

from typing import Any

import attrs

from llmlog import Formatter, LogEntry
from llmlog.ext import format_fields, rfc3339_utc, safe_field_items, usage_details

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
