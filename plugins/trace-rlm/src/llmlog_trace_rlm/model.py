"""The RLM trajectory as data: metadata, iterations, code blocks and sub-LLM calls.

:meth:`to_json` methods produce what every RLM reader accepts (``rlm-format.md`` §7): integers as
integers, ``prompt`` always a list of ``{role, content}`` strings, one ``rlm_calls`` list per block,
and each call with both the Go token fields (``prompt_tokens``/``completion_tokens``) and Python
rlm's ``usage_summary``.
"""

from __future__ import annotations

from typing import Any

import attrs

__all__ = ["LLM_CALL_BLOCK", "CodeBlock", "Iteration", "Metadata", "SubCall", "messages_of"]

#: The code of the block that carries a code-less iteration's own LLM call, so that viewers, which
#: count tokens only in ``rlm_calls``, count it (dspy-go wrote such iterations with no tokens).
LLM_CALL_BLOCK = "# LLM call (no code executed)"


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # multimodal content parts: keep their text
        return "\n".join(
            str(part.get("text", "")) if isinstance(part, dict) else str(part) for part in value
        )
    return "" if value is None else str(value)


def messages_of(prompt: Any) -> list[dict[str, str]]:
    """A prompt in any shape (string, message list, message dict) as ``[{role, content}]``
    with string contents, the only shape the Go viewers and the web visualizer all read."""
    if isinstance(prompt, list):
        out = []
        for message in prompt:
            if isinstance(message, dict):
                out.append(
                    {
                        "role": _text(message.get("role") or "user"),
                        "content": _text(message.get("content")),
                    }
                )
            else:
                out.append({"role": "user", "content": _text(message)})
        return out
    if isinstance(prompt, dict):
        if "content" in prompt or "role" in prompt:
            return messages_of([prompt])
        if isinstance(prompt.get("messages"), list):
            return messages_of(prompt["messages"])
    return [{"role": "user", "content": _text(prompt)}]


@attrs.define
class SubCall:
    """One LLM call: a sub-call made from code (``llm_query``), or an iteration's own call."""

    prompt: str = ""
    response: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    execution_time: float = 0.0
    model: str | None = None
    #: USD; ``None`` when the price is unknown (never written as 0).
    cost: float | None = None
    error: str | None = None

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens

    def to_json(self) -> dict[str, Any]:
        """The ``rlm_calls[j]`` object."""
        model = self.model or "unknown"
        per_model: dict[str, Any] = {
            "total_calls": 1,
            "total_input_tokens": self.prompt_tokens,
            "total_output_tokens": self.completion_tokens,
        }
        usage: dict[str, Any] = {"model_usage_summaries": {model: per_model}}
        if self.cost is not None:
            per_model["total_cost"] = self.cost
            usage["total_cost"] = self.cost
        out: dict[str, Any] = {
            "root_model": model,
            "prompt": self.prompt,
            "response": self.response,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "usage_summary": usage,
            "execution_time": self.execution_time,
        }
        if self.error is not None:
            out["error"] = self.error
        return out

    def key(self) -> tuple[Any, ...]:
        """What makes two entries the same call (rlm-go repeats one list in every block)."""
        return (self.prompt, self.response, self.prompt_tokens, self.completion_tokens, self.model)


@attrs.define
class CodeBlock:
    """One executed code block and what it produced."""

    code: str
    stdout: str = ""
    stderr: str = ""
    locals: dict[str, Any] = attrs.Factory(dict)
    execution_time: float = 0.0
    calls: list[SubCall] = attrs.Factory(list)
    final_answer: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The ``code_blocks[i]`` object."""
        return {
            "code": self.code,
            "result": {
                "stdout": self.stdout,
                "stderr": self.stderr,
                "locals": self.locals,
                "execution_time": self.execution_time,
                "rlm_calls": [call.to_json() for call in self.calls],
                "final_answer": self.final_answer,
            },
        }


@attrs.define
class Iteration:
    """One iteration: the model's call, the code it ran, and a final answer if it gave one."""

    iteration: int = 0
    timestamp: str = ""
    prompt: list[dict[str, str]] = attrs.Factory(list)
    response: str = ""
    code_blocks: list[CodeBlock] = attrs.Factory(list)
    final_answer: str | None = None
    iteration_time: float | None = None
    #: The call that produced ``response`` (tokens, model, latency) when it is known. Written as
    #: the extra key ``root_call`` (readers ignore unknown keys) unless the iteration ran no code,
    #: in which case it is the one call of an :data:`LLM_CALL_BLOCK` block.
    root_call: SubCall | None = None
    #: The line it was read from (0 when built in memory).
    line: int = 0

    @property
    def calls(self) -> list[SubCall]:
        """Every LLM call of the iteration, its own call first, each once."""
        own = [self.root_call] if self.root_call is not None else []
        return own + [c for b in self.code_blocks for c in b.calls]

    @property
    def has_error(self) -> bool:
        """A block wrote to stderr (what both viewers call an error)."""
        return any(b.stderr for b in self.code_blocks)

    def to_json(self) -> dict[str, Any]:
        """The iteration line's object."""
        blocks = [b.to_json() for b in self.code_blocks]
        out: dict[str, Any] = {
            "type": "iteration",
            "iteration": self.iteration,
            "timestamp": self.timestamp,
            "prompt": self.prompt,
            "response": self.response,
            "code_blocks": blocks,
            "final_answer": self.final_answer,
            "iteration_time": self.iteration_time,
        }
        if self.root_call is not None:
            if blocks:
                out["root_call"] = self.root_call.to_json()
            else:
                block = CodeBlock(
                    LLM_CALL_BLOCK,
                    execution_time=self.root_call.execution_time,
                    calls=[self.root_call],
                )
                out["code_blocks"] = [block.to_json()]
        return out


@attrs.define
class Metadata:
    """The metadata line: the run's configuration."""

    root_model: str = "unknown"
    max_depth: int = 1
    max_iterations: int | None = None
    backend: str = "unknown"
    backend_kwargs: dict[str, Any] = attrs.Factory(dict)
    environment_type: str = "llmlog"
    environment_kwargs: dict[str, Any] = attrs.Factory(dict)
    other_backends: list[str] | None = None
    context: str = ""
    query: str = ""
    timestamp: str = ""
    line: int = 0

    def to_json(self) -> dict[str, Any]:
        """The metadata line's object (``context`` and ``query`` omitted when empty, as in Go)."""
        out: dict[str, Any] = {
            "type": "metadata",
            "timestamp": self.timestamp,
            "root_model": self.root_model,
            "max_depth": self.max_depth,
            "max_iterations": self.max_iterations,
            "backend": self.backend,
            "backend_kwargs": self.backend_kwargs,
            "environment_type": self.environment_type,
            "environment_kwargs": self.environment_kwargs,
            "other_backends": self.other_backends,
        }
        if self.context:
            out["context"] = self.context
        if self.query:
            out["query"] = self.query
        return out
