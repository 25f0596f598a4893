"""Registers the ``text`` formatter."""

from __future__ import annotations

from llmlog import hookimpl
from llmlog.ext import BuildContext, ComponentRegister
from llmlog_formatter_text.formatter import TextFormatter, TextOptions


def _factory(options: TextOptions, context: BuildContext) -> TextFormatter:
    return TextFormatter(options)


@hookimpl
def llmlog_register_formatters(register: ComponentRegister) -> None:
    register(
        "text",
        _factory,
        options=TextOptions,
        description="dspy-go style text: timestamp [LEVEL] message [file:line] ... key=value.",
    )
