"""Viewer safety: a trace whose every string is hostile, in a file whose name is hostile too,
reaches the terminal (and the Markdown export, and every message) with no non-printable
character but the newline."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from llmlog.testing import view_arguments

HOSTILE = [
    "\x1b[2J\x1b[Hcleared",  # clear the screen
    "\x1b]52;c;cm0gLXJmIH4=\x07",  # OSC 52: write the clipboard
    "\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\",  # OSC 8 link
    "\x9b31mC1-CSI",  # C1 CSI
    "del\x7fete",
    "\u202eevil-bidi\u202c",
    "zero\u200bwidth\ufeff",
    "tag\U000e0041\U000e007f",
    "lone\ud800surrogate\udfff",
    "line\n2026-08-20 10:15:02.000 INFO  forged entry",
    "cr\rover\x08back\x00nul",
    "sep\u2028\u2029\x85",
]


def _hostile(i: int) -> str:
    return f"{HOSTILE[i % len(HOSTILE)]}|{HOSTILE[(i + 5) % len(HOSTILE)]}"


def _hostile_trace(path: Path, helpers) -> Path:
    n = iter(range(1000))

    def h() -> str:
        return _hostile(next(n))

    ln = helpers.line
    root, child, tool = h(), h(), h()
    records = [
        {**helpers.line("session", data={"start_time": h(), h(): h()}), "trace_id": h()},
        ln("span", root, {"event": "start", "operation": h(), "inputs": {h(): h()}}, trace=h()),
        ln("span", child, {"event": "start", "operation": h(), "inputs": [h()]}, parent=root),
        ln(
            "llm_call",
            child,
            {
                "provider": h(),
                "model": h(),
                "prompt": h(),
                "response": h(),
                "latency_ms": 3,
                "usage": {
                    "prompt_tokens": 1,
                    "completion_tokens": 2,
                    "total_tokens": 3,
                    "cost": 0.5,
                },
            },
        ),
        ln(
            "llm_call",
            child,
            {"provider": h(), "model": h(), "prompt": h(), "response": h(), "latency_ms": 4},
        ),
        ln(
            "module",
            child,
            {
                "module_type": h(),
                "module_name": h(),
                "signature": h(),
                "success": False,
                "llm_calls": 1,
                "total_tokens": 3,
            },
        ),
        ln(
            "code_exec",
            child,
            {
                "iteration": h(),
                "code": h(),
                "stdout": h(),
                "stderr": h(),
                "locals": {h(): h()},
                "sub_llm_calls": [
                    {"model": h(), "prompt": h(), "response": h(), "prompt_tokens": 1}
                ],
            },
        ),
        ln(
            "tool_call",
            tool,
            {"tool_name": h(), "input": h(), "output": h(), "success": False, "error": h()},
            parent=child,
        ),
        ln("error", child, {"error_type": h(), "message": h(), "recoverable": h()}),
        ln("span", child, {"event": "end", "duration_ms": 5, "error": h(), "outputs": {h(): h()}}),
        ln(
            "span", root, {"event": "end", "duration_ms": 9, "outputs": {"answer": h(), h(): [h()]}}
        ),
        # A DSPy Evaluate run: the root's score and counts, its examples' results (the table).
        ln("span", "ev", {"event": "start", "operation": h(), "inputs": {h(): h()}}),
        ln("span", "ex0", {"event": "start", "operation": h(), "inputs": {h(): h()}}, parent="ev"),
        ln("span", "ex1", {"event": "start", "operation": h(), "inputs": h()}, parent="ev"),
        ln(
            "span",
            "ex0",
            {
                "event": "end",
                "duration_ms": 1,
                "outputs": {"prediction": {h(): h()}, "feedback": h()},
                "evaluation": {"index": 0, "metric": h(), "score": h(), "passed": True},
            },
        ),
        ln(
            "span",
            "ex1",
            {
                "event": "end",
                "duration_ms": 1,
                "outputs": {"prediction": h()},
                "evaluation": {"index": 1, "metric": h(), "score": h(), "error": h()},
            },
        ),
        ln(
            "span",
            "ev",
            {
                "event": "end",
                "duration_ms": 2,
                "evaluation": {
                    h(): h(),
                    "metric": h(),
                    "score": h(),
                    "examples": h(),
                    "passed": h(),
                },
            },
        ),
    ]
    # Half the lines with raw (non-ASCII) characters, half with every character escaped: both
    # reach the reader the way other writers write them.
    helpers.write_jsonl(path, records, ascii_only=True)
    raw = path.read_bytes().splitlines(keepends=True)
    helpers.write_jsonl(path.with_suffix(".raw"), records, ascii_only=False)
    raw2 = path.with_suffix(".raw").read_bytes().splitlines(keepends=True)
    path.write_bytes(
        b"".join(a if i % 2 else b for i, (a, b) in enumerate(zip(raw, raw2, strict=True)))
    )
    path.with_suffix(".raw").unlink()
    return path


def _unprintable(text: str) -> list[str]:
    return sorted({repr(ch) for ch in text if ch != "\n" and not ch.isprintable()})


NAMES = [
    "t\x1b[2Jrace\u202e\x9b.jsonl",
    os.fsdecode(b"tr\xffce\x1b]52;c;eA==\x07.jsonl"),
]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    "flags",
    [
        [],
        ["--stats"],
        ["--errors"],
        ["-s", "c"],
        ["-s", "nothing-matches-this"],
        ["--final"],
        ["--compact"],
        ["--lenient"],
        ["export"],
    ],
)
def test_every_string_of_a_hostile_trace_is_escaped(tmp_path, helpers, name, flags):
    path = _hostile_trace(tmp_path / name, helpers)
    if flags == ["export"]:
        flags = ["--export", str(tmp_path / f"{name}.md")]
    done = helpers.run_main("view", "--no-color", *flags, str(path))
    assert done.status in (0, 1) and "Traceback" not in done.err
    assert done.out, done
    assert _unprintable(done.out + done.err) == [], (flags, done.out + done.err)
    for exported in tmp_path.glob("*.md"):
        assert _unprintable(exported.read_text("utf-8", "surrogateescape")) == []


@pytest.mark.parametrize("name", NAMES)
def test_watch_lines_are_escaped(tmp_path, helpers, name):
    from llmlog_trace_dspy.view import _Watcher

    path = _hostile_trace(tmp_path / name, helpers)
    for flags in ({}, {"errors": True}, {"search": "c"}):
        out = io.StringIO()
        watcher = _Watcher(path, view_arguments(watch=True, **flags), out)
        watcher.refresh()
        text = out.getvalue()
        assert text.count("\n") >= 2 and _unprintable(text) == [], text


@pytest.mark.parametrize("name", NAMES)
def test_messages_name_hostile_files_escaped(tmp_path, helpers, name):
    path = tmp_path / name
    path.write_text('{"type":"session","timestamp":"yesterday","trace_id":"t"}\n')
    cases = [
        ["view", str(path)],
        ["view", str(tmp_path / ("missing" + name))],
        ["convert", str(path), "--to", "rlm"],
        ["convert", str(path), "--to", "dspy\x1b[2J"],
    ]
    good = _hostile_trace(tmp_path / ("good" + name), helpers)
    cases += [
        ["convert", str(good), "--to", "dspy", "-o", str(tmp_path / ("out" + name))],
        ["convert", str(good), "--to", "dspy", "-o", str(tmp_path / ("out" + name))],  # exists
        ["convert", str(good), "--to", "rlm", "-o", str(tmp_path)],
        ["view", "--export", str(tmp_path / ("x" + name)), str(good)],
        ["view", "--export", str(tmp_path / ("x" + name + ".md")), str(good)],
    ]
    empty = tmp_path / ("empty" + name)
    empty.write_text("")
    cases.append(["view", str(empty)])
    for args in cases:
        done = helpers.run_main(*args)
        assert "Traceback" not in done.err
        assert done.out or done.err, args
        assert _unprintable(done.out + done.err) == [], (args, done)
