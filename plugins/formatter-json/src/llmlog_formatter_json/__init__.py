"""llmlog's JSON formatter: one compact JSON object per entry, encoded by orjson.

Keys follow dspy-go's ``JSONFormatter`` (``timestamp``, ``level``, ``message``, ``file``, ``line``,
``function``, ``traceId``, ``modelId``, ``tokenInfo{promptTokens, completionTokens, totalTokens}`` and, when not zero, ``cacheReadTokens``, ``cacheCreationTokens``, ``reasoningTokens``, ``audioTokens``, ``imageTokens``; a known ``cost`` with its ``costSource``, or
``costUnknown`` with the reason the price is unknown),
then the entry's fields. Three of dspy-go's defects are fixed: timestamps keep microseconds (UTC,
RFC 3339), latency and cost are written (``latencyMs``, ``cost``), and a field can no longer
overwrite a reserved key (it is written as ``field.<key>``). Characters that JSON allows raw but
that break lines or reorder text on a terminal (U+2028, U+2029, U+0085, bidi controls) are written
as ``\\uXXXX`` escapes, so a record is always exactly one line.
"""

from llmlog_formatter_json.formatter import RESERVED_KEYS, JsonFormatter, JsonOptions

__all__ = ["RESERVED_KEYS", "JsonFormatter", "JsonOptions"]
