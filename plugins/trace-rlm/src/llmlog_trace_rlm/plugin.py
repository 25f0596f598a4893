"""Registers the ``rlm`` trace format."""

from __future__ import annotations

from pathlib import Path

from llmlog import hookimpl
from llmlog.registry import TraceFormatRegister
from llmlog_trace_rlm.reader import to_events
from llmlog_trace_rlm.view import detect, view
from llmlog_trace_rlm.writer import RlmOptions, RlmTraceWriter


def _factory(options: RlmOptions | None, path: Path) -> RlmTraceWriter:
    return RlmTraceWriter(path, options)


@hookimpl
def llmlog_register_trace_formats(register: TraceFormatRegister) -> None:
    register(
        "rlm",
        _factory,
        options=RlmOptions,
        description="RLM trajectory JSONL (metadata + iterations) for the rlm visualizer and rlm-go viewer.",
        detect=detect,
        read=to_events,
        view=view,
    )
