"""llmlog for LiteLLM: trace every LiteLLM call with one line or one TOML switch.

``llmlog_integration_litellm.instrument()`` (or ``[integrations.litellm] enabled = true`` in
``llmlog.toml``) registers a LiteLLM ``CustomLogger`` (LiteLLM's own callback API, no patching)
that records every ``completion``, ``acompletion``, stream and embedding as one ``LM:<model>``
span with one ``llm_call`` event through the shared GenAI engine (``llmlog-engine-genai``): the
provider and model LiteLLM resolved, the messages, parameters, response, finish reason, tokens
(cached and reasoning included), LiteLLM's ``response_cost`` as the reported cost, the time to
first token of a stream, and errors with their class and HTTP status. ``uninstrument()`` removes
exactly that callback.
"""

from llmlog_integration_litellm.options import LiteLLMOptions

__all__ = [
    "LiteLLMOptions",
    "LlmlogLiteLLMLogger",
    "aflush",
    "flush",
    "instrument",
    "instrumented",
    "uninstrument",
]


def __getattr__(name: str) -> object:
    # Importing this package must not import LiteLLM (slow, and it may fetch its cost map); the
    # functions that need it do.
    if name in ("instrument", "uninstrument", "instrumented", "flush", "aflush"):
        from llmlog_integration_litellm import integration as module

        return getattr(module, name)
    if name == "LlmlogLiteLLMLogger":
        from llmlog_integration_litellm.logger import LlmlogLiteLLMLogger

        return LlmlogLiteLLMLogger
    raise AttributeError(name)
