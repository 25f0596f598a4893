"""``llmlog.traceinput``: compressed trace files recognised by their first bytes, decompressed to a
private bounded copy, and never taken whole when they are truncated or damaged."""

from __future__ import annotations

import gzip
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmlog import traceinput
from llmlog.testing import fed_pipe
from llmlog.traceinput import (
    TraceInputError,
    compression_of,
    decompressed_copy,
    first_line,
    recognising_format,
    shown_as,
    spooled,
)

try:
    import zstandard
except ImportError:  # the core's own environment: zstd is a plugin's extra
    zstandard = None

KINDS = ["gzip", pytest.param("zstd", marks=pytest.mark.skipif(zstandard is None, reason="zstd"))]

LINES = b"".join(b'{"n": %d, "text": "line %d"}\n' % (i, i) for i in range(20_000))


def compress(kind: str, data: bytes, parts: int = 1) -> bytes:
    """``data`` in ``parts`` gzip members or zstd frames, as appending writers make them."""
    return b"".join(packed for _, packed in compressed_parts(kind, data, parts))


def compressed_parts(kind: str, data: bytes, parts: int) -> list[tuple[bytes, bytes]]:
    """Each part of ``data`` and its member or frame."""
    step = max(1, len(data) // parts)
    pieces = [data[i : i + step] for i in range(0, len(data), step)] or [b""]
    if kind == "gzip":
        return [(p, gzip.compress(p, mtime=0)) for p in pieces]
    assert zstandard is not None
    return [(p, zstandard.ZstdCompressor().compress(p)) for p in pieces]


@pytest.mark.parametrize("kind", KINDS)
def test_a_compressed_file_is_known_by_its_first_bytes_not_its_name(kind, tmp_path):
    hidden = tmp_path / "trace.jsonl"  # no .gz or .zst: the bytes say it
    hidden.write_bytes(compress(kind, LINES))
    assert compression_of(hidden) == kind
    plain = tmp_path / "plain.gz"
    plain.write_bytes(LINES)
    assert compression_of(plain) is None
    with pytest.raises(TraceInputError, match=r"missing\.gz: cannot read: "):
        compression_of(tmp_path / "missing.gz")


@pytest.mark.parametrize("kind", KINDS)
def test_the_first_line_needs_only_the_start_of_the_file(kind, tmp_path):
    path = tmp_path / "t.jsonl.gz"
    whole = compress(kind, LINES)
    path.write_bytes(whole[: len(whole) // 2])  # truncated: the first line is still there
    assert first_line(path, kind) == b'{"n": 0, "text": "line 0"}\n'
    path.write_bytes(compress(kind, b"x" * (2 << 20)))  # no line end: at most the limit
    assert len(first_line(path, kind)) == traceinput.FIRST_LINE_LIMIT
    path.write_bytes(compress(kind, b""))
    assert first_line(path, kind) == b""


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("parts", [1, 3])
def test_the_copy_is_the_whole_content_private_named_and_removed(kind, parts, tmp_path):
    path = tmp_path / "run.jsonl.gz"
    path.write_bytes(compress(kind, LINES, parts))
    with decompressed_copy(path, kind) as copy:
        assert copy.read_bytes() == LINES
        assert copy.name == "run.jsonl"
        assert copy.parent.stat().st_mode & 0o777 == 0o700
        assert shown_as(f"{copy}:3: bad", path, copy) == f"{path}:3: bad"
    assert not copy.parent.exists()


@pytest.mark.parametrize("kind", KINDS)
def test_a_truncated_file_is_an_error_or_with_damage_its_intact_start(kind, tmp_path):
    path = tmp_path / "cut.jsonl.gz"
    whole = compress(kind, LINES)
    path.write_bytes(whole[: len(whole) * 2 // 3])
    with (
        pytest.raises(TraceInputError, match=rf"^{path}: cannot decompress: "),
        decompressed_copy(path, kind),
    ):
        pass
    damage: list[str] = []
    with decompressed_copy(path, kind, damage=damage) as copy:
        start = copy.read_bytes()
    assert LINES.startswith(start) and len(start) > len(LINES) // 3
    assert len(damage) == 1
    assert damage[0].startswith(f"{path}: cannot decompress: ")
    assert damage[0].endswith(f"; read the {len(start)} bytes before it")


@pytest.mark.parametrize("kind", KINDS)
def test_past_the_size_bound_is_an_error_and_the_copy_is_gone(kind, tmp_path, monkeypatch):
    monkeypatch.setattr(traceinput, "MAX_DECOMPRESSED", 1 << 20)
    path = tmp_path / "bomb.gz"
    path.write_bytes(compress(kind, b"\n" * (3 << 20)))
    seen: list[Path] = []
    with (  # past the bound is no damage: always an error
        pytest.raises(TraceInputError, match=r"decompresses to more than 1048576 bytes"),
        decompressed_copy(path, kind, damage=[]) as copy,
    ):
        seen.append(copy)
    assert seen == [] and not list(Path(tempfile.gettempdir()).glob("llmlog-*/bomb"))


def test_zstd_without_zstandard_says_what_to_install(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_zstandard(name, *args, **kwargs):
        if name == "zstandard":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_zstandard)
    path = tmp_path / "t.zst"
    path.write_bytes(b"\x28\xb5\x2f\xfd" + b"\0" * 20)
    with pytest.raises(TraceInputError, match=r"a zstd file; install zstandard"):
        first_line(path, "zstd")
    with (
        pytest.raises(TraceInputError, match=r"a zstd file; install zstandard"),
        decompressed_copy(path, "zstd"),
    ):
        pass


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=3000), cut=st.integers(0, 4000), flip=st.integers(0, 4000))
def test_any_cut_or_damage_gives_a_prefix_or_a_clear_error(kind, data, cut, flip, tmp_path_factory):
    """Whatever is done to a compressed file, the reader gives the content, a prefix of it (with
    damage noted), or a TraceInputError: never wrong bytes taken for whole, never another error."""
    parts = compressed_parts(kind, data, 2)
    blob = bytearray(b"".join(packed for _, packed in parts))
    # A cut between two members or frames leaves a whole, valid file of the first ones (`gzip -d`
    # and `zstd -d` read it so): the content it holds is all there is to check.
    whole_at = {0: b""}
    for plain, packed in parts:
        end = max(whole_at)
        whole_at[end + len(packed)] = whole_at[end] + plain
    del blob[max(4, cut) :]  # a cut past the end cuts nothing; the magic stays
    damaged = flip < len(blob) and flip >= 4
    if damaged:
        blob[flip] ^= 0x55
    path = tmp_path_factory.mktemp("fuzz") / "t.gz"
    path.write_bytes(bytes(blob))
    problems: list[str] = []
    try:
        first_line(path, kind)
    except TraceInputError as exc:
        problems.append(str(exc))
    damage: list[str] = []
    got = None
    try:
        with decompressed_copy(path, kind, damage=damage) as copy:
            got = copy.read_bytes()
    except TraceInputError as exc:
        problems.append(str(exc))
    assert all(p.startswith(f"{path}: ") for p in [*problems, *damage])
    if got is None:
        return
    if not damaged:  # (a flipped byte inside a block can decompress to other bytes)
        assert data.startswith(got)
        assert damage or got == whole_at.get(len(blob), data)  # a shorter copy says so


def test_gzip_with_a_bad_header_is_content_not_an_io_error(tmp_path):
    path = tmp_path / "bad.gz"
    path.write_bytes(b"\x1f\x8bgarbage\n")
    with pytest.raises(TraceInputError, match=r"bad\.gz: cannot decompress: "):
        first_line(path, "gzip")


class _Support:
    def __init__(self, detect):
        self.detect = detect


class _Format:
    def __init__(self, detect):
        self.support = _Support(detect)


def test_the_first_format_by_name_that_recognises_the_line_is_chosen():
    def boom(first: bytes) -> bool:
        raise RuntimeError("a plugin's detect() failing")

    formats = {
        "b": _Format(lambda first: first.startswith(b"{")),
        "a": _Format(boom),
        "c": _Format(lambda first: True),
        "n": _Format(None),
    }
    found = recognising_format(b'{"x": 1}\n', formats)
    assert found is not None and found[0] == "b"
    found = recognising_format(b"[1]\n", formats)
    assert found is not None and found[0] == "c"
    assert recognising_format(b"x", {"a": _Format(boom)}) is None


def test_a_pipe_is_read_once_into_a_private_copy_a_file_is_itself(tmp_path, monkeypatch):
    fifo = fed_pipe(tmp_path / "pipe", LINES)
    with spooled(fifo) as copy:
        assert copy != fifo and copy.read_bytes() == LINES  # the first line too
        assert copy.parent.stat().st_mode & 0o777 == 0o700
        assert first_line(copy) == first_line_of(LINES)
    assert not copy.parent.exists()
    plain = tmp_path / "plain.jsonl"
    plain.write_bytes(LINES)
    for path in (plain, tmp_path, tmp_path / "missing", Path(os.devnull)):
        with spooled(path) as same:
            assert same is path
    monkeypatch.setattr(traceinput, "MAX_DECOMPRESSED", 1000)
    fed_pipe(fifo, LINES)
    with (
        pytest.raises(TraceInputError, match=rf"^{fifo}: gives more than 1000 bytes"),
        spooled(fifo),
    ):
        pass


def first_line_of(data: bytes) -> bytes:
    return data.split(b"\n", 1)[0] + b"\n"


@pytest.mark.skipif(zstandard is None, reason="zstd")
def test_damage_after_whole_zstd_frames_keeps_them(tmp_path):
    """Garbage after complete frames (read in the same step as they are) loses none of them."""
    for data in (LINES, b'{"n": 1}\n'):
        path = tmp_path / "tail.zst"
        path.write_bytes(compress("zstd", data) + b"garbage\n")
        damage: list[str] = []
        with decompressed_copy(path, "zstd", damage=damage) as copy:
            assert copy.read_bytes() == data
        assert len(damage) == 1 and damage[0].endswith(f"; read the {len(data)} bytes before it")
        with (
            pytest.raises(TraceInputError, match="cannot decompress"),
            decompressed_copy(path, "zstd"),
        ):
            pass


def test_a_full_disk_while_copying_is_named_and_leaves_nothing(tmp_path):
    """The private copy hits the file-size limit (as a full disk would stop it, EFBIG for
    ENOSPC): the error names the file given and where the copy was going; no copy is left."""
    import subprocess
    import sys

    path = tmp_path / "big.jsonl.gz"
    path.write_bytes(compress("gzip", LINES))
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    program = f"""
import resource, signal, sys
from pathlib import Path
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))
from llmlog.traceinput import TraceInputError, decompressed_copy
try:
    with decompressed_copy(Path({str(path)!r}), "gzip", damage=[]):
        print("copied")
except TraceInputError as exc:
    print(exc)
"""
    done = subprocess.run(
        [sys.executable, "-c", program],
        capture_output=True,
        text=True,
        env={**os.environ, "TMPDIR": str(scratch)},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{path}: cannot decompress into {scratch}/llmlog-")
    assert "File too large" in done.stdout
    assert list(scratch.iterdir()) == []
