"""Registers the ``json`` formatter."""

from __future__ import annotations

from llmlog import hookimpl
from llmlog.ext import BuildContext, ComponentRegister
from llmlog_formatter_json.formatter import JsonFormatter, JsonOptions


def _factory(options: JsonOptions, context: BuildContext) -> JsonFormatter:
    return JsonFormatter(options)


@hookimpl
def llmlog_register_formatters(register: ComponentRegister) -> None:
    register(
        "json",
        _factory,
        options=JsonOptions,
        description="One JSON object per line (dspy-go JSONFormatter keys), encoded by orjson.",
    )
