"""The ``example`` trace format's files: one JSON object per event, written and read.

Each line is one event, its keys in this order (``example`` first, so :func:`detect` needs only the
line's first bytes)::

    {"example":1,"event":"llm_call","time_ns":1733450000000000000,"trace":"4f0c…",
     "span":"1000000000000002","parent":null,"data":{"model":"gpt-4o-mini","usage":{…}}}

``event`` is an :class:`llmlog.TraceEvent` type (``session``, ``span``, ``llm_call``...); ``data``
is the event's data as the session recorded it (redacted and capped by the configured sanitizer).
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs

from llmlog.ext import (
    FileMode,
    TraceEvent,
    TraceEventType,
    create_new,
    escape_json_bytes,
    make_private_dirs,
    serializer,
)

__all__ = ["ExampleTraceOptions", "ExampleTraceWriter", "detect", "encode", "read_trace"]

#: The value of every line's first key: the version of this layout.
FORMAT_VERSION = 1
_MARKER = b'{"example":1,'
_TYPES = {t.value: t for t in TraceEventType}


@attrs.frozen(kw_only=True)
class ExampleTraceOptions:
    """Options of the ``example`` trace format: ``[trace] format = { type = "example", mode =
    "0640" }`` in ``llmlog.toml``; every field a key with a default."""

    #: Permission bits of new trace files (octal text such as ``"0600"``, or a number).
    mode: FileMode = 0o600


def encode(event: TraceEvent) -> bytes:
    """One event as one line (without the newline): compact JSON whose every non-printable
    character is escaped, so a prompt holding terminal escapes or line separators stays one
    harmless line. Never raises (:data:`llmlog.ext.serializer` stands in for odd values)."""
    line = serializer.dumps(
        {
            "example": FORMAT_VERSION,
            "event": str(event.type),
            "time_ns": event.time,
            "trace": event.trace_id,
            "span": event.span_id,
            "parent": event.parent_id,
            "data": event.data,
        }
    )
    return escape_json_bytes(line)


class ExampleTraceWriter:
    """Writes a session's events to a new file, one ``write()`` of a whole line per event.

    The session calls :meth:`write` under its own lock, in order, the session event first.
    Nothing is buffered, so a crash loses no event written before it; a format that buffers
    registers a flush for exit and fork with :func:`llmlog.ext.register_lifecycle`.

    :param path: the trace file to create, or a directory to create
        ``trace_YYYY-MM-DD_HH-MM-SS_<8 hex>.jsonl`` in. The file must not exist: a trace is never
        appended to another.
    """

    def __init__(
        self, path: str | os.PathLike[str], options: ExampleTraceOptions | None = None
    ) -> None:
        opts = options or ExampleTraceOptions()
        target = Path(path)
        into_directory = target.is_dir() or str(path).endswith(os.sep)
        make_private_dirs(target if into_directory else target.parent)
        for _ in range(10):  # a name taken by another process in the same second: another one
            name = target / _new_name() if into_directory else target
            try:
                self._fd = create_new(name, opts.mode, os.O_WRONLY | os.O_APPEND)
                break
            except FileExistsError:
                if not into_directory:
                    raise
        else:
            raise FileExistsError(f"no free trace file name in {target}")
        #: The trace file.
        self.path = name

    def write(self, event: TraceEvent) -> None:
        """Append ``event`` as one line."""
        if self._fd < 0:
            return
        line = memoryview(encode(event) + b"\n")
        while line:  # os.write may write part of it (a full disk, a signal)
            line = line[os.write(self._fd, line) :]

    def flush(self) -> None:
        """Nothing to do: every event is written at once."""

    def close(self) -> None:
        """Close the file; closing again does nothing."""
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            os.close(fd)


def _new_name() -> str:
    return f"trace_{time.strftime('%Y-%m-%d_%H-%M-%S')}_{secrets.token_hex(4)}.jsonl"


def detect(first_line: bytes) -> bool:
    """Whether a file whose first line is ``first_line`` is in this format; never raises."""
    return first_line.startswith(_MARKER)


def read_trace(
    path: str | os.PathLike[str], *, skipped: list[str] | None = None
) -> Iterator[TraceEvent]:
    """The events of a file of this format, in file order (``llmlog convert`` and ``llmlog
    view`` read them so).

    :param skipped: if given, unreadable lines are skipped and their messages appended here
        instead of raising.
    :raises ValueError: naming ``file:line`` and what is wrong, for a line that is not an event.
    """
    p = Path(path)
    with p.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                yield _parse(raw, f"{p}:{number}")
            except ValueError as exc:
                if skipped is None:
                    raise
                skipped.append(str(exc))


def _parse(raw: bytes, where: str) -> TraceEvent:
    try:
        record: Any = json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"{where}: not a JSON line ({exc})") from None
    if not isinstance(record, dict) or record.get("example") != FORMAT_VERSION:
        raise ValueError(f'{where}: not an event of the example format (no "example": 1)')
    name = record.get("event")
    kind = _TYPES.get(name) if isinstance(name, str) else None
    stamp, trace, span, parent = (record.get(k) for k in ("time_ns", "trace", "span", "parent"))
    data = record.get("data")
    if kind is None:
        raise ValueError(f'{where}: "event" is not one of {", ".join(_TYPES)}')
    if not isinstance(stamp, int) or isinstance(stamp, bool):
        raise ValueError(f'{where}: "time_ns" is not an integer')
    if not isinstance(trace, str) or not all(
        v is None or isinstance(v, str) for v in (span, parent)
    ):
        raise ValueError(f'{where}: "trace", "span" and "parent" must be strings (or null)')
    if not isinstance(data, dict):
        raise ValueError(f'{where}: "data" is not an object')
    return TraceEvent(kind, stamp, trace, span, parent, data)
