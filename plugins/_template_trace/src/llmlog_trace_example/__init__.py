"""An example llmlog trace format: one JSON object per event, written, read and viewed."""

from llmlog_trace_example.format import (
    ExampleTraceOptions,
    ExampleTraceWriter,
    detect,
    encode,
    read_trace,
)
from llmlog_trace_example.view import view, view_arguments

__all__ = [
    "ExampleTraceOptions",
    "ExampleTraceWriter",
    "detect",
    "encode",
    "read_trace",
    "view",
    "view_arguments",
]
