"""From a trace session's event stream to RLM iterations.

The rules, applied as events arrive:

- An ``llm_call`` outside any open code-execution span opens a new iteration (its prompt and
  response; its tokens as the iteration's own call) and completes the previous one.
- A code-execution span is a span whose start ``inputs`` has a ``code`` key. ``llm_call`` events
  inside it (at any depth) are its sub-LLM calls (``llm_query``).
- A ``code_exec`` event adds a code block to the current iteration: code, stdout, stderr, locals,
  duration, the sub-calls gathered in its span plus any listed in its ``sub_llm_calls`` (dspy-go
  writes them there), and ``final_answer`` when the data has one. A code-execution span that ends
  without a ``code_exec`` event still becomes a block, from its inputs and outputs.
- The end of a root span completes the current iteration; if no block gave a final answer, the
  root span's outputs become it (so ``--final`` shows what the program returned).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson

from llmlog.records import TraceEvent, TraceEventType
from llmlog.render import rfc3339_nano
from llmlog.serialize import serializer
from llmlog_trace_rlm.model import CodeBlock, Iteration, SubCall, messages_of

__all__ = ["IterationBuilder", "answer_text", "sub_call"]

_SPAN, _LLM, _CODE = TraceEventType.SPAN, TraceEventType.LLM_CALL, TraceEventType.CODE_EXEC
_MAX_DEPTH = 1000


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _float(value: Any) -> float:
    try:
        number = float(value or 0.0)
    except (TypeError, ValueError):
        return 0.0
    return number if number == number and abs(number) != float("inf") else 0.0


def _prompt_text(prompt: Any) -> str:
    if isinstance(prompt, str):
        return prompt
    return "\n\n".join(m["content"] for m in messages_of(prompt))


def sub_call(data: Mapping[str, Any]) -> SubCall:
    """A call entry from ``llm_call`` event data or a dspy-go ``sub_llm_calls`` item."""
    usage = data.get("usage") if isinstance(data.get("usage"), Mapping) else {}
    assert isinstance(usage, Mapping)
    if "execution_time" in data:
        seconds = _float(data["execution_time"])
    else:
        seconds = _float(data.get("latency_ms")) / 1000
    cost = usage.get("cost", data.get("cost"))
    error = data.get("error")
    return SubCall(
        prompt=_prompt_text(data.get("prompt", "")),
        response=str(data.get("response") or ""),
        prompt_tokens=_int(usage.get("prompt_tokens", data.get("prompt_tokens"))),
        completion_tokens=_int(usage.get("completion_tokens", data.get("completion_tokens"))),
        execution_time=seconds,
        model=str(data["model"]) if data.get("model") else None,
        cost=_float(cost) if isinstance(cost, int | float) else None,
        error=str(error) if error else None,
    )


def answer_text(value: Any) -> str | None:
    """A final answer as the string RLM readers expect."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        for key in ("final_answer", "answer", "response", "output"):
            if key in value:
                return answer_text(value[key])
        if len(value) == 1:
            return answer_text(next(iter(value.values())))
    if isinstance(value, list | tuple) and len(value) == 2 and isinstance(value[0], str):
        return f"{value[0]} = {answer_text(value[1])}"  # Go's [variable, value] answers
    return orjson.dumps(value, default=serializer.default).decode()


class IterationBuilder:
    """Feeds on :class:`~llmlog.TraceEvent` s and hands each completed iteration to ``emit``.

    :param emit: called with every completed iteration, numbered from 1 in order.
    """

    def __init__(self, emit: Callable[[Iteration], None]) -> None:
        self._emit = emit
        self._parents: dict[str, str | None] = {}
        self._code_spans: dict[str, str] = {}  # open code-execution span -> its code
        self._sub_calls: dict[str, list[SubCall]] = {}
        self._current: Iteration | None = None
        self._start_ns = 0
        self._end_ns = 0
        self.number = 0
        self._answered = False
        #: Model and provider of the first LLM call: the metadata's defaults.
        self.first_model: str | None = None
        self.first_provider: str | None = None

    def add(self, event: TraceEvent) -> None:
        """Take one event."""
        kind = event.type
        data = event.data
        if kind is _LLM:
            self._llm_call(event)
        elif kind is _SPAN and event.span_id:
            if data.get("event") == "start":
                self._parents[event.span_id] = event.parent_id or None
                inputs = data.get("inputs")
                if isinstance(inputs, Mapping) and "code" in inputs:
                    self._code_spans[event.span_id] = str(inputs["code"] or "")
            else:
                self._span_end(event)
        elif kind is _CODE:
            self._code_exec(event)

    def _code_span_of(self, span_id: str | None) -> str | None:
        steps = 0
        while span_id is not None and steps < _MAX_DEPTH:
            if span_id in self._code_spans:
                return span_id
            span_id = self._parents.get(span_id)
            steps += 1
        return None

    def _llm_call(self, event: TraceEvent) -> None:
        data = event.data
        call = sub_call(data)
        if self.first_model is None and call.model:
            self.first_model = call.model
            self.first_provider = str(data.get("provider") or "") or None
        code_span = self._code_span_of(event.span_id)
        if code_span is not None:
            self._sub_calls.setdefault(code_span, []).append(call)
            return
        self.complete()
        self._current = Iteration(
            prompt=messages_of(data.get("messages") or data.get("prompt", "")),
            response=call.response,
            # A call that says nothing about its model or usage adds no call entry.
            root_call=call if call.model or "usage" in data else None,
        )
        self._start_ns = event.time - int(call.execution_time * 1e9)
        self._end_ns = event.time

    def _block(self, block: CodeBlock, end_ns: int) -> None:
        if self._current is None:  # code with no LLM call before it
            self._current = Iteration()
            self._start_ns = end_ns - int(block.execution_time * 1e9)
        self._current.code_blocks.append(block)
        if block.final_answer is not None and self._current.final_answer is None:
            self._current.final_answer = block.final_answer
        self._end_ns = max(self._end_ns, end_ns)

    def _code_exec(self, event: TraceEvent) -> None:
        data = event.data
        code_span = self._code_span_of(event.span_id)
        calls = self._sub_calls.pop(code_span, []) if code_span is not None else []
        listed = data.get("sub_llm_calls")
        if isinstance(listed, list):
            calls += [sub_call(item) for item in listed if isinstance(item, Mapping)]
        if code_span is not None:
            del self._code_spans[code_span]  # its block is written; its end adds nothing
        locals_ = data.get("locals")
        seconds = (
            _float(data["execution_time"])
            if "execution_time" in data
            else _float(data.get("duration_ms")) / 1000
        )
        self._block(
            CodeBlock(
                code=str(data.get("code") or ""),
                stdout=str(data.get("stdout") or ""),
                stderr=str(data.get("stderr") or ""),
                locals=dict(locals_) if isinstance(locals_, Mapping) else {},
                execution_time=seconds,
                calls=calls,
                final_answer=answer_text(data.get("final_answer")),
            ),
            event.time,
        )

    def _span_end(self, event: TraceEvent) -> None:
        span_id = event.span_id
        assert span_id is not None
        data = event.data
        code = self._code_spans.pop(span_id, None)
        if code is not None:  # a code span that ended with no code_exec event
            outputs = data.get("outputs") if isinstance(data.get("outputs"), Mapping) else {}
            assert isinstance(outputs, Mapping)
            self._block(
                CodeBlock(
                    code=code,
                    stdout=str(outputs.get("stdout", outputs.get("output", "")) or ""),
                    stderr=str(data.get("error") or outputs.get("stderr", "") or ""),
                    execution_time=_float(data.get("duration_ms")) / 1000,
                    calls=self._sub_calls.pop(span_id, []),
                ),
                event.time,
            )
        outputs = data.get("outputs")
        current = self._current
        if span_id in self._parents and self._parents.pop(span_id) is None:  # a root ended
            # What the program returned is the run's answer, unless an iteration gave one.
            if (
                current is not None
                and current.final_answer is None
                and not self._answered
                and outputs
            ):
                current.final_answer = answer_text(outputs)
            self.complete()
        elif (
            current is not None
            and current.final_answer is None
            and isinstance(outputs, Mapping)
            and outputs.get("final_answer") is not None
        ):
            current.final_answer = answer_text(outputs["final_answer"])

    def complete(self) -> None:
        """Hand over the current iteration, if any (at a new iteration, a root's end, close)."""
        current = self._current
        if current is None:
            return
        self._current = None
        self._answered = self._answered or current.final_answer is not None
        self.number += 1
        current.iteration = self.number
        current.timestamp = rfc3339_nano(self._start_ns)
        current.iteration_time = max(0.0, (self._end_ns - self._start_ns) / 1e9)
        self._emit(current)
