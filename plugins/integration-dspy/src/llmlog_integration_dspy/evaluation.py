"""``dspy.Evaluate`` results on the trace: each example a span of its own under the ``Evaluate``
root, carrying the example's inputs, the prediction, the metric's value and pass/fail.

DSPy has no hook per example: ``Evaluate`` runs a local ``process_item`` (``program(**inputs)``
then ``metric(example, prediction)``) in ``ParallelExecutor``'s threads, each bound to the
``Evaluate`` call's id. So the example span is opened lazily, by the first call of the program
(the very module ``Evaluate`` was given; any module when the program is a plain function) whose
parent is the ``Evaluate`` call and whose arguments are one not-yet-seen example's inputs (the
very objects ``example.inputs()`` hands over, matched by identity, so equal texts of different
examples never get mixed up and the index is stable with any number of threads). Calls made
afterwards on the same thread that are not a new example (an LLM-as-judge metric's module) nest
under that example. The metric's value is known only from the ``EvaluationResult`` at
``on_evaluate_end``: the example spans end there, just before the root, each matched to its
result by the identity of the prediction it returned.

"Passed" follows DSPy's own reading of a metric (its optimizers keep a demo whose metric is
truthy): ``True``/``False`` as they are, a number passes when it is not 0, a
``dspy.Prediction(score=..., feedback=...)`` by its score (its feedback is kept as text).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

from dspy.primitives.example import Example as _DspyExample

from llmlog.ext import TraceSession, new_span_id

_TO_DICT = _DspyExample.toDict

__all__ = ["EvaluationRun", "metric_result", "plain_data"]

_perf = time.perf_counter_ns


#: Field values ``Example.toDict`` hands back as they are.
_SCALARS = frozenset({str, int, float, bool, type(None)})


def plain_data(value: Any) -> Any:
    """A DSPy result as plain data: ``Prediction``/``Example`` as their fields."""
    # The common case without toDict: an Example or Prediction (toDict not overridden) whose
    # fields are all strings, numbers or None, which toDict copies as they are. toDict asks
    # each value hasattr(toDict) and isinstance(BaseModel) (an ABC's Python-level check): a
    # module's outputs go through here at every module end.
    if isinstance(value, _DspyExample) and getattr(type(value), "toDict", None) is _TO_DICT:
        store = value.__dict__.get("_store")
        if type(store) is dict:
            for field in store.values():  # a loop, not all(...): no generator frame
                if type(field) not in _SCALARS:
                    break
            else:
                return dict(store)
    to_dict = getattr(value, "toDict", None)
    if callable(to_dict):
        try:
            return to_dict()
        except Exception:
            pass
    return value


def metric_result(score: Any) -> tuple[Any, bool | None, str | None]:
    """``(value, passed, feedback)`` of what a metric returned; ``passed`` is ``None`` when the
    metric gave nothing (``None``)."""
    feedback: str | None = None
    value = score
    if not isinstance(score, (bool, int, float, str)) and score is not None:
        plain = plain_data(score)
        if isinstance(plain, Mapping) and "score" in plain:
            value = plain.get("score")
            text = plain.get("feedback")
            feedback = None if text is None else str(text)
        else:
            try:
                value = float(score)
            except Exception:
                value = str(score)
    if value is None:
        return None, None, feedback
    if not isinstance(value, (bool, int, float)):
        try:
            value = float(value)
        except Exception:
            return str(value), None, feedback
    return value, bool(value), feedback


def _is_failed_placeholder(prediction: Any) -> bool:
    """What ``Evaluate`` puts where an example raised: a new, empty ``dspy.Prediction``."""
    if type(prediction).__name__ != "Prediction":
        return False
    try:
        return len(prediction.keys()) == 0
    except Exception:
        return False


def _input_key(values: Mapping[str, Any]) -> frozenset[tuple[str, int]]:
    return frozenset((str(k), id(v)) for k, v in values.items())


class _Example:
    __slots__ = (
        "call_id",
        "closed",
        "done",
        "ended",
        "exception",
        "index",
        "labels",
        "last",
        "prediction",
        "span_id",
        "start",
    )

    def __init__(self, index: int, span_id: str, call_id: str, labels: Any) -> None:
        self.index = index
        self.span_id = span_id
        self.call_id = call_id  # the program's top-level module call
        self.labels = labels
        self.start = self.last = _perf()
        self.prediction: Any = None
        self.exception: BaseException | None = None
        self.done = False
        self.closed = False  # no call hangs under it any more
        self.ended = False  # its span's end is written


class EvaluationRun:
    """One running ``Evaluate`` call: where its calls hang and, at its end, its results.

    Thread-safe: ``ParallelExecutor``'s workers open examples concurrently.

    :param session: the trace session of the ``Evaluate`` root.
    :param root_span: the root's span id.
    :param devset: the examples, in the order of ``EvaluationResult.results``.
    :param metric: the metric's name.
    :param program: the program ``Evaluate`` runs when it is a ``dspy.Module`` (only its calls
        open examples: a judge module in the metric, called with an example's very inputs, does
        not), else ``None`` (any module call may).
    """

    def __init__(
        self,
        session: TraceSession,
        root_span: str,
        devset: Any,
        metric: str | None,
        program: Any = None,
    ) -> None:
        self.session = session
        self.program = program
        self.root_span = root_span
        self.metric = metric
        self._lock = threading.Lock()
        self._devset = list(devset) if devset is not None else []  # keeps the inputs alive
        self._unclaimed: dict[frozenset[tuple[str, int]], list[int]] = {}
        for index in range(len(self._devset) - 1, -1, -1):  # popped from the end: in order
            try:
                key = _input_key(self._devset[index].inputs())
            except Exception:  # no inputs set: DSPy itself fails on this example
                continue
            self._unclaimed.setdefault(key, []).append(index)
        self._examples: list[_Example] = []
        self._by_thread: dict[int, _Example] = {}
        self._by_call: dict[str, _Example] = {}

    def parent_for(
        self, call_id: str, kind: str, values: Mapping[str, Any] | None, instance: Any = None
    ) -> str:
        """The span a call made directly under ``Evaluate`` hangs under: a new example's span
        when it is the program's call on an example, else the example running on this thread,
        else the root."""
        thread = threading.get_ident()
        program = self.program
        if (
            kind == "module"
            and values is not None
            and "args" not in values
            and (program is None or instance is program)
        ):
            with self._lock:
                waiting = self._unclaimed.get(_input_key(values))
                index = waiting.pop() if waiting else None
            if index is not None:
                try:
                    labels = plain_data(self._devset[index].labels())
                except Exception:
                    labels = None
                example = _Example(index, new_span_id(), call_id, labels)
                self.session.emit_span_start(
                    example.span_id, self.root_span, f"Example #{index}", values
                )
                with self._lock:
                    self._examples.append(example)
                    self._by_thread[thread] = example
                    self._by_call[call_id] = example
                return example.span_id
        with self._lock:
            current = self._by_thread.get(thread)
            if current is None or current.closed:
                return self.root_span
            self._by_call[call_id] = current
            return current.span_id

    def call_ended(self, call_id: str, outputs: Any, exception: BaseException | None) -> None:
        """A module call made under ``Evaluate`` ended: the program's call gives its example's
        prediction or exception."""
        with self._lock:
            example = self._by_call.pop(call_id, None)
        if example is None:
            return
        example.last = _perf()
        if call_id == example.call_id:
            example.prediction = outputs
            example.exception = exception
            example.done = True

    def finish(self, result: Any) -> dict[str, Any]:
        """End every example span with its result; return the root's ``evaluation`` (score
        and counts). ``result`` is the ``EvaluationResult`` (``None`` when ``Evaluate`` raised,
        as when ``max_errors`` cancelled it)."""
        with self._lock:
            examples = sorted(self._examples, key=lambda e: e.index)
            for example in examples:
                example.closed = True
        raw = getattr(result, "results", None)
        results: list[Any] = raw if isinstance(raw, list) else []
        by_prediction: dict[int, int] | None = None
        errors: set[int] = set()
        spanned: set[int] = set()
        for example in examples:
            row = results[example.index] if example.index < len(results) else None
            prediction = example.prediction
            if (
                row is not None
                and example.done
                and prediction is not None
                and not _same(row, prediction)
            ):
                # Two examples with the same inputs may have met their spans crosswise: the
                # result holding this span's prediction is its own.
                if by_prediction is None:
                    by_prediction = {}
                    for i, item in enumerate(results):
                        by_prediction.setdefault(id(_at(item, 1)), i)
                found = by_prediction.get(id(prediction))
                row = results[found] if found is not None else row
            error: str | None = None
            if example.exception is not None:
                error = f"{type(example.exception).__name__}: {example.exception}"
            elif not example.done:
                error = "not finished (the evaluation stopped first)"
            elif (
                row is not None
                and not _same(row, prediction)
                and _is_failed_placeholder(_at(row, 1))
            ):
                error = "the metric raised (DSPy scored the example with its failure_score)"
            value, passed, feedback = metric_result(_at(row, 2)) if row is not None else (None,) * 3
            evaluation: dict[str, Any] = {
                "index": example.index,
                "metric": self.metric,
                "score": value,
            }
            if error is not None:
                evaluation["error"] = error
                errors.add(example.index)
                passed = False
            evaluation["passed"] = passed
            spanned.add(example.index)
            outputs: dict[str, Any] = {}
            if example.done and example.exception is None:
                outputs["prediction"] = plain_data(prediction)
            if example.labels:
                outputs["expected"] = example.labels
            if feedback is not None:
                outputs["feedback"] = feedback
            example.ended = True
            self.session.emit_span_end(
                example.span_id,
                outputs or None,
                None,  # the error is the program's span's, shown there once
                (example.last - example.start) // 1_000_000,
                evaluation=evaluation,
            )
        summary: dict[str, Any] = {"metric": self.metric, "examples": len(self._devset)}
        if not results:
            summary["errors"] = len(errors)
            return summary
        passed_count = 0
        for i, item in enumerate(results):
            if i not in spanned and _is_failed_placeholder(_at(item, 1)):
                errors.add(i)  # a program that is no dspy.Module: no span, but DSPy's placeholder
            elif i not in errors and metric_result(_at(item, 2))[1]:
                passed_count += 1
        score = getattr(result, "score", None)
        summary["score"] = score if isinstance(score, (int, float)) else None
        summary["examples"] = len(results)
        summary["passed"] = passed_count
        summary["failed"] = len(results) - passed_count - len(errors)
        summary["errors"] = len(errors)
        return summary

    def close(self) -> None:
        """End the example spans :meth:`finish` did not (it failed half-way), with no result:
        every span of the trace ends."""
        with self._lock:
            examples = [e for e in self._examples if not e.ended]
            for example in examples:
                example.closed = example.ended = True
        for example in examples:
            self.session.emit_span_end(
                example.span_id, None, None, (example.last - example.start) // 1_000_000
            )


def _at(row: Any, i: int) -> Any:
    try:
        return row[i]
    except Exception:
        return None


def _same(row: Any, prediction: Any) -> bool:
    return _at(row, 1) is prediction
