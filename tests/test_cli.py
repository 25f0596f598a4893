import json
import sys
import tempfile
import tomllib

import llmlog


def test_version(cli):
    done = cli("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"llmlog {llmlog.__version__}"


def test_no_command_prints_help(cli):
    done = cli()
    assert done.returncode == 2
    assert "plugins" in done.stdout and "config" in done.stdout and "demo" in done.stdout


def test_plugins_lists_the_standard_set(cli):
    done = cli("plugins")
    assert done.returncode == 0, done.stdout
    for line in [
        "llmlog.default_plugins.stderr_output  (llmlog 0.1.0)  [built-in]",
        "output_console  (llmlog-output-console 0.1.0)  [loaded]",
        "    output:console",
        "    formatter:json",
        "    formatter:logfmt",
        "    formatter:text",
    ]:
        assert line in done.stdout.splitlines()


def test_config_check_ok_and_errors(cli, tmp_path):
    good = tmp_path / "good.toml"
    good.write_text('level = "debug"\n[outputs.console]\nformatter = "json"\n')
    done = cli("config", "check", str(good))
    assert done.returncode == 0
    assert done.stdout.strip() == f"{good}: OK; level debug; outputs: console (console)"

    bad = tmp_path / "bad.toml"
    bad.write_text(
        'level = "loud"\n[outputs.console]\ncolour = "always"\n[outputs.x]\ntype = "fiel"\n'
    )
    done = cli("config", "check", str(bad))
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"{bad}: 3 configuration errors",
        "  - unknown severity 'loud'; expected one of debug, info, warn, error, fatal @ $.level",
        "  - unknown key 'colour'; valid keys: stream, color, show_location, show_fields, max_value_length @ $.outputs.console",
        "  - unknown output type 'fiel'; installed: console, file, otlp, stderr, stdlib @ $.outputs.x.type",
    ]
    assert "Traceback" not in done.stderr


def test_config_show_reads_back_and_says_where_things_came_from(cli, tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "app"\n[tool.llmlog]\nlevel = "warn"\n[tool.llmlog.outputs.console]\nformatter = {type = "text", utc = true}\n'
    )
    done = cli("config", "show", cwd=tmp_path, env={"LLMLOG_LEVEL": "error"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(
        f"# effective llmlog configuration; source: {tmp_path / 'pyproject.toml'} [tool.llmlog]"
    )
    assert 'level = "error"  # from environment LLMLOG_LEVEL' in done.stdout
    assert "sample_rate = 1.0  # from default" in done.stdout
    shown = tomllib.loads(done.stdout)
    assert shown["outputs"]["console"]["formatter"] == {
        "type": "text",
        "include_timestamp": True,
        "include_location": True,
        "utc": True,
    }
    # What `config show` prints is itself a valid configuration.
    again = tmp_path / "shown.toml"
    again.write_text(done.stdout)
    assert cli("config", "check", str(again)).returncode == 0

    as_json = json.loads(cli("config", "show", "--json", cwd=tmp_path).stdout)
    assert as_json["provenance"]["outputs"].endswith("pyproject.toml [tool.llmlog]")
    assert as_json["config"]["level"] == "warn"


def test_module_entry_point(sh):
    done = sh([sys.executable, "-m", "llmlog.cli", "--version"])
    assert done.returncode == 0


def test_a_closed_pipe_is_not_an_error(tmp_path):
    import subprocess

    # A trace whose view is far larger than a pipe's buffer, so writing must hit the closed pipe.
    path = tmp_path / "big.jsonl"
    with llmlog.new_trace_session(path), llmlog.span("root"):
        for i in range(3000):
            with llmlog.span(f"span-{i}"):
                pass
    llmlog_bin = str(__import__("pathlib").Path(sys.executable).with_name("llmlog"))
    proc = subprocess.Popen(
        [llmlog_bin, "view", str(path), "--no-color"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout.read(10)
    proc.stdout.close()  # like `llmlog view FILE | head -c 10`
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0
    assert "Traceback" not in stderr


def test_integration_tables_are_validated_with_paths_and_choices(cli, tmp_path):
    config = tmp_path / "llmlog.toml"
    config.write_text(
        "[integrations.dspy]\nenabled = 'yes'\n\n"
        "[integrations.otlp]\nenabled = true\nsessions = 1\ncompression = 'brotli'\n\n"
        "[integrations.langsmith]\nenabled = true\n"
    )
    result = cli("config", "check", str(config))
    assert result.returncode == 1
    err = result.stderr
    assert "expected true or false, got 'yes' @ $.integrations.dspy.enabled" in err
    assert "@ $.integrations.otlp.compression" in err and "'sessions'" in err
    assert (
        "unknown integration 'langsmith'; installed: anthropic, dspy, litellm, openai, otlp @ $.integrations.langsmith"
        in err
    )
    config.write_text("[integrations.dspy]\nenabled = true\nsessions = 'per_call'\n")
    shown = cli("config", "show", str(config))
    assert shown.returncode == 0 and "[integrations.dspy]" in shown.stdout
    assert 'sessions = "per_call"' in shown.stdout


def test_autoload_off_keeps_the_default_plugins_commands(cli, tmp_path):
    # view and convert are default plugins: there with entry points off; demo is a plugin's.
    env = {"LLMLOG_DISABLE_PLUGIN_AUTOLOAD": "1"}
    shown = cli("--help", env=env).stdout
    assert "view" in shown and "convert" in shown and "demo" not in shown
    (tmp_path / "t.jsonl").write_text('{"type": "session"}\n')
    done = cli("view", str(tmp_path / "t.jsonl"), env=env)
    assert done.returncode == 1
    assert "not a trace in any installed format (none installed)" in done.stderr


def test_view_and_convert_of_a_compressed_part_name_the_file_given(tmp_path, capsys):
    """The real trace formats' viewers print the path they read; through a decompressed copy,
    what they print still names the file given (a name with a control character, escaped)."""
    import gzip

    import zstandard

    from llmlog.testing import run_cli

    llmlog.configure({"outputs": {}})
    for fmt, compress in (("dspy", gzip.compress), ("rlm", zstandard.ZstdCompressor().compress)):
        plain = tmp_path / f"{fmt}.jsonl"
        with llmlog.new_trace_session(plain, format=fmt) as session, llmlog.span("s") as span:
            session.emit_llm_call(span.span_id, "openai", "m", "q?", "a.", llmlog.TokenUsage(3, 1))
        part = tmp_path / f"{fmt}\x1b[2J.jsonl.1"
        part.write_bytes(compress(plain.read_bytes()))
        for flags in ([], ["--stats", "--no-color"]):
            assert run_cli(["view", *flags, str(plain)]) == 0
            expected = capsys.readouterr().out.replace(
                str(plain), str(part).replace("\x1b", "\\x1b")
            )
            assert run_cli(["view", *flags, str(part)]) == 0
            shown, err = capsys.readouterr()
            assert (shown, err) == (expected, "")
            assert "llmlog-" not in shown and "\x1b" not in shown
        export = tmp_path / f"{fmt}.md"
        assert run_cli(["view", "--export", str(export), str(part)]) == 0
        capsys.readouterr()
        assert f"{tempfile.gettempdir()}/llmlog-" not in export.read_text()  # the copy's
        assert fmt == "rlm" or str(tmp_path) in export.read_text()  # dspy names the file
        target = "rlm" if fmt == "dspy" else "dspy"
        assert run_cli(["convert", str(part), "--to", target, "-o", str(tmp_path / "c.jsonl")]) == 0
        assert f"from {part} ({fmt})".replace("\x1b", "\\x1b") in capsys.readouterr().out
        (tmp_path / "c.jsonl").unlink()
    llmlog.shutdown()


def test_ctrl_c_while_waiting_for_a_pipe_ends_quietly(tmp_path):
    """`llmlog view FIFO` waits for a writer, as `cat` does; Ctrl-C ends it with the shell's
    status for SIGINT and no traceback."""
    import os
    import signal
    import subprocess
    import time

    fifo = tmp_path / "nobody-writes"
    os.mkfifo(fifo)
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmlog.cli", "view", str(fifo)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Until the command has the pipe open (a writer's non-blocking open fails before), then
    # it waits for bytes that do not come: the signal finds it waiting, not still starting.
    deadline = time.monotonic() + 120
    while True:
        try:
            writer = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            break
        except OSError:
            assert time.monotonic() < deadline and proc.poll() is None, "it never opened the pipe"
            time.sleep(0.05)
    try:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        os.close(writer)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and out == ""
    assert not [p for p in tmp_path.iterdir() if p != fifo]


def test_ctrl_c_while_the_plugins_load_ends_quietly(tmp_path):
    """Ctrl-C while a slow plugin imports (before any command runs) ends with the shell's status
    for SIGINT and no traceback, as it does while a command waits."""
    import os
    import signal
    import subprocess
    import time

    site, mark = tmp_path / "site", tmp_path / "importing"
    info = site / "slowplug-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: slowplug\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[llmlog]\nslow = slowplug\n")
    (site / "slowplug.py").write_text(
        f"import pathlib, time\npathlib.Path({str(mark)!r}).touch()\ntime.sleep(120)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), *sys.path])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmlog.cli", "plugins"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    deadline = time.monotonic() + 120
    while not mark.exists():  # the plugin is importing: the host is loading
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and out == ""
