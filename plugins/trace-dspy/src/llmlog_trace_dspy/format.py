"""Encoding, writing and reading dspy-go trace JSONL."""

from __future__ import annotations

import calendar
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import attrs
import orjson

from llmlog.config.converter import Bytes, FileMode, Seconds
from llmlog.filesink import RotationPolicy, TraceOutput, file_in
from llmlog.records import TraceEvent, TraceEventType
from llmlog.render import escape_json_bytes, rfc3339_nano
from llmlog.serialize import encoded_event_data, serializer

__all__ = [
    "DspyOptions",
    "DspyTraceWriter",
    "TraceReadError",
    "encode",
    "parse_timestamp",
    "read_trace",
]

_default = serializer.default


def encode(event: TraceEvent) -> bytes:
    """One event as one dspy-go JSON line (no newline)."""
    envelope: dict[str, Any] = {
        "type": event.type,
        "timestamp": rfc3339_nano(event.time),
        "trace_id": event.trace_id,
    }
    if event.span_id:
        envelope["span_id"] = event.span_id
    if event.parent_id:
        envelope["parent_id"] = event.parent_id
    if event.data:
        # Encoded once, shared with the flight recorder.
        envelope["data"] = orjson.Fragment(event.encoded_data or encoded_event_data(event))
    try:
        line = orjson.dumps(envelope, default=_default)
    except Exception:
        line = serializer.dumps(envelope)
    return line if line.isascii() and b"\x7f" not in line else escape_json_bytes(line)


@attrs.frozen(kw_only=True)
class DspyOptions:
    """Options of the ``dspy`` trace format (the file machinery of the ``file`` output)."""

    #: Bytes to buffer before writing; 0 writes every event at once (dspy-go's behaviour). The
    #: default buffers: one ``write()`` per event costs more than encoding it. Buffered events
    #: reach the file within ``flush_interval``, at once for an ``error`` event, and at close,
    #: exit, FATAL and flight-recorder snapshots.
    buffer_size: Bytes = attrs.field(default=65536, validator=attrs.validators.ge(0))
    #: Seconds a buffered event may wait before it is written.
    flush_interval: Seconds = attrs.field(default=0.5, validator=attrs.validators.gt(0))
    #: Rotate the trace file before it passes this size; 0: no rotation.
    max_bytes: Bytes = 0
    #: Rotated trace files to keep; 0 keeps all.
    max_files: int = 0
    #: Permission bits of new trace files.
    mode: FileMode = 0o600
    #: ``never``, ``flush`` or ``always``.
    fsync: Literal["never", "flush", "always"] = "never"


class DspyTraceWriter:
    """Writes a session's events to ``path`` through :class:`llmlog.filesink.TraceOutput`.

    :param path: the trace file, or a directory to create ``trace_YYYY-MM-DD_HH-MM-SS_<8 hex>.jsonl``
        in.
    """

    def __init__(self, path: str | os.PathLike[str], options: DspyOptions | None = None) -> None:
        opts = options or DspyOptions()
        self._session_line: bytes | None = None
        self.output = TraceOutput(
            file_in(path, "trace"),
            encode,
            header=lambda: self._session_line,
            buffer_size=opts.buffer_size,
            flush_interval=opts.flush_interval,
            rotation=RotationPolicy(max_bytes=opts.max_bytes, max_files=opts.max_files),
            mode=opts.mode,
            fsync=opts.fsync,
        )
        self._sink_write = self.output.sink.write

    @property
    def path(self) -> Path:
        """The trace file."""
        return self.output.path

    def write(self, event: TraceEvent) -> None:
        kind = event.type
        if kind is _SESSION and self._session_line is None:
            self._session_line = encode(event)
        # Straight to the sink (TraceOutput.write, one call less): an error is written at once.
        self._sink_write(encode(event), urgent=kind is _ERROR)

    def flush(self) -> None:
        self.output.flush()

    def close(self) -> None:
        self.output.close()


_SESSION = TraceEventType.SESSION
_ERROR = TraceEventType.ERROR
_TIMESTAMP = re.compile(
    r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$", re.ASCII
)


def parse_timestamp(text: str) -> int:
    """Nanoseconds since the epoch from an RFC 3339 timestamp (as dspy-go writes them).

    :raises ValueError: for anything else (dspy-go's reader drops such events; ours names them).
    """
    match = _TIMESTAMP.match(text)
    if match is None:
        raise ValueError(f"not an RFC 3339 timestamp: {text!r}")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction = int((match.group(7) or "0").ljust(9, "0"))
    zone = match.group(8)
    offset = (
        0
        if zone == "Z"
        else (1 if zone[0] == "+" else -1) * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    )
    seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)) - offset
    return seconds * 1_000_000_000 + fraction


class TraceReadError(ValueError):
    """A line of a trace file that cannot be read; the message names ``file:line``."""


def read_trace(
    path: str | os.PathLike[str], *, skipped: list[str] | None = None
) -> Iterator[TraceEvent]:
    """The events of a dspy-go trace file, in file order.

    :param skipped: if given, unreadable lines are skipped and their messages appended here
        instead of raising.
    :raises TraceReadError: naming ``file:line`` for a line that is not a valid event.
    """
    p = Path(path)
    with p.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                yield _event(raw, f"{p}:{number}")
            except TraceReadError as exc:
                if skipped is None:
                    raise
                skipped.append(str(exc))


def _event(raw: bytes, where: str) -> TraceEvent:
    try:
        record = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise TraceReadError(f"{where}: not a JSON line ({exc})") from None
    if not isinstance(record, dict):
        raise TraceReadError(f"{where}: expected a JSON object")
    try:
        kind = TraceEventType(record["type"])
        time_ns = parse_timestamp(record["timestamp"])
    except KeyError as exc:
        raise TraceReadError(f"{where}: missing key {exc}") from None
    except ValueError as exc:
        raise TraceReadError(f"{where}: {exc}") from None
    data = record.get("data") or {}
    if not isinstance(data, dict):
        raise TraceReadError(f"{where}: data must be an object, got {type(data).__name__}")
    return TraceEvent(
        kind,
        time_ns,
        str(record.get("trace_id", "")),
        record.get("span_id"),
        record.get("parent_id"),
        data,
    )
