"""Test helpers: capturing entries, and the conformance suite for plugin authors.

Capturing, like structlog's ``capture_logs``::

    with llmlog.testing.capture() as entries:
        do_work()
    assert entries[0].message == "done"

Conformance, like Go's ``slogtest``: every output and formatter plugin runs the same cases, and a
failure lists every case that went wrong::

    from llmlog.testing import check_formatter, check_output

    def test_conformance():
        check_formatter(MyFormatter())
        check_output(make_output, read_lines)

The cases cover what the core promises users: every entry delivered once and in order, concurrent
writers, values that cannot be serialised, control characters that must not forge lines, huge
values, idempotent close, and no exception ever escaping.

Driving the command line: :func:`run_cli` runs ``llmlog ARGS`` in the test's process,
:func:`cli_parser` parses a command's arguments, and :func:`view_arguments` builds the ``args`` a
trace format's ``view`` gets from ``llmlog view``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from llmlog.interfaces import Formatter, Output
from llmlog.logger import global_dispatcher
from llmlog.records import LogEntry, TokenUsage
from llmlog.render import plural
from llmlog.severity import Severity

if TYPE_CHECKING:
    import argparse

    from llmlog.plugins import PluginHost

__all__ = [
    "ENVIRONMENT_VARIABLES",
    "ConformanceError",
    "ListOutput",
    "TraceFile",
    "capture",
    "check_formatter",
    "check_output",
    "check_trace_format",
    "cli_parser",
    "fed_pipe",
    "isolated_environment",
    "make_entry",
    "run_cli",
    "run_command",
    "run_llmlog",
    "threads_started",
    "view_arguments",
]


class TraceFile:
    """The records of one JSON-lines trace file (the ``trace`` and ``dspy`` formats), read for a
    test's assertions: ``records`` in order, span ``starts`` and ``ends`` by span id, the
    ``llm_call`` records in ``calls``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records: list[dict[str, Any]] = [
            json.loads(line) for line in path.read_text().splitlines()
        ]
        spans = [r for r in self.records if r["type"] == "span"]
        self.starts = {r["span_id"]: r for r in spans if r["data"]["event"] == "start"}
        self.ends = {r["span_id"]: r for r in spans if r["data"]["event"] == "end"}
        self.calls = self.events("llm_call")

    def events(self, kind: str) -> list[dict[str, Any]]:
        """The records of type ``kind`` (``"llm_call"``, ``"error"``...), in order."""
        return [r for r in self.records if r["type"] == kind]

    def name(self, span_id: str | None) -> str | None:
        """The operation name of a span, ``None`` for an unknown id (or ``None``)."""
        return self.starts[span_id]["data"]["operation"] if span_id in self.starts else None

    def parent(self, span_id: str) -> str | None:
        """The parent span's id, ``None`` for a root."""
        parent: str | None = self.starts[span_id].get("parent_id")
        return parent

    def spans(self, operation: str) -> list[str]:
        """The ids of the spans named ``operation``, in start order."""
        return [s for s, r in self.starts.items() if r["data"]["operation"] == operation]


def run_cli(argv: Sequence[str]) -> int:
    """Run the ``llmlog`` command with ``argv`` in this process, as the installed command runs
    it, and return its exit status. Its output goes to ``sys.stdout`` and ``sys.stderr`` (pytest's
    ``capsys`` captures them); an argument ``argparse`` refuses raises :class:`SystemExit`."""
    from llmlog.cli import main

    return main(list(argv))


def run_command(
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    check: bool = False,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """Run a command in a process of its own, as a user runs it: this process's environment plus
    ``env``, UTF-8 input and output (``PYTHONUTF8=1``), text output captured, and a ``timeout`` so
    that a hang fails the test instead of the whole run. With ``check``, a non-zero exit raises
    :class:`AssertionError` showing both outputs."""
    full_env = {**os.environ, "PYTHONUTF8": "1", **(env or {})}
    done = subprocess.run(
        list(args), capture_output=True, text=True, env=full_env, cwd=cwd, timeout=timeout
    )
    if check and done.returncode != 0:
        raise AssertionError(
            f"{list(args)} exited {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
        )
    return done


def run_llmlog(
    *args: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    check: bool = False,
) -> subprocess.CompletedProcess[str]:
    """The installed ``llmlog`` command (the one beside this interpreter) with ``args``, in a
    process of its own (:func:`run_command`): what a plugin's command does end to end."""
    command = str(Path(sys.executable).with_name("llmlog"))
    return run_command([command, *args], env=env, cwd=cwd, check=check)


def cli_parser(host: PluginHost | None = None) -> argparse.ArgumentParser:
    """The ``llmlog`` command's argument parser with the commands registered in ``host`` (the
    installed plugins' by default), to test how a command's arguments parse."""
    from llmlog.cli import build_parser
    from llmlog.plugins import PluginHost

    return build_parser(host if host is not None else PluginHost())


def view_arguments(**flags: object) -> argparse.Namespace:
    """The ``args`` a trace format's ``view(path, args, out)`` gets from ``llmlog view``, for
    calling it directly: every flag at its default (the installed formats' own flags included)
    but those given, ``view(path, view_arguments(stats=True), out)``. An unknown flag is a
    :class:`TypeError`."""
    from llmlog.viewing import view_arguments as arguments

    return arguments(None, **flags)


class ListOutput(Output):
    """An output that keeps every entry in :attr:`entries` (thread-safe: ``list.append``)."""

    def __init__(self, level: Severity = Severity.DEBUG) -> None:
        self.level = level
        self.entries: list[LogEntry] = []

    def write(self, entry: LogEntry) -> None:
        self.entries.append(entry)


#: Environment variables that change llmlog's behaviour (besides every ``LLMLOG_*`` one).
ENVIRONMENT_VARIABLES = ("NO_COLOR", "FORCE_COLOR", "OTEL_SDK_DISABLED")


@contextmanager
def isolated_environment(directory: Path) -> Iterator[Path]:
    """Run the block with no llmlog configuration from the machine leaking in.

    Clears every ``LLMLOG_*`` variable and :data:`ENVIRONMENT_VARIABLES`, points the user
    configuration, state and cache directories (``XDG_CONFIG_HOME``, ``XDG_STATE_HOME``,
    ``XDG_CACHE_HOME``: default log, trace and snapshot locations) into ``directory`` and makes
    ``directory`` the working directory; restores all of it, and shuts llmlog down, afterwards. Use it from an autouse
    pytest fixture with ``tmp_path``.
    """
    saved_env = dict(os.environ)
    saved_cwd = Path.cwd()
    try:
        for key in list(os.environ):
            if key.startswith("LLMLOG_") or key in ENVIRONMENT_VARIABLES:
                del os.environ[key]
        os.environ["XDG_CONFIG_HOME"] = str(directory / "xdg")
        os.environ["XDG_STATE_HOME"] = str(directory / "xdg-state")
        os.environ["XDG_CACHE_HOME"] = str(directory / "xdg-cache")
        os.chdir(directory)
        yield directory
    finally:
        from llmlog.runtime import shutdown

        shutdown()
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)


def fed_pipe(path: Path, data: bytes) -> Path:
    """A named pipe at ``path`` (made if it does not exist yet) that a thread fills with
    ``data`` and closes, as a shell's ``<(zcat trace.jsonl.gz)`` is: a reader opens it once and
    reads ``data`` once. A reader that stops early closes the pipe and the thread gives up.
    Returns ``path``; each call feeds one reader."""
    if not path.exists():
        os.mkfifo(path)

    def feed() -> None:
        with suppress(BrokenPipeError), path.open("wb") as fh:
            fh.write(data)

    threading.Thread(target=feed, name="llmlog-fed-pipe", daemon=True).start()
    return path


@contextmanager
def threads_started() -> Iterator[list[threading.Thread]]:
    """The threads of llmlog's (named ``llmlog-…``, as every thread it starts is) that the block
    started and left running: the list is filled when the block ends. A thread that was running
    before and ended meanwhile does not count, as it would in a difference of
    ``threading.active_count()`` (an earlier test's thread may end at any moment)::

        with threads_started() as started:
            llmlog.check_configuration(path)
        assert not started
    """
    before = set(threading.enumerate())
    started: list[threading.Thread] = []
    try:
        yield started
    finally:
        started.extend(
            thread
            for thread in threading.enumerate()
            if thread not in before and thread.name.startswith("llmlog") and thread.is_alive()
        )


@contextmanager
def capture(level: Severity = Severity.DEBUG) -> Iterator[list[LogEntry]]:
    """Collect the entries logged through the global logger inside the block.

    The configured outputs keep receiving entries as before. ``level`` is the lowest severity
    captured; the global ``level`` setting still applies first.
    """
    dispatcher = global_dispatcher()
    dispatcher.ensure_configured()
    output = ListOutput(level)
    output.name = "capture"
    dispatcher.add_output(output)
    try:
        yield output.entries
    finally:
        dispatcher.remove_output(output)


def make_entry(
    message: str = "hello", severity: Severity = Severity.INFO, **overrides: Any
) -> LogEntry:
    """A :class:`LogEntry` with plausible values, for tests; keywords override attributes."""
    values: dict[str, Any] = {
        "time": time.time_ns(),
        "severity": severity,
        "message": message,
        "file": "app.py",
        "line": 42,
        "function": "main",
    }
    values.update(overrides)
    return LogEntry(**values)


class ConformanceError(AssertionError):
    """One or more conformance cases failed; the message lists each."""


class _Unrepresentable:
    def __repr__(self) -> str:
        raise RuntimeError("repr is broken on purpose")

    def __str__(self) -> str:
        raise RuntimeError("str is broken on purpose")


@attrs.define
class _AttrsValue:
    name: str = "x"
    size: int = 3


def _odd_values() -> dict[str, Any]:
    cycle: list[Any] = [1]
    cycle.append(cycle)
    return {
        "none": None,
        "flag": True,
        "ratio": 0.25,
        "nan": float("nan"),
        "inf": float("inf"),
        "huge_int": 2**80,
        "raw": b"\xff\x00bytes",
        "tags": {"a", "b"},
        "int_keys": {1: "one", (2, 3): "tuple"},
        "cycle": cycle,
        "when": dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC),
        "attrs": _AttrsValue(),
        "error": ValueError("bad value"),
        "broken": _Unrepresentable(),
        "unicode": "héllo 世界 🙂",
    }


_INJECTION = (
    "before\x1b[2J\x1b[31mred\rCARRIAGE\nFAKE 2026-01-01 ERROR forged\u202eevil\u2028sep\x00nul"
)
_FORBIDDEN_RAW = ("\x1b", "\r", "\u202e", "\u2028", "\x00")


def _full_entry(message: str) -> LogEntry:
    return make_entry(
        message,
        Severity.WARN,
        trace_id="4f0c9a7e2b1d4c3a8e6f5d2c1b0a9f8e",
        span_id="9b2e4c1d0a7f3e56",
        model_id="gpt-4o-mini",
        token_info=TokenUsage(10, 20, cost=0.0003),
        latency_ms=812.5,
        cost=0.0003,
        fields={"user": "alice", "nested": {"k": [1, 2, {"deep": "x"}]}},
        logger="app.qa",
    )


class _Failures:
    def __init__(self, subject: str) -> None:
        self.subject = subject
        self.items: list[str] = []

    def case(self, name: str, fn: Callable[[], None]) -> None:
        try:
            fn()
        except AssertionError as exc:
            self.items.append(f"{name}: {exc}")
        except Exception as exc:
            self.items.append(f"{name}: raised {type(exc).__name__}: {exc}")

    def done(self) -> None:
        if self.items:
            lines = "\n".join(f"  - {item}" for item in self.items)
            raise ConformanceError(f"{self.subject}: {len(self.items)} case(s) failed\n{lines}")


def check_formatter(
    formatter: Formatter,
    parse: Callable[[str], Mapping[str, Any]] | None = None,
    *,
    multiline_exceptions: bool = True,
) -> None:
    """Run the formatter conformance cases; raise :class:`ConformanceError` listing failures.

    :param formatter: the formatter under test.
    :param parse: if the format is machine-readable, a function from one formatted line to a
        mapping with at least ``message`` and ``level`` (the level name) and the entry's fields by
        name; enables the round-trip cases.
    :param multiline_exceptions: whether a traceback may continue on further lines. If ``False``,
        every entry must be exactly one line.
    """
    f = _Failures(f"formatter {type(formatter).__name__}")

    def basic() -> None:
        out = formatter.format(make_entry("plain message"))
        assert isinstance(out, str), f"format() returned {type(out).__name__}, not str"
        assert "plain message" in out, f"message missing from {out!r}"
        assert not out.endswith("\n"), "format() must not add the trailing newline"

    def every_severity() -> None:
        for severity in Severity:
            out = formatter.format(make_entry("m", severity))
            assert severity.name.lower() in out.lower(), f"{severity.name} not shown in {out!r}"

    def all_attributes() -> None:
        out = formatter.format(_full_entry("full entry"))
        for needle in ("full entry", "alice", "gpt-4o-mini"):
            assert needle in out, f"{needle!r} missing from {out!r}"

    def control_characters() -> None:
        out = formatter.format(make_entry(_INJECTION, fields={"tool_output": _INJECTION}))
        for raw in _FORBIDDEN_RAW:
            assert raw not in out, f"raw {raw!r} written: {out!r}"
        assert "\n" not in out, f"an entry without exception spans several lines: {out!r}"

    def odd_values() -> None:
        out = formatter.format(make_entry("odd", fields=_odd_values()))
        assert "odd" in out
        out_bytes = formatter.format_bytes(make_entry("odd", fields=_odd_values()))
        out_bytes.decode("utf-8")

    def huge_value() -> None:
        big = "x" * 2_000_000
        out = formatter.format(make_entry("big", fields={"prompt": big}))
        assert "big" in out

    def exception_text() -> None:
        entry = make_entry(
            "failed", Severity.ERROR, exception="Traceback:\n  line 1\nValueError: \x1b[31mno"
        )
        out = formatter.format(entry)
        assert "ValueError" in out, f"exception missing from {out!r}"
        assert "\x1b" not in out, "raw escape in exception text"
        if not multiline_exceptions:
            assert "\n" not in out

    def bytes_match_text() -> None:
        entry = make_entry("same", fields={"u": "héllo"})
        assert formatter.format_bytes(entry).decode("utf-8") == formatter.format(entry)

    def line_from_parts() -> None:
        # The per-entry function an output may call instead of format_bytes (optional).
        line_of = formatter.line_from_parts
        if line_of is None:
            return
        entries = [
            make_entry("plain message"),
            make_entry("same", fields={"u": "héllo", "n": 3, "message": "forged"}),
            make_entry(_INJECTION, fields={"tool_output": _INJECTION}),
            make_entry("odd", fields=_odd_values()),
            _full_entry("full entry"),
            make_entry("failed", Severity.ERROR, exception="Traceback:\n  line 1\nValueError"),
        ]
        for entry in entries:
            parts = attrs.astuple(entry, recurse=False)
            for _ in range(2):  # a cache filled by the first call must give the same line
                got, want = line_of(*parts), formatter.format_bytes(entry) + b"\n"
                assert got == want, f"line_from_parts wrote {got!r}, format_bytes {want!r}"

    def concurrent() -> None:
        entry = _full_entry("concurrent")
        expected = formatter.format(entry)
        results: list[str] = []

        def work() -> None:
            for _ in range(200):
                results.append(formatter.format(entry))

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wrong = [r for r in results if r != expected]
        assert not wrong, f"{len(wrong)} of {len(results)} concurrent results differ"

    def round_trip() -> None:
        assert parse is not None
        entry = make_entry(
            "round trip ünïcode", Severity.ERROR, fields={"user": "alice", "count": 3, "ok": True}
        )
        parsed = parse(formatter.format(entry))
        assert parsed.get("message") == entry.message, f"message: {parsed.get('message')!r}"
        assert str(parsed.get("level", "")).upper() == "ERROR", f"level: {parsed.get('level')!r}"
        for key, value in entry.fields.items():
            got = parsed.get(key)
            assert got == value or str(got).lower() == str(value).lower(), f"field {key}: {got!r}"

    def reserved_keys() -> None:
        assert parse is not None
        entry = make_entry("real message", fields={"message": "forged", "level": "forged"})
        parsed = parse(formatter.format(entry))
        assert parsed.get("message") == "real message", "a field overwrote the message"
        assert str(parsed.get("level", "")).upper() == "INFO", "a field overwrote the level"

    for name, case in [
        ("basic", basic),
        ("every severity", every_severity),
        ("all attributes", all_attributes),
        ("control characters", control_characters),
        ("unusual values", odd_values),
        ("huge value", huge_value),
        ("exception text", exception_text),
        ("format_bytes matches format", bytes_match_text),
        ("line_from_parts matches format_bytes", line_from_parts),
        ("concurrent use", concurrent),
    ]:
        f.case(name, case)
    if parse is not None:
        f.case("round trip", round_trip)
        f.case("reserved keys", reserved_keys)
    f.done()


_TOKEN = re.compile(r"conformance-(\d+)-(\d+)")


def check_output(
    make_output: Callable[[], Output],
    read_lines: Callable[[], Sequence[str]],
    *,
    threads: int = 4,
    per_thread: int = 250,
) -> None:
    """Run the output conformance cases; raise :class:`ConformanceError` listing failures.

    :param make_output: builds a fresh output. Each case builds one, writes, then closes it.
    :param read_lines: returns every line the most recent output delivered, in order (read the
        file, the captured stream, the server's API...). Called after ``close()``.
    :param threads: writer threads in the concurrency case.
    :param per_thread: entries per thread in the concurrency case.
    """
    f = _Failures("output")

    def tokens(lines: Sequence[str]) -> list[tuple[int, int]]:
        found: list[tuple[int, int]] = []
        for line in lines:
            hits = _TOKEN.findall(line)
            assert len(hits) <= 1, f"one line holds several entries: {line[:200]!r}"
            found.extend((int(a), int(b)) for a, b in hits)
        return found

    def in_order() -> None:
        out = make_output()
        for i in range(50):
            out.write(make_entry(f"conformance-0-{i}", Severity(10 * (1 + i % 5))))
        out.flush()
        out.close()
        got = tokens(read_lines())
        assert got == [(0, i) for i in range(50)], (
            f"expected 50 entries in order, read {len(got)}: {got[:5]}…"
        )

    def concurrent() -> None:
        out = make_output()

        def work(t: int) -> None:
            for i in range(per_thread):
                out.write(make_entry(f"conformance-{t}-{i}", fields={"payload": "y" * (i % 300)}))

        pool = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
        out.close()
        got = tokens(read_lines())
        expected = {(t, i) for t in range(threads) for i in range(per_thread)}
        assert len(got) == len(expected), f"wrote {len(expected)} entries, read {len(got)}"
        assert set(got) == expected, "entries lost or duplicated"
        for t in range(threads):
            mine = [i for (tt, i) in got if tt == t]
            assert mine == sorted(mine), f"thread {t}'s entries out of order"

    def no_forged_lines() -> None:
        out = make_output()
        out.write(make_entry("conformance-0-0 " + _INJECTION, fields={"tool": _INJECTION}))
        out.close()
        lines = [line for line in read_lines() if line.strip()]
        assert len(lines) == 1, f"one entry became {len(lines)} lines: {lines!r}"
        for raw in _FORBIDDEN_RAW:
            assert raw not in lines[0], f"raw {raw!r} reached the output"

    def odd_values() -> None:
        out = make_output()
        out.write(make_entry("conformance-0-0", fields=_odd_values()))
        out.write(_full_entry("conformance-0-1"))
        out.close()
        assert tokens(read_lines()) == [(0, 0), (0, 1)]

    def close_twice() -> None:
        out = make_output()
        out.write(make_entry("conformance-0-0"))
        out.close()
        out.close()

    def flush_empty() -> None:
        out = make_output()
        out.flush()
        out.close()

    for name, case in [
        ("entries in order", in_order),
        ("concurrent writers", concurrent),
        ("control characters", no_forged_lines),
        ("unusual values", odd_values),
        ("close twice", close_twice),
        ("flush with nothing written", flush_empty),
    ]:
        f.case(name, case)
    f.done()


def _refuse_constant(name: str) -> Any:
    # Python's json accepts bare NaN/Infinity; JavaScript and Go readers do not.
    raise ValueError(f"{name} is not JSON")


def _conformance_run(session: Any, oddities: Mapping[str, Any]) -> tuple[int, int]:
    """A small program through ``session``: a root, a module with an LLM call, a code execution
    with a sub-call, a failing tool, an error. Returns ``(llm_calls, total_tokens)`` written."""
    from llmlog.records import TokenUsage as Usage

    s = session
    s.emit_span_start("1000000000000001", None, "program", {"question": "2+2?", **oddities})
    s.emit_span_start("1000000000000002", "1000000000000001", "Predict:qa", {"q": _INJECTION})
    s.emit_llm_call(
        "1000000000000002",
        "openai",
        "gpt-4o-mini",
        [{"role": "user", "content": "2+2?"}],
        "```repl\nprint(2 + 2)\n```",
        Usage(11, 7, cost=0.0002),
        120,
    )
    s.emit_span_end("1000000000000002", {"answer": "4"}, None, 130)
    s.emit_span_start("1000000000000003", "1000000000000001", "execute", {"code": "print(2 + 2)"})
    s.emit_span_start("1000000000000004", "1000000000000003", "llm_query", None)
    s.emit_llm_call("1000000000000004", "openai", "gpt-4o-mini", "check 4", "yes", Usage(3, 1), 40)
    s.emit_span_end("1000000000000004", {"response": "yes"}, None, 41)
    s.emit_code_exec("1000000000000003", 1, "print(2 + 2)", "4\n", "", {"x": 4}, 45)
    s.emit_span_end("1000000000000003", None, None, 46)
    s.emit_tool_call("1000000000000001", "search", {"q": "x"}, None, 5, False, "timeout")
    s.emit_error("1000000000000001", "TimeoutError", "search timed out", True)
    s.emit_module(
        "1000000000000001",
        "Program",
        "program",
        "question -> answer",
        {"question": "2+2?"},
        {"answer": "4"},
        200,
        2,
        22,
        True,
    )
    s.emit_span_end("1000000000000001", {"answer": "4"}, None, 200)
    return 2, 22


def check_trace_format(name: str, directory: Path) -> None:
    """Run the trace-format conformance cases for the installed format ``name``; raise
    :class:`ConformanceError` listing failures. Every trace format plugin runs it in its tests.

    A format must: create a new file when given a directory; write a whole program's events
    (every event type, nested spans, sub-calls, odd values, control characters) without raising,
    as valid JSON lines that nothing but the owner can read; survive ``flush()`` with nothing
    written and ``close()`` twice; recognise its own file (``detect``); read it back (``read``)
    with every LLM call's tokens; and show it (``view``) with each combination of flags.
    """
    import io
    import json

    from llmlog.registry import ComponentKind
    from llmlog.runtime import plugin_host
    from llmlog.tracing import TraceSession, open_trace_writer
    from llmlog.viewing import view_arguments

    component = plugin_host().components(ComponentKind.TRACE_FORMAT).get(name)
    if component is None:
        raise ConformanceError(f"trace format {name!r} is not installed")

    def options() -> Any:
        return component.options() if component.options else None

    support = component.support
    f = _Failures(f"trace format {name!r}")
    counter = iter(range(1_000_000))

    def new_dir() -> Path:
        target = directory / f"conformance-{name}-{next(counter)}"
        target.mkdir(parents=True)
        return target

    def write_program() -> tuple[Path, tuple[int, int]]:
        target = new_dir()
        writer = open_trace_writer(component, options(), target)
        session = TraceSession(writer, "4f0c9a7e2b1d4c3a8e6f5d2c1b0a9f8e")
        session.emit_session({"root_model": "gpt-4o-mini", "query": "2+2?"})
        expected = _conformance_run(session, _odd_values())
        session.flush()
        session.close()
        session.close()
        files = list(target.iterdir())
        assert len(files) == 1, f"a directory as path should give one new file, got {files}"
        assert session.failures == 0, "the session reported a write failure"
        return files[0], expected

    def lines_are_json() -> None:
        path, _ = write_program()
        raw = path.read_bytes()
        assert raw.endswith(b"\n"), "the file does not end with a newline"
        for number, line in enumerate(raw.splitlines(), start=1):
            try:
                json.loads(line, parse_constant=_refuse_constant)
            except ValueError as exc:
                raise AssertionError(f"line {number} is not strict JSON: {exc}") from None
            for forbidden in _FORBIDDEN_RAW:
                assert forbidden.encode() not in line, f"line {number}: raw {forbidden!r}"

    def private() -> None:
        path, _ = write_program()
        mode = path.stat().st_mode & 0o777
        assert mode & 0o077 == 0, f"{path.name} has mode {oct(mode)}: readable by others"

    def detected() -> None:
        path, _ = write_program()
        assert support.detect is not None, "no detect(): llmlog view cannot recognise the files"
        with path.open("rb") as fh:
            assert support.detect(fh.readline()), "detect() does not recognise its own file"

    def read_back() -> None:
        path, (calls, tokens) = write_program()
        assert support.read is not None, "no read(): llmlog convert cannot read the files"
        got_calls = got_tokens = 0
        for event in support.read(path):
            data = event.data
            if event.type == "llm_call" and isinstance(data.get("usage"), Mapping):
                got_calls += 1
                got_tokens += int(data["usage"].get("total_tokens") or 0)
            subs = data.get("sub_llm_calls") if event.type == "code_exec" else None
            for sub in subs if isinstance(subs, list) else []:
                got_calls += 1
                got_tokens += int(sub.get("prompt_tokens") or 0) + int(
                    sub.get("completion_tokens") or 0
                )
        assert (got_calls, got_tokens) == (calls, tokens), (
            f"read back {plural(got_calls, 'LLM call')} with {plural(got_tokens, 'token')}; "
            f"wrote {calls} with {tokens}"
        )

    def viewed() -> None:
        path, _ = write_program()
        assert support.view is not None, "no view(): llmlog view cannot show the files"
        for flags in ({}, {"stats": True}, {"errors": True}, {"search": "2+2"}, {"compact": True}):
            out = io.StringIO()
            status = support.view(path, view_arguments({name: component}, **flags), out)
            assert status == 0, f"view with {flags or 'no flags'} returned {status}"
            assert out.getvalue().strip(), f"view with {flags or 'no flags'} printed nothing"
            assert "\x1b[2J" not in out.getvalue(), "a control sequence reached the terminal"

    def empty_session() -> None:
        target = new_dir()
        writer = open_trace_writer(component, options(), target)
        writer.flush()
        writer.close()
        writer.close()

    for case_name, case in [
        ("a whole program as JSON lines", lines_are_json),
        ("files only the owner can read", private),
        ("detect() recognises the file", detected),
        ("read() returns every LLM call's tokens", read_back),
        ("view() shows it", viewed),
        ("flush and close with nothing written", empty_session),
    ]:
        f.case(case_name, case)
    f.done()
