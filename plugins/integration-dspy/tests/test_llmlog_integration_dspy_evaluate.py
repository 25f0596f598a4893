"""``dspy.Evaluate`` results on the trace: real Evaluate runs on DummyLM (threads too), each
example a span under the Evaluate root with its inputs, prediction, metric value and pass/fail,
the root with the score and counts; asserted from the trace file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dspy
import pytest
from dspy.utils import DummyLM
from hypothesis import given, settings
from hypothesis import strategies as st

import llmlog
import llmlog_integration_dspy as integration
from llmlog.testing import isolated_environment
from llmlog_integration_dspy.evaluation import metric_result

#: DummyLM keyed by a text in the prompt: any order of calls, so any number of threads.
ANSWERS = {"one": {"answer": "1"}, "two": {"answer": "2"}, "three": {"answer": "x"}}


class Program(dspy.Module):
    """A Predict, raising on the question "boom" (its first line and a second one)."""

    def __init__(self) -> None:
        super().__init__()
        self.answer = dspy.Predict("question -> answer")

    def forward(self, question: str) -> dspy.Prediction:
        if question.startswith("boom"):
            raise ValueError("the program failed\nwith a second line")
        return self.answer(question=question)


def examples(*pairs: tuple[str, str]) -> list[dspy.Example]:
    return [dspy.Example(question=q, answer=a).with_inputs("question") for q, a in pairs]


def exact(example: dspy.Example, prediction: dspy.Prediction, trace: Any = None) -> bool:
    return bool(example.answer == prediction.answer)


@pytest.fixture
def trace_dir(tmp_path: Path):
    with isolated_environment(tmp_path):
        llmlog.configure({"trace": {"dir": "traces"}, "outputs": {}})
        integration.instrument()
        try:
            yield tmp_path / "traces"
        finally:
            integration.uninstrument()


class Trace:
    """The one trace file of a directory, by span."""

    def __init__(self, directory: Path) -> None:
        integration.uninstrument()  # closes the shared session
        (path,) = sorted(directory.glob("*.jsonl"))
        self.path = path
        self.records = [json.loads(line) for line in path.read_text().splitlines()]
        spans = [r for r in self.records if r["type"] == "span"]
        self.starts = {r["span_id"]: r for r in spans if r["data"]["event"] == "start"}
        self.ends = {r["span_id"]: r["data"] for r in spans if r["data"]["event"] == "end"}

    def named(self, operation: str) -> list[str]:
        return [s for s, r in self.starts.items() if r["data"]["operation"] == operation]

    def children(self, span_id: str) -> list[str]:
        return [s for s, r in self.starts.items() if r.get("parent_id") == span_id]

    def name(self, span_id: str) -> str:
        return str(self.starts[span_id]["data"]["operation"])

    def examples(self, root: str) -> dict[int, str]:
        """The example spans under ``root`` by their devset index."""
        found = {}
        for span in self.children(root):
            evaluation = self.ends[span].get("evaluation") or {}
            if "index" in evaluation:
                found[evaluation["index"]] = span
        return found


def test_each_example_is_a_span_of_its_own_with_threads(trace_dir):
    dspy.configure(lm=DummyLM(ANSWERS))
    devset = examples(("one", "1"), ("two", "2"), ("three", "3"), ("one", "1"))
    result = dspy.Evaluate(devset=devset, metric=exact, num_threads=2)(Program())
    assert result.score == 75.0
    trace = Trace(trace_dir)
    (root,) = trace.named("Evaluate")
    assert trace.starts[root].get("parent_id") is None
    spans = trace.examples(root)
    assert sorted(spans) == [0, 1, 2, 3]
    for index, span in spans.items():
        # The index is the devset's: the span's inputs are that example's.
        assert trace.name(span) == f"Example #{index}"
        assert trace.starts[span]["data"]["inputs"] == {"question": devset[index].question}
        # The program's module spans hang beneath it, with their LLM call.
        (program,) = trace.children(span)
        assert trace.name(program) == "Program"
        (predict,) = trace.children(program)
        assert "LM:dummy" in [trace.name(s) for s in trace.children(predict)]
        end = trace.ends[span]
        assert end["outputs"]["expected"] == {"answer": devset[index].answer}
        assert "error" not in end  # an example's error is its program's, shown there
    results = {i: trace.ends[s]["evaluation"] for i, s in spans.items()}
    assert results[2] == {"index": 2, "metric": "exact", "score": False, "passed": False}
    assert results[0] == results[3] | {"index": 0}
    assert results[0] == {"index": 0, "metric": "exact", "score": True, "passed": True}
    assert trace.ends[spans[2]]["outputs"]["prediction"] == {"answer": "x"}
    assert trace.ends[root]["evaluation"] == {
        "metric": "exact",
        "score": 75.0,
        "examples": 4,
        "passed": 3,
        "failed": 1,
        "errors": 0,
    }
    # Nothing else hangs directly under the root: every call is in its example.
    assert sorted(trace.children(root)) == sorted(spans.values())


def test_a_float_metric_and_a_program_that_raises(trace_dir):
    dspy.configure(lm=DummyLM(ANSWERS))

    def closeness(example: dspy.Example, prediction: dspy.Prediction, trace: Any = None) -> float:
        return 1.0 if example.answer == prediction.answer else 0.25 if prediction.answer else 0.0

    devset = examples(("one", "1"), ("boom", "0"), ("three", "3"))
    result = dspy.Evaluate(devset=devset, metric=closeness, num_threads=1)(Program())
    assert result.score == round(100 * 1.25 / 3, 2)
    trace = Trace(trace_dir)
    (root,) = trace.named("Evaluate")
    spans = trace.examples(root)
    assert trace.ends[spans[0]]["evaluation"] == {
        "index": 0,
        "metric": "closeness",
        "score": 1.0,
        "passed": True,
    }
    # DSPy's own reading of a metric: a number passes when it is not 0.
    assert trace.ends[spans[2]]["evaluation"] == {
        "index": 2,
        "metric": "closeness",
        "score": 0.25,
        "passed": True,
    }
    failed = trace.ends[spans[1]]
    assert failed["evaluation"] == {
        "index": 1,
        "metric": "closeness",
        "score": 0.0,  # DSPy's failure_score
        "passed": False,
        "error": "ValueError: the program failed\nwith a second line",
    }
    assert "prediction" not in failed["outputs"]
    # The error itself is on the program's span, once.
    (program,) = trace.children(spans[1])
    assert trace.ends[program]["error"] == "the program failed\nwith a second line"
    errors = [r for r in trace.records if r["type"] == "error"]
    assert [e["span_id"] for e in errors] == [program]
    assert trace.ends[root]["evaluation"] == {
        "metric": "closeness",
        "score": result.score,
        "examples": 3,
        "passed": 2,
        "failed": 0,
        "errors": 1,
    }


def test_a_metric_returning_feedback(trace_dir):
    dspy.configure(lm=DummyLM(ANSWERS))

    def judged(example: dspy.Example, prediction: dspy.Prediction, trace: Any = None) -> Any:
        right = example.answer == prediction.answer
        return dspy.Prediction(
            score=1.0 if right else 0.0,
            feedback="right" if right else f"expected {example.answer}, got {prediction.answer}",
        )

    devset = examples(("two", "2"), ("three", "3"))
    dspy.Evaluate(devset=devset, metric=judged, num_threads=2)(Program())
    trace = Trace(trace_dir)
    (root,) = trace.named("Evaluate")
    spans = trace.examples(root)
    assert trace.ends[spans[0]]["evaluation"] == {
        "index": 0,
        "metric": "judged",
        "score": 1.0,
        "passed": True,
    }
    assert trace.ends[spans[0]]["outputs"]["feedback"] == "right"
    assert trace.ends[spans[1]]["evaluation"] == {
        "index": 1,
        "metric": "judged",
        "score": 0.0,
        "passed": False,
    }
    assert trace.ends[spans[1]]["outputs"]["feedback"] == "expected 3, got x"
    assert trace.ends[root]["evaluation"]["passed"] == 1


def test_a_judge_module_in_the_metric_hangs_under_its_example(trace_dir):
    # The first key found in the prompt answers: the judge's before the program's.
    dspy.configure(lm=DummyLM({"Verdict": {"verdict": "True"}, **ANSWERS}))
    judge = dspy.Predict("question, answer -> verdict: bool")

    def by_judge(example: dspy.Example, prediction: dspy.Prediction, trace: Any = None) -> bool:
        return bool(judge(question=f"Verdict {example.question}", answer=prediction.answer).verdict)

    devset = examples(("one", "1"), ("two", "2"), ("one", "1"))
    dspy.Evaluate(devset=devset, metric=by_judge, num_threads=2)(Program())
    trace = Trace(trace_dir)
    (root,) = trace.named("Evaluate")
    spans = trace.examples(root)
    assert sorted(spans) == [0, 1, 2]
    for span in spans.values():
        assert sorted(trace.name(s) for s in trace.children(span)) == ["Predict", "Program"]
    assert trace.ends[root]["evaluation"]["passed"] == 3


def test_a_judge_called_with_an_examples_very_inputs_is_not_an_example(trace_dir):
    # Answers by position: the program's answer, then the judge's verdict, per example.
    dspy.configure(lm=DummyLM([{"answer": "1"}, {"verdict": "True"}] * 3))
    judge = dspy.Predict("question -> verdict: bool")

    def by_judge(example: dspy.Example, prediction: dspy.Prediction, trace: Any = None) -> bool:
        # The example's own question object: "one" is one interned string, also example 2's.
        return bool(judge(question=example.question).verdict)

    devset = examples(("one", "1"), ("two", "1"), ("one", "1"))
    dspy.Evaluate(devset=devset, metric=by_judge, num_threads=1)(Program())
    trace = Trace(trace_dir)
    (root,) = trace.named("Evaluate")
    spans = trace.examples(root)
    assert sorted(spans) == [0, 1, 2]
    for index, span in spans.items():
        assert trace.starts[span]["data"]["inputs"] == {"question": devset[index].question}
        assert sorted(trace.name(s) for s in trace.children(span)) == ["Predict", "Program"]
    assert trace.children(root) == [spans[0], spans[1], spans[2]]


def test_a_metric_that_raises_makes_its_example_an_error(trace_dir):
    dspy.configure(lm=DummyLM(ANSWERS))

    def broken(example: dspy.Example, prediction: dspy.Prediction, trace: Any = None) -> bool:
        if example.question == "two":
            raise KeyError("metric bug")
        return True

    devset = examples(("one", "1"), ("two", "2"))
    dspy.Evaluate(devset=devset, metric=broken, num_threads=1)(Program())
    trace = Trace(trace_dir)
    (root,) = trace.named("Evaluate")
    spans = trace.examples(root)
    assert "metric raised" in trace.ends[spans[1]]["evaluation"]["error"]
    assert trace.ends[root]["evaluation"]["errors"] == 1
    assert trace.ends[root]["evaluation"]["passed"] == 1


def test_hostile_inputs_and_the_no_content_mode(tmp_path):
    hostile = "bell\x07 escape\x1b[31m red \u202e override"
    with isolated_environment(tmp_path):
        llmlog.configure({"trace": {"dir": "traces", "content": False}, "outputs": {}})
        integration.instrument()
        try:
            dspy.configure(lm=DummyLM({"bell": {"answer": "1"}}))
            dspy.Evaluate(devset=examples((hostile, "1")), metric=exact, num_threads=1)(Program())
            trace = Trace(tmp_path / "traces")
        finally:
            integration.uninstrument()
    assert "\x1b" not in trace.path.read_text()  # JSON escapes it
    (root,) = trace.named("Evaluate")
    (span,) = trace.examples(root).values()
    # The content goes (names stay), the result and the counts stay.
    assert trace.starts[span]["data"]["inputs"] == {"question": None}
    assert trace.ends[span]["evaluation"] == {
        "index": 0,
        "metric": "exact",
        "score": True,
        "passed": True,
    }
    assert trace.ends[root]["evaluation"]["passed"] == 1


def test_a_program_that_is_not_a_module_still_gets_its_counts(trace_dir):
    dspy.configure(lm=DummyLM(ANSWERS))
    predict = dspy.Predict("question -> answer")

    def program(question: str) -> dspy.Prediction:
        if question == "boom":
            raise RuntimeError("no")
        return predict(question=question)

    devset = examples(("one", "1"), ("boom", "0"), ("three", "3"))
    dspy.Evaluate(devset=devset, metric=exact, num_threads=1)(program)
    trace = Trace(trace_dir)
    (root,) = trace.named("Evaluate")
    # Its Predict calls open the examples (their arguments are the examples' inputs).
    assert sorted(trace.examples(root)) == [0, 2]
    assert trace.ends[root]["evaluation"] == {
        "metric": "exact",
        "score": round(100 / 3, 2),
        "examples": 3,
        "passed": 1,
        "failed": 1,
        "errors": 1,
    }


def test_an_evaluation_cancelled_by_max_errors_ends_every_example(trace_dir):
    dspy.configure(lm=DummyLM(ANSWERS))
    devset = examples(("boom 1", "0"), ("boom 2", "0"), ("one", "1"))
    with pytest.raises(Exception, match="cancelled"):
        dspy.Evaluate(devset=devset, metric=exact, num_threads=1, max_errors=2)(Program())
    trace = Trace(trace_dir)
    (root,) = trace.named("Evaluate")
    assert "Execution cancelled" in trace.ends[root]["error"]
    spans = trace.examples(root)
    assert sorted(spans) == [0, 1]
    assert all("error" in trace.ends[s]["evaluation"] for s in spans.values())
    assert set(trace.ends) == set(trace.starts)  # every span ended
    assert trace.ends[root]["evaluation"] == {"metric": "exact", "examples": 3, "errors": 2}


scores = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.builds(
        lambda score, feedback: dspy.Prediction(score=score, feedback=feedback),
        st.one_of(st.none(), st.booleans(), st.floats(), st.integers(), st.text(max_size=5)),
        st.one_of(st.none(), st.text(max_size=20)),
    ),
    st.builds(lambda text: dspy.Prediction(answer=text), st.text(max_size=5)),
)


@settings(max_examples=300, deadline=None)
@given(scores)
def test_any_metric_value_reads_without_raising(score):
    """Whatever a metric returns: a value, ``passed`` as DSPy's truthiness of a number or flag
    (``None`` when there is nothing to judge), and the feedback as text when there is some."""
    value, passed, feedback = metric_result(score)
    if isinstance(value, bool | int | float):
        assert passed is bool(value)
    else:
        assert passed is None
    assert feedback is None or isinstance(feedback, str)
    if isinstance(score, dspy.Prediction) and "feedback" in score:
        assert feedback == (None if score.feedback is None else str(score.feedback))


def test_results_that_cannot_be_read_still_end_the_root(trace_dir, capsys):
    """An ``EvaluationResult`` whose results are not what DSPy documents (here: a results list
    whose rows are not tuples) is reported once and counted; the program's result is untouched
    and every span of the trace still ends."""
    from llmlog_integration_dspy.evaluation import EvaluationRun

    dspy.configure(lm=DummyLM(ANSWERS))
    original = EvaluationRun.finish

    def broken(self: EvaluationRun, result: Any) -> dict[str, Any]:
        raise RuntimeError("unreadable results")

    EvaluationRun.finish = broken  # type: ignore[method-assign]
    try:
        result = dspy.Evaluate(devset=examples(("one", "1")), metric=exact)(Program())
    finally:
        EvaluationRun.finish = original  # type: ignore[method-assign]
    assert result.score == 100.0
    callback = integration.instrumented()
    assert callback is not None and callback.failures == 1
    assert "unreadable results" in capsys.readouterr().err
    trace = Trace(trace_dir)
    (root,) = trace.named("Evaluate")
    assert "evaluation" not in trace.ends[root]
    assert trace.ends[root]["outputs"]["score"] == 100.0
    assert set(trace.ends) == set(trace.starts)
    # The example's span ended without a result.
    assert [trace.name(s) for s in trace.children(root)] == ["Example #0"]
    assert trace.examples(root) == {}
