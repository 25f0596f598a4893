"""Encoding, writing and reading dspy-go trace JSONL."""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import attrs
import orjson

from llmlog.ext import (
    Bytes,
    FileMode,
    Seconds,
    TraceEvent,
    TraceEventType,
    encoded_event_data,
    escape_json_bytes,
    event_line_tail,
    rfc3339_nano,
    serializer,
)
from llmlog_engine_files import RotationPolicy, TraceOutput, file_in

__all__ = [
    "DspyOptions",
    "DspyTraceWriter",
    "TraceReadError",
    "encode",
    "loads",
    "parse_line",
    "parse_timestamp",
    "read_trace",
]

_default = serializer.default


def encode(event: TraceEvent) -> bytes:
    """One event as one dspy-go JSON line (no newline)."""
    return _encode(event, 0)


def _encode(event: TraceEvent, option: int) -> bytes:
    """:func:`encode`, with orjson's ``option`` (``OPT_APPEND_NEWLINE``: the line the file takes)."""
    envelope: dict[str, Any] = {
        "type": event.type,
        "timestamp": _timestamp(event.time),
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
        line = orjson.dumps(envelope, default=_default, option=option)
    except Exception:
        line = serializer.dumps(envelope) + (b"\n" if option else b"")
    return line if line.isascii() and 0x7F not in line else escape_json_bytes(line)


def _file_line(event: TraceEvent) -> bytes:
    """:func:`encode` with its newline: the line the trace file takes, the same bytes.

    The common event (a type of its own, plain ids, a time between 2001 and 2286, as the
    sessions write them) is its type and timestamp put together from cached pieces (the
    nanoseconds being the digits of the time itself), then the line's end from the trace id on,
    shared with the flight recorder (:func:`llmlog.ext.event_line_tail`); any other goes
    through orjson, as :func:`encode`. orjson would write the same bytes: those type names and
    timestamps need no escape."""
    head = _HEADS.get(event.type)
    ns = event.time
    if head is None or type(ns) is not int or not 10**18 <= ns < 10**19:
        return _encode(event, _NEWLINE)
    tail = event.encoded_tail or event_line_tail(event)
    if tail is None:
        return _encode(event, _NEWLINE)
    second, prefix, offset = _second
    if ns // 1_000_000_000 != second:
        second, prefix, offset = _new_second(ns // 1_000_000_000)
    digits = str(ns)[10:].rstrip("0")
    if digits:
        return f'{head}{prefix}.{digits}{offset}",'.encode() + tail
    return f'{head}{prefix}{offset}",'.encode() + tail


#: Each event type's line up to its timestamp's first character.
_HEADS = {t: f'{{"type":"{t.value}","timestamp":"' for t in TraceEventType}
#: The second last written: (seconds since the epoch, ``YYYY-MM-DDTHH:MM:SS``, its offset).
_second: tuple[int, str, str] = (-1, "", "")


def _new_second(second: int) -> tuple[int, str, str]:
    global _second
    whole = rfc3339_nano(second * 1_000_000_000)  # no fraction: the date, time and offset
    _second = (second, whole[:19], whole[19:])
    return _second


def _timestamp(ns: int) -> str:
    """``ns`` in RFC 3339 as dspy-go writes it (local offset), for any instant the reader takes.

    ``time.strftime`` writes years below 1000 with fewer than four digits, so instants within a day
    of years 1000 to 9999 take the fast local form, and the others UTC, clamped to what RFC 3339
    can write (years 0000 to 9999; the reader takes local years 0000 to 9999 at offsets up to a day).
    """
    if _LOCAL_LOW <= ns < _LOCAL_HIGH:
        return rfc3339_nano(ns)
    ns = min(max(ns, _RFC3339_LOW), _RFC3339_HIGH)
    days, rest = divmod(ns, _DAY_NS)
    seconds, fraction = divmod(rest, 1_000_000_000)
    year, month, day = _civil(days)
    digits = f".{fraction:09d}".rstrip("0").rstrip(".")
    clock = f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    return f"{year:04d}-{month:02d}-{day:02d}T{clock}{digits}Z"


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
    """Writes a session's events to ``path`` through :class:`llmlog_engine_files.TraceOutput`.

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
        self._write_line = self.output.sink.write_line

    @property
    def path(self) -> Path:
        """The trace file."""
        return self.output.path

    def write(self, event: TraceEvent) -> None:
        kind = event.type
        if kind is _SESSION and self._session_line is None:
            self._session_line = encode(event)
        # Straight to the sink (TraceOutput.write, two calls less), with its newline: an error
        # is written at once.
        self._write_line(_file_line(event), kind is _ERROR)

    def flush(self) -> None:
        self.output.flush()

    def close(self) -> None:
        self.output.close()


_SESSION = TraceEventType.SESSION
_NEWLINE = orjson.OPT_APPEND_NEWLINE
_ERROR = TraceEventType.ERROR
_TYPES = {t.value: t for t in TraceEventType}
# Groups: the six fields, the fraction (7), then "Z" (8) or nothing (an offset ends the text).
_TIMESTAMP = re.compile(
    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.(\d{1,9}))?(?:(Z)|[+-]\d\d:\d\d)", re.ASCII
)
_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _days_before(year: int, month: int, day: int) -> int:
    """Days from 1970-01-01 to the given date of the proleptic Gregorian calendar (any year from
    0 to 9999, as Go's RFC 3339 parser takes; ``datetime`` stops at year 1)."""
    y = year - (month <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _civil(days: int) -> tuple[int, int, int]:
    """The date ``days`` after 1970-01-01 (the inverse of :func:`_days_before`)."""
    days += 719468
    era = days // 146097
    doe = days - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (month <= 2), month, day


_DAY_NS = 86_400_000_000_000
_RFC3339_LOW = _days_before(0, 1, 1) * _DAY_NS
_RFC3339_HIGH = _days_before(10000, 1, 1) * _DAY_NS - 1
_LOCAL_LOW = _days_before(1000, 1, 2) * _DAY_NS
_LOCAL_HIGH = _days_before(9999, 12, 31) * _DAY_NS


def parse_timestamp(text: str) -> int:
    """Nanoseconds since the epoch from an RFC 3339 timestamp (as dspy-go writes them).

    Refuses what Go's ``time.Parse(time.RFC3339Nano, ...)`` refuses: no offset, a month, day,
    hour, minute, second or offset out of range (``2026-02-30``, ``T24:00``, ``:60``).

    :raises ValueError: for anything else (dspy-go's reader drops such events; ours names them).
    """
    match = _TIMESTAMP.fullmatch(text)
    if match is None:
        raise ValueError(f"not an RFC 3339 timestamp: {_shown(text)}")
    # The date, time and offset part repeats from line to line: computed once per second.
    seconds = _epoch_seconds(text[:19], match.group(2) or text[-6:])
    fraction = match.group(1)
    return seconds * 1_000_000_000 + (int(fraction.ljust(9, "0")) if fraction else 0)


@functools.lru_cache(maxsize=256)
def _epoch_seconds(date_time: str, zone: str) -> int:
    """``YYYY-MM-DDTHH:MM:SS`` at offset ``zone`` (``Z`` or ``+HH:MM``) as seconds since the epoch.

    :raises ValueError: for a field out of range.
    """
    year, month, day = int(date_time[0:4]), int(date_time[5:7]), int(date_time[8:10])
    hour, minute, second = int(date_time[11:13]), int(date_time[14:16]), int(date_time[17:19])
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    days_in_month = (29 if leap else 28) if month == 2 else _MONTH_DAYS[(month - 1) % 12]
    offset_hours, offset_minutes = (0, 0) if zone == "Z" else (int(zone[1:3]), int(zone[4:6]))
    if not (
        1 <= month <= 12
        and 1 <= day <= days_in_month
        and hour < 24
        and minute < 60
        and second < 60
        and offset_hours < 24
        and offset_minutes < 60
    ):
        raise ValueError(
            f"not an RFC 3339 timestamp (a field out of range): {_shown(date_time + zone)}"
        )
    offset = offset_hours * 3600 + offset_minutes * 60
    if zone[0] == "-":
        offset = -offset
    return _days_before(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - offset


def _shown(value: Any, limit: int = 60) -> str:
    """A value from the file as a message shows it: ``repr`` (quotes, escapes), cut short."""
    text = repr(value) if isinstance(value, str) else _kind(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _kind(value: Any) -> str:
    """The JSON type of a decoded value, as a message names it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


class TraceReadError(ValueError):
    """A line of a trace file that cannot be read; the message names ``file:line``."""


def read_trace(
    path: str | os.PathLike[str],
    *,
    skipped: list[str] | None = None,
    start: int = 0,
    stop: int | None = None,
) -> Iterator[TraceEvent]:
    """The events of a dspy-go trace file, in file order.

    Each line must be what dspy-go's ``json.Unmarshal`` into a ``TraceEvent`` accepts: an object
    whose ``type`` is one of the event types, whose ``timestamp`` is an RFC 3339 string, whose
    ``trace_id``, ``span_id`` and ``parent_id`` are strings (or null, or absent) and whose
    ``data`` is an object (or null, or absent). Values inside ``data`` are not checked: dspy-go's
    viewer reads them with type assertions and ignores a value of the wrong type, and so does
    ``llmlog view``. Text Go's decoder reads is read too: invalid UTF-8 becomes U+FFFD, a lone
    surrogate escape (``\\ud800``) stays a lone surrogate (the writers escape it again).

    :param skipped: if given, unreadable lines are skipped and their messages appended here
        instead of raising.
    :param start: read from this byte offset: 0, or just after a newline (the lines still
        numbered from the file's first, in messages).
    :param stop: read only the lines that begin before this byte offset (``None``: to the end).
        Two ranges split at a line's start read every line once between them: what lets a
        report read one large file in two processes.
    :raises TraceReadError: naming ``file:line`` and what was expected, for a line that is not a
        valid event.
    """
    p = Path(path)
    # A fast path for the well-formed line as the writers write it (orjson takes it, the type is
    # known, the ids are strings, ``data`` an object, the timestamp ``YYYY-MM-DDTHH:MM:SS.fZ`` of
    # a second already read strictly); every other line, and every error, goes through
    # :func:`parse_line`, so what is accepted and every message are the strict reader's.
    loads, types, event = orjson.loads, _TYPES, TraceEvent
    seconds: dict[str, int] = {}  # "YYYY-MM-DDTHH:MM:SS" (at "Z") -> seconds, checked strictly
    first_line: int | None = None  # the number of the range's first line, once needed
    with p.open("rb") as fh:
        if start:
            fh.seek(start)
        left = None if stop is None else stop - start  # bytes of the range not read yet
        for number, raw in enumerate(fh, start=1):
            if left is not None:
                if left <= 0:
                    break
                left -= len(raw)
            try:
                record = loads(raw)
            except orjson.JSONDecodeError:
                if not raw.strip():
                    continue
                record = None
            stamp = None
            if type(record) is dict:
                get = record.get
                name, stamp = get("type"), get("timestamp")
                if (
                    type(stamp) is str
                    and 21 < len(stamp) < 31
                    and stamp[19] == "."
                    and stamp[-1] == "Z"
                ):
                    trace_id, span_id = get("trace_id"), get("span_id")
                    parent_id, data = get("parent_id"), get("data")
                    second = seconds.get(stamp[:19])
                    fraction = stamp[20:-1]
                    kind = types.get(name) if type(name) is str else None
                    if (
                        second is not None
                        and kind is not None
                        and fraction.isdigit()
                        and fraction.isascii()
                        and (trace_id is None or type(trace_id) is str)
                        and (span_id is None or type(span_id) is str)
                        and (parent_id is None or type(parent_id) is str)
                        and (data is None or type(data) is dict)
                    ):
                        yield event(
                            kind,
                            second * 1_000_000_000 + int(fraction.ljust(9, "0")),
                            trace_id or "",
                            span_id or None,
                            parent_id or None,
                            {} if data is None else data,
                        )
                        continue
                else:
                    stamp = None
            try:
                parsed = parse_line(raw, _HERE)
            except TraceReadError as exc:
                # Every message starts with its place: the line's number in the file (the lines
                # before a range counted only now, for a message).
                if start and first_line is None:
                    first_line = _lines_before(p, start) + 1
                where = f"{p}:{number + (first_line or 1) - 1}"
                error = TraceReadError(where + str(exc)[len(_HERE) :])
                if skipped is None:
                    raise error from None
                skipped.append(str(error))
                continue
            if stamp is not None and len(seconds) < 65_536:
                # Read strictly: this second's prefix is well-formed, in range, at UTC.
                seconds[stamp[:19]] = parsed.time // 1_000_000_000
            yield parsed


#: What :func:`read_trace` passes :func:`parse_line` as the place, replaced in a message by
#: ``file:line`` (made only for a line that fails).
_HERE = "\0"


def _lines_before(path: Path, offset: int) -> int:
    """How many lines end before byte ``offset`` of ``path``."""
    count = 0
    with path.open("rb") as fh:
        while offset > 0:
            block = fh.read(min(offset, 1 << 20))
            if not block:
                break
            count += block.count(b"\n")
            offset -= len(block)
    return count


def loads(raw: bytes) -> Any:
    """One JSON value as Go's ``encoding/json`` reads it, which orjson is stricter than: invalid
    UTF-8 is read as U+FFFD and a lone surrogate escape as that code point.

    :raises ValueError: for what no JSON reader takes (bad syntax, ``NaN``, a number too big for
        a float, nesting deeper than 1,024), with orjson's message.
    """
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        error = exc
    try:
        return json.loads(
            raw.decode("utf-8", "replace"),
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
            parse_int=_json_int,
        )
    except (ValueError, RecursionError):
        raise ValueError(str(error)) from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError("number is infinity when parsed as double")
    return value


def _json_int(text: str) -> int | float:
    # As orjson reads them: integers past 64 bits as floats (Go reads every number in `data` as
    # a float64).
    if len(text) > 19:
        return _finite_float(text)
    value = int(text)
    return value if -(2**63) <= value < 2**64 else float(value)


def parse_line(raw: bytes, where: str) -> TraceEvent:
    """One line of a trace file as an event; ``where`` (``file:line``) starts every message.

    :raises TraceReadError: for a line that is not a valid event.
    """
    try:
        record = orjson.loads(raw)  # the common case, without a call more
    except orjson.JSONDecodeError:
        try:
            record = loads(raw)
        except ValueError as exc:
            raise TraceReadError(f"{where}: not a JSON line ({exc})") from None
    if type(record) is not dict:
        raise TraceReadError(f"{where}: expected a JSON object, got {_kind(record)}")
    get = record.get
    name = get("type")
    kind = _TYPES.get(name) if type(name) is str else None
    if kind is None:
        expected = ", ".join(_TYPES)
        got = "nothing" if "type" not in record else _shown(name)
        raise TraceReadError(f'{where}: expected "type" to be one of {expected}; got {got}')
    stamp = get("timestamp")
    if type(stamp) is not str:
        got = "nothing" if "timestamp" not in record else _kind(stamp)
        raise TraceReadError(f'{where}: expected "timestamp" as an RFC 3339 string; got {got}')
    try:
        time_ns = parse_timestamp(stamp)
    except ValueError as exc:
        raise TraceReadError(f"{where}: {exc}") from None
    trace_id, span_id, parent_id = get("trace_id"), get("span_id"), get("parent_id")
    # Each a string or null, as Go decodes into a string field; checked in one test when so.
    if not (
        (trace_id is None or type(trace_id) is str)
        and (span_id is None or type(span_id) is str)
        and (parent_id is None or type(parent_id) is str)
    ):
        for key in ("trace_id", "span_id", "parent_id"):
            _text_or_null(record, key, where)
    data = get("data")
    if data is None:
        data = {}
    elif type(data) is not dict:
        raise TraceReadError(f'{where}: expected "data" to be an object; got {_kind(data)}')
    return TraceEvent(kind, time_ns, trace_id or "", span_id or None, parent_id or None, data)


def _text_or_null(record: dict[str, Any], key: str, where: str) -> str | None:
    value = record.get(key)
    if value is None or isinstance(value, str):
        return value
    raise TraceReadError(f'{where}: expected "{key}" to be a string; got {_kind(value)}')
