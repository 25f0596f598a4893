"""The bytes every built-in output writes for a corpus of entries, compared with golden files.

The golden files under ``tests/golden/output-bytes/`` were written by the per-entry path before it
was reshaped (issue 18): whatever shortcut a later path takes (an output's specialised per-entry
function, a check made rare), the bytes must stay the same. The corpus covers hostile strings
(controls, line separators, bidi overrides, DEL, lone surrogates, quotes, backslashes), every
kind of field value, reserved keys, context and bound fields, tokens and cost, exceptions,
redaction by key and by value, size caps, printf failures, each formatter with each option, one
write per entry and buffered, and several outputs at once (the generic path).

Timestamps of the calls that read the clock and the caller's line number are normalised (the
shape of the timestamp is still checked); ``log_record`` entries with a fixed time are compared
byte for byte. Regenerate (only when a change of the bytes is intended)::

    .venv/bin/python tests/test_output_bytes.py --write
"""

from __future__ import annotations

import contextlib
import datetime
import decimal
import enum
import io
import os
import re
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import llmlog
from llmlog import LogEntry, Logger, Output, Severity, TokenUsage
from llmlog.dispatch import Dispatcher
from llmlog.sanitize import Sanitizer
from llmlog.testing import ListOutput
from llmlog_formatter_json import JsonFormatter, JsonOptions
from llmlog_formatter_logfmt import LogfmtFormatter, LogfmtOptions
from llmlog_formatter_text import TextFormatter, TextOptions
from llmlog_output_console import ConsoleOptions, ConsoleOutput
from llmlog_output_file import FileOptions, FileOutput, RotationOptions

GOLDEN = Path(__file__).parent / "golden" / "output-bytes"
FIXED_NS = 1_764_092_405_123_456_789  # 2025-11-25T17:40:05.123456789Z


class Color(enum.Enum):
    RED = "red"


@attrs.define
class Point:
    x: int
    y: int


class Opaque:
    def __repr__(self) -> str:
        return "<Opaque \x1b[31m thing>"


class Hostile:
    def __str__(self) -> str:
        raise RuntimeError("no str for you")

    def __repr__(self) -> str:
        raise RuntimeError("no repr either")


HOSTILE = "esc \x1b[31m red \u2028 sep \u202e bidi \x7f del \x85 nel\nnew\rline\ttab \x00 nul"

# (method, message, args, keyword fields)
CALLS: list[tuple[str, Any, tuple[Any, ...], dict[str, Any]]] = [
    ("info", "answer ready", (), {"user": "alice", "attempt": 7, "model": "gpt-4o-mini"}),
    ("info", "no fields", (), {}),
    ("debug", "debug %s %d %.2f", ("x", 3, 2.5), {"k": "v"}),
    ("info", HOSTILE, (), {"h": HOSTILE}),
    (
        "info",
        'quotes "q" and = and \\ backslash',
        (),
        {
            "space": "a b",
            "q": 'say "hi"',
            "eq": "a=b",
            "bs": "C:\\tmp",
            "empty": "",
            "bell": "\x07",
            "emoji": "🙂 ok",
            "cjk": "日本語",
            "lone": "\ud800x",
            "zw": "a\u200bb",
            "tag": "\U000e0041",
            "pua": "\ue000",
        },
    ),
    ("info", "odd keys", (), {"a b": 1, "k=v": 2, "é": 3, "": 4, "\n": 5, '"': 6}),
    ("warn", "%d items", ("not a number",), {}),
    ("warn", "%s and %s", ("only one",), {}),
    ("warning", "alias", (), {"n": 1}),
    ("info", 42, (), {}),
    ("info", Hostile(), (), {}),
    ("info", None, (), {}),
    ("error", "failed", (), {"exc_info": (ValueError, ValueError("bad\nthing \x1b[0m"), None)}),
    ("error", "failed obj", (), {"exc_info": KeyError("k")}),
    ("error", "not an exception", (), {"exc_info": (1, 2)}),
    ("error", "no exception", (), {"exc_info": False}),
    ("exception", "explicit", (), {"exc_info": RuntimeError("boom")}),
    (
        "info",
        "llm",
        (),
        {
            "model_id": "gpt-4o",
            "token_info": TokenUsage(10, 20, cost=0.0012),
            "latency_ms": 12.5,
            "cost": 0.00001695,
        },
    ),
    (
        "info",
        "details",
        (),
        {
            "token_info": TokenUsage(
                100, 50, cache_read_tokens=30, reasoning_tokens=7, cache_creation_tokens=2
            ),
            "latency_ms": 3,
            "cost": 0,
        },
    ),
    ("info", "zero usage", (), {"token_info": TokenUsage(), "cost": None, "latency_ms": None}),
    (
        "info",
        "model id not a string",
        (),
        {"model_id": 123, "stacklevel": "x", "cost": "free", "latency_ms": "slow"},
    ),
    ("info", "wrong token info", (), {"token_info": "lots", "cost": float("nan")}),
    ("info", "bool cost", (), {"cost": True, "latency_ms": float("inf")}),
    (
        "info",
        "reserved",
        (),
        {
            "level": "x",
            "message": "y",
            "timestamp": "z",
            "msg": 1,
            "time": 2,
            "caller": 3,
            "function": 4,
            "trace_id": 5,
            "traceId": 5.5,
            "fields": 6,
            "logger": 7,
            "exception": 8,
            "file": 9,
            "line": 10,
            "model": 11,
            "prompt_tokens": 12,
            "tokenInfo": 13,
        },
    ),
    (
        "info",
        "values",
        (),
        {
            "none": None,
            "t": True,
            "f": False,
            "i": -42,
            "big": 2**70,
            "huge": 10**400,
            "fl": 3.14,
            "nan": float("nan"),
            "inf": float("-inf"),
            "negzero": -0.0,
            "b": b"bytes\x00\xff",
            "ba": bytearray(b"x"),
            "lst": [1, "two", None, 2.5],
            "tup": (1, 2),
            "st": {3},
            "fs": frozenset({"a"}),
            "d": {"nested": {"deep": [1, {"x": "y"}]}, "n": None},
            "intkeys": {1: "a", 2: "b"},
            "obj": Opaque(),
            "bad": Hostile(),
            "dt": datetime.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=datetime.UTC),
            "date": datetime.date(2026, 1, 2),
            "dec": decimal.Decimal("1.10"),
            "path": PurePosixPath("/tmp/x y"),
            "enum": Color.RED,
            "sev": Severity.WARN,
            "point": Point(1, 2),
            "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        },
    ),
    (
        "info",
        "secrets sk-proj-abcdefghijklmnopqrstuvwxyz0123456789 in the message",
        (),
        {
            "password": "hunter2",
            "api_key": "sk-abcdefghijklmnopqrstuvwxyz012345",
            "authorization": "Bearer abcdefghijklmnop.qrstuvwx.yz0123456789",
            "url": "https://user:pa55word@example.com/x?token=abcdef1234567890",
            "note": "my key is sk-proj-abcdefghijklmnopqrstuvwxyz0123456789 ok",
            "nested": {
                "secret": "x",
                "ok": "fine",
                "list": ["ghp_abcdefghijklmnopqrstuvwxyz0123456789"],
            },
            "aws": "AKIAIOSFODNN7EXAMPLE",
            "token_count": 5,
        },
    ),
    ("info", "long " + "m" * 300, (), {"long": "v" * 300, "list": list(range(100))}),
    ("info", "a prompt", (), {"prompt": "field prompt", "completion": "field completion"}),
    ("fatal_free_error", "err with everything", (), {}),
]


def _emit(log: Logger, method: str, msg: Any, args: tuple[Any, ...], kw: dict[str, Any]) -> None:
    getattr(log, method)(msg, *args, **dict(kw))


EMIT_LINE = _emit.__code__.co_firstlineno + 1


def run_calls(log: Logger) -> None:
    """Every call of the corpus, then the same under context, a bound and named child, and
    ``prompt_completion``; then ``log_record`` entries with a fixed time."""
    for method, msg, args, kw in CALLS:
        if method == "fatal_free_error":
            continue
        _emit(log, method, msg, args, kw)
    _emit(log, "log", Severity.WARN, ("via log()",), {"x": 1})
    child = log.bind(svc="qa", password="bound secret", level="bound").named("app.\x1bsub")
    _emit(child, "info", "bound", (), {"svc": "call wins"})
    with (  # noqa: SIM117 - the inner blocks leave the context one change at a time
        llmlog.with_fields(req="r1", api_key="sk-abcdefghijklmnopqrstuvwxyz012345"),
    ):
        with llmlog.with_model_id("ctx-model"), llmlog.with_trace_id("ab" * 16):
            with llmlog.with_span_id("cd" * 8):
                with llmlog.with_token_info(TokenUsage(1, 2, cost=0.5, audio_tokens=1)):
                    _emit(log, "info", "in context", (), {"req": "call wins"})
                    _emit(child, "warn", "in context, child", (), {"model_id": "call-model"})
                    _emit(
                        log,
                        "prompt_completion",
                        "What is 2+2? sk-proj-abcdefghijklmnopqrstuvwxyz0123456789",
                        ("4\nfour",),
                        {"token_info": TokenUsage(5, 1), "prompt": "p field"},
                    )
                _emit(log, "error", "context error", (), {"exc_info": ValueError("x")})
    _emit(log, "prompt_completion", "p", ("c",), {})
    for i, (method, msg, _args, kw) in enumerate(CALLS):
        if method in ("info", "debug", "warn", "error") and isinstance(msg, str):
            severity = {
                "debug": Severity.DEBUG,
                "info": Severity.INFO,
                "warn": Severity.WARN,
                "error": Severity.ERROR,
            }[method]
            fields = {k: v for k, v in kw.items() if k != "exc_info"}
            log.log_record(
                severity,
                msg,
                time_ns=FIXED_NS + i * 1_000_017,
                file="rec \x1b.py" if i % 2 else "rec.py",
                line=i,
                function="fn" if i % 3 else "",
                fields=fields,
                exception="Traceback\n  boom \x1b" if i % 4 == 0 else None,
                logger="" if i % 5 else "rec.logger",
            )
    # Times outside 2001-2286 take the slow fraction path.
    log.log_record(Severity.INFO, "early", time_ns=123_456_789, file="e.py", line=1)


# -- configurations ----------------------------------------------------------------------------


def _file(formatter: Any, **options: Any) -> Callable[[Path], Output]:
    def make(path: Path) -> Output:
        return FileOutput(path, formatter, FileOptions(**options))

    return make


FILE_CASES: dict[str, Callable[[Path], Output]] = {
    "json": _file(JsonFormatter()),
    "json-nested": _file(JsonFormatter(JsonOptions(flat=False))),
    "json-buffered": _file(JsonFormatter(), buffer_size=65536),
    "json-small-buffer": _file(JsonFormatter(), buffer_size=512),
    "json-rotating": _file(JsonFormatter(), rotation=RotationOptions(max_bytes=1 << 30)),
    "text": _file(TextFormatter()),
    "text-utc": _file(TextFormatter(TextOptions(utc=True))),
    "text-bare": _file(TextFormatter(TextOptions(include_timestamp=False, include_location=False))),
    "text-buffered": _file(TextFormatter(TextOptions(utc=True)), buffer_size=65536),
    "logfmt": _file(LogfmtFormatter()),
    "logfmt-no-caller": _file(LogfmtFormatter(LogfmtOptions(include_caller=False))),
    "logfmt-buffered": _file(LogfmtFormatter(), buffer_size=65536),
}

# Dispatcher settings: (level, include_caller, sanitizer, default fields)
SETTINGS: dict[str, tuple[Severity, bool, Sanitizer, dict[str, Any] | None]] = {
    "default": (Severity.DEBUG, True, Sanitizer(), None),
    "info-nocaller-defaults": (
        Severity.INFO,
        False,
        Sanitizer(),
        {"service": "svc", "password": "default secret", "user": "default user"},
    ),
    "noredact-capped": (
        Severity.DEBUG,
        True,
        Sanitizer(redact=False, max_string_length=64, max_values=50),
        None,
    ),
}

_NORMALISE: list[tuple[re.Pattern[bytes], bytes]] = [
    # json
    (re.compile(rb'"timestamp":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z"'), b'"timestamp":"T"'),
    # logfmt
    (re.compile(rb"time=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z "), b"time=T "),
    # text (local or UTC, milliseconds) and the console's and stderr's local time
    (
        re.compile(rb"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.(\d{3}|\d{6})(Z|[+-]\d\d:\d\d) ", re.M),
        b"T ",
    ),
    (re.compile(rb"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} ", re.M), b"T "),
    (re.compile(rb"^\x1b\[2m\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\x1b\[0m ", re.M), b"T "),
]


def normalise(data: bytes, fixed_prefix: bytes = b"") -> bytes:
    """Clock times replaced by ``T`` (the fixed-time entries' are kept) and the caller's line
    replaced by ``L``."""
    out = []
    for line in data.split(b"\n"):
        if b"rec.py" in line or b"rec \\x1b.py" in line or b"rec \\u001b.py" in line:
            out.append(line)  # a log_record entry: fixed time, compared exactly
            continue
        if b"e.py" in line and b"early" in line:
            out.append(line)
            continue
        for pattern, replacement in _NORMALISE:
            line = pattern.sub(replacement, line)
        line = line.replace(b'"line":%d,' % EMIT_LINE, b'"line":L,')
        line = line.replace(b"test_output_bytes.py:%d" % EMIT_LINE, b"test_output_bytes.py:L")
        out.append(line)
    return b"\n".join(out)


def _logger(outputs: list[Output], setting: str) -> Logger:
    level, caller, sanitizer, defaults = SETTINGS[setting]
    dispatcher = Dispatcher(
        outputs,
        level=level,
        include_caller=caller,
        sanitizer=sanitizer,
        default_fields=defaults,
    )
    return Logger(Severity.DEBUG, dispatcher=dispatcher)


@contextlib.contextmanager
def no_prices() -> Iterator[None]:
    """No price table and no overrides, whatever an earlier test configured in this process: an
    entry's unknown price says why, and the reason names the pricing state in force."""
    from llmlog import state
    from llmlog.pricing import install

    saved = (state.price_table, state.price_overrides, state.price_unavailable)
    install(None, {}, "no price table in force (install the llmlog[prices] extra)")
    try:
        yield
    finally:
        install(*saved)


@pytest.fixture(autouse=True)
def _pinned_pricing() -> Iterator[None]:
    with no_prices():
        yield


def produce(directory: Path) -> dict[str, bytes]:
    """Every configuration's bytes, normalised, by golden file name (local times in UTC)."""
    saved_tz = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    try:
        with no_prices():
            return _produce(directory)
    finally:
        if saved_tz is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = saved_tz
        time.tzset()


def _produce(directory: Path) -> dict[str, bytes]:
    results: dict[str, bytes] = {}
    for setting in SETTINGS:
        for name, make in FILE_CASES.items():
            path = directory / f"{setting}.{name}.log"
            output = make(path)
            output.level = Severity.DEBUG
            log = _logger([output], setting)
            run_calls(log)
            output.close()
            results[f"{setting}.{name}"] = normalise(path.read_bytes())
    # Several outputs at once: two files and an in-memory output taking DEBUG while the files
    # take INFO (the generic path, and the route of an entry one output alone takes).
    a, b = directory / "multi.json.log", directory / "multi.logfmt.log"
    out_a = FileOutput(a, JsonFormatter(), FileOptions())
    out_b = FileOutput(b, LogfmtFormatter(), FileOptions(buffer_size=4096))
    out_a.level = out_b.level = Severity.INFO
    listed = ListOutput(Severity.DEBUG)
    dispatcher = Dispatcher([out_a, out_b, listed], level=Severity.INFO, sanitizer=Sanitizer())
    run_calls(Logger(Severity.DEBUG, dispatcher=dispatcher))
    out_a.close()
    out_b.close()
    results["multi.json"] = normalise(a.read_bytes())
    results["multi.logfmt"] = normalise(b.read_bytes())
    results["multi.listed"] = normalise(
        "\n".join(
            f"{e.severity.name} {e.message!r} {e.file} {e.function} {dict(e.fields)!r} "
            f"{e.model_id} {e.token_info} {e.latency_ms} {e.cost} {e.logger!r} {e.exception!r} "
            f"{e.trace_id} {e.span_id}"
            for e in listed.entries
        ).encode("utf-8", "backslashreplace")
    )
    # The console and the built-in stderr output (text streams).
    from llmlog.default_plugins.stderr_output import StderrOutput

    streams: dict[str, Callable[[], Output]] = {
        "console": lambda: ConsoleOutput(ConsoleOptions(color="never")),
        "console-color": lambda: ConsoleOutput(ConsoleOptions(color="always", max_value_length=20)),
        "console-plain": lambda: ConsoleOutput(
            ConsoleOptions(color="never", show_location=False, show_fields=False)
        ),
        "console-formatter": lambda: ConsoleOutput(
            ConsoleOptions(color="never"), LogfmtFormatter()
        ),
        "stderr": StderrOutput,
        "stderr-json": lambda: StderrOutput(JsonFormatter()),
    }
    for name, make_stream in streams.items():
        captured = io.StringIO()
        saved = sys.stderr
        sys.stderr = captured
        try:
            stream_output = make_stream()
            run_calls(_logger([stream_output], "default"))
            stream_output.close()
        finally:
            sys.stderr = saved
        results[f"stream.{name}"] = normalise(
            captured.getvalue().encode("utf-8", "surrogateescape")
        )
    return results


def test_output_bytes_match_the_golden_files(tmp_path: Path) -> None:
    produced = produce(tmp_path)
    expected = {p.stem: p.read_bytes() for p in GOLDEN.glob("*.out")}
    assert sorted(produced) == sorted(expected), "the configurations and the golden files differ"
    for name, data in produced.items():
        want = expected[name]
        if data != want:
            lines, wanted = data.split(b"\n"), want.split(b"\n")
            for i, (got_line, want_line) in enumerate(zip(lines, wanted, strict=False)):
                assert got_line == want_line, f"{name}.out line {i + 1} differs"
            assert len(lines) == len(wanted), (
                f"{name}.out: {len(lines)} lines, {len(wanted)} expected"
            )


@pytest.mark.parametrize("name", ["default.json", "default.text", "default.logfmt"])
def test_the_golden_files_hold_the_corpus(name: str) -> None:
    # A guard on the guard: the golden files are not empty or trivially short.
    data = (GOLDEN / f"{name}.out").read_bytes()
    assert data.count(b"\n") > 50
    assert b"[REDACTED]" in data or b"REDACTED" in data
    assert b"hunter2" not in data


if __name__ == "__main__":
    import tempfile

    if "--write" not in sys.argv:
        raise SystemExit("usage: tests/test_output_bytes.py --write")
    GOLDEN.mkdir(parents=True, exist_ok=True)
    for old in GOLDEN.glob("*.out"):
        old.unlink()
    with tempfile.TemporaryDirectory() as tmp:
        for stem, data in produce(Path(tmp)).items():
            (GOLDEN / f"{stem}.out").write_bytes(data)
    print(f"wrote {len(list(GOLDEN.glob('*.out')))} golden files to {GOLDEN}")


# -- the per-entry functions against the formatters' own path -------------------------------------

TEXTS = st.text(
    alphabet=st.sampled_from(
        [*'aZ0 ="\\:.-_é日🙂', "\n", "\t", "\x00", "\x1b", "\x7f", "\x85", "\u2028", "\u202e"]
    ),
    max_size=12,
)
VALUES = st.one_of(
    TEXTS,
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([10**400, -(10**400)]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.lists(st.one_of(TEXTS, st.integers()), max_size=3),
)
KEYS = st.one_of(TEXTS, st.sampled_from(["level", "message", "msg", "time", "caller", "fields"]))
PARTS = st.tuples(
    st.one_of(
        st.integers(min_value=10**18, max_value=10**19 - 1),
        st.integers(min_value=0, max_value=10**18),
    ),
    st.sampled_from(list(Severity)),
    TEXTS,
    TEXTS,
    st.integers(min_value=0, max_value=99_999),
    TEXTS,
    st.one_of(st.none(), TEXTS),
    st.one_of(st.none(), TEXTS),
    st.one_of(st.none(), TEXTS),
    st.one_of(st.none(), st.builds(TokenUsage, st.integers(0, 99), st.integers(0, 99))),
    st.one_of(st.none(), st.floats(allow_nan=False)),
    st.one_of(st.none(), st.floats(allow_nan=False)),
    st.dictionaries(KEYS, VALUES, max_size=5),
    st.one_of(st.just(""), TEXTS),
    st.one_of(st.none(), TEXTS),
)
FORMATTERS = [
    JsonFormatter(),
    JsonFormatter(JsonOptions(flat=False)),
    TextFormatter(),
    TextFormatter(TextOptions(utc=True)),
    TextFormatter(TextOptions(include_timestamp=False, include_location=False)),
    LogfmtFormatter(),
    LogfmtFormatter(LogfmtOptions(include_caller=False)),
]


@settings(max_examples=300, deadline=None)
@given(parts=PARTS)
def test_line_from_parts_writes_what_format_bytes_writes(parts: tuple[Any, ...]) -> None:
    for formatter in FORMATTERS:
        line_of = formatter.line_from_parts
        assert line_of is not None
        # Twice: the first call may fill a cache (the second, a key) that the second reads.
        for _ in range(2):
            assert line_of(*parts) == formatter.format_bytes(LogEntry(*parts)) + b"\n"


def test_a_subclass_that_makes_its_own_lines_is_honoured(tmp_path: Path) -> None:
    class Upper(JsonFormatter):
        def record(self, entry: LogEntry) -> dict[str, Any]:
            return {**super().record(entry), "message": entry.message.upper()}

    class Shout(TextFormatter):
        def format(self, entry: LogEntry) -> str:
            return super().format(entry) + " !"

    assert Upper().line_from_parts is None and Shout().line_from_parts is None
    for formatter, expected in ((Upper(), b'"message":"HELLO"'), (Shout(), b" !\n")):
        path = tmp_path / f"{type(formatter).__name__}.log"
        output = FileOutput(path, formatter, FileOptions())
        Logger(Severity.INFO, [output]).info("hello", n=1)
        output.close()
        assert expected in path.read_bytes()


def test_buffered_lines_appended_as_the_output_closes_are_not_lost(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The lock-free append of the buffered per-entry function: a line written after close()
    # goes to stderr, whole, as the locked path's lines do.
    path = tmp_path / "buffered.log"
    output = FileOutput(path, JsonFormatter(), FileOptions(buffer_size=65536))
    log = Logger(Severity.INFO, [output])
    for i in range(100):
        log.info("before", i=i)
    output.close()
    log.info("after close", i=100)
    lines = path.read_bytes().splitlines()
    assert len(lines) == 100
    assert '"message":"after close"' in capsys.readouterr().err


def test_several_outputs_taking_parts_write_what_each_writes_alone(tmp_path: Path) -> None:
    # Two file outputs take every entry: the dispatcher hands the parts to both (a fan-out),
    # and each writes the bytes it writes alone.
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    out_a = FileOutput(a, JsonFormatter(), FileOptions())
    out_b = FileOutput(b, LogfmtFormatter(), FileOptions(buffer_size=4096))
    out_a.level = out_b.level = Severity.DEBUG
    log = _logger([out_a, out_b], "default")
    assert Severity.INFO in log.dispatcher.makers
    run_calls(log)
    out_a.close()
    out_b.close()
    assert normalise(a.read_bytes()) == (GOLDEN / "default.json.out").read_bytes()
    assert normalise(b.read_bytes()) == (GOLDEN / "default.logfmt.out").read_bytes()


def test_a_failing_output_in_a_fan_out_is_counted_and_the_others_go_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    class Broken(Output):
        name = "broken"

        def __init__(self) -> None:
            def write_parts(*parts: Any) -> None:
                raise OSError("disk on fire")

            self.write_parts = write_parts

        def write(self, entry: LogEntry) -> None:
            raise OSError("disk on fire")

    path = tmp_path / "ok.log"
    good = FileOutput(path, JsonFormatter(), FileOptions())
    log = Logger(Severity.INFO, [Broken(), good])
    for i in range(3):
        log.info("still here", i=i)
    good.close()
    assert len(path.read_bytes().splitlines()) == 3
    assert log.dispatcher.stats()["failures"] == {"broken": 3}
    assert "disk on fire" in capsys.readouterr().err
