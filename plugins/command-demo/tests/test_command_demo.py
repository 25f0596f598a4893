"""``llmlog demo``: the simulated pipeline through the configured outputs and its flight-recorder
snapshot, run as a user runs it; and the variants other plugins register."""

import argparse
import json
import os
import shlex
import shutil
import sys
from pathlib import Path

import pytest

from llmlog import hookimpl
from llmlog.ext import PluginHost
from llmlog.testing import cli_parser
from llmlog_command_demo import plugin as demo_plugin
from llmlog_command_demo.command import KEEP


def test_demo_runs_offline_and_is_secure_by_default(cli, tmp_path):
    done = cli("demo", "--debug", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    err = done.stderr
    assert "pipeline starting" in err and "pipeline finished" in err
    assert "[tokens=" in err and "[model=demo-large]" in err
    assert "LLM interaction" in err  # DEBUG entries shown with --debug
    assert "sk-demo-not-a-real-key" not in err  # redacted
    assert "api_key=[REDACTED]" in err
    assert "\x1b[2J" not in err and "\\x1b[2J" in err  # the injected escape is shown, not obeyed
    assert "ToolError: exchange-rate service unreachable" in err
    assert "demo done:" in err
    # The demo's flight recorder kept the simulated SDK's DEBUG lines that went through stdlib
    # logging, and the snapshot opens with `llmlog flight view`.
    snapshot = err.rsplit("llmlog flight view ", 1)[1].split()[0]
    view = cli("flight", "view", snapshot, "--last", "100")
    assert view.returncode == 0, view.stderr
    assert "DEBUG POST /v1/chat/completions" in view.stdout
    assert "[demo.provider_sdk]" in view.stdout
    assert "Errors (1):" in view.stdout


def test_demo_honours_llmlog_toml(cli, tmp_path):
    (tmp_path / "llmlog.toml").write_text(
        '[outputs.console]\nstream = "stdout"\nformatter = "json"\n'
    )
    done = cli("demo", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert records[0]["message"] == "pipeline starting"
    assert {r["logger"] for r in records} == {"demo.pipeline"}
    assert all(r["level"] != "DEBUG" for r in records)
    answers = [r for r in records if r["message"] == "answer ready"]
    assert answers[0]["tokenInfo"]["totalTokens"] > 0 and answers[0]["modelId"] == "demo-small"
    assert len({r["traceId"] for r in answers}) == 2


# -- the demo, run as the README runs it: .venv/bin/llmlog, with the venv not on PATH

LLMLOG = Path(sys.executable).with_name("llmlog")


def bare_environment(tmp_path: Path) -> dict[str, str]:
    """A PATH without this environment's bin directory (as after the README's command, which
    activates nothing), and a temporary directory of the run's own, to see what is left there."""
    scratch = tmp_path / "tmpdir"
    scratch.mkdir(exist_ok=True)
    bin_dir = str(LLMLOG.parent)
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p != bin_dir)
    return {"PATH": path or os.defpath, "TMPDIR": str(scratch)}


def printed_command(stderr: str, marker: str) -> list[str]:
    """The command the demo printed after ``marker``, split as a shell splits it."""
    return shlex.split(stderr.rsplit(marker, 1)[1].splitlines()[0])


def test_the_demo_prints_a_command_that_works_as_printed_and_leaves_nothing_in_tmp(sh, tmp_path):
    env = bare_environment(tmp_path)
    assert shutil.which("llmlog", path=env["PATH"]) != str(LLMLOG)
    done = sh([str(LLMLOG), "demo"], env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    command = printed_command(done.stderr, "see them with: ")
    assert command[1:3] == ["flight", "view"]
    shown = sh(command, env=env, cwd=tmp_path / "tmpdir")  # exactly as printed, anywhere
    assert shown.returncode == 0, shown.stderr
    assert "DEBUG POST /v1/chat/completions" in shown.stdout
    assert list((tmp_path / "tmpdir").iterdir()) == []  # flight view left nothing behind
    # The snapshot is where `llmlog flight list` looks.
    listed = sh([str(LLMLOG), "flight", "list"], env=env, cwd=tmp_path)
    assert Path(command[-1]).name in listed.stdout and " demo " in listed.stdout
    # With the report plugin installed, the same snapshot as a page, by the command as printed.
    report = printed_command(
        done.stderr, "or as one HTML page (written here, opens offline in any browser): "
    )
    assert report[1:3] == ["report", command[-1]]
    written = sh(report, env=env, cwd=tmp_path / "tmpdir")
    assert written.returncode == 0, written.stderr
    page = (tmp_path / "tmpdir" / "llmlog-demo.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "Content-Security-Policy" in page


@pytest.mark.slow
def test_the_demo_keeps_its_newest_snapshots_only(sh, tmp_path):
    env = bare_environment(tmp_path)
    paths = []
    for _ in range(KEEP + 2):
        done = sh([str(LLMLOG), "demo"], env=env, cwd=tmp_path, check=True)
        paths.append(Path(printed_command(done.stderr, "see them with: ")[-1]))
    directory = paths[0].parent
    assert {p.parent for p in paths} == {directory}
    assert sorted(directory.iterdir()) == sorted(paths[-KEEP:])


# -- variants registered by other plugins


def demo_host(*plugins: tuple[str, object]) -> PluginHost:
    """A host with the demo command (and the default plugins' view) and ``plugins``, nothing
    installed."""
    return PluginHost(autoload=False, extra=[("command_demo", demo_plugin), *plugins])


class HelloDemo:
    """A plugin that adds ``llmlog demo --hello``: a one-span trace."""

    @hookimpl(optionalhook=True)
    def llmlog_register_demos(self, register):
        def run(directory: Path) -> Path:
            import llmlog

            with llmlog.new_trace_session(directory, format="dspy") as session, llmlog.span("hi"):
                pass
            assert session.path is not None
            return session.path

        register("hello", run, help="say hello in a trace")


def parse(host: PluginHost, *args: str) -> argparse.Namespace:
    return cli_parser(host).parse_args(list(args))


def test_a_plugin_adds_a_variant_that_is_traced_and_shown(tmp_path, capsys):
    dspy_format = pytest.importorskip("llmlog_trace_dspy.plugin")  # the variant writes one
    host = demo_host(("trace_dspy", dspy_format), ("hello", HelloDemo()))
    with pytest.raises(SystemExit):
        parse(host, "demo", "--help")
    assert "--hello          say hello in a trace\n" in capsys.readouterr().out
    args = parse(host, "demo", "--hello")
    assert args.run(args) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("Trace ") and "hi" in captured.out
    shown = shlex.split(captured.err.rsplit("$ ", 1)[1].splitlines()[0])
    assert shown[-2] == "view" and Path(shown[-1]).parent.name == "demo"


def test_the_standard_variant_without_its_plugin_says_what_to_install(capsys):
    host = demo_host()
    args = parse(host, "demo", "--dspy")
    assert args.run(args) == 1
    assert capsys.readouterr().err == (
        "llmlog: demo --dspy needs DSPy and the integration: pip install "
        "llmlog-integration-dspy (no installed plugin provides it)\n"
    )


def test_variants_are_exclusive_and_a_broken_registration_is_reported(capsys):
    class Broken:
        @hookimpl(optionalhook=True)
        def llmlog_register_demos(self, register):
            register("debug", lambda directory: directory)  # a flag the demo has

    host = demo_host(("hello", HelloDemo()), ("broken", Broken()))
    parser = cli_parser(host)
    assert "plugin 'broken': llmlog_register_demos raised ValueError" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parser.parse_args(["demo", "--hello", "--dspy"])
    assert "not allowed with argument" in capsys.readouterr().err


def test_blocking_the_plugin_removes_the_command(cli):
    assert "demo" in cli("--help").stdout
    done = cli("--help", env={"LLMLOG_DISABLED_PLUGINS": "command_demo"})
    assert "demo" not in done.stdout and "view" in done.stdout
