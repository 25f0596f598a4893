"""llmlog for the OpenAI Python SDK: every chat completion, Responses API call and embedding
as an ``LM:<model>`` span with its ``llm_call`` event (messages, response, tool calls, tokens
with cached and reasoning counts, cost, time to first token, the provider's errors).

``llmlog_integration_openai.instrument()`` (or ``[integrations.openai] enabled = true`` in
``llmlog.toml``) wraps the SDK's resource classes the way OpenTelemetry's instrumentors do;
``uninstrument()`` puts the original methods back. A call LiteLLM or DSPy also traces is one
span (``llmlog-engine-genai``).
"""

from llmlog_integration_openai.options import OpenAIOptions

__all__ = ["OpenAIOptions", "instrument", "instrumented", "uninstrument"]


def __getattr__(name: str) -> object:
    # Importing this package must not import the SDK; the functions that need it do.
    if name in ("instrument", "uninstrument", "instrumented"):
        from llmlog_integration_openai import integration as module

        return getattr(module, name)
    raise AttributeError(name)
