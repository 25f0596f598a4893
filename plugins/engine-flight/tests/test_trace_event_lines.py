"""The ring line of a trace event: the bytes the recorder's ``_line`` makes of the event's payload
with the data as ``encoded_event_data`` encodes it, whatever the event holds (text orjson writes
as is, text it needs escaped, values it refuses), the encoding left on the event for the trace
file, and a span start kept in the open-span table with the same line. An event emitted later
than it happened (``origin``, a ``Moment``) is recorded with that moment's thread and task."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmlog import TraceEvent, TraceEventType
from llmlog.ext import Moment, encoded_event_data
from llmlog_engine_flight import FlightRecorder
from llmlog_engine_flight.recorder import _line

texts = st.text(max_size=12) | st.sampled_from(["\x7f", "\u2028", "é", "\ud800", "plain"])
values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)
ids = st.none() | st.sampled_from(["", "a1b2c3d4e5f60718", "x-y", "é"])


@pytest.fixture(scope="module")
def recorder():
    fr = FlightRecorder(min_age=60, max_bytes=1 << 20, chunk_events=64)
    fr.start()
    yield fr
    fr.stop()


@settings(max_examples=200, deadline=None)
@given(
    kind=st.sampled_from(list(TraceEventType)),
    phase=st.sampled_from([None, "start", "end"]),
    data=st.dictionaries(texts, values, max_size=4),
    trace=st.sampled_from(["", "0123456789abcdef0123456789abcdef", "t\u2028"]),
    span=ids,
    parent=ids,
    origin=st.none()
    | st.builds(
        Moment,
        st.just(1_800_000_000_000_000_000),
        st.integers(1, 2**48),
        st.none() | st.tuples(st.integers(1, 10**6), st.text(max_size=5)),
    ),
)
def test_the_ring_line_is_the_payload_encoded_by_line(
    recorder: FlightRecorder,
    kind: TraceEventType,
    phase: str | None,
    data: dict[str, Any],
    trace: str,
    span: str | None,
    parent: str | None,
    origin: Moment | None,
) -> None:
    if phase is not None:
        data = {**data, "event": phase}
    event = TraceEvent(kind, 1_800_000_000_123_456_789, trace, span, parent, data)
    event.origin = origin
    # The data's encoding made on an event of its own (the recorder encodes it on the event).
    expected_data = encoded_event_data(TraceEvent(kind, event.time, trace, span, parent, data))
    seen: list[bytes] = []
    recorder._append = seen.append  # type: ignore[method-assign]
    try:
        recorder.record_trace_event(event)
    finally:
        del recorder._append
    # The task's id before the ids and the data, which end every trace line the same way
    # (event_line_tail, shared with the trace file).
    payload: dict[str, Any] = {
        "ts": event.time,
        "kind": event.type,
        "tid": threading.get_ident() if origin is None else origin.thread,
    }
    if origin is not None and origin.task is not None:
        payload["task"] = origin.task[0]
    payload["trace_id"] = trace
    if span:
        payload["span_id"] = span
    if parent:
        payload["parent_id"] = parent
    if data:
        import orjson

        payload["data"] = orjson.Fragment(expected_data)
        assert event.encoded_data == expected_data  # shared with the trace file
    assert seen == [_line(payload)]
    if span and kind is TraceEventType.SPAN and phase == "start":
        assert recorder._open_spans[span][1] == seen[0]
