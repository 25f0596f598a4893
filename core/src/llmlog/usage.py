"""Token usage as providers report it, read into a :class:`~llmlog.TokenUsage`, and the names of
the detail counts, defined once for every format.

The rule for the counts (the OpenTelemetry GenAI conventions' and OpenAI's): cached input (read
from a provider's prompt cache) and cache creation (written to it) are *part of* the prompt
tokens; reasoning tokens are *part of* the completion tokens; audio and image tokens are part of
whichever side carried them. ``total_tokens`` is prompt plus completion tokens, so the details are
never added twice. Anthropic's native usage counts ``input_tokens`` *without* the cache, so
:func:`usage_from` adds its cache counts to the prompt tokens when it reads that shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llmlog.numbers import MAX_SAFE_INT, as_cost, as_count
from llmlog.records import DETAIL_FIELDS, DETAIL_LABELS, TokenUsage, detail_items, detail_text

__all__ = ["DETAIL_FIELDS", "DETAIL_LABELS", "detail_items", "detail_text", "usage_from"]


def _get(source: Any, name: str) -> Any:
    if type(source) is dict:  # the common case (LiteLLM's, DSPy's usage): no ABC check
        return source.get(name)
    if source is None:
        return None
    try:
        if isinstance(source, Mapping):
            return source.get(name)
        return getattr(source, name, None)
    except Exception:
        return None


def _first(source: Any, *names: str) -> Any:
    for name in names:
        value = _get(source, name)
        if value is not None:
            return value
    return None


def _sum(*values: Any) -> Any:
    """The sum of the values that are given, ``None`` when none is."""
    given = [v for v in values if v is not None]
    if not given:
        return None
    if len(given) == 1:
        return given[0]
    return sum(as_count(v, "usage") for v in given)


def usage_from(usage: Any) -> TokenUsage:
    """A provider's or a framework's usage as a :class:`~llmlog.TokenUsage`, every count a safe
    integer (:func:`llmlog.numbers.as_count`: NaN, negative, text or past 2^53 is made safe and
    reported once, never raised) and the cost only when finite.

    Read, from a mapping or an object:

    - ``prompt_tokens``/``completion_tokens``/``total_tokens`` (OpenAI Chat Completions,
      LiteLLM, DSPy's ``lm.history``), or ``input_tokens``/``output_tokens`` (Anthropic, the
      OpenAI Responses API); a missing total is prompt plus completion;
    - cached input: ``prompt_tokens_details.cached_tokens`` / ``input_tokens_details.cached_tokens``
      (OpenAI), ``cache_read_input_tokens`` (Anthropic, LiteLLM), or llmlog's own
      ``cache_read_tokens``;
    - cache creation: ``cache_creation_input_tokens`` (Anthropic, LiteLLM) or
      ``cache_creation_tokens`` (also ``cache_write_tokens``);
    - reasoning: ``completion_tokens_details.reasoning_tokens`` /
      ``output_tokens_details.reasoning_tokens`` or ``reasoning_tokens``;
    - audio and image: the ``audio_tokens``/``image_tokens`` of both details objects, summed, or
      top-level ``audio_tokens``/``image_tokens``;
    - ``cost`` when the source has one.

    Anthropic's native shape (``input_tokens`` with ``cache_read_input_tokens`` or
    ``cache_creation_input_tokens``, no ``prompt_tokens``) counts its input without the cache;
    both cache counts are added to the prompt tokens, so the module's rule holds.
    A :class:`~llmlog.TokenUsage` is returned as is. Never raises.
    """
    if isinstance(usage, TokenUsage):
        return usage
    try:
        return _usage_from(usage)
    except Exception:  # an object whose attributes raise: no usage rather than a traceback
        return TokenUsage()


def _usage_from(usage: Any) -> TokenUsage:
    prompt_raw = _get(usage, "prompt_tokens")
    anthropic = prompt_raw is None
    if prompt_raw is None:
        prompt_raw = _get(usage, "input_tokens")
    completion_raw = _first(usage, "completion_tokens", "output_tokens")
    total_raw = _get(usage, "total_tokens")
    in_details = _first(usage, "prompt_tokens_details", "input_tokens_details")
    out_details = _first(usage, "completion_tokens_details", "output_tokens_details")

    anthropic_read = _get(usage, "cache_read_input_tokens")
    anthropic_write = _get(usage, "cache_creation_input_tokens")
    cache_read = as_count(
        _first(usage, "cache_read_tokens") or _get(in_details, "cached_tokens") or anthropic_read,
        "usage.cache_read_tokens",
    )
    cache_creation = as_count(
        _first(usage, "cache_creation_tokens", "cache_write_tokens")
        or _get(in_details, "cache_creation_tokens")
        or anthropic_write,
        "usage.cache_creation_tokens",
    )
    reasoning = as_count(
        _first(usage, "reasoning_tokens") or _get(out_details, "reasoning_tokens"),
        "usage.reasoning_tokens",
    )
    audio = as_count(
        _get(usage, "audio_tokens")
        or _sum(_get(in_details, "audio_tokens"), _get(out_details, "audio_tokens")),
        "usage.audio_tokens",
    )
    image = as_count(
        _get(usage, "image_tokens")
        or _sum(_get(in_details, "image_tokens"), _get(out_details, "image_tokens")),
        "usage.image_tokens",
    )
    prompt = as_count(prompt_raw, "usage.prompt_tokens")
    if anthropic and (anthropic_read is not None or anthropic_write is not None):
        # Anthropic's input_tokens leaves the cache out; the rule counts it in.
        prompt = min(prompt + cache_read + cache_creation, MAX_SAFE_INT)
    completion = as_count(completion_raw, "usage.completion_tokens")
    total = (
        min(prompt + completion, MAX_SAFE_INT)
        if total_raw is None
        else as_count(total_raw, "usage.total_tokens")
    )
    return TokenUsage(
        prompt,
        completion,
        total,
        as_cost(_get(usage, "cost"), "usage.cost"),
        cache_read_tokens=cache_read,
        cache_creation_tokens=cache_creation,
        reasoning_tokens=reasoning,
        audio_tokens=audio,
        image_tokens=image,
    )
