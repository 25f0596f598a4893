"""Trace sessions and spans, written in dspy-go's format and read back."""

import asyncio
import json
import re
import sys
import threading
import time
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import llmlog
from llmlog import TokenUsage, TraceEvent, TraceEventType
from llmlog.logger import global_dispatcher
from llmlog.pricing import UNPRICEABLE
from llmlog.testing import ListOutput
from llmlog_engine_files import rotated_files
from llmlog_trace_dspy import DspyOptions, DspyTraceWriter, encode, parse_timestamp, read_trace
from llmlog_trace_dspy.format import TraceReadError

GO_RFC3339_NANO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{0,8}[1-9])?(Z|[+-]\d\d:\d\d)$")


def lines(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_every_emit_method_writes_dspy_go_keys_and_types(tmp_path):
    path = tmp_path / "trace.jsonl"
    with llmlog.start_trace_session(path, {"program": "qa", "version": 2}) as session:
        session.emit_span_start("s1", "", "Predict:qa", {"question": "2+2?"})
        session.emit_llm_call(
            "s1", "openai", "gpt-4", "prompt", "4", TokenUsage(10, 20, cost=0.001), 690
        )
        session.emit_module(
            "s1",
            "Predict",
            "qa",
            "question -> answer",
            {"question": "2+2?"},
            {"answer": "4"},
            812,
            1,
            30,
            True,
        )
        session.emit_code_exec(
            "s1", 1, "print(1)", "1\n", "", {"x": 1}, 3, [{"prompt": "p", "response": "r"}]
        )
        session.emit_tool_call("s1", "search", {"q": "x"}, ["doc"], 5, False, "timeout")
        session.emit_error("s1", "ValueError", "bad", True)
        session.emit_span_end("s1", {"answer": "4"}, None, 812)
    records = lines(path)
    assert [r["type"] for r in records] == [
        "session",
        "span",
        "llm_call",
        "module",
        "code_exec",
        "tool_call",
        "error",
        "span",
    ]
    for r in records:
        assert list(r)[:3] == ["type", "timestamp", "trace_id"]
        assert GO_RFC3339_NANO.match(r["timestamp"]), r["timestamp"]
        assert re.fullmatch(r"[0-9a-f]{32}", r["trace_id"])
        if "data" in r:
            assert list(r["data"]) == sorted(r["data"])  # Go sorts map keys
    session_, start, llm, module, code, tool, error, end = records
    assert session_["data"]["program"] == "qa" and GO_RFC3339_NANO.match(
        session_["data"]["start_time"]
    )
    assert "parent_id" not in start and start["data"] == {
        "event": "start",
        "inputs": {"question": "2+2?"},
        "operation": "Predict:qa",
    }
    assert llm["data"] == {
        "latency_ms": 690,
        "model": "gpt-4",
        "prompt": "prompt",
        "provider": "openai",
        "response": "4",
        "usage": {
            "completion_tokens": 20,
            "cost": 0.001,
            "cost_source": "reported",
            "prompt_tokens": 10,
            "total_tokens": 30,
        },
    }
    assert (
        module["data"]["success"] is True
        and module["data"]["llm_calls"] == 1
        and module["data"]["total_tokens"] == 30
    )
    assert code["data"]["iteration"] == 1 and code["data"]["sub_llm_calls"] == [
        {"prompt": "p", "response": "r"}
    ]
    assert tool["data"] == {
        "duration_ms": 5,
        "error": "timeout",
        "input": {"q": "x"},
        "output": ["doc"],
        "success": False,
        "tool_name": "search",
    }
    assert error["data"] == {"error_type": "ValueError", "message": "bad", "recoverable": True}
    assert end["data"] == {"duration_ms": 812, "event": "end", "outputs": {"answer": "4"}}


def test_unknown_cost_is_absent_not_zero(tmp_path):
    path = tmp_path / "t.jsonl"
    with llmlog.new_trace_session(path) as session:
        session.emit_llm_call("s", "openai", "m", "p", "r", TokenUsage(1, 2), 1)
    assert "cost" not in lines(path)[1]["data"]["usage"]


def test_spans_nest_with_real_parents_across_threads_and_tasks_and_logs_carry_ids(tmp_path):
    llmlog.configure({"level": "debug", "outputs": {}})
    seen = ListOutput()
    global_dispatcher().add_output(seen)
    path = tmp_path / "t.jsonl"
    with llmlog.new_trace_session(path) as session, llmlog.span("evaluate") as root:
        llmlog.get_logger().info("in root")

        def worker(i):
            with llmlog.span(f"thread-{i}"):
                llmlog.get_logger().info("in thread %d", i)

        threads = [
            threading.Thread(target=llmlog.bind_current(worker), args=(i,)) for i in range(3)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

        async def task(i):
            with llmlog.span(f"task-{i}"):
                await asyncio.sleep(0)
                with llmlog.span(f"task-{i}-child"):
                    pass

        async def main():
            await asyncio.gather(*(task(i) for i in range(3)))

        asyncio.run(main())
    starts = {
        r["data"]["operation"]: r
        for r in lines(path)
        if r["type"] == "span" and r["data"]["event"] == "start"
    }
    assert "parent_id" not in starts["evaluate"]
    for i in range(3):
        assert starts[f"thread-{i}"]["parent_id"] == root.span_id
        assert starts[f"task-{i}"]["parent_id"] == root.span_id
        assert starts[f"task-{i}-child"]["parent_id"] == starts[f"task-{i}"]["span_id"]
    assert {r["trace_id"] for r in lines(path)} == {session.trace_id}
    by_message = {e.message: e for e in seen.entries}
    assert (
        by_message["in root"].span_id == root.span_id
        and by_message["in root"].trace_id == session.trace_id
    )
    for i in range(3):
        assert by_message[f"in thread {i}"].span_id == starts[f"thread-{i}"]["span_id"]


def test_traced_sync_async_generators_and_errors(tmp_path):
    llmlog.configure({"level": "debug", "outputs": {}})
    seen = ListOutput()
    global_dispatcher().add_output(seen)

    @llmlog.traced()
    def add(a, b):
        return a + b

    @llmlog.traced("fetch")
    async def fetch(url):
        await asyncio.sleep(0)
        return {"status": 200}

    @llmlog.traced()
    def numbers(n):
        for i in range(n):
            llmlog.get_logger().info("inside generator")
            yield i

    @llmlog.traced()
    async def stream(n):
        for i in range(n):
            yield i

    @llmlog.traced()
    def broken():
        raise KeyError("missing")

    path = tmp_path / "t.jsonl"
    with llmlog.new_trace_session(path):
        assert add(2, 3) == 5
        assert asyncio.run(fetch("http://x")) == {"status": 200}
        out = []
        for value in numbers(2):
            llmlog.get_logger().info("between items")
            out.append(value)
        assert out == [0, 1]

        async def consume():
            return [x async for x in stream(3)]

        assert asyncio.run(consume()) == [0, 1, 2]
        with pytest.raises(KeyError):
            broken()
    records = lines(path)
    ends = {
        r["span_id"]: r["data"]
        for r in records
        if r["type"] == "span" and r["data"]["event"] == "end"
    }
    starts = {
        r["data"]["operation"]: r
        for r in records
        if r["type"] == "span" and r["data"]["event"] == "start"
    }
    assert starts["test_traced_sync_async_generators_and_errors.<locals>.add"]["data"][
        "inputs"
    ] == {"a": 2, "b": 3}
    assert ends[starts["test_traced_sync_async_generators_and_errors.<locals>.add"]["span_id"]][
        "outputs"
    ] == {"output": 5}
    assert ends[starts["fetch"]["span_id"]]["outputs"] == {"output": {"status": 200}}
    numbers_id = starts["test_traced_sync_async_generators_and_errors.<locals>.numbers"]["span_id"]
    assert ends[numbers_id]["outputs"] == {"output": {"items": 2}}
    assert ends[starts["test_traced_sync_async_generators_and_errors.<locals>.stream"]["span_id"]][
        "outputs"
    ] == {"output": {"items": 3}}
    broken_id = starts["test_traced_sync_async_generators_and_errors.<locals>.broken"]["span_id"]
    assert ends[broken_id]["error"] == "'missing'"
    assert any(
        r["type"] == "error" and r["span_id"] == broken_id and r["data"]["error_type"] == "KeyError"
        for r in records
    )
    # The generator's span is current inside its body only, never in the caller between items.
    inside = [e for e in seen.entries if e.message == "inside generator"]
    between = [e for e in seen.entries if e.message == "between items"]
    assert all(e.span_id == numbers_id for e in inside)
    assert all(e.span_id != numbers_id for e in between)


def test_no_content_mode_redaction_and_caps(tmp_path):
    from llmlog.sanitize import Sanitizer
    from llmlog.tracing import TraceSession

    path = tmp_path / "t.jsonl"
    session = TraceSession(DspyTraceWriter(path), content=False)
    session.emit_llm_call(
        "s", "openai", "gpt-4o", "secret prompt", "secret answer", TokenUsage(5, 6, cost=0.1), 40
    )
    session.close()
    data = lines(path)[0]["data"]
    assert "prompt" not in data and "response" not in data
    assert data["usage"]["total_tokens"] == 11 and data["latency_ms"] == 40
    capped = TraceSession(
        DspyTraceWriter(tmp_path / "c.jsonl"), sanitizer=Sanitizer(max_string_length=10)
    )
    capped.emit_span_start(
        "s", None, "op", {"prompt": "x" * 100, "headers": {"Authorization": "Bearer t"}}
    )
    capped.close()
    inputs = lines(tmp_path / "c.jsonl")[0]["data"]["inputs"]
    assert inputs["prompt"] == "x" * 10 + "…[truncated 90 chars]"
    assert inputs["headers"]["Authorization"] == "[REDACTED]"


def test_rotation_repeats_the_session_line_and_reading_back(tmp_path):
    path = tmp_path / "t.jsonl"
    with llmlog.new_trace_session(path, max_bytes=2000) as session:
        for i in range(60):
            with llmlog.span(f"op{i}"):
                pass
    files = [*rotated_files(path), path]
    assert len(files) > 3
    events = []
    for f in files:
        first = next(read_trace(f))
        assert first.type is TraceEventType.SESSION and first.trace_id == session.trace_id
        events += [e for e in read_trace(f) if e.type is TraceEventType.SPAN]
    assert [e.data["operation"] for e in events if e.data["event"] == "start"] == [
        f"op{i}" for i in range(60)
    ]


def test_reader_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"type":"session","timestamp":"2026-08-20T10:15:02Z","trace_id":"a"}\n{"type":"span","timestamp":"2026-08-20T10:15:02.123456","trace_id":"a"}\n'
    )
    with pytest.raises(TraceReadError, match=r"bad\.jsonl:2: not an RFC 3339 timestamp"):
        list(read_trace(bad))


def test_spans_reach_the_flight_recorder(tmp_path):
    from llmlog_engine_flight import FlightRecorder
    from llmlog_engine_flight.snapshot import read_snapshot

    fr = FlightRecorder()
    fr.start()
    try:
        with llmlog.span("no session needed") as s:
            pass
        snap = read_snapshot(fr.snapshot(tmp_path / "s.jsonl"))
    finally:
        fr.stop()
    spans = [e for e in snap.events if e["kind"] == "span"]
    assert [e["data"]["event"] for e in spans] == ["start", "end"]
    assert spans[0]["span_id"] == s.span_id


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=3),
    max_leaves=8,
)


@settings(max_examples=150)
@given(
    st.sampled_from(list(TraceEventType)),
    st.integers(10**18, 2 * 10**18),
    st.dictionaries(st.text(max_size=8), json_values, max_size=5),
    st.one_of(st.none(), st.from_regex(r"[0-9a-f]{16}", fullmatch=True)),
)
def test_encode_and_read_round_trip(tmp_path_factory, kind, ns, data, parent):
    path = tmp_path_factory.mktemp("rt") / "t.jsonl"
    event = TraceEvent(kind, ns, "ab" * 16, "cd" * 8, parent, data)
    path.write_bytes(encode(event) + b"\n")
    (back,) = list(read_trace(path))
    assert back.type is kind and back.time == ns and back.parent_id == parent
    assert back.data == data


def test_parse_timestamp_accepts_go_offsets():
    assert parse_timestamp("2026-08-20T10:15:02.123456789+02:00") == parse_timestamp(
        "2026-08-20T08:15:02.123456789Z"
    )
    assert parse_timestamp("1970-01-01T00:00:01Z") == 1_000_000_000
    with pytest.raises(ValueError):
        parse_timestamp("2026-08-20 10:15:02")


def test_session_options_reach_the_file_sink(tmp_path):
    # An interval no test run reaches: the line is in the file only once the writer closes.
    options = DspyOptions(buffer_size=1 << 20, flush_interval=3600)
    writer = DspyTraceWriter(tmp_path / "t.jsonl", options)
    writer.write(TraceEvent(TraceEventType.SESSION, time.time_ns(), "a"))
    assert (tmp_path / "t.jsonl").read_bytes() == b""
    writer.close()
    assert (tmp_path / "t.jsonl").read_bytes().count(b"\n") == 1


def test_tracing_interceptor_nests_modules_and_rolls_up_tokens_once(tmp_path):
    from llmlog.tracing import ModuleInfo, tracing_interceptor

    intercept = tracing_interceptor()
    assert intercept({"q": "x"}, ModuleInfo("qa", "Predict"), lambda i: {"a": 1}) == {
        "a": 1
    }  # no session

    def predict(inputs):
        session = llmlog.get_trace_session()
        session.emit_llm_call(
            llmlog.get_span_id(), "openai", "gpt-4o", "p", "r", TokenUsage(10, 5), 3
        )
        return {"answer": "4"}

    def chain(inputs):
        first = intercept(inputs, ModuleInfo("step1", "Predict"), predict)
        intercept(inputs, ModuleInfo("step2", "Predict"), predict)
        session = llmlog.get_trace_session()
        session.emit_llm_call(
            llmlog.get_span_id(), "openai", "gpt-4o", "p", "r", TokenUsage(1, 1), 1
        )
        return first

    def failing(inputs):
        raise ValueError("module broke")

    path = tmp_path / "t.jsonl"
    with llmlog.new_trace_session(path):
        assert intercept(
            {"question": "2+2?"},
            ModuleInfo("pipeline", "ChainOfThought", "question -> answer"),
            chain,
        ) == {"answer": "4"}
        with pytest.raises(ValueError, match="module broke"):
            intercept({}, ModuleInfo("bad", "Predict"), failing)
    records = lines(path)
    starts = {
        r["data"]["operation"]: r
        for r in records
        if r["type"] == "span" and r["data"]["event"] == "start"
    }
    root = starts["ChainOfThought:pipeline"]
    assert "parent_id" not in root
    assert starts["Predict:step1"]["parent_id"] == root["span_id"]
    modules = {r["data"]["module_name"]: r["data"] for r in records if r["type"] == "module"}
    assert (modules["step1"]["llm_calls"], modules["step1"]["total_tokens"]) == (1, 15)
    assert (modules["pipeline"]["llm_calls"], modules["pipeline"]["total_tokens"]) == (3, 32)
    assert (
        modules["pipeline"]["signature"] == "question -> answer"
        and modules["pipeline"]["success"] is True
    )
    assert modules["bad"]["success"] is False


@pytest.fixture
def sample_trace(tmp_path):
    from llmlog.tracing import ModuleInfo, tracing_interceptor

    intercept = tracing_interceptor()

    def predict(inputs):
        llmlog.get_trace_session().emit_llm_call(
            llmlog.get_span_id(),
            "openai",
            "gpt-4o",
            "What is the capital?",
            "Paris",
            TokenUsage(10, 5, cost=0.0001),
            120,
        )
        return {"answer": "Paris"}

    def failing(inputs):
        raise TimeoutError("search timed out")

    path = tmp_path / "trace.jsonl"
    with llmlog.new_trace_session(path), llmlog.span("evaluate"):
        intercept({"q": "capital"}, ModuleInfo("qa", "Predict"), predict)
        with pytest.raises(TimeoutError):
            intercept({"q": "x"}, ModuleInfo("react", "ReAct"), failing)
    return path


def test_view_draws_the_tree_with_tokens_cost_and_errors(cli, sample_trace):
    done = cli("view", str(sample_trace), "--no-color")
    assert done.returncode == 0, done.stderr
    out = done.stdout.splitlines()
    assert out[0].startswith("Trace ")
    assert out[1].startswith("evaluate ") and "tokens=15" in out[1] and "$0.0001" in out[1]
    assert any(line.startswith("├── Predict:qa ") for line in out)
    assert any(line.startswith("└── ✗ ReAct:react ") and "search timed out" in line for line in out)
    assert any("llm gpt-4o (openai) 120ms tokens=15(10↑5↓) $0.0001" in line for line in out)
    assert out[-1] == "3 spans, 1 LLM call, 15 tokens, $0.0001, 1 with errors"


def test_view_flags(cli, sample_trace):
    stats = cli("view", str(sample_trace), "--stats").stdout
    assert (
        "openai/gpt-4o: 1 call, 15 tokens (input 10, output 5), latency min 120 / median 120 / "
        "max 120 ms" in stats
    )
    errors = cli("view", str(sample_trace), "--errors", "--no-color").stdout
    assert "ReAct:react" in errors and "Predict:qa" not in errors
    found = cli("view", str(sample_trace), "--search", "CAPITAL", "--no-color", "--compact").stdout
    assert "Predict:qa" in found and "ReAct:react" not in found and "llm gpt-4o" not in found


@pytest.mark.slow
def test_view_final_export_iter_and_watch_on_dspy_traces(cli, sample_trace, tmp_path):
    from llmlog.tracing import TraceSession
    from llmlog_trace_dspy import DspyTraceWriter

    assert cli("view", "--final", str(sample_trace)).returncode == 1  # the root returned nothing
    answered = tmp_path / "answered.jsonl"
    with TraceSession(DspyTraceWriter(answered)) as session:
        session.emit_span_start("r", None, "program")
        session.emit_span_end("r", {"answer": "Paris"}, None, 3)
    assert '"answer": "Paris"' in cli("view", "--final", str(answered)).stdout
    done = cli("view", "--export", "tree.md", str(sample_trace), cwd=tmp_path)
    markdown = (tmp_path / "tree.md").read_text()
    assert done.returncode == 0 and markdown.startswith("# Trace `trace.jsonl`")
    assert "├── Predict:qa" in markdown and "\033" not in markdown
    wrong = cli("view", "--iter", "2", str(sample_trace))
    assert wrong.returncode == 2 and "RLM" in wrong.stderr
    import subprocess
    import sys
    from pathlib import Path

    live = tmp_path / "live.jsonl"
    session = TraceSession(DspyTraceWriter(live))
    session.emit_session()
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("llmlog")), "view", "--watch", str(live)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("watching ")
        session.emit_span_start("s1", None, "retrieve")
        session.emit_tool_call("s1", "search", {"q": "x"}, [], 4, False, "timeout")
        lines = [proc.stdout.readline() for _ in range(2)]
        assert "span retrieve started" in lines[0] and "tool search failed 4ms" in lines[1]
    finally:
        proc.terminate()
        proc.wait(10)
        session.close()


@pytest.mark.slow
def test_view_bad_input_names_file_and_line(cli, sample_trace, tmp_path):
    broken = tmp_path / "broken.jsonl"
    good = sample_trace.read_text().splitlines()
    broken.write_text(
        "\n".join(
            [
                good[0],
                good[1],
                "{not json",
                good[2],
                '{"type":"span","timestamp":"yesterday","trace_id":"a"}',
                *good[3:],
            ]
        )
        + "\n"
    )
    done = cli("view", str(broken))
    assert done.returncode == 1
    assert (
        done.stderr.strip()
        == f"llmlog: {broken}:3: not a JSON line (unexpected character: line 1 column 2 (char 1))"
        or done.stderr.startswith(f"llmlog: {broken}:3: not a JSON line")
    )
    assert "Traceback" not in done.stderr
    lenient = cli("view", str(broken), "--lenient", "--no-color")
    assert lenient.returncode == 0
    assert lenient.stdout.splitlines()[-1].endswith("; 2 unreadable lines skipped")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert cli("view", str(empty)).stderr.strip() == f"llmlog: {empty}:1: empty file"
    binary = tmp_path / "binary.jsonl"
    binary.write_bytes(b"\x00\x01\x02garbage")
    assert (
        cli("view", str(binary)).stderr.strip() == f"llmlog: {binary}:1: a binary file, not a trace"
    )
    other = tmp_path / "other.jsonl"
    other.write_text('{"hello": "world"}\n')
    result = cli("view", str(other))
    assert (
        result.returncode == 1
        and "not a trace in any installed format (dspy, rlm)" in result.stderr
    )
    assert "Traceback" not in result.stderr + cli("view", str(tmp_path / "missing.jsonl")).stderr


def test_a_generator_stopped_early_is_not_an_error(tmp_path):
    closed = []

    @llmlog.traced("numbers")
    def numbers():
        try:
            yield from range(10)
        finally:
            closed.append(True)

    path = tmp_path / "t.jsonl"
    with llmlog.new_trace_session(path):
        for value in numbers():
            if value == 2:
                break
    records = lines(path)
    assert closed == [True]  # the wrapped generator was closed too
    assert not [r for r in records if r["type"] == "error"]
    (end,) = [r["data"] for r in records if r["type"] == "span" and r["data"]["event"] == "end"]
    assert "error" not in end and end["outputs"] == {"output": {"items": 3}}


def test_listeners_see_every_event_and_never_break_the_program(tmp_path, capfd):
    from llmlog.tracing import add_listener, remove_listener

    class Collector:
        def __init__(self):
            self.events = []

        def take(self, event):
            self.events.append((event.type, event.span_id))

    collector = Collector()
    add_listener(collector.take)

    def broken(event):
        raise RuntimeError("listener bug")

    add_listener(broken)
    try:
        with llmlog.new_trace_session(tmp_path / "t.jsonl") as session, llmlog.span("in") as s:
            session.emit_llm_call(s.span_id, "p", "m", "q", "a", TokenUsage(1, 1), 1)
        with llmlog.span("no session"):
            pass
    finally:
        remove_listener(collector.take)  # a new bound-method object: removed all the same
        remove_listener(broken)
    kinds = [k for k, _ in collector.events]
    assert kinds == ["session", "span", "llm_call", "span", "span", "span"]
    with llmlog.span("after removal"):
        pass
    assert len(collector.events) == 6
    assert capfd.readouterr().err.count("a trace listener failed") == 1


def test_buffered_trace_events_are_never_lost_silently(tmp_path):
    """The dspy format buffers by default: an error event is written at once, the rest within the
    flush interval, before a flight-recorder snapshot, on FATAL and at exit without a close."""
    import subprocess
    import sys
    import textwrap

    from llmlog_engine_flight import FlightRecorder

    path = tmp_path / "buffered.jsonl"
    session = llmlog.TraceSession(DspyTraceWriter(path, DspyOptions(flush_interval=60)))
    session.emit_session()
    session.emit_span_start("s1", None, "retrieve")
    assert path.read_bytes() == b""  # buffered: not yet written
    session.emit_error("s1", "TimeoutError", "search timed out")
    assert [e["type"] for e in lines(path)] == ["session", "span", "error"]
    session.emit_span_end("s1", None, "timeout", 5)
    fr = FlightRecorder(snapshot_dir=tmp_path)
    fr.start()
    try:
        fr.snapshot(tmp_path / "snap.jsonl")
    finally:
        fr.stop()
    assert len(lines(path)) == 4  # the snapshot flushed the trace file first
    session.close()

    script = textwrap.dedent(
        f"""
        import llmlog
        from llmlog_trace_dspy import DspyOptions, DspyTraceWriter
        session = llmlog.TraceSession(DspyTraceWriter({str(tmp_path / "exit.jsonl")!r},
                                                      DspyOptions(flush_interval=60)))
        session.emit_session()
        for i in range(100):
            session.emit_span_start(f"{{i:016x}}", None, "step")
        if __import__("sys").argv[1] == "fatal":
            llmlog.Logger(outputs=[]).fatal("giving up")
        """
    )
    for how in ("exit", "fatal"):
        (tmp_path / "exit.jsonl").unlink(missing_ok=True)
        done = subprocess.run(
            [sys.executable, "-c", script, how], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == (1 if how == "fatal" else 0), done.stderr
        assert len(lines(tmp_path / "exit.jsonl")) == 101, how


# -- numbers at the API: whatever the program passes, every line is written and every reader keeps it

MAX_SAFE_INT = 2**53 - 1
#: Fields that dspy-go's and rlm-go's Go types decode as integers.
COUNT_KEYS = frozenset(
    {
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "latency_ms",
        "duration_ms",
        "iteration",
        "llm_calls",
    }
)
FLOAT_KEYS = frozenset({"cost", "execution_time", "iteration_time"})

hostile_numbers = st.one_of(
    st.integers(-(2**80), 2**80),
    st.integers(2**53 - 2, 2**64 + 2),
    st.floats(),  # NaN and both infinities included
    st.booleans(),
    st.none(),
    st.sampled_from(
        ["12", " 7 ", "12.5", "lots", "", "nan", "-inf", "1e400", "٣", "0x10", "1_000"]
    ),
    st.decimals(),
    st.fractions(),
    st.builds(list),
    st.builds(object),
)


def strict_json(line):
    """A line as every reader parses it: no NaN or Infinity literals."""

    def reject(name):
        raise AssertionError(f"non-standard JSON constant {name} in {line[:200]!r}")

    return json.loads(line, parse_constant=reject)


def assert_readers_keep_numbers(value, where="$"):
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{where}.{key}"
            if key in COUNT_KEYS:
                assert type(item) is int and 0 <= item <= MAX_SAFE_INT, f"{here} = {item!r}"
            elif key in FLOAT_KEYS and item is not None:
                assert type(item) in (int, float) and abs(item) <= MAX_SAFE_INT, (
                    f"{here} = {item!r}"
                )
            else:
                assert_readers_keep_numbers(item, here)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            assert_readers_keep_numbers(item, f"{where}[{i}]")


def emit_everything_with(session, n):
    """Every emit_* method, span, traced and the LLM-call recorders, each numeric argument taken
    from ``n()``."""
    session.emit_span_start("s1", None, "root", {"x": n()})
    session.emit_llm_call(
        "s1", "p", "m", "prompt", "response", TokenUsage(n(), n(), n(), cost=n()), n()
    )
    session.emit_module("s1", "Predict", "qa", "q -> a", {"q": n()}, {"a": n()}, n(), n(), n(), n())
    session.emit_code_exec(
        "s1",
        n(),
        "x = 1",
        "",
        "",
        {"x": n()},
        n(),
        [
            {"prompt": "p", "response": "r", "prompt_tokens": n(), "completion_tokens": n()},
            {"prompt": "p", "response": "r", "latency_ms": n(), "execution_time": n()},
            {"prompt": "p", "response": "r", "usage": {"total_tokens": n(), "cost": n()}},
        ],
    )
    session.emit_tool_call("s1", "search", {"q": n()}, n(), n(), n(), None)
    session.emit_error("s1", "ValueError", "bad", n())
    session.emit_span_end("s1", {"answer": n()}, None, n())

    @llmlog.traced()
    def step(value):
        return value

    with llmlog.span("traced root", inputs={"n": n()}) as s:
        s.set_outputs(n=n())
        step(n())
        s.llm_call(
            prompt="q",
            response="a",
            usage={"prompt_tokens": n(), "completion_tokens": n(), "cost": n()},
            latency_ms=n(),
        )
        llmlog.get_logger().prompt_completion(
            "q", "a", TokenUsage(n(), n(), n(), cost=n()), latency_ms=n(), cost=n()
        )


@settings(max_examples=60)
@given(st.sampled_from(["dspy", "rlm"]), st.data())
@pytest.mark.slow
def test_hostile_numbers_never_raise_and_every_line_keeps_readable_numbers(
    tmp_path_factory, format, data
):
    from llmlog_trace_rlm import read_rlm

    directory = tmp_path_factory.mktemp("numbers")
    with llmlog.new_trace_session(directory, format=format) as session:
        emit_everything_with(session, lambda: data.draw(hostile_numbers))
    (path,) = directory.iterdir()
    for line in path.read_text().splitlines():
        assert_readers_keep_numbers(strict_json(line))
    if format == "dspy":
        assert len(list(read_trace(path))) == 14
    else:
        assert read_rlm(path).iterations


def test_a_replaced_number_is_reported_once_per_kind(tmp_path, capfd):
    from llmlog import numbers

    before = numbers.adjusted()
    with llmlog.new_trace_session(tmp_path / "t.jsonl") as session:
        for _ in range(3):
            session.emit_llm_call("s", "p", "m", "q", "a", TokenUsage(2**70, 1), float("nan"))
    after = numbers.adjusted()
    assert after["out of range"] - before.get("out of range", 0) == 6  # prompt and total
    assert after["NaN or infinite"] - before.get("NaN or infinite", 0) == 3
    calls = [r["data"] for r in lines(tmp_path / "t.jsonl") if r["type"] == "llm_call"]
    # a count replaced on the way gives no price rather than a wrong one
    assert [(c["latency_ms"], c["usage"]) for c in calls] == [
        (
            0,
            {
                "completion_tokens": 1,
                "cost_unknown": UNPRICEABLE,
                "prompt_tokens": MAX_SAFE_INT,
                "total_tokens": MAX_SAFE_INT,
            },
        )
    ] * 3
    err = capfd.readouterr().err
    # Once per process and kind: this process may have reported them in an earlier test.
    assert err.count("(out of range)") <= 1 and err.count("(NaN or infinite)") <= 1


# -- recording LLM calls: prompt_completion in a span, Span.llm_call, llmlog.record_llm_call


def run_llm_calls_program(directory, format):
    """Three calls in one span, each recorded a different way, at level INFO (so the
    prompt_completion entry itself is not logged, and its call must be traced anyway)."""
    from llmlog.tracing import ModuleInfo, tracing_interceptor

    llmlog.configure({"level": "info"})
    log = llmlog.get_logger("app")
    intercept = tracing_interceptor()

    def predict(inputs):
        log.prompt_completion(
            "What is 2+2?",
            "4",
            TokenUsage(12, 3, cost=0.0001),
            latency_ms=250,
            provider="openai",
        )
        return {"answer": "4"}

    with llmlog.new_trace_session(directory, format=format) as session:
        with llmlog.with_model_id("gpt-4o-mini"), llmlog.span("answer", inputs={"q": "2+2?"}) as s:
            intercept({"q": "2+2?"}, ModuleInfo("qa", "Predict"), predict)
            s.llm_call(
                model="gpt-4o",
                prompt=[{"role": "user", "content": "Are you sure?"}],
                response="Yes, 4.",
                usage={"prompt_tokens": 20, "completion_tokens": 5, "cost": 0.0002},
                latency_ms=300,
                provider="openai",
            )
            llmlog.record_llm_call(
                prompt="Say it in words.", response="four", usage=TokenUsage(1, 1, cost=0.0)
            )
            s.set_outputs(answer="4")
        log.prompt_completion("outside any span", "not traced", TokenUsage(100, 100))
    return session.path


@pytest.mark.parametrize("format", ["dspy", "rlm"])
def test_llm_calls_recorded_from_a_span_are_in_the_trace_and_in_view(cli, tmp_path, format):
    path = run_llm_calls_program(tmp_path / "traces", format)
    shown = cli("view", "--no-color", str(path))
    assert shown.returncode == 0, shown.stderr
    stats = cli("view", "--stats", "--no-color", str(path))
    assert stats.returncode == 0, stats.stderr
    if format == "dspy":
        assert shown.stdout.splitlines()[-1] == "2 spans, 3 LLM calls, 42 tokens, $0.0003"
        assert "llm gpt-4o-mini (openai) 250ms tokens=15(12↑3↓) $0.0001" in shown.stdout
        assert "llm gpt-4o (openai) 300ms tokens=25(20↑5↓) $0.0002" in shown.stdout
        assert "openai/gpt-4o-mini: 1 call, 15 tokens" in stats.stdout
        records = lines(path)
        (module,) = [r["data"] for r in records if r["type"] == "module"]
        assert (module["llm_calls"], module["total_tokens"]) == (1, 15)  # counted once
        (chat,) = [
            r["data"] for r in records if r["type"] == "llm_call" and "messages" in r["data"]
        ]
        assert chat["prompt"] == "Are you sure?"  # a string, as dspy-go reads it
    else:
        assert "3 LLM calls, 42 tokens (33→9), $0.0003" in shown.stdout
        assert "tokens: prompt 33 · completion 9 · total 42" in stats.stdout
    assert "outside any span" not in path.read_text()


def test_llm_calls_in_a_session_less_span_reach_the_flight_recorder(tmp_path):
    from llmlog_engine_flight import FlightRecorder
    from llmlog_engine_flight.snapshot import read_snapshot

    fr = FlightRecorder()
    fr.start()
    try:
        with llmlog.with_model_id("m1"), llmlog.span("no session") as s:
            llmlog.get_logger().prompt_completion("q", "a", TokenUsage(3, 4), latency_ms=5)
            s.llm_call(prompt="q2", response="a2", usage={"input_tokens": 1, "output_tokens": 2})
            # As an SDK returns it: an object (Anthropic's Usage names its counts so).
            s.llm_call(usage=SimpleNamespace(input_tokens=5, output_tokens=6, cache_tokens=None))
        snap = read_snapshot(fr.snapshot(tmp_path / "s.jsonl"))
    finally:
        fr.stop()
    calls = [e for e in snap.events if e["kind"] == "llm_call"]
    assert all("cost_unknown" in c["data"]["usage"] for c in calls)  # nobody priced them
    for c in calls:
        del c["data"]["usage"]["cost_unknown"]
    assert [(c["span_id"], c["data"]["model"], c["data"]["usage"]) for c in calls] == [
        (s.span_id, "m1", {"completion_tokens": 4, "prompt_tokens": 3, "total_tokens": 7}),
        (s.span_id, "m1", {"completion_tokens": 2, "prompt_tokens": 1, "total_tokens": 3}),
        (s.span_id, "m1", {"completion_tokens": 6, "prompt_tokens": 5, "total_tokens": 11}),
    ]
    assert calls[0]["data"]["latency_ms"] == 5


def test_a_missing_trace_format_names_what_to_install_or_where_to_look(sh, tmp_path):
    program = (
        "import llmlog\n"
        "for name in ('rlm', 'otel'):\n"
        "    try:\n"
        "        llmlog.new_trace_session('.', format=name)\n"
        "    except ValueError as exc:\n"
        "        print(exc)\n"
    )
    done = sh(
        [sys.executable, "-c", program],
        cwd=tmp_path,
        env={"LLMLOG_DISABLED_PLUGINS": "trace_rlm"},
        check=True,
    )
    assert done.stdout.splitlines() == [
        "unknown trace format 'rlm' (installed: dspy); llmlog-trace-rlm is installed but its "
        "plugin is not loaded (disabled, or it failed to import): `llmlog plugins` says why",
        "unknown trace format 'otel' (installed: dspy); trace formats come from plugins: "
        "`llmlog plugins` lists them",
    ]
