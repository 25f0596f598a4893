"""The options of ``[integrations.openai]``."""

from __future__ import annotations

import attrs

from llmlog_engine_genai import GenAIOptions

__all__ = ["OpenAIOptions"]


@attrs.frozen(kw_only=True)
class OpenAIOptions(GenAIOptions):
    """Options of the OpenAI integration (``enabled`` is read by the configuration itself;
    ``sessions`` is the engine's: ``shared`` or ``per_call``)."""

    #: Ask for the usage of a streamed chat completion (``stream_options.include_usage``) when
    #: the caller did not, and hide the extra usage-only last chunk from the caller. ``false``
    #: for a server that rejects ``stream_options``: such streams are then recorded without
    #: token counts or cost.
    stream_usage: bool = True
