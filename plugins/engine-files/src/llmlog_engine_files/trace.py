"""The file a trace format writes a session to: one JSON line per event through a
:class:`~llmlog_engine_files.sink.FileSink`, so trace files get the buffering, rotation and
fault handling of log files."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from llmlog_engine_files.sink import FileSink

__all__ = ["TraceOutput"]


class TraceOutput:
    """The JSONL sink trace formats write through: dspy-go's ``TraceOutput`` on :class:`FileSink`.

    :param path: the trace file.
    :param encode: turns one event into one JSON line (bytes, no newline); the trace format's job.
    :param header: the line to start every new file with (the session line), or ``None``.
    :param sink_options: any :class:`FileSink` keyword: ``buffer_size`` (dspy-go's
        ``WithTraceBufferSize``), ``rotation`` (``WithTraceRotation``), ``mode``, ``fsync``...
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        encode: Callable[[Any], bytes],
        *,
        header: Callable[[], bytes | None] | None = None,
        **sink_options: Any,
    ) -> None:
        self._encode = encode
        self.sink = FileSink(path, header=header, **sink_options)

    @property
    def path(self) -> Path:
        """The trace file."""
        return self.sink.path

    def write(self, event: Any) -> None:
        """Encode and append one event; an ``error`` event flushes a buffer at once."""
        self.sink.write(self._encode(event), urgent=getattr(event, "type", None) == "error")

    def flush(self) -> None:
        """Write buffered events out."""
        self.sink.flush()

    def close(self) -> None:
        """Flush and close. Idempotent."""
        self.sink.close()
