"""The trace fan-out: every trace event, to every :class:`~llmlog.interfaces.TraceSink`.

Shaped like OpenTelemetry's ``SynchronousMultiSpanProcessor``: one process-wide tuple of sinks,
replaced on every change (copy-on-write), so delivering an event reads it without a lock and a
sink added or removed while another thread delivers never disturbs that delivery. Each event goes
to the sinks in the order they were added; then a session's event goes to the session itself (a
:class:`~llmlog.TraceSession` is the sink writing its file), which is not in this tuple.

Who adds a sink: the flight recorder while it runs, the OTLP exporter while it is enabled, any
third-party code with :func:`add_sink`. The tuple is process-wide state, so it lives in
:mod:`llmlog.state` (``trace_sinks``); ``if state.trace_sinks:`` is the one cheap check of whether
anyone listens to session-less spans (nothing is built for them otherwise).

A sink whose ``on_event`` raises is reported once on stderr and counted (:func:`failures`); the
other sinks still get the event and the application never sees the exception.
``llmlog.shutdown()`` and interpreter exit call :func:`shutdown`: each sink is flushed, then shut
down, and removed.

A **producer** (:func:`add_producer`) is the other end: code that holds events it has taken but
not emitted yet, as the DSPy integration holds its hooks to handle them in batches. Before any
other event is emitted, and before a session flushes or closes, :func:`drain_producers` has each
emit what it holds, so every file and sink gets the events in the order they happened.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from llmlog import state
from llmlog.dispatch import report_problem
from llmlog.interfaces import TraceSink
from llmlog.records import TraceEvent

__all__ = [
    "TraceSink",
    "add_listener",
    "add_producer",
    "add_sink",
    "added",
    "deliver",
    "drain_producers",
    "failures",
    "flush",
    "remove_listener",
    "remove_producer",
    "remove_sink",
    "shutdown",
    "shutdown_at_exit",
]


def add_sink(sink: TraceSink) -> None:
    """Hand every trace event, of every session and every session-less span, to ``sink``, after
    the sinks added before it. Adding a sink already added changes nothing."""
    with state.trace_sinks_lock:
        if any(s is sink for s in state.trace_sinks):
            return
        state.trace_sinks = (*state.trace_sinks, sink)
    shutdown_at_exit()


def remove_sink(sink: TraceSink) -> bool:
    """Stop handing events to ``sink`` (an event being delivered may still reach it). Neither
    flushed nor shut down: its owner does that. Returns whether it was added."""
    with state.trace_sinks_lock:
        kept = tuple(s for s in state.trace_sinks if s is not sink)
        found = len(kept) != len(state.trace_sinks)
        state.trace_sinks = kept
        state.sink_failures.pop(id(sink), None)
    return found


def deliver(event: TraceEvent) -> None:
    """Hand ``event`` to every sink, in order; never raises. The tracing API calls this (after
    checking that ``state.trace_sinks`` is not empty); a sink never needs to."""
    for sink in state.trace_sinks:
        try:
            sink.on_event(event)
        except Exception as exc:  # a trace call never raises into the application
            _failed(sink, "", exc)


def failures(sink: TraceSink) -> int:
    """How many times ``sink`` failed (``on_event``, ``flush`` or ``shutdown`` raised) since it was
    added."""
    held = state.sink_failures.get(id(sink))
    return 0 if held is None else held[1]


def _label(sink: TraceSink) -> str:
    if isinstance(sink, _Listener):
        return "a trace listener"
    return f"the trace sink {sink.name or type(sink).__name__!r}"


def _failed(sink: TraceSink, step: str, exc: Exception) -> None:
    failures = state.sink_failures
    with state.trace_sinks_lock:
        # The sink is held with its count: one removed while its event was being delivered
        # may fail after its count was dropped, and when freed would leave its id to a new one.
        held = failures.get(id(sink))
        count = 1 if held is None else held[1] + 1
        failures[id(sink)] = (sink, count)
    if count == 1:
        report_problem(f"{_label(sink)} failed{step} (reported once): {type(exc).__name__}: {exc}")


def flush(timeout: float | None = None) -> bool:
    """Flush every sink, in order, each within what is left of ``timeout`` seconds (``None``:
    each sink's own bound). ``False`` if the time ran out or a sink said it did not finish;
    never raises (as OpenTelemetry's ``force_flush``)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    done = True
    for sink in state.trace_sinks:
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            done = sink.flush(left) is not False and done
        except Exception as exc:
            _failed(sink, " to flush", exc)
            done = False
    return done


def shutdown(timeout: float | None = None) -> None:
    """Remove every sink, then flush and shut down each, in the order they were added; never
    raises. ``llmlog.shutdown()`` and interpreter exit call this; sinks added afterwards start a
    new round."""
    with state.trace_sinks_lock:
        retired = state.trace_sinks
        state.trace_sinks = ()
    deadline = None if timeout is None else time.monotonic() + timeout
    for sink in retired:
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            sink.flush(left)
        except Exception as exc:
            _failed(sink, " to flush", exc)
        try:
            sink.shutdown()
        except Exception as exc:
            _failed(sink, " to shut down", exc)
    with state.trace_sinks_lock:
        again = set(map(id, state.trace_sinks))  # added again meanwhile: their counts stay
        for sink in retired:
            if id(sink) not in again:
                state.sink_failures.pop(id(sink), None)


def added() -> tuple[TraceSink, ...]:
    """The sinks added now, in order."""
    return state.trace_sinks


def shutdown_at_exit() -> None:
    """Make interpreter exit call :func:`shutdown` (idempotent).

    :func:`add_sink` calls it, so a program with no sink installs no exit hook; ``llmlog.runtime``
    calls it when it is imported (``configure()``), before plugins load: exit handlers run in
    reverse order, so a plugin's own (the OTLP exporter closes its queues at exit in one go) then
    run first and the sinks are retired last, after the configuration's integrations and tables.
    """
    state.register_lifecycle(at_exit=_at_exit, after_fork_in_child=_after_fork_in_child)


def _at_exit() -> None:
    shutdown()


def _after_fork_in_child() -> None:
    # Another thread may have held the lock at the fork; the child has only this thread.
    state.trace_sinks_lock = threading.Lock()


# -- producers that hold events ---------------------------------------------------------------------


def add_producer(drain: Callable[[], None]) -> None:
    """Register a producer by the callable that emits what it holds (through its sessions'
    ``emit_*``, with each event's :class:`~llmlog.Moment`). ``drain`` is called before any other
    event is emitted while it is registered, before a session flushes or closes, and by
    ``llmlog.ext.flush_all`` (so at exit, on FATAL and before a flight-recorder snapshot). It must
    return at once when it holds nothing or is called again from inside its own emits, and should
    not raise (an exception is reported once and swallowed). Adding one already added changes
    nothing."""
    with state.trace_sinks_lock:
        if any(d == drain for d in state.trace_producers):
            return
        state.trace_producers = (*state.trace_producers, drain)


def remove_producer(drain: Callable[[], None]) -> None:
    """Unregister a producer (no error if it was not registered); it should drain first."""
    with state.trace_sinks_lock:
        state.trace_producers = tuple(d for d in state.trace_producers if d != drain)


_producer_failed = [False]


def drain_producers() -> None:
    """Have every producer emit what it holds, in the order they were added; never raises. The
    tracing API calls this (after checking that ``state.trace_producers`` is not empty)."""
    for drain in state.trace_producers:
        try:
            drain()
        except Exception as exc:
            if not _producer_failed[0]:
                _producer_failed[0] = True
                report_problem(
                    f"a trace producer failed to emit what it held (reported once): "
                    f"{type(exc).__name__}: {exc}"
                )


# -- plain functions as sinks -----------------------------------------------------------------------


class _Listener(TraceSink):
    """A function taking each event, as a sink (see :func:`add_listener`)."""

    def __init__(self, function: Callable[[TraceEvent], None]) -> None:
        self.function = function
        # The function itself answers on_event: no call in between.
        self.on_event = function  # type: ignore[method-assign, assignment]

    def on_event(self, event: TraceEvent) -> None:
        self.function(event)


def add_listener(listener: Callable[[TraceEvent], None]) -> None:
    """Hand every trace event to the function ``listener``: the simplest sink (no flush, no
    shutdown). Same rules as :meth:`TraceSink.on_event`; a failure is reported once as "a trace
    listener failed"."""
    add_sink(_Listener(listener))


def remove_listener(listener: Callable[[TraceEvent], None]) -> None:
    """Stop handing events to ``listener`` (no error if it was not added)."""
    # == rather than "is": a bound method is a new object at each attribute access.
    for sink in state.trace_sinks:
        if isinstance(sink, _Listener) and sink.function == listener:
            remove_sink(sink)
