"""Fixtures of the export tests: isolation, and runs recorded from real DSPy programs (on
``dspy.utils.DummyLM``) through the DSPy integration, in the ``dspy`` trace format."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from llmlog.testing import isolated_environment

#: What the recorded questions carry: a credential that redaction must take out of every export.
SECRET = "sk-proj-" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
QUESTIONS = {
    "What is the capital of France?": "Paris",
    "What is the capital of Italy?": "Rome",
    f"Which key is {SECRET}?": "none",
}


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path) -> Iterator[Path]:
    with isolated_environment(tmp_path):
        yield tmp_path


def record_qa_run(directory: Path, *, failing: bool = True) -> Path:
    """A ``QA`` module (one ``Predict``) called once per question of :data:`QUESTIONS` under the
    DSPy integration, then (``failing``) once more with an LM that returns nothing parseable, so
    the run holds a failed call. Returns the trace file."""
    import dspy
    from dspy.utils import DummyLM

    import llmlog

    class QA(dspy.Module):
        def __init__(self) -> None:
            super().__init__()
            self.qa = dspy.Predict("question -> answer")

        def forward(self, question: str) -> dspy.Prediction:
            return self.qa(question=question)

    llmlog.configure({"integrations": {"dspy": {"enabled": True}}})
    program = QA()
    lm = DummyLM([{"answer": answer} for answer in QUESTIONS.values()])
    try:
        with llmlog.new_trace_session(directory / "run.jsonl", format="dspy") as session:
            with dspy.context(lm=lm):
                for question in QUESTIONS:
                    program(question=question)
            if failing:
                from dspy.utils.exceptions import DSPyError

                with (
                    dspy.context(lm=DummyLM(["no fields here"]), adapter=dspy.ChatAdapter()),
                    pytest.raises(DSPyError),
                ):
                    program(question="Will this parse?")
    finally:
        llmlog.configure({})
    # The session redacted the secret as it wrote; a trace written by another tool (dspy-go, an
    # older llmlog with redaction off) holds it as it was: put it back, for export to redact.
    path = Path(session.path)
    path.write_text(path.read_text().replace("[REDACTED:openai-key]", SECRET))
    assert SECRET in path.read_text()
    return path


@pytest.fixture
def run_file(tmp_path: Path) -> Path:
    """The QA run of :func:`record_qa_run`, failed call included."""
    return record_qa_run(tmp_path)


@pytest.fixture
def questions() -> dict[str, str]:
    return dict(QUESTIONS)


@pytest.fixture
def secret() -> str:
    return SECRET


@pytest.fixture
def record_run():  # type: ignore[no-untyped-def]
    """:func:`record_qa_run`, for tests that record into a directory of their own."""
    return record_qa_run
