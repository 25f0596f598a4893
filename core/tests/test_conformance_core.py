"""The conformance suites of ``llmlog.testing`` run against the core's own components (the
built-in stderr output, an in-test JSON formatter, the in-test ``coretest`` trace format), and
shown to catch careless ones, case by case."""

from __future__ import annotations

import json
from typing import Any

import pytest

import llmlog
from llmlog import Severity
from llmlog.default_plugins.stderr_output import StderrOutput
from llmlog.interfaces import Formatter, Output
from llmlog.records import LogEntry
from llmlog.render import escape_json_bytes, safe_field_items
from llmlog.serialize import serializer
from llmlog.testing import (
    ConformanceError,
    ListOutput,
    capture,
    check_formatter,
    check_output,
    check_trace_format,
    make_entry,
)


class JsonLines(Formatter):
    """One JSON object per entry: level, message, exception, then the fields (a field named like
    one of those is renamed, never overwriting it)."""

    RESERVED = frozenset({"level", "message", "exception", "model"})

    def format(self, entry: LogEntry) -> str:
        return self.format_bytes(entry).decode("utf-8")

    def format_bytes(self, entry: LogEntry) -> bytes:
        record: dict[str, Any] = {"level": entry.severity.name, "message": entry.message}
        if entry.exception:
            record["exception"] = entry.exception
        if entry.model_id:
            record["model"] = entry.model_id
        record.update(safe_field_items(entry.fields, self.RESERVED))
        return escape_json_bytes(serializer.dumps(record))


def test_the_json_formatter_conforms():
    check_formatter(JsonLines(), json.loads, multiline_exceptions=False)


class Careless(Formatter):
    """Writes the raw message, drops the level, and lets fields overwrite the message."""

    def format(self, entry: LogEntry) -> str:
        if entry.fields.get("prompt", "").startswith("xxxx"):
            raise MemoryError("too big")
        return json.dumps({"message": entry.message, **{str(k): 1 for k in entry.fields}}) + "\n"


def test_a_careless_formatter_fails_each_case_by_name():
    with pytest.raises(ConformanceError) as caught:
        check_formatter(Careless(), json.loads)
    message = str(caught.value)
    assert message.startswith("formatter Careless: ")
    for case in (
        "basic: format() must not add the trailing newline",
        "every severity: DEBUG not shown",
        "huge value: raised MemoryError: too big",
        "round trip: ",
        "reserved keys: a field overwrote the message",
    ):
        assert case in message, message


def test_the_builtin_stderr_output_conforms(capsys):
    def read_lines() -> list[str]:
        return capsys.readouterr().err.splitlines()

    check_output(StderrOutput, read_lines, threads=3, per_thread=100)
    capsys.readouterr()  # the "close twice" case's line, which that case does not read
    check_output(lambda: StderrOutput(JsonLines()), read_lines, threads=2, per_thread=50)


class LossyOutput(Output):
    """Drops every other entry and writes raw text."""

    def __init__(self, sink: list[str]) -> None:
        self.sink = sink
        self.count = 0
        self.closed = False

    def write(self, entry: LogEntry) -> None:
        self.count += 1
        if self.count % 2:
            self.sink.append(entry.message)

    def close(self) -> None:
        if self.closed:
            raise RuntimeError("closed twice")
        self.closed = True


def test_a_lossy_output_fails_each_case_by_name():
    sink: list[str] = []

    def make() -> Output:
        sink.clear()
        return LossyOutput(sink)

    with pytest.raises(ConformanceError) as caught:
        check_output(make, lambda: list(sink), threads=2, per_thread=10)
    message = str(caught.value)
    for case in (
        "entries in order: expected 50 entries in order, read 25",
        "concurrent writers: wrote 20 entries, read",
        "control characters: raw '\\x1b' reached the output",
        "close twice: raised RuntimeError: closed twice",
    ):
        assert case in message, message


def test_the_coretest_trace_format_conforms(trace_formats, tmp_path):
    llmlog.configure({"outputs": {}}, plugins=[("coretest", trace_formats.plugin)], autoload=False)
    check_trace_format("coretest", tmp_path)
    with pytest.raises(ConformanceError) as caught:
        check_trace_format("coretest-alt", tmp_path)  # readable, but it has no viewer
    assert "view() shows it: no view()" in str(caught.value)
    assert "detect()" not in str(caught.value) and "read()" not in str(caught.value)


def test_capture_collects_what_the_global_logger_writes(configured):
    log = llmlog.get_logger("app")
    with capture(Severity.INFO) as entries:
        log.debug("below the capture level")
        log.info("kept", user="alice")
    log.info("after the block")
    assert [(e.message, dict(e.fields)) for e in entries] == [("kept", {"user": "alice"})]
    assert configured.messages() == ["below the capture level", "kept", "after the block"]


def test_list_output_and_make_entry():
    output = ListOutput(Severity.WARN)
    entry = make_entry("m", Severity.ERROR, fields={"k": 1}, line=7)
    output.write(entry)
    assert output.level is Severity.WARN and output.entries == [entry]
    assert (entry.file, entry.line, entry.function, entry.fields) == ("app.py", 7, "main", {"k": 1})
