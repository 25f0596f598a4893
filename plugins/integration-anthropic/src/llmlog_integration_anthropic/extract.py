"""What a messages call says, read from its arguments, its ``Message`` and its stream events,
as the engine's :class:`~llmlog_engine_genai.CallData` fields. Nothing here imports the SDK:
objects are read by attribute (pydantic models) or key (the request's typed dicts)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from llmlog.ext import TokenUsage
from llmlog_engine_genai import CallData, TextBuffer

__all__ = [
    "MessageAggregator",
    "call_data",
    "given",
    "jsonable",
    "message_fields",
    "token_usage",
    "usage_counts",
]

#: The request arguments that change the answer, recorded as the call's parameters (the
#: sampling ones of the SDK versions that have them, too).
PARAMS = (
    "max_tokens",
    "temperature",
    "top_p",
    "top_k",
    "stop_sequences",
    "tools",
    "tool_choice",
    "thinking",
    "service_tier",
    "speed",
    "cache_control",
    "output_config",
    "output_format",
)

#: Content blocks that are tool calls (the client's own tools, and Anthropic's server tools).
_TOOL_BLOCKS = ("tool_use", "server_tool_use")


def given(value: Any) -> bool:
    """A request argument that was given: not ``None`` nor the SDK's ``NOT_GIVEN`` / ``omit``
    (which callers such as LiteLLM pass explicitly)."""
    return value is not None and type(value).__name__ not in ("NotGiven", "Omit")


def jsonable(value: Any, depth: int = 0) -> Any:
    """``value`` as plain JSON data: SDK models dumped (``None`` fields left out), mappings and
    sequences walked, anything else as text. Bytes (a file's content) become their length."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if depth > 32:  # a cycle or a pathological nesting: keep the trace readable
        return repr(value)[:200]
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            return dump(mode="json", exclude_none=True)
        except Exception:
            return repr(value)[:200]
    if isinstance(value, Mapping):
        return {str(k): jsonable(v, depth + 1) for k, v in value.items() if given(v)}
    if isinstance(value, (list, tuple)):
        return [jsonable(v, depth + 1) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value)} bytes>"
    return str(value)


def provider_of(resource: Any) -> str:
    """``anthropic``, or the cloud serving Claude when the client is ``AnthropicBedrock`` /
    ``AnthropicVertex`` / Foundry (OpenTelemetry's ``gen_ai.provider.name`` values)."""
    client = type(getattr(resource, "_client", None)).__name__
    if "Bedrock" in client:
        return "aws.bedrock"
    if "Vertex" in client:
        return "gcp.vertex_ai"
    if "Foundry" in client:
        return "azure.ai.foundry"
    return "anthropic"


def call_data(kwargs: dict[str, Any], *, provider: str, stream: bool) -> CallData:
    """The request's side of a call: the model, the system prompt as a first ``system`` message
    then the messages (tool uses and tool results kept as content blocks), the parameters.

    A ``messages`` iterable that is not a list (a generator) is read into one and put back into
    ``kwargs``, so that the SDK gets every message too."""
    messages: Any = kwargs.get("messages")
    if given(messages) and not isinstance(messages, (list, tuple)):
        messages = kwargs["messages"] = list(messages)
    recorded: list[dict[str, Any]] = []
    system = kwargs.get("system")
    if given(system):
        recorded.append({"role": "system", "content": jsonable(system)})
    for message in messages or ():
        item = jsonable(message)
        recorded.append(item if isinstance(item, dict) else {"role": "user", "content": item})
    params = {name: jsonable(kwargs[name]) for name in PARAMS if given(kwargs.get(name))}
    model = kwargs.get("model")
    return CallData(
        source="anthropic",
        operation="messages",
        provider=provider,
        model=str(model) if given(model) else None,
        messages=recorded,
        params=params or None,
        stream=stream,
    )


def _arguments(value: Any) -> str:
    """A tool call's input as JSON text, as OpenAI's tool calls carry their arguments (so that a
    trace's tool calls read the same whichever SDK made them)."""
    try:
        return json.dumps(jsonable(value), ensure_ascii=False)
    except (TypeError, ValueError):
        return str(value)


def _tool_call(block: Any) -> dict[str, Any]:
    return {
        "id": getattr(block, "id", None),
        "name": getattr(block, "name", None),
        "arguments": _arguments(getattr(block, "input", None)),
    }


def message_fields(message: Any) -> dict[str, Any]:
    """A ``Message``'s side of a call: the text of its text blocks, its tool calls (``id``,
    ``name``, ``arguments`` as JSON text), the stop reason, the model that answered and the usage (as a plain
    mapping: reading a field an SDK model lacks raises inside ``getattr``, a cost per field)."""
    content = getattr(message, "content", None) or []
    texts = [getattr(b, "text", "") or "" for b in content if getattr(b, "type", None) == "text"]
    tools = [_tool_call(b) for b in content if getattr(b, "type", None) in _TOOL_BLOCKS]
    fields: dict[str, Any] = {
        "response": "".join(texts),
        "finish_reason": getattr(message, "stop_reason", None),
        "response_model": getattr(message, "model", None),
        "usage": token_usage(usage_counts(getattr(message, "usage", None))),
    }
    if tools:
        fields["tool_calls"] = tools
    return fields


_USAGE_KEYS = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
)


def usage_counts(usage: Any) -> dict[str, int]:
    """The counts an Anthropic usage object gives (those it gives: a stream's ``message_delta``
    leaves out what did not change)."""
    counts: dict[str, int] = {}
    if usage is None:
        return counts
    fields = getattr(type(usage), "model_fields", None)
    for key in _USAGE_KEYS:
        if fields is not None and key not in fields:
            continue  # an older SDK's model without the field: no AttributeError to pay for
        value = getattr(usage, key, None)
        if isinstance(value, int) and not isinstance(value, bool):
            counts[key] = value
    return counts


_MAX_COUNT = 2**53 - 1  # the largest count every reader decodes exactly


def token_usage(counts: Mapping[str, int]) -> TokenUsage | None:
    """Anthropic's counts as llmlog's :class:`~llmlog.TokenUsage` (``None`` for none), by the
    counting rule: Anthropic's ``input_tokens`` leaves out the cache reads and writes, which are
    part of the prompt tokens. Built here rather than read by ``usage_from`` on every call (a
    tenth of the event's cost): the counts are known ints already."""
    if not counts:
        return None

    def count(key: str) -> int:
        return min(max(counts.get(key, 0), 0), _MAX_COUNT)

    read = count("cache_read_input_tokens")
    written = count("cache_creation_input_tokens")
    prompt = min(count("input_tokens") + read + written, _MAX_COUNT)
    completion = count("output_tokens")
    return TokenUsage(
        prompt,
        completion,
        min(prompt + completion, _MAX_COUNT),
        cache_read_tokens=read,
        cache_creation_tokens=written,
    )


class _Tool:
    """A tool_use block being streamed: its id and name, its input's JSON text (capped)."""

    __slots__ = ("arguments", "id", "name")

    def __init__(self, block: Any, limit: int | None) -> None:
        self.id = getattr(block, "id", None)
        self.name = getattr(block, "name", None)
        self.arguments = TextBuffer(limit)

    def call(self) -> dict[str, Any]:
        # The JSON text as it came (cut at the cap with its marker), "{}" for an empty input.
        return {"id": self.id, "name": self.name, "arguments": self.arguments.text() or "{}"}


class MessageAggregator:
    """Reads a messages stream's raw events (``create(stream=True)``, and under the
    ``messages.stream()`` helper) into the call's fields: the text of the text deltas and the
    tool calls' input JSON, each kept up to ``limit`` characters (the session's string cap; 0 in
    the no-content mode), the usage of ``message_start`` updated by ``message_delta`` (whose
    counts are cumulative), the stop reason and the model. Hides no event."""

    __slots__ = ("_limit", "_model", "_stop", "_text", "_tools", "_usage")

    def __init__(self, limit: int | None) -> None:
        self._text = TextBuffer(limit)
        self._tools: dict[int, _Tool] = {}
        self._usage: dict[str, int] = {}
        self._stop: str | None = None
        self._model: str | None = None
        self._limit = limit

    def _take_usage(self, usage: Any) -> None:
        self._usage.update(usage_counts(usage))

    def add(self, event: Any) -> bool:
        kind = getattr(event, "type", None)
        if kind == "content_block_delta":
            delta = event.delta
            delta_kind = getattr(delta, "type", None)
            if delta_kind == "text_delta":
                self._text.append(delta.text)
            elif delta_kind == "input_json_delta":
                tool = self._tools.get(event.index)
                if tool is not None:
                    tool.arguments.append(delta.partial_json)
        elif kind == "content_block_start":
            block = event.content_block
            block_kind = getattr(block, "type", None)
            if block_kind in _TOOL_BLOCKS:
                self._tools[event.index] = _Tool(block, self._limit)
            elif block_kind == "text":
                self._text.append(getattr(block, "text", "") or "")
        elif kind == "message_start":
            message = event.message
            self._model = getattr(message, "model", None)
            self._take_usage(getattr(message, "usage", None))
        elif kind == "message_delta":
            self._stop = getattr(event.delta, "stop_reason", None) or self._stop
            self._take_usage(getattr(event, "usage", None))
        return False

    def fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "response": self._text.text(),
            "finish_reason": self._stop,
            "response_model": self._model,
            "usage": token_usage(self._usage),
        }
        if self._tools:
            fields["tool_calls"] = [self._tools[index].call() for index in sorted(self._tools)]
        return fields
