"""The genai-prices table: flat prices as rates that agree with genai-prices' own calculation,
tiered prices computed by genai-prices per call, unknown models as LookupError with the reason,
the plugin registered as a pricing component, and the data imported only on the first lookup."""

from __future__ import annotations

import subprocess
import sys

import pytest
from genai_prices import Usage, calc_price

from llmlog.ext import ComponentKind, PluginHost, Rates
from llmlog_pricing_genai import GenaiPrices


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


def test_tiered_prices_are_computed_by_genai_prices_per_call():
    price = GenaiPrices().lookup("google", "gemini-2.5-pro")
    assert not isinstance(price, Rates) and callable(price)
    small = {"prompt_tokens": 1_000, "completion_tokens": 100}
    large = {"prompt_tokens": 300_000, "completion_tokens": 100}
    for usage in (small, large):
        expected = calc_price(
            Usage(input_tokens=usage["prompt_tokens"], output_tokens=100),
            "gemini-2.5-pro",
            provider_id="google",
        ).total_price
        assert price(usage) == pytest.approx(float(expected))
    # past the tier the price per token rises
    assert price(large) / 300_000 > price(small) / 1_000 * 0.9


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
