"""The specialised per-entry functions (``llmlog.fastpath``, ``Output.entry_code``) against the
generic path they stand in for: the same bytes, the same caller, the same redaction, failures
counted and never raised.

Each comparison writes every entry through two loggers from the same line of this file: one whose
dispatcher builds the flat functions and one whose dispatcher does not (``specialise=False``, the
reference), each with its own file output of the same formatter and options.

Every test runs twice: with the flat functions' entry test in C (``llmlog._speedups``) and in
Python (``fastpath.SPEEDUPS`` off), as where the core was built without a C compiler.
"""

from __future__ import annotations

import contextlib
import enum
import importlib.util
import re
import sys
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import llmlog
from llmlog import Logger, Output, Severity, fastpath
from llmlog.dispatch import Dispatcher
from llmlog.ext import EntryCode, LogEntry
from llmlog_formatter_json import JsonFormatter, JsonOptions
from llmlog_formatter_logfmt import LogfmtFormatter, LogfmtOptions
from llmlog_formatter_text import TextFormatter, TextOptions
from llmlog_output_file import FileOptions, FileOutput

FORMATTERS: dict[str, Callable[[], Any]] = {
    "json": JsonFormatter,
    "json-nested": lambda: JsonFormatter(JsonOptions(flat=False)),
    "text": TextFormatter,
    "text-utc-bare": lambda: TextFormatter(
        TextOptions(utc=True, include_location=False, include_timestamp=False)
    ),
    "logfmt": LogfmtFormatter,
    "logfmt-no-caller": lambda: LogfmtFormatter(LogfmtOptions(include_caller=False)),
}
# The clock's part of each format's line: the two loggers read the clock at different times.
_TIME = [
    re.compile(rb'"timestamp":"[^"]*"'),
    re.compile(rb"^\d{4}-\d\d-\d\dT[\d:.]+(Z|[+-]\d\d:\d\d) ", re.MULTILINE),
    re.compile(rb"time=\S+"),
]
METHODS = ("debug", "info", "warn", "error")


def normalise(data: bytes) -> bytes:
    for pattern in _TIME:
        data = pattern.sub(b"T ", data)
    return data


class Pair:
    """A specialised and a reference logger, each with a file output of one formatter."""

    def __init__(self, directory: Path, name: str, buffered: bool) -> None:
        self.paths: list[Path] = []
        self.outputs: list[FileOutput] = []
        self.loggers: list[Logger] = []
        for specialise in (True, False):
            path = directory / f"{name}-{buffered}-{specialise}.log"
            output = FileOutput(
                path, FORMATTERS[name](), FileOptions(buffer_size=65536 if buffered else 0)
            )
            dispatcher = Dispatcher([output], level=Severity.DEBUG, specialise=specialise)
            self.paths.append(path)
            self.outputs.append(output)
            self.loggers.append(Logger(Severity.DEBUG, dispatcher=dispatcher))
        self.sizes = [0, 0]

    def new_bytes(self) -> tuple[bytes, bytes]:
        """What each output wrote since the last call."""
        out = []
        for i, (output, path) in enumerate(zip(self.outputs, self.paths, strict=True)):
            output.flush()
            data = path.read_bytes()
            out.append(data[self.sizes[i] :])
            self.sizes[i] = len(data)
        return out[0], out[1]

    def close(self) -> None:
        for output in self.outputs:
            output.close()


@pytest.fixture(scope="module", autouse=True, params=["C", "Python"])
def entry_test(request: pytest.FixtureRequest) -> Iterator[str]:
    """The flat functions built in this module's tests test an entry in C, then in Python."""
    in_c = request.param == "C"
    if in_c and importlib.util.find_spec("llmlog._speedups") is None:
        pytest.skip("llmlog._speedups was not built (no C compiler)")
    before = fastpath.SPEEDUPS
    fastpath.SPEEDUPS = in_c
    yield request.param
    fastpath.SPEEDUPS = before


def test_the_flat_method_tests_an_entry_as_this_run_says(entry_test: str, tmp_path: Path) -> None:
    output = FileOutput(tmp_path / "app.log", JsonFormatter(), FileOptions())
    log = Logger(Severity.INFO, [output])
    names = type(log).info.__code__.co_names
    output.close()
    assert ("_clean" in names) is (entry_test == "C")
    assert ("_keys_known" in names) is (entry_test == "Python")


@pytest.fixture(scope="module")
def pairs(
    entry_test: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[tuple[str, bool], Pair]]:
    directory = tmp_path_factory.mktemp("entry-code")
    made = {
        (name, buffered): Pair(directory, name, buffered)
        for name in FORMATTERS
        for buffered in (False, True)
    }
    yield made
    for pair in made.values():
        pair.close()


def log_both(
    pair: Pair,
    method: str,
    message: Any,
    args: tuple[Any, ...],
    fields: Any,
    name: str = "",
    bound: Any = None,
) -> None:
    # One line for both loggers: the same caller (file, line, function) for both.
    for log in pair.loggers:
        child = log.named(name) if name else log
        if bound is not None:
            child = child.bind(**bound)
        getattr(child, method)(message, *args, **dict(fields))


class Calls:
    """Whether Logger._log (the generic path) ran, seen by a profile function."""

    def __init__(self) -> None:
        self.generic = 0

    def __enter__(self) -> Calls:
        def profile(frame: Any, what: str, arg: Any) -> None:
            if what == "call" and frame.f_code is Logger._log.__code__:
                self.generic += 1

        sys.setprofile(profile)
        return self

    def __exit__(self, *exc: object) -> None:
        sys.setprofile(None)


def test_a_common_entry_takes_the_specialised_function_with_the_callers_place(
    tmp_path: Path,
) -> None:
    path = tmp_path / "app.log"
    output = FileOutput(path, JsonFormatter(), FileOptions())
    log = Logger(Severity.INFO, [output])
    assert log.dispatcher.emit_info is not None and log.dispatcher.emit_error is not None
    assert log.dispatcher.emit_debug is None  # below the level: nothing takes DEBUG
    # The first call teaches the sanitizer the strings and keys (on the generic path).
    log.info("answer ready", user="alice", attempt=1)
    with Calls() as calls:
        for attempt in range(3):
            log.info("answer ready", user="alice", attempt=attempt); line = sys._getframe().f_lineno  # fmt: skip  # noqa: E702
    output.close()
    assert calls.generic == 0
    last = path.read_bytes().splitlines()[-1]
    function = "test_a_common_entry_takes_the_specialised_function_with_the_callers_place"
    place = f'"file":"test_entry_code.py","line":{line},"function":"{function}"'
    assert place.encode() in last
    assert last.endswith(b'"user":"alice","attempt":2}')


def test_anything_unusual_takes_the_generic_path(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    output = FileOutput(path, JsonFormatter(), FileOptions())
    log = Logger(Severity.INFO, [output])
    log.info("plain", user="alice")
    unusual: list[Callable[[], None]] = [
        lambda: log.info("with %s", "args"),
        lambda: log.info("plain", user="alice", exc_info=False),  # a special keyword
        lambda: log.info("plain", password="alice"),  # a secret key
        lambda: log.info("plain", user="sk-abcdefghijklmnopqrstuvwxyz012345"),  # a secret value
        lambda: log.info("plain", user=["a list"]),  # not a scalar
        lambda: log.info("plain", user="caf\u00e9"),  # not ASCII
        lambda: log.info("plain", message="reserved by the formatter"),
        lambda: log.bind(req="r1").with_level(Severity.INFO).info("plain", user="alice"),
        lambda: log.named("app\x1b").info("plain", user="alice"),  # a name to escape
        lambda: log.info("plain", user=2**70),  # orjson refuses it: the serializer writes it
        # code whose file has no base name (compiled as "/"): the entry has no place
        lambda: exec(compile("log.info('plain', user='alice')", "/", "exec"), {"log": log}),
    ]
    for call in unusual:
        call()  # whatever it is taught, the call itself is still not a common entry
        with Calls() as calls:
            call()
        assert calls.generic == 1
    with llmlog.with_fields(req="r1"), Calls() as calls:
        log.info("plain", user="alice")
    assert calls.generic == 1
    output.close()
    data = path.read_bytes()
    assert b"sk-abcdef" not in data and data.count(b"[REDACTED") >= 4
    assert b'"logger":"app\\u001b"' in data and b'"req":"r1"' in data
    assert b"1180591620717411303424" in data


def test_a_logger_renamed_after_it_was_made_writes_its_name(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    output = FileOutput(path, LogfmtFormatter(), FileOptions())
    log = Logger(Severity.INFO, [output])
    log.info("plain", n=1)
    log.info("plain", n=1)
    log.name = "renamed"
    log.info("plain", n=2)
    output.close()
    assert path.read_bytes().splitlines()[-1].split(b" ")[3] == b"logger=renamed"


HOSTILE = st.sampled_from(
    [
        "",
        " ",
        "alice",
        "a b",
        'say "hi"',
        "C:\\tmp",
        "k=v",
        "line\nbreak",
        "\x1b[31mred",
        "\x7f",
        "\u2028",
        "\u202eevil",
        "\ud800",
        "caf\u00e9",
        "sk-abcdefghijklmnopqrstuvwxyz012345",
        "Bearer abcdefghijklmnop",
        "password=hunter2",
        "https://user:pw@example.com/x",
        "x" * 70,
    ]
)


class Shout(str):
    """A string that equals its text but prints in capitals: found among the clean strings."""

    def __str__(self) -> str:
        return self.upper()

    def __format__(self, spec: str) -> str:
        return self.upper()


class Liar:
    """Claims to equal every string, with the hash of a clean one."""

    def __eq__(self, other: object) -> bool:
        return True

    def __hash__(self) -> int:
        return hash("alice")

    def __repr__(self) -> str:
        return "liar\x1b[31m"

    __str__ = __repr__


class Rank(enum.IntEnum):
    LOW = 1


class Half(float):
    def __repr__(self) -> str:
        return "half"

    __str__ = __repr__


#: Values that a set lookup finds among the clean strings or that look like numbers, but are not
#: exactly str, int or float: each must take the generic path.
LOOKALIKES = [Shout("alice"), Shout("answer ready"), Liar(), Rank.LOW, Half(1.5), True]

# Plain strings twice as likely as each other kind: common entries are what is compared.
PLAIN = st.sampled_from(["alice", "answer ready", "gpt-4o-mini", "ok", "a b", "x=1", "42"])
TEXT = st.one_of(PLAIN, PLAIN, HOSTILE, st.text(st.characters(codec=None), max_size=12))
VALUES = st.one_of(
    TEXT,
    st.integers(min_value=-1000, max_value=1000),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([2**1100, -(2**64), 0, -1, True, False, None, 1.5, float("nan"), -0.0]),
    st.floats(allow_nan=True),
    st.sampled_from(LOOKALIKES),
)
KEYS = st.one_of(
    st.sampled_from(["user", "attempt", "n", "a_b"]),
    st.sampled_from(
        [
            "user",
            "attempt",
            "model",
            "api_key",
            "password",
            "authorization",
            "max_tokens",
            "level",
            "message",
            "msg",
            "time",
            "fields",
            "caller",
            "a b",
            "k=v",
            "caf\u00e9",
            "\x1b",
            "cost",
            "latency_ms",
            "model_id",
        ]
    ),
    st.text(st.characters(codec=None), min_size=1, max_size=6),
)


# Plain fields half the time: common entries are what is compared.
FIELDS = st.one_of(
    st.dictionaries(
        st.sampled_from(["user", "attempt", "n", "a_b"]),
        st.one_of(PLAIN, st.integers(), st.sampled_from([None, True, 1.5])),
        max_size=4,
    ),
    st.dictionaries(KEYS, VALUES, max_size=5),
)


#: A trace's ids as the tracing API makes them.
TRACE = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")
IDS = st.one_of(st.none(), st.sampled_from(["", "4bf92f35", "a b", "id\x1b[2J", "caf\u00e9"]), TEXT)
#: Contexts whose entries take the generic path: context fields, a model, a secret in the fields.
CONTEXTS = st.sampled_from(["fields", "model", "secret"])


def in_context(context: Any) -> contextlib.AbstractContextManager[Any]:
    """The context a strategy drew: none, (trace id, span id), or one of CONTEXTS."""
    if context is None:
        return contextlib.nullcontext()
    if context == "fields":
        return llmlog.with_fields(req="r1")
    if context == "model":
        return llmlog.with_model_id("gpt-4o-mini")
    if context == "secret":
        return llmlog.with_fields(api_key="sk-abcdefghijklmnopqrstuvwxyz012345")
    stack = contextlib.ExitStack()
    stack.enter_context(llmlog.with_trace_id(context[0]))
    stack.enter_context(llmlog.with_span_id(context[1]))
    return stack


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    name=st.sampled_from(sorted(FORMATTERS)),
    buffered=st.booleans(),
    method=st.sampled_from(METHODS),
    message=st.one_of(PLAIN, TEXT, st.sampled_from([Shout("answer ready"), Liar()])),
    fields=FIELDS,
    with_args=st.sampled_from([False, False, False, True]),
    logger=st.one_of(st.just(""), st.just("app.db"), TEXT),
    context=st.one_of(st.none(), st.none(), st.just(TRACE), st.tuples(IDS, IDS), CONTEXTS),
    bound=st.one_of(st.none(), st.none(), FIELDS),
)
def test_the_specialised_function_writes_what_the_generic_path_writes(
    pairs: dict[tuple[str, bool], Pair],
    name: str,
    buffered: bool,
    method: str,
    message: str,
    fields: dict[str, Any],
    with_args: bool,
    logger: str,
    context: Any,
    bound: dict[str, Any] | None,
) -> None:
    pair = pairs[name, buffered]
    args = ("%s",) if with_args else ()
    # Three times: the first calls teach the sanitizer (and so the specialised function) the
    # strings and keys; the last is the common entry's if it is one.
    with in_context(context), Calls() as calls:
        for _ in range(3):
            log_both(pair, method, message, args, fields, logger, bound)
    event(f"generic calls {calls.generic} of 6")
    fast, reference = pair.new_bytes()
    assert normalise(fast) == normalise(reference)
    assert fast.count(b"\n") == 3


@pytest.mark.parametrize("name", sorted(FORMATTERS))
def test_an_entry_inside_a_trace_is_written_alike(
    pairs: dict[tuple[str, bool], Pair], name: str
) -> None:
    # Each format's flat function writes a trace's entries (JSON's traceId and spanId, text's
    # [traceId=…] [spanId=…], logfmt's trace_id and span_id, quoted where they need it); nested
    # JSON has none. Ids that are not printable ASCII, context fields and a model in the context
    # take the generic path everywhere.
    traced = name != "json-nested"
    for buffered in (False, True):
        pair = pairs[name, buffered]
        pair.new_bytes()
        for context, flat in [
            (TRACE, traced),
            ((TRACE[0], None), traced),
            ((None, TRACE[1]), traced),
            (("", ""), traced),
            (("a b", 'x="y"\\'), traced),
            (("id\x1b[2J", TRACE[1]), False),
            ((TRACE[0], "caf\u00e9"), False),
            ("fields", False),
            ("model", False),
            ("secret", False),
        ]:
            with in_context(context):
                log_both(pair, "info", "answer ready", (), {"user": "alice", "n": 1})
                with Calls() as calls:
                    log_both(pair, "info", "answer ready", (), {"user": "alice", "n": 2})
            assert calls.generic == (1 if flat else 2), context
        fast, reference = pair.new_bytes()
        assert normalise(fast) == normalise(reference)
        assert fast.count(b"\n") == 20
        assert b"\x1b" not in fast and b"sk-abcdef" not in fast
        if name.startswith("json"):
            assert fast.count(b'"traceId":"4bf92f3577b34da6a3ce929d0e0e4736"') == 6
            assert fast.count(b'"spanId":"00f067aa0ba902b7"') == 6


@pytest.mark.parametrize("name", sorted(FORMATTERS))
def test_lookalikes_of_clean_strings_and_numbers_take_the_generic_path(
    pairs: dict[tuple[str, bool], Pair], name: str
) -> None:
    # Taught first: "alice", "answer ready", the keys. A lookalike equal to one of them (or
    # claiming to be) must not be written as that string, nor an int or float subclass as a
    # number: the generic path writes what its formatter makes of it.
    specialised = FORMATTERS[name]().line_code is not None
    for buffered in (False, True):
        pair = pairs[name, buffered]
        pair.new_bytes()
        for _ in range(2):
            log_both(pair, "info", "answer ready", (), {"user": "alice", "n": 1, "x": 1.5})
        for value in LOOKALIKES:
            for message in ("answer ready", Shout("answer ready"), Liar()):
                with Calls() as calls:
                    log_both(pair, "info", message, (), {"user": value, "n": 1})
                # The reference's call, and the specialised one's unless all is plain (True).
                plain = value is True and type(message) is str and specialised
                assert calls.generic == (1 if plain else 2)
        fast, reference = pair.new_bytes()
        assert normalise(fast) == normalise(reference)
        assert b"\x1b" not in fast


@pytest.mark.parametrize("name", sorted(FORMATTERS))
def test_a_run_of_common_entries_is_written_alike(
    pairs: dict[tuple[str, bool], Pair], name: str
) -> None:
    for buffered in (False, True):
        pair = pairs[name, buffered]
        pair.new_bytes()
        with Calls() as calls:
            for i in range(200):
                log_both(pair, METHODS[i % 4], "answer ready", (), {"user": "alice", "i": i})
        # The reference logger's 200, and at most the specialised one's first of each severity
        # (which teaches the sanitizer), unless the formatter has no line code (nested JSON).
        specialised = FORMATTERS[name]().line_code is not None
        if specialised:
            assert 200 <= calls.generic <= 204
        else:
            assert calls.generic == 400
        fast, reference = pair.new_bytes()
        assert normalise(fast) == normalise(reference)
        assert fast.count(b"\n") == 200


class Coded(Output):
    """An output whose entry code is given: what a plugin's code may get wrong."""

    name = "coded"

    def __init__(self, code: EntryCode) -> None:
        self.entries: list[LogEntry] = []
        self.entry_code = lambda severity: code

    def write(self, entry: LogEntry) -> None:
        self.entries.append(entry)


def test_a_failing_write_is_counted_once_reported_and_never_raised(
    capsys: pytest.CaptureFixture[str],
) -> None:
    output = Coded(EntryCode(write="raise OSError('disk on fire')"))
    log = Logger(Severity.INFO, [output])
    assert log.dispatcher.emit_info is not None
    for _ in range(5):
        log.info("plain", n=1)
    failures = log.dispatcher.stats()["failures"]
    assert failures == {"coded": 4}  # the first entry taught the sanitizer (generic path)
    assert len(output.entries) == 1
    assert capsys.readouterr().err.count("disk on fire") == 1


def test_a_failing_line_hands_the_entry_to_the_generic_path() -> None:
    output = Coded(EntryCode(line="1 / 0", write="raise AssertionError('not reached')"))
    log = Logger(Severity.INFO, [output])
    for _ in range(3):
        log.info("plain", n=1)
    assert len(output.entries) == 3
    assert log.dispatcher.stats()["failures"] == {}


def test_entry_code_that_does_not_compile_is_reported_and_the_generic_path_writes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    output = Coded(EntryCode(write="def ("))
    log = Logger(Severity.INFO, [output])
    assert log.dispatcher.emit_info is None
    log.info("plain", n=1)
    assert len(output.entries) == 1
    assert "its entry code could not be built" in capsys.readouterr().err


def listed() -> tuple[Coded, list[object]]:
    """An output whose entry code appends the message to a list (its generic writes go to
    ``entries``)."""
    lines: list[object] = []
    code = EntryCode(line="data = message", write="c_add(data)", namespace={"c_add": lines.append})
    return Coded(code), lines


def test_a_plain_logger_s_methods_are_its_dispatcher_s_flat_functions() -> None:
    output, lines = listed()
    log = Logger(Severity.DEBUG, [output])
    flat = type(log)
    assert flat is not Logger and isinstance(log, Logger) and flat.__qualname__ == "Logger"
    assert flat.info is log.dispatcher.emit_info and flat.warning is log.dispatcher.emit_warn
    assert type(log.named("child")) is flat
    bound = log.bind(a=1)
    assert type(bound) is not flat and type(bound).__qualname__ == "Logger"
    assert type(bound).info is not flat.info and type(log.bind(b=2)) is type(bound)
    # A level of its own: Logger's generic methods.
    assert type(log.with_level(Severity.WARN)) is Logger
    assert type(bound.with_level(Severity.WARN)) is Logger
    for _ in range(2):
        log.info("plain", n=1)  # the first teaches the sanitizer, on the generic path
        log.warning("plain", n=1)
    assert lines == ["plain"] * 3 and len(output.entries) == 1
    line = sys._getframe().f_lineno + 1
    log.info("with %s", "args")  # the generic path, called from the flat method
    assert (output.entries[-1].message, output.entries[-1].line) == ("with args", line)
    assert output.entries[-1].function.endswith("flat_functions")


def test_a_copied_logger_has_its_original_s_class_and_logs() -> None:
    import copy

    output, lines = listed()
    log = Logger(Severity.INFO, [output])
    for original in (log, log.bind(a=1), log.with_level(Severity.WARN)):
        twin = copy.copy(original)  # its slots restored one by one, in any order
        assert type(twin) is type(original)
        twin.warning("copied")
        twin.warning("copied")
    assert len(lines) + len(output.entries) == 6


def test_a_held_logging_method_follows_a_new_configuration() -> None:
    old, old_lines = listed()
    new, new_lines = listed()
    log = Logger(Severity.INFO, [old])
    info = log.info  # a caller keeping the bound method (a callback, a hot loop)
    info("plain")
    info("plain")
    assert old_lines == ["plain"]
    log.dispatcher.install([new], level=Severity.INFO)
    info("plain")  # the replaced method was retired: the generic path, the new outputs
    info("plain")
    log.info("plain")  # the new method
    assert old_lines == ["plain"]
    assert len(new.entries) + len(new_lines) == 3 and new_lines


@pytest.mark.parametrize("name", sorted(FORMATTERS))
def test_a_bound_logger_s_common_entry_takes_its_flat_function(
    pairs: dict[tuple[str, bool], Pair], name: str
) -> None:
    # Bound fields first, then the call's (a call's field wins), as the generic path merges
    # them; a bound special keyword stays a field there, so it takes the generic path here.
    for buffered in (False, True):
        pair = pairs[name, buffered]
        pair.new_bytes()
        flat = name != "json-nested"
        for bound, fields, common in [
            ({"request_id": "req-7f3a"}, {"user": "alice", "n": 1}, flat),
            ({"request_id": "req-7f3a", "n": 0}, {"n": 2}, flat),
            ({"model_id": "gpt-4o-mini"}, {"n": 3}, False),
            ({"api_key": "sk-abcdefghijklmnopqrstuvwxyz012345"}, {"n": 4}, False),
        ]:
            log_both(pair, "info", "answer ready", (), fields, bound=bound)
            with Calls() as calls:
                log_both(pair, "info", "answer ready", (), fields, bound=bound)
            assert calls.generic == (1 if common else 2), bound
        fast, reference = pair.new_bytes()
        assert normalise(fast) == normalise(reference)
        assert fast.count(b"\n") == 8 and b"sk-abcdef" not in fast
        assert fast.count(b"req-7f3a") == 4


@pytest.mark.parametrize("name", sorted(FORMATTERS))
@pytest.mark.parametrize(
    ("defaults", "common"),
    [
        ({"service": "qa", "n": 0}, True),
        ({"service": "qa", "api_key": "sk-abcdefghijklmnopqrstuvwxyz012345"}, False),
    ],
)
def test_default_fields_are_merged_as_the_generic_path_merges_them(
    tmp_path: Path, name: str, defaults: dict[str, Any], common: bool
) -> None:
    # The dispatcher's default fields first, then the bound ones, then the call's (which win);
    # a secret among them is redacted once, at install, and its key takes the generic path.
    pair = Pair.__new__(Pair)
    pair.paths, pair.outputs, pair.loggers, pair.sizes = [], [], [], [0, 0]
    for specialise in (True, False):
        path = tmp_path / f"{specialise}.log"
        output = FileOutput(path, FORMATTERS[name](), FileOptions())
        dispatcher = Dispatcher(
            [output], level=Severity.DEBUG, default_fields=defaults, specialise=specialise
        )
        pair.paths.append(path)
        pair.outputs.append(output)
        pair.loggers.append(Logger(Severity.DEBUG, dispatcher=dispatcher))
    flat = common and name != "json-nested"
    for bound in (None, {"request_id": "req-7f3a", "n": 1}):
        log_both(pair, "info", "answer ready", (), {"user": "alice", "n": 2}, bound=bound)
        with Calls() as calls:
            log_both(pair, "info", "answer ready", (), {"user": "alice", "n": 2}, bound=bound)
        assert calls.generic == (1 if flat else 2)
    fast, reference = pair.new_bytes()
    pair.close()
    assert normalise(fast) == normalise(reference)
    assert fast.count(b"\n") == 4 and fast.count(b"qa") == 4 and b"sk-abcdef" not in fast


def test_a_subclass_of_logger_keeps_its_class_and_the_generic_path() -> None:
    class Mine(Logger):
        __slots__ = ()

        def note(self, text: str) -> None:
            self.info(text, by="me")

    output, lines = listed()
    log = Mine(Severity.INFO, [output])
    for _ in range(3):
        log.note("noted")
    assert type(log) is Mine and "_flat" in type(log.bind(a=1)).__dict__
    assert lines == [] and [e.message for e in output.entries] == ["noted"] * 3


def test_entry_code_parts_whose_names_clash_are_refused() -> None:
    a = EntryCode(line="data = x", namespace={"x": b"1"})
    with pytest.raises(ValueError, match="clash"):
        a.then(EntryCode(write="pass", namespace={"x": b"2"}))
    joined = a.then(EntryCode(write="w(data)", namespace={"x": a.namespace["x"], "w": print}))
    assert set(joined.namespace) == {"x", "w"}


class InfoOnly(Output):
    """An output showing INFO and up: DEBUG entries go to the flight recorder alone."""

    def __init__(self) -> None:
        self.level = Severity.INFO

    def write(self, entry: LogEntry) -> None:
        pass


def make_recorders() -> list[tuple[Any, Logger]]:
    """A specialised and a reference logger, each with the flight recorder taking DEBUG alone."""
    from llmlog_engine_flight import FlightRecorder
    from llmlog_engine_flight.recorder import RecorderOutput

    made = []
    for specialise in (True, False):
        recorder = FlightRecorder(min_age=3600, max_bytes=1 << 26, level=Severity.DEBUG)
        recorder.start()
        dispatcher = Dispatcher(
            [InfoOnly(), RecorderOutput(recorder)], level=Severity.INFO, specialise=specialise
        )
        made.append((recorder, Logger(Severity.DEBUG, dispatcher=dispatcher)))
    assert made[0][1].dispatcher.emit_debug is not None
    assert made[1][1].dispatcher.emit_debug is None
    return made


@pytest.fixture(scope="module")
def recorders(entry_test: str) -> Iterator[list[tuple[Any, Logger]]]:
    # Module-scoped for hypothesis: only its first test sees both running (each test's
    # isolated environment shuts down the trace sinks at its end).
    made = make_recorders()
    yield made
    for recorder, _ in made:
        recorder.stop()


# By the recorder itself, not its id: a recorder freed by one test may leave its id (and so its
# count) to a recorder made by the next.
_SEEN: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()


def recorded(recorder: Any) -> list[dict[str, Any]]:
    """The log events the recorder took since the last call (sealed now), times left out."""
    import json

    recorder.ring.seal_now()
    events = [
        json.loads(line)
        for chunk in recorder.ring.chunks
        for line in chunk.data.splitlines()
        if b'"kind":"log"' in line
    ]
    seen, _SEEN[recorder] = _SEEN.get(recorder, 0), len(events)
    new = events[seen:]
    for item in new:
        del item["ts"]
    return new


@settings(max_examples=100, deadline=None)
@given(
    message=st.one_of(PLAIN, TEXT),
    fields=FIELDS,
    context=st.one_of(st.none(), st.just(TRACE), st.tuples(IDS, IDS), CONTEXTS),
)
def test_the_recorders_specialised_function_records_what_record_log_records(
    recorders: list[tuple[Any, Logger]], message: str, fields: dict[str, Any], context: Any
) -> None:
    with in_context(context), Calls() as calls:
        for _ in range(3):
            for _, log in recorders:
                log.debug(message, **fields)
    event(f"generic calls {calls.generic} of 6")
    fast, reference = (recorded(recorder) for recorder, _ in recorders)
    assert fast == reference and len(fast) == 3


def test_the_recorder_records_an_entry_inside_a_trace_in_its_flat_function() -> None:
    recorders = make_recorders()
    with in_context(TRACE):
        for _, log in recorders:
            log.debug("answer ready", user="alice", n=1)
        with Calls() as calls:
            for _, log in recorders:
                log.debug("answer ready", user="alice", n=2)
    assert calls.generic == 1  # the reference's
    fast, reference = (recorded(recorder) for recorder, _ in recorders)
    for recorder, _ in recorders:
        recorder.stop()
    assert fast == reference and len(fast) == 2
    assert fast[-1]["trace_id"] == TRACE[0] and fast[-1]["span_id"] == TRACE[1]


def test_the_recorder_records_an_entry_from_code_with_no_file_name_as_record_log_does() -> None:
    recorders = make_recorders()
    program = compile("log.debug('answer ready', user='alice')", "", "exec")
    for _ in range(2):
        for _, log in recorders:
            exec(program, {"log": log})
    fast, reference = (recorded(recorder) for recorder, _ in recorders)
    for recorder, _ in recorders:
        recorder.stop()
    assert fast == reference and len(fast) == 2
    assert "file" not in fast[-1] and "fn" not in fast[-1]


def test_an_odd_logger_name_or_message_never_raises(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    output = FileOutput(path, JsonFormatter(), FileOptions())
    log = Logger(Severity.INFO, [output])
    log.info("plain", n=1)
    odd = Logger(Severity.DEBUG, dispatcher=log.dispatcher)
    odd.name = ["not", "hashable"]  # type: ignore[assignment]
    odd.info("plain", n=1)
    log.info(["not a string"], n=1)  # type: ignore[arg-type]
    output.close()
    data = path.read_bytes()
    assert b'"logger":["not","hashable"]' in data and b"not a string" in data


def test_buffered_an_error_is_in_the_file_when_the_call_returns(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    output = FileOutput(path, TextFormatter(), FileOptions(buffer_size=65536))
    log = Logger(Severity.INFO, [output])
    for _ in range(3):  # the first teaches the sanitizer; the others take the flat function
        log.info("waiting", n=1)
        log.error("failed", n=1)
    with Calls() as calls:
        log.info("waiting", n=2)
        assert b"n=2" not in path.read_bytes()  # buffered
        log.error("failed", n=2)
        line = sys._getframe().f_lineno - 1
    assert calls.generic == 0
    assert path.read_bytes().endswith(b"[ERROR] failed [test_entry_code.py:%d] n=2\n" % line)
    output.close()


class Several:
    """A specialised and a reference logger, each with two JSON files, a text file and the
    flight recorder taking the same severities: one flat function writes to all four."""

    def __init__(self, directory: Path) -> None:
        from llmlog_engine_flight import FlightRecorder
        from llmlog_engine_flight.recorder import RecorderOutput

        self.paths: list[list[Path]] = []
        self.outputs: list[list[FileOutput]] = []
        self.recorders: list[Any] = []
        self.loggers: list[Logger] = []
        for specialise in (True, False):
            paths = [directory / f"{name}-{specialise}.log" for name in ("a", "b", "c")]
            outputs = [
                FileOutput(paths[0], JsonFormatter(), FileOptions()),
                FileOutput(paths[1], JsonFormatter(), FileOptions(buffer_size=65536)),
                FileOutput(paths[2], TextFormatter(), FileOptions()),
            ]
            recorder = FlightRecorder(min_age=3600, max_bytes=1 << 26, level=Severity.DEBUG)
            recorder.start()
            dispatcher = Dispatcher(
                [*outputs, RecorderOutput(recorder)], level=Severity.DEBUG, specialise=specialise
            )
            self.paths.append(paths)
            self.outputs.append(outputs)
            self.recorders.append(recorder)
            self.loggers.append(Logger(Severity.DEBUG, dispatcher=dispatcher))
        assert self.loggers[0].dispatcher.emit_info is not None
        assert self.loggers[1].dispatcher.emit_info is None

    def close(self) -> None:
        for outputs, recorder in zip(self.outputs, self.recorders, strict=True):
            for output in outputs:
                output.close()
            recorder.stop()


@pytest.fixture(scope="module")
def several(entry_test: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Several]:
    made = Several(tmp_path_factory.mktemp("several"))
    yield made
    made.close()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    method=st.sampled_from(METHODS),
    message=st.one_of(PLAIN, TEXT),
    fields=FIELDS,
    context=st.one_of(st.none(), st.just(TRACE), CONTEXTS),
)
def test_one_flat_function_for_several_outputs_writes_what_each_would(
    several: Several, method: str, message: str, fields: dict[str, Any], context: Any
) -> None:
    with in_context(context), Calls() as calls:
        for _ in range(3):
            for log in several.loggers:
                getattr(log, method)(message, **fields)
    event(f"generic calls {calls.generic} of 6")
    for outputs in several.outputs:
        for output in outputs:
            output.flush()
    for fast_path, reference_path in zip(*several.paths, strict=True):
        fast, reference = fast_path.read_bytes(), reference_path.read_bytes()
        assert normalise(fast) == normalise(reference)
    fast_events, reference_events = (recorded(recorder) for recorder in several.recorders)
    assert fast_events == reference_events and len(fast_events) == 3


def test_several_outputs_a_failing_one_is_counted_and_the_others_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from llmlog_engine_flight import FlightRecorder
    from llmlog_engine_flight.recorder import RecorderOutput

    recorder = FlightRecorder(min_age=3600, max_bytes=1 << 26, level=Severity.DEBUG)
    recorder.start()
    first, last = tmp_path / "first.log", tmp_path / "last.log"
    # Two codes binding the same names (data, n): each output's are its own.
    failing = Coded(
        EntryCode(line="data = n + 1", write="raise OSError('disk on fire')", namespace={"n": 1})
    )
    seen: list[int] = []
    counting = Coded(
        EntryCode(line="data = n", write="seen.append(data)", namespace={"n": 7, "seen": seen})
    )
    outputs = [
        FileOutput(first, JsonFormatter(), FileOptions()),
        failing,
        RecorderOutput(recorder),
        counting,
        FileOutput(last, TextFormatter(), FileOptions()),
    ]
    log = Logger(Severity.INFO, outputs)
    assert log.dispatcher.emit_info is not None
    try:
        log.info("plain", n=1)  # teaches the sanitizer (the generic path)
        with Calls() as calls:
            for n in range(2, 6):
                log.info("plain", n=n)
    finally:
        recorder.stop()
        outputs[0].close()
        outputs[-1].close()
    assert calls.generic == 0
    assert log.dispatcher.stats()["failures"] == {"coded": 4}
    assert capsys.readouterr().err.count("disk on fire") == 1
    assert first.read_bytes().count(b'"message":"plain"') == 5
    assert last.read_bytes().count(b"plain") == 5
    assert [e["fields"]["n"] for e in recorded(recorder)] == [1, 2, 3, 4, 5]
    assert seen == [7, 7, 7, 7]
