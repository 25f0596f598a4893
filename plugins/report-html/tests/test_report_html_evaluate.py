"""Two real ``dspy.Evaluate`` runs (DummyLM, 2 threads) compared with ``llmlog diff``: examples
matched by their devset index whatever order the threads ran them in, each example's and the
run's result change shown, in the terminal and in ``--json``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

dspy = pytest.importorskip("dspy")
integration = pytest.importorskip("llmlog_integration_dspy")

import llmlog  # noqa: E402
from llmlog_report_html import diff_runs, load_run  # noqa: E402


def _evaluate(directory: Path, third_answer: str) -> Path:
    from dspy.utils import DummyLM

    devset = [
        dspy.Example(question=q, answer=a).with_inputs("question")
        for q, a in [("one", "1"), ("two", "2"), ("three", "3"), ("four", "4")]
    ]

    def metric(example: Any, prediction: Any, trace: Any = None) -> bool:
        return bool(example.answer == prediction.answer)

    llmlog.configure({"trace": {"dir": str(directory)}, "outputs": {}})
    integration.instrument()
    try:
        answers = {"one": "1", "two": "2", "three": third_answer, "four": "4"}
        dspy.configure(lm=DummyLM({k: {"answer": v} for k, v in answers.items()}))
        dspy.Evaluate(devset=devset, metric=metric, num_threads=2)(
            dspy.Predict("question -> answer")
        )
    finally:
        integration.uninstrument()
    (trace,) = directory.glob("*.jsonl")
    return trace


def test_diff_of_two_evaluate_runs_shows_each_changed_result(tmp_path, cli):
    before = _evaluate(tmp_path / "a", "x")
    after = _evaluate(tmp_path / "b", "3")
    diff = diff_runs(load_run([before]), load_run([after]))
    changed = {" / ".join(n.path[1:]): n for n in diff.changed}
    # Only the example whose answer changed (and its calls, and the run) differ: the others are
    # matched to their own example, not to whichever ran in that place.
    examples = [p for p in changed if p.startswith("Evaluate / Example")]
    assert "Evaluate / Example #2" in examples
    assert all(p.startswith("Evaluate / Example #2") for p in examples), examples
    example = changed["Evaluate / Example #2"]
    assert example.a is not None and example.b is not None
    assert (example.a.result, example.b.result) == ("FAIL", "pass")
    run = changed["Evaluate"]
    assert run.a is not None and run.b is not None
    assert run.a.result == "score 75: 3 passed, 1 failed, 0 errors"
    assert run.b.result == "score 100: 4 passed, 0 failed, 0 errors"
    done = cli("diff", str(before), str(after))
    assert done.returncode == 0, done.stderr
    assert "~ Evaluate / Example #2\n" in done.stdout
    assert "  result    FAIL → pass" in done.stdout
    assert "Example #0" not in done.stdout and "Example #3" not in done.stdout
    document = json.loads(cli("diff", "--json", str(before), str(after)).stdout)
    (row,) = [r for r in document["items"] if r["path"][-1] == "Example #2"]
    assert (row["a"]["result"], row["b"]["result"]) == ("FAIL", "pass")
