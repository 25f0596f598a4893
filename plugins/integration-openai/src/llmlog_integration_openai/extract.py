"""What an OpenAI SDK call says: the request's messages and parameters, a response's text, tool
calls, finish reason and usage, and the chunks of a stream aggregated (up to the content cap).

Everything reads the SDK's objects by attribute (pydantic models) or key (a caller's dicts) and
tolerates what it does not know: an SDK field renamed gives a missing value, never an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llmlog_engine_genai import CallData, TextBuffer

__all__ = [
    "ChatStream",
    "ResponsesStream",
    "chat_fields",
    "embedding_fields",
    "request_data",
    "responses_fields",
]

#: Arguments that say how to send the request, or what llmlog records on its own: not ``params``.
_NOT_PARAMS = frozenset(
    {
        "messages",
        "model",
        "input",
        "instructions",
        "stream",
        "stream_options",
        "extra_headers",
        "extra_query",
        "extra_body",
        "timeout",
    }
)


def _get(value: Any, name: str) -> Any:
    if isinstance(value, Mapping):
        return value.get(name)
    return getattr(value, name, None)


def _given(value: Any) -> bool:
    # The SDK's "not given" sentinels (omit, NOT_GIVEN) are falsy objects of its own classes.
    return value is not None and type(value).__name__ not in ("Omit", "NotGiven")


def _plain(item: Any) -> Any:
    """A message or item as a dict: a caller's mapping shallow-copied, an SDK model dumped."""
    if isinstance(item, Mapping):
        return dict(item)
    dump = getattr(item, "model_dump", None)
    if callable(dump):
        try:
            return dump(exclude_none=True)
        except Exception:
            return {"content": str(item)}
    return {"content": str(item)}


def plain_usage(usage: Any) -> Any:
    """The SDK's usage model as a plain mapping of its fields (nested details too): read by
    llmlog's usage reader by key, where asking a pydantic model for a field it does not have
    (``input_tokens`` of a chat usage) costs an exception each time."""
    if usage is None or isinstance(usage, Mapping):
        return usage
    fields = getattr(usage, "__dict__", None)  # a pydantic model's field values
    if not isinstance(fields, dict):
        return usage
    plain: dict[str, Any] = {}
    for name, value in fields.items():
        if value is None:
            continue
        if isinstance(value, int | float | str):
            plain[name] = value
            continue
        inner = getattr(value, "__dict__", None)
        plain[name] = (
            {k: v for k, v in inner.items() if v is not None} if isinstance(inner, dict) else value
        )
    return plain


def _params(kwargs: Mapping[str, Any]) -> dict[str, Any] | None:
    params = {k: v for k, v in kwargs.items() if k not in _NOT_PARAMS and _given(v)}
    return params or None


def _text_of(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "\n".join(value)
    return None


def request_data(
    operation: str, provider: str, kwargs: Mapping[str, Any], *, content: bool = True
) -> CallData:
    """The call's :class:`CallData` from the SDK method's keyword arguments."""
    model = kwargs.get("model")
    data = CallData(
        "openai",
        operation=operation,
        provider=provider,
        model=str(model) if _given(model) else None,
        params=_params(kwargs),
        stream=kwargs.get("stream") is True,
    )
    if operation == "chat":
        messages = kwargs.get("messages")
        if isinstance(messages, list | tuple):
            data.messages = [_plain(m) for m in messages]
    elif operation == "responses":
        items: list[dict[str, Any]] = []
        instructions = kwargs.get("instructions")
        if isinstance(instructions, str):
            items.append({"role": "system", "content": instructions})
        given = kwargs.get("input")
        if isinstance(given, str):
            items.append({"role": "user", "content": given})
        elif isinstance(given, list | tuple):
            for item in given:
                plain = _plain(item)
                if "role" not in plain:  # a function call or its output: its own kind of turn
                    kind = plain.get("type")
                    role = "tool" if kind == "function_call_output" else "assistant"
                    plain = {"role": role, **plain}
                    if "content" not in plain and "output" in plain:
                        plain["content"] = plain["output"]
                items.append(plain)
        data.messages = items or None
    else:  # embeddings
        data.prompt = _text_of(kwargs.get("input"))
    return data


def _tool_call(call: Any) -> dict[str, Any]:
    function = _get(call, "function")
    return {
        "id": _get(call, "id"),
        "type": _get(call, "type") or "function",
        "name": _get(function, "name"),
        "arguments": _get(function, "arguments"),
    }


def chat_fields(response: Any) -> dict[str, Any]:
    """A ``ChatCompletion``'s fields: text (the choices' joined), tool calls, finish reason,
    returned model, usage."""
    choices = _get(response, "choices") or []
    texts: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    finish = None
    for index, choice in enumerate(choices):
        message = _get(choice, "message")
        text = _get(message, "content")
        if isinstance(text, str):
            texts.append(text)
        elif _get(message, "refusal"):
            texts.append(str(_get(message, "refusal")))
        calls = _get(message, "tool_calls") or []
        if index == 0:
            finish = _get(choice, "finish_reason")
            tool_calls = [_tool_call(c) for c in calls]
    return {
        "response_model": _get(response, "model"),
        "response": "\n\n".join(texts),
        "tool_calls": tool_calls or None,
        "finish_reason": finish,
        "usage": plain_usage(_get(response, "usage")),
    }


def responses_fields(response: Any) -> dict[str, Any]:
    """A Responses API ``Response``'s fields."""
    texts: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    for item in _get(response, "output") or []:
        kind = _get(item, "type")
        if kind == "message":
            for part in _get(item, "content") or []:
                text = _get(part, "text")
                if isinstance(text, str):
                    texts.append(text)
                elif _get(part, "refusal"):
                    texts.append(str(_get(part, "refusal")))
        elif kind == "function_call":
            tool_calls.append(
                {
                    "id": _get(item, "call_id") or _get(item, "id"),
                    "type": "function",
                    "name": _get(item, "name"),
                    "arguments": _get(item, "arguments"),
                }
            )
    status = _get(response, "status")
    incomplete = _get(_get(response, "incomplete_details"), "reason")
    text = "".join(texts)
    error = _get(response, "error")
    fields: dict[str, Any] = {
        "response_model": _get(response, "model"),
        "response": text,
        "tool_calls": tool_calls or None,
        "finish_reason": incomplete or ("tool_calls" if tool_calls else status),
        "usage": plain_usage(_get(response, "usage")),
    }
    if status == "failed" and error is not None:
        fields["error_type"] = str(_get(error, "code") or "ResponseFailed")
        fields["error"] = str(_get(error, "message") or "")
    return fields


def embedding_fields(response: Any) -> dict[str, Any]:
    """An embeddings response's fields: returned model, usage, and how many vectors of what size
    (as the response text: the vectors themselves are not content worth a trace)."""
    vectors = _get(response, "data") or []
    first = _get(vectors[0], "embedding") if vectors else None
    size = len(first) if isinstance(first, list) else None
    summary = f"{len(vectors)} embedding{'s' if len(vectors) != 1 else ''}"
    if size is not None:
        summary += f" of {size} dimensions"
    return {
        "response_model": _get(response, "model"),
        "response": summary,
        "usage": plain_usage(_get(response, "usage")),
    }


class _ToolCall:
    __slots__ = ("arguments", "id", "name")

    def __init__(self, limit: int | None) -> None:
        self.id: str | None = None
        self.name: str | None = None
        self.arguments = TextBuffer(limit)

    def plain(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "function",
            "name": self.name,
            "arguments": self.arguments.text(),
        }


class ChatStream:
    """Aggregates ``ChatCompletionChunk`` s: each choice's text and tool calls (arguments joined
    up to the cap), the first choice's finish reason, the returned model, and the usage of the
    last chunk. ``hide_usage``: the caller did not ask for usage, llmlog did; the usage-only
    chunk (no choices) is hidden from the caller."""

    def __init__(self, limit: int | None, hide_usage: bool) -> None:
        self._limit = limit
        self._hide = hide_usage
        self._texts: dict[int, TextBuffer] = {}
        self._calls: dict[int, _ToolCall] = {}
        self._model: str | None = None
        self._finish: str | None = None
        self._usage: Any = None

    def add(self, chunk: Any) -> bool:
        if self._model is None:
            self._model = getattr(chunk, "model", None)
        usage = getattr(chunk, "usage", None)
        if usage is not None:
            self._usage = usage
        choices = getattr(chunk, "choices", None) or []
        for choice in choices:
            index = getattr(choice, "index", 0) or 0
            delta = getattr(choice, "delta", None)
            if delta is not None:
                text = getattr(delta, "content", None) or getattr(delta, "refusal", None)
                if text:
                    buffer = self._texts.get(index)
                    if buffer is None:
                        buffer = self._texts[index] = TextBuffer(self._limit)
                    buffer.append(text)
                if index == 0:
                    for call in getattr(delta, "tool_calls", None) or []:
                        self._tool_delta(call)
            reason = getattr(choice, "finish_reason", None)
            if reason is not None and index == 0:
                self._finish = reason
        return self._hide and not choices and usage is not None

    def _tool_delta(self, call: Any) -> None:
        position = getattr(call, "index", 0) or 0
        entry = self._calls.get(position)
        if entry is None:
            entry = self._calls[position] = _ToolCall(self._limit)
        if getattr(call, "id", None):
            entry.id = call.id
        function = getattr(call, "function", None)
        if function is not None:
            if getattr(function, "name", None):
                entry.name = function.name
            arguments = getattr(function, "arguments", None)
            if arguments:
                entry.arguments.append(arguments)

    def fields(self) -> dict[str, Any]:
        text = "\n\n".join(self._texts[i].text() for i in sorted(self._texts))
        calls = [self._calls[i].plain() for i in sorted(self._calls)] or None
        return {
            "response_model": self._model,
            "response": text,
            "tool_calls": calls,
            "finish_reason": self._finish,
            "usage": plain_usage(self._usage),
        }


class ResponsesStream:
    """Aggregates Responses API stream events: the final response (``response.completed``,
    ``.incomplete``, ``.failed``) gives everything; until it comes, the text deltas are kept
    (up to the cap) for a stream closed early."""

    _FINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})

    def __init__(self, limit: int | None) -> None:
        self._text = TextBuffer(limit)
        self._final: dict[str, Any] | None = None
        self._model: str | None = None

    def add(self, event: Any) -> bool:
        kind = getattr(event, "type", None)
        if kind == "response.output_text.delta":
            delta = getattr(event, "delta", None)
            if isinstance(delta, str):
                self._text.append(delta)
        elif kind in self._FINAL:
            self._final = responses_fields(getattr(event, "response", None))
        elif kind == "response.created" and self._model is None:
            self._model = getattr(getattr(event, "response", None), "model", None)
        return False

    def fields(self) -> dict[str, Any]:
        if self._final is not None:
            return self._final
        return {"response_model": self._model, "response": self._text.text()}
