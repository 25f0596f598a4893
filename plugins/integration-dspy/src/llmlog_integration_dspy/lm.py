"""What an LM call's hooks and the LM's history say about the call: model, provider, prompt,
response, tokens and cost."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from llmlog.ext import TokenUsage, usage_from

__all__ = [
    "TRANSPORT_KEYS",
    "history_entry",
    "is_replayed",
    "merged_params",
    "model_and_provider",
    "prompt_of",
    "request_params",
    "response_fields",
    "response_of",
    "usage_of",
]

#: Settings of an LM call that say how to reach the model, not what to ask it: left out of the
#: recorded ``params`` (and so of a replay's key). Keys starting with ``api_`` are left out too.
TRANSPORT_KEYS = frozenset(
    {
        "base_url",
        "cache",
        "callbacks",
        "extra_headers",
        "headers",
        "num_retries",
        "organization",
        "project",
        "timeout",
        "request_timeout",
        "max_retries",
        "http_client",
        "client",
    }
)

#: History entries searched from the newest for the call's own (a concurrent call may have
#: appended after it); DSPy caps each history at 10,000.
_SCAN = 64


def model_and_provider(lm: Any) -> tuple[str, str]:
    """``("gpt-4o-mini", "openai")`` for ``openai/gpt-4o-mini``; DSPy's ``DummyLM`` is
    ``("dummy", "dummy")``."""
    model = str(getattr(lm, "model", "") or type(lm).__name__)
    provider, _, name = model.partition("/")
    if name:
        return name, provider
    return model, str(getattr(lm, "provider", None) or model).lower()


def request_params(lm: Any, call_kwargs: Mapping[str, Any] | None) -> dict[str, Any]:
    """The parameters of one LM call that change its answer: the LM's own ``kwargs``
    (``temperature``, ``max_tokens``...) overridden by the call's (``n``, ``rollout_id``,
    ``tools``, ``response_format``...), without the transport settings (:data:`TRANSPORT_KEYS`,
    ``api_*``) and without the ``None`` values (a parameter not sent). Written as the
    ``llm_call``'s ``params`` and used by a replay as part of its key."""
    return merged_params(getattr(lm, "kwargs", None), call_kwargs)


def merged_params(own: Any, call_kwargs: Mapping[str, Any] | None) -> dict[str, Any]:
    """:func:`request_params` from the LM's ``kwargs`` as they were (``own``, a copy taken when
    the call started) rather than from the LM."""
    merged: dict[str, Any] = {}
    for source in (own, call_kwargs):
        if type(source) is dict or isinstance(source, Mapping):
            merged.update(source)
    return {
        str(k): v
        for k, v in merged.items()
        if v is not None and k not in TRANSPORT_KEYS and not str(k).startswith("api_")
    }


def is_replayed(entry: Mapping[str, Any] | None) -> bool:
    """The history entry is of a call answered from a recorded trace (a ``ReplayLM``'s response
    says so with a ``replayed`` attribute)."""
    if entry is None:
        return False
    return getattr(entry.get("response"), "replayed", False) is True


def history_entry(lm: Any, outputs: Any) -> Mapping[str, Any] | None:
    """The LM's history entry of the call that returned ``outputs``: DSPy stores the very list
    the end hook receives, so identity finds it even with concurrent calls on one LM."""
    history = getattr(lm, "history", None)
    if not history or outputs is None:
        return None
    try:
        for index in range(len(history) - 1, max(-1, len(history) - 1 - _SCAN), -1):
            entry = history[index]
            if (type(entry) is dict or isinstance(entry, Mapping)) and entry.get(
                "outputs"
            ) is outputs:
                return entry
    except IndexError:  # trimmed by another thread while we looked
        return None
    return None


# ``type(x) is dict or isinstance(x, Mapping)`` here and in the callback: the dict (the common
# case) is told first, as ``isinstance`` against an ABC runs a Python-level ``__instancecheck__``.


def usage_of(entry: Mapping[str, Any] | None) -> TokenUsage | None:
    """Tokens and cost of one call; cost ``None`` when DSPy could not price it (never 0).

    The counts are read by :func:`llmlog.ext.usage_from` from the history entry's ``usage`` as
    DSPy and LiteLLM report it: ``prompt_tokens_details.cached_tokens``,
    ``completion_tokens_details.reasoning_tokens``, Anthropic's ``cache_read_input_tokens`` and
    ``cache_creation_input_tokens``; the cost is the entry's own ``cost``."""
    if entry is None:
        return None
    usage = entry.get("usage")
    cost = entry.get("cost")
    known = float(cost) if isinstance(cost, int | float) and not isinstance(cost, bool) else None
    if not (type(usage) is dict or isinstance(usage, Mapping)):
        return TokenUsage(0, 0, cost=known)
    if known is None and "cost" not in usage:
        # No cost anywhere (an unpriced model, DummyLM): read as is, not copied to add one.
        return usage_from(usage)
    return usage_from({**usage, "cost": known})


def prompt_of(inputs: Mapping[str, Any]) -> tuple[str, list[Mapping[str, Any]] | None]:
    """The prompt as text (what dspy-go's ``prompt`` holds) and the chat messages, if any."""
    messages = inputs.get("messages")
    if isinstance(messages, list) and messages:
        parts = []
        for message in messages:
            if type(message) is dict or isinstance(message, Mapping):
                content = message.get("content")
                if isinstance(content, list):
                    content = "\n".join(
                        str(p.get("text", ""))
                        for p in content
                        if (type(p) is dict or isinstance(p, Mapping))
                    )
                parts.append(f"{message.get('role', 'user')}: {content}")
        return "\n\n".join(parts), [
            dict(m) for m in messages if (type(m) is dict or isinstance(m, Mapping))
        ]
    prompt = inputs.get("prompt")
    return ("" if prompt is None else str(prompt)), None


def response_of(outputs: Any) -> str:
    """The completion text: DSPy passes a list of completions (strings, or dicts with ``text``)."""
    if isinstance(outputs, list):
        texts = [
            str(o.get("text", o)) if (type(o) is dict or isinstance(o, Mapping)) else str(o)
            for o in outputs
        ]
        return texts[0] if len(texts) == 1 else "\n\n".join(texts)
    return "" if outputs is None else str(outputs)


def _get(obj: Any, name: str) -> Any:
    if type(obj) is dict or isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def _tool_call(call: Any) -> dict[str, Any]:
    function = _get(call, "function")
    if function is not None:  # OpenAI's shape (LiteLLM's ModelResponse)
        return {
            "id": _get(call, "id"),
            "name": _get(function, "name"),
            "arguments": _get(function, "arguments"),
        }
    arguments = _get(call, "input")  # DSPy's own (lm15) ToolCallPart
    if isinstance(arguments, Mapping):
        arguments = json.dumps(dict(arguments), default=str)
    return {"id": _get(call, "id"), "name": _get(call, "name"), "arguments": arguments}


def response_fields(entry: Mapping[str, Any] | None) -> dict[str, Any]:
    """What the LM's own response in the history entry says beyond the text (DSPy's
    ``lm15.Response``, or LiteLLM's ``ModelResponse`` with ``engine="litellm"``): the model that
    answered, the finish reason and the tool calls, as the GenAI engine's ``CallData`` fields
    (DSPy's view, ranked below LiteLLM's and the SDKs')."""
    if entry is None:
        return {}
    response = entry.get("response")
    fields: dict[str, Any] = {}
    model = entry.get("response_model") or _get(response, "model")
    if isinstance(model, str) and model:
        fields["response_model"] = model
    reason: Any = None
    calls: Any = None
    choices = _get(response, "choices")
    if isinstance(choices, list) and choices:
        reason = _get(choices[0], "finish_reason")
        calls = _get(_get(choices[0], "message"), "tool_calls")
    else:
        reason = _get(response, "finish_reason")
        try:
            calls = _get(response, "tool_calls")
        except Exception:  # a property that could not read this response
            calls = None
    if reason is not None and not isinstance(reason, str):
        reason = getattr(reason, "value", None) or str(reason)
    if isinstance(reason, str) and reason:
        fields["finish_reason"] = reason
    if isinstance(calls, list | tuple) and calls:
        fields["tool_calls"] = [_tool_call(call) for call in calls]
    return fields
