"""The ``genai-prices`` price table for llmlog (``[prices] table = "genai-prices"``).

``genai-prices`` (pydantic's maintained price data: historic prices, cache read and write
prices, tiers) is imported on the first lookup, not at ``configure()``; each (provider, model) is
looked up once per process by the core's pricing chain, which keeps the answer. A model with flat
prices becomes :class:`llmlog.ext.Rates` (USD per million tokens: input, output, cached input
read, cache write); one whose prices have tiers (by context length) becomes a
:class:`TieredRates`, one set of rates per tier picked by the call's input tokens, as
genai-prices' own computation picks them (a price of any other shape is computed by genai-prices
on each call). A model the data does not know raises :class:`LookupError` with the reason,
so the call's cost stays unknown, never 0.
"""

from llmlog_pricing_genai.table import GenaiPrices, TieredRates

__all__ = ["GenaiPrices", "TieredRates"]
