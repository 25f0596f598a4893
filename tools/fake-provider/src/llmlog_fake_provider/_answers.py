"""What a test's ``reply`` may return besides plain text: an :class:`Answer` (tool calls, usage,
finish reason, a slow or broken answer) or a :class:`Fault` (an HTTP error)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Answer", "Fault", "ToolCall", "prompt_text", "split_text", "words"]


@dataclass(frozen=True)
class ToolCall:
    """A tool (function) call in an answer: rendered as OpenAI ``tool_calls`` / Responses
    ``function_call`` items / Anthropic ``tool_use`` blocks. ``id`` defaults to one numbered per
    answer (``call_0``, ``toolu_0``...)."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    id: str | None = None

    def arguments_json(self) -> str:
        """The arguments as the JSON text OpenAI sends."""
        return json.dumps(self.arguments)


@dataclass(frozen=True)
class Answer:
    """One answer, for ``reply`` to return instead of a string.

    ``finish_reason`` (OpenAI's words: ``stop``, ``length``, ``tool_calls``, or any other text
    sent verbatim) defaults to ``tool_calls`` when there are tool calls, else ``stop``; the
    Anthropic API gets ``end_turn`` / ``max_tokens`` / ``tool_use`` for those three, the Responses
    API an ``incomplete`` status for ``length``.

    Usage: ``prompt_tokens`` / ``completion_tokens`` replace the word counts; ``cached_tokens``,
    ``reasoning_tokens``, ``cache_creation_tokens`` replace the server's settings for this answer.

    ``delay``: seconds to wait before answering (a slow server, for client timeouts; the wait
    ends early when the server closes). ``stream_error_after``: a streamed answer sends that many
    content deltas, then an error event (``error_status`` decides its type) and ends.
    ``stall_after``: a streamed answer sends that many deltas, then waits ``stall_seconds`` (or
    until the server closes) before going on (a read timeout in the middle of a stream).
    """

    text: str = ""
    tool_calls: tuple[ToolCall, ...] | list[ToolCall] = ()
    finish_reason: str | None = None
    model: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached_tokens: int | None = None
    reasoning_tokens: int | None = None
    cache_creation_tokens: int | None = None
    delay: float = 0.0
    stream_error_after: int | None = None
    stall_after: int | None = None
    stall_seconds: float = 30.0
    error_status: int = 500


@dataclass(frozen=True)
class Fault:
    """An HTTP error answer: ``status`` (429, 500, 529...) with the API's error body (OpenAI's
    ``{"error": {...}}`` or Anthropic's ``{"type": "error", "error": {...}}``); ``retry_after``
    (seconds) sends the ``retry-after`` header clients honour; ``delay`` waits first; ``type``
    and ``code`` replace the error's usual ones."""

    status: int = 500
    message: str | None = None
    retry_after: float | None = None
    delay: float = 0.0
    type: str | None = None
    code: str | None = None


def words(text: str) -> int:
    """The server's token count: whitespace-separated words."""
    return len(text.split())


def split_text(text: str) -> list[str]:
    """``text`` cut into streaming deltas, one word each with the whitespace after it (their
    concatenation is ``text``)."""
    return re.findall(r"\s*\S+\s*|\s+", text) if text else []


def _content_text(content: Any) -> str:
    """The text of a message's content: a string, or a list of parts/blocks (text, Responses'
    input_text/output_text, Anthropic's tool_result with its own content)."""
    if isinstance(content, list):
        texts = []
        for part in content:
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, dict):
                if "text" in part:
                    texts.append(str(part.get("text", "")))
                elif part.get("type") == "tool_result":
                    texts.append(_content_text(part.get("content")))
        return " ".join(texts)
    return str(content or "")


def prompt_text(request: dict[str, Any]) -> str:
    """The request's prompt as one string: chat ``messages`` (content parts flattened),
    Anthropic's ``system`` first, the Responses API's ``instructions`` and ``input`` (a string or
    items; a ``function_call_output``'s ``output``)."""
    parts = []
    system = request.get("system")
    if system is not None:
        parts.append(_content_text(system))
    if request.get("instructions") is not None:
        parts.append(str(request["instructions"]))
    source = request.get("input")
    if isinstance(source, str):
        parts.append(source)
    elif isinstance(source, list):
        for item in source:
            if isinstance(item, dict):
                if item.get("type") == "function_call_output":
                    parts.append(str(item.get("output", "")))
                elif "content" in item:
                    parts.append(_content_text(item.get("content")))
    for message in request.get("messages", []):
        parts.append(_content_text(message.get("content")))
    return "\n".join(parts)
