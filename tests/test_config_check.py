"""``llmlog config check`` and ``config show`` with the real plugins installed: what check accepts,
configure() accepts, and what show prints reads back."""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path


def test_config_show_writes_permission_bits_in_octal_and_reads_back(cli, tmp_path):
    path = tmp_path / "llmlog.toml"
    path.write_text(
        '[outputs.f]\ntype = "file"\npath = "app.log"\nmode = 0o640\n'
        '[trace]\nformat = { type = "rlm", mode = 0o600 }\n'
    )
    shown = cli("config", "show", str(path))
    assert shown.returncode == 0, shown.stderr
    assert "mode = 0o640" in shown.stdout and "mode = 0o600" in shown.stdout
    assert "416" not in shown.stdout and "384" not in shown.stdout
    again = tmp_path / "shown.toml"
    again.write_text(shown.stdout)
    assert tomllib.loads(shown.stdout)["outputs"]["f"]["mode"] == 0o640
    assert cli("config", "check", str(again)).returncode == 0
    as_json = json.loads(cli("config", "show", "--json", str(path)).stdout)["config"]
    assert (as_json["outputs"]["f"]["mode"], as_json["trace"]["format"]["mode"]) == (416, 384)


def test_a_component_of_a_switched_off_plugin_is_reported_as_such(cli, tmp_path):
    import re

    path = tmp_path / "llmlog.toml"
    path.write_text(
        'disabled_plugins = ["output_file", "formatter_json", "trace_rlm", "recorder_zstd", '
        '"integration_dspy"]\n'
        '[outputs.f]\ntype = "file"\n[outputs.s]\ntype = "stderr"\nformatter = "json"\n'
        '[trace]\nformat = "rlm"\n[flight_recorder]\nbackend = "zstd"\n'
        "[integrations.dspy]\nenabled = true\n"
    )
    done = cli("config", "check", str(path))
    assert done.returncode == 1
    # the version differs from build to build
    lines = [re.sub(r" \d[^)]*\)", ")", line) for line in done.stderr.splitlines()]
    disabled = "which is disabled (disabled_plugins)"
    assert lines == [
        f"{path}: 5 configuration errors",
        f"  - output type 'file' is provided by plugin 'output_file' (llmlog-output-file), "
        f"{disabled} @ $.outputs.f.type",
        f"  - formatter 'json' is provided by plugin 'formatter_json' (llmlog-formatter-json), "
        f"{disabled} @ $.outputs.s.formatter",
        "  - flight-recorder backend 'zstd' is provided by plugin 'recorder_zstd' "
        f"(llmlog-recorder-zstd), {disabled} @ $.flight_recorder.backend",
        f"  - trace format 'rlm' is provided by plugin 'trace_rlm' (llmlog-trace-rlm), "
        f"{disabled} @ $.trace.format",
        "  - integration 'dspy' is provided by plugin 'integration_dspy' "
        f"(llmlog-integration-dspy), {disabled} @ $.integrations.dspy",
    ]

    path.write_text('[outputs.f]\ntype = "file"\n')
    for env, why in [
        ({"LLMLOG_DISABLED_PLUGINS": "output_file"}, "is disabled (LLMLOG_DISABLED_PLUGINS)"),
        (
            {"LLMLOG_DISABLE_PLUGIN_AUTOLOAD": "1"},
            "is not loaded: entry-point plugins are off (LLMLOG_DISABLE_PLUGIN_AUTOLOAD)",
        ),
    ]:
        done = cli("config", "check", str(path), env=env)
        assert done.returncode == 1
        assert f", which {why} @ $.outputs.f.type" in done.stderr

    # a name no plugin provides is still unknown, with the installed choices
    path.write_text('[outputs.f]\ntype = "fiel"\n')
    assert (
        "unknown output type 'fiel'; installed: console, file,"
        in cli("config", "check", str(path)).stderr
    )


def test_configure_says_the_same_and_registers_nothing_of_the_switched_off_plugin():
    import pytest

    import llmlog
    from llmlog.registry import ComponentKind
    from llmlog.runtime import plugin_host

    with pytest.raises(llmlog.ConfigError) as info:
        llmlog.configure({"disabled_plugins": ["output_file"], "outputs": {"f": {"type": "file"}}})
    assert info.value.errors[0].startswith(
        "output type 'file' is provided by plugin 'output_file' (llmlog-output-file "
    )
    llmlog.configure({"disabled_plugins": ["output_file"], "outputs": {}})
    host = plugin_host()
    assert "file" not in host.components(ComponentKind.OUTPUT)
    assert host.plugins["output_file"].status == "blocked"
    assert host.pm.get_plugin("output_file") is None


def test_config_check_dry_runs_the_file_output_and_creates_nothing(cli, tmp_path):
    """The issue's case: check said OK to a path configure() then refused."""
    import pytest

    import llmlog

    path = tmp_path / "llmlog.toml"
    path.write_text('[outputs.f]\ntype = "file"\npath = "/proc/nope/app.log"\n')
    done = cli("config", "check", str(path))
    assert done.returncode == 1
    error = (
        "cannot create output 'f': cannot create directory /proc/nope: /proc is on a proc "
        "filesystem, which takes no new files @ $.outputs.f.path"
    )
    assert done.stderr.splitlines() == [f"{path}: 1 configuration error", f"  - {error}"]
    with pytest.raises(llmlog.ConfigError) as info:
        llmlog.configure(path)
    assert (info.value.source, info.value.errors) == (str(path), [error])

    # a good path: OK, and neither the directory nor the file exists after the check
    path.write_text('[outputs.f]\ntype = "file"\npath = "logs/deeper/app.log"\n')
    assert cli("config", "check", str(path)).returncode == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["llmlog.toml"]
    llmlog.configure(path)
    llmlog.get_logger().warn("written")
    llmlog.shutdown()
    assert "written" in (tmp_path / "logs" / "deeper" / "app.log").read_text()


def test_config_check_and_configure_agree_for_an_unprivileged_user(unprivileged):
    """Permissions (which root ignores): a configuration directory nobody may write in."""
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        config = Path(directory) / "llmlog.toml"
        config.write_text('[outputs.f]\ntype = "file"\npath = "logs/app.log"\n')
        os.chmod(directory, 0o555)
        code = (
            "import sys, llmlog\nfrom llmlog.cli import main\n"
            "print(main(['config', 'check', sys.argv[1]]))\n"
            "try:\n    llmlog.configure(sys.argv[1]); print('configured')\n"
            "except llmlog.ConfigError as e:\n    print(e.errors)\n"
        )
        done = subprocess.run(
            [*unprivileged, sys.executable, "-c", code, str(config)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert os.listdir(directory) == ["llmlog.toml"]
        os.chmod(directory, 0o755)
    error = (
        f"cannot create output 'f': cannot create directory {directory}/logs: {directory} is not "
        "writable @ $.outputs.f.path"
    )
    assert done.stdout.splitlines() == ["1", str([error])], done.stderr
    assert f"  - {error}" in done.stderr


def test_a_dry_run_of_the_otlp_output_leaves_no_thread(tmp_path, capsys):
    from llmlog.cli import main
    from llmlog.testing import threads_started

    path = tmp_path / "llmlog.toml"
    path.write_text('[outputs.o]\ntype = "otlp"\nendpoint = "http://127.0.0.1:9/v1/logs"\n')
    with threads_started() as started:
        assert main(["config", "check", str(path)]) == 0
    assert not started
    assert capsys.readouterr().out.startswith(f"{path}: OK")


def test_config_show_never_prints_configured_secrets_and_reads_back(cli, tmp_path):
    # Before: OTLP headers, a default field named api_key and an endpoint's password were
    # printed as configured.
    secrets = ["sk-proj-abcdefghijklmnopqrstuvwxyz0123456789ABCD", "S3CRETPASS", "tok-zyxwv98765"]
    config = tmp_path / "llmlog.toml"
    config.write_text(
        'redact_keys = ["(?i)ssn"]\n'
        f'[default_fields]\nservice = "qa"\napi_key = "{secrets[0]}"\n'
        '[outputs.otlp]\ntype = "otlp"\n'
        f'endpoint = "http://user:{secrets[1]}@127.0.0.1:4318"\n'
        f'headers = {{ authorization = "Bearer {secrets[2]}" }}\n'
    )
    shown = cli("config", "show", str(config))
    as_json = cli("config", "show", str(config), "--json")
    assert shown.returncode == 0 and as_json.returncode == 0, shown.stderr + as_json.stderr
    for secret in secrets:
        assert secret not in shown.stdout and secret not in as_json.stdout
    assert 'service = "qa"' in shown.stdout and 'redact_keys = ["(?i)ssn"]' in shown.stdout
    again = tmp_path / "shown.toml"
    again.write_text(shown.stdout)
    assert cli("config", "check", str(again)).returncode == 0


def test_config_show_reads_back_whatever_redact_keys_matches(cli, tmp_path):
    # Found by the configuration fuzzer: a pattern matching every key ("") redacted the output
    # types, levels and trigger names, so what config show printed no longer checked.
    config = tmp_path / "llmlog.toml"
    config.write_text(
        'redact_keys = [""]\nredact_patterns = ["o"]\n[default_fields]\nservice = "qa"\n'
    )
    shown = cli("config", "show", str(config))
    assert shown.returncode == 0, shown.stderr
    assert 'service = "[REDACTED]"' in shown.stdout  # default fields: every configured rule
    again = tmp_path / "shown.toml"
    again.write_text(shown.stdout)
    done = cli("config", "check", str(again))
    assert done.returncode == 0, done.stderr
