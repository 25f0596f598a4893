"""Registers the ``console`` output."""

from __future__ import annotations

from llmlog import BuildContext, hookimpl
from llmlog.ext import OutputRegister
from llmlog_output_console.output import ConsoleOptions, ConsoleOutput


def _factory(options: ConsoleOptions, context: BuildContext) -> ConsoleOutput:
    return ConsoleOutput(options, context.formatter)


@hookimpl
def llmlog_register_outputs(register: OutputRegister) -> None:
    register(
        "console",
        _factory,
        options=ConsoleOptions,
        description="Coloured, human-readable lines on stderr or stdout.",
        accepts_formatter=True,
    )
