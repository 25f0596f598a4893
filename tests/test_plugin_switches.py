import pytest

import llmlog
from llmlog import ConfigError
from llmlog.plugins import PluginHost
from llmlog.registry import ComponentKind


def test_environment_switches(monkeypatch):
    monkeypatch.setenv("LLMLOG_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert PluginHost().autoload is False
    monkeypatch.delenv("LLMLOG_DISABLE_PLUGIN_AUTOLOAD")
    monkeypatch.setenv("LLMLOG_DISABLED_PLUGINS", "output_console, formatter_json")
    h = PluginHost()
    assert h.plugins["output_console"].status == "blocked"
    assert h.plugins["formatter_json"].status == "blocked"
    assert "console" not in h.components(ComponentKind.OUTPUT)


def test_config_plugins_list_selects_entry_points():
    config = llmlog.configure(
        {"plugins": ["formatter_text"], "outputs": {"stderr": {"formatter": "text"}}}
    )
    assert config.outputs["stderr"].formatter.component.name == "text"
    from llmlog.runtime import plugin_host

    host = plugin_host()
    assert host.plugins["formatter_json"].status == "not selected"
    with pytest.raises(
        ConfigError,
        match=r"formatter 'json' is provided by plugin 'formatter_json' \(llmlog-formatter-json "
        r"[^)]+\), which is not in plugins \(the configuration loads only: formatter_text\) "
        r"@ \$\.outputs\.stderr\.formatter",
    ):
        llmlog.configure(
            {"plugins": ["formatter_text"], "outputs": {"stderr": {"formatter": "json"}}}
        )
