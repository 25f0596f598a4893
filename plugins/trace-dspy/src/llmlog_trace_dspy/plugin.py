"""Registers the ``dspy`` trace format."""

from __future__ import annotations

from llmlog import hookimpl
from llmlog.ext import ArgumentAdder, BuildContext, TraceFormat, TraceFormatRegister
from llmlog_trace_dspy.format import DspyOptions, DspyTraceWriter, read_trace
from llmlog_trace_dspy.reprice import reprice
from llmlog_trace_dspy.view import detect, view


def _factory(options: DspyOptions | None, context: BuildContext) -> DspyTraceWriter:
    return DspyTraceWriter(context.trace_path(), options)


def view_arguments(parser: ArgumentAdder) -> None:
    """The ``llmlog view`` flags of dspy traces."""
    parser.add_argument("--final", action="store_true", help="only the final answer")
    parser.add_argument(
        "--full",
        action="store_true",
        help="each error's full text under its span (also with --errors); default: its first line",
    )


#: The ``dspy`` trace format: writer, reader, detector, viewer and its view flags, repricing.
FORMAT = TraceFormat(
    name="dspy",
    writer=_factory,
    options=DspyOptions,
    description="dspy-go's native TraceEvent JSONL (session, span, llm_call, module, ...).",
    detect=detect,
    read=read_trace,
    view=view,
    view_arguments=view_arguments,
    reprice=reprice,
)


@hookimpl
def llmlog_register_trace_formats(register: TraceFormatRegister) -> None:
    register(FORMAT)
