"""Registers the ``dspy`` integration, and ``llmlog demo --dspy`` with ``llmlog-command-demo``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmlog import hookimpl
from llmlog.ext import BuildContext, ComponentRegister, Integration
from llmlog_integration_dspy.options import DspyOptions


def _factory(options: DspyOptions | None, context: BuildContext) -> Integration:
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


def _run_demo(directory: Path) -> Path:
    # The demo module imports DSPy: an ImportError here says it is missing.
    from llmlog_integration_dspy.demo import run_dspy_demo

    return run_dspy_demo(directory)


# Declared by llmlog-command-demo (llmlog_command_demo.hookspecs); optional, so this plugin loads
# where that one is not installed.
@hookimpl(optionalhook=True)
def llmlog_register_demos(register: Any) -> None:
    register(
        "dspy",
        _run_demo,
        help="trace a DSPy ReAct agent and a ChainOfThought on DummyLM, then show the trace",
        needs="DSPy and the integration",
        install="llmlog-integration-dspy",
    )
