"""The JSON formatter."""

from __future__ import annotations

from typing import Any

import attrs
import orjson

from llmlog import Formatter, LogEntry, Severity
from llmlog.ext import (
    LEVEL_NAMES,
    USAGE_DETAIL_FIELDS,
    EntryCode,
    escape_json_bytes,
    rfc3339_utc,
    safe_field_items,
    serializer,
    usage_details,
)

__all__ = ["RESERVED_KEYS", "JsonFormatter", "JsonOptions"]

#: Keys of the record itself; a field with one of these names is written as ``field.<name>``.
RESERVED_KEYS = frozenset(
    {
        "timestamp",
        "level",
        "message",
        "file",
        "line",
        "function",
        "traceId",
        "spanId",
        "modelId",
        "tokenInfo",
        "latencyMs",
        "cost",
        "logger",
        "exception",
        "fields",
    }
)


#: ``tokenInfo``'s keys of the detail counts, beside the seed's three: ``cacheReadTokens``,
#: ``cacheCreationTokens``, ``reasoningTokens``, ``audioTokens``, ``imageTokens`` (written when
#: not zero; cached and reasoning tokens are included in ``promptTokens``/``completionTokens``).
_CAMEL = {
    name: name.split("_")[0] + "".join(part.title() for part in name.split("_")[1:])
    for name in USAGE_DETAIL_FIELDS
}


@attrs.frozen(kw_only=True)
class JsonOptions:
    """Options of the ``json`` formatter."""

    #: Put fields at the top level of the object (dspy-go, structlog); ``false`` nests them under ``fields``.
    flat: bool = True


class JsonFormatter(Formatter):
    """Formats entries as JSON objects; see the package docstring for the keys."""

    def __init__(self, options: JsonOptions | None = None) -> None:
        self._flat = (options or JsonOptions()).flat
        self._default = serializer.default
        cls = type(self)
        if cls.record is JsonFormatter.record and cls.format_bytes is JsonFormatter.format_bytes:
            # Only where the lines are this class's: a subclass's own record() is honoured.
            self.line_from_parts = _line_from_parts(self._flat, self.record)
            if self._flat:
                self.line_code = _line_code

    def record(self, entry: LogEntry) -> dict[str, Any]:
        """The dict that is encoded (useful to tests and to outputs that want a mapping)."""
        data: dict[str, Any] = {
            "timestamp": rfc3339_utc(entry.time),
            "level": LEVEL_NAMES[entry.severity],
            "message": entry.message,
            "file": entry.file,
            "line": entry.line,
            "function": entry.function,
        }
        if entry.logger:
            data["logger"] = entry.logger
        if entry.trace_id:
            data["traceId"] = entry.trace_id
        if entry.span_id:
            data["spanId"] = entry.span_id
        if entry.model_id:
            data["modelId"] = entry.model_id
        usage = entry.token_info
        if usage is not None:
            info: dict[str, Any] = {
                "promptTokens": usage.prompt_tokens,
                "completionTokens": usage.completion_tokens,
                "totalTokens": usage.total_tokens,
            }
            if usage.has_details:
                info.update((_CAMEL[name], value) for name, value in usage_details(usage))
            if usage.cost is not None:
                info["cost"] = usage.cost
                if usage.cost_source:
                    info["costSource"] = usage.cost_source
            elif usage.cost_unknown:
                info["costUnknown"] = usage.cost_unknown
            data["tokenInfo"] = info
        if entry.latency_ms is not None:
            data["latencyMs"] = entry.latency_ms
        if entry.cost is not None:
            data["cost"] = entry.cost
        if entry.exception:
            data["exception"] = entry.exception
        fields = entry.fields
        if fields:
            if not self._flat:
                data["fields"] = fields
            elif RESERVED_KEYS.isdisjoint(fields):
                data.update(fields)
            else:
                data.update(safe_field_items(fields, RESERVED_KEYS))
        return data

    def format_bytes(self, entry: LogEntry) -> bytes:
        data = self.record(entry)
        try:
            out = orjson.dumps(data, default=self._default)
        except Exception:  # a 65-bit integer, a cycle, a non-string key: the slow path cannot fail
            out = serializer.dumps(data)
        return out if out.isascii() and 0x7F not in out else escape_json_bytes(out)

    def format(self, entry: LogEntry) -> str:
        return self.format_bytes(entry).decode("utf-8")


_NS_LOW, _NS_HIGH = 10**18, 10**19  # 19-digit nanosecond times (2001-2286): see rfc3339_utc


def _line_from_parts(flat: bool, record: Any) -> Any:
    """:attr:`~llmlog.Formatter.line_from_parts` of a JSON formatter: the line of an entry given
    as its parts, with its newline, the same bytes as ``format_bytes`` + newline.

    The common entry (no trace, span, model, tokens, latency, cost, logger name or exception;
    fields that use no reserved key) is one dict display encoded by orjson, which appends the
    newline; any other goes through :meth:`JsonFormatter.record` on a ``LogEntry`` of the parts.
    """
    dumps, default, newline = orjson.dumps, serializer.default, orjson.OPT_APPEND_NEWLINE
    levels, reserved = LEVEL_NAMES, RESERVED_KEYS
    escape, utc = escape_json_bytes, rfc3339_utc
    # (start, end, "YYYY-MM-DDTHH:MM:SS") of the last entry's second, in nanoseconds (only for
    # 19-digit times, whose digits 10-15 are the microseconds): one tuple, swapped whole.
    cache = (0, 0, "")

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
            data = record(
                LogEntry(
                    time, severity, message, file, line, function, trace_id, span_id,
                    model_id, token_info, latency_ms, cost, fields, logger, exception,
                )
            )  # fmt: skip
        else:
            cached = cache
            if cached[0] <= time < cached[1]:
                stamp = f"{cached[2]}.{str(time)[10:16]}Z"
            else:
                stamp = utc(time)
                if _NS_LOW <= time < _NS_HIGH:
                    start = time - time % 1_000_000_000
                    cache = (start, start + 1_000_000_000, stamp[:19])
            if not fields:
                data = {
                    "timestamp": stamp,
                    "level": levels[severity],
                    "message": message,
                    "file": file,
                    "line": line,
                    "function": function,
                }
            elif flat and reserved.isdisjoint(fields):
                data = {
                    "timestamp": stamp,
                    "level": levels[severity],
                    "message": message,
                    "file": file,
                    "line": line,
                    "function": function,
                    **fields,
                }
            else:
                data = record(
                    LogEntry(
                        time, severity, message, file, line, function, trace_id, span_id,
                        model_id, token_info, latency_ms, cost, fields, logger, exception,
                    )
                )  # fmt: skip
        try:
            out = dumps(data, default=default, option=newline)
        except Exception:  # a 65-bit integer, a cycle, a non-string key: the slow path cannot fail
            out = serializer.dumps(data) + b"\n"
        return out if out.isascii() and 0x7F not in out else escape(out)

    return line


# The common entry's timestamp, its second's text cached in j_cache: (second,
# "YYYY-MM-DDTHH:MM:SS"), one tuple, swapped whole (threads share it). Indented as the statements
# it is joined with.
_STAMP_CODE = """
        j_cached = j_cache
        if ns // 1_000_000_000 == j_cached[0]:
            j_stamp = f"{j_cached[1]}.{str(ns)[10:16]}Z"
        else:
            j_stamp = j_utc(ns)
            if j_low <= ns < j_high:
                j_cache = (ns // 1_000_000_000, j_stamp[:19])
        """


def _line_code(severity: Severity) -> EntryCode:
    """:attr:`~llmlog.Formatter.line_code` of a flat JSON formatter: ``_line_from_parts``' common
    entry inline (its second cached in ``j_cache``), inside a trace's context too (``traceId``
    and ``spanId``); fields using a reserved key (``reserved``) and what orjson refuses (a
    65-bit integer; with ``OPT_PASSTHROUGH_SUBCLASS``, a subclass of str or int, so the
    generated function needs no type tests) go to the generic path. Its strings are printable
    ASCII (see EntryCode), so the line needs no escape check."""
    # The keys every line starts with, in JsonFormatter.record's order.
    head = (
        '"timestamp": j_stamp, "level": j_level, "message": message, "file": file, '
        '"line": line, "function": function'
    )
    return EntryCode(
        line=_STAMP_CODE
        + f"""
        if logger:
            data = j_dumps({{{head}, "logger": logger, **fields}}, option=j_newline)
        else:
            data = j_dumps({{{head}, **fields}}, option=j_newline)
        """,
        # The optional keys, then the fields.
        line_traced=_STAMP_CODE
        + f"""
        j_record = {{{head}}}
        if logger:
            j_record["logger"] = logger
        if trace_id:
            j_record["traceId"] = trace_id
        if span_id:
            j_record["spanId"] = span_id
        j_record.update(fields)
        data = j_dumps(j_record, option=j_newline)
        """,
        namespace={
            "j_utc": rfc3339_utc,
            "j_low": _NS_LOW,
            "j_high": _NS_HIGH,
            "j_dumps": orjson.dumps,
            "j_level": LEVEL_NAMES[severity],
            "j_newline": orjson.OPT_APPEND_NEWLINE | orjson.OPT_PASSTHROUGH_SUBCLASS,
        },
        setup='j_cache = (-1, "")',
        state=("j_cache",),
        reserved=RESERVED_KEYS,
        types_checked=True,
    )
