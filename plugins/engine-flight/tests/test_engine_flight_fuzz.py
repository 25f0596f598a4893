"""Fuzzing the flight-snapshot reader and ``llmlog flight view|convert|list``.

Generated and mutated snapshots (memory and zstd; JSON values of every type put where the reader
expects others, hostile text, byte flips, inserts, cuts and duplicated spans, corrupted zstd
frames) go through the reader, strict and lenient, and through the commands run in-process
(``llmlog.testing.run_cli``). The assertions: no exception but :class:`SnapshotError` from the reader,
exit status 0 or 1 and no traceback from the commands, nothing non-printable in what they print,
valid JSON from ``convert``, no hang (an interval timer), and, in subprocesses of the real
``llmlog`` command, bounded memory (peak RSS), the 1 GiB zstd bomb included.

The default run takes a few seconds; ``-m slow`` runs a longer campaign of the same properties.
"""

from __future__ import annotations

import contextlib
import io
import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import llmlog
from llmlog.ext import plugin_host
from llmlog.testing import cli_parser, run_cli
from llmlog_engine_flight.snapshot import (
    SnapshotError,
    read_header,
    read_snapshot,
    recorder_backends,
)

CORPUS = Path(__file__).parent / "flight_corpus"
VALID = (CORPUS / "valid.jsonl").read_bytes()
VALID_ZSTD = (CORPUS / "valid.jsonl.zst").read_bytes()
LLMLOG = str(Path(sys.executable).with_name("llmlog"))
#: Peak RSS allowed to one ``llmlog flight`` command (the bomb took 2.1 GB before the fix).
MAX_RSS_MIB = 300

FUZZ = settings(
    max_examples=60,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
CAMPAIGN = settings(
    max_examples=1000,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


class Hang(BaseException):
    """Raised by the hang guard; a BaseException so that no reader's handler takes it."""


@contextlib.contextmanager
def hang_guard(seconds: float = 30.0) -> Iterator[None]:
    """Fail, rather than wait for ever, if the block runs longer than ``seconds``."""

    def expired(signum: int, frame: object) -> None:
        raise Hang(f"no answer in {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def printable(text: str) -> bool:
    return all(c.isprintable() or c == "\n" for c in text)


@pytest.fixture
def configured() -> None:
    """A configuration in force, so the commands find the plugins without loading them again
    (70 ms a time)."""
    llmlog.configure({"outputs": {}})


def cli(*args: object) -> tuple[int, str, str]:
    """``llmlog flight ARGS`` in-process: the command line's own parser and commands, with the
    configured plugin host (``main`` builds a new one at every call)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        parsed = cli_parser(plugin_host()).parse_args(["flight", *map(str, args)])
        status = parsed.run(parsed)
    return status, out.getvalue(), err.getvalue()


_BACKENDS = recorder_backends()


def check_everything(path: Path) -> None:
    """The reader and the three commands on ``path``: the properties of the module docstring."""
    with hang_guard():
        for lenient in (False, True):
            try:
                snapshot = read_snapshot(path, lenient=lenient, backends=_BACKENDS)
            except SnapshotError as exc:
                message = str(exc)
            else:
                assert all(type(e["ts"]) is int and type(e["kind"]) is str for e in snapshot.events)
                message = str(path)
            assert message.startswith(str(path))  # every message names the file
        try:
            read_header(path, backends=_BACKENDS)
        except SnapshotError:
            pass
        target = path.with_name("converted.json")
        for args in (
            ("view", path, "--last", "0"),
            ("view", "--lenient", path, "--grep", "a", "--level", "info"),
            ("convert", path, "-o", target),
            ("convert", "--lenient", path, "-o", target),
            ("list", path.parent),
        ):
            target.unlink(missing_ok=True)
            status, out, err = cli(*args)
            assert status in (0, 1), (args, status, err)
            assert printable(out) and printable(err), args
            if status == 1:
                assert err.startswith("llmlog: ") and err.count("\n") == 1, err
            elif args[0] == "convert":
                text = target.read_bytes().decode("utf-8")
                assert printable(text)
                assert isinstance(json.loads(text)["traceEvents"], list)


# -- strategies -----------------------------------------------------------------------------------

#: Text with what breaks readers and terminals: controls, C1, bidi, zero-width, tags, surrogates.
TEXT = st.text(
    st.one_of(
        st.characters(codec="utf-8"),
        st.sampled_from(["\x1b", "\x9b", "\x7f", "\u202e", "\u200b", "\U000e0041", "\n", "\x00"]),
        st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),
    ),
    max_size=40,
)
NUMBERS = st.one_of(
    st.integers(),
    st.integers(min_value=2**62, max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0, -1, 2**63 - 1, 2**63, 1e300, -0.0]),
)
JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), NUMBERS, TEXT),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.one_of(
                TEXT,
                st.sampled_from(
                    [
                        "ts",
                        "kind",
                        "tid",
                        "data",
                        "usage",
                        "window",
                        "threads",
                        "dur",
                        "name",
                        "event",
                    ]
                ),
            ),
            inner,
            max_size=4,
        ),
    ),
    max_leaves=12,
)

_LINES = [json.loads(line) for line in VALID.splitlines()]


def _encode(value: object, raw_utf8: bool) -> bytes:
    if not raw_utf8:
        return json.dumps(value).encode()  # lone surrogates as \u escapes
    # Raw UTF-8, and a lone surrogate as the bytes a careless writer puts there.
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


@st.composite
def structured(draw: st.DrawFn) -> tuple[bytes, bool]:
    """The valid snapshot's lines with values replaced by any JSON (keys the readers use first),
    lines replaced or added; as memory or zstd bytes."""
    lines = [json.loads(json.dumps(line)) for line in _LINES]
    for _ in range(draw(st.integers(1, 4))):
        index = draw(st.integers(0, len(lines) - 1))
        target = lines[index]
        what = draw(st.sampled_from(["value", "nested", "line", "add", "drop"]))
        if what == "line":
            lines[index] = draw(JSON)
        elif what == "add":
            lines.insert(index + 1, draw(JSON))
        elif isinstance(target, dict) and target:
            key = draw(st.sampled_from(sorted(target)))
            if what == "drop":
                del target[key]
            elif what == "nested" and isinstance(target[key], dict) and target[key]:
                inner = target[key]
                inner[draw(st.sampled_from(sorted(inner)))] = draw(JSON)
            else:
                target[key] = draw(JSON)
    raw_utf8 = draw(st.booleans())
    encoded = [_encode(line, raw_utf8) + b"\n" for line in lines]
    zstd = draw(st.booleans())
    if not zstd:
        return b"".join(encoded), False
    compressor = zstandard.ZstdCompressor(level=1, write_checksum=draw(st.booleans()))
    frames = [compressor.compress(encoded[0])]
    step = draw(st.integers(1, 4))
    for i in range(1, len(encoded), step):
        frames.append(compressor.compress(b"".join(encoded[i : i + step])))
    return b"".join(frames), True


@st.composite
def mutated(draw: st.DrawFn) -> tuple[bytes, bool]:
    """A valid memory or zstd snapshot with bytes flipped, inserted, deleted, cut or repeated."""
    zstd = draw(st.booleans())
    data = bytearray(VALID_ZSTD if zstd else VALID)
    for _ in range(draw(st.integers(1, 6))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        what = draw(st.sampled_from(["flip", "set", "insert", "delete", "cut", "repeat"]))
        if what == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif what == "set":
            data[at] = draw(st.integers(0, 255))
        elif what == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif what == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        elif what == "cut":
            del data[at:]
        else:
            data[at:at] = data[at : at + draw(st.integers(1, 64))]
    return bytes(data), zstd


def _write(directory: Path, data: bytes, zstd: bool) -> Path:
    for old in directory.iterdir():
        old.unlink()
    path = directory / ("fuzzed.jsonl.zst" if zstd else "fuzzed.jsonl")
    path.write_bytes(data)
    return path


# -- the default, bounded run --------------------------------------------------------------------


@FUZZ
@given(case=structured())
@pytest.mark.slow
def test_generated_snapshots(case: tuple[bytes, bool], tmp_path: Path, configured: None) -> None:
    check_everything(_write(tmp_path, *case))


@FUZZ
@given(case=mutated())
def test_byte_mutated_snapshots(case: tuple[bytes, bool], tmp_path: Path, configured: None) -> None:
    check_everything(_write(tmp_path, *case))


@pytest.mark.slow
def test_the_corpus_through_main(tmp_path: Path) -> None:
    # llmlog.cli.main itself, as the command runs it.
    for source in sorted(CORPUS.glob("*.json*")):
        path = _write(tmp_path, source.read_bytes(), source.name.endswith(".zst"))
        for args in (
            ["view", path],
            ["convert", path, "-o", tmp_path / "x.json"],
            ["list", tmp_path],
        ):
            out, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), hang_guard():
                status = run_cli(["flight", *map(str, args)])
            assert status in (0, 1) and printable(out.getvalue()) and printable(err.getvalue())


# -- the real command, memory measured -----------------------------------------------------------


def zstd_bomb(path: Path, header: bool) -> Path:
    """About 50 KiB of zstd that decompresses to 1 GiB with no newline (1,024 frames of 1 MiB of
    ``a``), after a valid header line if ``header``."""
    compressor = zstandard.ZstdCompressor(level=19)
    frame = compressor.compress(b"a" * (1 << 20))
    with path.open("wb") as fh:
        if header:
            fh.write(compressor.compress(VALID.split(b"\n", 1)[0] + b"\n"))
        for _ in range(1024):
            fh.write(frame)
    return path


def peak_rss(*args: object) -> tuple[int, str, int]:
    """Run ``llmlog flight ARGS`` in a child process: (exit status, stderr, peak RSS in MiB)."""
    measure = (
        "import resource, subprocess, sys\n"
        "done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,"
        " timeout=120)\n"
        "sys.stderr.buffer.write(done.stderr)\n"
        "print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", measure, LLMLOG, "flight", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=180,
    )
    status, kib = map(int, done.stdout.split())
    return status, done.stderr, kib // 1024


@pytest.mark.slow
def test_a_zstd_bomb_is_read_in_bounded_memory_even_by_flight_list(tmp_path: Path) -> None:
    bombs = tmp_path / "bombs"
    bombs.mkdir()
    bare = zstd_bomb(bombs / "bare.jsonl.zst", header=False)
    headed = zstd_bomb(bombs / "headed.jsonl.zst", header=True)
    assert bare.stat().st_size < 64 << 10
    status, err, mib = peak_rss("list", bombs)
    assert (status, err) == (0, "") and mib < MAX_RSS_MIB, mib
    status, err, mib = peak_rss("view", bare)
    assert status == 1 and "bare.jsonl.zst:1: expected the header line, found a line of more" in err
    assert mib < MAX_RSS_MIB, mib
    for command in ("view", "convert"):
        status, err, mib = peak_rss(
            command, headed, *(["-o", tmp_path / "x.json"] if command == "convert" else [])
        )
        assert (status, err) == (0, "") and mib < MAX_RSS_MIB, (command, mib)
    snap = read_snapshot(headed)  # the one long line is skipped and counted
    assert snap.skipped == 1 and "headed.jsonl.zst:2: a line of more than" in snap.problems[0]


@pytest.mark.slow
def test_the_real_command_on_mutated_snapshots_in_bounded_memory(tmp_path: Path) -> None:
    import random

    rng = random.Random(14)
    for i in range(2):
        data = bytearray(VALID_ZSTD if i % 2 else VALID)
        for _ in range(3):
            data[rng.randrange(len(data))] = rng.randrange(256)
        path = tmp_path / f"m{i}.jsonl{'.zst' if i % 2 else ''}"
        path.write_bytes(bytes(data))
        for command in ("view", "convert"):
            status, err, mib = peak_rss(command, path, "--lenient")
            assert status in (0, 1) and "Traceback" not in err and mib < MAX_RSS_MIB
            assert printable(err)


# -- the longer campaign -------------------------------------------------------------------------


@pytest.mark.slow
@CAMPAIGN
@given(case=st.one_of(structured(), mutated()))
def test_campaign(case: tuple[bytes, bool], tmp_path: Path, configured: None) -> None:
    check_everything(_write(tmp_path, *case))
