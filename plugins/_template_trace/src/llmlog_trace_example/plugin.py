"""Hook implementations: llmlog imports this module through the entry point."""

from __future__ import annotations

from llmlog.ext import BuildContext, TraceFormat, TraceFormatRegister, hookimpl
from llmlog_trace_example.format import (
    ExampleTraceOptions,
    ExampleTraceWriter,
    detect,
    read_trace,
)
from llmlog_trace_example.view import view, view_arguments


def _writer(options: ExampleTraceOptions | None, context: BuildContext) -> ExampleTraceWriter:
    # A trace session (llmlog.new_trace_session, [trace] format = "example") and `llmlog convert`
    # call this with the format's options and a context holding the file or directory to write.
    return ExampleTraceWriter(context.trace_path(), options)


#: The ``example`` trace format as one object: how its files are written, recognised, read and
#: shown, and the ``llmlog view`` flags of its own.
FORMAT = TraceFormat(
    name="example",
    writer=_writer,
    options=ExampleTraceOptions,
    description="One JSON object per event (the trace-format template).",
    detect=detect,
    read=read_trace,
    view=view,
    view_arguments=view_arguments,
)


@hookimpl
def llmlog_register_trace_formats(register: TraceFormatRegister) -> None:
    register(FORMAT)
