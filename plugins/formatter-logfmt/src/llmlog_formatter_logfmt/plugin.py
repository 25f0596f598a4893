"""Registers the ``logfmt`` formatter."""

from __future__ import annotations

from llmlog import hookimpl
from llmlog.ext import BuildContext, ComponentRegister
from llmlog_formatter_logfmt.formatter import LogfmtFormatter, LogfmtOptions


def _factory(options: LogfmtOptions, context: BuildContext) -> LogfmtFormatter:
    return LogfmtFormatter(options)


@hookimpl
def llmlog_register_formatters(register: ComponentRegister) -> None:
    register(
        "logfmt",
        _factory,
        options=LogfmtOptions,
        description="logfmt key=value lines, quoted and escaped.",
    )
