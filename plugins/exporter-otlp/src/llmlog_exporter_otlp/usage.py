"""The GenAI usage attributes, named once: what the span and log exporters write, and what a
reader of OpenTelemetry data accepts.

The conventions' registry names the cache-creation count
``gen_ai.usage.cache_creation.input_tokens``; ``opentelemetry-util-genai``'s README and the usage
metrics document say ``gen_ai.usage.cache_write.input_tokens``. llmlog writes the registry's name
(:data:`CACHE_CREATION`) and :func:`usage_of_attributes` reads both. Cached and reasoning tokens
are *included in* ``gen_ai.usage.input_tokens`` and ``output_tokens``, as llmlog counts them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from llmlog.ext import TokenUsage, usage_from

__all__ = [
    "CACHE_CREATION",
    "CACHE_CREATION_ALIASES",
    "CACHE_READ",
    "INPUT",
    "OUTPUT",
    "REASONING",
    "usage_attributes",
    "usage_of_attributes",
]

INPUT: Final = "gen_ai.usage.input_tokens"
OUTPUT: Final = "gen_ai.usage.output_tokens"
CACHE_READ: Final = "gen_ai.usage.cache_read.input_tokens"
#: The spelling written (the conventions' registry).
CACHE_CREATION: Final = "gen_ai.usage.cache_creation.input_tokens"
#: Every spelling read, the written one first.
CACHE_CREATION_ALIASES: Final = (CACHE_CREATION, "gen_ai.usage.cache_write.input_tokens")
REASONING: Final = "gen_ai.usage.reasoning.output_tokens"


def usage_attributes(usage: TokenUsage) -> dict[str, int]:
    """The GenAI usage attributes of ``usage``: input and output tokens always, the cache and
    reasoning counts when not zero."""
    attributes = {INPUT: usage.prompt_tokens, OUTPUT: usage.completion_tokens}
    if usage.cache_read_tokens:
        attributes[CACHE_READ] = usage.cache_read_tokens
    if usage.cache_creation_tokens:
        attributes[CACHE_CREATION] = usage.cache_creation_tokens
    if usage.reasoning_tokens:
        attributes[REASONING] = usage.reasoning_tokens
    return attributes


def usage_of_attributes(attributes: Mapping[str, Any]) -> TokenUsage:
    """A :class:`~llmlog.TokenUsage` from a span's or a log record's GenAI attributes, accepting
    both spellings of the cache-creation count; counts that are not numbers are made safe (never
    raises)."""
    creation = next(
        (attributes[name] for name in CACHE_CREATION_ALIASES if attributes.get(name) is not None),
        None,
    )
    return usage_from(
        {
            "prompt_tokens": attributes.get(INPUT),
            "completion_tokens": attributes.get(OUTPUT),
            "cache_read_tokens": attributes.get(CACHE_READ),
            "cache_creation_tokens": creation,
            "reasoning_tokens": attributes.get(REASONING),
        }
    )
