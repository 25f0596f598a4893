"""Built-in output ``stderr``: plain text on standard error.

It keeps the core useful on its own: with no output plugin installed, entries are written here
instead of vanishing. It also serves as the fallback when a configuration cannot be loaded.
"""

from __future__ import annotations

import sys
from typing import Any

from llmlog.hookspecs import hookimpl
from llmlog.interfaces import BuildContext, Formatter, Output
from llmlog.records import LogEntry
from llmlog.registry import OutputRegister
from llmlog.render import escape, format_fields, format_tokens, local_timestamp


def plain_line(entry: LogEntry) -> str:
    """``2026-11-25 18:40:05.123 INFO  message [file:line] [model=m] [tokens=…] key=value``."""
    parts = [local_timestamp(entry.time), f"{entry.severity.name:<5}", escape(entry.message)]
    if entry.file:
        parts.append(f"[{escape(entry.file)}:{entry.line}]")
    if entry.trace_id:
        parts.append(f"[traceId={escape(entry.trace_id)}]")
    if entry.model_id:
        parts.append(f"[model={escape(entry.model_id)}]")
    if entry.token_info is not None:
        parts.append(f"[{format_tokens(entry.token_info)}]")
    if entry.fields:
        parts.append(format_fields(entry.fields, strict=False))
    line = " ".join(parts)
    if entry.exception:
        # Continuation lines start with a marker, so a traceback cannot pass for a log line.
        line += "".join(f"\n  | {escape(x)}" for x in entry.exception.splitlines())
    return line


class StderrOutput(Output):
    """Writes each entry as one line to ``sys.stderr`` (looked up per write, so redirection works).

    :param formatter: render with this formatter instead of the plain layout.
    """

    def __init__(self, formatter: Formatter | None = None) -> None:
        self._render = formatter.format if formatter is not None else plain_line

    def write(self, entry: LogEntry) -> None:
        stream = sys.stderr
        if stream is not None:
            stream.write(self._render(entry) + "\n")

    def flush(self) -> None:
        stream = sys.stderr
        if stream is not None:
            stream.flush()

    def close(self) -> None:
        # Never close the process's stderr; flushing is all there is to do.
        self.flush()


def _factory(options: Any, context: BuildContext) -> StderrOutput:
    return StderrOutput(context.formatter)


@hookimpl
def llmlog_register_outputs(register: OutputRegister) -> None:
    register(
        "stderr",
        _factory,
        description="Plain text on standard error (built in; no colours, no options).",
        accepts_formatter=True,
    )
