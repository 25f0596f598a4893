"""Registers the ``file`` output."""

from __future__ import annotations

from llmlog import BuildContext, hookimpl
from llmlog.registry import OutputRegister
from llmlog_output_file.output import FileOptions, FileOutput, resolve_path


def _factory(options: FileOptions, context: BuildContext) -> FileOutput:
    assert context.formatter is not None  # the output has a default formatter
    output = FileOutput(resolve_path(options.path, context.config_path), context.formatter, options)
    output.sink.name = context.name
    return output


@hookimpl
def llmlog_register_outputs(register: OutputRegister) -> None:
    register(
        "file",
        _factory,
        options=FileOptions,
        description="Log files: buffering, rotation, retention, compression, multi-process safe.",
        default_formatter="json",
    )
