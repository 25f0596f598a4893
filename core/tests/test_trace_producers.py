"""Trace producers (``llmlog.tracesinks.add_producer``): code that holds events and emits them
later, each with the ``Moment`` it happened at. What they hold is emitted before any other event,
before a session flushes or closes and by ``flush_all``, so every writer and sink gets the events
in the order they happened; a producer that fails is reported once and the others still run.
Core alone: sessions write through an in-memory writer."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from llmlog import TraceEvent, TraceSession, state, tracesinks
from llmlog.ext import Moment, add_trace_producer, moment, remove_trace_producer
from llmlog.flight import annotations


class ListWriter:
    """A trace writer keeping the events."""

    def __init__(self) -> None:
        self.events: list[TraceEvent] = []

    def write(self, event: TraceEvent) -> None:
        self.events.append(event)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


class Holder:
    """A producer: holds span starts with their moments, emits them when drained (guarding
    against being drained again from inside its own emits, as the contract asks)."""

    def __init__(self, session: TraceSession) -> None:
        self.session = session
        self.held: list[tuple[str, Moment]] = []
        self.drains = 0
        self._inside = False

    def take(self, span_id: str) -> None:
        self.held.append((span_id, moment()))

    def drain(self) -> None:
        if self._inside or not self.held:
            return
        self._inside = True
        try:
            self.drains += 1
            held, self.held = self.held, []
            for span_id, at in held:
                self.session.emit_span_start(span_id, None, f"held {span_id}", at=at)
        finally:
            self._inside = False


@pytest.fixture
def session() -> Iterator[TraceSession]:
    s = TraceSession(ListWriter(), "0" * 32)
    yield s
    s.close()


@pytest.fixture
def holder(session: TraceSession) -> Iterator[Holder]:
    h = Holder(session)
    add_trace_producer(h.drain)
    yield h
    remove_trace_producer(h.drain)


def names(session: TraceSession) -> list[str]:
    writer = session.writer
    assert isinstance(writer, ListWriter)
    return [e.data["operation"] for e in writer.events if e.data.get("event") == "start"]


def test_held_events_go_first_with_the_time_thread_and_task_they_happened_at(
    session: TraceSession, holder: Holder
) -> None:
    # A trace task as trace_task enters it while a recorder runs (none runs in core alone).
    token = annotations._task.set((7, "work"))
    try:
        holder.take("a")
    finally:
        annotations._task.reset(token)
    seen = threading.Thread(target=holder.take, args=("b",))
    seen.start()
    seen.join()
    session.emit_span_start("c", None, "now")
    assert names(session) == ["held a", "held b", "now"]
    writer = session.writer
    assert isinstance(writer, ListWriter)
    a, b, c = writer.events
    assert a.origin is not None and a.origin.task == (7, "work")
    assert a.origin.thread == threading.get_ident()
    assert b.origin is not None and b.origin.thread == seen.ident and b.origin.task is None
    assert c.origin is None
    assert a.time == a.origin.time <= b.time == b.origin.time <= c.time


def test_a_flush_a_close_and_flush_all_emit_what_producers_hold(
    session: TraceSession, holder: Holder
) -> None:
    holder.take("1")
    session.flush()
    assert names(session) == ["held 1"]
    holder.take("2")
    state.flush_all()
    assert names(session) == ["held 1", "held 2"]
    holder.take("3")
    session.close()
    assert names(session) == ["held 1", "held 2", "held 3"]
    holder.take("4")
    session.close()  # closed: nothing asked of the producers, nothing written
    assert names(session) == ["held 1", "held 2", "held 3"]


def test_a_failing_producer_is_reported_once_and_the_others_still_emit(
    session: TraceSession, holder: Holder, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken() -> None:
        raise RuntimeError("cannot emit")

    tracesinks._producer_failed[0] = False
    tracesinks.add_producer(broken)
    try:
        for n in range(3):
            holder.take(f"h{n}")
            session.emit_span_start(f"s{n}", None, f"now {n}")
    finally:
        tracesinks.remove_producer(broken)
    assert names(session) == ["held h0", "now 0", "held h1", "now 1", "held h2", "now 2"]
    err = capsys.readouterr().err
    assert err.count("a trace producer failed") == 1 and "cannot emit" in err


def test_adding_twice_registers_once_and_removing_stops_it(
    session: TraceSession, holder: Holder
) -> None:
    add_trace_producer(holder.drain)
    assert state.trace_producers.count(holder.drain) == 1
    remove_trace_producer(holder.drain)
    holder.take("x")
    session.emit_span_start("y", None, "now")
    assert names(session) == ["now"]
    add_trace_producer(holder.drain)  # the fixture removes it again


def test_an_event_given_its_moment_does_not_drain_the_producers(
    session: TraceSession, holder: Holder
) -> None:
    holder.take("held")
    session.emit_span_start("late", None, "late", at=moment())
    assert names(session) == ["late"]
    assert holder.drains == 0
