"""``llmlog convert`` writes its output whole or not at all: a temporary file, owner-only from its
first byte, renamed into place when the whole input was read; files llmlog wrote with odd text
convert."""

from __future__ import annotations

import os
import stat
import threading

import pytest

from llmlog.ext import TokenUsage, TraceSession
from llmlog_trace_dspy import DspyTraceWriter, read_trace


def _good_lines(helpers, n=50):
    ln = helpers.line
    records = [helpers.session_line()]
    for i in range(n):
        records += [
            ln("span", f"s{i}", {"event": "start", "operation": f"op{i}"}),
            ln(
                "llm_call",
                f"s{i}",
                {
                    "provider": "p",
                    "model": "m",
                    "prompt": "q",
                    "response": "a",
                    "latency_ms": 1,
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                },
            ),
            ln("span", f"s{i}", {"event": "end", "duration_ms": 1}),
        ]
    return records


@pytest.mark.parametrize("to", ["dspy", "rlm"])
@pytest.mark.parametrize("output", ["dir", "file", "existing-file"])
def test_a_failure_mid_way_leaves_nothing_and_names_file_and_line(tmp_path, helpers, to, output):
    records = _good_lines(helpers)
    records.insert(100, {"type": "span", "timestamp": 5, "trace_id": "t"})
    source = helpers.write_jsonl(tmp_path / "in.jsonl", records)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    target = out_dir if output == "dir" else out_dir / "result.jsonl"
    if output == "existing-file":
        target.write_text("precious\n")
    before = sorted(p.name for p in out_dir.iterdir())
    args = ["convert", str(source), "--to", to, "-o", str(target)]
    done = helpers.run_main(*args, *(["--force"] if output == "existing-file" else []))
    assert done.status == 1, done
    assert done.err.startswith(f"llmlog: {source}:101: "), done.err
    assert sorted(p.name for p in out_dir.iterdir()) == before  # no partial or temporary file
    if output == "existing-file":
        assert target.read_text() == "precious\n"  # --force replaces only on success
    lenient = helpers.run_main(*args, "--lenient", "--force")
    assert lenient.status == 0 and "1 unreadable line skipped" in lenient.out, lenient


def test_the_output_is_owner_only_from_its_first_byte_and_replaces_atomically(tmp_path, helpers):
    work = tmp_path / "work"
    work.mkdir()
    source = helpers.write_jsonl(work / "in.jsonl", _good_lines(helpers, 3000))
    target = work / "out.jsonl"
    target.write_text("old\n")
    os.chmod(target, 0o644)
    old_inode = target.stat().st_ino
    seen: list[tuple[str, int, int]] = []
    stop = threading.Event()

    def scan() -> None:
        for entry in os.scandir(work):
            try:
                st = entry.stat(follow_symlinks=False)
                seen.append((entry.name, st.st_ino, st.st_mode))
                if stat.S_ISDIR(st.st_mode):
                    for inner in os.scandir(entry.path):
                        st = inner.stat(follow_symlinks=False)
                        seen.append((inner.name, st.st_ino, st.st_mode))
            except FileNotFoundError:
                continue

    def watch() -> None:
        # Every file or directory that appears while convert runs is owner-only.
        while not stop.is_set():
            scan()

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        done = helpers.run_main(
            "convert", str(source), "--to", "dspy", "-o", str(target), "--force"
        )
    finally:
        stop.set()
        watcher.join()
    scan()
    assert done.status == 0, done
    assert target.stat().st_mode & 0o777 == 0o600
    assert sum(1 for e in read_trace(target) if e.type == "llm_call") == 3000
    assert any(ino != old_inode and name != "in.jsonl" for name, ino, _ in seen)
    for name, ino, mode in seen:
        assert name == "in.jsonl" or ino == old_inode or mode & 0o077 == 0, (name, oct(mode))
    assert sorted(p.name for p in work.iterdir()) == ["in.jsonl", "out.jsonl"]


def test_converting_a_file_onto_itself_reads_it_whole_first(tmp_path, helpers):
    source = helpers.write_jsonl(tmp_path / "in.jsonl", _good_lines(helpers, 20))
    done = helpers.run_main("convert", str(source), "--to", "dspy", "-o", str(source), "--force")
    assert done.status == 0, done
    assert sum(1 for e in read_trace(source) if e.type == "llm_call") == 20


@pytest.mark.parametrize("to", ["dspy", "rlm"])
def test_files_llmlog_wrote_with_lone_surrogates_and_huge_numbers_convert(tmp_path, helpers, to):
    path = tmp_path / "odd.jsonl"
    odd = "report\udcff.pdf \ud800"
    with TraceSession(DspyTraceWriter(path)) as session:
        session.emit_span_start("s1", None, odd, {"file": odd, "n": 10**30})
        session.emit_llm_call("s1", "openai", odd, odd, odd, TokenUsage(3, 4), 5)
        session.emit_code_exec(
            "s1", 1, odd, odd, odd, {odd: odd}, 3, [{"prompt": odd, "response": odd}]
        )
        session.emit_span_end("s1", {"answer": odd}, None, 9)
    out = tmp_path / "out"
    out.mkdir()
    done = helpers.run_main("convert", str(path), "--to", to, "-o", str(out))
    assert done.status == 0, done
    (converted,) = out.iterdir()
    shown = helpers.run_main("view", "--no-color", str(converted))
    assert shown.status == 0 and "report\\udcff.pdf" in shown.out, shown
