"""The ``llmlog`` frame with the in-test trace formats installed: ``config show``/``check`` of a
``[trace]`` table naming one, a plugin command whose arguments raise, no command at all, and a
reader that goes away (``llmlog view FILE | head``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import llmlog
from llmlog.cli import main
from llmlog.tracing import new_trace_session


def run(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


CONFIG = """
level = "info"

[outputs.errors]
type = "stderr"
level = "error"

[trace]
dir = "traces"
format = { type = "coretest", prefix = "run" }
"""


def test_config_show_and_check_a_trace_table_with_format_options(trace_formats, tmp_path, capsys):
    path = tmp_path / "llmlog.toml"
    path.write_text(CONFIG)
    status, out, err = run(capsys, "config", "show", str(path))
    assert status == 0, err
    assert (
        f"[trace]  # from {path}\n"
        'format = {type = "coretest", mode = 384, prefix = "run"}\n'
        'dir = "traces"\ncontent = true\n'
    ) in out
    assert '[outputs.errors]\ntype = "stderr"\nlevel = "error"\n' in out
    status, out, _ = run(capsys, "config", "show", "--json", str(path))
    data = json.loads(out)["config"]
    assert data["trace"]["format"] == {"type": "coretest", "mode": 384, "prefix": "run"}
    assert data["outputs"]["errors"] == {"type": "stderr", "level": "error"}
    status, out, _ = run(capsys, "config", "check", str(path))
    assert status == 0 and out.endswith("OK; level info; outputs: errors (stderr)\n")
    # The same table drives sessions opened with no arguments.
    llmlog.configure(path)
    session = new_trace_session()
    session.close()
    assert session.path == tmp_path / "traces" / "run-0.jsonl"


def test_an_unknown_format_in_the_trace_table_is_a_config_error(trace_formats, tmp_path, capsys):
    path = tmp_path / "llmlog.toml"
    path.write_text('[trace]\nformat = "coretest-missing"\n')
    status, _, err = run(capsys, "config", "check", str(path))
    assert status == 1 and "coretest-missing" in err and str(path) in err


def test_a_command_whose_arguments_raise_says_so_and_the_rest_work(
    trace_formats, tmp_path, monkeypatch, capsys
):
    site = trace_formats.install(
        tmp_path / "broken-site", coretest_broken="coretest_formats:broken_command"
    )
    monkeypatch.syspath_prepend(str(site))
    status, _, err = run(capsys, "coretest-broken")
    assert status == 1
    assert err == (
        "llmlog: command 'coretest-broken' (plugin 'coretest_broken') cannot run: "
        "its arguments raised RuntimeError: arguments bug\n"
    )
    assert run(capsys, "plugins")[0] == 0


def test_no_command_prints_help(capsys):
    status, out, _ = run(capsys)
    assert status == 2 and out.startswith("usage: llmlog")


def test_view_into_a_closed_pipe_ends_quietly(trace_formats, tmp_path):
    llmlog.configure({"outputs": {}}, plugins=[("coretest", trace_formats.plugin)], autoload=False)
    session = new_trace_session(tmp_path / "big.jsonl", format="coretest")
    for n in range(3000):
        session.emit_error(f"{n:016x}", "E", "x" * 40)
    session.close()
    env = {**os.environ, "PYTHONPATH": trace_formats.pythonpath}
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmlog.cli", "view", str(tmp_path / "big.jsonl")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline().startswith(b"session -")
    proc.stdout.close()  # the reader goes away, as `| head -1` does
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 0
    assert err == b""
