"""``llmlog view`` of a real ``dspy.Evaluate`` run (DummyLM, 2 threads) traced by the DSPy
integration, in the dspy and the rlm formats: the score and counts and a compact table of the
examples under the Evaluate root, each error once, hostile text escaped, and ``--json``."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

dspy = pytest.importorskip("dspy")
integration = pytest.importorskip("llmlog_integration_dspy")

import llmlog  # noqa: E402

HOSTILE = "bell\x07 esc\x1b[2J \u202e bidi \x9b csi"


def _evaluate(tmp_path: Path, fmt: str, questions: list[tuple[str, str]]) -> Path:
    from dspy.utils import DummyLM

    class Program(dspy.Module):
        def __init__(self) -> None:
            super().__init__()
            self.answer = dspy.Predict("question -> answer")

        def forward(self, question: str) -> Any:
            if question == "boom":
                raise ValueError("the program failed\nsecond line of the error")
            return self.answer(question=question)

    def metric(example: Any, prediction: Any, trace: Any = None) -> Any:
        right = example.answer == prediction.answer
        return dspy.Prediction(score=float(right), feedback="ok" if right else "wrong")

    devset = [dspy.Example(question=q, answer=a).with_inputs("question") for q, a in questions]
    traces = tmp_path / "traces"
    llmlog.configure({"trace": {"dir": str(traces), "format": fmt}, "outputs": {}})
    integration.instrument()
    try:
        answers = {"bell": {"answer": "2"}, "one": {"answer": "1"}, "three": {"answer": "x"}}
        for n in range(30):
            answers[f"q{n:02d}"] = {"answer": str(n)}
        dspy.configure(lm=DummyLM(answers))
        dspy.Evaluate(devset=devset, metric=metric, num_threads=2)(Program())
    finally:
        integration.uninstrument()
    (trace,) = traces.glob("*.jsonl")
    return trace


MIXED = [("one", "1"), ("three", "3"), ("boom", "0"), (HOSTILE, "2"), ("boom", "0")]


def test_the_evaluate_root_shows_its_score_and_a_table_of_examples(tmp_path, llmlog_main):
    trace = _evaluate(tmp_path, "dspy", MIXED)
    result = llmlog_main("view", str(trace), "--no-color", "--compact")
    assert result.status == 0, result.err
    lines = result.out.splitlines()
    root = 1  # the header, then the root
    assert lines[root].startswith("Evaluate ")
    assert lines[root + 1] == "  score 40 (metric) of 5 examples: 2 passed, 1 failed, 2 errors"
    assert lines[root + 2] == "  #0 pass 1  question: one → answer: 1 (ok)"
    assert lines[root + 3] == "  #1 FAIL 0  question: three → answer: x (wrong)"
    assert lines[root + 4] == "  #2 ERROR  question: boom → ValueError: the program failed"
    assert lines[root + 5].startswith("  #3 pass 1  question: bell\\x07 esc\\x1b[2J \\u202e")
    # The same error again points at the first example that showed it.
    assert lines[root + 6] == "  #4 ERROR  question: boom → the error of #2"
    # Each example's span line says its result; the tree is all there beneath the table.
    assert any(re.search(r"Example #1 \d+ms .*FAIL 0$", line) for line in lines)
    assert sum(1 for line in lines if "── Example #" in line) == 5
    # The error is printed once: its first line where it arose, then counted.
    assert result.out.count("E1 ValueError: the program failed (+1 line: --full)") == 1
    assert "E1 again (2nd time)" in result.out
    assert "second line of the error" not in result.out
    # Nothing of the hostile text reaches the terminal raw.
    assert not any(ch in result.out for ch in "\x07\x1b\u202e\x9b")
    full = llmlog_main("view", str(trace), "--no-color", "--full")
    assert full.out.count("second line of the error") == 1
    # --errors: the examples that did not pass, and the failing spans' trees.
    failing = llmlog_main("view", str(trace), "--no-color", "--errors").out
    rows = [line.split()[0:2] for line in failing.splitlines() if line.startswith("  #")]
    assert rows == [["#1", "FAIL"], ["#2", "ERROR"], ["#4", "ERROR"]]
    assert "Example #0" not in failing and "Example #2" in failing


def test_a_long_run_shows_the_first_rows_and_all_with_full(tmp_path, llmlog_main):
    questions = [(f"q{n:02d}", str(n if n % 3 else -1)) for n in range(25)]
    trace = _evaluate(tmp_path, "dspy", questions)
    short = llmlog_main("view", str(trace), "--no-color", "--compact")
    rows = [line for line in short.out.splitlines() if line.startswith("  #")]
    assert (
        len(rows) == 20 and rows[0].startswith("  #0  FAIL 0") and rows[1].startswith("  #1  pass")
    )
    assert "  … 5 more examples (--full)" in short.out
    assert "score 64 (metric) of 25 examples: 16 passed, 9 failed, 0 errors" in short.out
    full = llmlog_main("view", str(trace), "--no-color", "--compact", "--full")
    assert len([line for line in full.out.splitlines() if line.startswith("  #")]) == 25


def test_view_json_carries_the_results(tmp_path, llmlog_main):
    trace = _evaluate(tmp_path, "dspy", MIXED)
    result = llmlog_main("view", str(trace), "--json")
    assert result.status == 0, result.err
    document = json.loads(result.out)
    (run,) = document["summary"]["evaluations"]
    assert run["name"] == "Evaluate" and run["example_spans"] == 5
    assert {k: run[k] for k in ("metric", "score", "examples", "passed", "failed", "errors")} == {
        "metric": "metric",
        "score": 40.0,
        "examples": 5,
        "passed": 2,
        "failed": 1,
        "errors": 2,
    }
    examples = {r["name"]: r["evaluation"] for r in document["items"] if r["name"].startswith("Ex")}
    assert examples["Example #1"] == {"index": 1, "metric": "metric", "score": 0.0, "passed": False}
    assert examples["Example #2"]["error"].startswith("ValueError: the program failed")
    # The root's row carries the run's.
    (root,) = [r for r in document["items"] if r["name"] == "Evaluate"]
    assert root["evaluation"]["passed"] == 2
    # JSON escapes the C0 controls and --json the C1 ones.
    assert "\x1b" not in result.out and "\x9b" not in result.out


def test_the_rlm_format_ends_with_a_results_iteration(tmp_path, llmlog_main):
    trace = _evaluate(tmp_path, "rlm", MIXED)
    result = llmlog_main("view", str(trace), "--no-color")
    assert result.status == 0, result.err
    last = result.out.split("━━ Iteration")[-1]
    assert "[FINAL]" in last
    assert "score 40.0 (metric) of 5 examples: 2 passed, 1 failed, 2 errors" in last
    assert "#1 FAIL 0.0  question: three -> answer: x" in last
    assert "#2 ERROR 0.0  question: boom -> ValueError: the program failed" in last
    assert "second line" not in last
    assert not any(ch in result.out for ch in "\x07\x1b\u202e\x9b")
    # Only the last iteration is final: the run's answer is the score and counts.
    assert result.out.count("[FINAL]") == 1
    final = llmlog_main("view", str(trace), "--final")
    assert json.loads(final.out) == {
        "metric": "metric",
        "examples": 5,
        "score": 40.0,
        "passed": 2,
        "failed": 1,
        "errors": 2,
    }
