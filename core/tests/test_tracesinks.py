"""The trace fan-out (``llmlog.tracesinks``): every event of every session and session-less span
to every added sink, in order; a failing sink reported once and the others served; flush and
shutdown at ``llmlog.shutdown()`` and at exit. Core alone: sessions write through an in-memory
writer, no trace format plugin."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

import llmlog
from llmlog import TokenUsage, TraceEvent, TraceEventType, TraceSession, state, tracesinks
from llmlog.interfaces import TraceSink


class ListWriter:
    """A trace writer keeping the events (what a trace format's factory returns)."""

    def __init__(self) -> None:
        self.events: list[TraceEvent] = []
        self.flushed = 0
        self.closed = False

    def write(self, event: TraceEvent) -> None:
        self.events.append(event)

    def flush(self) -> None:
        self.flushed += 1

    def close(self) -> None:
        self.closed = True


class Collecting(TraceSink):
    """A third-party sink: keeps every event; notes flush and shutdown calls."""

    def __init__(self, name: str = "") -> None:
        self.name = name
        self.events: list[TraceEvent] = []
        self.calls: list[str] = []

    def on_event(self, event: TraceEvent) -> None:
        self.events.append(event)

    def flush(self, timeout: float | None = None) -> bool:
        self.calls.append("flush")
        return True

    def shutdown(self) -> None:
        self.calls.append("shutdown")


class Broken(TraceSink):
    name = "broken"

    def on_event(self, event: TraceEvent) -> None:
        raise RuntimeError("sink bug")


@pytest.fixture
def sink():
    added = Collecting("collecting")
    tracesinks.add_sink(added)
    yield added
    tracesinks.remove_sink(added)


def test_a_sink_gets_every_event_of_a_session_in_the_order_the_file_gets_them(sink):
    writer = ListWriter()
    with TraceSession(writer) as session:
        session.emit_session({"run": 1})
        with llmlog.span("outer", inputs={"q": 1}) as outer:
            outer.llm_call(model="m", prompt="p", response="r", usage=TokenUsage(3, 4))
            with llmlog.span("inner"):
                session.emit_tool_call("", "search", "q", "a")
            outer.set_outputs(answer=2)
        session.emit_error("", "ValueError", "bad", True)
    assert [e.type for e in writer.events] == [
        "session",
        "span",
        "llm_call",
        "span",
        "tool_call",
        "span",
        "span",
        "error",
    ]
    # The very same events, in the same order: one event object goes to every destination.
    assert len(sink.events) == len(writer.events)
    assert all(a is b for a, b in zip(sink.events, writer.events, strict=True))


def test_a_sink_gets_the_events_of_a_session_less_span(sink):
    log = llmlog.get_logger("app")
    with llmlog.span("alone", inputs={"api_key": "sk-abcdefghijklmnopqrstuvwx"}) as s:
        llmlog.record_llm_call(model="m", prompt="p", response="r", usage=TokenUsage(1, 2))
        log.prompt_completion("p2", "r2", token_info=TokenUsage(5, 6))
        s.set_outputs(n=1)
    kinds = [(e.type, e.data.get("event")) for e in sink.events]
    assert kinds == [("span", "start"), ("llm_call", None), ("llm_call", None), ("span", "end")]
    assert {e.span_id for e in sink.events} == {s.span_id}
    assert {e.trace_id for e in sink.events} == {s.trace_id}
    # Redacted as a session's events are.
    assert "sk-abcdefghijklmnopqrstuvwx" not in str(sink.events[0].data)
    assert sink.events[2].data["usage"]["total_tokens"] == 11


def test_with_no_sink_a_session_less_span_builds_no_event(monkeypatch):
    assert state.trace_sinks == ()
    built: list[object] = []
    monkeypatch.setattr("llmlog.tracing._deliver", built.append)
    with llmlog.span("alone"):
        llmlog.record_llm_call(model="m")
    assert built == []


def test_a_failing_sink_is_reported_once_and_the_others_still_get_every_event(capfd):
    before, broken, after = Collecting("before"), Broken(), Collecting("after")
    for added in (before, broken, after):
        tracesinks.add_sink(added)
    writer = ListWriter()
    try:
        with TraceSession(writer) as session, llmlog.span("a"), llmlog.span("b"):
            session.emit_session()
        with llmlog.span("no session"):
            pass
    finally:
        for added in (before, broken, after):
            tracesinks.remove_sink(added)
    assert len(writer.events) == 5  # 2 starts, session, 2 ends: the file lost nothing
    assert len(before.events) == len(after.events) == 7
    assert tracesinks.failures(broken) == 0  # forgotten once removed
    err = capfd.readouterr().err
    assert err.count("the trace sink 'broken' failed (reported once): RuntimeError: sink bug") == 1
    assert "Traceback" not in err


def test_failures_are_counted_while_the_sink_is_added(capfd):
    broken = Broken()
    tracesinks.add_sink(broken)
    try:
        for _ in range(3):
            with llmlog.span("x"):
                pass
        assert tracesinks.failures(broken) == 6
    finally:
        tracesinks.remove_sink(broken)
    assert capfd.readouterr().err.count("failed (reported once)") == 1


class Leaving(TraceSink):
    """Removes itself, then fails: a sink removed while its event was being delivered."""

    name = "leaving"

    def on_event(self, event: TraceEvent) -> None:
        tracesinks.remove_sink(self)
        raise RuntimeError("sink bug")


def test_a_new_sink_never_inherits_the_count_of_one_removed_mid_delivery(capfd):
    # The removed sink fails after its count was dropped. Freed, its id would be free for the
    # next sink made: a count kept by id alone would be that sink's, and hide its first failure.
    leaving = Leaving()
    tracesinks.add_sink(leaving)
    with llmlog.span("x"):
        pass
    freed = id(leaving)
    del leaving
    made = [Leaving() for _ in range(200)]  # some of the same size: an id freed is soon reused
    assert all(tracesinks.failures(sink) == 0 for sink in made)
    assert freed not in map(id, made)
    tracesinks.add_sink(made[0])
    with llmlog.span("y"):
        pass
    assert capfd.readouterr().err.count("'leaving' failed (reported once)") == 2


def test_adding_a_sink_twice_delivers_once_and_remove_says_whether_it_was_added():
    sink = Collecting()
    tracesinks.add_sink(sink)
    tracesinks.add_sink(sink)
    with llmlog.span("x"):
        pass
    assert len(sink.events) == 2
    assert tracesinks.remove_sink(sink) is True
    assert tracesinks.remove_sink(sink) is False


def test_llmlog_shutdown_flushes_then_shuts_down_every_sink_and_removes_it():
    first, second = Collecting("first"), Collecting("second")
    tracesinks.add_sink(first)
    tracesinks.add_sink(second)
    llmlog.shutdown()
    assert first.calls == second.calls == ["flush", "shutdown"]
    assert state.trace_sinks == ()
    with llmlog.span("after shutdown"):
        pass
    assert first.events == second.events == []


def test_a_sink_failing_to_flush_or_shut_down_does_not_stop_the_others(capfd):
    class Stubborn(Collecting):
        def flush(self, timeout: float | None = None) -> bool:
            raise OSError("disk gone")

        def shutdown(self) -> None:
            raise OSError("still gone")

    stubborn, fine = Stubborn("stubborn"), Collecting("fine")
    tracesinks.add_sink(stubborn)
    tracesinks.add_sink(fine)
    assert tracesinks.flush(timeout=1.0) is False
    assert fine.calls == ["flush"]
    tracesinks.shutdown()
    assert fine.calls == ["flush", "flush", "shutdown"]
    err = capfd.readouterr().err
    assert "the trace sink 'stubborn' failed to flush (reported once): OSError: disk gone" in err


def test_flush_reports_a_sink_that_did_not_finish():
    class Slow(Collecting):
        def flush(self, timeout: float | None = None) -> bool:
            self.calls.append(f"flush {timeout is not None and timeout <= 5}")
            return False

    slow = Slow()
    tracesinks.add_sink(slow)
    try:
        assert tracesinks.flush(timeout=5) is False
        assert slow.calls == ["flush True"]
    finally:
        tracesinks.remove_sink(slow)


def test_a_session_is_the_sink_writing_its_file():
    writer = ListWriter()
    session = TraceSession(writer)
    assert isinstance(session, TraceSink)
    session.emit_span_start("s1", None, "op")
    assert session.flush(timeout=1.0) is True
    assert writer.flushed == 1
    session.shutdown()
    session.close()
    assert writer.closed
    session.emit_span_end("s1")  # after close: ignored, never raises
    assert [e.data["event"] for e in writer.events[-1:]] == ["start"]


def test_exit_flushes_and_shuts_down_the_sinks():
    program = textwrap.dedent(
        """
        import llmlog
        from llmlog import tracesinks
        from llmlog.interfaces import TraceSink

        class Printing(TraceSink):
            def on_event(self, event):
                print("event", event.type, flush=True)

            def flush(self, timeout=None):
                print("flush", flush=True)
                return True

            def shutdown(self):
                print("shutdown", flush=True)

        tracesinks.add_sink(Printing())
        with llmlog.span("x"):
            pass
        print("end of program", flush=True)
        """
    )
    run = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=True
    )
    assert run.stdout.splitlines() == [
        "event span",
        "event span",
        "end of program",
        "flush",
        "shutdown",
    ]


# -- the same events in the same order to every sink, whatever is added and removed -------------

OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(0, 3)),
        st.tuples(st.just("remove"), st.integers(0, 3)),
        st.tuples(st.just("event"), st.integers(0, 2)),
    ),
    max_size=40,
)


@given(OPERATIONS)
def test_every_sink_gets_exactly_the_events_delivered_while_it_was_added(operations):
    sinks = [Collecting(f"s{i}") for i in range(4)]
    expected: list[list[TraceEvent]] = [[] for _ in sinks]
    added: list[int] = []
    try:
        for n, (operation, value) in enumerate(operations):
            if operation == "add":
                tracesinks.add_sink(sinks[value])
                if value not in added:
                    added.append(value)
            elif operation == "remove":
                tracesinks.remove_sink(sinks[value])
                if value in added:
                    added.remove(value)
            else:
                event = TraceEvent(TraceEventType.SPAN, n, "t" * 32, f"{n:016x}", None, {})
                tracesinks.deliver(event)
                for i in added:
                    expected[i].append(event)
            assert [s.name for s in state.trace_sinks] == [f"s{i}" for i in added]
    finally:
        for s in sinks:
            tracesinks.remove_sink(s)
    for s, events in zip(sinks, expected, strict=True):
        assert [id(e) for e in s.events] == [id(e) for e in events]


def test_sinks_added_and_removed_while_events_flow_get_an_unbroken_run_in_order():
    # One thread emits numbered events; others add and remove sinks meanwhile. With the tuple
    # replaced on change, each sink sees a run of consecutive events per stay, in order.
    events = [TraceEvent(TraceEventType.SPAN, n, "t" * 32, None, None, {}) for n in range(20_000)]
    steady = Collecting("steady")
    tracesinks.add_sink(steady)
    visitors = [Collecting(f"v{i}") for i in range(4)]
    stop = threading.Event()

    def churn(sink: Collecting) -> None:
        while not stop.is_set():
            tracesinks.add_sink(sink)
            tracesinks.remove_sink(sink)

    threads = [threading.Thread(target=churn, args=(v,)) for v in visitors]
    for t in threads:
        t.start()
    try:
        for event in events:
            tracesinks.deliver(event)
    finally:
        stop.set()
        for t in threads:
            t.join()
        tracesinks.remove_sink(steady)
    assert [e.time for e in steady.events] == list(range(len(events)))
    for visitor in visitors:
        times = [e.time for e in visitor.events]
        assert times == sorted(set(times))  # in order, none twice
