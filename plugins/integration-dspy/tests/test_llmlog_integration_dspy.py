"""Real DSPy programs on DummyLM (and a loopback OpenAI-compatible server for tokens and cost),
traced through the integration; the tree shape, parents, tokens and errors asserted from the file."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import dspy
import pytest
from dspy.utils import DummyLM

import llmlog
import llmlog_integration_dspy as integration
from llmlog.cli import main
from llmlog.testing import TraceFile, capture, isolated_environment
from llmlog_fake_provider import FakeOpenAI


@pytest.fixture
def sh():
    def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            args, cwd=cwd, capture_output=True, text=True, env=dict(os.environ), timeout=300
        )

    return run


@pytest.fixture(autouse=True)
def traced(tmp_path: Path):
    with isolated_environment(tmp_path):
        llmlog.configure({"trace": {"dir": "traces"}, "outputs": {}})
        before = dspy.settings.callbacks
        snapshot = list(before)
        integration.instrument()
        yield tmp_path / "traces"
        integration.uninstrument()
        assert dspy.settings.callbacks is before and dspy.settings.callbacks == snapshot


class Trace(TraceFile):
    """The events of the one trace file written in a directory."""

    def __init__(self, directory: Path, fmt: str = "trace") -> None:
        integration.uninstrument()  # closes the shared session
        files = sorted(directory.glob(f"{fmt}_*.jsonl"))
        assert len(files) == 1, files
        super().__init__(files[0])

    def children(self, span_id: str | None) -> list[str]:
        return [self.name(s) or "" for s, r in self.starts.items() if r.get("parent_id") == span_id]


def test_predict_and_chain_of_thought_nest_adapter_and_lm_spans(traced):
    dspy.configure(lm=DummyLM([{"answer": "Paris"}, {"reasoning": "2+2 is 4", "answer": "4"}]))
    assert dspy.Predict("question -> answer")(question="Capital?").answer == "Paris"
    assert dspy.ChainOfThought("question -> answer")(question="2+2?").answer == "4"
    trace = Trace(traced)
    (predict_root,) = [s for s in trace.spans("Predict") if trace.parent(s) is None]
    assert trace.children(predict_root) == ["ChatAdapter.format", "LM:dummy", "ChatAdapter.parse"]
    (cot,) = trace.spans("ChainOfThought")
    assert trace.parent(cot) is None and trace.children(cot) == ["Predict:predict"]
    (call,) = [
        e for e in trace.events("llm_call") if trace.parent(trace.parent(e["span_id"]) or "") == cot
    ]
    assert call["data"]["model"] == "dummy" and call["data"]["usage"]["total_tokens"] == 0
    assert "cost" not in call["data"]["usage"]  # DummyLM reports no price: unknown, not $0
    assert call["data"]["messages"][-1]["role"] == "user"
    # What a replay keys the call on: the LM's parameters (DummyLM: temperature 0, max_tokens
    # 1000), the transport settings and None values left out.
    assert call["data"]["params"] == {"temperature": 0.0, "max_tokens": 1000}
    assert "replayed" not in call["data"]
    modules = {e["span_id"]: e["data"] for e in trace.events("module")}
    assert modules[cot]["llm_calls"] == 1 and modules[cot]["success"] is True
    assert modules[cot]["signature"] == "question -> reasoning, answer"
    assert trace.ends[predict_root]["data"]["outputs"] == {"answer": "Paris"}
    # DSPy's 32-hex call ids become 16-hex span ids; one trace id for the shared session.
    assert all(len(s) == 16 for s in trace.starts)
    assert len({r["trace_id"] for r in trace.records}) == 1


def get_weather(city: str) -> str:
    """The weather in a city."""
    llmlog.get_logger("tools").info("weather lookup", city=city)
    return f"Sunny in {city}"


def flaky_search(query: str) -> str:
    """A search that always fails."""
    raise RuntimeError("tool exploded")


def test_react_with_a_working_and_a_failing_tool(traced):
    dspy.configure(
        lm=DummyLM(
            [
                {
                    "next_thought": "search",
                    "next_tool_name": "flaky_search",
                    "next_tool_args": {"query": "Paris"},
                },
                {
                    "next_thought": "weather",
                    "next_tool_name": "get_weather",
                    "next_tool_args": {"city": "Paris"},
                },
                {"next_thought": "done", "next_tool_name": "finish", "next_tool_args": {}},
                {"reasoning": "it is sunny", "answer": "Sunny"},
            ]
        )
    )
    with capture() as entries:
        result = dspy.ReAct("question -> answer", tools=[get_weather, flaky_search])(
            question="Weather?"
        )
    assert result.answer == "Sunny"  # the failing tool changed nothing for the program
    trace = Trace(traced)
    (react,) = trace.spans("ReAct")
    assert trace.children(react) == [
        "Predict:react",
        "Tool:flaky_search",
        "Predict:react",
        "Tool:get_weather",
        "Predict:react",
        "Tool:finish",
        "ChainOfThought:extract",
    ]
    tools = {e["data"]["tool_name"]: e["data"] for e in trace.events("tool_call")}
    assert (
        tools["get_weather"]["success"] is True
        and tools["get_weather"]["output"] == "Sunny in Paris"
    )
    assert tools["get_weather"]["input"] == {"city": "Paris"}
    assert (
        tools["flaky_search"]["success"] is False
        and "tool exploded" in tools["flaky_search"]["error"]
    )
    (error,) = trace.events("error")
    assert error["data"] == {
        "error_type": "RuntimeError",
        "message": "tool exploded",
        "recoverable": True,
    }
    assert trace.ends[error["span_id"]]["data"]["error"] == "tool exploded"
    # The log entry made inside the tool carries the tool span's ids.
    (entry,) = [e for e in entries if e.message == "weather lookup"]
    (weather,) = trace.spans("Tool:get_weather")
    assert entry.span_id == weather and entry.trace_id == trace.records[0]["trace_id"]


class Boom(dspy.Module):
    def __init__(self) -> None:
        super().__init__()
        self.predict = dspy.Predict("question -> answer")

    def forward(self, question: str) -> dspy.Prediction:
        self.predict(question=question)
        raise ValueError("boom after predict")


def test_a_module_that_raises_ends_its_span_with_the_error_and_still_raises(traced):
    dspy.configure(lm=DummyLM([{"answer": "x"}]))
    with pytest.raises(ValueError, match="boom after predict"):
        Boom()(question="q")
    trace = Trace(traced)
    (boom,) = trace.spans("Boom")
    assert trace.ends[boom]["data"]["error"] == "boom after predict"
    assert [e["data"]["error_type"] for e in trace.events("error")] == ["ValueError"]
    assert {e["span_id"]: e["data"]["success"] for e in trace.events("module")}[boom] is False


def test_acall_under_asyncio_gather_keeps_two_trees(traced):
    dspy.configure(
        lm=DummyLM(
            {"one": {"reasoning": "r", "answer": "1"}, "two": {"reasoning": "r", "answer": "2"}}
        )
    )
    cot = dspy.ChainOfThought("question -> answer")

    async def both() -> list[Any]:
        return list(await asyncio.gather(cot.acall(question="one"), cot.acall(question="two")))

    answers = asyncio.run(both())
    assert [a.answer for a in answers] == ["1", "2"]
    trace = Trace(traced)
    roots = trace.spans("ChainOfThought")
    assert len(roots) == 2 and all(trace.parent(r) is None for r in roots)
    for root in roots:
        (predict,) = [s for s in trace.spans("Predict:predict") if trace.parent(s) == root]
        assert trace.children(predict) == ["ChatAdapter.format", "LM:dummy", "ChatAdapter.parse"]
        asked = trace.starts[root]["data"]["inputs"]["question"]
        (lm_span,) = [s for s in trace.spans("LM:dummy") if trace.parent(s) == predict]
        (call,) = [e for e in trace.events("llm_call") if e["span_id"] == lm_span]
        assert asked in call["data"]["prompt"]  # each call under its own question's tree


def exact(example: Any, prediction: Any, trace: Any = None) -> bool:
    return bool(example.answer == prediction.answer)


def test_threaded_evaluate_is_one_tree(traced):
    answers = {f"q{i}": {"answer": str(i)} for i in range(6)}
    dspy.configure(lm=DummyLM(answers))
    devset = [
        dspy.Example(question=f"q{i}", answer=str(i)).with_inputs("question") for i in range(6)
    ]
    result = dspy.Evaluate(devset=devset, metric=exact, num_threads=2, display_progress=False)(
        dspy.Predict("question -> answer")
    )
    assert result.score == 100.0
    trace = Trace(traced)
    (evaluate,) = trace.spans("Evaluate")
    assert trace.parent(evaluate) is None
    # Each example a span of its own (docs/dspy.md: Evaluate results), its Predict beneath it.
    assert sorted(trace.children(evaluate)) == [f"Example #{i}" for i in range(6)]
    examples = [s for s in trace.starts if trace.parent(s) == evaluate]
    assert all(trace.children(s) == ["Predict"] for s in examples)
    assert trace.starts[evaluate]["data"]["inputs"]["num_threads"] == 2
    assert trace.ends[evaluate]["data"]["outputs"]["score"] == 100.0
    assert all(trace.parent(s) is not None for s in trace.starts if s != evaluate)


def test_dspy_parallel_children_hang_under_the_enclosing_module(traced):
    dspy.configure(lm=DummyLM({"alpha?": {"answer": "A"}, "beta?": {"answer": "B"}}))

    class Fan(dspy.Module):
        def __init__(self) -> None:
            super().__init__()
            self.predict = dspy.Predict("question -> answer")

        def forward(self) -> list[Any]:
            parallel = dspy.Parallel(num_threads=2)
            return parallel(
                [(self.predict, {"question": "alpha?"}), (self.predict, {"question": "beta?"})]
            )

    results = Fan()()
    assert sorted(r.answer for r in results) == ["A", "B"]
    trace = Trace(traced)
    (fan,) = trace.spans("Fan")
    assert trace.children(fan) == ["Predict:predict", "Predict:predict"]


def test_compile_is_a_root_span(traced):
    dspy.configure(lm=DummyLM([{"answer": "x"}]))
    trainset = [dspy.Example(question="q", answer="a").with_inputs("question")]
    compiled = dspy.LabeledFewShot(k=1).compile(
        dspy.Predict("question -> answer"), trainset=trainset
    )
    assert compiled is not None
    trace = Trace(traced)
    (compile_span,) = trace.spans("Compile:LabeledFewShot")
    assert trace.parent(compile_span) is None
    assert trace.starts[compile_span]["data"]["inputs"] == {"student": "Predict", "trainset": 1}


RLM_ANSWERS = [
    {"reasoning": "look", "code": "```python\nsub = llm_query('say hi')\nprint(sub)\n```"},
    {"answer": "hi from sub"},
    {"reasoning": "Submit.", "code": "```python\nSUBMIT(answer='42')\n```"},
]


@pytest.mark.parametrize("fmt", ["dspy", "rlm"])
def test_rlm_programs_show_code_blocks_and_sub_calls_in_either_format(traced, fmt):
    llmlog.configure({"trace": {"dir": "traces", "format": fmt}, "outputs": {}})
    dspy.configure(lm=DummyLM(RLM_ANSWERS))
    rlm = dspy.RLM(
        "context, query -> answer", max_iters=3, interpreter_factory=dspy.LocalInterpreter
    )
    assert rlm(context="abc", query="q?").answer == "42"
    if fmt == "dspy":
        trace = Trace(traced)
        (root,) = trace.spans("RLM")
        assert trace.children(root) == [
            "Interpreter.bootstrap",
            "Predict:generate_action",
            "Interpreter.execute",
            "Predict:generate_action",
            "Interpreter.execute",
        ]
        first, second = trace.events("code_exec")
        assert first["data"]["code"] == "sub = llm_query('say hi')\nprint(sub)"
        assert "hi from sub" in first["data"]["stdout"] and first["data"]["iteration"] == 1
        assert second["data"]["final_answer"] == {"answer": "42"}
        (tool,) = trace.spans("Tool:llm_query")
        assert trace.name(trace.parent(tool)) == "Interpreter.execute"
        return
    from llmlog_trace_rlm import read_rlm

    integration.uninstrument()
    (path,) = traced.glob("rlm_*.jsonl")
    run = read_rlm(path)
    first, second = run.iterations
    assert "look" in first.response and first.prompt[-1]["role"] == "user"
    (block,) = first.code_blocks
    assert block.code == "sub = llm_query('say hi')\nprint(sub)" and "hi from sub" in block.stdout
    assert [c.prompt for c in block.calls] == ["say hi"]
    # A sub-call keeps its parameters (and messages, when it had any: llm_query sends a plain
    # prompt) as extra keys of rlm_calls, for a replay; the iteration's call too.
    assert block.calls[0].messages is None
    assert block.calls[0].params == {"temperature": 0.0, "max_tokens": 1000}
    assert first.root_call is not None and first.root_call.params == block.calls[0].params
    assert second.final_answer == "42" and second.code_blocks[0].code == "SUBMIT(answer='42')"
    assert run.metadata is not None and run.metadata.root_model == "dummy"


class _Wrapper(dspy.Module):
    """A program around an RLM module: it opens the trace, not the RLM."""

    def __init__(self) -> None:
        super().__init__()
        self.rlm = dspy.RLM(
            "context, query -> answer", max_iters=3, interpreter_factory=dspy.LocalInterpreter
        )

    def forward(self, query: str) -> dspy.Prediction:
        return self.rlm(context="abc", query=query)


@pytest.mark.parametrize("opened_by", ["program", "enclosing module"])
def test_rlm_metadata_has_max_iters_when_another_opened_the_session(traced, opened_by):
    import json

    llmlog.configure({"trace": {"dir": "traces", "format": "rlm"}, "outputs": {}})
    dspy.configure(lm=DummyLM(RLM_ANSWERS))
    if opened_by == "program":
        with llmlog.new_trace_session(format="rlm") as session:
            dspy.RLM(
                "context, query -> answer", max_iters=3, interpreter_factory=dspy.LocalInterpreter
            )(context="abc", query="q?")
        path = session.writer.path
    else:
        _Wrapper()(query="q?")
        integration.uninstrument()
        (path,) = traced.glob("rlm_*.jsonl")
    meta = json.loads(path.read_text().splitlines()[0])
    assert (meta["max_iterations"], meta["max_depth"]) == (3, 1)
    assert meta["query"] == "q?"


def test_tokens_and_cost_per_call_from_a_provider_that_reports_usage(traced):
    reply = "[[ ## reasoning ## ]]\nthink\n\n[[ ## answer ## ]]\nParis\n\n[[ ## completed ## ]]"
    with FakeOpenAI(lambda request: reply) as server:
        lm = dspy.LM(
            "openai/gpt-4o-mini", api_base=server.base_url, api_key="sk-live-secret", cache=False
        )
        dspy.configure(lm=lm)

        class Pipeline(dspy.Module):
            def __init__(self) -> None:
                super().__init__()
                self.first = dspy.ChainOfThought("question -> answer")
                self.second = dspy.ChainOfThought("question -> answer")

            def forward(self, question: str) -> dspy.Prediction:
                self.first(question=question)
                return self.second(question=question)

        assert Pipeline()(question="Capital of France?").answer == "Paris"
        expected = [entry["usage"]["total_tokens"] for entry in lm.history]
        costs = [entry["cost"] for entry in lm.history]
    trace = Trace(traced)
    assert "sk-live-secret" not in trace.path.read_text()
    calls = trace.events("llm_call")
    assert [c["data"]["usage"]["total_tokens"] for c in calls] == expected and sum(expected) > 0
    assert [c["data"]["usage"]["cost"] for c in calls] == costs and all(costs)
    assert {c["data"]["provider"] for c in calls} == {"openai"}
    assert {c["data"]["model"] for c in calls} == {"gpt-4o-mini"}
    (lm_span,) = trace.spans("LM:gpt-4o-mini")[:1]
    assert trace.starts[lm_span]["data"]["inputs"]["kwargs"]["api_key"] == "[REDACTED]"
    modules = {trace.name(e["span_id"]): e["data"] for e in trace.events("module")}
    # Rollups count each call once: the pipeline holds both calls, not four.
    assert set(modules) == {
        "Pipeline",
        "ChainOfThought:first",
        "ChainOfThought:second",
        "Predict:predict",
    }
    assert modules["Pipeline"]["llm_calls"] == 2 and modules["Pipeline"]["total_tokens"] == sum(
        expected
    )


@pytest.mark.filterwarnings("ignore:Implementing custom LMs through BaseLM.forward")
def test_log_entries_during_an_lm_call_carry_model_trace_and_span(traced):
    class LoggingLM(DummyLM):
        def forward(self, *args: Any, **kwargs: Any) -> Any:
            llmlog.get_logger("provider").info("request sent")
            return super().forward(*args, **kwargs)

    dspy.configure(lm=LoggingLM([{"answer": "Paris"}]))
    with capture() as entries:
        dspy.Predict("question -> answer")(question="Capital?")
    trace = Trace(traced)
    (entry,) = [e for e in entries if e.message == "request sent"]
    (lm_span,) = trace.spans("LM:dummy")
    assert (entry.model_id, entry.span_id, entry.trace_id) == (
        "dummy",
        lm_span,
        trace.records[0]["trace_id"],
    )


def test_instrument_twice_is_once_and_others_callbacks_stay(traced):
    from dspy.utils.callback import BaseCallback

    class Other(BaseCallback):
        pass

    other = Other()
    dspy.settings.callbacks.append(other)
    try:
        first = integration.instrument()
        assert integration.instrument() is first
        assert sum(1 for cb in dspy.settings.callbacks if cb is first) == 1
        integration.uninstrument()
        integration.uninstrument()
        assert dspy.settings.callbacks[-1] is other
        assert not any(type(cb).__name__ == "LlmlogCallback" for cb in dspy.settings.callbacks)
    finally:
        dspy.settings.callbacks.remove(other)


def test_instrument_from_a_thread_that_does_not_own_dspy_settings(traced):
    integration.uninstrument()
    dspy.configure(lm=DummyLM([{"answer": "ok"}]))  # this (main) thread owns DSPy's settings
    errors: list[BaseException] = []

    def instrument_elsewhere() -> None:
        try:
            integration.instrument()
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=instrument_elsewhere)
    worker.start()
    worker.join()
    assert errors == []
    dspy.Predict("question -> answer")(question="q")
    assert Trace(traced).spans("Predict")
    integration.instrument()


def test_instrument_does_not_take_ownership_of_dspy_settings(tmp_path, sh):
    program = tmp_path / "owner.py"
    program.write_text(
        "import threading, dspy, llmlog, llmlog_integration_dspy as i\n"
        "from dspy.utils import DummyLM\n"
        "llmlog.configure({'trace': {'dir': 'traces'}, 'outputs': {}})\n"
        "i.instrument()  # on the main thread, before the application configures DSPy\n"
        "def app():\n"
        "    dspy.configure(lm=DummyLM([{'answer': 'ok'}]))  # the app's own thread owns DSPy\n"
        "    print(dspy.Predict('question -> answer')(question='q').answer)\n"
        "t = threading.Thread(target=app); t.start(); t.join()\n"
    )
    done = sh([sys.executable, str(program)], cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
    (path,) = (tmp_path / "traces").glob("trace_*.jsonl")
    assert '"operation":"Predict"' in path.read_text()


def test_a_failure_inside_llmlog_never_reaches_the_program(traced, capfd):
    from llmlog.ext import TraceSession
    from llmlog_trace_dspy import DspyTraceWriter

    class BadSignature(dspy.Module):
        @property
        def signature(self) -> Any:
            raise RuntimeError("a property that explodes")

        def forward(self) -> str:
            return "fine"

    dspy.configure(lm=DummyLM([{"answer": "x"}]))
    assert BadSignature()() == "fine"
    with TraceSession(DspyTraceWriter("/dev/full")):  # every write fails: disk full
        assert dspy.Predict("question -> answer")(question="q").answer == "x"
    err = capfd.readouterr().err
    assert err.count("No space left") == 1, err


def test_adapter_hooks_count_their_failures_and_never_raise(traced, capfd):
    """The adapter hooks (the guard written out in each): parsed outputs that cannot be read
    (a mapping whose items raise) are counted and reported once, and the span still ends
    (without them; its context is left); an adapter span ended twice changes nothing; nothing
    reaches DSPy, and the next LM call is traced whole."""
    from collections.abc import Mapping

    class Hostile(Mapping[str, Any]):
        def __getitem__(self, key: str) -> Any:
            raise RuntimeError("unreadable parse output")

        def __iter__(self) -> Any:
            raise RuntimeError("unreadable parse output")

        def __len__(self) -> int:
            return 1

    callback = integration.instrumented()
    assert callback is not None
    adapter = dspy.ChatAdapter()
    callback.on_adapter_format_start("f" * 32, adapter, {})
    callback.on_adapter_format_end("f" * 32, None, None)
    callback.on_adapter_format_end("f" * 32, None, None)  # ended twice: nothing to end
    callback.on_adapter_parse_start("e" * 32, adapter, {})
    callback.on_adapter_parse_end("e" * 32, Hostile(), None)
    assert callback.failures == 1
    assert capfd.readouterr().err.count("unreadable parse output") == 1
    dspy.configure(lm=DummyLM([{"answer": "x"}]))
    assert dspy.Predict("question -> answer")(question="q").answer == "x"
    trace = Trace(traced)
    names = [trace.name(s) for s in trace.starts]
    assert names.count("ChatAdapter.format") == 2 and names.count("ChatAdapter.parse") == 2
    assert set(trace.ends) == set(trace.starts)
    assert "outputs" not in trace.ends["e" * 16]


def test_module_hooks_count_a_failure_reading_the_module_and_never_raise(traced, capfd):
    """The module hooks guard themselves whole: a module whose attribute read raises (its
    ``max_iters`` a property that fails) is counted and reported once by llmlog, not left to
    DSPy's warning; the program's answer comes back and its LM call is still traced."""

    class Odd(dspy.Module):
        def __init__(self) -> None:
            super().__init__()
            self.predict = dspy.Predict("question -> answer")

        @property
        def max_iters(self) -> int:
            raise RuntimeError("max_iters cannot be read")

        def forward(self, question: str) -> Any:
            return self.predict(question=question)

    callback = integration.instrumented()
    assert callback is not None
    dspy.configure(lm=DummyLM([{"answer": "x"}]))
    assert Odd()(question="q").answer == "x"
    assert callback.failures == 1
    assert capfd.readouterr().err.count("max_iters cannot be read") == 1
    trace = Trace(traced)
    names = [trace.name(s) for s in trace.starts]
    assert "Predict" in names and "LM:dummy" in names  # Odd has no span: its start failed


def test_toml_switch_turns_it_on_and_off(tmp_path):
    integration.uninstrument()
    llmlog.configure(
        {
            "trace": {"dir": "toml"},
            "outputs": {},
            "integrations": {"dspy": {"enabled": True, "adapters": "off"}},
        }
    )
    callback = integration.instrumented()
    assert callback is not None and callback in dspy.settings.callbacks
    dspy.configure(lm=DummyLM([{"answer": "x"}]))
    dspy.Predict("question -> answer")(question="q")
    llmlog.configure({"outputs": {}})  # a configuration without it: DSPy as it was
    assert integration.instrumented() is None and callback not in dspy.settings.callbacks
    (path,) = (tmp_path / "toml").glob("trace_*.jsonl")
    operations = Counter(
        json.loads(x)["data"].get("operation") for x in path.read_text().splitlines()
    )
    assert operations["Predict"] == 1 and operations["ChatAdapter.format"] == 0
    integration.instrument()


def test_per_call_sessions_write_one_file_per_top_level_call(traced):
    integration.uninstrument()
    integration.instrument(integration.DspyOptions(sessions="per_call"))
    dspy.configure(lm=DummyLM([{"answer": "1"}, {"answer": "2"}]))
    predict = dspy.Predict("question -> answer")
    predict(question="a")
    predict(question="b")
    integration.uninstrument()
    files = sorted(traced.glob("trace_*.jsonl"))
    assert len(files) == 2
    trace_ids = {json.loads(f.read_text().splitlines()[0])["trace_id"] for f in files}
    assert len(trace_ids) == 2
    integration.instrument()


def test_dspy_events_reach_the_flight_recorder(traced, tmp_path):
    from llmlog_engine_flight import FlightRecorder
    from llmlog_engine_flight.recorder import set_global_flight_recorder
    from llmlog_engine_flight.snapshot import read_snapshot

    recorder = FlightRecorder(snapshot_dir=str(tmp_path / "flight"))
    recorder.start()
    set_global_flight_recorder(recorder)
    try:
        dspy.configure(lm=DummyLM([{"answer": "x"}]))
        dspy.Predict("question -> answer")(question="q")
        snapshot = read_snapshot(recorder.snapshot(reason="test"))
    finally:
        set_global_flight_recorder(None)
        recorder.stop()
    kinds = Counter(e.get("kind") for e in snapshot.events)
    assert kinds["llm_call"] == 1 and kinds["span"] >= 8 and kinds["module"] == 1


def test_cached_and_reasoning_tokens_reach_the_trace_the_log_and_the_stats(traced, capsys):
    """A provider reporting cached input and reasoning output (as OpenAI does, in the usage's
    ``*_tokens_details``): DSPy's ``lm.history`` keeps them, the trace's ``usage`` carries them
    beside the seed's three counts, and ``llmlog view --stats`` shows them per model."""
    reply = "[[ ## reasoning ## ]]\nthink\n\n[[ ## answer ## ]]\nParis\n\n[[ ## completed ## ]]"
    with FakeOpenAI(lambda request: reply, cached_tokens=7, reasoning_tokens=5) as server:
        lm = dspy.LM("openai/gpt-4o-mini", api_base=server.base_url, api_key="k", cache=False)
        with dspy.context(lm=lm):
            dspy.ChainOfThought("question -> answer")(question="Capital of France?")
            dspy.ChainOfThought("question -> answer")(question="Capital of Spain?")
        history = [
            (e["usage"]["prompt_tokens"], e["usage"]["completion_tokens"]) for e in lm.history
        ]
    trace = Trace(traced)
    usages = [c["data"]["usage"] for c in trace.events("llm_call")]
    assert [(u["prompt_tokens"], u["completion_tokens"]) for u in usages] == history
    for usage in usages:
        assert usage["cache_read_tokens"] == 7 and usage["reasoning_tokens"] == 5
        assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
        assert usage["completion_tokens"] >= 5 and "cache_creation_tokens" not in usage

    from llmlog_trace_dspy.tree import call_of

    calls = [call_of(c["data"], False) for c in trace.events("llm_call")]
    assert [c.detail("cache_read_tokens") for c in calls] == [7, 7]
    assert [c.detail("reasoning_tokens") for c in calls] == [5, 5]

    from llmlog.cli import main

    assert main(["view", "--stats", str(trace.path)]) == 0
    out = capsys.readouterr().out
    assert "gpt-4o-mini: 2 calls" in out and "cached 14" in out and "reasoning 10" in out
    assert f"input {sum(p for p, _ in history)}, output {sum(c for _, c in history)}" in out


def test_every_lm_call_says_where_its_cost_came_from(traced, tmp_path):
    """DSPy's own cost (LiteLLM's) is ``reported``; a ``[prices]`` override wins over it; DummyLM,
    which nobody prices, stays unknown with the reason, never $0."""
    reply = "[[ ## reasoning ## ]]\nthink\n\n[[ ## answer ## ]]\nParis\n\n[[ ## completed ## ]]"
    integration.uninstrument()
    llmlog.configure(
        {
            "trace": {"dir": "traces"},
            "outputs": {},
            "prices": {"openai/gpt-4o": {"input": 1.0, "output": 2.0, "cached": 0.5}},
        }
    )
    integration.instrument()
    with FakeOpenAI(lambda request: reply, cached_tokens=4) as server:
        for model in ("gpt-4o-mini", "gpt-4o"):
            lm = dspy.LM(f"openai/{model}", api_base=server.base_url, api_key="k", cache=False)
            with dspy.context(lm=lm):
                dspy.ChainOfThought("question -> answer")(question="Capital of France?")
    dummy = DummyLM([{"reasoning": "r", "answer": "Paris"}])
    with dspy.context(lm=dummy):
        dspy.ChainOfThought("question -> answer")(question="Capital of France?")
    trace = Trace(traced)
    mini, big, unpriced = (c["data"]["usage"] for c in trace.events("llm_call"))
    assert mini["cost_source"] == "reported" and mini["cost"] > 0
    assert big["cost_source"] == "override"
    uncached = big["prompt_tokens"] - 4
    assert big["cost"] == pytest.approx(
        (uncached * 1.0 + 4 * 0.5 + big["completion_tokens"] * 2.0) / 1e6
    )
    assert "cost" not in unpriced and unpriced["cost_unknown"]


class Refuses(dspy.Module):
    """A program that fails on some examples, with a multi-line message holding escapes."""

    def __init__(self) -> None:
        super().__init__()
        self.qa = dspy.Predict("question -> answer")

    def forward(self, question: str) -> Any:
        if question in ("q1", "q3", "q4"):
            raise ValueError("no answer for this one\n  hint: \x1b[2Jcheck the index")
        if question == "q5":
            raise KeyError("missing")
        return self.qa(question=question)


def test_the_view_of_an_evaluate_run_shows_each_error_once(traced, capsys):
    """Issue 22's terminal view: a failing example's error once, its first line on the span
    where it arose (the spans it passed through say so), the rest only with --full, real line
    breaks each escaped; the same error in other examples counted, not printed again."""
    dspy.configure(lm=DummyLM({f"q{i}": {"answer": str(i)} for i in range(6)}))
    devset = [
        dspy.Example(question=f"q{i}", answer=str(i)).with_inputs("question") for i in range(6)
    ]
    dspy.Evaluate(devset=devset, metric=exact, max_errors=10, display_progress=False)(Refuses())
    trace = Trace(traced)
    capsys.readouterr()
    assert main(["view", str(trace.path), "--no-color"]) == 0
    out = capsys.readouterr().out
    # On the first failing span, in the index, and in the Evaluate table's first failing row
    # (the others say "the error of #N").
    assert out.count("no answer for this one") == 3
    assert "E1 again (2nd time)" in out and "E1 again (3rd time)" in out
    assert "KeyError: 'missing'" in out
    assert "(+1 line: --full)" in out
    assert "hint" not in out and "\\n" not in out and "\x1b" not in out
    assert "E1 ×3: ValueError: no answer for this one" in out
    assert main(["view", str(trace.path), "--no-color", "--full"]) == 0
    full = capsys.readouterr().out
    (hint,) = [line for line in full.splitlines() if "hint" in line]
    assert hint.rstrip().endswith("hint: \\x1b[2Jcheck the index")  # its own line, escaped
    assert "\x1b" not in full


def test_a_secret_in_a_repeated_prompt_is_redacted_at_every_call(traced):
    # The sanitizer remembers long text it found clean (the signature's system message comes
    # back at every call) and the session does not scan a prompt that is its messages joined
    # when every message was clean: a call whose question holds a secret, before and after clean
    # calls with the same system message, is still redacted in its prompt and its messages.
    key = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789ABCD"
    questions = ["Capital of France?", f"Use {key} to look it up", "Capital of France?"]
    questions.append(questions[1])
    dspy.configure(lm=DummyLM([{"answer": "Paris"}] * len(questions)))
    predict = dspy.Predict("question -> answer")
    for question in questions:
        predict(question=question)
    path = next(traced.glob("trace_*.jsonl"))
    trace = Trace(traced)
    assert key not in path.read_text()
    calls = trace.events("llm_call")
    assert len(calls) == 4
    for call, question in zip(calls, questions, strict=True):
        prompt, messages = call["data"]["prompt"], call["data"]["messages"]
        assert prompt == "\n\n".join(f"{m['role']}: {m['content']}" for m in messages)
        if question.startswith("Use"):
            assert "[REDACTED:openai-key]" in prompt
            assert "[REDACTED:openai-key]" in messages[-1]["content"]
        else:
            assert "Capital of France?" in prompt and "REDACTED" not in prompt


def test_an_interpreter_freed_without_shutdown_leaves_nothing_to_a_new_one():
    # Kept by id, a freed interpreter's id would be a new interpreter's: its bootstrap would be
    # taken for the program's first code block.
    from llmlog_integration_dspy.callback import LlmlogCallback

    class Interpreter:
        _process = None

    callback = LlmlogCallback()
    started = Interpreter()
    callback.on_interpreter_startup_start("c1", started, {})
    callback.on_interpreter_startup_end("c1", None)
    assert callback._interpreter_started(started)
    del started
    gc.collect()
    assert len(callback._started_interpreters) == 0
    fresh = Interpreter()
    assert not callback._interpreter_started(fresh)
