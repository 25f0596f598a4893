"""llmlog's JSON formatter: one compact JSON object per entry, encoded by orjson.

Keys follow dspy-go's ``JSONFormatter`` (``timestamp``, ``level``, ``message``, ``file``, ``line``,
``function``, ``traceId``, ``modelId``, ``tokenInfo{promptTokens, completionTokens, totalTokens}``),
then the entry's fields. Three of dspy-go's defects are fixed: timestamps keep microseconds (UTC,
RFC 3339), latency and cost are written (``latencyMs``, ``cost``), and a field can no longer
overwrite a reserved key (it is written as ``field.<key>``).
"""

from llmlog_formatter_json.formatter import RESERVED_KEYS, JsonFormatter, JsonOptions

__all__ = ["RESERVED_KEYS", "JsonFormatter", "JsonOptions"]
