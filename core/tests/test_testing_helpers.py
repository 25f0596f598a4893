"""``llmlog.testing``'s process helpers: a command run as a user runs it."""

from __future__ import annotations

import json
import sys
import threading

import pytest

from llmlog.testing import run_command, run_llmlog, threads_started


def test_run_command_captures_text_in_utf8_and_adds_to_the_environment():
    done = run_command(
        [sys.executable, "-c", "import os, sys; print(os.environ['EXTRA'], sys.flags.utf8_mode)"],
        env={"EXTRA": "é"},
    )
    assert done.returncode == 0
    assert done.stdout.split() == ["é", "1"]


def test_check_shows_both_outputs_of_a_failing_command():
    program = "import sys; print('out'); sys.stderr.write('err'); sys.exit(3)"
    with pytest.raises(AssertionError, match=r"exited 3\nstdout:\nout\n\nstderr:\nerr"):
        run_command([sys.executable, "-c", program], check=True)


def test_run_llmlog_runs_the_installed_command():
    done = run_llmlog("--help")
    assert done.returncode == 0 and "usage: llmlog" in done.stdout


def test_trace_file_reads_spans_by_id_and_records_by_type(tmp_path):
    from llmlog.testing import TraceFile

    records = [
        {"type": "span", "span_id": "a", "data": {"event": "start", "operation": "app"}},
        {
            "type": "span",
            "span_id": "b",
            "parent_id": "a",
            "data": {"event": "start", "operation": "LM:x"},
        },
        {"type": "llm_call", "span_id": "b", "data": {"model": "x"}},
        {"type": "span", "span_id": "b", "data": {"event": "end"}},
        {"type": "span", "span_id": "a", "data": {"event": "end"}},
    ]
    path = tmp_path / "trace_1.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    trace = TraceFile(path)
    assert trace.records == records and list(trace.ends) == ["b", "a"]
    assert trace.spans("LM:x") == ["b"] and trace.parent("b") == "a" and trace.parent("a") is None
    assert trace.name("a") == "app" and trace.name(None) is None and trace.name("zz") is None
    assert trace.calls == trace.events("llm_call") == [records[2]]


def test_threads_started_names_the_llmlog_threads_a_block_left_running():
    stop = threading.Event()
    ending = threading.Thread(target=stop.wait, name="llmlog-ending")
    ending.start()  # running before the block, ends inside it: not counted
    with threads_started() as started:
        stop.set()
        ending.join()
        left = threading.Thread(target=stop.wait, args=(0.0,), name="llmlog-left")
        other = threading.Thread(target=stop.wait, name="not ours")
        running = threading.Event()
        kept = threading.Thread(target=lambda: (running.set(), stop.wait()), name="llmlog-kept")
        stop.clear()
        for thread in (left, other, kept):
            thread.start()
        left.join()
        running.wait()
    stop.set()
    assert started == [kept]
    kept.join()
    other.join()
