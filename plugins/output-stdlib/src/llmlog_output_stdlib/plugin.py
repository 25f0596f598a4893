"""Registers the ``stdlib`` output."""

from __future__ import annotations

from llmlog import BuildContext, hookimpl
from llmlog.ext import OutputRegister
from llmlog_output_stdlib.output import StdlibOutput, StdlibOutputOptions


def _factory(options: StdlibOutputOptions, context: BuildContext) -> StdlibOutput:
    return StdlibOutput(options)


@hookimpl
def llmlog_register_outputs(register: OutputRegister) -> None:
    register(
        "stdlib",
        _factory,
        options=StdlibOutputOptions,
        description="Forward entries into a standard logging logger (fields in extra).",
    )
