"""The peers every benchmark compares against, set up the same way everywhere.

* :class:`StdlibJson` / :class:`StdlibOrjson`: a stdlib ``logging.Formatter`` producing the same
  JSON record as llmlog's ``json`` formatter (timestamp, level, message, caller, ``extra`` fields),
  with the standard library's ``json`` or with orjson.
* :func:`stdlib_for_speed`: the Logging HOWTO's "Optimization" advice for what the record does
  not use: no thread, process or process-name (or asyncio task) information collected.
* :func:`structlog_logger`: structlog with the processors needed for the same record (level, ISO
  timestamp, call site, orjson renderer), filtering at INFO, cached.
* :class:`NoFlushBytesLogger`: structlog's ``BytesLogger`` without its flush: ``BytesLogger.msg``
  (like ``WriteLogger.msg``) takes a lock, writes and *flushes* every line, so on a buffered file
  it still makes one ``write()`` system call per entry.
* :func:`start_receiver`: a local HTTP receiver (an OTLP sink) in another process.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from typing import Any

import orjson

__all__ = [
    "NoFlushBytesLogger",
    "StdlibJson",
    "StdlibOrjson",
    "start_receiver",
    "stdlib_for_speed",
    "structlog_logger",
]


class StdlibJson(logging.Formatter):
    """The usual hand-written stdlib JSON formatter (standard-library ``json``)."""

    def data(self, record: logging.LogRecord) -> dict[str, Any]:
        return {
            "timestamp": self.formatTime(record),
            "level": record.levelname,
            "message": record.getMessage(),
            "file": record.filename,
            "line": record.lineno,
            "function": record.funcName,
            **getattr(record, "fields", {}),
            **{k: getattr(record, k) for k in ("user", "attempt") if hasattr(record, k)},
        }

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(self.data(record), separators=(",", ":"))


class StdlibOrjson(StdlibJson):
    """The same formatter accelerated with orjson."""

    def format(self, record: logging.LogRecord) -> str:
        return orjson.dumps(self.data(record)).decode()


def stdlib_for_speed() -> None:
    """Turn off what the Logging HOWTO's "Optimization" section says to turn off when it is not
    needed: the record compared here has no thread, process or task fields (caller information
    stays: the record has file, line and function)."""
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    if hasattr(logging, "logAsyncioTasks"):  # Python 3.12+
        logging.logAsyncioTasks = False


class NoFlushBytesLogger:
    """A structlog output logger that writes each rendered line to a buffered binary file without
    flushing it (the file's buffer decides when to write). One thread at a time, as a buffered
    file's ``write`` is itself locked."""

    __slots__ = ("_write",)

    def __init__(self, file: Any) -> None:
        self._write = file.write

    def msg(self, message: bytes) -> None:
        self._write(message + b"\n")

    log = debug = info = warn = warning = msg
    fatal = failure = err = error = critical = exception = msg


def structlog_logger(sink: Any, *, callsite: bool = True) -> Any:
    """A structlog logger writing rendered bytes to ``sink`` (anything with ``msg(bytes)``)."""
    import structlog

    processors: list[Any] = [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if callsite:
        processors.append(
            structlog.processors.CallsiteParameterAdder(
                [
                    structlog.processors.CallsiteParameter.FILENAME,
                    structlog.processors.CallsiteParameter.LINENO,
                    structlog.processors.CallsiteParameter.FUNC_NAME,
                ]
            )
        )
    processors.append(structlog.processors.JSONRenderer(serializer=orjson.dumps))
    return structlog.wrap_logger(
        sink,
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        cache_logger_on_first_use=True,
    )


def start_receiver(code: str) -> tuple[subprocess.Popen[str], str]:
    """Run ``code`` (an HTTP server that prints its port, then serves) in another process; return
    the process (terminate it when done) and the server's base URL."""
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    return process, f"http://127.0.0.1:{process.stdout.readline().strip()}"
