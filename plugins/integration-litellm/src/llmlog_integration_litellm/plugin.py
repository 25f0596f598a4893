"""Registers the ``litellm`` integration."""

from __future__ import annotations

from llmlog import hookimpl
from llmlog.ext import BuildContext, ComponentRegister, Integration
from llmlog_integration_litellm.options import LiteLLMOptions


def _factory(options: LiteLLMOptions | None, context: BuildContext) -> Integration:
    # LiteLLM is imported only when the integration is enabled: every installed plugin module is
    # imported at configure time, and importing LiteLLM takes a second.
    from llmlog_integration_litellm.integration import LiteLLMIntegration

    return LiteLLMIntegration(options)


@hookimpl
def llmlog_register_integrations(register: ComponentRegister) -> None:
    register(
        "litellm",
        _factory,
        options=LiteLLMOptions,
        description="Trace LiteLLM calls (completion, acompletion, streams, embeddings) through LiteLLM's callback API.",
    )
