"""The genai-prices table: flat prices as rates that agree with genai-prices' own calculation,
tiered prices as float rates per tier that agree with it too, unknown models as LookupError with the reason,
the plugin registered as a pricing component, and the data imported only on the first lookup."""

from __future__ import annotations

import subprocess
import sys

import pytest
from genai_prices import Usage, calc_price
from hypothesis import given, settings
from hypothesis import strategies as st

from llmlog.ext import ComponentKind, PluginHost, Rates
from llmlog_pricing_genai import GenaiPrices, TieredRates


@pytest.mark.parametrize(
    ("provider", "model"),
    [("openai", "gpt-4o-mini"), ("openai", "o3"), ("anthropic", "claude-3-5-haiku-latest")],
)
def test_flat_rates_agree_with_genai_prices(provider, model):
    rates = GenaiPrices().lookup(provider, model)
    assert isinstance(rates, Rates)
    usage = {
        "prompt_tokens": 12_000,
        "completion_tokens": 900,
        "cache_read_tokens": 8_000,
        "cache_creation_tokens": 1_000,
        "reasoning_tokens": 300,
    }
    expected = calc_price(
        Usage(
            input_tokens=12_000,
            cache_read_tokens=8_000,
            cache_write_tokens=1_000,
            output_tokens=900,
        ),
        model,
        provider_id=provider,
    ).total_price
    assert rates.cost(usage) == pytest.approx(float(expected), rel=1e-9)


def test_tiered_prices_are_rates_per_tier_past_the_input_threshold():
    price = GenaiPrices().lookup("google", "gemini-2.5-pro")
    assert isinstance(price, TieredRates)
    small = {"prompt_tokens": 1_000, "completion_tokens": 100}
    large = {"prompt_tokens": 300_000, "completion_tokens": 100}
    for usage in (small, large):
        expected = calc_price(
            Usage(input_tokens=usage["prompt_tokens"], output_tokens=100),
            "gemini-2.5-pro",
            provider_id="google",
        ).total_price
        assert price(usage) == pytest.approx(float(expected), rel=1e-9)
    # past the tier the price per token rises, for all the call's tokens
    assert price(large) / 300_000 > price(small) / 1_000 * 0.9


_TIERED = [("google", "gemini-2.5-pro"), ("anthropic", "claude-sonnet-4-5")]


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(_TIERED),
    st.integers(0, 2_000_000),
    st.integers(0, 100_000),
    st.integers(0, 2_000_000),
    st.integers(0, 2_000_000),
)
def test_tiered_rates_price_every_call_as_genai_prices_does(model, prompt, completion, read, write):
    """At, below and past every tier's start, with cache reads and writes, the per-tier float
    rates give genai-prices' own Decimal computation."""
    provider, name = model
    read, write = min(read, prompt), min(write, prompt - min(read, prompt))
    usage = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "cache_read_tokens": read,
        "cache_creation_tokens": write,
    }
    expected = calc_price(
        Usage(
            input_tokens=prompt,
            output_tokens=completion,
            cache_read_tokens=read,
            cache_write_tokens=write,
        ),
        name,
        provider_id=provider,
    ).total_price
    assert GenaiPrices().lookup(provider, name)(usage) == pytest.approx(
        float(expected), rel=1e-9, abs=1e-12
    )


def test_tiered_rates_at_the_exact_start_keep_the_lower_price():
    price = GenaiPrices().lookup("anthropic", "claude-sonnet-4-5")
    assert isinstance(price, TieredRates)
    start = max(start for start, _ in price._tiers)
    at = price({"prompt_tokens": start, "completion_tokens": 0})
    past = price({"prompt_tokens": start + 1, "completion_tokens": 0})
    assert past / (start + 1) > at / start


def test_an_unknown_model_or_provider_is_a_lookup_error_with_the_reason():
    with pytest.raises(LookupError, match="no price for openai/no-such-model"):
        GenaiPrices().lookup("openai", "no-such-model")
    with pytest.raises(LookupError, match="no-such-provider"):
        GenaiPrices().lookup("no-such-provider", "gpt-4o")


def test_registered_as_a_pricing_component():
    component = PluginHost().components(ComponentKind.PRICING)["genai-prices"]
    table = component.factory(None, None)
    assert table.name == "genai-prices" and table.version.count(".") >= 1


def test_building_the_table_imports_no_price_data():
    program = (
        "import sys\n"
        "from llmlog_pricing_genai import GenaiPrices\n"
        "GenaiPrices()\n"
        "print('genai_prices' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60
    )
    assert done.stdout.strip() == "False", done.stderr
