"""Hook implementations: llmlog imports this module through the entry point."""

from __future__ import annotations

from llmlog.ext import BuildContext, OutputRegister, hookimpl
from llmlog_output_example.output import ExampleOptions, ExampleOutput


def _factory(options: ExampleOptions, context: BuildContext) -> ExampleOutput:
    # Heavy imports (a network client, say) belong here, not at module level: llmlog imports every
    # installed plugin's module at configure time.
    return ExampleOutput(options, context.formatter)


@hookimpl
def llmlog_register_outputs(register: OutputRegister) -> None:
    register(
        "example",
        _factory,
        options=ExampleOptions,
        description="Each entry as one prefixed line on stdout or stderr (the plugin template).",
        accepts_formatter=True,
    )
