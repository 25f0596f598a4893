"""Registers the ``anthropic`` integration (``[integrations.anthropic] enabled = true``)."""

from __future__ import annotations

from llmlog import hookimpl
from llmlog.ext import BuildContext, ComponentRegister, Integration
from llmlog_integration_anthropic.options import AnthropicOptions


def _factory(options: AnthropicOptions | None, context: BuildContext) -> Integration:
    # The SDK is imported only when the integration is enabled: every installed plugin module is
    # imported at configure time.
    from llmlog_integration_anthropic.integration import AnthropicIntegration

    return AnthropicIntegration(options)


@hookimpl
def llmlog_register_integrations(register: ComponentRegister) -> None:
    register(
        "anthropic",
        _factory,
        options=AnthropicOptions,
        description="Trace the Anthropic SDK's messages calls (sync, async, streamed) as LLM spans.",
    )
