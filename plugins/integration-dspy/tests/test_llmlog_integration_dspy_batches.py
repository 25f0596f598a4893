"""Hooks held and handled in batches (``[integrations.dspy] batch``): the same trace as hooks
handled one by one, each event with the time, thread and task its hook ran at; nothing held
lost at a session's close, a flush, a snapshot, a fork or exit; a call that raises written at
once; the program's own spans and log lines in order with the held ones; the delay kept by the
integration's thread. Real DSPy programs on ``DummyLM``, real files, threads and processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dspy
import pytest
from dspy.utils import DummyLM

import llmlog
import llmlog_integration_dspy as integration
from llmlog.testing import TraceFile, isolated_environment
from llmlog_integration_dspy import DspyOptions


def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"Sunny in {city}"


def flaky_search(query: str) -> str:
    """A search that always fails."""
    raise RuntimeError("tool exploded")


def run_program() -> None:
    """Predict, ChainOfThought and a ReAct agent with a working and a failing tool."""
    answers = [
        {"answer": "Paris"},
        {"reasoning": "2+2", "answer": "4"},
        {
            "next_thought": "search",
            "next_tool_name": "flaky_search",
            "next_tool_args": {"query": "x"},
        },
        {
            "next_thought": "look",
            "next_tool_name": "get_weather",
            "next_tool_args": {"city": "Paris"},
        },
        {"next_thought": "done", "next_tool_name": "finish", "next_tool_args": {}},
        {"reasoning": "sunny", "answer": "Sunny"},
    ]
    with dspy.context(lm=DummyLM(answers)):
        dspy.Predict("question -> answer")(question="Capital?")
        dspy.ChainOfThought("question -> answer")(question="2+2?")
        dspy.ReAct("question -> answer", tools=[get_weather, flaky_search])(question="Weather?")


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    with isolated_environment(tmp_path):
        llmlog.configure({"trace": {"dir": "traces"}, "outputs": {}})
        before = list(dspy.settings.callbacks)
        yield tmp_path / "traces"
        integration.uninstrument()
        assert dspy.settings.callbacks == before


def trace_of(directory: Path) -> TraceFile:
    (path,) = sorted(directory.glob("trace_*.jsonl"))
    return TraceFile(path)


def shape(trace: TraceFile) -> list[tuple[Any, ...]]:
    """The trace without its ids, times and durations: each record's type, its span's and its
    parent's order of first appearance, and its data."""
    order: dict[str, int] = {}

    def number(span_id: str | None) -> int | None:
        if not span_id:
            return None
        return order.setdefault(span_id, len(order))

    loose = {"duration_ms", "latency_ms", "start_time"}
    out = []
    for record in trace.records:
        if record["type"] == "session":
            continue
        data = {k: v for k, v in record.get("data", {}).items() if k not in loose}
        out.append(
            (record["type"], number(record.get("span_id")), number(record.get("parent_id")), data)
        )
    return out


@pytest.mark.parametrize("batch", [1024, 3])
def test_batches_write_the_trace_hooks_one_by_one_write(home: Path, batch: int) -> None:
    integration.instrument(DspyOptions(batch=0))
    run_program()
    integration.uninstrument()
    at_once = shape(trace_of(home))
    for path in home.glob("*.jsonl"):
        path.unlink()
    integration.instrument(DspyOptions(batch=batch, batch_delay=3600))
    run_program()
    integration.uninstrument()
    assert shape(trace_of(home)) == at_once
    assert len(at_once) > 60


def test_each_event_has_the_time_and_thread_of_its_hook(home: Path) -> None:
    from llmlog_engine_flight import FlightRecorder
    from llmlog_engine_flight.recorder import set_global_flight_recorder
    from llmlog_engine_flight.snapshot import read_snapshot

    recorder = FlightRecorder(snapshot_dir=str(home.parent / "flight"))
    recorder.start()
    set_global_flight_recorder(recorder)
    callback = integration.instrument(DspyOptions(batch=10_000, batch_delay=3600))
    marks: dict[str, int] = {}

    def worker() -> None:
        with dspy.context(lm=DummyLM([{"answer": "a"}, {"answer": "b"}])):
            predict = dspy.Predict("question -> answer")
            marks["before"] = time.time_ns()
            predict(question="first")
            time.sleep(0.2)
            marks["between"] = time.time_ns()
            predict(question="second")

    thread = threading.Thread(target=worker, name="dspy-worker")
    thread.start()
    thread.join()
    assert callback._queue, "the hooks are held"
    time.sleep(0.2)
    handled = time.time_ns()
    path = Path(recorder.snapshot(reason="test"))  # handles the held hooks first
    recorder.stop()
    integration.uninstrument()
    trace = trace_of(home)
    firsts = [r for r in trace.starts.values() if r["data"]["operation"] == "Predict"]
    assert len(firsts) == 2
    times = [_ns(r["timestamp"]) for r in firsts]
    # The times of the hooks, not of their handling (0.2 s later).
    assert marks["before"] <= times[0] < marks["between"] <= times[1] < handled
    events = read_snapshot(path).events
    spans = [e for e in events if e.get("kind") == "span"]
    assert spans and {e["tid"] for e in spans} == {thread.ident}
    assert [e["ts"] for e in spans if e["data"].get("operation") == "Predict"] == times


def _ns(stamp: str) -> int:
    from datetime import datetime

    whole, _, rest = stamp.rstrip("Z").partition(".")
    seconds = int(datetime.fromisoformat(whole + "+00:00").timestamp())
    return seconds * 1_000_000_000 + int((rest or "0").ljust(9, "0"))


def test_a_call_that_raises_is_written_at_once(home: Path) -> None:
    class Boom(dspy.Module):
        def forward(self, question: str) -> dspy.Prediction:
            dspy.Predict("question -> answer")(question=question)
            raise ValueError("boom")

    integration.instrument(DspyOptions(batch=10_000, batch_delay=3600))
    with dspy.context(lm=DummyLM([{"answer": "a"}])), pytest.raises(ValueError):
        Boom()(question="q")
    # Neither flushed nor closed: the error and everything held before it are in the file.
    trace = trace_of(home)
    (error,) = trace.events("error")
    assert error["data"]["message"] == "boom"
    assert [trace.name(s) for s in trace.starts] == [
        "Boom",
        "Predict",
        "ChatAdapter.format",
        "LM:dummy",
        "ChatAdapter.parse",
    ]


def test_the_programs_own_spans_and_sessions_stay_in_order(home: Path) -> None:
    class Retrieve(dspy.Module):
        def __init__(self) -> None:
            super().__init__()
            self.answer = dspy.Predict("question -> answer")

        def forward(self, question: str) -> dspy.Prediction:
            with llmlog.span("lookup"):
                pass
            return self.answer(question=question)

    integration.instrument(DspyOptions(batch=10_000, batch_delay=3600))
    (home / "own").mkdir(parents=True)
    with (
        llmlog.new_trace_session(home / "own") as session,
        dspy.context(lm=DummyLM([{"answer": "a"}])),
    ):
        Retrieve()(question="q")
    # The session closed with the hooks still held: they were written before it closed.
    (path,) = (home / "own").glob("*.jsonl")
    trace = TraceFile(path)
    names = [trace.name(s) for s in trace.starts]
    assert names[:2] == ["Retrieve", "lookup"]
    (retrieve,) = trace.spans("Retrieve")
    (lookup,) = trace.spans("lookup")
    assert trace.parent(lookup) == retrieve
    assert "Predict:answer" in names and len(trace.ends) == len(trace.starts)
    assert session.trace_id == trace.records[0]["trace_id"]


def test_the_delay_is_kept_without_any_flush(home: Path) -> None:
    integration.instrument(DspyOptions(batch=10_000, batch_delay=0.1))
    with dspy.context(lm=DummyLM([{"answer": "a"}])):
        dspy.Predict("question -> answer")(question="q")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the integration's thread, then the file's flush
        paths = sorted(home.glob("trace_*.jsonl"))
        if paths and any('"llm_call"' in line for line in paths[0].read_text().splitlines()):
            break
        time.sleep(0.05)
    else:
        pytest.fail("the held hooks were not written within the delay")


def test_flush_all_handles_what_every_callback_holds(home: Path) -> None:
    callback = integration.instrument(DspyOptions(batch=10_000, batch_delay=3600))
    with dspy.context(lm=DummyLM([{"answer": "a"}])):
        dspy.Predict("question -> answer")(question="q")
    assert callback._queue
    from llmlog.ext import flush_all

    flush_all()
    assert not callback._queue
    assert len(trace_of(home).calls) == 1


def run(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, PYTHONPATH=str(Path(__file__).parent)),
    )


def test_nothing_held_is_lost_at_exit(tmp_path: Path) -> None:
    done = run(
        """
        import dspy, llmlog, llmlog_integration_dspy as integration
        from dspy.utils import DummyLM
        from test_llmlog_integration_dspy_batches import run_program
        llmlog.configure({"trace": {"dir": "traces"}, "outputs": {}})
        integration.instrument(integration.DspyOptions(batch=100_000, batch_delay=3600))
        run_program()
        # no flush, no uninstrument: interpreter exit handles the held hooks
        """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    trace = trace_of(tmp_path / "traces")
    assert len(trace.calls) == 6 and len(trace.ends) == len(trace.starts)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork")
def test_a_fork_neither_loses_nor_repeats_held_hooks(tmp_path: Path) -> None:
    done = run(
        """
        import os, dspy, llmlog, llmlog_integration_dspy as integration
        from dspy.utils import DummyLM
        llmlog.configure({"trace": {"dir": "traces"}, "outputs": {}})
        callback = integration.instrument(
            integration.DspyOptions(batch=100_000, batch_delay=3600)
        )
        with dspy.context(lm=DummyLM([{"answer": "a"}, {"answer": "b"}])):
            dspy.Predict("question -> answer")(question="parent")
            assert callback._queue
            pid = os.fork()
            if pid == 0:  # the child: its own call, its own held hooks
                assert not callback._queue
                dspy.Predict("question -> answer")(question="child")
                integration.uninstrument()
                os._exit(0)
            os.waitpid(pid, 0)
        """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    questions: list[str] = []
    for path in (tmp_path / "traces").glob("trace_*.jsonl"):
        for line in path.read_text().splitlines():
            record = json.loads(line)
            data = record.get("data", {})
            start = record["type"] == "span" and data.get("event") == "start"
            if start and data.get("operation") == "Predict":
                questions.append(data["inputs"]["question"])
    assert sorted(questions) == ["child", "parent"]


def test_the_options_are_checked(home: Path) -> None:
    with pytest.raises(ValueError):
        DspyOptions(batch=-1)
    with pytest.raises(ValueError):
        DspyOptions(batch_delay=0)
    problems = llmlog.configure  # the table's errors as the configuration says them
    with pytest.raises(llmlog.ConfigError, match=r"batch"):
        problems({"integrations": {"dspy": {"enabled": True, "batch": -3}}, "outputs": {}})


def test_an_unclaimed_lm_call_is_written_as_a_claimed_one_is(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With no SDK or LiteLLM integration on, DSPy's LM calls are not claimed from the GenAI
    # engine: the integration writes from what it knows alone, the same event.
    from llmlog_engine_genai import scope

    monkeypatch.setattr(scope, "_sources", set())
    callback = integration.instrument(DspyOptions(batch=0))
    run_program()
    integration.uninstrument()
    unclaimed = shape(trace_of(home))
    for path in home.glob("*.jsonl"):
        path.unlink()
    scope.announce_source("a test's own source")
    assert scope.claims_needed()
    callback = integration.instrument(DspyOptions(batch=0))
    run_program()
    integration.uninstrument()
    assert shape(trace_of(home)) == unclaimed
    assert callback.failures == 0
    calls = [data for kind, _, _, data in unclaimed if kind == "llm_call"]
    assert len(calls) == 6 and all(call["source"] == "dspy" for call in calls)
