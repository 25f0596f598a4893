"""Registers the ``rlm`` trace format."""

from __future__ import annotations

from llmlog import hookimpl
from llmlog.ext import ArgumentAdder, BuildContext, TraceFormat, TraceFormatRegister
from llmlog_trace_rlm.reader import to_events
from llmlog_trace_rlm.reprice import reprice
from llmlog_trace_rlm.view import detect, view
from llmlog_trace_rlm.writer import RlmOptions, RlmTraceWriter


def _factory(options: RlmOptions | None, context: BuildContext) -> RlmTraceWriter:
    return RlmTraceWriter(context.trace_path(), options)


def view_arguments(parser: ArgumentAdder) -> None:
    """The ``llmlog view`` flags of RLM files."""
    parser.add_argument("--iter", type=int, metavar="N", help="only iteration N")
    parser.add_argument("--final", action="store_true", help="only the final answer")


#: The ``rlm`` trace format: writer, reader, detector, viewer and its view flags, repricing.
FORMAT = TraceFormat(
    name="rlm",
    writer=_factory,
    options=RlmOptions,
    description="RLM trajectory JSONL (metadata + iterations) for the rlm visualizer and rlm-go viewer.",
    detect=detect,
    read=to_events,
    view=view,
    view_arguments=view_arguments,
    reprice=reprice,
)


@hookimpl
def llmlog_register_trace_formats(register: TraceFormatRegister) -> None:
    register(FORMAT)
