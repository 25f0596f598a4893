"""The JSON formatter."""

from __future__ import annotations

from typing import Any

import attrs
import orjson

from llmlog import Formatter, LogEntry
from llmlog.ext import (
    LEVEL_NAMES,
    USAGE_DETAIL_FIELDS,
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
        return out if out.isascii() and b"\x7f" not in out else escape_json_bytes(out)

    def format(self, entry: LogEntry) -> str:
        return self.format_bytes(entry).decode("utf-8")
