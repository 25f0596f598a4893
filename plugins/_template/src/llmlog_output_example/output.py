"""The ``example`` output and its options."""

from __future__ import annotations

import sys
from typing import Literal

import attrs

from llmlog.ext import Formatter, LogEntry, Output, escape, plain_line


@attrs.frozen(kw_only=True)
class ExampleOptions:
    """Options of the ``example`` output; each field is a key of its ``[outputs.NAME]`` table."""

    #: Text put before every line.
    prefix: str = ">"
    #: Which standard stream to write to.
    stream: Literal["stdout", "stderr"] = "stdout"


class ExampleOutput(Output):
    """Writes ``{prefix} {line}`` for each entry.

    The core calls :meth:`write` from any thread, only for entries at or above ``self.level``, and
    catches whatever it raises; one ``write()`` of a whole line per entry keeps threads' lines
    apart without a lock.
    """

    def __init__(self, options: ExampleOptions, formatter: Formatter | None) -> None:
        self._prefix = escape(options.prefix)  # configuration is data too: escape it
        self._stream_name = options.stream
        self._render = formatter.format if formatter is not None else plain_line
        self._closed = False

    def write(self, entry: LogEntry) -> None:
        if self._closed:
            return
        stream = sys.stdout if self._stream_name == "stdout" else sys.stderr
        stream.write(f"{self._prefix} {self._render(entry)}\n")

    def flush(self) -> None:
        (sys.stdout if self._stream_name == "stdout" else sys.stderr).flush()

    def close(self) -> None:
        # Idempotent, as the Output contract asks. Standard streams are not ours to close.
        if not self._closed:
            self.flush()
            self._closed = True
