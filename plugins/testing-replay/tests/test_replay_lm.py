"""ReplayLM in real DSPy programs: recorded on DummyLM through the DSPy integration, replayed
from the trace file; threads, asyncio, lenient mode and the core's ``llmlog.replay`` name."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dspy
import pytest
from dspy.utils import DummyLM

import llmlog
import llmlog_integration_dspy as integration
from llmlog.ext import enter_context, exit_context
from llmlog.testing import isolated_environment
from llmlog_testing_replay import NotRecorded, ReplayLM

pytestmark = pytest.mark.filterwarnings(
    "ignore:Implementing custom LMs through BaseLM:DeprecationWarning"
)


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path) -> Iterator[Path]:
    with isolated_environment(tmp_path):
        llmlog.configure({"outputs": {}})
        yield tmp_path
        integration.uninstrument()


def traced(path: Path, lm: Any, run: Callable[[], Any], fmt: str = "dspy") -> Any:
    """Run ``run`` with ``lm`` and every DSPy call traced into ``path``."""
    session = llmlog.new_trace_session(path, format=fmt)
    token = enter_context(session=session, trace_id=session.trace_id)
    # Roots in dspy.Parallel's worker threads see no current session: they get this one too.
    integration.instrument().swap_shared_session(session)
    try:
        with dspy.context(lm=lm):
            return run()
    finally:
        integration.uninstrument()
        exit_context(token)
        session.close()


def llm_calls(path: Path) -> list[dict[str, Any]]:
    records = [json.loads(line) for line in path.read_text().splitlines()]
    return [r["data"] for r in records if r["type"] == "llm_call"]


QA = dspy.Predict("question -> answer")


def test_a_recorded_program_replays_with_the_recorded_tokens_and_cost_marked_replayed(tmp_path):
    answers = [{"answer": "Paris"}, {"reasoning": "adding", "answer": "4"}]
    cot = dspy.ChainOfThought("question -> answer")

    def program() -> list[str]:
        return [QA(question="Capital of France?").answer, cot(question="2+2?").answer]

    assert traced(tmp_path / "rec.jsonl", DummyLM(answers), program) == ["Paris", "4"]
    replay = ReplayLM(tmp_path / "rec.jsonl")
    assert replay.model == "dummy"
    assert traced(tmp_path / "rep.jsonl", replay, program) == ["Paris", "4"]
    recorded, replayed = llm_calls(tmp_path / "rec.jsonl"), llm_calls(tmp_path / "rep.jsonl")
    assert [c["response"] for c in replayed] == [c["response"] for c in recorded]
    assert [c["messages"] for c in replayed] == [c["messages"] for c in recorded]
    assert all(c["replayed"] is True for c in replayed) and "replayed" not in recorded[0]
    assert [c["usage"]["total_tokens"] for c in replayed] == [
        c["usage"]["total_tokens"] for c in recorded
    ]
    # DummyLM reports no cost: the replay says the recorded cost was unknown, no table prices it.
    assert replayed[0]["usage"]["cost_unknown"] == "unknown when recorded"


def test_a_changed_prompt_is_not_recorded_and_the_error_shows_the_difference(tmp_path):
    traced(tmp_path / "rec.jsonl", DummyLM([{"answer": "Paris"}]), lambda: QA(question="France?"))
    dspy.configure(lm=ReplayLM(tmp_path / "rec.jsonl"))
    with pytest.raises(NotRecorded) as caught:
        QA(question="Spain?")
    assert "-    France?" in str(caught.value) and "+    Spain?" in str(caught.value)
    other = dspy.Predict(dspy.Signature("question -> answer", "Answer in French."))
    with pytest.raises(NotRecorded, match=r"\+\s+Answer in French\."):
        other(question="France?")


def test_an_lm_parameter_that_changes_the_answer_is_part_of_the_key(tmp_path):
    recording = DummyLM([{"answer": "a"}])
    traced(tmp_path / "rec.jsonl", recording, lambda: QA(question="q"))
    # DummyLM ran with temperature 0.0 and max_tokens 1000: ReplayLM.like copies them.
    with dspy.context(lm=ReplayLM.like(recording, tmp_path / "rec.jsonl")):
        assert QA(question="q").answer == "a"
    with (
        dspy.context(lm=ReplayLM(tmp_path / "rec.jsonl", temperature=0.9)),
        pytest.raises(NotRecorded, match=r"temperature: recorded 0\.0, asked 0\.9"),
    ):
        QA(question="q")


def test_threads_parallel_and_acall_get_the_answers_of_their_own_requests(tmp_path):
    questions = [f"question {i}!" for i in range(12)]  # none inside another
    answers = DummyLM({q: {"answer": f"answer {q}"} for q in questions})
    devset = [
        dspy.Example(question=q, answer=f"answer {q}").with_inputs("question") for q in questions
    ]

    def metric(example: Any, prediction: Any, trace: Any = None) -> bool:
        return bool(example.answer == prediction.answer)

    def program() -> tuple[float, list[str], list[str]]:
        score = dspy.Evaluate(devset=devset, metric=metric, num_threads=4)(QA).score
        parallel = dspy.Parallel(num_threads=4)([(QA, {"question": q}) for q in questions[:6]])

        async def gathered() -> list[str]:
            results = await asyncio.gather(*(QA.acall(question=q) for q in questions[6:]))
            return [r.answer for r in results]

        return score, [p.answer for p in parallel], asyncio.run(gathered())

    recorded = traced(tmp_path / "rec.jsonl", answers, program)
    assert recorded[0] == 100.0
    replayed = traced(tmp_path / "rep.jsonl", ReplayLM(tmp_path / "rec.jsonl"), program)
    assert replayed == recorded
    assert len(llm_calls(tmp_path / "rep.jsonl")) == len(llm_calls(tmp_path / "rec.jsonl")) == 24


def test_one_request_recorded_several_times_replays_its_answers_in_recorded_order(tmp_path):
    rolls = DummyLM([{"answer": str(i)} for i in range(4)])
    run = lambda: [QA(question="roll a die").answer for _ in range(4)]  # noqa: E731
    assert traced(tmp_path / "rec.jsonl", rolls, run) == ["0", "1", "2", "3"]
    replay = ReplayLM(tmp_path / "rec.jsonl")
    assert traced(tmp_path / "rep.jsonl", replay, run) == ["0", "1", "2", "3"]
    with dspy.context(lm=replay), pytest.raises(NotRecorded, match="recorded 4 times"):
        QA(question="roll a die")


def test_lenient_mode_asks_the_fallback_and_records_what_it_adds(tmp_path):
    traced(tmp_path / "rec.jsonl", DummyLM([{"answer": "Paris"}]), lambda: QA(question="France?"))
    fallback = DummyLM([{"answer": "Madrid"}])
    lenient = ReplayLM(
        tmp_path / "rec.jsonl", strict=False, fallback=fallback, record=tmp_path / "added.jsonl"
    )
    with dspy.context(lm=lenient):
        assert QA(question="France?").answer == "Paris"
        assert QA(question="Spain?").answer == "Madrid"
    lenient.close()
    # Both files replayed together, strictly: the added call is answered offline now.
    both = ReplayLM([tmp_path / "rec.jsonl", tmp_path / "added.jsonl"])
    with dspy.context(lm=both):
        assert QA(question="Spain?").answer == "Madrid"
        assert QA(question="France?").answer == "Paris"
    (added,) = llm_calls(tmp_path / "added.jsonl")
    assert added["params"] == {"temperature": 0.0, "max_tokens": 1000}
    with pytest.raises(ValueError, match="needs a fallback"):
        ReplayLM(tmp_path / "rec.jsonl", strict=False)


def test_a_trace_of_several_models_needs_the_model_named(tmp_path):
    def two_models() -> None:
        QA(question="a")
        with dspy.context(lm=DummyLM([{"answer": "b"}])):
            QA(question="b")

    first = DummyLM([{"answer": "a"}])
    first.model = "openai/small"
    traced(tmp_path / "rec.jsonl", first, two_models)
    with pytest.raises(Exception, match=r"2 models were recorded \(small, dummy\); pass model="):
        ReplayLM(tmp_path / "rec.jsonl")
    with dspy.context(lm=ReplayLM(tmp_path / "rec.jsonl", model="openai/small")):
        assert QA(question="a").answer == "a"


def test_llmlog_replay_names_the_distribution_when_it_is_missing():
    code = (
        "import sys; sys.modules['llmlog_testing_replay'] = None\n"
        "try:\n"
        "    from llmlog.replay import ReplayLM\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "provided by the llmlog-testing-replay distribution" in out.stdout
    assert "pip install llmlog-testing-replay" in out.stdout
    from llmlog.replay import ReplayLM as Same

    assert Same is ReplayLM


RLM_ANSWERS = [
    {"reasoning": "look", "code": "sub = llm_query('say hi')\nprint(sub)"},
    {"answer": "hi from sub"},
    {"reasoning": "done", "code": "SUBMIT(answer='42')"},
]


def test_an_rlm_program_recorded_in_the_rlm_format_replays(tmp_path):
    # dspy.RLM's iterations and its llm_query sub-call (a plain prompt) come back from an
    # rlm-format file, read through that format's reader.
    def run() -> str:
        rlm = dspy.RLM(
            "context, query -> answer", max_iters=3, interpreter_factory=dspy.LocalInterpreter
        )
        return str(rlm(context="abc", query="q?").answer)

    assert traced(tmp_path / "rec.jsonl", DummyLM(RLM_ANSWERS), run, fmt="rlm") == "42"
    first = json.loads((tmp_path / "rec.jsonl").read_text().splitlines()[0])
    assert first["type"] == "metadata"  # an rlm file
    assert traced(tmp_path / "rep.jsonl", ReplayLM(tmp_path / "rec.jsonl"), run) == "42"
    calls = llm_calls(tmp_path / "rep.jsonl")
    assert len(calls) == 3 and all(c["replayed"] for c in calls)
