"""The trace-format conformance suite catches what a careless format gets wrong."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import llmlog
from llmlog import hookimpl
from llmlog.testing import ConformanceError, check_trace_format


class CarelessWriter:
    """Writes plain-text lines into a world-readable file and cannot read or show them."""

    def __init__(self, path: Path) -> None:
        target = path / "careless.txt" if path.is_dir() else path
        self.fh = open(target, "w")  # noqa: SIM115 - closed in close()
        os.chmod(target, 0o644)

    def write(self, event: object) -> None:
        self.fh.write(f"{event.type} {event.span_id}\n")  # type: ignore[attr-defined]

    def flush(self) -> None:
        self.fh.flush()

    def close(self) -> None:
        self.fh.close()


class CarelessFormat:
    @hookimpl
    def llmlog_register_trace_formats(self, register):
        register("careless", lambda options, context: CarelessWriter(context.path))


def test_a_careless_format_fails_each_case_by_name(tmp_path):
    llmlog.configure({}, plugins=[("careless", CarelessFormat())], autoload=False)
    with pytest.raises(ConformanceError) as caught:
        check_trace_format("careless", tmp_path)
    message = str(caught.value)
    for case in (
        "a whole program as JSON lines: line 1 is not strict JSON",
        "files only the owner can read",
        "detect() recognises the file: no detect()",
        "read() returns every LLM call's tokens: no read()",
        "view() shows it: no view()",
    ):
        assert case in message, message
    assert "flush and close with nothing written" not in message


def test_an_unknown_format_is_named(tmp_path):
    llmlog.configure({}, autoload=False)
    with pytest.raises(ConformanceError, match="'nope' is not installed"):
        check_trace_format("nope", tmp_path)
