"""DSPy ``Evaluate`` results in OpenTelemetry: a real Evaluate run on DummyLM (2 threads), its
spans received by a real OTLP/HTTP receiver on 127.0.0.1: each example's span with a
``gen_ai.evaluation.result`` event, the Evaluate root with the score and counts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dspy
import pytest
from dspy.utils import DummyLM

import llmlog
from llmlog.testing import isolated_environment


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path) -> Iterator[Path]:
    with isolated_environment(tmp_path):
        yield tmp_path


class Program(dspy.Module):
    def __init__(self) -> None:
        super().__init__()
        self.answer = dspy.Predict("question -> answer")

    def forward(self, question: str) -> Any:
        if question == "boom":
            raise ValueError("the program failed")
        return self.answer(question=question)


def judged(example: Any, prediction: Any, trace: Any = None) -> Any:
    right = example.answer == prediction.answer
    return dspy.Prediction(score=float(right), feedback="right" if right else "wrong answer")


@pytest.mark.parametrize("content", [False, True])
def test_evaluate_results_reach_a_real_receiver(receiver, content):
    llmlog.configure(
        {
            "outputs": {},
            "trace": {"dir": "traces"},
            "integrations": {
                "otlp": receiver.traces_options(capture_content=content),
                "dspy": {"enabled": True},
            },
        }
    )
    devset = [
        dspy.Example(question=q, answer=a).with_inputs("question")
        for q, a in [("one", "1"), ("three", "3"), ("boom", "0")]
    ]
    try:
        dspy.configure(lm=DummyLM({"one": {"answer": "1"}, "three": {"answer": "x"}}))
        dspy.Evaluate(devset=devset, metric=judged, num_threads=2)(Program())
    finally:
        llmlog.shutdown()  # flushes the exporter
    spans = {s["name"]: s for s in receiver.spans}
    root = receiver.attributes(spans["Evaluate"])
    assert {k: v for k, v in root.items() if k.startswith("llmlog.evaluation.")} == {
        "llmlog.evaluation.metric": "judged",
        "llmlog.evaluation.score": 33.33,
        "llmlog.evaluation.examples": 3,
        "llmlog.evaluation.passed": 1,
        "llmlog.evaluation.failed": 1,
        "llmlog.evaluation.errors": 1,
    }
    results = {}
    for n in range(3):
        example = spans[f"Example #{n}"]
        assert example["parentSpanId"] == spans["Evaluate"]["spanId"]
        assert receiver.attributes(example)["llmlog.evaluation.index"] == n
        (event,) = [e for e in example.get("events", []) if e["name"] == "gen_ai.evaluation.result"]
        results[n] = receiver.attributes(event)
    assert results[0]["gen_ai.evaluation.name"] == "judged"
    assert results[0]["gen_ai.evaluation.score.value"] == 1.0
    assert results[0]["gen_ai.evaluation.score.label"] == "pass"
    assert results[1]["gen_ai.evaluation.score.label"] == "fail"
    assert results[2]["gen_ai.evaluation.score.label"] == "error"
    assert results[2]["gen_ai.evaluation.explanation"] == "ValueError: the program failed"
    # The metric's feedback is content: exported only with capture_content.
    if content:
        assert results[1]["gen_ai.evaluation.explanation"] == "wrong answer"
    else:
        assert "gen_ai.evaluation.explanation" not in results[1]
