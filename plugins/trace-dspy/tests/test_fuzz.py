"""A bounded fuzzer for the ``dspy`` reader, ``llmlog view`` (every flag) and ``llmlog convert``
(to both formats) on dspy files: generated events, byte-mutated real files, and real files with
one value replaced by a value of any JSON type.

The assertions are the ones that matter to a user: no traceback, an exit status of 0, 1 or 2, a
word on failure, no hang (a SIGALRM guard of tens of seconds per run), bounded memory (the
process's peak RSS may not grow by 512 MiB; the subprocess runs are limited to 1 GiB of address
space), nothing non-printable on the terminal, and nothing left behind by a failed conversion.
Each test is parametrized by the target of ``convert``: ``[dspy]`` runs every ``view`` flag and
the conversion to dspy, ``[rlm]`` the conversion to RLM (the rlm format's builder and viewer) and
the view of its result. Each takes a few seconds; ``-m slow`` runs the long campaign. Minimal
crashing inputs found so far are kept in ``corpus/`` and replayed by :func:`test_corpus`.
"""

from __future__ import annotations

import io
import json
import os
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmlog.ext import TokenUsage, TraceSession, ViewError, escape
from llmlog.testing import view_arguments
from llmlog_trace_dspy import DspyTraceWriter, read_trace
from llmlog_trace_dspy.format import TraceReadError
from llmlog_trace_dspy.view import _Watcher, detect, view

CORPUS = Path(__file__).with_name("corpus")
MEMORY_LIMIT = 512 << 20  # growth of the process's peak RSS; inputs are a few KiB
TS = "2026-08-20T10:15:02.5Z"

VIEW_FLAGS: list[dict[str, Any]] = [
    {"lenient": True},
    {"lenient": True, "errors": True},
    {"lenient": True, "search": "a"},
    {"lenient": True, "errors": True, "search": "x"},
    {"lenient": True, "compact": True},
    {"lenient": True, "final": True},
    {"errors": True},
    {"iter": 1},
]

HOSTILE = st.sampled_from(
    [
        "\x1b[2J",
        "\x1b]52;c;eA==\x07",
        "\x9b",
        "\x7f",
        "\u202e",
        "\u200b",
        "\U000e0041",
        "\ud800",
        "\n2026 INFO forged",
        "\x00",
        "é😀",
    ]
)
strings = (
    st.text(max_size=10) | HOSTILE | st.sampled_from(["start", "end", "a", "b", "aa", "bb", ""])
)
numbers = (
    st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([0, 1, 2**63, 10**30, 1e308, -1])
)
json_values = st.recursive(
    st.none() | st.booleans() | numbers | strings,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(strings, inner, max_size=4),
    max_leaves=12,
)
timestamps = st.builds(
    "{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}{}{}".format,
    st.integers(0, 9999) | st.sampled_from([0, 999, 1000, 1970, 9999]),
    st.integers(1, 12),
    st.integers(1, 28),
    st.integers(0, 23),
    st.integers(0, 59),
    st.integers(0, 59),
    st.sampled_from(["", ".5", ".123456789", ".000000001"]),
    st.sampled_from(["Z", "+23:59", "-23:59", "+02:00", "-00:00"]),
)
DATA_KEYS = [
    "event",
    "operation",
    "inputs",
    "outputs",
    "duration_ms",
    "error",
    "provider",
    "model",
    "prompt",
    "response",
    "latency_ms",
    "usage",
    "module_type",
    "module_name",
    "signature",
    "llm_calls",
    "total_tokens",
    "success",
    "iteration",
    "code",
    "stdout",
    "stderr",
    "locals",
    "sub_llm_calls",
    "tool_name",
    "input",
    "output",
    "error_type",
    "message",
    "recoverable",
    "start_time",
    "final_answer",
]
usage = st.fixed_dictionaries(
    {},
    optional={
        "prompt_tokens": json_values | numbers,
        "completion_tokens": json_values | numbers,
        "total_tokens": json_values | numbers,
        "cost": json_values | numbers,
    },
)
sub_call = st.fixed_dictionaries(
    {},
    optional={
        "prompt": json_values,
        "response": json_values,
        "model": json_values,
        "prompt_tokens": numbers | json_values,
        "completion_tokens": numbers | json_values,
        "execution_time": numbers | json_values,
        "latency_ms": numbers | json_values,
        "usage": usage | json_values,
        "cost": numbers | json_values,
    },
)
data_values = {
    "event": st.sampled_from(["start", "end"]) | json_values,
    "usage": usage | json_values,
    "sub_llm_calls": st.lists(sub_call | json_values, max_size=3) | json_values,
}
data = st.lists(st.sampled_from(DATA_KEYS), unique=True, max_size=8).flatmap(
    lambda keys: st.fixed_dictionaries({k: data_values.get(k, json_values) for k in keys})
)
ids = st.sampled_from(["a", "b", "c", "aa", "bb", ""]) | st.none() | json_values
record = (
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(
                ["session", "span", "llm_call", "module", "code_exec", "tool_call", "error"]
            ),
            "timestamp": st.just(TS),
            "trace_id": st.just("t"),
        },
        optional={"span_id": ids, "parent_id": ids, "data": data | json_values},
    )
    | st.fixed_dictionaries(
        {},
        optional={
            "type": json_values,
            "timestamp": json_values | st.just(TS),
            "trace_id": json_values,
            "span_id": ids,
            "data": data,
        },
    )
    | json_values
)

#: Examples per campaign test (``-m slow``); LLMLOG_FUZZ_EXAMPLES raises it for a long campaign.
CAMPAIGN_EXAMPLES = int(os.environ.get("LLMLOG_FUZZ_EXAMPLES", "200"))


def _unprintable(text: str) -> list[str]:
    return sorted({repr(ch) for ch in text if ch != "\n" and not ch.isprintable()})


class Runner:
    """Runs every command on one file and checks what a user would see: ``llmlog`` itself
    (``llmlog.testing.run_cli``) for detection, the plain tree, ``--stats`` and ``convert``, the viewer
    function it calls for the other flags (the same code, without the plugin discovery that
    costs each ``main()`` call 70 ms)."""

    def __init__(self, helpers: Any, work: Path) -> None:
        self.helpers = helpers
        self.work = work
        self.count = 0
        self.baseline = _max_rss()

    def _checked(self, args: Any, done: Any) -> Any:
        # Memory: the process's peak may not grow past the baseline by more than the limit (a
        # runaway, such as the parent-cycle bug's 22 MB/s, passes it before the hang guard fires).
        assert _max_rss() - self.baseline < MEMORY_LIMIT, (args, _max_rss() - self.baseline)
        assert done.status in (0, 1, 2), (args, done)
        assert "Traceback" not in done.err, (args, done.err)
        assert _unprintable(done.out + done.err) == [], (args, done.out, done.err)
        if done.status:
            assert done.err or done.out, (args, "failed without a word")
        return done

    def check(self, *args: str) -> Any:
        with self.helpers.hang_guard(30):
            done = self.helpers.run_main(*args)
        return self._checked(args, done)

    def view(self, path: Path, **flags: Any) -> Any:
        out = io.StringIO()
        err = ""
        with self.helpers.hang_guard(30):
            try:
                status = view(path, view_arguments(**flags), out)
            except ViewError as exc:
                status, err = 2, f"llmlog: {exc}\n"
            except TraceReadError as exc:  # what llmlog prints with status 1
                status, err = 1, f"llmlog: {escape(str(exc))}\n"
        if status == 1 and err:
            assert err.startswith(f"llmlog: {escape(str(path))}:"), err
        return self._checked(flags, self.helpers.Run(status, out.getvalue(), err))

    def all_commands(self, path: Path, to: str) -> None:
        """``to="dspy"``: every ``view`` flag, the reader, ``--watch``, ``convert --to dspy``;
        ``to="rlm"``: ``convert --to rlm`` and a view of what it wrote."""
        self.count += 1
        out_dir = self.work / f"out{self.count}"
        out_dir.mkdir()
        if to == "dspy":
            self.check("view", str(path))
            self.check("view", "--stats", "--lenient", str(path))
        first = path.read_bytes().split(b"\n", 1)[0]
        if to == "dspy" and detect(first):
            for flags in VIEW_FLAGS:
                self.view(path, **flags)
            self.view(path, export=str(out_dir / "x.md"))
            self._reader(path)
        for lenient in ([], ["--lenient"]):
            done = self.check("convert", str(path), "--to", to, "-o", str(out_dir), *lenient)
            written = [p for p in out_dir.iterdir() if p.name != "x.md"]
            if done.status:
                assert written == [], (to, written)  # nothing partial left behind
            for converted in written:
                if to == "dspy":  # every line written is one every reader takes
                    with self.helpers.hang_guard(30):
                        list(read_trace(converted))
                self.check("view", "--lenient", str(converted))
                converted.unlink()

    def _reader(self, path: Path) -> None:
        """The reader itself, and ``--watch``'s incremental reading."""
        skipped: list[str] = []
        with self.helpers.hang_guard(30):
            list(read_trace(path, skipped=skipped))
            assert all(m.startswith(f"{path}:") for m in skipped)
            if skipped:  # the strict reader stops at the first of them, with the same message
                with pytest.raises(TraceReadError) as caught:
                    list(read_trace(path))
                assert str(caught.value) == skipped[0]
            else:
                list(read_trace(path))
            out = io.StringIO()
            _Watcher(path, view_arguments(watch=True, search="a"), out).refresh()
            assert _unprintable(out.getvalue()) == []


def _max_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@pytest.fixture
def runner(tmp_path, helpers):
    return Runner(helpers, tmp_path)


def _write(path: Path, records: list[Any], ascii_only: bool) -> Path:
    text = "".join(json.dumps(r, ensure_ascii=ascii_only) + "\n" for r in records)
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    return path


def _fuzz_generated(runner: Runner, records: list[Any], ascii_only: bool, to: str) -> None:
    path = runner.work / f"gen{runner.count}.jsonl"
    session = {"type": "session", "timestamp": TS, "trace_id": "t", "data": {"start_time": TS}}
    runner.all_commands(_write(path, [session, *records], ascii_only), to)


TARGETS = pytest.mark.parametrize("to", ["dspy", "rlm"])


@TARGETS
@settings(
    max_examples=12,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(records=st.lists(record, min_size=1, max_size=12), ascii_only=st.booleans())
@pytest.mark.slow
def test_generated_events(runner, records, ascii_only, to):
    _fuzz_generated(runner, records, ascii_only, to)


@TARGETS
@pytest.mark.slow
@settings(
    max_examples=CAMPAIGN_EXAMPLES,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(records=st.lists(record, min_size=1, max_size=30), ascii_only=st.booleans())
def test_generated_events_campaign(runner, records, ascii_only, to):
    _fuzz_generated(runner, records, ascii_only, to)


def _seed_file(path: Path) -> bytes:
    """A real trace: every event type, nested spans, a code execution with sub-calls."""
    with TraceSession(DspyTraceWriter(path)) as s:
        s.emit_span_start("1000000000000001", None, "program", {"question": "2+2?"})
        s.emit_span_start("1000000000000002", "1000000000000001", "Predict:qa", {"q": "x"})
        s.emit_llm_call(
            "1000000000000002", "openai", "gpt", "2+2?", "4", TokenUsage(3, 1, cost=0.1), 9
        )
        s.emit_module(
            "1000000000000002", "Predict", "qa", "q -> a", {"q": "x"}, {"a": "4"}, 10, 1, 4, True
        )
        s.emit_span_end("1000000000000002", {"a": "4"}, None, 10)
        s.emit_span_start("1000000000000003", "1000000000000001", "execute", {"code": "print(1)"})
        s.emit_code_exec(
            "1000000000000003",
            1,
            "print(1)",
            "1\n",
            "warn",
            {"x": [1, {"y": 2}]},
            4,
            [
                {
                    "prompt": "p",
                    "response": "r",
                    "prompt_tokens": 1,
                    "completion_tokens": 2,
                    "execution_time": 0.5,
                }
            ],
        )
        s.emit_span_end("1000000000000003", None, None, 5)
        s.emit_tool_call("1000000000000001", "search", {"q": "x"}, ["r"], 3, False, "timeout")
        s.emit_error("1000000000000001", "TimeoutError", "search timed out", True)
        s.emit_span_end("1000000000000001", {"answer": "4"}, "boom", 20)
    return path.read_bytes()


MUTATIONS = st.lists(
    st.tuples(
        st.sampled_from(["flip", "insert", "delete", "duplicate", "truncate", "swap-lines"]),
        st.integers(0, 10**6),
        st.integers(1, 64),
        st.binary(min_size=1, max_size=8)
        | st.sampled_from(
            [
                b"[",
                b"]",
                b"{",
                b"}",
                b'"',
                b",",
                b":",
                b"\n",
                b"\\u",
                b"\xff",
                b"-1e999",
                b"null",
                b"[[",
                b"\\ud800",
            ]
        ),
    ),
    min_size=1,
    max_size=6,
)


def _mutate(seed: bytes, mutations: list[tuple[str, int, int, bytes]]) -> bytes:
    data = bytearray(seed)
    for op, where, size, blob in mutations:
        at = where % (len(data) + 1)
        if op == "flip" and data:
            data[at % len(data)] ^= 1 << (size % 8)
        elif op == "insert":
            data[at:at] = blob
        elif op == "delete":
            del data[at : at + size]
        elif op == "duplicate":
            data[at:at] = data[at : at + size * 8]
        elif op == "truncate":
            del data[at:]
        elif op == "swap-lines":
            lines = bytes(data).split(b"\n")
            i, j = where % len(lines), (where + size) % len(lines)
            lines[i], lines[j] = lines[j], lines[i]
            data = bytearray(b"\n".join(lines))
    return bytes(data)


@pytest.fixture
def seed(tmp_path) -> bytes:
    return _seed_file(tmp_path / "seed.jsonl")


@TARGETS
@settings(
    max_examples=12,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(mutations=MUTATIONS)
@pytest.mark.slow
def test_byte_mutated_files(runner, seed, mutations, to):
    path = runner.work / f"mut{runner.count}.jsonl"
    path.write_bytes(_mutate(seed, mutations))
    runner.all_commands(path, to)


@TARGETS
@pytest.mark.slow
@settings(
    max_examples=CAMPAIGN_EXAMPLES,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(mutations=MUTATIONS)
def test_byte_mutated_files_campaign(runner, seed, mutations, to):
    path = runner.work / f"mut{runner.count}.jsonl"
    path.write_bytes(_mutate(seed, mutations))
    runner.all_commands(path, to)


@TARGETS
@settings(
    max_examples=12,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(line=st.integers(0, 20), path_choice=st.integers(0, 10**6), value=json_values)
@pytest.mark.slow
def test_a_value_replaced_anywhere_in_a_real_file(runner, seed, line, path_choice, value, to):
    """Structure-aware: one value of a real line (envelope or deep in ``data``) replaced by a
    value of any JSON type."""
    lines = seed.decode().splitlines()
    record = json.loads(lines[line % len(lines)])
    containers = [record]
    stack = [record]
    while stack:
        item = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        for child in children:
            if isinstance(child, dict | list) and child:
                containers.append(child)
                stack.append(child)
    target = containers[path_choice % len(containers)]
    if isinstance(target, dict):
        key = list(target)[path_choice % len(target)]
        target[key] = value
    else:
        target[path_choice % len(target)] = value
    lines[line % len(lines)] = json.dumps(record)
    path = runner.work / f"val{runner.count}.jsonl"
    path.write_bytes(("\n".join(lines) + "\n").encode("utf-8", "surrogatepass"))
    runner.all_commands(path, to)


def _corpus() -> list[Path]:
    return sorted(CORPUS.glob("*.jsonl"))


def _generated_corpus(work: Path) -> list[Path]:
    """Corpus cases too big to keep in the repository: a 10,000-deep parent chain, ``locals``
    and outputs nested 1,000 deep (within every JSON reader's limit: orjson's is 1,024)."""
    deep = work / "deep-chain.jsonl"
    records: list[Any] = [{"type": "session", "timestamp": TS, "trace_id": "t"}]
    records += [
        {
            "type": "span",
            "timestamp": TS,
            "trace_id": "t",
            "span_id": f"s{i}",
            **({"parent_id": f"s{i - 1}"} if i else {}),
            "data": {"event": "start", "operation": "op"},
        }
        for i in range(10_000)
    ]
    nested = "[" * 1000 + '"bottom"' + "]" * 1000  # Python's json encoder would recurse
    envelope = f'"timestamp":"{TS}","trace_id":"t","span_id"'
    _write(deep, records, True)
    with deep.open("a") as fh:
        fh.write(f'{{"type":"code_exec",{envelope}:"s9999","data":{{"locals":{nested}}}}}\n')
        fh.write(f'{{"type":"span",{envelope}:"s0","data":{{"event":"end","outputs":{nested}}}}}\n')
    return [deep]


@TARGETS
@pytest.mark.slow
def test_corpus(runner, to):
    """Every minimal case found so far, through every command."""
    cases = _corpus()
    assert len(cases) >= 8
    for path in [*cases, *_generated_corpus(runner.work)]:
        runner.all_commands(path, to)


def _limited() -> None:  # pragma: no cover - runs in the child
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


@pytest.mark.parametrize(
    "case",
    [
        "parent-cycle.jsonl",
        "type-list-first-line.jsonl",
        "duration-exception.jsonl",
        "lone-surrogate-escape.jsonl",
        "deep-chain.jsonl",
    ],
)
@TARGETS
@pytest.mark.slow
def test_corpus_through_the_installed_command(tmp_path, case, to):
    """A few runs of the real ``llmlog`` executable, memory-limited to 1 GiB and given a minute:
    a hang or a runaway allocation fails here as it would for a user."""
    path = CORPUS / case if case != "deep-chain.jsonl" else _generated_corpus(tmp_path)[0]
    command = str(Path(sys.executable).with_name("llmlog"))
    views = [["view", "--no-color"], ["view", "--stats"], ["view", "--errors", "--no-color"]]
    for args in [*(views if to == "dspy" else []), ["convert", "--to", to, "-o", str(tmp_path)]]:
        done = subprocess.run(
            [command, *args, str(path)],
            capture_output=True,
            text=True,
            errors="surrogateescape",
            timeout=60,
            preexec_fn=_limited,
            env={**os.environ, "PYTHONUTF8": "1"},
        )
        assert done.returncode in (0, 1, 2), (args, done.stderr)
        assert "Traceback" not in done.stderr and "MemoryError" not in done.stderr, (
            args,
            done.stderr,
        )
