"""Reading a run: trace files of any installed trace format, flight-recorder snapshots and
llmlog's JSON log lines, one file, several (a run split by rotation) or a directory.

Each file is recognised in this order: a trace format whose ``detect`` accepts its first line
(read through that format's ``read``, as ``llmlog view`` and ``llmlog convert`` do), a
flight-recorder snapshot (read by ``llmlog-engine-flight``), a file of llmlog's JSON log lines
(the ``json`` formatter's output). Anything else, and any line a reader refuses, is a
:class:`ReportInputError` whose message is ``file:line: what was expected``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson

from llmlog.ext import (
    ComponentKind,
    PluginHost,
    TraceCompression,
    TraceInputError,
    compression_of,
    is_snapshot_header,
    plugin_host,
    shown_as,
    trace_first_line,
)
from llmlog.ext import decompressed_copy as core_decompressed_copy
from llmlog.ext import spooled as core_spooled
from llmlog_report_html.model import Run, RunBuilder, finite, gc_paused
from llmlog_report_html.processes import Child, parallel_ok

__all__ = ["ReportInputError", "input_files", "load_run", "parse_log_time"]

#: Longest line of a JSON log file read (longer ones are an error, or skipped when lenient).
MAX_LOG_LINE = 16 << 20


class ReportInputError(ValueError):
    """An input that cannot be read; the message names ``file:line`` and what was expected."""


class UnrecognizedInput(ReportInputError):
    """A file that is no trace, snapshot or log at all (empty, binary, another kind of file).
    Named on the command line it is an error; found in a directory it is skipped and said so, as
    a run's directory may hold a README, a screenshot or the report itself."""


def input_files(paths: Iterable[str | os.PathLike[str]]) -> list[tuple[Path, Path | None]]:
    """The files to read, each with the directory it was found in (``None`` for a file given by
    name): each file given, and the files in each directory given (sorted by name, hidden ones
    left out, not recursing)."""
    files: list[tuple[Path, Path | None]] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            inside = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
            if not inside:
                raise ReportInputError(f"{path}: no file in this directory")
            files.extend((p, path) for p in inside)
        elif path.exists():
            files.append((path, None))
        else:
            raise ReportInputError(f"{path}: no such file or directory")
    return files


def load_run(
    paths: Sequence[str | os.PathLike[str]],
    *,
    host: PluginHost | None = None,
    lenient: bool = False,
) -> Run:
    """Read ``paths`` (files or directories) into one :class:`Run`.

    :param host: the plugin host whose trace formats read the files (the configured one by
        default).
    :param lenient: skip lines a reader refuses (each counted in :attr:`Run.problems`) instead of
        stopping at the first.
    :raises ReportInputError: naming ``file:line`` and what was expected.
    """
    host = host or plugin_host()
    formats = host.components(ComponentKind.TRACE_FORMAT)
    builder = RunBuilder()
    read_from: dict[Path, int] = {}
    with gc_paused():
        for path, directory in input_files(paths):
            sources = len(builder.sources)
            try:
                _load_file(path, formats, builder, lenient)
            except UnrecognizedInput as exc:
                if directory is None:
                    raise
                del builder.sources[sources:]
                builder.problems.append(f"{exc} (skipped)")
                read_from.setdefault(directory, 0)
                continue
            if directory is not None:
                read_from[directory] = read_from.get(directory, 0) + 1
        for directory, count in read_from.items():
            if not count:
                raise ReportInputError(
                    f"{directory}: no trace, flight-recorder snapshot or llmlog JSON log in it"
                )
        return builder.finish()


def _first_line(path: Path) -> bytes:
    try:
        first = trace_first_line(path)
    except TraceInputError as exc:
        raise ReportInputError(str(exc)) from None
    if not first.strip():
        raise UnrecognizedInput(f"{path}:1: empty file")
    return first


def compressed_kind(path: Path) -> TraceCompression | None:
    """``"gzip"`` or ``"zstd"`` for a rotated part the file output compressed (``.gz``,
    ``.zst``; not a zstd flight-recorder snapshot, which its own reader reads), for
    :func:`decompressed_copy`; ``None`` for any other file.

    :raises ReportInputError: the file cannot be read.
    """
    try:
        kind = compression_of(path)
    except TraceInputError as exc:
        raise ReportInputError(str(exc)) from None
    if kind == "zstd" and _is_zstd_snapshot(path):
        return None
    return kind


def _load_file(path: Path, formats: dict[str, Any], builder: RunBuilder, lenient: bool) -> None:
    # A pipe is read through a private copy, a rotated part the file output compressed (.gz,
    # .zst) through a private decompressed copy; every message names the file given.
    with spooled(path) as copy:
        kind = compressed_kind(copy)
        if kind is None:
            _load_named(copy, path, formats, builder, lenient, (copy,))
            return
        try:
            with decompressed_copy(copy, kind, builder.problems if lenient else None) as plain:
                _load_named(plain, path, formats, builder, lenient, (plain, copy))
        except ReportInputError as exc:  # the copy could not be made: name the file given
            raise type(exc)(shown_as(str(exc), path, copy)) from None


def _is_zstd_snapshot(path: Path) -> bool:
    """Whether a zstd file is a flight-recorder snapshot, by its first line (the snapshot's
    header names its format). One whose start does not decompress is no snapshot here: the
    decompression then says what is wrong (a truncated trace's start is still read, lenient)."""
    try:
        first = trace_first_line(path, "zstd")
    except TraceInputError:
        return False
    return is_snapshot_header(first)


@contextlib.contextmanager
def decompressed_copy(
    path: Path, kind: TraceCompression, damage: list[str] | None = None
) -> Iterator[Path]:
    """:func:`llmlog.ext.decompressed_copy`, its errors a :class:`ReportInputError`. Readers of
    rotated parts (the report, ``llmlog export``) read through it; ``damage`` (when lenient)
    takes the message for a truncated or damaged part, whose intact start is read."""
    try:
        with core_decompressed_copy(path, kind, damage=damage) as plain:
            yield plain
    except TraceInputError as exc:
        raise ReportInputError(str(exc)) from None


@contextlib.contextmanager
def spooled(path: Path) -> Iterator[Path]:
    """:func:`llmlog.ext.spooled` (``path``, or a pipe's private copy), its errors a
    :class:`ReportInputError`."""
    try:
        with core_spooled(path) as copy:
            yield copy
    except TraceInputError as exc:
        raise ReportInputError(str(exc)) from None


def _load_named(
    source: Path,
    path: Path,
    formats: dict[str, Any],
    builder: RunBuilder,
    lenient: bool,
    copies: tuple[Path, ...],
) -> None:
    """:func:`_load_plain` of ``source`` (``path`` or a copy of it), every message naming
    ``path`` where it named one of ``copies``."""
    if source == path:
        _load_plain(path, path, formats, builder, lenient)
        return
    try:
        _load_plain(source, path, formats, builder, lenient)
    except ReportInputError as exc:
        raise type(exc)(shown_as(str(exc), path, *copies)) from None
    finally:
        builder.problems[:] = [shown_as(p, path, *copies) for p in builder.problems]


def _load_plain(
    path: Path, shown: Path, formats: dict[str, Any], builder: RunBuilder, lenient: bool
) -> None:
    first = _first_line(path)
    builder.sources.append(str(shown))
    for name, component in sorted(formats.items()):
        detect = component.support.detect
        try:
            recognised = bool(detect is not None and detect(first))
        except Exception:  # a format's detect() that raises does not recognise the file
            recognised = False
        if recognised and component.support.read is not None:
            builder.formats.append(f"{shown}: {name}")
            _read_trace(path, component.support.read, builder, lenient)
            return
    from llmlog_engine_flight.snapshot import starts_like_snapshot

    if starts_like_snapshot(first):
        builder.formats.append(f"{shown}: flight snapshot")
        _read_snapshot(path, builder, lenient)
        return
    if is_log_line(first):
        builder.formats.append(f"{shown}: llmlog JSON log")
        _read_log(path, builder, lenient)
        return
    known = ", ".join(sorted(formats)) or "none installed"
    if b"\x00" in first:
        raise UnrecognizedInput(f"{path}:1: a binary file, not a trace, snapshot or log")
    raise UnrecognizedInput(
        f"{path}:1: not a trace (installed formats: {known}), a flight-recorder snapshot or "
        "llmlog JSON log lines"
    )


def _read_trace(path: Path, read: Any, builder: RunBuilder, lenient: bool) -> None:
    skipped: list[str] = []
    try:
        split = _split_point(path, read)
        if split is None:
            _add_events(read(path, skipped=skipped if lenient else None), builder)
        else:
            _read_in_two(path, read, builder, split, skipped if lenient else None)
    except ReportInputError:
        raise
    except ValueError as exc:  # the readers' errors name file:line
        raise ReportInputError(str(exc)) from None
    except OSError as exc:
        raise ReportInputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except RecursionError:
        raise ReportInputError(f"{path}: values nested too deeply") from None
    builder.problems.extend(skipped)


def _add_events(events: Iterable[Any], builder: RunBuilder) -> None:
    add = builder.trace_event
    for event in events:
        kind = event.type  # a TraceEventType (a str enum: compared as its text), or text
        add(
            kind if isinstance(kind, str) else str(kind),
            event.time,
            event.trace_id,
            event.span_id,
            event.parent_id,
            event.data,
        )


#: Smallest file read in two processes (below it, starting the second costs more than it saves).
PARALLEL_MIN_BYTES = 8 << 20
#: Where the second process's part starts, as a fraction of the file: it has the extra work of
#: sending what it read, the first the work of taking it in.
_SPLIT_AT = 0.55
#: Lines looked at, from there, for a root span's start to split at.
_SPLIT_SCAN = 2000


def _split_point(path: Path, read: Any) -> int | None:
    """A byte offset to read ``path`` in two processes from, or ``None`` to read it in one.

    Only a large file, of a format whose reader takes byte ranges, on a machine of several CPUs
    (Linux: ``fork``). The split is at the start of a root span, after the file's middle: in a
    program that runs its examples one after the other nothing is open there, so the two parts
    share no span and the second's nodes can be added after the first's exactly
    (:meth:`RunBuilder.absorb`; when they do share one, the first process reads on instead).
    """
    try:
        size = path.stat().st_size
    except OSError:
        return None
    if size < PARALLEL_MIN_BYTES or not parallel_ok() or not _takes_ranges(read):
        return None
    with path.open("rb") as fh:
        fh.seek(int(size * _SPLIT_AT))
        fh.readline()  # the end of a line begun before
        at = fh.tell()
        for _ in range(_SPLIT_SCAN):
            line = fh.readline()
            if not line:
                return None
            try:
                events = list(read(path, start=at, stop=at + len(line)))
            except Exception:  # an unreadable line: the one-process read says what is wrong
                return None
            if len(events) == 1:
                event = events[0]
                data = event.data
                if (
                    event.type == "span"
                    and not event.parent_id
                    and type(data) is dict
                    and data.get("event") == "start"
                ):
                    return at
            at += len(line)
    return None


def _takes_ranges(read: Any) -> bool:
    import inspect

    try:
        parameters = inspect.signature(read).parameters
    except (TypeError, ValueError):
        return False
    return "start" in parameters and "stop" in parameters


def _read_in_two(
    path: Path, read: Any, builder: RunBuilder, split: int, skipped: list[str] | None
) -> None:
    """``path`` read in two processes: this one reads up to ``split``, a forked child from there
    on (into a builder of its own, sent back as :meth:`RunBuilder.export`). The child's part is
    added when that is exact (:meth:`RunBuilder.absorb`); otherwise, or if the child failed in
    any way, this process reads that part itself: the run, its problems and its errors are the
    same as one process reading the whole file."""

    def second_part() -> tuple[tuple[Any, ...], list[str]]:
        theirs = RunBuilder()
        their_skipped: list[str] = []
        _add_events(read(path, start=split, skipped=their_skipped), theirs)
        if their_skipped and skipped is None:
            raise ValueError("unreadable lines")  # the parent reads them and says which
        return theirs.export(), their_skipped

    try:
        child = Child(second_part)
    except OSError:  # no process to be had: this one reads the whole file
        _add_events(read(path, skipped=skipped), builder)
        return
    try:
        _add_events(read(path, stop=split, skipped=skipped), builder)
    except BaseException:
        child.cancel()
        raise
    result = child.result()
    if result is not None and builder.absorb(result[0]):
        if skipped is not None:
            skipped.extend(result[1])
        return
    _add_events(read(path, start=split, skipped=skipped), builder)


def _read_snapshot(path: Path, builder: RunBuilder, lenient: bool) -> None:
    from llmlog_engine_flight.snapshot import SnapshotError, read_snapshot

    try:
        snapshot = read_snapshot(path, lenient=lenient)
    except SnapshotError as exc:
        raise ReportInputError(str(exc)) from None
    builder.problems.extend(snapshot.problems)
    builder.flight_snapshot(snapshot.header, snapshot.events)
    from llmlog_engine_flight.chrome import to_chrome

    # The engine's own Chrome Trace Event export, for the page's "open in Perfetto".
    builder.chrome.append(to_chrome(snapshot))


def is_log_line(first: bytes) -> bool:
    """Whether a first line is an llmlog JSON log line (an object with ``level`` and ``message``)."""
    try:
        record = orjson.loads(first)
    except orjson.JSONDecodeError:
        return False
    return isinstance(record, dict) and "level" in record and "message" in record


def parse_log_time(value: Any) -> int | None:
    """An RFC 3339 timestamp of a log line as nanoseconds since the epoch, ``None`` if it is
    not one."""
    if type(value) is not str or not value.isascii() or len(value) > 64:
        return None
    from datetime import datetime

    text = value.replace("Z", "+00:00").replace("z", "+00:00")
    fraction = ""
    if "." in text:
        head, _, rest = text.partition(".")
        digits = ""
        for ch in rest:
            if not ch.isdigit():
                break
            digits += ch
        fraction = digits
        text = head + rest[len(digits) :]
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    try:
        seconds = int(moment.timestamp())
    except (OverflowError, OSError, ValueError):
        return None
    nanos = int((fraction + "000000000")[:9]) if fraction else 0
    return seconds * 1_000_000_000 + nanos


_LOG_KEYS = ("timestamp", "level", "message", "traceId", "spanId", "modelId")


def _read_log(path: Path, builder: RunBuilder, lenient: bool) -> None:
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise ReportInputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    with fh:
        number = 0
        while True:
            try:
                raw = fh.readline(MAX_LOG_LINE + 1)
            except OSError as exc:
                raise ReportInputError(f"{path}: cannot read: {exc.strerror or exc}") from None
            if not raw:
                break
            number += 1
            if len(raw) > MAX_LOG_LINE:
                # The rest of the over-long line is skipped too.
                while raw and not raw.endswith(b"\n"):
                    raw = fh.readline(MAX_LOG_LINE + 1)
                long = f"{path}:{number}: a line of more than {MAX_LOG_LINE} bytes"
                if not lenient:
                    raise ReportInputError(long)
                builder.problems.append(long + ", skipped")
                continue
            if not raw.strip():
                continue
            problem = _log_line(raw, builder)
            if problem is not None:
                if not lenient:
                    raise ReportInputError(f"{path}:{number}: {problem}")
                builder.problems.append(f"{path}:{number}: {problem}")


def _log_line(raw: bytes, builder: RunBuilder) -> str | None:
    """Adds one JSON log line; returns what was wrong with it, or ``None``."""
    try:
        record = orjson.loads(raw)
    except orjson.JSONDecodeError:
        try:  # what orjson refuses and the standard library reads (a lone surrogate escape)
            import json

            record = json.loads(raw.decode("utf-8", "replace"))
        except (ValueError, RecursionError):
            return "expected a JSON object (an llmlog JSON log line)"
    if not isinstance(record, dict):
        return "expected a JSON object (an llmlog JSON log line)"
    message = record.get("message")
    level = record.get("level")
    if type(message) is not str:
        return 'expected "message" to be a string'
    if type(level) is not str:
        return 'expected "level" to be a string'
    time_ns = parse_log_time(record.get("timestamp"))
    if time_ns is None and "timestamp" in record:
        return 'expected "timestamp" to be an RFC 3339 time with an offset'
    info = record.get("tokenInfo")
    tokens: tuple[int | None, int | None] = (None, None)
    cost = record.get("cost")
    source = "reported" if cost is not None else ""
    if isinstance(info, dict):
        tokens = (_int(info.get("promptTokens")), _int(info.get("completionTokens")))
        if cost is None:
            cost = info.get("cost")
            source = _str(info.get("costSource"))
    content = {k: v for k, v in record.items() if k not in _LOG_KEYS}
    latency = finite(record.get("latencyMs"))
    cost = finite(cost)
    builder.log(
        time_ns,
        level.upper(),
        message,
        _str(record.get("traceId")),
        _str(record.get("spanId")),
        content,
        model=_str(record.get("modelId")),
        tokens=tokens,
        cost=cost if cost is not None and cost >= 0 else None,
        cost_source=source,
        latency_ms=latency,
    )
    return None


def _str(value: Any) -> str:
    return value if type(value) is str else ""


def _int(value: Any) -> int | None:
    return value if type(value) is int and 0 <= value < 2**53 else None
