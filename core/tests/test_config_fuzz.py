"""Fuzzing the configuration: generated documents across the real schema (every installed
component's options, right and wrong types, unknown keys, huge numbers, durations and sizes, long
and odd text) and byte-mutated real configurations, through ``llmlog config check``, ``config
show`` and ``llmlog.configure()``, in process and through the installed command.

Assertions: no traceback (a :class:`~llmlog.ConfigError`, exit status 1, every error placed by
``@ $.path`` or ``file:line:column``), no hang (an alarm), bounded memory (the command runs under
an address-space limit), and what ``config check`` accepts ``configure()`` accepts, and the other
way round; what ``config show`` prints is itself accepted. Works with whatever plugins are
installed (the core alone has ``stderr`` and ``memory``). The default runs take seconds; the
``slow`` campaign minutes.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import tomllib
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import llmlog
from llmlog.cli import main
from llmlog.config.converter import Bytes, FileMode, KeyPattern, Seconds
from llmlog.config.loader import SETTINGS_KEYS, TABLES, Settings
from llmlog.plugins import PluginHost
from llmlog.registry import ComponentKind
from llmlog.severity import Severity
from llmlog.tomlout import dumps_toml

REPO = Path(__file__).resolve().parents[2]
CORPUS = Path(__file__).with_name("corpus") / "config"
FUZZ = settings(
    max_examples=25,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
# A campaign of tens of seconds in every full run; FUZZ_EXAMPLES=20000 makes a longer one.
SLOW = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "200")),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# -- values ---------------------------------------------------------------------------------------

TEXT = (
    st.text(max_size=20)
    | st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=20)
    | st.sampled_from(["", "\x1b[2J", "a\u202eb", "\u200b", "é" * 3, "%s%n", "${HOME}"])
    | st.integers(min_value=200, max_value=20_000).map(lambda n: "x" * n)
)
NUMBERS = (
    st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.sampled_from([0, -1, 1, 2**53 + 1, 2**63 - 1, -(2**63)])
    | st.floats(allow_nan=True, allow_infinity=True)
)
DURATIONS = st.sampled_from(
    [
        "500ms",
        "10s",
        "1m30s",
        "1.5h",
        "0s",
        "-1s",
        "1e3s",
        "٣s",
        "10 sec",
        "s",
        ".s",
        "1" * 400 + "s",
    ]
) | st.from_regex(r"\A[0-9.]{0,5}(ns|us|µs|ms|s|m|h|x)?\Z")
SIZES = st.sampled_from(
    ["64KiB", "10MiB", "1.5 GB", "0", "10 megs", "-1MB", "1" * 400 + "TB", "1e9B"]
) | st.from_regex(r"\A[0-9.]{0,5} ?([KMGT]i?B|b|x)?\Z")
SCALARS = (
    st.booleans() | NUMBERS | TEXT | DURATIONS | SIZES | st.dates() | st.datetimes() | st.times()
)
ANY_VALUE = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=10,
)
# Paths the generated outputs may really create: inside the configuration's directory, or where
# nothing can be created. Never a path of the machine's own.
PATHS = st.sampled_from(
    [
        "",
        "app.log",
        "logs/app.jsonl",
        "logs/../app.log",
        ".",
        "..",
        "/proc/nope/app.log",
        "/sys/app.log",
        "/dev/null",
        "a" * 300 + "/x.log",
        "nul\x00.log",
        "~nobody-by-this-name/x.log",
        "llmlog.toml/x",
    ]
)
SIGNALS = st.sampled_from(["SIGUSR1", "SIGUSR2", "SIGKILL", "SIGSTOP", "USR1", "SIGNOPE", ""])


def _right(type_: Any, name: str) -> st.SearchStrategy[Any]:
    """Values of the right type for a field (which validators may still refuse)."""
    if name in ("path", "dir", "snapshot_dir"):
        return PATHS
    if name == "signal":
        return SIGNALS
    if name == "enabled" and type_ is bool:
        return st.just(False)  # an integration started for real would reach out (DSPy, OTLP)
    origin = typing.get_origin(type_)
    if type_ == Seconds:
        return st.floats(allow_nan=False, min_value=-10, max_value=1e6) | DURATIONS
    if type_ == Bytes:
        return st.integers(min_value=-1, max_value=1 << 40) | SIZES
    if type_ == FileMode:
        return st.integers(min_value=-1, max_value=0o1000)
    if type_ == KeyPattern:
        return st.text("()[]{}?*+|\\^$.:<>=!Pias0129-,", max_size=10)
    if type_ is bool:
        return st.booleans()
    if type_ is int:
        return NUMBERS.filter(lambda n: isinstance(n, int)) | st.integers(-5, 5000)
    if type_ is float:
        return st.floats(min_value=-5, max_value=5) | NUMBERS  # NUMBERS has NaN and infinities
    if type_ is str:
        return TEXT
    if type_ is Severity:
        return st.sampled_from(["debug", "INFO", "warning", "critical", "fatal", "loud", ""])
    if type_ == (str | list[str]):
        return st.just("auto") | st.lists(TEXT, max_size=3)
    if origin is typing.Literal:
        return st.sampled_from(typing.get_args(type_))
    if origin is list:
        (item,) = typing.get_args(type_)
        return st.lists(_value(item, ""), max_size=4)
    if origin is dict:
        return st.dictionaries(TEXT, ANY_VALUE, max_size=4)
    if attrs.has(type_):
        return _table(type_)
    return ANY_VALUE


def _value(type_: Any, name: str) -> st.SearchStrategy[Any]:
    return st.one_of(_right(type_, name), _right(type_, name), ANY_VALUE)


def _table(cls: type | None, extra: dict[str, st.SearchStrategy[Any]] | None = None) -> Any:
    """A table for an options class: some of its fields, sometimes an unknown key."""
    fields: dict[str, st.SearchStrategy[Any]] = {}
    if cls is not None:
        attrs.resolve_types(cls)
        fields = {f.name: _value(f.type, f.name) for f in attrs.fields(cls)}
    fields.update(extra or {})
    unknown = st.dictionaries(
        st.sampled_from(["colour", "typo", "a.b", "\x1b"]), ANY_VALUE, max_size=1
    )
    return st.builds(
        lambda known, odd: {**known, **odd},
        st.fixed_dictionaries({}, optional=fields),
        st.one_of(st.just({}), st.just({}), unknown),
    )


def _component(kind: dict[str, Any], extra: dict[str, st.SearchStrategy[Any]]) -> Any:
    """A component table: ``type`` (an installed name or not) and that component's options."""
    names = [*sorted(kind), "nope"]
    return st.sampled_from(names).flatmap(
        lambda name: _table(kind[name].options if name in kind else None, extra).map(
            lambda table: {"type": name, **table}
        )
    )


def documents() -> st.SearchStrategy[dict[str, Any]]:
    """Configuration documents across the installed schema."""
    host = PluginHost()
    outputs = host.components(ComponentKind.OUTPUT)
    formatters = host.components(ComponentKind.FORMATTER)
    integrations = host.components(ComponentKind.INTEGRATION)
    formatter = st.sampled_from([*sorted(formatters), "nope"]) | _component(formatters, {})
    level = _value(Severity, "level")
    output = _component(outputs, {"level": level, "formatter": formatter}) | ANY_VALUE
    settings_ = {f.name: _value(f.type, f.name) for f in attrs.fields(Settings)}
    settings_["plugins"] = st.just("auto") | st.lists(st.sampled_from(["nope", "output_file"]))
    settings_["disabled_plugins"] = st.lists(st.sampled_from(["output_file", "nope"]), max_size=2)
    tables = {
        "outputs": st.dictionaries(
            st.sampled_from(["console", "file", "a", "a.b", "é"]), output, max_size=3
        )
        | ANY_VALUE,
        "integrations": st.dictionaries(
            st.sampled_from([*sorted(integrations), "nope"]),
            _table(None, {"enabled": st.just(False) | ANY_VALUE}),
            max_size=2,
        )
        | ANY_VALUE,
    }
    # Every claimed table ([stdlib], [trace], [flight_recorder] where the engine is installed),
    # with the key that selects its component (a backend, a format) when it has one.
    for name, claim in host.tables.items():
        extra = {}
        if claim.component is not None:
            chosen = host.components(claim.component.kind)
            extra[claim.component.key] = st.sampled_from([*sorted(chosen), "nope"]) | _component(
                chosen, {}
            )
        tables[name] = _table(claim.options, extra) | ANY_VALUE
    assert set(settings_) == set(SETTINGS_KEYS)
    assert set(tables) == {*TABLES, *host.tables}
    unknown = st.dictionaries(st.sampled_from(["levle", "output", "é", ""]), ANY_VALUE, max_size=1)
    return st.builds(
        lambda known, odd: {**known, **odd},
        st.fixed_dictionaries({}, optional={**settings_, **tables}),
        unknown,
    )


# -- running --------------------------------------------------------------------------------------


class Hang(Exception):
    pass


@contextlib.contextmanager
def hang_guard(seconds: int = 60) -> Iterator[None]:
    """Fail (not hang) when the block takes more than ``seconds``: a guard, not a timing."""

    def alarm(signum: int, frame: Any) -> None:
        raise Hang(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def run_cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


_PLACED = re.compile(r" @ \$(\.|\[|$)")
_FILE_LEVEL = (
    "configuration file not found",
    "is a directory, not a configuration file",
    "no [tool.llmlog] table in this pyproject.toml",
    "cannot read the file: ",
    "larger than ",
)


def assert_reported(path: Path, err: str) -> None:
    """``err`` is a ConfigError's message: a head naming the file, then one placed error a line."""
    assert "Traceback" not in err
    head, *lines = err.rstrip("\n").split("\n")
    match = re.fullmatch(r"(.*): (\d+) configuration errors?", head)
    assert match is not None, err
    assert int(match.group(2)) == len(lines) > 0, err
    at_line = re.fullmatch(rf"{re.escape(str(path))}:\d+:\d+", match.group(1))
    for line in lines:
        assert line.startswith("  - "), err
        message = line[4:]
        assert (
            _PLACED.search(message) or (at_line and message) or message.startswith(_FILE_LEVEL)
        ), err


def exercise(path: Path) -> None:
    """Every command on one file; the properties of the module docstring."""
    with hang_guard():
        code, out, err = run_cli("config", "check", str(path))
        assert code in (0, 1), err
        if code:
            assert out == "" and assert_reported(path, err) is None
        try:
            llmlog.configure(path)
            configured = True
        except llmlog.ConfigError as exc:
            configured = False
            assert_reported(path, str(exc) + "\n")
        finally:
            llmlog.configure({"outputs": {}}, autoload=False)  # retire what it started
        assert configured == (code == 0), err
        shown_code, shown, show_err = run_cli("config", "show", str(path))
        assert shown_code in (0, 1) and "Traceback" not in show_err
        if code == 0:
            assert shown_code == 0, show_err
            again = path.with_name("shown.toml")
            again.write_text(shown)
            assert tomllib.loads(shown) is not None
            code_again, _, err_again = run_cli("config", "check", str(again))
            assert code_again == 0, (shown, err_again)


def exercise_dict(document: dict[str, Any]) -> None:
    with hang_guard():
        try:
            llmlog.configure(document)
            errors = None
        except llmlog.ConfigError as exc:
            errors = exc.errors
        finally:
            llmlog.configure({"outputs": {}}, autoload=False)
        assert errors is None or (errors and all(_PLACED.search(e) for e in errors)), errors


def _toml(document: dict[str, Any]) -> str | None:
    """The document as TOML, or ``None`` when TOML cannot hold it (a NaN is fine, a key is not)."""
    text = dumps_toml(document)
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return None
    return text


@pytest.fixture
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as directory:
        yield Path(directory)


def _check_document(workdir: Path, document: dict[str, Any]) -> None:
    exercise_dict(document)
    text = _toml(document)
    if text is None:
        return
    with tempfile.TemporaryDirectory(dir=workdir) as directory:
        path = Path(directory) / "llmlog.toml"
        path.write_text(text, encoding="utf-8")
        exercise(path)


DOCUMENTS = documents()


@FUZZ
@given(DOCUMENTS)
@pytest.mark.slow
def test_generated_configurations(workdir, document):
    _check_document(workdir, document)


@pytest.mark.slow
@SLOW
@given(DOCUMENTS)
def test_generated_configurations_campaign(workdir, document):
    _check_document(workdir, document)


# -- byte-mutated real configurations --------------------------------------------------------------


def seeds() -> list[bytes]:
    """The repository's example configuration, the TOML blocks of the docs (when the tests run
    from a checkout), and the small corpus kept beside this file."""
    found = [p.read_bytes() for p in sorted(CORPUS.glob("*.toml"))]
    example = REPO / "llmlog.toml.example"
    if example.is_file():
        found.append(example.read_bytes())
    for doc in sorted((REPO / "docs").glob("*.md")) if (REPO / "docs").is_dir() else ():
        text = doc.read_text(encoding="utf-8")
        found += [b.encode() for b in re.findall(r"```toml\n(.*?)```", text, re.DOTALL)]
    return found


SEEDS = seeds()
INSERTS = st.sampled_from(
    [b"[", b"]", b"{", b"}", b'"', b"'", b'"""', b"\n", b"=", b".", b"#", b"\\", b"\xff", b"\xc3",
     b"\x00", b"\xef\xbb\xbf", b"[[", b"0x", b"inf", b"1e999", b"9" * 30, b"\t", b"\r\n"]
)  # fmt: skip


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        if not data:
            data += draw(INSERTS)
            continue
        at = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["flip", "insert", "delete", "repeat", "truncate"]))
        if action == "flip":
            data[at] = draw(st.integers(0, 255))
        elif action == "insert":
            data[at:at] = draw(INSERTS) * draw(st.sampled_from([1, 1, 2, 40]))
        elif action == "delete":
            del data[at : at + draw(st.integers(1, 40))]
        elif action == "repeat":
            data[at:at] = data[at : at + draw(st.integers(1, 60))] * draw(st.integers(1, 50))
        else:
            del data[at:]
    return bytes(data)


def _check_bytes(workdir: Path, data: bytes) -> None:
    with tempfile.TemporaryDirectory(dir=workdir) as directory:
        path = Path(directory) / "llmlog.toml"
        path.write_bytes(data)
        exercise(path)


@FUZZ
@given(mutated())
def test_byte_mutated_configurations(workdir, data):
    _check_bytes(workdir, data)


@pytest.mark.slow
@SLOW
@given(mutated())
def test_byte_mutated_configurations_campaign(workdir, data):
    _check_bytes(workdir, data)


def test_the_seeds_are_read(workdir):
    assert len(SEEDS) >= len(list(CORPUS.glob("*.toml"))) > 0
    for seed in SEEDS:
        _check_bytes(workdir, seed)


# -- through the installed command, under a memory limit ---------------------------------------------


def _limited() -> None:  # in the child, before exec: 1 GiB of address space at most
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


HOSTILE = {
    "deep.toml": b"a = " + b"[" * 5000 + b"]" * 5000,
    "deep-tables.toml": b"default_fields = " + b"{a = " * 3000 + b"1" + b"}" * 3000,
    "dotted.toml": b"default_fields." + b".".join([b"a"] * 3000) + b" = 1\n",
    "binary.toml": bytes(range(256)) * 64,
    "long-duration.toml": b'[flight_recorder]\nmin_age = "' + b"1" * 1_000_000 + b's"\n',
    "huge-int.toml": b"max_string_length = " + b"9" * 5000 + b"\n",
    "many-outputs.toml": b"".join(b"[outputs.o%d]\ntype = 'stderr'\n" % i for i in range(12_000)),
    "many-errors.toml": b"redact_keys = [" + b'"(", ' * 10_000 + b"]\n",
}
#: Files at the size limit: seconds to parse each.
HOSTILE_SLOW = {
    "huge-array.toml": b"redact_keys = [" + b'"(", ' * 800_000 + b"]\n",
    "huge-table.toml": b"".join(b"k%d = %d\n" % (i, i) for i in range(300_000)),
    "long-string.toml": b'default_fields = { s = "' + b"\\u00e9" * 600_000 + b'" }\n',
}
_RUN_ALL = """
import json, sys
from llmlog.cli import main
import contextlib, io
for path in sys.argv[1:]:
    for command in ("check", "show"):
        err = io.StringIO()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            code = main(["config", command, path])
        print(json.dumps({"path": path, "code": code, "stderr": err.getvalue()}))
"""


def _hostile(workdir: Path, files: dict[str, bytes]) -> None:
    paths = []
    for name, data in files.items():
        (workdir / name).write_bytes(data)
        paths.append(str(workdir / name))
    # One process for all (startup costs more than most files), under the memory limit: a
    # MemoryError would show as a traceback.
    done = subprocess.run(
        [sys.executable, "-c", _RUN_ALL, *paths],
        capture_output=True,
        text=True,
        timeout=600,
        preexec_fn=_limited,
    )
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-3000:]
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(results) == 2 * len(paths)
    for result in results:
        assert result["code"] in (0, 1), result
        if result["code"]:
            assert_reported(Path(result["path"]), result["stderr"])


@pytest.mark.slow
def test_hostile_files_answer_in_bounded_memory(workdir):
    _hostile(workdir, HOSTILE)


@pytest.mark.slow
def test_files_at_the_size_limit_answer_in_bounded_memory(workdir):
    _hostile(workdir, HOSTILE_SLOW)


@pytest.mark.slow
def test_the_installed_command(workdir):
    command = Path(sys.executable).with_name("llmlog")
    seed = SEEDS[-1]
    files = {
        "deep.toml": HOSTILE["deep.toml"],
        "mutant.toml": seed[: len(seed) // 2] + b"\xff[{" + seed[len(seed) // 2 :],
        "good.toml": b'level = "warn"\n[outputs.stderr]\n',
    }
    for name, data in files.items():
        path = workdir / name
        path.write_bytes(data)
        done = subprocess.run(
            [str(command), "config", "check", str(path)],
            capture_output=True,
            text=True,
            timeout=120,
            preexec_fn=_limited,
        )
        assert done.returncode == (0 if name == "good.toml" else 1), done.stderr
        if done.returncode:
            assert_reported(path, done.stderr)
        else:
            assert done.stdout.startswith(f"{path}: OK")


def test_nan_is_refused_where_a_number_is_bounded():
    with pytest.raises(llmlog.ConfigError) as info:
        llmlog.configure({"sample_rate": math.nan, "outputs": {}}, autoload=False)
    assert info.value.errors == ["must be between 0 and 1, got nan @ $.sample_rate"]
