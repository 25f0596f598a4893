"""Every file llmlog creates is owner-only from its first byte, every directory 0700.

A full run under the usual umask (022, which would give 0644 files and 0755 directories): log files
through rotations and compression, trace files of both formats in nested new directories, a
flight-recorder snapshot, the demo, and the commands that write files (view --export, convert,
flight convert). Then every path under the run's directory is listed and its mode checked.
"""

from __future__ import annotations

import os
import stat
import sys
import textwrap

import pytest

PROGRAM = textwrap.dedent(
    """
    import llmlog
    from llmlog.flight import global_flight_recorder
    from llmlog_trace_rlm import RlmTraceSession

    llmlog.configure({
        "level": "debug",
        "outputs": {"file": {"type": "file", "path": "logs/a/b/app.log", "formatter": "json",
                             "rotation": {"max_bytes": 20000, "max_files": 3, "compress": "gzip"}},
                    "zfile": {"type": "file", "path": "logs/z/app.log",
                              "rotation": {"max_bytes": 20000, "compress": "zstd"}}},
        "flight_recorder": {"enabled": True, "backend": "zstd", "snapshot_dir": "snaps/x/y"},
        "trace": {"dir": "traces/p/q", "format": {"type": "dspy", "max_bytes": 20000}},
    })
    log = llmlog.get_logger()
    with llmlog.new_trace_session():
        for i in range(300):
            with llmlog.span("step", inputs={"i": i}) as s:
                s.llm_call(model="m", prompt="p" * 50, response="r", usage={"prompt_tokens": 5})
                log.info("entry", i=i, pad="x" * 100)
    with RlmTraceSession("rlm/u/v") as session:
        session.log_llm_call("q", "a", 3, 4, 0.1, model="m")
    print(global_flight_recorder().snapshot(reason="perm"))
    llmlog.shutdown()
    """
)


@pytest.mark.slow
def test_a_full_run_creates_only_private_files_and_directories(tmp_path, sh, cli):
    before = {tmp_path, *tmp_path.iterdir()}
    old = os.umask(0o022)
    try:
        run = sh([sys.executable, "-c", PROGRAM], cwd=tmp_path, check=True)
        snapshot = run.stdout.strip().splitlines()[-1]
        traces = sorted((tmp_path / "traces" / "p" / "q").glob("*.jsonl"))
        assert traces, "no trace file written"
        rlm = next((tmp_path / "rlm" / "u" / "v").glob("*.jsonl"))
        for args in (
            ["view", str(traces[-1]), "--export", str(tmp_path / "exports/e/trace.md")],
            ["view", str(rlm), "--export", str(tmp_path / "exports/e/rlm.md")],
            ["convert", str(traces[-1]), "--to", "rlm", "-o", str(tmp_path / "converted/c/")],
            ["flight", "convert", snapshot, "-o", str(tmp_path / "chrome/k/trace.json")],
            ["demo"],
        ):
            done = cli(*args, cwd=tmp_path)
            assert done.returncode == 0, (args, done.stderr)
    finally:
        os.umask(old)
    created = [p for p in tmp_path.rglob("*") if p not in before]
    files = [p for p in created if p.is_file()]
    directories = [p for p in created if p.is_dir()]
    assert len(files) > 20 and len(directories) > 15
    names = {p.name for p in files}
    assert any(n.endswith(".gz") for n in names) and any(n.endswith(".zst") for n in names)
    loose = {
        str(p.relative_to(tmp_path)): oct(stat.S_IMODE(p.stat().st_mode))
        for p in files
        if stat.S_IMODE(p.stat().st_mode) != 0o600
    }
    loose.update(
        {
            str(p.relative_to(tmp_path)) + "/": oct(stat.S_IMODE(p.stat().st_mode))
            for p in directories
            if stat.S_IMODE(p.stat().st_mode) != 0o700
        }
    )
    assert loose == {}
