"""Fixtures for the ``dspy`` trace format tests: isolation, trace files written line by line, and
``llmlog`` run in-process (``llmlog.testing.run_cli``) with its output captured."""

from __future__ import annotations

import contextlib
import io
import json
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from llmlog.testing import isolated_environment

TS = "2026-08-20T10:15:02.5Z"


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path) -> Iterator[Path]:
    with isolated_environment(tmp_path):
        yield tmp_path


class Run(NamedTuple):
    status: int
    out: str
    err: str


class Hang(Exception):
    """Raised by :func:`hang_guard` when the guarded block runs too long."""


@contextlib.contextmanager
def hang_guard(seconds: float = 60.0) -> Iterator[None]:
    """Fail (rather than hang the suite) if the block runs longer than ``seconds``: a guard
    against an endless loop, not a timing assertion."""

    def alarm(signum: int, frame: Any) -> None:
        raise Hang(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_main(*args: str) -> Run:
    """``llmlog ARGS`` in this process: exit status, stdout, stderr. An exception escaping
    ``main`` (a traceback for a user) fails the test."""
    from llmlog.testing import run_cli

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = run_cli(args)
        except SystemExit as exc:  # argparse
            status = exc.code if isinstance(exc.code, int) else 2
    return Run(int(status), out.getvalue(), err.getvalue())


@pytest.fixture
def llmlog_main() -> Callable[..., Run]:
    """:func:`run_main` as a fixture."""
    return run_main


def line(
    kind: str,
    span: str | None = None,
    data: dict[str, Any] | None = None,
    *,
    parent: str | None = None,
    ts: str = TS,
    trace: str = "t1",
) -> dict[str, Any]:
    """One dspy-go event as a dict, keys in dspy-go's order."""
    record: dict[str, Any] = {"type": kind, "timestamp": ts, "trace_id": trace}
    if span is not None:
        record["span_id"] = span
    if parent is not None:
        record["parent_id"] = parent
    if data is not None:
        record["data"] = data
    return record


def session_line() -> dict[str, Any]:
    return line("session", data={"start_time": TS})


def write_jsonl(path: Path, records: list[Any], *, ascii_only: bool = True) -> Path:
    """``records`` as JSON lines (Python's encoder: a lone surrogate is written as its
    ``\\udXXX`` escape, as other JSON writers do)."""
    text = "".join(json.dumps(r, ensure_ascii=ascii_only) + "\n" for r in records)
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    return path


@pytest.fixture
def helpers() -> Any:
    """The module's helpers (test modules cannot import conftest in importlib mode)."""

    class Helpers:
        TS = TS
        Run = Run
        Hang = Hang
        line = staticmethod(line)
        session_line = staticmethod(session_line)
        write_jsonl = staticmethod(write_jsonl)
        run_main = staticmethod(run_main)
        hang_guard = staticmethod(hang_guard)

    return Helpers
