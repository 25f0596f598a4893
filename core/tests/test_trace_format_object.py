"""A trace format registers as one object (``register(FORMAT)``) or as its parts, alike."""

import pytest

from llmlog.ext import ComponentKind, TraceFormat, hookimpl
from llmlog.plugins import PluginHost


def writer(options, context):
    return None


def detect(first_line):
    return first_line.startswith(b"{")


def read(path, skipped=None):
    return iter(())


def view(path, args, out):
    return 0


def flags(parser):
    parser.add_argument("--mine", action="store_true")


def registering(*args, **kwargs):
    class Plugin:
        @hookimpl
        def llmlog_register_trace_formats(self, register):
            register(*args, **kwargs)

    return Plugin()


def installed(plugin) -> PluginHost:
    return PluginHost(autoload=False, extra=[("mine", plugin)])


def component(plugin):
    return installed(plugin).components(ComponentKind.TRACE_FORMAT)["mine"]


PARTS = {"detect": detect, "read": read, "view": view, "view_arguments": flags}


def test_an_object_and_the_parts_give_the_same_component():
    whole = component(
        registering(TraceFormat(name="mine", writer=writer, description="d", **PARTS))
    )
    parts = component(registering("mine", writer, description="d", **PARTS))
    for got in (whole, parts):
        assert (got.name, got.factory, got.description, got.plugin) == ("mine", writer, "d", "mine")
        assert (got.support.detect, got.support.read, got.support.view) == (detect, read, view)
        assert got.support.view_arguments is flags


def test_any_object_with_the_attributes_is_a_trace_format():
    class Mine:
        name = "mine"

        def writer(self, options, context):
            return None

        def detect(self, first_line):
            return True

    got = component(registering(Mine()))
    assert got.support.detect(b"x") is True
    assert (got.support.read, got.support.view, got.description) == (None, None, "")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((object(),), "must have a name (a string) and a writer (callable)"),
        ((TraceFormat(name="mine", writer=writer), writer), "takes a trace-format object alone"),
    ],
)
def test_a_malformed_format_object_fails_its_plugin_with_the_reason(args, message):
    host = installed(registering(*args))
    assert "mine" not in host.components(ComponentKind.TRACE_FORMAT)
    assert message in (host.plugins["mine"].error or "")
