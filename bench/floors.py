"""The honest floors: an entry built and written by hand, the way llmlog builds it, with no library.

Each ``*_emitter(write, target)`` returns an ``info(message, **fields)`` function that writes
exactly the bytes llmlog's formatter of that name writes for the same call (``check_same_bytes``
compares them, timestamps and caller aside), doing only the work that producing those bytes takes:

* the time read once (``time.time_ns``) and formatted as llmlog formats it, with the formatted
  second cached and the fraction sliced from the integer's digits;
* the caller's file (its base name cached per path), line and function from ``sys._getframe``;
* the record: for ``json`` a dict encoded by ``orjson.dumps`` (which appends the newline); for
  ``text`` and ``logfmt`` the line built from its parts, each value checked with one
  ``isprintable()`` and one set test and escaped or quoted only when that fails (what the format
  needs for arbitrary values: a value holding a space must be quoted in logfmt, a newline must not
  end the line), and for ``logfmt`` a field named like a record key renamed ``field.<key>``
  (otherwise the line would not mean the same);
* one ``write(target, data)`` call: ``os.write`` on an ``O_APPEND`` descriptor (one write per
  entry), a buffered file's ``write`` (buffered), or an in-memory sink's.

What they leave out is what llmlog adds on top of the record: the level check, context ids,
redaction and size caps, the JSON escape check for line separators and bidi controls, optional
attributes (trace, span, model, tokens, latency, cost, logger name, exception), sampling and
never raising. The ratio llmlog / floor is the price of those and of llmlog's structure.

:func:`flight_emitter` is the same for a DEBUG entry that only the flight recorder takes: the event
dict the recorder builds (time, kind, thread id, level, message, caller, fields), encoded as the
recorder encodes it, appended to a ``bytearray`` (the recorder's open chunk) that is emptied when
the recorder's default chunk is full: 1,024 events or 1 MiB, whichever comes first (the events
counted). How often the chunk starts again matters: the ``bytearray`` grows by reallocation, and
emptied at 1 MiB only (about 5,000 of these events) the floor paid some 590 instructions an event
less than emptied every 1,024 events, as the recorder seals with its defaults. It keeps its chunk's
first time, as the recorder must to seal a chunk by its age (``chunk_period``): some 120
instructions an event (``bench/count_entry.py``).
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import orjson

from llmlog.ext import escape, format_value, quote_if_needed

__all__ = [
    "FORMATS",
    "check_same_bytes",
    "flight_emitter",
    "json_emitter",
    "logfmt_emitter",
    "text_emitter",
]

Emit = Callable[..., None]
Write = Callable[[Any, bytes], Any]

# Keys of the logfmt record (llmlog_formatter_logfmt.RESERVED_KEYS, spelled out so that the floor
# does not import the formatter it is compared with; check_same_bytes catches a drift).
_LOGFMT_RESERVED = frozenset(
    {
        "time",
        "level",
        "msg",
        "logger",
        "caller",
        "function",
        "trace_id",
        "span_id",
        "model",
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "token_cost",
        "latency_ms",
        "cost",
        "exception",
    }
)
_DISPLAY_SPECIAL = frozenset(' ="')  # text: quoted when holding one of these
_LOGFMT_SPECIAL = frozenset(' ="\\')  # logfmt: the same and a backslash


def json_emitter(write: Write, target: Any, *, newline: bool = True) -> Emit:
    """``json``: ``{"timestamp","level","message","file","line","function",**fields}``."""
    getframe, time_ns, dumps, basename = sys._getframe, time.time_ns, orjson.dumps, os.path.basename
    gmtime, strftime = time.gmtime, time.strftime
    option = orjson.OPT_APPEND_NEWLINE if newline else 0
    names: dict[str, str] = {}
    cached_sec, prefix = -1, ""

    def info(message: str, **fields: Any) -> None:
        nonlocal cached_sec, prefix
        ns = time_ns()
        sec = ns // 1_000_000_000
        if sec != cached_sec:
            prefix, cached_sec = strftime("%Y-%m-%dT%H:%M:%S", gmtime(sec)), sec
        frame = getframe(1)
        code = frame.f_code
        path = code.co_filename
        file = names.get(path)
        if file is None:
            file = names[path] = basename(path)
        write(
            target,
            dumps(
                {
                    "timestamp": f"{prefix}.{str(ns)[10:16]}Z",
                    "level": "INFO",
                    "message": message,
                    "file": file,
                    "line": frame.f_lineno,
                    "function": code.co_qualname,
                    **fields,
                },
                option=option,
            ),
        )

    return info


def _offset(tm: time.struct_time) -> str:
    minutes = (tm.tm_gmtoff or 0) // 60
    if minutes == 0:
        return "Z"
    sign = "+" if minutes > 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def text_emitter(write: Write, target: Any) -> Emit:
    """``text`` (default options): ``<local time, ms> [INFO] message [file:line] k=v ...``."""
    getframe, time_ns, basename = sys._getframe, time.time_ns, os.path.basename
    localtime, strftime = time.localtime, time.strftime
    special = _DISPLAY_SPECIAL
    names: dict[str, str] = {}
    cached_sec, prefix, offset = -1, "", ""

    def info(message: str, **fields: Any) -> None:
        nonlocal cached_sec, prefix, offset
        ns = time_ns()
        sec = ns // 1_000_000_000
        if sec != cached_sec:
            tm = localtime(sec)
            prefix, offset, cached_sec = strftime("%Y-%m-%dT%H:%M:%S", tm), _offset(tm), sec
        frame = getframe(1)
        path = frame.f_code.co_filename
        file = names.get(path)
        if file is None:
            file = names[path] = escape(basename(path))
        if not message.isprintable():
            message = escape(message)
        parts = [f"{prefix}.{str(ns)[10:13]}{offset} [INFO] {message} [{file}:{frame.f_lineno}]"]
        for key, value in fields.items():
            text = value if type(value) is str else str(value) if type(value) is int else None
            if text is None or not (text and text.isprintable() and special.isdisjoint(text)):
                text = quote_if_needed(format_value(value), strict=False)
            parts.append(f"{key}={text}")
        write(target, (" ".join(parts) + "\n").encode("utf-8", "backslashreplace"))

    return info


def logfmt_emitter(write: Write, target: Any) -> Emit:
    """``logfmt`` (default options): ``time= level= msg= caller=file:line function= k=v ...``."""
    getframe, time_ns, basename = sys._getframe, time.time_ns, os.path.basename
    gmtime, strftime = time.gmtime, time.strftime
    special, reserved = _LOGFMT_SPECIAL, _LOGFMT_RESERVED
    names: dict[str, str] = {}
    cached_sec, prefix = -1, ""

    def quoted(text: str) -> str:
        return quote_if_needed(escape(text))

    def info(message: str, **fields: Any) -> None:
        nonlocal cached_sec, prefix
        ns = time_ns()
        sec = ns // 1_000_000_000
        if sec != cached_sec:
            prefix, cached_sec = strftime("%Y-%m-%dT%H:%M:%S", gmtime(sec)), sec
        frame = getframe(1)
        code = frame.f_code
        path = code.co_filename
        file = names.get(path)
        if file is None:
            file = names[path] = basename(path)
        caller = f"{file}:{frame.f_lineno}"
        function = code.co_qualname
        if not (message and message.isprintable() and special.isdisjoint(message)):
            message = quoted(message)
        if not (caller.isprintable() and special.isdisjoint(caller)):
            caller = quoted(caller)
        if not (function and function.isprintable() and special.isdisjoint(function)):
            function = quoted(function)
        parts = [
            f"time={prefix}.{str(ns)[10:16]}Z level=info msg={message} caller={caller} function={function}"
        ]
        for key, value in fields.items():
            text = value if type(value) is str else str(value) if type(value) is int else None
            if text is None or not (text and text.isprintable() and special.isdisjoint(text)):
                text = quote_if_needed(format_value(value))
            parts.append(f"field.{key}={text}" if key in reserved else f"{key}={text}")
        write(target, (" ".join(parts) + "\n").encode("utf-8", "backslashreplace"))

    return info


FORMATS: dict[str, Callable[[Write, Any], Emit]] = {
    "json": json_emitter,
    "text": text_emitter,
    "logfmt": logfmt_emitter,
}


def flight_emitter(chunk_bytes: int = 1 << 20, chunk_events: int = 1024) -> Emit:
    """A DEBUG entry as the flight recorder's event line, appended to an open chunk of at most
    ``chunk_events`` events and ``chunk_bytes`` bytes (the recorder's defaults), whose first
    event's time is kept: the recorder also seals a chunk by its age (``chunk_period``, 1 s by
    default), which needs it."""
    getframe, time_ns, dumps, basename = sys._getframe, time.time_ns, orjson.dumps, os.path.basename
    get_ident = threading.get_ident
    option = orjson.OPT_APPEND_NEWLINE
    names: dict[str, str] = {}
    chunk = bytearray()
    events = started = 0

    def debug(message: str, **fields: Any) -> None:
        nonlocal chunk, events, started
        frame = getframe(1)
        code = frame.f_code
        path = code.co_filename
        file = names.get(path)
        if file is None:
            file = names[path] = basename(path)
        ts = time_ns()
        if not chunk:
            started = ts
        chunk += dumps(
            {
                "ts": ts,
                "kind": "log",
                "tid": get_ident(),
                "level": "DEBUG",
                "msg": message,
                "file": file,
                "line": frame.f_lineno,
                "fn": code.co_qualname,
                "fields": fields,
            },
            option=option,
        )
        events += 1
        if events >= chunk_events or len(chunk) >= chunk_bytes:
            chunk, events = bytearray(), 0

    debug.chunk = lambda: chunk  # type: ignore[attr-defined]
    return debug


# -- the check that the floors write what llmlog writes ---------------------------------------

_NORMALISE = {
    "json": [
        (re.compile(rb'"timestamp":"[^"]*"'), b'"timestamp":T'),
        (re.compile(rb'"line":\d+'), b'"line":L'),
        (re.compile(rb'"function":"[^"]*"'), b'"function":F'),
    ],
    "text": [
        (re.compile(rb"^\S+ ", re.M), b"T "),
        (re.compile(rb":\d+\]"), b":L]"),
    ],
    "logfmt": [
        (re.compile(rb"time=\S+"), b"time=T"),
        (re.compile(rb"(caller=\S+?):\d+"), rb"\1:L"),
        (re.compile(rb"function=\S+"), b"function=F"),
    ],
}


def normalise(fmt: str, data: bytes) -> bytes:
    """``data`` with its timestamps, line numbers and function names replaced by placeholders."""
    for pattern, replacement in _NORMALISE[fmt]:
        data = pattern.sub(replacement, data)
    return data


def check_same_bytes(directory: os.PathLike[str] | str) -> None:
    """Write the benchmark's entries (and some that need escaping and quoting) with each llmlog
    formatter and with its floor; raise ``AssertionError`` unless the files are the same, the
    timestamps, line numbers and function names aside."""
    from pathlib import Path

    from llmlog import Logger, Severity
    from llmlog_formatter_json import JsonFormatter
    from llmlog_formatter_logfmt import LogfmtFormatter
    from llmlog_formatter_text import TextFormatter
    from llmlog_output_file import FileOptions, FileOutput

    formatters = {"json": JsonFormatter, "text": TextFormatter, "logfmt": LogfmtFormatter}
    calls: list[tuple[str, dict[str, Any]]] = [
        ("answer ready", {"user": "alice", "attempt": 7, "model": "gpt-4o-mini"}),
        ("two\nlines", {"user": "a b", "attempt": -1, "model": 'say "hi"'}),
        ("", {"path": "C:\\tmp", "empty": "", "bell": "\x07"}),
    ]
    base = Path(directory)
    for fmt, formatter in formatters.items():
        ours, floor = base / f"llmlog.{fmt}", base / f"floor.{fmt}"
        out = FileOutput(ours, formatter(), FileOptions())
        log = Logger(Severity.INFO, [out])
        for message, fields in calls:
            log.info(message, **fields)
        out.close()
        fd = os.open(floor, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        info = FORMATS[fmt](os.write, fd)
        for message, fields in calls:
            info(message, **fields)
        os.close(fd)
        a, b = normalise(fmt, ours.read_bytes()), normalise(fmt, floor.read_bytes())
        assert a == b, f"the {fmt} floor writes other bytes than llmlog:\n{a!r}\n{b!r}"
