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
    "COST",
    "COST_SOURCE",
    "COST_UNKNOWN",
    "COST_UNKNOWN_REASON",
    "INPUT",
    "OUTPUT",
    "REASONING",
    "cost_attributes",
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

# The conventions name no cost attribute (field-2026-12.md): llmlog's own, under its namespace.
#: The cost in US dollars, when known.
COST: Final = "llmlog.cost.usd"
#: Where the known cost came from: ``reported``, ``override`` or ``table:NAME@VERSION``.
COST_SOURCE: Final = "llmlog.cost.source"
#: ``true`` when the price is unknown (never written as a cost of 0) ...
COST_UNKNOWN: Final = "llmlog.cost.unknown"
#: ... and why, when the pricing chain said.
COST_UNKNOWN_REASON: Final = "llmlog.cost.unknown_reason"


def cost_attributes(
    cost: Any, source: Any = None, unknown_reason: Any = None
) -> dict[str, bool | float | str]:
    """The cost attributes of one LLM call or log entry: ``llmlog.cost.usd`` with its
    ``llmlog.cost.source``, or ``llmlog.cost.unknown`` with its reason; never a cost of 0 for
    an unknown price."""
    if isinstance(cost, int | float) and not isinstance(cost, bool):
        attributes: dict[str, bool | float | str] = {COST: float(cost)}
        if isinstance(source, str) and source:
            attributes[COST_SOURCE] = source
        return attributes
    attributes = {COST_UNKNOWN: True}
    if isinstance(unknown_reason, str) and unknown_reason:
        attributes[COST_UNKNOWN_REASON] = unknown_reason
    return attributes


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
