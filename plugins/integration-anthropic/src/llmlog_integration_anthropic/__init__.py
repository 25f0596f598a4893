"""llmlog for the Anthropic Python SDK: every messages call as one LLM span and ``llm_call``.

``llmlog_integration_anthropic.instrument()`` (or ``[integrations.anthropic] enabled = true`` in
``llmlog.toml``) wraps the SDK's ``Messages`` and ``AsyncMessages`` resource classes (``create``,
``stream``, ``parse``; the beta ones too), the way OpenTelemetry's contrib instrumentors do: each
call is recorded through llmlog's GenAI engine (``llmlog-engine-genai``) with its model, system
prompt and messages (tool uses and tool results kept), answer, tool calls, stop reason, tokens
(input, output, cache read, cache creation), latency, time to first token, cost and errors.
``uninstrument()`` puts the original functions back. See the README.
"""

from llmlog_integration_anthropic.options import AnthropicOptions

__all__ = ["AnthropicOptions", "instrument", "instrumented", "uninstrument"]


def __getattr__(name: str) -> object:
    # Importing this package must not import the SDK; the functions that need it do.
    if name in ("instrument", "uninstrument", "instrumented"):
        from llmlog_integration_anthropic import integration as module

        return getattr(module, name)
    raise AttributeError(name)
