"""The trace file a fixed DSPy program writes, byte for byte apart from ids and times, against a
golden copy: a change to the integration's or the trace session's hot path (issue 18) must not
change what is recorded. Regenerate after an intended change of the format with
``LLMLOG_UPDATE_GOLDEN=1`` and review the diff."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import dspy
import pytest
from dspy.utils import DummyLM

import llmlog
import llmlog_integration_dspy as integration
from llmlog.testing import isolated_environment

GOLDEN = Path(__file__).parent / "golden" / "dspy_trace.jsonl"
#: Keys whose values are times or durations: they differ from run to run.
TIMES = {"timestamp", "start_time", "duration_ms", "latency_ms"}
IDS = {"trace_id", "span_id", "parent_id"}


def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"Sunny in {city}"


class Failing(dspy.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inner = dspy.Predict("question -> answer")

    def forward(self, question: str) -> Any:
        self.inner(question=question)
        raise ValueError("no answer with api_key=sk-abcdefghijklmnopqrstuvwxyz0123456789")


def _program() -> None:
    answers = [
        {"answer": "Paris"},
        {"reasoning": "2 and 2", "answer": "4"},
        {
            "next_thought": "look",
            "next_tool_name": "get_weather",
            "next_tool_args": {"city": "Paris"},
        },
        {"next_thought": "done", "next_tool_name": "finish", "next_tool_args": {}},
        {"reasoning": "sunny", "answer": "Sunny"},
        {"answer": "secret"},
        {"answer": "again"},
    ]
    lm = DummyLM(answers)
    lm.kwargs["api_key"] = "sk-abcdefghijklmnopqrstuvwxyz0123456789"  # redacted in the span
    with dspy.context(lm=lm):
        dspy.Predict("question -> answer")(question="Capital of France?")
        dspy.ChainOfThought("question -> answer")(question="2+2?")
        dspy.ReAct("question -> answer", tools=[get_weather])(question="Weather in Paris?")
        # A secret in the inputs: redacted in the span, the prompt and the messages.
        dspy.Predict("question, token -> answer")(
            question="Use it", token="Bearer abcdefghijklmnopqrstuvwxyz0123456789"
        )
        with pytest.raises(ValueError):
            Failing()(question="Why?")


def _normalised(lines: list[str]) -> list[str]:
    """Each line with ids numbered in order of appearance and times zeroed; the rest as written
    (key order and spelling included: the JSON is re-encoded without sorting)."""
    ids: dict[str, str] = {}

    def walk(value: Any, key: str = "") -> Any:
        if isinstance(value, dict):
            return {k: walk(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        if key in TIMES:
            return 0
        if key in IDS and isinstance(value, str):
            return ids.setdefault(value, f"<{key}:{len(ids)}>")
        return value

    return [json.dumps(walk(json.loads(line)), ensure_ascii=False) for line in lines]


def test_the_trace_file_of_a_fixed_program_matches_the_golden_copy(tmp_path: Path) -> None:
    with isolated_environment(tmp_path):
        llmlog.configure({"trace": {"dir": "traces"}, "outputs": {}})
        integration.instrument()
        try:
            _program()
        finally:
            integration.uninstrument()  # closes the shared session
        (path,) = sorted((tmp_path / "traces").glob("trace_*.jsonl"))
        raw = path.read_text(encoding="utf-8").splitlines()
    # The lines are compact JSON with sorted data keys, as written: re-encoding them compactly
    # gives the same text, so the normalised form below keeps the written bytes' meaning.
    for line in raw:
        assert json.dumps(json.loads(line), separators=(",", ":"), ensure_ascii=False) == line
    got = _normalised(raw)
    if os.environ.get("LLMLOG_UPDATE_GOLDEN"):
        GOLDEN.write_text("\n".join(got) + "\n", encoding="utf-8")
    want = GOLDEN.read_text(encoding="utf-8").splitlines()
    assert got == want
