"""Registers the ``dspy`` trace format."""

from __future__ import annotations

from pathlib import Path

from llmlog import hookimpl
from llmlog.registry import ComponentRegister
from llmlog_trace_dspy.format import DspyOptions, DspyTraceWriter
from llmlog_trace_dspy.view import detect, view


def _factory(options: DspyOptions | None, path: Path) -> DspyTraceWriter:
    return DspyTraceWriter(path, options)


# `llmlog view` asks each trace format whether it recognises a file, then lets it draw it.
_factory.detect = detect  # type: ignore[attr-defined]
_factory.view = view  # type: ignore[attr-defined]


@hookimpl
def llmlog_register_trace_formats(register: ComponentRegister) -> None:
    register(
        "dspy",
        _factory,
        options=DspyOptions,
        description="dspy-go's native TraceEvent JSONL (session, span, llm_call, module, ...).",
    )
