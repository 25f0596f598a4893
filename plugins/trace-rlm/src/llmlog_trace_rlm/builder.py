"""From a trace session's event stream to RLM iterations.

The rules, applied as events arrive:

- An ``llm_call`` outside any open code-execution span opens a new iteration (its prompt, as its
  ``messages`` when it has them, and response; the call itself, with its tokens, model, latency,
  text prompt and error, as the iteration's own call) and completes the previous one.
- A code-execution span is a span whose start ``inputs`` has a ``code`` key. ``llm_call`` events
  inside it (at any depth) are its sub-LLM calls (``llm_query``).
- A ``code_exec`` event adds a code block to the current iteration: code, stdout, stderr, locals,
  duration, the sub-calls gathered in its span plus those listed in its ``sub_llm_calls`` (dspy-go
  writes them there) that are not also among them (one call is counted once), and
  ``final_answer`` when the data has one. A code-execution span that ends without a ``code_exec``
  event still becomes a block, from its inputs and outputs.
- A span that ends with an error gives that error to the LLM call made directly in it, if any.
- An iteration's time runs from the start of its step (the span under the root that holds its
  LLM call, such as DSPy's ``Predict``) to the end of that step or of its last code block, whichever
  is later; an iteration whose call was made in the root itself starts at the call.
- The end of a root span completes the current iteration; if no block gave a final answer, the
  root span's outputs become it (so ``--final`` shows what the program returned).
- A DSPy ``Evaluate`` root (its end has an ``evaluation`` with ``examples``) ends with one more
  iteration of its own, the results: its prompt the root's name and inputs, its response the
  score and counts and a line per example (index, pass/FAIL/ERROR, metric value, inputs and
  prediction, or the error's first line), gathered from its example spans' ``evaluation``; its
  final answer the score and counts (not the last example's answer).
- A root span in which no LLM call was made is one iteration of its own (so that a program that
  traces no LLM call, such as the tracing example in the docs, still writes a file every RLM
  reader shows): its prompt a ``system`` message naming the span and a ``user`` message holding
  its inputs as JSON, its response its outputs as JSON (and ``error: …`` if it failed), its final
  answer its outputs, its code-execution spans its code blocks, its time the span's duration. A
  root still open when the session closes is written the same way.

Numbers are kept as the events give them; :meth:`~llmlog_trace_rlm.model.Iteration.to_json` brings
them into what readers decode, and the writer reports any change.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from llmlog.ext import TraceEvent, TraceEventType, rfc3339_nano, serializer
from llmlog_trace_rlm.model import (
    CodeBlock,
    Iteration,
    SubCall,
    answer_of,
    answer_text,
    detail_counts,
    messages_of,
    plain_text,
    prompt_text,
)

__all__ = ["IterationBuilder", "answer_text", "clamp_ns", "span_seconds", "sub_call"]

_SPAN, _LLM, _CODE = TraceEventType.SPAN, TraceEventType.LLM_CALL, TraceEventType.CODE_EXEC
_MAX_DEPTH = 1000
#: Event times are kept between 1970 and the end of year 9999 (what RFC 3339 can write).
_MAX_NS = 253_402_300_799 * 1_000_000_000
#: Longest duration used to place an iteration in time (about 31 years).
_MAX_SECONDS = 1e9


def clamp_ns(ns: int) -> int:
    """An event time (nanoseconds since the epoch) within what an RFC 3339 timestamp can say."""
    return min(max(ns, 0), _MAX_NS)


def span_seconds(value: Any) -> float:
    """A duration usable for arithmetic on event times: finite, from 0 to about 31 years."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    try:
        number = float(value)
    except OverflowError:
        return _MAX_SECONDS
    if math.isnan(number):
        return 0.0
    return min(max(number, 0.0), _MAX_SECONDS)


def _stamp(ns: int) -> str:
    return rfc3339_nano(clamp_ns(ns))


def _number(value: Any) -> Any:
    """A number as given (the writer brings it in range and reports), anything else as 0."""
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:  # not digits, or too many of them
            return 0
    return 0


def _seconds_of(data: Mapping[str, Any], seconds_key: str, ms_key: str) -> Any:
    if seconds_key in data:
        return _number(data[seconds_key])
    ms = _number(data.get(ms_key))
    try:
        return ms / 1000
    except OverflowError:  # an integer too large for a float
        return math.inf


def sub_call(data: Mapping[str, Any]) -> SubCall:
    """A call entry from ``llm_call`` event data or a dspy-go ``sub_llm_calls`` item."""
    usage = data.get("usage")
    if not isinstance(usage, Mapping):
        usage = {}
    cost = usage.get("cost", data.get("cost"))
    error = data.get("error")
    model = data.get("model")
    messages = data.get("messages")
    params = data.get("params")
    return SubCall(
        prompt=prompt_text(data.get("prompt", "")),
        response=plain_text(data.get("response")),
        prompt_tokens=_number(usage.get("prompt_tokens", data.get("prompt_tokens"))),
        completion_tokens=_number(usage.get("completion_tokens", data.get("completion_tokens"))),
        execution_time=_seconds_of(data, "execution_time", "latency_ms"),
        model=plain_text(model) if model else None,
        cost=cost if isinstance(cost, int | float) and not isinstance(cost, bool) else None,
        error=plain_text(error) if error else None,
        details=detail_counts(usage) or detail_counts(data),
        cost_source=_source(usage.get("cost_source")),
        cost_unknown=_source(usage.get("cost_unknown")),
        messages=[dict(m) for m in messages if isinstance(m, Mapping)]
        if isinstance(messages, list)
        else None,
        params=dict(params) if isinstance(params, Mapping) and params else None,
    )


def _source(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _same_call(a: SubCall, b: SubCall) -> bool:
    return (a.prompt, a.response, a.prompt_tokens, a.completion_tokens) == (
        b.prompt,
        b.response,
        b.prompt_tokens,
        b.completion_tokens,
    )


@attrs.define
class _Root:
    """An open root span: what its own iteration needs if it makes no LLM call."""

    operation: str
    inputs: Any
    start_ns: int
    llm: bool = False  # an LLM call was made under it
    iterations: bool = False  # an iteration was opened under it


def _one_line(value: Any, width: int = 80) -> str:
    if isinstance(value, Mapping):
        text = ", ".join(f"{k}: {plain_text(v)}" for k, v in value.items())
    else:
        text = plain_text(value)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _results_text(
    evaluation: Mapping[str, Any],
    results: list[tuple[Mapping[str, Any], Any, Any]],
    error: Any,
) -> str:
    """An Evaluate run's results as the response of its results iteration."""
    counts = ", ".join(
        f"{plain_text(n)} {'error' if key == 'errors' and n == 1 else key}"
        for key in ("passed", "failed", "errors")
        if (n := evaluation.get(key)) is not None
    )
    head = f"score {plain_text(evaluation.get('score'))}"
    if evaluation.get("metric"):
        head += f" ({plain_text(evaluation['metric'])})"
    head += f" of {plain_text(evaluation.get('examples'))} examples"
    lines = [head + (f": {counts}" if counts else "")]
    if error:
        lines.append(f"error: {plain_text(error)}")
    for result, inputs, outputs in sorted(results, key=lambda r: _index(r[0])):
        failure = result.get("error")
        verdict = (
            "ERROR"
            if failure
            else "pass"
            if result.get("passed") is True
            else "FAIL"
            if result.get("passed") is False
            else "-"
        )
        shown = outputs.get("prediction") if isinstance(outputs, Mapping) else None
        after = plain_text(failure).split("\n", 1)[0] if failure else _one_line(shown)
        lines.append(
            f"#{plain_text(result.get('index'))} {verdict} {plain_text(result.get('score'))}"
            f"  {_one_line(inputs)} -> {after}"
        )
    return "\n".join(lines)


def _index(result: Mapping[str, Any]) -> int:
    index = result.get("index")
    return index if isinstance(index, int) else 0


class IterationBuilder:
    """Feeds on :class:`~llmlog.TraceEvent` s and hands each completed iteration to ``emit``.

    :param emit: called with every completed iteration, numbered from 1 in order.
    """

    def __init__(self, emit: Callable[[Iteration], None]) -> None:
        self._emit = emit
        self._parents: dict[str, str | None] = {}  # open span -> its parent
        self._starts: dict[str, int] = {}  # open span -> its start
        self._roots: dict[str, _Root] = {}
        # Evaluate runs: each root's example spans' inputs while open, and their results.
        self._top_inputs: dict[str, Any] = {}
        self._results: dict[str, list[tuple[Mapping[str, Any], Any, Any]]] = {}
        self._code_spans: dict[str, str] = {}  # open code-execution span -> its code
        self._sub_calls: dict[str, list[SubCall]] = {}
        self._span_calls: dict[str, SubCall] = {}  # open span -> the last call made in it
        self._current: Iteration | None = None
        self._current_root: str | None = None
        self._anchor: str | None = None  # the step (span under the root) of the current call
        self._start_ns = 0
        self._end_ns = 0
        self._own_usage = False
        self.number = 0
        self._answered = False
        #: Model and provider of the first LLM call: the metadata's defaults.
        self.first_model: str | None = None
        self.first_provider: str | None = None

    def add(self, event: TraceEvent) -> None:
        """Take one event."""
        kind = event.type
        if kind is _LLM:
            self._llm_call(event)
        elif kind is _SPAN and event.span_id:
            if event.data.get("event") == "start":
                self._span_start(event)
            else:
                self._span_end(event)
        elif kind is _CODE:
            self._code_exec(event)

    def _span_start(self, event: TraceEvent) -> None:
        span_id = event.span_id
        assert span_id is not None
        data = event.data
        parent = event.parent_id or None
        self._parents[span_id] = parent
        self._starts[span_id] = event.time
        inputs = data.get("inputs")
        if isinstance(inputs, Mapping) and "code" in inputs:
            self._code_spans[span_id] = plain_text(inputs["code"])
        if parent is None:
            self._roots[span_id] = _Root(plain_text(data.get("operation")), inputs, event.time)
        elif parent in self._roots:
            self._top_inputs[span_id] = inputs

    def _chain(self, span_id: str | None) -> list[str]:
        """``span_id`` and its open ancestors, innermost first (bounded: a cycle stops)."""
        chain: list[str] = []
        parents = self._parents
        while span_id is not None and span_id in parents and len(chain) < _MAX_DEPTH:
            chain.append(span_id)
            span_id = parents[span_id]
        return chain

    def _root_of(self, chain: list[str]) -> str | None:
        return chain[-1] if chain and chain[-1] in self._roots else None

    def _code_span_in(self, chain: list[str]) -> str | None:
        return next((s for s in chain if s in self._code_spans), None)

    def _open(self, iteration: Iteration, root: str | None, start_ns: int, end_ns: int) -> None:
        self.complete()
        self._current = iteration
        self._current_root = root
        self._anchor = None
        self._start_ns, self._end_ns = start_ns, end_ns
        if root is not None:
            self._roots[root].iterations = True

    def _llm_call(self, event: TraceEvent) -> None:
        data = event.data
        call = sub_call(data)
        if self.first_model is None and call.model:
            self.first_model = call.model
            self.first_provider = plain_text(data.get("provider")) or None
        span = event.span_id
        if span is not None and span in self._parents:  # only open spans: their end forgets it
            self._span_calls[span] = call
        chain = self._chain(event.span_id)
        root = self._root_of(chain)
        if root is not None:
            self._roots[root].llm = True
        code_span = self._code_span_in(chain)
        if code_span is not None:
            self._sub_calls.setdefault(code_span, []).append(call)
            return
        messages = data.get("messages")
        prompt = messages_of(messages if isinstance(messages, list) else data.get("prompt", ""))
        anchor = chain[-2] if root is not None and len(chain) >= 2 else None
        if anchor is not None:
            start = self._starts[anchor]
        else:
            start = event.time - int(span_seconds(call.execution_time) * 1e9)
        self._open(
            Iteration(prompt=prompt, response=call.response, root_call=call),
            root,
            start,
            event.time,
        )
        self._anchor = anchor
        self._own_usage = "usage" in data

    def _block(self, block: CodeBlock, chain: list[str], start_ns: int, end_ns: int) -> None:
        if self._current is None:  # code with no LLM call before it
            self._open(Iteration(), self._root_of(chain), start_ns, end_ns)
        current = self._current
        assert current is not None
        current.code_blocks.append(block)
        if block.final_answer is not None and current.final_answer is None:
            current.final_answer = block.final_answer
        self._end_ns = max(self._end_ns, end_ns)

    def _code_exec(self, event: TraceEvent) -> None:
        data = event.data
        chain = self._chain(event.span_id)
        code_span = self._code_span_in(chain)
        calls = self._sub_calls.pop(code_span, []) if code_span is not None else []
        listed = data.get("sub_llm_calls")
        if isinstance(listed, list):
            traced = list(calls)
            for item in listed:
                if not isinstance(item, Mapping):
                    continue
                call = sub_call(item)
                same = next((c for c in traced if _same_call(c, call)), None)
                if same is None:  # a call traced in the span too is the same call: once
                    calls.append(call)
                else:
                    traced.remove(same)
        if calls:
            root = self._root_of(chain)
            if root is not None:
                self._roots[root].llm = True
        if code_span is not None:
            del self._code_spans[code_span]  # its block is written; its end adds nothing
        locals_ = data.get("locals")
        elapsed = _seconds_of(data, "execution_time", "duration_ms")
        start = self._starts.get(code_span or "", event.time - int(span_seconds(elapsed) * 1e9))
        final = data.get("final_answer")
        self._block(
            CodeBlock(
                code=plain_text(data.get("code")),
                stdout=plain_text(data.get("stdout")),
                stderr=plain_text(data.get("stderr")),
                locals=dict(locals_) if isinstance(locals_, Mapping) else {},
                execution_time=elapsed,
                calls=calls,
                final_answer=answer_of(final),
            ),
            chain,
            start,
            event.time,
        )

    def _span_end(self, event: TraceEvent) -> None:
        span_id = event.span_id
        assert span_id is not None
        data = event.data
        error = data.get("error")
        call = self._span_calls.pop(span_id, None)
        if error and call is not None and call.error is None:
            call.error = plain_text(error)
        outputs = data.get("outputs")
        code = self._code_spans.pop(span_id, None)
        if code is not None:  # a code span that ended with no code_exec event
            shown = outputs if isinstance(outputs, Mapping) else {}
            self._block(
                CodeBlock(
                    code=code,
                    stdout=plain_text(shown.get("stdout", shown.get("output", ""))),
                    stderr=plain_text(error or shown.get("stderr", "")),
                    execution_time=_seconds_of(data, "execution_time", "duration_ms"),
                    calls=self._sub_calls.pop(span_id, []),
                ),
                self._chain(span_id),
                self._starts.get(span_id, event.time),
                event.time,
            )
        if span_id == self._anchor and self._current is not None:
            self._end_ns = max(self._end_ns, event.time)
        inputs = self._top_inputs.pop(span_id, None)
        evaluation = data.get("evaluation")
        if isinstance(evaluation, Mapping) and "index" in evaluation:
            parent = self._parents.get(span_id)
            if parent is not None and parent in self._roots:
                self._results.setdefault(parent, []).append((evaluation, inputs, outputs))
        self._parents.pop(span_id, None)
        self._starts.pop(span_id, None)
        root = self._roots.pop(span_id, None)
        current = self._current
        if root is not None:
            self._root_end(span_id, root, event)
        elif (
            current is not None
            and current.final_answer is None
            and isinstance(outputs, Mapping)
            and outputs.get("final_answer") is not None
        ):
            current.final_answer = answer_of(outputs["final_answer"])

    def _root_end(self, span_id: str, root: _Root, event: TraceEvent) -> None:
        data = event.data
        outputs = data.get("outputs")
        evaluation = data.get("evaluation")
        results = self._results.pop(span_id, [])
        if isinstance(evaluation, Mapping) and "examples" in evaluation:
            self.complete()  # the last example's iteration keeps its own answer
            self._open(
                Iteration(
                    prompt=self._root_prompt(root),
                    response=_results_text(evaluation, results, data.get("error")),
                    final_answer=answer_of(serializer.dumps(dict(evaluation)).decode("utf-8")),
                ),
                None,
                root.start_ns,
                event.time,
            )
            self.complete()
            return
        current = self._current
        if current is not None and (self._current_root in (span_id, None)):
            if not root.llm:  # code but no LLM call: the root is the iteration
                self._start_ns = min(self._start_ns, root.start_ns)
                self._end_ns = max(self._end_ns, event.time)
                if not current.prompt:
                    current.prompt = self._root_prompt(root)
                    current.response = self._root_response(outputs, data.get("error"))
            # What the program returned is the run's answer, unless an iteration gave one.
            if current.final_answer is None and outputs and not (self._answered and root.llm):
                current.final_answer = answer_of(outputs)
            self.complete()
        elif not root.llm and not root.iterations:
            self._root_iteration(root, outputs, data.get("error"), event.time)

    def _root_iteration(self, root: _Root, outputs: Any, error: Any, end_ns: int) -> None:
        self._open(
            Iteration(
                prompt=self._root_prompt(root),
                response=self._root_response(outputs, error),
                final_answer=answer_of(outputs) if outputs else None,
            ),
            None,
            root.start_ns,
            end_ns,
        )
        self.complete()

    @staticmethod
    def _root_prompt(root: _Root) -> list[dict[str, str]]:
        inputs = "" if root.inputs is None else serializer.dumps(root.inputs).decode("utf-8")
        return [{"role": "system", "content": root.operation}, {"role": "user", "content": inputs}]

    @staticmethod
    def _root_response(outputs: Any, error: Any) -> str:
        parts = [serializer.dumps(outputs).decode("utf-8")] if outputs else []
        if error:
            parts.append(f"error: {plain_text(error)}")
        return "\n".join(parts)

    def complete(self) -> None:
        """Hand over the current iteration, if any (at a new iteration, a root's end, close)."""
        current = self._current
        if current is None:
            return
        self._current = None
        self._current_root = self._anchor = None
        call = current.root_call
        # The call's own entry is kept whenever it says something the iteration line does not
        # (dspy-go's code-less iterations, converted, say nothing more).
        if call is not None and not (
            call.model
            or self._own_usage
            or call.execution_time
            or call.error
            or call.prompt != prompt_text(current.prompt)
        ):
            current.root_call = None
        self._answered = self._answered or current.final_answer is not None
        self.number += 1
        current.iteration = self.number
        current.timestamp = _stamp(self._start_ns)
        current.iteration_time = max(0.0, (clamp_ns(self._end_ns) - clamp_ns(self._start_ns)) / 1e9)
        self._emit(current)

    def finish(self, now_ns: int) -> None:
        """At close: complete the current iteration, and write each root still open that made no
        LLM call as its own iteration (nothing traced is lost)."""
        self.complete()
        for root in list(self._roots.values()):
            if not root.llm and not root.iterations:
                self._root_iteration(root, None, None, max(now_ns, root.start_ns))
        self._roots.clear()
