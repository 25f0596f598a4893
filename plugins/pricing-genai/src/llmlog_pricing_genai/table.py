"""The table: genai-prices' snapshot, asked once per (provider, model)."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from llmlog.ext import Rates

__all__ = ["GenaiPrices", "TieredRates"]


def _version() -> str:
    try:
        return importlib.metadata.version("genai-prices")
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


class GenaiPrices:
    """A :class:`llmlog.ext.PriceTable` over genai-prices; building it imports nothing."""

    name = "genai-prices"

    def __init__(self) -> None:
        self.version = _version()

    def lookup(self, provider: str, model: str) -> Rates | Callable[[Mapping[str, Any]], Any]:
        """The model's flat rates, or a function pricing each call when its prices have tiers.

        :raises LookupError: the data has no such model or provider (the reason says which).
        """
        from genai_prices import data_snapshot, types

        snapshot = data_snapshot.get_snapshot()
        try:
            _, info = snapshot.find_provider_model(model, None, provider or None, None)
        except LookupError as exc:
            raise LookupError(
                f"genai-prices {self.version} has no price for {provider}/{model}: {exc}"
            ) from None
        prices = info.get_prices(dt.datetime.now(tz=dt.UTC))
        values = {
            key: getattr(prices, key, None)
            for key in ("input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok")
        }
        if values["input_mtok"] is None and values["output_mtok"] is None:
            raise LookupError(
                f"genai-prices {self.version} has no token price for {provider}/{model}"
            )
        if all(v is None or isinstance(v, Decimal) for v in values.values()):
            return _rates(values, None)
        if all(v is None or isinstance(v, Decimal | types.TieredPrices) for v in values.values()):
            return TieredRates(values)

        def tiered(usage: Mapping[str, Any]) -> float:
            # A price of a shape not known here: genai-prices computes each call (slower, exact).
            counted = types.Usage(
                input_tokens=usage.get("prompt_tokens", 0),
                cache_read_tokens=usage.get("cache_read_tokens", 0),
                cache_write_tokens=usage.get("cache_creation_tokens", 0),
                output_tokens=usage.get("completion_tokens", 0),
            )
            return float(prices.calc_price(counted)["total_price"])

        return tiered


def _float(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _at(value: Any, start: int | None) -> Decimal | None:
    """A price (flat, or genai-prices' ``TieredPrices``) as it applies past the tier starting at
    ``start`` (``None``: below every tier)."""
    tiers = getattr(value, "tiers", None)
    if tiers is None:
        return value  # type: ignore[no-any-return]
    price: Decimal = value.base
    if start is not None:
        for tier in tiers:
            if start >= tier.start:
                price = tier.price
    return price


def _rates(values: Mapping[str, Any], start: int | None) -> Rates:
    return Rates(
        input=float(_at(values["input_mtok"], start) or 0),
        output=float(_at(values["output_mtok"], start) or 0),
        cached=_float(_at(values["cache_read_mtok"], start)),
        cache_write=_float(_at(values["cache_write_mtok"], start)),
    )


class TieredRates:
    """Prices by context length, as genai-prices' ``TieredPrices`` define them, in floats: a call
    whose input tokens (cached ones included) pass a tier's start pays that tier's rate for all
    its tokens (the "cliff" rule). One :class:`~llmlog.ext.Rates` per tier, built at lookup, so
    pricing a call is a comparison or two and the flat formula (genai-prices' own computation in
    ``Decimal``, through its unit registry, took about 200 µs a call)."""

    __slots__ = ("_base", "_tiers")

    def __init__(self, values: Mapping[str, Any]) -> None:
        starts = sorted(
            {tier.start for value in values.values() for tier in getattr(value, "tiers", ())}
        )
        self._base = _rates(values, None)
        # highest first: the first start the input passes is the tier that applies
        self._tiers = [(start, _rates(values, start)) for start in reversed(starts)]

    def __call__(self, usage: Mapping[str, Any]) -> float | None:
        """The cost of a trace ``usage``'s counts (``None`` as :meth:`Rates.cost` gives it)."""
        prompt = usage.get("prompt_tokens", 0)
        rates = self._base
        if type(prompt) is int:
            for start, tier in self._tiers:
                if prompt > start:
                    rates = tier
                    break
        return rates.cost(usage)
