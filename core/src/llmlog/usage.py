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

import functools
from collections.abc import Callable, Mapping
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
        # A dict (LiteLLM's, DSPy's usage, once per LLM call) is read through its own ``get``:
        # a C call per name instead of a Python one; anything else through _get's checks.
        return _usage_from(usage.get if type(usage) is dict else functools.partial(_get, usage))
    except Exception:  # an object whose attributes raise: no usage rather than a traceback
        return TokenUsage()


def _usage_from(get: Callable[[str], Any]) -> TokenUsage:
    """:func:`usage_from` of the source whose values ``get`` reads by name (``None``: absent)."""
    prompt_raw = get("prompt_tokens")
    anthropic = prompt_raw is None
    if prompt_raw is None:
        prompt_raw = get("input_tokens")
    completion_raw = get("completion_tokens")
    if completion_raw is None:
        completion_raw = get("output_tokens")
    total_raw = get("total_tokens")
    in_details = get("prompt_tokens_details")
    if in_details is None:
        in_details = get("input_tokens_details")
    out_details = get("completion_tokens_details")
    if out_details is None:
        out_details = get("output_tokens_details")

    anthropic_read = get("cache_read_input_tokens")
    anthropic_write = get("cache_creation_input_tokens")
    # The details objects are absent in the common case: their reads are skipped, not made;
    # an absent count is 0 without a call to as_count, and an int in range is taken as it is.
    cache_read = (
        get("cache_read_tokens")
        or (None if in_details is None else _get(in_details, "cached_tokens"))
        or anthropic_read
    )
    cache_read = 0 if cache_read is None else as_count(cache_read, "usage.cache_read_tokens")
    creation = get("cache_creation_tokens")
    if creation is None:
        creation = get("cache_write_tokens")
    cache_creation = (
        creation
        or (None if in_details is None else _get(in_details, "cache_creation_tokens"))
        or anthropic_write
    )
    cache_creation = (
        0 if cache_creation is None else as_count(cache_creation, "usage.cache_creation_tokens")
    )
    reasoning = get("reasoning_tokens") or (
        None if out_details is None else _get(out_details, "reasoning_tokens")
    )
    reasoning = 0 if reasoning is None else as_count(reasoning, "usage.reasoning_tokens")
    details = in_details is not None or out_details is not None
    audio = get("audio_tokens") or (
        _sum(_get(in_details, "audio_tokens"), _get(out_details, "audio_tokens"))
        if details
        else None
    )
    audio = 0 if audio is None else as_count(audio, "usage.audio_tokens")
    image = get("image_tokens") or (
        _sum(_get(in_details, "image_tokens"), _get(out_details, "image_tokens"))
        if details
        else None
    )
    image = 0 if image is None else as_count(image, "usage.image_tokens")
    prompt = (
        prompt_raw
        if type(prompt_raw) is int and 0 <= prompt_raw <= MAX_SAFE_INT
        else as_count(prompt_raw, "usage.prompt_tokens")
    )
    if anthropic and (anthropic_read is not None or anthropic_write is not None):
        # Anthropic's input_tokens leaves the cache out; the rule counts it in.
        prompt = min(prompt + cache_read + cache_creation, MAX_SAFE_INT)
    completion = (
        completion_raw
        if type(completion_raw) is int and 0 <= completion_raw <= MAX_SAFE_INT
        else as_count(completion_raw, "usage.completion_tokens")
    )
    if total_raw is None:
        total = min(prompt + completion, MAX_SAFE_INT)
    elif type(total_raw) is int and 0 <= total_raw <= MAX_SAFE_INT:
        total = total_raw
    else:
        total = as_count(total_raw, "usage.total_tokens")
    cost = get("cost")
    return TokenUsage(
        prompt,
        completion,
        total,
        None if cost is None else as_cost(cost, "usage.cost"),
        cache_read_tokens=cache_read,
        cache_creation_tokens=cache_creation,
        reasoning_tokens=reasoning,
        audio_tokens=audio,
        image_tokens=image,
    )
