"""What one source knows about one LLM call, and how the sources' knowledge is merged."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import attrs

__all__ = ["FIELDS", "RANK", "CallData", "prompt_text", "rank_of"]


@attrs.define
class CallData:
    """What one source (an SDK integration, LiteLLM, DSPy) knows about one LLM call.

    ``None`` means unknown: it never replaces what another source said (see :data:`RANK`).
    """

    #: ``"openai"``, ``"anthropic"``, ``"litellm"``, ``"dspy"``.
    source: str
    #: ``"chat"``, ``"responses"``, ``"messages"``, ``"embeddings"``, ``"completion"``.
    operation: str = "chat"
    provider: str | None = None
    #: The model requested.
    model: str | None = None
    #: The model the provider says answered (``gpt-4o-mini-2024-07-18``).
    response_model: str | None = None
    #: The request's messages, roles kept, tool calls and tool results kept.
    messages: list[dict[str, Any]] | None = None
    #: A text prompt (a completion, an embedding's input), when there are no messages.
    prompt: str | None = None
    #: The request parameters that change the answer (temperature, max_tokens, tools...).
    params: dict[str, Any] | None = None
    #: The answer's text.
    response: str | None = None
    #: The answer as messages (an assistant message with its tool calls).
    response_messages: list[dict[str, Any]] | None = None
    #: The tool calls the model asked for: ``{"id", "name", "arguments"}``.
    tool_calls: list[dict[str, Any]] | None = None
    finish_reason: str | None = None
    #: The provider's usage (a mapping or an SDK object) or a :class:`~llmlog.TokenUsage`,
    #: read by :func:`llmlog.ext.usage_from` (cached and reasoning tokens included).
    usage: object | None = None
    #: A cost the source reported (LiteLLM's ``response_cost``), in US dollars.
    cost: float | None = None
    #: Streaming: milliseconds from the call's start to its first chunk.
    time_to_first_token_ms: int | None = None
    stream: bool = False
    #: How a stream ended: ``"completed"`` (consumed to its end), ``"closed"`` (closed by the
    #: caller before its end), ``"abandoned"`` (dropped unfinished, ended when collected),
    #: ``"error"`` (the stream raised).
    stream_end: str | None = None
    #: The provider's error class (``"RateLimitError"``), its message and HTTP status.
    error_type: str | None = None
    error: str | None = None
    status_code: int | None = None


#: The fields merged between sources (all but ``source``).
FIELDS: Final = tuple(f.name for f in attrs.fields(CallData) if f.name != "source")

#: Which source wins a field both know: a higher rank replaces a lower one's value; equal ranks
#: replace (the later value is the newer); ``None`` never replaces. The SDKs see the wire, so
#: they know the most; LiteLLM resolves providers and costs; DSPy sees its own view of the call.
RANK: Final[dict[str, int]] = {"openai": 3, "anthropic": 3, "litellm": 2, "dspy": 1}


def rank_of(source: str) -> int:
    """A source's rank; an unknown source ranks 0 (below DSPy)."""
    return RANK.get(source, 0)


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: keep the text ones
        parts = []
        for part in content:
            if isinstance(part, Mapping):
                text = part.get("text")
                if isinstance(text, str):
                    parts.append(text)
            elif isinstance(part, str):
                parts.append(part)
        return "\n".join(parts)
    return "" if content is None else str(content)


def prompt_text(messages: list[dict[str, Any]] | None, prompt: str | None) -> str:
    """The prompt as one text (what dspy-go's ``prompt`` holds): each message as
    ``role: content``, blank lines between, as the DSPy integration writes it."""
    if messages:
        lines = []
        for message in messages:
            if isinstance(message, Mapping):
                role = message.get("role", "user")
                lines.append(f"{role}: {_content_text(message.get('content'))}")
        return "\n\n".join(lines)
    return prompt or ""
