"""Registers the ``openai`` integration (``[integrations.openai] enabled = true``)."""

from __future__ import annotations

from llmlog import hookimpl
from llmlog.ext import BuildContext, ComponentRegister, Integration
from llmlog_integration_openai.options import OpenAIOptions


def _factory(options: OpenAIOptions | None, context: BuildContext) -> Integration:
    # The SDK is imported only when the integration is enabled: every installed plugin module is
    # imported at configure time.
    from llmlog_integration_openai.integration import OpenAIIntegration

    return OpenAIIntegration(options)


@hookimpl
def llmlog_register_integrations(register: ComponentRegister) -> None:
    register(
        "openai",
        _factory,
        options=OpenAIOptions,
        description="Trace the OpenAI Python SDK's chat completions, Responses API and embeddings (sync, async, streaming).",
    )
