"""Trace sessions, spans, ``traced`` and LLM calls, written through the in-test ``coretest``
format (core ships none) and read back from the file."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import pytest

import llmlog
from llmlog import TokenUsage, tracesinks
from llmlog.context import get_current
from llmlog.interfaces import TraceSink
from llmlog.records import TraceEvent, TraceEventType
from llmlog.tracing import (
    ModuleInfo,
    TraceSession,
    add_listener,
    new_span_id,
    new_trace_id,
    new_trace_session,
    record_llm_call,
    remove_listener,
    span,
    start_trace_session,
    traced,
    tracing_interceptor,
    unknown_format_message,
    usage_data,
)


@pytest.fixture
def fmt(trace_formats, configured):
    """llmlog configured with the coretest formats (and a captured list output)."""
    llmlog.configure(
        {"level": "debug", "outputs": {}},
        plugins=[("coretest", trace_formats.plugin)],
        autoload=False,
    )
    return trace_formats


def events(fmt, path: Path) -> list[TraceEvent]:
    return list(fmt.read(path))


def test_a_session_writes_its_events_to_a_new_private_file(fmt, tmp_path):
    with new_trace_session(format="coretest") as session:
        assert get_current().session is session
        with span("root", inputs={"q": "2+2?"}) as root:
            root.llm_call(
                model="m1",
                prompt="2+2?",
                response="4",
                usage=TokenUsage(3, 1, cost=0.5),
                latency_ms=12,
            )
            root.set_outputs(answer="4")
    assert get_current().session is None
    path = session.path
    # No path, no [trace] dir: a new file in the default directory, created owner-only.
    assert path is not None and path.parent.name == "traces"
    assert path.is_relative_to(tmp_path / "xdg-state")
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    got = events(fmt, path)
    assert [e.type for e in got] == ["session", "span", "llm_call", "span"]
    assert {e.trace_id for e in got} == {session.trace_id}
    start, call, end = got[1:]
    assert start.data == {"event": "start", "operation": "root", "inputs": {"q": "2+2?"}}
    assert call.span_id == start.span_id == end.span_id == root.span_id
    assert call.data["usage"] == {
        "prompt_tokens": 3,
        "completion_tokens": 1,
        "total_tokens": 4,
        "cost": 0.5,
        "cost_source": "reported",
    }
    assert call.data["model"] == "m1" and call.data["latency_ms"] == 12
    assert end.data["outputs"] == {"answer": "4"} and end.data["event"] == "end"
    # Closed: nothing more reaches the file, and closing again is harmless.
    session.emit_error("x", "E", "late")
    session.close()
    session.flush()
    assert len(events(fmt, path)) == 4


def test_nested_spans_get_their_parent_and_errors_are_recorded(fmt, tmp_path):
    session = new_trace_session(tmp_path / "t.jsonl", format="coretest")
    with session, span("outer") as outer:
        inner_ids = []

        def fail_inside():
            with span("inner") as inner:
                inner_ids.append((inner.span_id, get_current().span_id))
                raise KeyError("missing")

        with pytest.raises(KeyError):
            fail_inside()
        inner_id, current_inside = inner_ids[0]
        assert current_inside == inner_id
        assert get_current().span_id == outer.span_id
    got = events(fmt, tmp_path / "t.jsonl")
    starts = {e.span_id: e for e in got if e.type == "span" and e.data["event"] == "start"}
    assert starts[inner_id].parent_id == outer.span_id
    assert starts[outer.span_id].parent_id is None
    error = next(e for e in got if e.type == "error")
    assert error.span_id == inner_id
    assert error.data == {"error_type": "KeyError", "message": "'missing'", "recoverable": False}
    inner_end = [e for e in got if e.span_id == inner_id and e.data.get("event") == "end"]
    assert inner_end[0].data["error"] == "'missing'"


def test_start_trace_session_reuses_the_context_trace_id_and_merges_metadata(fmt, tmp_path):
    outer = new_trace_session(tmp_path, format="coretest")
    with outer:
        inner = start_trace_session(
            tmp_path / "inner.jsonl", {"root_model": "m", "query": "q"}, format="coretest"
        )
        inner.close()
    assert inner.trace_id == outer.trace_id
    (first,) = events(fmt, tmp_path / "inner.jsonl")
    assert first.type == "session"
    assert first.data["root_model"] == "m" and first.data["query"] == "q"
    assert "start_time" in first.data


def test_the_trace_table_chooses_format_directory_content_and_options(trace_formats, tmp_path):
    llmlog.configure(
        {
            "outputs": {},
            "trace": {
                "format": {"type": "coretest", "prefix": "configured"},
                "dir": "out",
                "content": False,
            },
        },
        plugins=[("coretest", trace_formats.plugin)],
        autoload=False,
    )
    with new_trace_session() as session, span("s", inputs={"secret": "text"}) as s:
        s.llm_call(model="m", prompt="the prompt", response="the answer")
    assert session.path is not None
    assert session.path.resolve() == tmp_path / "out" / "configured-0.jsonl"
    got = list(trace_formats.read(session.path))
    start = next(e for e in got if e.type == "span")
    assert start.data["inputs"] == {"secret": None}  # no content: names only
    call = next(e for e in got if e.type == "llm_call")
    assert "prompt" not in call.data and "response" not in call.data
    # Options given to the call override the table's.
    other = new_trace_session(prefix="override")
    other.close()
    assert other.path is not None and other.path.name == "override-0.jsonl"


def test_an_unknown_format_says_what_is_installed(fmt, tmp_path):
    with pytest.raises(ValueError, match=r"unknown trace format 'nope' \(installed: coretest"):
        new_trace_session(tmp_path, format="nope")
    assert "install llmlog-trace-rlm" in unknown_format_message("rlm", []) or (
        "is installed but its plugin is not loaded" in unknown_format_message("rlm", [])
    )
    assert "`llmlog plugins` lists them" in unknown_format_message("mine", ["a"])


def test_traced_sync_async_and_generators_write_spans(fmt, tmp_path):
    @traced()
    def add(a, b=1):
        return a + b

    @traced("named", record_inputs=False, record_output=False)
    def quiet(x):
        return x

    @traced()
    async def double(x):
        await asyncio.sleep(0)
        return 2 * x

    @traced()
    def numbers(n):
        yield from range(n)

    @traced()
    async def anumbers(n):
        for i in range(n):
            yield i

    @traced()
    def failing():
        raise ValueError("boom")

    class Thing:
        @traced()
        def method(self, y):
            return y

    async def consume():
        return [i async for i in anumbers(2)]

    with new_trace_session(tmp_path / "t.jsonl", format="coretest"):
        assert add(2, b=3) == 5
        assert quiet(1) == 1
        assert asyncio.run(double(4)) == 8
        assert list(numbers(3)) == [0, 1, 2]
        assert asyncio.run(consume()) == [0, 1]
        with pytest.raises(ValueError, match="boom"):
            failing()
        assert Thing().method(7) == 7
    got = events(fmt, tmp_path / "t.jsonl")
    starts = [e.data for e in got if e.type == "span" and e.data["event"] == "start"]
    ends = [e.data for e in got if e.type == "span" and e.data["event"] == "end"]
    names = [d["operation"] for d in starts]
    assert names[0].endswith("add") and names[1] == "named" and names[2].endswith("double")
    assert starts[0]["inputs"] == {"a": 2, "b": 3}
    assert "inputs" not in starts[1] and "outputs" not in ends[1]
    assert ends[0]["outputs"] == {"output": 5}
    assert ends[2]["outputs"] == {"output": 8}
    assert ends[3]["outputs"] == {"output": {"items": 3}}
    assert ends[4]["outputs"] == {"output": {"items": 2}}
    assert ends[5]["error"] == "boom"
    assert starts[6]["inputs"] == {"y": 7}  # self is left out


def test_generators_stopped_early_or_failing(fmt, tmp_path):
    @traced()
    def gen():
        yield 1
        yield 2
        raise RuntimeError("gen failed")

    @traced()
    async def agen():
        yield 1
        raise RuntimeError("agen failed")

    async def partial_async():
        it = agen()
        first = await it.__anext__()
        await it.aclose()
        return first

    async def failing_async():
        return [i async for i in agen()]

    with new_trace_session(tmp_path / "t.jsonl", format="coretest"):
        it = gen()
        assert next(it) == 1
        it.close()  # stopped early: not an error
        with pytest.raises(RuntimeError, match="gen failed"):
            list(gen())
        assert asyncio.run(partial_async()) == 1
        with pytest.raises(RuntimeError, match="agen failed"):
            asyncio.run(failing_async())
    ends = [e.data for e in events(fmt, tmp_path / "t.jsonl") if e.data.get("event") == "end"]
    assert [d.get("error") for d in ends] == [None, "gen failed", None, "agen failed"]
    assert [d["outputs"]["output"]["items"] for d in ends] == [1, 2, 1, 1]


def test_record_llm_call_on_the_current_span_or_the_session(fmt, tmp_path):
    with (
        new_trace_session(tmp_path / "t.jsonl", format="coretest"),
        llmlog.with_model_id("ctx-model"),
    ):
        record_llm_call(prompt="no span", response="r")
        with span("s") as s:
            record_llm_call(
                prompt=[{"role": "user", "content": "a"}, {"role": "user", "content": "b"}],
                response=42,
                usage={"input_tokens": 5, "output_tokens": 2, "cost": float("nan")},
                latency_ms=3,
                provider="anthropic",
            )
            record_llm_call(prompt=object(), usage=object())
    calls = [e for e in events(fmt, tmp_path / "t.jsonl") if e.type == "llm_call"]
    assert calls[0].span_id == "" and calls[0].data["model"] == "ctx-model"
    second = calls[1].data
    assert calls[1].span_id == s.span_id
    assert second["prompt"] == "a\n\nb" and second["response"] == "42"
    assert second["messages"] == [
        {"role": "user", "content": "a"},
        {"role": "user", "content": "b"},
    ]
    usage = dict(second["usage"])
    # the NaN cost was replaced on the way: no price rather than a wrong one, never $0
    assert usage.pop("cost_unknown").startswith("usage numbers that cannot be priced")
    assert usage == {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}
    assert second["provider"] == "anthropic"
    assert calls[2].data["usage"]["total_tokens"] == 0


def test_the_interceptor_rolls_up_calls_into_the_module_event(fmt, tmp_path):
    intercept = tracing_interceptor()
    info = ModuleInfo("qa", "Predict", "q -> a")

    def handler(inputs):
        record_llm_call(model="m", usage=TokenUsage(2, 3))
        return intercept(inputs, ModuleInfo("inner", "Tool"), inner_handler)

    def inner_handler(inputs):
        record_llm_call(model="m", usage=TokenUsage(1, 1))
        return {"a": "done"}

    assert intercept({"q": 1}, info, lambda i: {"x": 1}) == {"x": 1}  # no session: just runs
    with new_trace_session(tmp_path / "t.jsonl", format="coretest"):
        assert intercept({"q": 1}, info, handler) == {"a": "done"}
        with pytest.raises(ZeroDivisionError):
            intercept({"q": 2}, info, lambda i: {"r": 1 / 0})
    modules = [e.data for e in events(fmt, tmp_path / "t.jsonl") if e.type == "module"]
    assert [(m["module_name"], m["llm_calls"], m["total_tokens"]) for m in modules] == [
        ("inner", 1, 2),
        ("qa", 2, 7),
        ("qa", 0, 0),
    ]
    assert [m["success"] for m in modules] == [True, True, False]
    assert modules[1]["signature"] == "q -> a"


def test_every_emit_method_and_the_numbers_made_safe(fmt, tmp_path):
    session = new_trace_session(tmp_path / "t.jsonl", format="coretest")
    session.emit_code_exec(
        "1",
        1,
        "print(1)",
        "1\n",
        "",
        {"x": 1},
        -5,
        [
            {"prompt_tokens": "7", "latency_ms": float("nan"), "cost": float("inf")},
            {"execution_time": 1.5, "cost": 0.25, "usage": {"prompt_tokens": 1, "cost": "x"}},
        ],
        final_answer="42",
    )
    session.emit_tool_call("1", "search", {"q": 1}, ["r"], 4, success=[1], error="e")
    session.emit_error("1", "E", "m", recoverable=float("nan"))
    session.emit_module("1", "T", "n", "", None, None, 1, 1, 1, True)
    session.close()
    got = events(fmt, tmp_path / "t.jsonl")
    code = got[1].data
    assert code["duration_ms"] == 0 and code["final_answer"] == "42"
    assert code["sub_llm_calls"][0] == {"prompt_tokens": 7, "latency_ms": 0}
    assert code["sub_llm_calls"][1]["cost"] == 0.25
    assert code["sub_llm_calls"][1]["usage"] == {
        "prompt_tokens": 1,
        "completion_tokens": 0,
        "total_tokens": 1,
    }
    tool = got[2].data
    assert tool["success"] is True and tool["error"] == "e"
    assert got[3].data["recoverable"] is True
    assert usage_data({"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 9}) == {
        "prompt_tokens": 1,
        "completion_tokens": 2,
        "total_tokens": 9,
    }


class Undecidable:
    def __bool__(self):
        raise ValueError("ambiguous")


class BrokenWriter:
    def __init__(self):
        self.closed = 0

    def write(self, event):
        raise OSError("disk full")

    def flush(self):
        pass

    def close(self):
        self.closed += 1
        raise OSError("cannot close")


def test_a_failing_writer_is_reported_once_and_never_raises(configured, capsys):
    writer = BrokenWriter()
    session = TraceSession(writer, "t" * 32)
    assert session.path is None
    session.emit_session()
    session.emit_error("s", "E", "m", recoverable=Undecidable())
    assert session.failures == 2
    session.close()
    session.close()
    assert writer.closed == 1
    err = capsys.readouterr().err
    assert err.count("writing failed: OSError: disk full") == 1
    assert "closing failed: cannot close" in err


def test_listeners_get_every_event_with_or_without_a_session(fmt, tmp_path, capsys):
    seen: list[TraceEvent] = []

    def failing(event):
        raise RuntimeError("listener bug")

    add_listener(seen.append)
    add_listener(failing)
    try:
        with span("no session", inputs={"k": "v"}) as s:
            s.llm_call(model="m", prompt="p", response="r", usage=TokenUsage(1, 1))
            s.set_outputs(done=True)
        with pytest.raises(ValueError), span("failing"):
            raise ValueError("x")
        with new_trace_session(tmp_path / "t.jsonl", format="coretest"):
            record_llm_call(model="m")
    finally:
        remove_listener(seen.append)
        remove_listener(failing)
    remove_listener(failing)  # no error when not added
    types = [e.type for e in seen]
    assert types[:3] == [TraceEventType.SPAN, TraceEventType.LLM_CALL, TraceEventType.SPAN]
    assert seen[0].data == {"event": "start", "operation": "no session", "inputs": {"k": "v"}}
    assert seen[1].span_id == s.span_id and seen[1].data["usage"]["total_tokens"] == 2
    assert seen[2].data["outputs"] == {"done": True}
    assert seen[4].data["error"] == "x"
    assert types[-2:] == [TraceEventType.SESSION, TraceEventType.LLM_CALL]
    assert capsys.readouterr().err.count("a trace listener failed (reported once)") <= 1


class RecordingRecorder(TraceSink):
    """A trace sink as a running flight recorder is one: it is handed every event."""

    def __init__(self):
        self.events: list[TraceEvent] = []

    def on_event(self, event):
        self.events.append(event)


def test_session_less_spans_reach_a_running_recorder_redacted(configured):
    recorder = RecordingRecorder()
    tracesinks.add_sink(recorder)
    try:
        with span("s", inputs={"api_key": "sk-secret"}) as s:
            record_llm_call(model="m", prompt="p", response="r")
    finally:
        tracesinks.remove_sink(recorder)
    assert [e.type for e in recorder.events] == ["span", "llm_call", "span"]
    assert recorder.events[0].data["inputs"]["api_key"] != "sk-secret"
    assert recorder.events[1].span_id == s.span_id


def test_spans_without_anything_listening_still_set_the_context(configured):
    with span("quiet") as s:
        entry_ids = (get_current().trace_id, get_current().span_id)
        record_llm_call(model="m")  # nowhere to go: nothing happens
    assert entry_ids == (s.trace_id, s.span_id)
    assert len(new_trace_id()) == 32 and len(new_span_id()) == 16


def test_ids_differ_in_a_forked_child(tmp_path):
    if not hasattr(os, "fork"):
        pytest.skip("no fork")
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write_end, new_trace_id().encode())
        os._exit(0)
    os.close(write_end)
    child = os.read(read_end, 64).decode()
    os.waitpid(pid, 0)
    assert len(child) == 32 and child != new_trace_id()


def test_sessions_are_thread_safe(fmt, tmp_path):
    session = new_trace_session(tmp_path / "t.jsonl", format="coretest")

    def work(n):
        with llmlog.with_trace_session(session), span(f"w{n}"):
            for _ in range(20):
                record_llm_call(model="m", usage=TokenUsage(1, 0))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    session.close()
    got = events(fmt, tmp_path / "t.jsonl")
    assert sum(1 for e in got if e.type == "llm_call") == 80


def test_a_span_end_carries_an_evaluation_kept_without_content(fmt, tmp_path):
    """``emit_span_end(evaluation=...)``: an evaluation's numbers and flags are written as the
    end's ``evaluation``, redacted like the rest, and kept in the no-content mode, where the
    outputs beside them lose their values."""
    for content in (True, False):
        path = tmp_path / f"eval-{content}.trace"
        with new_trace_session(path, format="coretest", content=content) as session:
            span_id = new_span_id()
            session.emit_span_start(span_id, None, "Example #3", {"question": "secret text"})
            session.emit_span_end(
                span_id,
                {"prediction": {"answer": "42"}},
                None,
                5,
                evaluation={"index": 3, "score": 0.5, "passed": True, "api_key": "sk-abc"},
            )
        end = events(fmt, path)[-1]
        assert end.data["evaluation"] == {
            "index": 3,
            "score": 0.5,
            "passed": True,
            "api_key": "[REDACTED]",
        }
        assert end.data["outputs"] == (
            {"prediction": {"answer": "42"}} if content else {"prediction": None}
        )


def test_llm_call_extra_keys_never_replace_the_events_own_and_tool_calls_are_content():
    class Collect:
        def __init__(self) -> None:
            self.events: list[TraceEvent] = []

        def write(self, event: TraceEvent) -> None:
            self.events.append(event)

        def flush(self) -> None: ...

        def close(self) -> None: ...

    kept, dropped = Collect(), Collect()
    extra = {"model": "not this", "finish_reason": "tool_calls", "tool_calls": [{"name": "f"}]}
    for writer, content in ((kept, True), (dropped, False)):
        session = TraceSession(writer, content=content)
        assert session.content is content and session.string_limit == 32_768
        session.emit_llm_call("s", "p", "m", "q", "a", TokenUsage(1, 1), 3, extra=extra)
    (with_content,) = [e.data for e in kept.events]
    assert with_content["model"] == "m" and with_content["finish_reason"] == "tool_calls"
    assert with_content["tool_calls"] == [{"name": "f"}]
    (without,) = [e.data for e in dropped.events]
    assert "tool_calls" not in without and "response" not in without
    assert without["finish_reason"] == "tool_calls"


def test_span_names_and_durations_are_cleaned_each_time_however_often_they_come(fmt, tmp_path):
    """A span's operation name is redacted and capped at every span (a name seen clean is not
    scanned again, a secret never taken for one), and its duration made safe as any count."""
    from llmlog.sanitize import Sanitizer

    session = new_trace_session(tmp_path / "t.jsonl", format="coretest")
    session._sanitizer = Sanitizer(max_string_length=40)
    secret = "call with Bearer abcdefghijklmnopqrstuvwxyz0123456789"
    names = ["Predict", secret, "Predict", secret, "x" * 60, "x" * 60]
    for i, name in enumerate(names):
        session.emit_span_start(str(i), None, name)
    for i, duration in enumerate([3, -1, 2**60, float("nan"), 2.9, True]):
        session.emit_span_end(str(i), None, None, duration)  # type: ignore[arg-type]
    session.close()
    got = [e.data for e in events(fmt, tmp_path / "t.jsonl") if e.type is TraceEventType.SPAN]
    operations = [d["operation"] for d in got if d["event"] == "start"]
    assert operations[0] == operations[2] == "Predict"
    assert operations[1] == operations[3] and "abcdefghijklmnop" not in operations[1]
    assert operations[4] == operations[5] == "x" * 40 + "…[truncated 20 chars]"
    durations = [d["duration_ms"] for d in got if d["event"] == "end"]
    assert durations == [3, 0, 2**53 - 1, 0, 2, 1]
