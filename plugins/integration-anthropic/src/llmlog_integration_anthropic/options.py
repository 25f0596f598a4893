"""The options of ``[integrations.anthropic]``."""

from __future__ import annotations

import attrs

from llmlog_engine_genai import GenAIOptions

__all__ = ["AnthropicOptions"]


@attrs.frozen(kw_only=True)
class AnthropicOptions(GenAIOptions):
    """Options of the Anthropic SDK integration (``enabled`` is read by the configuration
    itself). ``sessions`` (``"shared"`` or ``"per_call"``) is the engine's: where a call made
    outside any trace session is written."""
