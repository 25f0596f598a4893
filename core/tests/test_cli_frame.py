"""The command line is a frame: ``plugins`` and ``config``, and whatever the plugins register
(the default plugins' ``view`` and ``convert`` among them); the core imports no plugin."""

import ast
from pathlib import Path

import pytest

from llmlog import hookimpl
from llmlog.cli import build_parser
from llmlog.plugins import DEFAULT_PLUGINS, PluginHost
from llmlog.registry import ComponentKind
from llmlog.viewing import add_view_flags, view_arguments

CORE = Path(__file__).resolve().parent.parent / "src" / "llmlog"

#: The commands of the frame itself.
FRAME = {"plugins", "config"}


def commands(host: PluginHost) -> set[str]:
    parser = build_parser(host)
    (sub,) = [a for a in parser._actions if a.dest == "command"]
    return set(sub.choices)


class Greeter:
    @hookimpl
    def llmlog_register_commands(self, register, host):
        register("hello", lambda args: len(host.commands), help="greet")


def test_every_command_but_the_frame_comes_from_a_registration():
    host = PluginHost(autoload=False, extra=[("greeter", Greeter())])
    assert commands(host) - set(host.commands) == FRAME
    assert {c.name: c.plugin for c in host.commands.values()} == {
        "view": "llmlog.default_plugins.trace_commands",
        "convert": "llmlog.default_plugins.trace_commands",
        "reprice": "llmlog.default_plugins.pricing",
        "hello": "greeter",
    }
    args = build_parser(host).parse_args(["hello"])
    assert args.run(args) == 4  # the command got the host, complete


def test_blocking_a_plugin_removes_its_command():
    host = PluginHost(autoload=False, extra=[("greeter", Greeter())])
    assert "hello" in commands(host)
    assert "hello" not in commands(PluginHost(autoload=False))


def test_autoload_off_keeps_the_default_plugins(monkeypatch):
    monkeypatch.setenv("LLMLOG_DISABLE_PLUGIN_AUTOLOAD", "1")
    host = PluginHost()
    assert set(DEFAULT_PLUGINS) <= {n for n, p in host.plugins.items() if p.builtin}
    assert {"view", "convert"} <= commands(host)
    assert "stderr" in host.components(ComponentKind.OUTPUT)


def test_a_command_whose_arguments_raise_says_so_and_the_others_work(capsys):
    class Broken:
        @hookimpl
        def llmlog_register_commands(self, register):
            def arguments(parser):
                raise RuntimeError("no parser for me")

            register("broken", lambda args: 0, arguments=arguments)

    parser = build_parser(PluginHost(autoload=False, extra=[("broken", Broken())]))
    args = parser.parse_args(["broken"])
    assert args.run(args) == 1
    assert capsys.readouterr().err == (
        "llmlog: command 'broken' (plugin 'broken') cannot run: its arguments raised "
        "RuntimeError: no parser for me\n"
    )
    assert parser.parse_args(["view", "x"]).file == "x"


def imported_modules(path: Path) -> set[str]:
    """Every module an ``import`` in ``path`` names, at any depth (inside functions too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
        elif (  # importlib.import_module("..."), __import__("...")
            isinstance(node, ast.Call)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and getattr(node.func, "attr", getattr(node.func, "id", ""))
            in ("import_module", "__import__")
        ):
            found.add(node.args[0].value)
    return found


def test_the_core_imports_no_plugin():
    """Plugins import the core, never the other way round (not even lazily): the core reaches a
    plugin only through the plugin host (entry points and hooks)."""
    offenders = {
        str(path.relative_to(CORE)): sorted(
            m for m in imported_modules(path) if m.startswith("llmlog_")
        )
        for path in sorted(CORE.rglob("*.py"))
    }
    assert {k: v for k, v in offenders.items() if v} == {}


# -- llmlog view's flags: the shared ones and each format's own


def trace_format(name, declare):
    class Format:
        @hookimpl
        def llmlog_register_trace_formats(self, register):
            register(
                name,
                lambda options, context: None,
                detect=lambda line: False,
                view_arguments=declare,
            )

    return (name, Format())


def view_help(host: PluginHost) -> str:
    parser = build_parser(host)
    (sub,) = [a for a in parser._actions if a.dest == "command"]
    return sub.choices["view"].format_help()


def test_a_format_declares_its_view_flags_and_their_help_names_it():
    def rlm(parser):
        parser.add_argument("--iter", type=int, metavar="N", help="only iteration N")
        parser.add_argument("--final", action="store_true", help="only the final answer")

    def dspy(parser):
        parser.add_argument("--final", action="store_true", help="only the final answer")

    def other(parser):
        parser.add_argument("--final", action="store_true", help="the last line")

    host = PluginHost(autoload=False, extra=[trace_format("rlm", rlm), trace_format("dspy", dspy)])
    text = " ".join(view_help(host).split())
    assert "--iter N only iteration N (rlm)" in text
    assert "--final only the final answer (dspy, rlm)" in text
    args = build_parser(host).parse_args(["view", "f", "--iter", "3", "--final"])
    assert (args.iter, args.final, args.stats) == (3, True, False)

    host = PluginHost(autoload=False, extra=[trace_format("dspy", dspy), trace_format("x", other)])
    assert "--final dspy: only the final answer; x: the last line" in " ".join(
        view_help(host).split()
    )


def test_a_clashing_or_failing_format_flag_is_left_out_with_a_warning(capsys):
    def clashing(parser):
        parser.add_argument("--stats", action="store_true", help="mine")
        parser.add_argument("--deep", action="store_true", help="deeper")

    def different(parser):
        parser.add_argument("--deep", type=int, help="how deep")

    def failing(parser):
        raise RuntimeError("oops")

    formats = PluginHost(
        autoload=False,
        extra=[
            trace_format("a", clashing),
            trace_format("b", different),
            trace_format("c", failing),
        ],
    ).components(ComponentKind.TRACE_FORMAT)
    import argparse

    parser = argparse.ArgumentParser()
    add_view_flags(parser, formats)
    err = capsys.readouterr().err
    assert (
        "trace format 'a': view flag --stats left out: argument --stats: conflicting option string"
        in err
    )
    assert "trace format 'b': view flag --deep left out: declared differently by 'a'" in err
    assert "trace format 'c': its view flags raised RuntimeError: oops" in err
    assert vars(parser.parse_args(["--deep"]))["deep"] is True


def test_view_arguments_are_every_flag_at_its_default():
    def rlm(parser):
        parser.add_argument("--iter", type=int, metavar="N", help="only iteration N")

    formats = PluginHost(autoload=False, extra=[trace_format("rlm", rlm)]).components(
        ComponentKind.TRACE_FORMAT
    )
    args = view_arguments(formats, stats=True)
    assert (args.stats, args.iter, args.watch, args.search) == (True, None, False, None)
    with pytest.raises(TypeError, match="unknown llmlog view flags: final"):
        view_arguments(formats, final=True)
