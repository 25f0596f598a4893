"""Registers the ``dspy`` integration."""

from __future__ import annotations

from llmlog import hookimpl
from llmlog.interfaces import Integration
from llmlog.registry import ComponentRegister
from llmlog_integration_dspy.options import DspyOptions


def _factory(options: DspyOptions | None) -> Integration:
    # DSPy is imported only when the integration is enabled: every installed plugin module is
    # imported at configure time, and importing DSPy takes a second.
    from llmlog_integration_dspy.integration import DspyIntegration

    return DspyIntegration(options)


@hookimpl
def llmlog_register_integrations(register: ComponentRegister) -> None:
    register(
        "dspy",
        _factory,
        options=DspyOptions,
        description="Trace DSPy programs through DSPy's callback API (modules, LM calls, tools, evaluations, interpreters).",
    )
