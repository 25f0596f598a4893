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
from llmlog.render import plain_line
from llmlog.streamwrite import StreamLines


class StderrOutput(Output):
    """Writes each entry as one line to ``sys.stderr`` (looked up per write, so redirection works).

    :param formatter: render with this formatter instead of the plain layout.
    """

    def __init__(self, formatter: Formatter | None = None) -> None:
        self._render = formatter.format if formatter is not None else plain_line
        self._lines = StreamLines()

    def write(self, entry: LogEntry) -> None:
        stream = sys.stderr
        if stream is not None:
            self._lines.write(stream, self._render(entry) + "\n")

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
