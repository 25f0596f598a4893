"""The plugin host's error paths, with real installed entry points (``.dist-info`` directories on
``sys.path``) and in-process plugins: plugins that fail to import or register, misspelled hooks,
blocked and unselected plugins, clashing names, and ``llmlog plugins`` showing all of it."""

from __future__ import annotations

import json
import sys

import attrs
import pytest

from llmlog import hookimpl
from llmlog.cli import main
from llmlog.plugins import PluginHost
from llmlog.registry import ComponentChoice, ComponentKind


def add_site(trace_formats, monkeypatch, tmp_path, name, **entry_points):
    site = tmp_path / name
    info = trace_formats.install(site, **entry_points)
    # A distribution of its own name, so two sites are two distributions.
    (dist,) = info.glob("*.dist-info")
    renamed = dist.with_name(f"{name}-0.1.0.dist-info")
    dist.rename(renamed)
    (renamed / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1.0\n")
    monkeypatch.syspath_prepend(str(site))


@attrs.define
class Opts:
    level: int = 1


class BadRegistrations:
    """Each registration is wrong in its own way; the host reports the first and moves on."""

    def __init__(self, mistake: str) -> None:
        self.mistake = mistake

    @hookimpl
    def llmlog_register_formatters(self, register):
        wrong = {
            "empty name": lambda: register("", lambda o, c: None),
            "factory": lambda: register("f", "not callable"),
            "check": lambda: register("f", lambda o, c: None, check=1),
            "options": lambda: register("f", lambda o, c: None, options=dict),
        }
        if self.mistake in wrong:
            wrong[self.mistake]()

    @hookimpl
    def llmlog_register_outputs(self, register):
        if self.mistake == "detect on an output":
            register("o", lambda o, c: None, detect=lambda line: True)

    @hookimpl
    def llmlog_register_trace_formats(self, register):
        if self.mistake == "view_arguments":
            register("t", lambda o, p: None, view_arguments="--flag")

    @hookimpl
    def llmlog_register_tables(self, register):
        wrong = {
            "table name": lambda: register("", Opts),
            "reserved table": lambda: register("outputs", Opts),
            "table options": lambda: register("mine", dict),
            "table component": lambda: register("mine", Opts, component="format"),
            "table start": lambda: register("mine", Opts, start=3),
        }
        if self.mistake in wrong:
            wrong[self.mistake]()

    @hookimpl
    def llmlog_register_serializers(self, register):
        if self.mistake == "serializer":
            register("not a type", str)


@pytest.mark.parametrize(
    ("mistake", "message"),
    [
        ("empty name", "formatter name must be a non-empty string, not ''"),
        ("factory", "formatter 'f': factory is not callable"),
        ("check", "formatter 'f': check is not callable"),
        ("options", "formatter 'f': options must be an attrs class"),
        (
            "detect on an output",
            "output 'o': detect, read, view, view_arguments and reprice are for",
        ),
        ("view_arguments", "trace format 't': view_arguments is not callable"),
        ("table name", "table name must be a non-empty string"),
        ("reserved table", "table [outputs]: the name is llmlog's own and cannot be claimed"),
        ("table options", "table [mine]: options must be an attrs class"),
        ("table component", "table [mine]: component must be a ComponentChoice"),
        ("table start", "table [mine]: start is not callable"),
        ("serializer", "register(type_, function) needs a type and a callable"),
    ],
)
def test_a_wrong_registration_fails_its_plugin_only(mistake, message, capsys):
    host = PluginHost(autoload=False, extra=[("bad", BadRegistrations(mistake))])
    info = host.plugins["bad"]
    assert info.status == "failed" and message in (info.error or ""), info.error
    assert "llmlog: warning: plugin 'bad' was not loaded: " in capsys.readouterr().err
    assert "view" in host.commands  # the default plugins are unaffected


class Tables:
    @hookimpl
    def llmlog_register_tables(self, register):
        register(
            "mine",
            Opts,
            description="a table",
            component=ComponentChoice("format", ComponentKind.TRACE_FORMAT, None),
        )

    @hookimpl
    def llmlog_register_commands(self, register):
        register("view", lambda args: 0)


def test_a_table_or_command_claimed_twice_is_a_conflict():
    host = PluginHost(autoload=False, extra=[("one", Tables()), ("two", Tables())])
    table, *commands = host.conflicts
    assert table == (
        "table [mine] is claimed by both plugin 'one' and plugin 'two'; "
        "block one with LLMLOG_DISABLED_PLUGINS"
    )
    builtin = "plugin 'llmlog.default_plugins.trace_commands' (llmlog "
    assert [c.startswith(f"command 'view' is registered by both {builtin}") for c in commands] == [
        True,
        True,
    ]
    assert [c.rsplit(" and ", 1)[1] for c in commands] == ["plugin 'one'", "plugin 'two'"]
    assert host.tables["mine"].plugin == "one"
    assert host.plugins["one"].components == ["table:mine"]


def test_entry_points_that_fail_are_blocked_or_not_selected(
    trace_formats, monkeypatch, tmp_path, capsys
):
    add_site(
        trace_formats,
        monkeypatch,
        tmp_path,
        "broken_dist",
        missing="llmlog_module_that_does_not_exist:plugin",
        typo=f"{__name__}:typo_plugin",
    )
    # The same entry-point name from a second distribution.
    add_site(
        trace_formats, monkeypatch, tmp_path, "second_dist", coretest="coretest_formats:plugin"
    )
    capsys.readouterr()
    host = PluginHost()
    plugins = host.plugins
    assert plugins["coretest"].status == "loaded"
    assert plugins["coretest"].components == [
        "trace format:coretest",
        "trace format:coretest-alt",
    ]
    assert plugins["missing"].status == "failed"
    assert plugins["missing"].error.startswith("import failed: ModuleNotFoundError")
    clash = next(p for p in plugins.values() if p.name == "coretest" and p.status == "failed")
    assert "plugin name 'coretest' is already used by" in clash.error
    err = capsys.readouterr().err
    assert "llmlog: warning: plugin 'missing' (broken_dist) was not loaded: import failed" in err

    # llmlog plugins: every plugin, its components and errors; exit 1 when one failed.
    status = main(["plugins"])
    out = capsys.readouterr().out
    assert status == 1
    assert "coretest  (" in out and "    trace format:coretest-alt" in out
    assert "    error: import failed: ModuleNotFoundError" in out
    assert "[built-in]" in out
    assert main(["plugins", "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert {p["name"]: p["status"] for p in data["plugins"]}["missing"] == "failed"
    assert data["conflicts"] == []


def test_why_a_switched_off_plugin_is_unavailable(trace_formats, monkeypatch):
    kind = ComponentKind.TRACE_FORMAT
    blocked = PluginHost(blocked=["coretest"])
    assert blocked.plugins["coretest"].status == "blocked"
    assert "coretest" not in blocked.components(kind)
    assert blocked.unavailable(kind, "coretest-alt") == (
        "provided by plugin 'coretest' (llmlog_coretest_formats 0.1.0), "
        "which is disabled (disabled_plugins)"
    )
    assert blocked.unavailable(kind, "nothing-provides-this") is None
    monkeypatch.setenv("LLMLOG_DISABLED_PLUGINS", "coretest")
    assert (
        PluginHost()
        .unavailable(kind, "coretest")
        .endswith("which is disabled (LLMLOG_DISABLED_PLUGINS)")
    )
    monkeypatch.delenv("LLMLOG_DISABLED_PLUGINS")
    unselected = PluginHost(only=["something-else"])
    assert unselected.plugins["coretest"].status == "not selected"
    assert unselected.unavailable(kind, "coretest").endswith(
        "is not in plugins (the configuration loads only: something-else)"
    )
    off = PluginHost(autoload=False)
    assert off.unavailable(kind, "coretest").endswith(
        "is not loaded: entry-point plugins are off (autoload=False)"
    )
    monkeypatch.setenv("LLMLOG_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert PluginHost().unavailable(kind, "coretest").endswith("(LLMLOG_DISABLE_PLUGIN_AUTOLOAD)")


def test_llmlog_plugins_says_when_entry_points_are_off(monkeypatch, capsys):
    monkeypatch.setenv("LLMLOG_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert main(["plugins"]) == 0
    assert capsys.readouterr().out.endswith(
        "(entry-point plugins not loaded: LLMLOG_DISABLE_PLUGIN_AUTOLOAD is set)\n"
    )


class Typo:
    @hookimpl
    def llmlog_register_outptus(self, register):  # misspelled on purpose
        pass


typo_plugin = Typo()


def test_a_misspelled_hook_in_an_entry_point_is_reported(trace_formats, monkeypatch, tmp_path):
    # This test module is importable by its name in the subprocess-free host only through
    # sys.modules, where pytest put it.
    add_site(trace_formats, monkeypatch, tmp_path, "typo_dist", typo=f"{__name__}:typo_plugin")
    if __name__ not in sys.modules:
        pytest.skip("test module not importable by name")
    host = PluginHost()
    assert host.plugins["typo"].status == "failed"
    assert "unknown hook 'llmlog_register_outptus'" in host.plugins["typo"].error


def test_a_report_with_no_stderr_is_still_listed(monkeypatch):
    monkeypatch.setattr(sys, "stderr", None)
    host = PluginHost(autoload=False, extra=[("bad", BadRegistrations("factory"))])
    assert host.plugins["bad"].status == "failed"
