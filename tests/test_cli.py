import json
import sys
import tomllib

import pytest

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
        "llmlog.builtin.stderr_output  (llmlog 0.1.0)  [built-in]",
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


@pytest.mark.slow
def test_dspy_demo_traces_a_react_agent_and_shows_the_tree(cli, tmp_path):
    done = cli("demo", "--dspy", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith("Trace ") and "├── Predict:react " in out
    assert "✗ Tool:search_news" in out and "news service unavailable" in out
    assert "Tool:get_weather" in out and "└── ChainOfThought:extract" in out
    assert "llm dummy (dummy)" in out and "cost unknown" in out
    assert out.rstrip().endswith(
        "5 LLM calls, 0 tokens (5 calls with unknown price), 1 with errors"
    )
    assert "weather lookup" in done.stderr  # the tool's log entry, with the trace id
    assert "[traceId=" in done.stderr


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
        "unknown integration 'langsmith'; installed: dspy, otlp @ $.integrations.langsmith" in err
    )
    config.write_text("[integrations.dspy]\nenabled = true\nsessions = 'per_call'\n")
    shown = cli("config", "show", str(config))
    assert shown.returncode == 0 and "[integrations.dspy]" in shown.stdout
    assert 'sessions = "per_call"' in shown.stdout
