"""Tail sampling off the application's thread (llmlog.sampling.SamplerHandoff): the application's
threads hand their events over, the sampling worker decides and writes; flush() and close() wait
for what was handed over, a close racing with many threads leaves only whole traces and exact
counts, an exit with decisions pending writes them, and a failing writer is counted and reported
once while the rest goes on."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

import llmlog
from llmlog import state
from llmlog.records import TraceEvent, TraceEventType
from llmlog.sampling import HANDOFF_BATCH, HANDOFF_LIMIT, SamplingOptions
from llmlog.tracing import TraceSession, new_span_id

SESSION = TraceEventType.SESSION
SPAN = TraceEventType.SPAN
USAGE = {"prompt_tokens": 1, "completion_tokens": 1}


class ListWriter:
    """A trace writer keeping its events in memory, with the thread that wrote each; it fails
    (``OSError``) on the events ``fails`` picks."""

    def __init__(self, fails: Any = None, flush_fails: bool = False) -> None:
        self.events: list[TraceEvent] = []
        self.threads: set[str] = set()
        self.fails = fails
        self.flush_fails = flush_fails
        self.flushes = 0
        self.closed = 0
        self.root_ended = threading.Event()

    def write(self, event: TraceEvent) -> None:
        if self.fails is not None and self.fails(event):
            raise OSError("disk full")
        self.events.append(event)
        self.threads.add(threading.current_thread().name)
        if event.type is SPAN and event.parent_id is None and event.data.get("event") == "end":
            self.root_ended.set()

    def flush(self) -> None:
        self.flushes += 1
        if self.flush_fails:
            raise OSError("flush failed")

    def close(self) -> None:
        self.closed += 1


def one_trace(session: TraceSession, root: str, kid: str, *, error: bool = False) -> None:
    session.emit_span_start(root, None, "request")
    session.emit_span_start(kid, root, "step")
    session.emit_llm_call(kid, "openai", "m", "q", "a", USAGE)
    session.emit_span_end(kid, None, "boom" if error else None, 1)
    session.emit_span_end(root, None, None, 2)


#: The events of one trace, in the order its thread emits them: (type, span is root, event).
SHAPE = [
    ("span", True, "start"),
    ("span", False, "start"),
    ("llm_call", False, None),
    ("span", False, "end"),
    ("span", True, "end"),
]


def test_decisions_and_writing_happen_on_the_sampling_worker():
    writer = ListWriter()
    session = TraceSession(writer, sampling=SamplingOptions(enabled=True, ratio=1.0))
    try:
        one_trace(session, "a" * 16, "b" * 16)  # fewer events than a batch: the worker's timer
        assert writer.root_ended.wait(30), "the worker never decided the trace"
        assert writer.threads == {"llmlog-sampling"}
        assert len(writer.events) == 5
    finally:
        session.close()


def test_flush_decides_what_was_handed_over_before_flushing_the_writer():
    writer = ListWriter()
    session = TraceSession(writer, sampling=SamplingOptions(enabled=True, ratio=1.0))
    for i in range(10):
        one_trace(session, f"{2 * i + 1:016x}", f"{2 * i + 2:016x}")
    session.flush()
    assert len(writer.events) == 50 and writer.flushes >= 1
    assert session._handoff is not None and session._handoff.waiting == 0
    session.close()


def test_the_process_wide_flush_decides_every_handoff_and_flushes_its_file(tmp_path):
    # state.flush_all: what a FATAL entry and a flight-recorder snapshot call.
    pytest.importorskip("llmlog_trace_dspy")  # the file read back: not in the core alone
    path = tmp_path / "t.jsonl"
    session = llmlog.new_trace_session(path, sampling=SamplingOptions(enabled=True, ratio=1.0))
    try:
        for i in range(10):
            one_trace(session, f"{2 * i + 1:016x}", f"{2 * i + 2:016x}")
        state.flush_all()
        lines = [json.loads(line) for line in path.read_text().splitlines()]
        assert sum(line["type"] == "span" for line in lines) == 40
    finally:
        session.close()


def test_past_the_limit_the_application_thread_decides_itself():
    writer = ListWriter()
    session = TraceSession(writer, sampling=SamplingOptions(enabled=True, ratio=1.0))
    handoff = session._handoff
    assert handoff is not None
    # A worker that falls behind: it no longer sees this hand-off.
    with state.sampling_lock:
        state.sampling_handoffs.discard(handoff)
    for i in range(HANDOFF_LIMIT - 1):
        session.emit_span_start(f"{i + 1:016x}", None, "request")
    assert handoff.waiting == HANDOFF_LIMIT - 1
    session.emit_span_start("f" * 16, None, "request")  # the limit: drained on this thread
    assert handoff.waiting == 0
    assert session.sampler is not None and session.sampler.open_traces == HANDOFF_LIMIT
    session.close()
    assert sum(e.type is SPAN for e in writer.events) == HANDOFF_LIMIT  # flushed unfinished


def _roots(events: list[TraceEvent]) -> dict[str, list[tuple[str, bool, str | None]]]:
    """Each root span's events in the order written, as SHAPE describes them."""
    root_of: dict[str, str] = {}
    seen: dict[str, list[tuple[str, bool, str | None]]] = defaultdict(list)
    for event in events:
        if event.span_id is None:
            continue
        if event.type is SPAN and event.data.get("event") == "start":
            root_of[event.span_id] = root_of.get(event.parent_id or "", event.span_id)
        root = root_of[event.span_id]  # a span's first event is its start: KeyError otherwise
        seen[root].append((event.type.value, event.span_id == root, event.data.get("event")))
    return seen


def test_close_racing_with_decisions_from_many_threads_leaves_whole_traces_and_exact_counts():
    writer = ListWriter()
    session = TraceSession(writer, sampling=SamplingOptions(enabled=True, ratio=0.5))
    progressed = threading.Event()
    stop = threading.Event()
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for i in range(20_000):
                if stop.is_set():
                    return
                # random ids: the head share is by trace id XOR root span id
                one_trace(session, new_span_id(), new_span_id(), error=i % 7 == 0)
                if i == 100:
                    progressed.set()
        except BaseException as exc:  # pragma: no cover - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for thread in threads:
        thread.start()
    try:
        assert progressed.wait(60)
        session.close()  # while the threads go on emitting, and the worker deciding
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
    assert errors == [] and session.failures == 0
    events = writer.events
    assert events[-1].type is SESSION and events[-1].data["sampling"] == "counts"
    assert all(e.type is not SESSION or e is events[-1] or "root" in e.data for e in events)
    counts = events[-1].data
    summaries = [e.data for e in events[:-1] if e.type is SESSION]
    unfinished = {s["root_span_id"] for s in summaries if s["sampling"] == "unfinished"}
    sampled_out = {s["root_span_id"] for s in summaries if s["sampling"] == "sampled_out"}
    written = _roots(events)
    for root, shape in written.items():
        if root in unfinished:  # as far as it went, in order, never twice
            assert shape == SHAPE[: len(shape)], root
        else:
            assert shape == SHAPE, root
    assert unfinished <= set(written) and not sampled_out & set(written)
    # An error trace is never sampled out; the counts say exactly what the file holds.
    assert all(s["status"] == "ok" for s in summaries if s["sampling"] == "sampled_out")
    assert counts["kept"] == len(written)
    assert counts.get("unfinished", 0) == len(unfinished)
    assert counts["sampled_out"] == counts["summarised"] - len(unfinished) == len(sampled_out)
    assert counts["kept_error"] > 0 and counts["kept_ratio"] > 0
    assert writer.closed == 1


def test_an_exit_with_decisions_pending_writes_them_all(tmp_path):
    pytest.importorskip("llmlog_trace_dspy")  # the file read back: not in the core alone
    path = tmp_path / "t.jsonl"
    program = f"""
import threading, llmlog
from llmlog.sampling import SamplingOptions
session = llmlog.new_trace_session({str(path)!r}, sampling=SamplingOptions(enabled=True, ratio=1.0))
usage = {{"prompt_tokens": 1, "completion_tokens": 1}}
def work(k):
    for i in range(500):
        root, kid = f"{{k:04x}}{{2 * i:012x}}", f"{{k:04x}}{{2 * i + 1:012x}}"
        session.emit_span_start(root, None, "request")
        session.emit_span_start(kid, root, "step")
        session.emit_llm_call(kid, "openai", "m", "q", "a", usage)
        session.emit_span_end(kid, None, None, 1)
        session.emit_span_end(root, None, None, 2)
threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
for t in threads: t.start()
for t in threads: t.join()
session.emit_span_start("ffffffffffffffff", None, "still-running")
# exits here: nothing flushed, nothing closed; decisions pending in the hand-off
"""
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    starts = [line for line in lines if line["data"].get("event") == "start"]
    assert len(starts) == 4 * 500 * 2 + 1
    counts = lines[-1]["data"]
    assert counts["sampling"] == "counts"
    assert counts["kept"] == counts["kept_ratio"] == 2001 and counts["unfinished"] == 1


def test_a_failing_writer_is_counted_and_reported_once_and_the_rest_goes_on(capsys):
    writer = ListWriter(fails=lambda e: e.span_id is not None and e.span_id.startswith("bad"))
    session = TraceSession(writer, sampling=SamplingOptions(enabled=True, ratio=1.0))
    for i in range(HANDOFF_BATCH):  # more than a batch: the worker takes some of them
        prefix = "bad" if i % 3 == 0 else "ok-"
        one_trace(session, f"{prefix}{2 * i:013x}", f"{prefix}{2 * i + 1:013x}")
    session.flush()
    session.close()
    failing = sum(1 for i in range(HANDOFF_BATCH) if i % 3 == 0)
    assert session.failures == 5 * failing
    assert len([e for e in writer.events if e.type is SPAN]) == 4 * (HANDOFF_BATCH - failing)
    assert writer.events[-1].data["sampling"] == "counts"
    assert capsys.readouterr().err.count("writing failed: OSError: disk full") == 1
    # The worker lives on: the next session's traces are still decided off this thread.
    after = ListWriter()
    other = TraceSession(after, sampling=SamplingOptions(enabled=True, ratio=1.0))
    one_trace(other, "c" * 16, "d" * 16)
    assert after.root_ended.wait(30)
    assert after.threads == {"llmlog-sampling"}
    other.close()


def test_a_writer_failing_to_flush_or_close_never_raises(capsys):
    writer = ListWriter(flush_fails=True)
    session = TraceSession(writer, sampling=SamplingOptions(enabled=True, ratio=1.0))
    one_trace(session, "a" * 16, "b" * 16)
    assert session.flush() is True
    session.close()
    assert len(writer.events) == 6  # the trace and the counts line
    assert capsys.readouterr().err.count("flush failed") == 1


def test_a_forked_child_decides_on_a_worker_of_its_own(tmp_path):
    if not hasattr(__import__("os"), "fork"):
        pytest.skip("no fork")
    writer = ListWriter()
    session = TraceSession(writer, sampling=SamplingOptions(enabled=True, ratio=1.0))
    one_trace(session, "a" * 16, "b" * 16)
    session.flush()
    out = tmp_path / "child.txt"
    program_result = _fork_and_run(session, writer, out)
    assert program_result == 0
    assert out.read_text() == "llmlog-sampling 10"
    session.close()


def _fork_and_run(session: TraceSession, writer: ListWriter, out: Path) -> int:
    import os

    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            writer.events.clear()
            writer.threads.clear()
            writer.root_ended.clear()
            one_trace(session, "c" * 16, "d" * 16)
            one_trace(session, "e" * 16, "f" * 16)
            if writer.root_ended.wait(30):
                session.flush()
                out.write_text(f"{','.join(sorted(writer.threads))} {len(writer.events)}")
                code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_a_rule_that_flushes_everything_from_inside_a_decision_does_not_wait_for_itself():
    # A predicate that logs a FATAL entry flushes everything (state.flush_all), which drains
    # every hand-off: the one deciding it must not wait for its own lock.
    from llmlog.sampling import add_sampling_rule, remove_sampling_rule

    calls: list[bool] = []

    def flushing(facts: Any) -> bool:
        state.flush_all()
        calls.append(True)
        return True

    add_sampling_rule("flushing", flushing)
    writer = ListWriter()
    session = TraceSession(writer, sampling=SamplingOptions(enabled=True))
    done = threading.Event()
    try:

        def record() -> None:
            one_trace(session, "a" * 16, "b" * 16)
            session.flush()
            done.set()

        thread = threading.Thread(target=record, daemon=True)
        thread.start()
        assert done.wait(30), "a drain waited for itself"
        assert calls and len(writer.events) == 5
    finally:
        remove_sampling_rule("flushing")
        if done.is_set():  # else its lock stays held: closing would hang too
            session.close()
