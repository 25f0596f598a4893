"""``llmlog config check`` and ``config show`` with the real plugins installed: what check accepts,
configure() accepts, and what show prints reads back."""

from __future__ import annotations

import json
import tomllib


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
    from llmlog.configure import plugin_host
    from llmlog.registry import ComponentKind

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
