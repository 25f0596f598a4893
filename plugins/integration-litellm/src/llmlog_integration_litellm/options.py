"""The options of ``[integrations.litellm]``."""

from __future__ import annotations

import attrs

from llmlog_engine_genai import GenAIOptions

__all__ = ["LiteLLMOptions"]


@attrs.frozen(kw_only=True)
class LiteLLMOptions(GenAIOptions):
    """Options of the LiteLLM integration (``enabled`` is read by the configuration itself).

    ``sessions`` (``"shared"`` or ``"per_call"``) is the engine's: where a call made outside any
    trace session is written (see :class:`llmlog_engine_genai.GenAIOptions`).
    """
