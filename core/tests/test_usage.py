"""Token usage as providers report it: cached input, cache creation, reasoning, audio and image
counts read into ``TokenUsage`` by one rule (details inside prompt and completion, never counted
twice), carried into a trace's ``usage`` and back, and bad numbers made safe without raising."""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType, SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmlog import TokenUsage
from llmlog.numbers import MAX_SAFE_INT, as_cost, as_count
from llmlog.render import format_tokens
from llmlog.tracing import usage_data
from llmlog.usage import DETAIL_FIELDS, detail_items, usage_from


def test_openai_chat_completions_usage_with_details():
    usage = usage_from(
        {
            "prompt_tokens": 100,
            "completion_tokens": 40,
            "total_tokens": 140,
            "prompt_tokens_details": {"cached_tokens": 60, "audio_tokens": 3},
            "completion_tokens_details": {"reasoning_tokens": 25, "audio_tokens": 2},
        }
    )
    assert usage == TokenUsage(
        100,
        40,
        140,
        cache_read_tokens=60,
        reasoning_tokens=25,
        audio_tokens=5,
    )


def test_openai_responses_api_usage_as_objects():
    sdk = SimpleNamespace(
        input_tokens=50,
        output_tokens=20,
        total_tokens=70,
        input_tokens_details=SimpleNamespace(cached_tokens=30),
        output_tokens_details=SimpleNamespace(reasoning_tokens=12),
    )
    usage = usage_from(sdk)
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (50, 20, 70)
    assert (usage.cache_read_tokens, usage.reasoning_tokens) == (30, 12)


def test_anthropic_native_usage_counts_the_cache_inside_the_prompt():
    # Anthropic's input_tokens leaves out what was read from and written to the cache.
    usage = usage_from(
        {
            "input_tokens": 10,
            "output_tokens": 5,
            "cache_read_input_tokens": 200,
            "cache_creation_input_tokens": 50,
        }
    )
    assert usage.prompt_tokens == 260 and usage.total_tokens == 265
    assert (usage.cache_read_tokens, usage.cache_creation_tokens) == (200, 50)


def test_litellm_anthropic_usage_already_counts_the_cache_in_the_prompt():
    # LiteLLM reports Anthropic's cache counts beside a prompt_tokens that includes them.
    usage = usage_from(
        {
            "prompt_tokens": 260,
            "completion_tokens": 5,
            "cache_read_input_tokens": 200,
            "cache_creation_input_tokens": 50,
            "prompt_tokens_details": {"cached_tokens": 200},
        }
    )
    assert (usage.prompt_tokens, usage.total_tokens) == (260, 265)
    assert (usage.cache_read_tokens, usage.cache_creation_tokens) == (200, 50)


@pytest.mark.parametrize(
    "bad",
    [float("nan"), float("inf"), -5, 2**70, "lots", [1], object()],
    ids=["nan", "inf", "negative", "huge", "text", "list", "object"],
)
def test_bad_counts_are_made_safe_never_raised(bad: Any):
    usage = usage_from(
        {
            "prompt_tokens": bad,
            "completion_tokens": 1,
            "prompt_tokens_details": {"cached_tokens": bad},
            "completion_tokens_details": {"reasoning_tokens": bad},
            "cost": bad,
        }
    )
    for value in (usage.prompt_tokens, usage.cache_read_tokens, usage.reasoning_tokens):
        assert isinstance(value, int) and 0 <= value <= MAX_SAFE_INT
    assert usage.completion_tokens == 1
    assert usage.cost is None or math.isfinite(usage.cost)


def test_an_object_whose_attributes_raise_gives_no_usage():
    class Hostile:
        def __getattr__(self, name: str) -> Any:
            raise RuntimeError("no")

    assert usage_from(Hostile()) == TokenUsage()


def test_sums_keep_every_detail_and_an_unknown_cost_stays_unknown():
    a = TokenUsage(10, 5, cost=0.5, cache_read_tokens=4, reasoning_tokens=2)
    b = TokenUsage(1, 1, cache_creation_tokens=1, image_tokens=3)
    total = a + b
    assert (total.prompt_tokens, total.completion_tokens, total.total_tokens) == (11, 6, 17)
    assert detail_items(total) == [
        ("cache_read_tokens", 4),
        ("cache_creation_tokens", 1),
        ("reasoning_tokens", 2),
        ("image_tokens", 3),
    ]
    assert total.cost is None
    # the seed's positional signature is unchanged
    assert TokenUsage(1, 2, 5, 0.1) == TokenUsage(1, 2, total_tokens=5, cost=0.1)


def test_text_shows_details_inside_the_brackets_and_nothing_new_without_them():
    assert format_tokens(TokenUsage(3, 4)) == "tokens=7(3↑4↓)"
    assert (
        format_tokens(TokenUsage(20, 10, cache_read_tokens=5, reasoning_tokens=4))
        == "tokens=30(20↑10↓ cached=5 reasoning=4)"
    )


def test_trace_usage_has_the_seed_keys_and_details_only_when_given():
    assert usage_data(TokenUsage(3, 4)) == {
        "prompt_tokens": 3,
        "completion_tokens": 4,
        "total_tokens": 7,
    }
    data = usage_data(
        {"prompt_tokens": 9, "completion_tokens": 2, "prompt_tokens_details": {"cached_tokens": 8}}
    )
    assert data == {
        "prompt_tokens": 9,
        "completion_tokens": 2,
        "total_tokens": 11,
        "cache_read_tokens": 8,
    }


_count = st.integers(min_value=0, max_value=MAX_SAFE_INT)


@given(
    st.builds(
        TokenUsage,
        _count,
        _count,
        _count,
        st.none()
        | st.floats(
            allow_nan=False, allow_infinity=False, width=64, min_value=-1e15, max_value=1e15
        ),
        **dict.fromkeys(DETAIL_FIELDS, _count),
    )
)
def test_trace_usage_reads_back_to_the_same_usage(usage: TokenUsage):
    """What a trace writes as ``usage`` is read back by ``usage_from`` to the same counts."""
    assert usage_from(usage_data(usage)) == usage


# -- the dict fast path ----------------------------------------------------------------------------
# usage_from as it was before a dict was read through its own ``get`` (the oracle: the same
# TokenUsage for every source, the same counts made safe in the same order).


def _ref_get(source: Any, name: str) -> Any:
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


def _ref_first(source: Any, *names: str) -> Any:
    for name in names:
        value = _ref_get(source, name)
        if value is not None:
            return value
    return None


def _ref_sum(*values: Any) -> Any:
    """The sum of the values that are given, ``None`` when none is."""
    given = [v for v in values if v is not None]
    if not given:
        return None
    if len(given) == 1:
        return given[0]
    return sum(as_count(v, "usage") for v in given)


def _ref_usage_from(usage: Any) -> TokenUsage:
    prompt_raw = _ref_get(usage, "prompt_tokens")
    anthropic = prompt_raw is None
    if prompt_raw is None:
        prompt_raw = _ref_get(usage, "input_tokens")
    completion_raw = _ref_first(usage, "completion_tokens", "output_tokens")
    total_raw = _ref_get(usage, "total_tokens")
    in_details = _ref_first(usage, "prompt_tokens_details", "input_tokens_details")
    out_details = _ref_first(usage, "completion_tokens_details", "output_tokens_details")

    anthropic_read = _ref_get(usage, "cache_read_input_tokens")
    anthropic_write = _ref_get(usage, "cache_creation_input_tokens")
    cache_read = as_count(
        _ref_first(usage, "cache_read_tokens")
        or _ref_get(in_details, "cached_tokens")
        or anthropic_read,
        "usage.cache_read_tokens",
    )
    cache_creation = as_count(
        _ref_first(usage, "cache_creation_tokens", "cache_write_tokens")
        or _ref_get(in_details, "cache_creation_tokens")
        or anthropic_write,
        "usage.cache_creation_tokens",
    )
    reasoning = as_count(
        _ref_first(usage, "reasoning_tokens") or _ref_get(out_details, "reasoning_tokens"),
        "usage.reasoning_tokens",
    )
    audio = as_count(
        _ref_get(usage, "audio_tokens")
        or _ref_sum(_ref_get(in_details, "audio_tokens"), _ref_get(out_details, "audio_tokens")),
        "usage.audio_tokens",
    )
    image = as_count(
        _ref_get(usage, "image_tokens")
        or _ref_sum(_ref_get(in_details, "image_tokens"), _ref_get(out_details, "image_tokens")),
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
        as_cost(_ref_get(usage, "cost"), "usage.cost"),
        cache_read_tokens=cache_read,
        cache_creation_tokens=cache_creation,
        reasoning_tokens=reasoning,
        audio_tokens=audio,
        image_tokens=image,
    )


def _reference_usage_from(usage: Any) -> TokenUsage:
    if isinstance(usage, TokenUsage):
        return usage
    try:
        return _ref_usage_from(usage)
    except Exception:
        return TokenUsage()


_COUNT_NAMES = (
    "prompt_tokens",
    "input_tokens",
    "completion_tokens",
    "output_tokens",
    "total_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "cache_read_tokens",
    "cache_creation_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "audio_tokens",
    "image_tokens",
    "cost",
)
_DETAIL_NAMES = (
    "prompt_tokens_details",
    "input_tokens_details",
    "completion_tokens_details",
    "output_tokens_details",
)
_numbers = st.one_of(
    st.none(),
    st.integers(-10, 2**60),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.sampled_from(["12", "lots", ""]),
)
_detail = st.dictionaries(
    st.sampled_from(
        [
            "cached_tokens",
            "cache_creation_tokens",
            "reasoning_tokens",
            "audio_tokens",
            "image_tokens",
        ]
    ),
    _numbers,
)
_details = st.one_of(st.none(), _detail, _detail.map(lambda d: SimpleNamespace(**d)))
_usages = st.fixed_dictionaries(
    {},
    optional={**dict.fromkeys(_COUNT_NAMES, _numbers), **dict.fromkeys(_DETAIL_NAMES, _details)},
)


@given(_usages)
def test_a_dict_is_read_as_the_generic_path_read_it(usage: dict[str, Any]):
    """The dict fast path gives what usage_from gave before it, for a dict, a read-only mapping
    and an object of the same names (the number adjustments made in the same order)."""
    from llmlog import state

    for source in (usage, MappingProxyType(usage), SimpleNamespace(**usage)):
        before = state.number_adjustments.total()
        expected = _reference_usage_from(source)
        made = state.number_adjustments.total() - before
        assert usage_from(source) == expected
        assert state.number_adjustments.total() - before == 2 * made
