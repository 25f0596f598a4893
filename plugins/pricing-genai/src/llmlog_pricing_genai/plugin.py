"""Registers the ``genai-prices`` price table."""

from __future__ import annotations

from typing import Any

from llmlog.ext import ComponentRegister, hookimpl
from llmlog_pricing_genai.table import GenaiPrices


def _factory(options: Any, context: Any) -> GenaiPrices:
    return GenaiPrices()


@hookimpl
def llmlog_register_pricing(register: ComponentRegister) -> None:
    register(
        "genai-prices",
        _factory,
        description="Prices from the maintained genai-prices data (imported on first use).",
    )
