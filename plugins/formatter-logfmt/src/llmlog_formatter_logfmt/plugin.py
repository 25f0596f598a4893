"""Registers the ``logfmt`` formatter."""

from __future__ import annotations

from typing import Any

from llmlog import hookimpl
from llmlog.ext import ComponentRegister
from llmlog_formatter_logfmt.formatter import LogfmtFormatter, LogfmtOptions


def _factory(options: LogfmtOptions, context: Any) -> LogfmtFormatter:
    return LogfmtFormatter(options)


@hookimpl
def llmlog_register_formatters(register: ComponentRegister) -> None:
    register(
        "logfmt",
        _factory,
        options=LogfmtOptions,
        description="logfmt key=value lines, quoted and escaped.",
    )
