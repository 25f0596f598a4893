"""Fuzzing what reads RLM files: the reader, ``detect``, ``to_events``, ``llmlog view`` with every
flag and ``llmlog convert`` to both formats, on generated files mutated in their structure (any
field replaced by any JSON value, huge numbers, deep nesting, bare ``NaN``) and in their bytes.

The assertions: no traceback (a bad line is ``file:line: what was expected``, an ``RlmReadError``
or ``llmlog: …`` on stderr with exit status 1 or 2), no hang (a timer fails the test), bounded
memory. Each test takes a few seconds; ``-m slow`` runs a campaign of thousands of inputs. The
minimal inputs that crashed before are kept in ``corpus/`` and replayed, a few through the real
``llmlog`` command.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import re
import resource
import signal
import subprocess
import sys
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmlog.testing import isolated_environment
from llmlog_trace_rlm import CodeBlock, Iteration, Metadata, RlmReadError, SubCall, read_rlm
from llmlog_trace_rlm.reader import to_events
from llmlog_trace_rlm.view import detect

CORPUS = Path(__file__).parent / "corpus"
HANG_SECONDS = 60  # per input: far beyond what any input takes; only a hang gets there
MEMORY_GROWTH = 256 << 20  # bytes one input may add to the peak RSS (inputs are kilobytes)


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path) -> Iterator[Path]:
    with isolated_environment(tmp_path):
        yield tmp_path


@contextlib.contextmanager
def bounded() -> Iterator[None]:
    """No hang (a timer raises after :data:`HANG_SECONDS`) and bounded memory (the peak RSS grows
    by less than :data:`MEMORY_GROWTH`) while one input is handled. Per input, not per test: a
    campaign's own bookkeeping (hypothesis keeps every example's choices) grows slowly with the
    number of examples, an input that blows up grows it at once."""

    def hang(signum: int, frame: Any) -> None:
        raise TimeoutError(f"no result after {HANG_SECONDS} s: a hang")

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    previous = signal.signal(signal.SIGALRM, hang)
    signal.setitimer(signal.ITIMER_REAL, HANG_SECONDS)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
    assert grown < MEMORY_GROWTH, f"one input grew the peak memory by {grown >> 20} MiB"


# -- what must hold for any input ---------------------------------------------------------------------

VIEW_FLAGS: list[list[str]] = [
    [],
    ["--stats"],
    ["--errors"],
    ["-s", "a"],
    ["--iter", "1"],
    ["--final"],
    ["--compact"],
    ["--export", "EXPORT"],
    ["--lenient"],
    ["--stats", "--lenient"],
    ["--compact", "--errors", "--lenient", "-s", "E"],
]


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """``llmlog ARGV`` in this process: exit status, stdout, stderr; a traceback fails the test."""
    from llmlog.testing import run_cli

    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = run_cli(argv)
    except Exception:
        pytest.fail(f"llmlog {argv} raised:\n{traceback.format_exc()}")
    return status, out.getvalue(), err.getvalue()


def _said_clearly(status: int, err: str) -> None:
    assert status in (0, 1, 2), status
    assert "Traceback" not in err
    for line in err.splitlines():
        assert line.startswith("llmlog: "), err


def _where(path: Path) -> re.Pattern[str]:
    return re.compile(re.escape(str(path)) + r":\d+: \S")


def check_reading(path: Path) -> None:
    """The reader gives iterations or an ``RlmReadError`` naming file:line; never anything else."""
    with path.open("rb") as fh:
        assert detect(fh.readline(1 << 20)) in (True, False)
    for read in (lambda: read_rlm(path), lambda: list(to_events(path))):
        problem = None
        try:
            read()
        except RlmReadError as exc:
            problem = str(exc)
        assert problem is None or _where(path).match(problem), problem
    skipped: list[str] = []
    read_rlm(path, skipped=skipped)  # --lenient never raises
    list(to_events(path, skipped=skipped))
    assert all(_where(path).match(m) for m in skipped)


def check_cli(path: Path, flags: list[str], work: Path) -> None:
    """``llmlog view`` with ``flags`` and ``llmlog convert`` to both formats answer clearly."""
    flags = [str(work / "out.md") if f == "EXPORT" else f for f in flags]
    status, _, err = run_cli(["view", str(path), *flags])
    _said_clearly(status, err)
    if status == 1 and err:
        assert _where(path).search(err) or ":1: " in err, err
    for target in ("dspy", "rlm"):
        status, _, err = run_cli(
            [
                "convert",
                str(path),
                "--to",
                target,
                "-o",
                str(work / f"converted.{target}"),
                "--force",
            ]
        )
        _said_clearly(status, err)


# -- generated files ----------------------------------------------------------------------------------

text = st.text(max_size=12)
numbers = st.integers(0, 10**6) | st.floats(0, 1e4, allow_nan=False)
calls = st.builds(
    SubCall,
    prompt=text,
    response=text,
    prompt_tokens=st.integers(0, 10**6),
    completion_tokens=st.integers(0, 10**6),
    execution_time=st.floats(0, 100, allow_nan=False),
    model=st.none() | text,
    cost=st.none() | st.floats(0, 10, allow_nan=False),
    error=st.none() | text,
)
blocks = st.builds(
    CodeBlock,
    code=text,
    stdout=text,
    stderr=text,
    locals=st.dictionaries(text, st.integers() | text, max_size=2),
    execution_time=st.floats(0, 100, allow_nan=False),
    calls=st.lists(calls, max_size=2),
    final_answer=st.none() | text,
)
iterations = st.builds(
    Iteration,
    iteration=st.integers(0, 20),
    timestamp=st.sampled_from(["2026-01-02T03:04:05.123456789+01:00", "2026-01-02T03:04:05.5", ""]),
    prompt=st.lists(st.fixed_dictionaries({"role": text, "content": text}), max_size=2),
    response=text,
    code_blocks=st.lists(blocks, max_size=2),
    final_answer=st.none() | text | st.tuples(text, text).map(list),
    iteration_time=st.none() | st.floats(0, 100, allow_nan=False),
    root_call=st.none() | calls,
)
metadata = st.builds(
    Metadata,
    root_model=text,
    max_iterations=st.integers(0, 30),
    backend=text,
    query=text,
    context=text,
    timestamp=st.just("2026-01-02T03:04:05Z"),
)


@st.composite
def valid_records(draw: st.DrawFn) -> list[dict[str, Any]]:
    records = [draw(metadata).to_json()] if draw(st.booleans()) else []
    records += [it.to_json() for it in draw(st.lists(iterations, min_size=1, max_size=3))]
    return records


# Values a field may be replaced with: every JSON type, numbers no reader takes, text that is
# not valid Unicode, and markers replaced in the encoded line by what json cannot produce.
DEEP, NAN, INF, HUGE_FLOAT, BIG_DIGITS = "@DEEP@", "@NAN@", "@INF@", "@HUGE@", "@DIGITS@"
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=6,
)
odd_values = (
    json_values
    | st.sampled_from(
        [2**63, -(2**63) - 1, 10**30, 2**64, 1e308, -1e308, 0.5, 1.0, DEEP, NAN, INF, HUGE_FLOAT]
    )
    | st.sampled_from([BIG_DIGITS, "\ud800", "\x1b[2J", [[[[]]]], {"role": 1, "content": [1]}])
)
RAW = {
    f'"{DEEP}"': "[" * 10_000 + "]" * 10_000,
    f'"{NAN}"': "NaN",
    f'"{INF}"': "-Infinity",
    f'"{HUGE_FLOAT}"': "1e999",
    f'"{BIG_DIGITS}"': "9" * 5000,
}


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*prefix, index))


@st.composite
def mutated_files(draw: st.DrawFn) -> bytes:
    """Valid records with a few fields replaced by odd values or removed."""
    records = draw(valid_records())
    for _ in range(draw(st.integers(1, 3))):
        record = records[draw(st.integers(0, len(records) - 1))]
        path = draw(st.sampled_from(list(_paths(record))[1:]))
        holder = record
        for key in path[:-1]:
            holder = holder[key]
        if draw(st.integers(0, 5)) == 0 and isinstance(holder, dict):
            del holder[path[-1]]
        else:
            holder[path[-1]] = copy.deepcopy(draw(odd_values))  # never mutate a shared example
    lines = []
    for record in records:
        line = json.dumps(record)  # ensure_ascii: a lone surrogate becomes an escape
        for marker, raw in RAW.items():
            line = line.replace(marker, raw)
        lines.append(line)
    return ("\n".join(lines) + "\n").encode("utf-8")


@st.composite
def byte_mutated_files(draw: st.DrawFn) -> bytes:
    """Valid files with bytes flipped, inserted, deleted, lines repeated or the file cut."""
    data = bytearray(("\n".join(json.dumps(r) for r in draw(valid_records())) + "\n").encode())
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "cut", "repeat"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif op == "insert":
            data[at:at] = draw(
                st.binary(min_size=1, max_size=8)
                | st.sampled_from([b'"', b"{", b"[", b"\n", b"\\u"])
            )
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        elif op == "cut":
            del data[at:]
        else:
            line = data.split(b"\n")[0]
            data[at:at] = line + b"\n"
    return bytes(data) or b"\n"


def _file(work: Path, content: bytes) -> Path:
    path = work / f"fuzz-{os.urandom(6).hex()}.jsonl"
    path.write_bytes(content)
    return path


def _fuzz_test(examples: int, strategy: st.SearchStrategy[bytes], cli: bool) -> Callable[..., None]:
    @settings(max_examples=examples, suppress_health_check=list(HealthCheck))
    @given(content=strategy, flags=st.sampled_from(VIEW_FLAGS))
    def test(tmp_path: Path, content: bytes, flags: list[str]) -> None:
        path = _file(tmp_path, content)
        with bounded():
            check_reading(path)
            if cli:
                check_cli(path, flags, tmp_path)

    return test


test_reader_on_mutated_fields = pytest.mark.slow(_fuzz_test(150, mutated_files(), cli=False))
test_reader_on_mutated_bytes = pytest.mark.slow(_fuzz_test(150, byte_mutated_files(), cli=False))
test_cli_on_mutated_fields = pytest.mark.slow(_fuzz_test(15, mutated_files(), cli=True))
test_cli_on_mutated_bytes = pytest.mark.slow(_fuzz_test(15, byte_mutated_files(), cli=True))

# The campaign: tens of seconds by default (the slow tests are part of every full run);
# LLMLOG_FUZZ_SCALE=20 makes it the minutes-long run that found the corpus.
SCALE = float(os.environ.get("LLMLOG_FUZZ_SCALE", "1"))
test_campaign_reader = pytest.mark.slow(
    _fuzz_test(int(1500 * SCALE), mutated_files() | byte_mutated_files(), cli=False)
)
test_campaign_cli = pytest.mark.slow(
    _fuzz_test(int(150 * SCALE), mutated_files() | byte_mutated_files(), cli=True)
)


@settings(max_examples=300, suppress_health_check=list(HealthCheck))
@given(first=st.binary(max_size=64) | json_values.map(lambda v: json.dumps(v).encode()))
def test_detect_never_raises_on_any_first_line(first):
    assert detect(first) in (True, False)
    assert detect(b'{"type": ' + first + b"}") in (True, False)


# -- the corpus of inputs that crashed ----------------------------------------------------------------

CORPUS_FILES = sorted(CORPUS.glob("*.jsonl"))


@pytest.mark.parametrize("name", [p.name for p in CORPUS_FILES])
@pytest.mark.slow
def test_corpus_inputs_that_crashed_are_read_viewed_and_converted(tmp_path, name):
    path = tmp_path / name
    path.write_bytes((CORPUS / name).read_bytes())
    with bounded():
        check_reading(path)
        for flags in VIEW_FLAGS:
            check_cli(path, flags, tmp_path)


@pytest.mark.slow
def test_the_real_command_on_the_corpus(tmp_path):
    llmlog = str(Path(sys.executable).with_name("llmlog"))
    for name in (
        "deep-nesting.jsonl",
        "type-is-a-list.jsonl",
        "usage-summary-tokens-as-text.jsonl",
    ):
        source = CORPUS / name
        for argv in (
            [llmlog, "view", "--stats", str(source)],
            [llmlog, "convert", str(source), "--to", "dspy", "-o", str(tmp_path), "--force"],
        ):
            done = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                timeout=60,
                env={**os.environ, "PYTHONUTF8": "1"},
            )
            _said_clearly(done.returncode, done.stderr)


@pytest.mark.parametrize(
    "field",
    ["timestamp", "prompt", "response", "final_answer", "locals", "root_model", "rlm_calls"],
)
def test_ten_thousand_deep_nesting_anywhere_is_an_error_message(tmp_path, field):
    record: dict[str, Any] = {
        "type": "iteration",
        "iteration": 1,
        "prompt": [],
        "code_blocks": [{"code": "c", "result": {"locals": {}, "rlm_calls": []}}],
    }
    target = record
    if field in ("locals", "rlm_calls"):
        target = record["code_blocks"][0]["result"]
    elif field == "root_model":
        target = record["code_blocks"][0]["result"]["rlm_calls"] = [{}]  # type: ignore[assignment]
        target = target[0]  # type: ignore[index]
    target[field] = DEEP
    line = json.dumps(record).replace(f'"{DEEP}"', "[" * 10_000 + "]" * 10_000)
    path = _file(tmp_path, b'{"type": "metadata"}\n' + line.encode() + b"\n")
    with pytest.raises(RlmReadError, match=re.escape(f"{path}:2: nested too deeply")):
        read_rlm(path)
    with bounded():
        check_reading(path)
        status, _, err = run_cli(["view", str(path)])
    assert status == 1 and f"{path}:2: nested too deeply" in err


def test_nesting_the_parser_takes_is_shown_and_converted(tmp_path):
    """900 levels: within what the JSON parsers take, so it is read; shown and written cut."""
    deep = "[" * 900 + "]" * 900
    line = (
        '{"type": "iteration", "iteration": 1, "prompt": '
        + deep
        + ', "final_answer": '
        + deep
        + ', "code_blocks": [{"code": "c", "result": {"locals": {"x": '
        + deep
        + "}}}]}"
    )
    path = _file(tmp_path, b'{"type": "metadata"}\n' + line.encode() + b"\n")
    (it,) = read_rlm(path).iterations
    assert "<max depth>" in str(it.final_answer)
    with bounded():
        for flags in VIEW_FLAGS:
            check_cli(path, flags, tmp_path)


# -- hostile text: nothing reaches the terminal or the Markdown file raw -----------------------------

HOSTILE = "".join(
    [
        "\x1b[2J\x1b[H",  # clear the screen
        "\x1b]52;c;ZXZpbA==\x07",  # OSC 52: write the clipboard
        "\x1b]8;;https://evil.example\x1b\\link\x1b]8;;\x1b\\",  # OSC 8: a hyperlink
        "\x1b[31m",  # CSI colour
        "\x9b2J",  # C1 CSI
        "\x7f\x08\r\x00",  # DEL, backspace, carriage return, NUL
        "\u202e\u2066",  # bidi overrides
        "\u200b\ufeff",  # zero-width
        "\U000e0041",  # a tag character
        "\ud800",  # a lone surrogate
        "\n2026-01-01T00:00:00Z ERROR forged log line",  # a newline, then a forged line
    ]
)


def _hostile_file(directory: Path) -> Path:
    h = HOSTILE
    call = {
        "root_model": f"model{h}",
        "prompt": f"sub prompt{h}",
        "response": f"sub response{h}",
        "prompt_tokens": 1,
        "completion_tokens": 2,
        "execution_time": 0.1,
        "error": f"sub error{h}",
    }
    records = [
        {
            "type": "metadata",
            "timestamp": f"2026{h}",
            "root_model": f"root{h}",
            "max_iterations": 3,
            "backend": f"backend{h}",
            "backend_kwargs": {f"k{h}": f"v{h}"},
            "environment_type": f"env{h}",
            "context": f"context{h}",
            "query": f"query{h}",
        },
        {
            "type": "iteration",
            "iteration": 1,
            "timestamp": f"time{h}",
            "prompt": [{"role": f"user{h}", "content": f"prompt{h}"}],
            "response": f"response{h}",
            "code_blocks": [
                {
                    "code": f"code{h}\nsecond line{h}",
                    "result": {
                        "stdout": f"stdout{h}",
                        "stderr": f"stderr{h}",
                        "locals": {f"name{h}": f"value{h}", "nested": [f"deep{h}"]},
                        "execution_time": 0.2,
                        "rlm_calls": [call],
                        "final_answer": f"block answer{h}",
                    },
                }
            ],
            "final_answer": [f"variable{h}", f"value{h}"],
            "iteration_time": 1.0,
            "root_call": {**call, "root_model": f"own model{h}"},
        },
        {
            "type": "iteration",
            "iteration": 2,
            "prompt": [],
            "response": f"plain{h}",
            "code_blocks": [],
            "final_answer": f"answer{h}",
        },
    ]
    path = directory / f"trace\x1b[2J\x1b]8;;x\x07{chr(0x9B)}\u202e.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n", "utf-8")
    return path


def _shown_safely(text: str, where: str, *, answer_lines: bool = False) -> None:
    for ch in text:
        assert ch == "\n" or ch.isprintable(), f"{where}: raw {ch!r} in {text!r}"
    if not answer_lines:  # --final prints the answer's own lines, each escaped, as it is asked to
        assert "\n2026-01-01T00:00:00Z ERROR" not in text, f"{where}: a forged line starts a line"


@pytest.mark.parametrize("flags", [*VIEW_FLAGS, ["-s", "\x1b[2J"], ["--iter", "2", "--final"]])
def test_hostile_text_is_escaped_in_every_view_and_the_export(tmp_path, flags):
    path = _hostile_file(tmp_path)
    export = tmp_path / "out\x1b[2J.md"
    argv = ["view", str(path), *[str(export) if f == "EXPORT" else f for f in flags]]
    with bounded():
        status, out, err = run_cli(argv)
    assert status == 0, err
    _shown_safely(out, " ".join(flags), answer_lines="--final" in flags)
    _shown_safely(err, "stderr")
    if "EXPORT" in flags:
        # (fenced blocks keep the lines of the code and output they hold)
        _shown_safely(export.read_text("utf-8"), "markdown", answer_lines=True)
    if not flags:
        assert "\\x1b[2J" in out and "\\ud800" in out  # shown, escaped
