"""``llmlog view`` and ``llmlog convert`` (default plugins) on files of the in-test trace formats,
through the real CLI: ``llmlog.cli.main([...])`` and, for ``--watch``, ``python -m llmlog.cli``."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import llmlog
from llmlog import TokenUsage
from llmlog.cli import main
from llmlog.registry import Component, ComponentKind, TraceFormatSupport
from llmlog.testing import fed_pipe
from llmlog.tracing import new_trace_session, record_llm_call, span
from llmlog.viewing import (
    ViewError,
    add_view_flags,
    export_target,
    follow,
    paint_for,
    view_arguments,
)


@pytest.fixture
def trace(trace_formats, tmp_path) -> Path:
    """A coretest file: a session, a span with an LLM call, a failing span."""
    llmlog.configure({"outputs": {}}, plugins=[("coretest", trace_formats.plugin)], autoload=False)
    with new_trace_session(tmp_path / "run.jsonl", format="coretest"):
        with span("answer", inputs={"q": "what is 2+2?"}):
            record_llm_call(
                model="m", prompt="2+2?", response="4", usage=TokenUsage(3, 1, cost=0.5)
            )
        with pytest.raises(ValueError), span("lookup"):
            raise ValueError("not found\x1b[2J")
    llmlog.shutdown()
    return tmp_path / "run.jsonl"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_view_shows_the_file_with_each_common_flag(trace, capsys):
    status, out, err = run(capsys, "view", str(trace))
    assert status == 0 and err == ""
    assert out.splitlines()[0].startswith("session -")
    assert "what is 2+2?" in out and "\x1b" not in out and "\\u001b[2J" in out
    status, out, _ = run(capsys, "view", "--stats", "--no-color", str(trace))
    assert status == 0 and out.splitlines()[-1] == "1 LLM call, 4 tokens, $0.5"
    status, out, _ = run(capsys, "view", "--errors", str(trace))
    assert [line.split()[0] for line in out.splitlines()] == ["error", "span"]
    status, out, _ = run(capsys, "view", "-s", "2+2", "-c", str(trace))
    # Only what mentions the text (the span's inputs, the call's prompt), compact: no data.
    assert [line.split()[0] for line in out.splitlines()] == ["span", "llm_call"]
    assert all(len(line.split()) == 2 for line in out.splitlines())
    status, out, _ = run(capsys, "view", "--coretest-type", "llm_call", str(trace))
    assert len(out.splitlines()) == 1 and out.startswith("llm_call ")
    status, out, _ = run(capsys, "view", "--coretest-last", "-c", str(trace))
    assert out.startswith("span ") and len(out.splitlines()) == 1


def test_view_help_names_the_format_of_each_own_flag(trace_formats, capsys):
    with pytest.raises(SystemExit):
        main(["view", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "only events of this type (coretest)" in out
    assert "only the last event (coretest, coretest-alt)" in out


def test_view_export_writes_private_markdown_and_refuses_other_suffixes(trace, capsys, tmp_path):
    target = tmp_path / "exports" / "run.md"
    status, out, _ = run(capsys, "view", "--export", str(target), str(trace))
    assert status == 0 and out.strip() == f"wrote {target}"
    assert target.read_text().startswith("# trace\n\n- session")
    assert target.stat().st_mode & 0o777 == 0o600
    status, _, err = run(capsys, "view", "--export", "run.html", str(trace))
    assert status == 2
    assert err == "llmlog: --export writes Markdown; give a file ending in .md, not 'run.html'\n"


def test_view_of_files_that_are_not_traces(trace_formats, capsys, tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"\n")
    binary = tmp_path / "bin.jsonl"
    binary.write_bytes(b"\x00\x01\n")
    other = tmp_path / "other.jsonl"
    other.write_text('{"hello": 1}\n')
    cases = {
        empty: f"{empty}:1: empty file",
        binary: f"{binary}:1: a binary file, not a trace",
        other: f"{other}:1: not a trace in any installed format (",
        tmp_path / "missing.jsonl": f"{tmp_path / 'missing.jsonl'}: cannot read: ",
    }
    for path, message in cases.items():
        status, out, err = run(capsys, "view", str(path))
        assert (status, out) == (1, ""), path
        assert err.startswith(f"llmlog: {message}"), err
    _, _, err = run(capsys, "view", str(other))
    assert "coretest, coretest-alt" in err


def test_view_of_a_bad_line_names_file_and_line_or_skips_it_with_lenient(trace, capsys):
    with trace.open("ab") as fh:
        fh.write(b"{not json\n")
    lines = len(trace.read_bytes().splitlines())
    status, out, err = run(capsys, "view", str(trace))
    assert (status, out) == (1, "")
    assert err == f"llmlog: {trace}:{lines}: not a coretest event (JSONDecodeError)\n"
    status, out, err = run(capsys, "view", "--lenient", str(trace))
    assert status == 0 and out.splitlines()[-1] == "1 unreadable line skipped"


def test_a_format_with_no_viewer_is_said_so(trace_formats, capsys, tmp_path):
    llmlog.configure({"outputs": {}}, plugins=[("coretest", trace_formats.plugin)], autoload=False)
    session = new_trace_session(tmp_path / "alt.jsonl", format="coretest-alt")
    session.close()
    status, _, err = run(capsys, "view", str(tmp_path / "alt.jsonl"))
    assert status == 1
    assert err == f"llmlog: {tmp_path / 'alt.jsonl'}: the format cannot be shown\n"


def test_convert_rewrites_a_file_in_another_format(trace, trace_formats, capsys, tmp_path):
    status, out, err = run(capsys, "convert", str(trace), "--to", "coretest-alt")
    assert status == 0 and err == ""
    written = tmp_path / "coretest-alt-0.jsonl"
    assert out == f"{written}: 7 events from {trace} (coretest) written as coretest-alt\n"
    assert written.stat().st_mode & 0o777 == 0o600
    original = list(trace_formats.read(trace))
    assert list(trace_formats.read_alt(written)) == original
    # Nothing left behind: no temporary directory beside the files.
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    # And back, to a named file: refused when it exists, replaced with --force.
    target = tmp_path / "back.jsonl"
    assert run(capsys, "convert", str(written), "--to", "coretest", "-o", str(target))[0] == 0
    assert list(trace_formats.read(target)) == original
    status, _, err = run(capsys, "convert", str(written), "--to", "coretest", "-o", str(target))
    assert status == 1 and err == f"llmlog: {target} exists; pass --force to replace it\n"
    target.write_text("old")
    status, _, _ = run(
        capsys, "convert", str(written), "--to", "coretest", "-o", str(target), "--force"
    )
    assert status == 0 and list(trace_formats.read(target)) == original
    # Into a directory given with a trailing separator, created owner-only.
    status, out, _ = run(
        capsys, "convert", str(trace), "--to", "coretest-alt", "-o", f"{tmp_path / 'into'}{os.sep}"
    )
    assert status == 0 and (tmp_path / "into" / "coretest-alt-0.jsonl").is_file()
    assert (tmp_path / "into").stat().st_mode & 0o777 == 0o700


def test_convert_refusals_leave_nothing(trace, capsys, tmp_path):
    before = sorted(tmp_path.rglob("*"))
    status, _, err = run(capsys, "convert", str(trace), "--to", "nope")
    assert status == 2
    assert err.startswith("llmlog: unknown trace format 'nope'; installed: coretest, coretest-alt")
    with trace.open("ab") as fh:
        fh.write(b"[1, 2]\n")
    lines = len(trace.read_bytes().splitlines())
    status, _, err = run(capsys, "convert", str(trace), "--to", "coretest-alt")
    assert status == 1 and err == f"llmlog: {trace}:{lines}: not a coretest event (TypeError)\n"
    assert sorted(tmp_path.rglob("*")) == before  # atomic: no partial file, no scratch directory
    status, out, _ = run(capsys, "convert", str(trace), "--to", "coretest-alt", "--lenient")
    assert status == 0 and out.endswith("; 1 unreadable line skipped\n")
    blocker = tmp_path / "blocker"
    blocker.write_text("a file")
    status, _, err = run(
        capsys, "convert", str(trace), "--to", "coretest", "-o", str(blocker / "x.jsonl")
    )
    assert status == 1 and "a file is in the way" in err
    status, _, err = run(capsys, "convert", str(tmp_path / "none.jsonl"), "--to", "coretest")
    assert status == 1 and err.startswith(f"llmlog: {tmp_path / 'none.jsonl'}: cannot read")


def test_view_watch_waits_for_the_file_and_stops_on_ctrl_c(trace_formats, tmp_path):
    path = tmp_path / "later.jsonl"
    env = {**os.environ, "PYTHONPATH": trace_formats.pythonpath}
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmlog.cli", "view", "--watch", "-c", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        assert proc.stderr is not None and proc.stdout is not None
        assert proc.stderr.readline() == f"llmlog: waiting for {path} to get its first line\n"
        llmlog.configure(
            {"outputs": {}}, plugins=[("coretest", trace_formats.plugin)], autoload=False
        )
        session = new_trace_session(path, format="coretest")
        session.close()
        assert proc.stdout.readline() == "session -\n"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_paint_colours_only_a_terminal_without_no_color(monkeypatch):
    formats: dict[str, Component] = {}
    args = view_arguments(formats)
    assert paint_for(args, io.StringIO())("\033[1m", "x") == "x"
    assert paint_for(args, FakeTerminal())("\033[1m", "x") == "\033[1mx\033[0m"
    assert paint_for(view_arguments(formats, no_color=True), FakeTerminal())("c", "x") == "x"
    monkeypatch.setenv("NO_COLOR", "1")
    assert paint_for(args, FakeTerminal())("c", "x") == "x"
    assert export_target(args) is None
    with pytest.raises(ViewError, match="not 'a.txt'"):
        export_target(view_arguments(formats, export="a.txt"))
    with pytest.raises(TypeError, match="unknown llmlog view flags: bogus"):
        view_arguments(formats, bogus=1)


def test_view_arguments_from_code_use_the_installed_formats(trace_formats):
    args = view_arguments(coretest_type="span")
    assert args.coretest_type == "span" and args.stats is False


def test_format_flags_that_clash_or_raise_are_left_out_with_a_warning(capsys):
    def clashing(parser):
        parser.add_argument("--stats", action="store_true", help="clashes with a shared flag")

    def differs(parser):
        parser.add_argument("--mine", type=int, help="an int here")

    def same_name(parser):
        parser.add_argument("--mine", action="store_true", help="a flag there")

    def raising(parser):
        raise RuntimeError("bug in flags")

    def component(name, declare):
        return Component(
            ComponentKind.TRACE_FORMAT,
            name,
            lambda o, p: None,
            name,
            support=TraceFormatSupport(view_arguments=declare),
        )

    import argparse

    parser = argparse.ArgumentParser()
    add_view_flags(
        parser,
        {
            n: component(n, d)
            for n, d in [("a", clashing), ("b", differs), ("c", same_name), ("d", raising)]
        },
    )
    err = capsys.readouterr().err
    assert "trace format 'a': view flag --stats left out" in err
    assert "trace format 'c': view flag --mine left out: declared differently by 'b'" in err
    assert "trace format 'd': its view flags raised RuntimeError: bug in flags" in err
    assert parser.parse_args(["--mine", "3"]).mine == 3


def test_an_export_that_cannot_be_written_is_named(trace, capsys):
    # Nobody, root included, creates a file in /proc.
    if not Path("/proc/self").is_dir():
        pytest.skip("no /proc")
    status, out, err = run(capsys, "view", "--export", "/proc/llmlog-test.md", str(trace))
    assert (status, out) == (1, "")
    # The hidden temporary it could not create is named; nothing was written.
    assert err.startswith("llmlog: /proc/.llmlog-test.md.")
    assert err.endswith(".tmp: No such file or directory\n")


def test_follow_calls_back_whenever_the_size_changes(tmp_path):
    path = tmp_path / "growing.jsonl"
    path.write_text("1")
    sizes: list[int] = []

    def on_change() -> None:
        sizes.append(path.stat().st_size)
        if len(sizes) < 3:
            path.write_text("x" * (len(sizes) + 1))

    assert follow(path, on_change, interval=0.001, until=lambda: len(sizes) >= 3) == 0
    assert sizes == [1, 2, 3]
    missing: list[int] = []
    assert follow(tmp_path / "none", lambda: missing.append(1), interval=0, until=lambda: True) == 0
    assert missing == []


def _compressed(kind: str, data: bytes) -> bytes:
    import gzip

    if kind == "gzip":
        return gzip.compress(data, mtime=0)
    zstandard = pytest.importorskip("zstandard")
    return bytes(zstandard.ZstdCompressor().compress(data))


@pytest.mark.parametrize("kind", ["gzip", "zstd"])
def test_view_and_convert_read_a_compressed_part_as_the_plain_file(
    trace, trace_formats, kind, capsys, tmp_path
):
    """A rotated part the file output compressed is shown and converted as its plain content,
    every name and message naming the file given, not the private copy read."""
    part = tmp_path / f"run.1.jsonl.{'gz' if kind == 'gzip' else 'zst'}"
    part.write_bytes(_compressed(kind, trace.read_bytes()))
    for flags in ([], ["--stats", "--no-color"], ["--errors"]):
        assert run(capsys, "view", *flags, str(part)) == run(capsys, "view", *flags, str(trace))
    status, out, err = run(capsys, "convert", str(part), "--to", "coretest-alt")
    written = tmp_path / "coretest-alt-0.jsonl"
    assert (status, err) == (0, "")
    assert out == f"{written}: 7 events from {part} (coretest) written as coretest-alt\n"
    assert list(trace_formats.read_alt(written)) == list(trace_formats.read(trace))
    # A bad line names the part and the line in the decompressed text.
    bad = trace.read_bytes() + b"{not json\n"
    lines = len(bad.splitlines())
    part.write_bytes(_compressed(kind, bad))
    status, out, err = run(capsys, "view", str(part))
    assert (status, out) == (1, "")
    assert err == f"llmlog: {part}:{lines}: not a coretest event (JSONDecodeError)\n"
    status, _, err = run(capsys, "convert", str(part), "--to", "coretest-alt", "-o", "x.jsonl")
    assert status == 1 and err.startswith(f"llmlog: {part}:{lines}: not a coretest event")
    status, _, err = run(capsys, "view", "--watch", str(part))
    assert status == 2 and "--watch follows a file being written" in err


@pytest.mark.parametrize("kind", ["gzip", "zstd"])
def test_a_truncated_part_is_refused_or_with_lenient_shown_up_to_the_damage(
    trace_formats, kind, capsys, tmp_path
):
    llmlog.configure({"outputs": {}}, plugins=[("coretest", trace_formats.plugin)], autoload=False)
    with new_trace_session(tmp_path / "long.jsonl", format="coretest"):
        for i in range(3000):
            with span(f"step {i}", inputs={"i": i, "pad": os.urandom(16).hex()}):
                pass
    llmlog.shutdown()
    whole = _compressed(kind, (tmp_path / "long.jsonl").read_bytes())
    part = tmp_path / "long.jsonl.part"
    part.write_bytes(whole[: len(whole) // 2])
    before = sorted(tmp_path.rglob("*"))
    status, out, err = run(capsys, "view", str(part))
    assert (status, out) == (1, "")
    assert err.startswith(f"llmlog: {part}: cannot decompress: ")
    status, out, err = run(capsys, "view", "--lenient", str(part))
    assert status == 0 and out.startswith("session -")
    assert '"step 1"' in out and '"step 2999"' not in out  # the start, then the cut line
    assert out.endswith("1 unreadable line skipped\n")
    assert f"llmlog: {part}: cannot decompress: " in err and " bytes before it" in err
    status, _, err = run(capsys, "convert", str(part), "--to", "coretest-alt")
    assert status == 1 and err.startswith(f"llmlog: {part}: cannot decompress: ")
    assert sorted(tmp_path.rglob("*")) == before  # nothing partial left


def test_a_damaged_or_unknown_compressed_file_and_a_snapshot_are_named(
    trace_formats, capsys, tmp_path
):
    garbage = tmp_path / "bad.gz"
    garbage.write_bytes(b"\x1f\x8bnot really gzip\n")
    snapshot = tmp_path / "flight.jsonl.gz"
    snapshot.write_bytes(
        _compressed("gzip", b'{"kind":"header","format":"llmlog-flight","version":1}\n')
    )
    cases = {
        garbage: f"{garbage}: cannot decompress: ",
        snapshot: f"{snapshot}:1: a flight-recorder snapshot, not a trace; show it with: "
        "llmlog flight view",
    }
    for path, message in cases.items():
        for command in (["view"], ["convert", "--to", "coretest"]):
            status, out, err = run(capsys, *command, str(path))
            assert (status, out) == (1, "")
            assert err.startswith(f"llmlog: {message}"), err


def _pipe(tmp_path: Path, data: bytes) -> Path:
    return fed_pipe(tmp_path / "pipe", data)


def test_a_pipe_is_viewed_and_converted_whole(trace, trace_formats, capsys, tmp_path, monkeypatch):
    """``llmlog view <(zcat run.jsonl.gz)``: the format is recognised from the pipe's first line
    and the whole is shown, that line included (a second open of a pipe would miss it)."""
    expected = run(capsys, "view", str(trace))
    assert run(capsys, "view", str(_pipe(tmp_path, trace.read_bytes()))) == expected
    compressed = _compressed("gzip", trace.read_bytes())
    assert run(capsys, "view", str(_pipe(tmp_path, compressed))) == expected
    # Converted into the current directory: a pipe has none of its own.
    (tmp_path / "into").mkdir()
    monkeypatch.chdir(tmp_path / "into")
    status, out, err = run(
        capsys, "convert", str(_pipe(tmp_path, compressed)), "--to", "coretest-alt"
    )
    assert (status, err) == (0, "")
    assert (
        out
        == f"coretest-alt-0.jsonl: 7 events from {tmp_path / 'pipe'} (coretest) written as coretest-alt\n"
    )
    assert list(trace_formats.read_alt(tmp_path / "into" / "coretest-alt-0.jsonl")) == list(
        trace_formats.read(trace)
    )
    # A bad line names the pipe; --watch cannot follow one.
    status, out, err = run(capsys, "view", str(_pipe(tmp_path, trace.read_bytes() + b"[1]\n")))
    assert (status, out) == (1, "")
    lines = len(trace.read_bytes().splitlines()) + 1
    assert err == f"llmlog: {tmp_path / 'pipe'}:{lines}: not a coretest event (TypeError)\n"
    status, _, err = run(capsys, "view", "--watch", str(tmp_path / "pipe"))
    assert (
        status == 2
        and err == f"llmlog: {tmp_path / 'pipe'}: a pipe; --watch follows a file being written\n"
    )
