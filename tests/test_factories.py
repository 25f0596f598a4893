"""Every component kind is built the same way: ``factory(options, context)``, the context an
``llmlog.ext.BuildContext`` (issue 16: one factory signature for every kind). Checked on every
component the installed plugins register, first-party and template alike, by building each one
with its default options where that creates nothing outside a temporary directory."""

from __future__ import annotations

import inspect

import pytest

from llmlog.ext import BuildContext, ComponentKind, PluginHost
from llmlog.tracing import open_trace_writer

HOST = PluginHost()
COMPONENTS = [component for kind in ComponentKind for component in HOST.components(kind).values()]


def _ids(component):
    return f"{component.kind.value}:{component.name}"


def test_every_kind_has_components_here():
    # The workspace installs a plugin of each kind; a kind with none would check nothing.
    assert {component.kind for component in COMPONENTS} == set(ComponentKind)


@pytest.mark.parametrize("component", COMPONENTS, ids=_ids)
def test_every_factory_takes_options_and_a_build_context(component):
    parameters = list(inspect.signature(component.factory).parameters.values())
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    assert len(positional) >= 2 or any(p.kind is p.VAR_POSITIONAL for p in parameters), (
        f"{_ids(component)}: factory{inspect.signature(component.factory)} does not take "
        "(options, context)"
    )


@pytest.mark.parametrize(
    "component",
    [c for c in COMPONENTS if c.kind in (ComponentKind.FORMATTER, ComponentKind.RECORDER)],
    ids=_ids,
)
def test_formatters_and_backends_build_from_a_build_context(component):
    options = component.options() if component.options is not None else None
    assert component.factory(options, BuildContext(component.name)) is not None


@pytest.mark.parametrize(
    "component", HOST.components(ComponentKind.TRACE_FORMAT).values(), ids=_ids
)
def test_trace_writers_get_their_path_in_the_context(component, tmp_path):
    options = component.options() if component.options is not None else None
    writer = open_trace_writer(component, options, tmp_path)
    writer.close()
    assert [p.name for p in tmp_path.iterdir()], "the writer wrote nowhere it was told"
    with pytest.raises(ValueError, match="needs a file or directory"):
        component.factory(options, BuildContext(component.name))
