"""Token usage as providers report it: cached input, cache creation, reasoning, audio and image
counts read into ``TokenUsage`` by one rule (details inside prompt and completion, never counted
twice), carried into a trace's ``usage`` and back, and bad numbers made safe without raising."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmlog import TokenUsage
from llmlog.numbers import MAX_SAFE_INT
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
