"""The table: genai-prices' snapshot, asked once per (provider, model)."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from llmlog.ext import Rates

__all__ = ["GenaiPrices"]


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
        if all(v is None or isinstance(v, Decimal) for v in values.values()):
            if values["input_mtok"] is None and values["output_mtok"] is None:
                raise LookupError(
                    f"genai-prices {self.version} has no token price for {provider}/{model}"
                )
            return Rates(
                input=float(values["input_mtok"] or 0),
                output=float(values["output_mtok"] or 0),
                cached=_float(values["cache_read_mtok"]),
                cache_write=_float(values["cache_write_mtok"]),
            )

        def tiered(usage: Mapping[str, Any]) -> float:
            # Prices by context length: genai-prices computes each call (slower, exact).
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
