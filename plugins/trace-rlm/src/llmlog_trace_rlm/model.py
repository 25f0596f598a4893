"""The RLM trajectory as data: metadata, iterations, code blocks and sub-LLM calls.

:meth:`to_json` methods produce what every RLM reader accepts (``rlm-format.md`` §7), whatever
the objects hold: ``prompt`` always a list of ``{role, content}`` strings, one ``rlm_calls`` list
per block, each call with both the Go token fields (``prompt_tokens``/``completion_tokens``) and
Python rlm's ``usage_summary``, and every number one that each reader decodes:

- integer fields (``iteration``, token counts, ``max_iterations``, ``max_depth``) are JSON
  integers from 0 to :data:`MAX_INT` (2^53 - 1, the largest integer JavaScript's ``JSON.parse``
  keeps exactly; Go's ``int`` takes it too): a larger one is written as :data:`MAX_INT`, a
  negative one, ``NaN`` or a fraction as the nearest integer in range;
- times in seconds are finite and not negative (``NaN``, infinities and negative times are
  written as 0: Go and ``JSON.parse`` refuse ``NaN``, and ``null`` reads as no time at all);
- a cost that is not a finite number is written as unknown (absent).

Each such change is appended to the ``notes`` list given to ``to_json``, so that the writer can
report it (once) instead of writing a line a reader drops.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import attrs

from llmlog.ext import USAGE_DETAIL_FIELDS, big_int_text, serializer

__all__ = [
    "LLM_CALL_BLOCK",
    "MAX_INT",
    "WRITER",
    "Answer",
    "CodeBlock",
    "Iteration",
    "Metadata",
    "SubCall",
    "answer_of",
    "answer_text",
    "count",
    "detail_counts",
    "messages_of",
    "plain_text",
    "prompt_text",
    "seconds",
]

#: The code of the block that carries a code-less iteration's own LLM call, so that viewers, which
#: count tokens only in ``rlm_calls``, count it (dspy-go wrote such iterations with no tokens).
LLM_CALL_BLOCK = "# LLM call (no code executed)"

#: The ``writer`` of the metadata lines llmlog writes.
WRITER = "llmlog"

#: The largest integer written: 2^53 - 1, what every RLM reader decodes exactly.
MAX_INT = 2**53 - 1

#: A final answer as RLM files hold it: a string, rlm-go's ``[variable, value]`` pair, or none.
Answer = str | list[str] | None


def plain_text(value: Any) -> str:
    """Any value as text, never raising: a string as it is, ``None`` as ``""``, anything else as
    its JSON (deep nesting cut, huge integers named by size: see :mod:`llmlog.serialize`)."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        return big_int_text(value)  # str() refuses integers of more than 4,300 digits
    return serializer.dumps(value).decode("utf-8")


def _content(value: Any) -> str:
    if isinstance(value, list):  # multimodal content parts: keep their text
        return "\n".join(
            plain_text(part.get("text", "")) if isinstance(part, Mapping) else plain_text(part)
            for part in value
        )
    return plain_text(value)


def messages_of(prompt: Any) -> list[dict[str, str]]:
    """A prompt in any shape (string, message list, message dict) as ``[{role, content}]``
    with string contents, the only shape the Go viewers and the web visualizer all read."""
    if isinstance(prompt, list):
        out = []
        for message in prompt:
            if isinstance(message, Mapping):
                out.append(
                    {
                        "role": _content(message.get("role") or "user"),
                        "content": _content(message.get("content")),
                    }
                )
            else:
                out.append({"role": "user", "content": _content(message)})
        return out
    if isinstance(prompt, Mapping):
        if "content" in prompt or "role" in prompt:
            return messages_of([prompt])
        if isinstance(prompt.get("messages"), list):
            return messages_of(prompt["messages"])
    return [{"role": "user", "content": _content(prompt)}]


def prompt_text(prompt: Any) -> str:
    """A prompt as one string (what a call entry's ``prompt`` holds): a string as it is,
    messages as their contents separated by blank lines."""
    if isinstance(prompt, str):
        return prompt
    return "\n\n".join(m["content"] for m in messages_of(prompt))


def answer_of(value: Any) -> Answer:
    """A final answer in the shape RLM readers take: a string, a ``[variable, value]`` pair of
    strings (rlm-go's answers, kept as a pair), or ``None``. From a mapping (what a program
    returned), its ``final_answer``, ``answer``, ``response`` or ``output`` entry or its only
    entry; anything else as JSON text."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list | tuple) and len(value) == 2 and isinstance(value[0], str):
        second = value[1]
        return [value[0], second if isinstance(second, str) else plain_text(second)]
    if isinstance(value, Mapping):
        for key in ("final_answer", "answer", "response", "output"):
            if key in value:
                return answer_of(value[key])
        if len(value) == 1:
            return answer_of(next(iter(value.values())))
    return plain_text(value)


def answer_text(value: Any) -> str | None:
    """A final answer as one line of text: a ``[variable, value]`` pair as ``variable = value``
    (as the rlm-go viewer shows it)."""
    answer = answer_of(value)
    if isinstance(answer, list):
        return f"{answer[0]} = {answer[1]}"
    return answer


def _brief(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        text = big_int_text(value)
        return text if len(text) <= 24 else f"{text[:12]}…({len(text)} digits)"
    if isinstance(value, float):
        return repr(value)
    return f"a {type(value).__name__}"


def count(value: Any, field: str, notes: list[str] | None = None) -> int:
    """``value`` as an integer field every reader decodes (0 to :data:`MAX_INT`); a change other
    than an integral float becoming an integer is noted in ``notes`` as ``field=value``."""
    if type(value) is int and 0 <= value <= MAX_INT:
        return value
    fixed = 0
    if isinstance(value, int):
        fixed = min(max(int(value), 0), MAX_INT)
    elif isinstance(value, float) and not math.isnan(value):
        fixed = MAX_INT if value >= MAX_INT else 0 if value <= 0 else int(value)
        if fixed == value:
            return fixed
    if notes is not None:
        notes.append(f"{field}={_brief(value)}")
    return fixed


def seconds(value: Any, field: str, notes: list[str] | None = None) -> float:
    """``value`` as a time in seconds every reader decodes: finite and not negative, else 0
    (noted in ``notes``)."""
    if type(value) is float and 0.0 <= value < math.inf:
        return value
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_INT:
        return float(value)
    if notes is not None:
        notes.append(f"{field}={_brief(value)}")
    return 0.0


def _optional_seconds(value: Any, field: str, notes: list[str] | None) -> float | None:
    return None if value is None else seconds(value, field, notes)


def _cost(value: Any, field: str, notes: list[str] | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if math.isfinite(number):
            return number
    if notes is not None:
        notes.append(f"{field}={_brief(value)}")
    return None


def detail_counts(source: Mapping[str, Any]) -> dict[str, int]:
    """The detail counts in ``source`` that are non-negative integers within 2^53 (an extension
    of the format: a value of another kind is ignored, as a reader ignores an unknown key)."""
    found = {}
    for name in USAGE_DETAIL_FIELDS:
        value = source.get(name)
        if type(value) is float and value.is_integer():
            value = int(value)
        if type(value) is int and 0 < value <= MAX_INT:
            found[name] = value
    return found


def _object(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


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
    #: The detail counts that were given (``cache_read_tokens``, ``cache_creation_tokens``,
    #: ``reasoning_tokens``, ``audio_tokens``, ``image_tokens``: part of the prompt or
    #: completion tokens), written beside ``prompt_tokens``; readers that do not know them
    #: ignore them.
    details: dict[str, int] = attrs.field(factory=dict)
    #: Where a known cost came from (``reported``, ``override``, ``table:NAME@VERSION``), and why
    #: an unknown one is unknown: written beside ``prompt_tokens`` (readers ignore them).
    cost_source: str | None = None
    cost_unknown: str | None = None
    #: The chat messages of the call, when the trace had them (``prompt`` is their text): written
    #: as the extra key ``messages`` so that a replay can key the call on them.
    messages: list[dict[str, Any]] | None = None
    #: The request parameters that change the answer (``temperature``, ``max_tokens``...), when
    #: the trace had them: the extra key ``params``.
    params: dict[str, Any] | None = None

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens

    def to_json(self, notes: list[str] | None = None) -> dict[str, Any]:
        """The ``rlm_calls[j]`` object (changed numbers noted in ``notes``)."""
        model = plain_text(self.model) or "unknown"
        prompt_tokens = count(self.prompt_tokens, "prompt_tokens", notes)
        completion_tokens = count(self.completion_tokens, "completion_tokens", notes)
        cost = _cost(self.cost, "cost", notes)
        per_model: dict[str, Any] = {
            "total_calls": 1,
            "total_input_tokens": prompt_tokens,
            "total_output_tokens": completion_tokens,
        }
        usage: dict[str, Any] = {"model_usage_summaries": {model: per_model}}
        if cost is not None:
            per_model["total_cost"] = cost
            usage["total_cost"] = cost
        out: dict[str, Any] = {
            "root_model": model,
            "prompt": prompt_text(self.prompt),
            "response": plain_text(self.response),
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "usage_summary": usage,
            "execution_time": seconds(self.execution_time, "execution_time", notes),
        }
        for name in USAGE_DETAIL_FIELDS:
            value = self.details.get(name)
            if value:
                out[name] = count(value, name, notes)
        if cost is not None and self.cost_source:
            out["cost_source"] = plain_text(self.cost_source)
        elif cost is None and self.cost_unknown:
            out["cost_unknown"] = plain_text(self.cost_unknown)
        if self.error is not None:
            out["error"] = plain_text(self.error)
        if self.messages is not None:
            out["messages"] = self.messages
        if self.params:
            out["params"] = self.params
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
    #: Python rlm's ``REPLResult.final_answer`` (a string there; a pair is kept as a pair).
    final_answer: Answer = None

    def to_json(self, notes: list[str] | None = None) -> dict[str, Any]:
        """The ``code_blocks[i]`` object (changed numbers noted in ``notes``)."""
        return {
            "code": plain_text(self.code),
            "result": {
                "stdout": plain_text(self.stdout),
                "stderr": plain_text(self.stderr),
                "locals": _object(self.locals),
                "execution_time": seconds(self.execution_time, "execution_time", notes),
                "rlm_calls": [call.to_json(notes) for call in self.calls],
                "final_answer": answer_of(self.final_answer),
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
    #: A string, rlm-go's ``[variable, value]`` pair, or ``None``.
    final_answer: Answer = None
    #: Seconds; ``None`` as Python rlm writes it for its default-answer iteration.
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

    def to_json(self, notes: list[str] | None = None) -> dict[str, Any]:
        """The iteration line's object (changed numbers noted in ``notes``)."""
        blocks = [b.to_json(notes) for b in self.code_blocks]
        out: dict[str, Any] = {
            "type": "iteration",
            "iteration": count(self.iteration, "iteration", notes),
            "timestamp": plain_text(self.timestamp),
            "prompt": messages_of(self.prompt),
            "response": plain_text(self.response),
            "code_blocks": blocks,
            "final_answer": answer_of(self.final_answer),
            "iteration_time": _optional_seconds(self.iteration_time, "iteration_time", notes),
        }
        if self.root_call is not None:
            call = self.root_call.to_json(notes)
            if call.get("messages") == out["prompt"]:
                del call["messages"]  # the iteration's prompt says it
            if blocks:
                out["root_call"] = call
            else:
                result = {
                    "stdout": "",
                    "stderr": "",
                    "locals": {},
                    "execution_time": call["execution_time"],
                    "rlm_calls": [call],
                    "final_answer": None,
                }
                out["code_blocks"] = [{"code": LLM_CALL_BLOCK, "result": result}]
        return out


@attrs.define
class Metadata:
    """The metadata line: the run's configuration."""

    root_model: str = "unknown"
    max_depth: int = 1
    #: 0 when the run did not say (the Go readers need an integer).
    max_iterations: int = 0
    backend: str = "unknown"
    backend_kwargs: dict[str, Any] = attrs.Factory(dict)
    environment_type: str = "llmlog"
    environment_kwargs: dict[str, Any] = attrs.Factory(dict)
    other_backends: list[str] | None = None
    context: str = ""
    query: str = ""
    timestamp: str = ""
    #: The trace id of the session that wrote the file (an extra key readers ignore; ``""`` when
    #: unknown), so that a file converted to the dspy format and back keeps it.
    trace_id: str = ""
    #: What wrote the file (an extra key): :data:`WRITER` in files llmlog wrote, whose blocks
    #: each hold their own sub-calls (rlm-go repeats one list in every block; the reader reads
    #: such repeats once, except in llmlog's files, where two blocks may make the same calls).
    writer: str = WRITER
    line: int = 0

    def to_json(self, notes: list[str] | None = None) -> dict[str, Any]:
        """The metadata line's object (``context`` and ``query`` omitted when empty, as in Go;
        changed numbers noted in ``notes``)."""
        others = self.other_backends
        out: dict[str, Any] = {
            "type": "metadata",
            "timestamp": plain_text(self.timestamp),
            "root_model": plain_text(self.root_model),
            "max_depth": count(self.max_depth, "max_depth", notes),
            "max_iterations": count(self.max_iterations, "max_iterations", notes),
            "backend": plain_text(self.backend),
            "backend_kwargs": _object(self.backend_kwargs),
            "environment_type": plain_text(self.environment_type),
            "environment_kwargs": _object(self.environment_kwargs),
            "other_backends": [plain_text(o) for o in others] if isinstance(others, list) else None,
        }
        if self.context:
            out["context"] = plain_text(self.context)
        if self.query:
            out["query"] = plain_text(self.query)
        if self.trace_id:
            out["trace_id"] = plain_text(self.trace_id)
        out["writer"] = WRITER
        return out
