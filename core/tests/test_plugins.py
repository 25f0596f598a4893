import sys
import types

import pytest

import llmlog
from llmlog import ConfigError, hookimpl
from llmlog.plugins import DEFAULT_PLUGINS, PluginHost
from llmlog.registry import ComponentKind
from llmlog.serialize import serializer


def host(*plugins, **kwargs):
    return PluginHost(autoload=False, extra=list(plugins), **kwargs)


def test_builtins_register_through_the_same_hooks():
    h = host()
    assert set(DEFAULT_PLUGINS) <= set(h.plugins)
    stderr = h.components(ComponentKind.OUTPUT)["stderr"]
    assert stderr.plugin == "llmlog.default_plugins.stderr_output"
    assert h.plugins["llmlog.default_plugins.stderr_output"].components == ["output:stderr"]


class FormatterPlugin:
    @hookimpl
    def llmlog_register_formatters(self, register):
        register("upper", lambda options, ctx: None, description="shouting")


def test_duplicate_component_names_are_an_error_naming_both_plugins():
    h = host(("first", FormatterPlugin()), ("second", FormatterPlugin()))
    assert h.conflicts == [
        "formatter 'upper' is registered by both plugin 'first' and plugin 'second'; "
        "block one with LLMLOG_DISABLED_PLUGINS"
    ]
    with pytest.raises(ConfigError, match="registered by both plugin 'first' and plugin 'second'"):
        llmlog.configure(
            {"outputs": {}},
            plugins=[("first", FormatterPlugin()), ("second", FormatterPlugin())],
            autoload=False,
        )


class RaisingPlugin:
    @hookimpl
    def llmlog_register_outputs(self, register):
        raise RuntimeError("plugin bug")


class TypoPlugin:
    @hookimpl
    def llmlog_register_outptus(self, register):  # misspelled on purpose
        pass


class WrongArgsPlugin:
    @hookimpl
    def llmlog_register_outputs(self, register, config):
        pass


def test_broken_plugins_are_reported_and_the_rest_still_loads(capsys):
    h = host(
        ("raising", RaisingPlugin()),
        ("typo", TypoPlugin()),
        ("args", WrongArgsPlugin()),
        ("good", FormatterPlugin()),
    )
    statuses = {name: (info.status, info.error) for name, info in h.plugins.items()}
    assert statuses["good"] == ("loaded", None)
    assert (
        statuses["raising"][0] == "failed" and "RuntimeError: plugin bug" in statuses["raising"][1]
    )
    assert (
        statuses["typo"][0] == "failed"
        and "unknown hook 'llmlog_register_outptus'" in statuses["typo"][1]
    )
    assert statuses["args"][0] == "failed" and "config" in statuses["args"][1]
    assert "upper" in h.components(ComponentKind.FORMATTER)
    err = capsys.readouterr().err
    assert "plugin 'raising' was not loaded" in err and "plugin 'typo' was not loaded" in err


def test_register_validates_its_arguments(capsys):
    class Bad:
        @hookimpl
        def llmlog_register_outputs(self, register):
            register("x", "not callable")

    h = host(("bad", Bad()))
    assert "factory is not callable" in h.plugins["bad"].error


def test_serializer_hook_reaches_every_formatter():
    class Money:
        def __init__(self, cents):
            self.cents = cents

    class MoneyPlugin:
        @hookimpl
        def llmlog_register_serializers(self, register):
            register(Money, lambda m: f"${m.cents / 100:.2f}")

    llmlog.configure({"outputs": {}}, plugins=[("money", MoneyPlugin())], autoload=False)
    assert serializer.dumps({"price": Money(1234)}) == b'{"price":"$12.34"}'
    llmlog.configure({"outputs": {}}, autoload=False)
    assert serializer.dumps({"price": Money(1234)}).startswith(b'{"price":"<')


def test_commands_hook_adds_a_cli_subcommand(capsys):
    from llmlog.cli import build_parser

    class CommandPlugin:
        @hookimpl
        def llmlog_register_commands(self, register):
            def arguments(parser):
                parser.add_argument("--name", default="world")

            register(
                "hello",
                lambda args: print(f"hello {args.name}") or 0,
                help="greet",
                arguments=arguments,
            )

    parser = build_parser(host(("cmd", CommandPlugin())))
    args = parser.parse_args(["hello", "--name", "llmlog"])
    assert args.run(args) == 0
    assert capsys.readouterr().out == "hello llmlog\n"


def test_hook_tracing_switch(monkeypatch, capsys):
    monkeypatch.setenv("LLMLOG_TRACE_PLUGINS", "1")
    host(("fmt", FormatterPlugin()))
    # tracing prints pluggy's hook-call trace; registration itself goes through direct calls,
    # so configure-time lifecycle hooks are what shows up.
    llmlog.configure({"outputs": {}}, autoload=False)
    assert "llmlog_configure" in capsys.readouterr().err


def test_an_entry_point_that_fails_to_import_is_reported(monkeypatch, capsys):
    import importlib.metadata as md

    broken = md.EntryPoint(
        name="broken_plugin", value="llmlog_does_not_exist.plugin", group="llmlog"
    )
    real = md.entry_points

    def fake_entry_points(*, group):
        return [*real(group=group), broken]

    monkeypatch.setattr(md, "entry_points", fake_entry_points)
    h = PluginHost()
    info = h.plugins["broken_plugin"]
    assert info.status == "failed" and "ModuleNotFoundError" in info.error
    assert "plugin 'broken_plugin'" in capsys.readouterr().err
    assert "stderr" in h.components(ComponentKind.OUTPUT)  # the others still load


def test_hookimpl_is_the_public_marker():
    assert llmlog.hookimpl is sys.modules["llmlog.hookspecs"].hookimpl
    assert isinstance(types.SimpleNamespace, type)
