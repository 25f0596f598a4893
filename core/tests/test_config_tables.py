"""Top-level tables claimed by plugins (``llmlog_register_tables``): validated like every table,
checked by ``config check``, shown by ``config show``, started and closed by ``configure()``."""

import json
import textwrap
from pathlib import Path

import attrs
import pytest

import llmlog
from llmlog import ConfigError, hookimpl
from llmlog.config import OptionError
from llmlog.registry import ComponentChoice, ComponentKind
from llmlog.severity import Severity


@attrs.frozen(kw_only=True)
class GizmoOptions:
    #: Turn the gizmo on.
    enabled: bool = False
    #: How big.
    size: int = attrs.field(default=3, validator=attrs.validators.gt(0))
    #: Where it writes.
    dir: str = ""
    level: Severity = Severity.INFO


class Started:
    def __init__(self, options, context):
        self.options, self.context, self.closed = options, context, False

    def close(self):
        self.closed = True


class GizmoPlugin:
    def __init__(self):
        self.started: list[Started] = []
        self.checked: list[tuple[object, object]] = []

    @hookimpl
    def llmlog_register_tables(self, register):
        register(
            "gizmo",
            GizmoOptions,
            description="A third party's table.",
            component=ComponentChoice("formatter", ComponentKind.FORMATTER, None, "gizmo format"),
            check=self.check,
            start=self.start,
        )

    def check(self, options, context):
        self.checked.append((options, context))
        if options.size == 13:
            raise OptionError("size", "13 brings bad luck")
        if options.size == 14:
            raise RuntimeError("the gizmo is jammed")

    def start(self, options, context):
        started = Started(options, context)
        self.started.append(started)
        return started


class StdoutFormatterPlugin:
    @hookimpl
    def llmlog_register_formatters(self, register):
        register("plain", lambda options, context: object())


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


def test_a_plugin_claims_a_table_validated_like_every_table(tmp_path):
    gizmo = GizmoPlugin()
    path = write(
        tmp_path / "llmlog.toml",
        """
        [gizmo]
        size = 0
        colour = "red"
        formatter = "nope"
        """,
    )
    with pytest.raises(ConfigError) as info:
        llmlog.configure(path, plugins=[("gizmo", gizmo)], autoload=False)
    assert info.value.source == str(path)
    assert info.value.errors == [
        "unknown gizmo format 'nope'; installed: (none installed) @ $.gizmo.formatter",
        "unknown key 'colour'; valid keys: enabled, size, dir, level @ $.gizmo",
        "'size' must be > 0: 0 @ $.gizmo.size",
    ]
    assert gizmo.started == []  # nothing started for a configuration refused


def test_start_gets_the_options_and_context_and_what_it_returns_is_closed_when_retired(tmp_path):
    gizmo = GizmoPlugin()
    plugins = [("gizmo", gizmo), ("plain", StdoutFormatterPlugin())]
    (tmp_path / "conf").mkdir()
    path = write(
        tmp_path / "conf" / "llmlog.toml", '[gizmo]\nsize = 5\ndir = "out"\nformatter = "plain"\n'
    )
    config = llmlog.configure(path, plugins=plugins, autoload=False)
    (first,) = gizmo.started
    assert first.options == GizmoOptions(size=5, dir="out")
    assert config.table("gizmo").options is first.options
    context = first.context
    assert (context.name, context.config_path, context.dry_run) == ("gizmo", path, False)
    assert context.component.component.name == "plain"
    assert context.resolve("out", tmp_path / "default") == path.parent / "out"
    assert context.resolve("", tmp_path / "default") == tmp_path / "default"
    assert not first.closed
    llmlog.configure({"outputs": {}}, plugins=plugins, autoload=False)
    assert first.closed  # retired by the next configuration, which starts its own (defaults)
    second = gizmo.started[1]
    assert second.options == GizmoOptions() and second.context.config_path is None
    llmlog.shutdown()
    assert second.closed


def test_check_errors_are_placed_at_the_option_or_the_table_and_config_check_dry_runs(tmp_path):
    gizmo = GizmoPlugin()
    for size, error in [
        (13, "[gizmo]: 13 brings bad luck @ $.gizmo.size"),
        (14, "[gizmo]: the gizmo is jammed @ $.gizmo"),
    ]:
        for run in (llmlog.check_configuration, llmlog.configure):
            with pytest.raises(ConfigError) as info:
                run({"gizmo": {"size": size}}, plugins=[("gizmo", gizmo)], autoload=False)
            assert info.value.errors == [error]
    assert gizmo.started == []
    llmlog.check_configuration({"gizmo": {"size": 2}}, plugins=[("gizmo", gizmo)], autoload=False)
    assert gizmo.checked[-1][1].dry_run and gizmo.started == []


def test_config_show_prints_a_claimed_table_with_its_defaults(tmp_path, capsys):
    from llmlog.cli import effective_dict

    config = llmlog.check_configuration(
        {"gizmo": {"size": 7}}, plugins=[("gizmo", GizmoPlugin())], autoload=False
    )
    shown = effective_dict(config)
    assert shown["gizmo"] == {"enabled": False, "size": 7, "dir": "", "level": "info"}
    assert config.provenance["gizmo"] == "<configuration dict>"
    assert json.loads(json.dumps(shown))["stdlib"]["level"] == "debug"


def test_an_unclaimed_table_is_an_error_naming_the_claimed_ones():
    with pytest.raises(ConfigError) as info:
        llmlog.check_configuration(
            {"gizmos": {"size": 7}}, plugins=[("gizmo", GizmoPlugin())], autoload=False
        )
    (error,) = info.value.errors
    assert error.startswith("unknown key 'gizmos'; valid keys: level, ")
    assert error.endswith(
        "; tables: outputs, integrations, stdlib, trace, prices, budgets, gizmo @ $.gizmos"
    )


def test_a_table_of_a_plugin_not_installed_says_what_to_install(monkeypatch):
    from llmlog.config import loader

    monkeypatch.setitem(loader.KNOWN_TABLES, "gizmo", "llmlog-gizmo-not-installed")
    with pytest.raises(ConfigError) as info:
        llmlog.check_configuration({"gizmo": {"size": 7}}, autoload=False)
    assert info.value.errors == [
        "table [gizmo] needs the plugin that claims it: pip install llmlog-gizmo-not-installed "
        '(or "llmlog[standard]") @ $.gizmo'
    ]
    # installed, but its plugin is not loaded (no entry point of it answered)
    monkeypatch.setitem(loader.KNOWN_TABLES, "gizmo", "llmlog")
    with pytest.raises(ConfigError) as info:
        llmlog.check_configuration({"gizmo": {"size": 7}}, autoload=False)
    assert info.value.errors == [
        "table [gizmo] is claimed by llmlog, which is installed but its plugin is not loaded "
        "(it failed to import): `llmlog plugins` says why @ $.gizmo"
    ]


def test_two_plugins_claiming_one_table_conflict_and_llmlog_names_cannot_be_claimed():
    from llmlog.plugins import PluginHost

    host = PluginHost(autoload=False, extra=[("a", GizmoPlugin()), ("b", GizmoPlugin())])
    (conflict,) = host.conflicts
    assert conflict.startswith("table [gizmo] is claimed by both plugin 'a' and plugin 'b'")
    assert host.tables["gizmo"].plugin == "a"

    class Greedy:
        @hookimpl
        def llmlog_register_tables(self, register):
            register("outputs", GizmoOptions)

    host = PluginHost(autoload=False, extra=[("greedy", Greedy())])
    info = host.plugins["greedy"]
    assert info.status == "failed" and "cannot be claimed" in (info.error or "")
    assert "outputs" not in host.tables


def test_the_flight_recorder_table_without_its_engine_names_what_to_install_or_the_switch():
    # In the workspace the engine is installed (its entry point switched off here); with the core
    # alone it is not: either way the message says what to do.
    from importlib.metadata import PackageNotFoundError, version

    with pytest.raises(ConfigError) as info:
        llmlog.check_configuration({"flight_recorder": {"enabled": True}}, autoload=False)
    (error,) = info.value.errors
    try:
        version("llmlog-engine-flight")
    except PackageNotFoundError:
        assert error == (
            "table [flight_recorder] needs the plugin that claims it: pip install "
            'llmlog-engine-flight (or "llmlog[standard]") @ $.flight_recorder'
        )
    else:
        assert error.startswith("table [flight_recorder] is provided by plugin 'engine_flight' (")
        assert error.endswith(
            "which is not loaded: entry-point plugins are off (autoload=False) @ $.flight_recorder"
        )
