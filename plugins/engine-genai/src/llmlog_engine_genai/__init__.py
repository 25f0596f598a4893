"""llmlog's engine for LLM-call integrations: one call, one span, one ``llm_call`` event.

The SDK integrations (OpenAI, Anthropic), LiteLLM's and DSPy's meet here. Each says what it
knows of a call as a :class:`CallData` through :func:`start_call` (or :func:`claim`); the first
in a context owns the call, those nested in it contribute their fields by :data:`RANK`, and the
owner writes the call once. Streams go back to the caller through :func:`stream_wrapper`.
See ``docs/integrations.md``.
"""

from llmlog_engine_genai.data import RANK, CallData, prompt_text
from llmlog_engine_genai.options import GenAIOptions
from llmlog_engine_genai.scope import (
    CallScope,
    announce_source,
    claim,
    claims_needed,
    close_shared_session,
    current_call,
    event_extra,
    problem,
    start_call,
    stats,
    unclaimed_data,
)
from llmlog_engine_genai.streams import (
    AsyncStream,
    StreamAggregator,
    SyncStream,
    TextBuffer,
    stream_wrapper,
)

__all__ = [
    "RANK",
    "AsyncStream",
    "CallData",
    "CallScope",
    "GenAIOptions",
    "StreamAggregator",
    "SyncStream",
    "TextBuffer",
    "announce_source",
    "claim",
    "claims_needed",
    "close_shared_session",
    "current_call",
    "event_extra",
    "problem",
    "prompt_text",
    "start_call",
    "stats",
    "stream_wrapper",
    "unclaimed_data",
]
