"""Registers the ``file`` output."""

from __future__ import annotations

from llmlog import BuildContext, hookimpl
from llmlog.ext import OptionError, OutputRegister
from llmlog_engine_files import check_appendable
from llmlog_output_file.output import FileOptions, FileOutput, resolve_path


def _factory(options: FileOptions, context: BuildContext) -> FileOutput:
    assert context.formatter is not None  # the output has a default formatter
    output = FileOutput(resolve_path(options.path, context.config_path), context.formatter, options)
    output.sink.name = context.name
    return output


def _check(options: FileOptions, context: BuildContext) -> None:
    # What the factory would meet opening the file, found without creating it.
    try:
        check_appendable(resolve_path(options.path, context.config_path))
    except OSError as exc:
        raise OptionError("path", exc.strerror or str(exc)) from None


@hookimpl
def llmlog_register_outputs(register: OutputRegister) -> None:
    register(
        "file",
        _factory,
        options=FileOptions,
        description="Log files: buffering, rotation, retention, compression, multi-process safe.",
        default_formatter="json",
        check=_check,
    )
