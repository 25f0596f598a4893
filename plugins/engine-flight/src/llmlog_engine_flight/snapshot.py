"""Reading flight-recorder snapshots (``.jsonl`` from ``memory``, ``.jsonl.zst`` from ``zstd``).

A snapshot is read through the backend that wrote it: the registered backend whose ``magic``
starts the file (the longest that matches; ``memory`` has none: plain JSON Lines). Every backend,
a third party's too, owns both directions: ``seal`` when recording, ``decode`` here. The backend's ``decode`` hands over the JSON lines in small pieces, so memory stays
bounded whatever the file holds (a few KiB of zstd can decompress to gigabytes):

* the header, the first line, may be at most :data:`HEADER_LIMIT` bytes; :func:`read_header`
  (``flight list``) reads and decompresses nothing past it;
* an event line longer than ``max_line`` (:data:`LINE_LIMIT`) is skipped and counted, without
  being held;
* every line is checked against :mod:`llmlog_engine_flight.schema`.

Bad input never raises anything but :class:`SnapshotError`, whose message is ``file:line: what
was expected``. With ``lenient=True`` a bad event line is skipped and counted instead, and a
damaged part of the file (a corrupt zstd frame) is passed over, reported in
:attr:`Snapshot.problems`; the header must always be readable.
"""

from __future__ import annotations

import json
import math
import os
from collections import deque
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO, cast

import attrs
import orjson

from llmlog.ext import is_snapshot_header
from llmlog_engine_flight.ring import RecorderBackend
from llmlog_engine_flight.schema import check_event, check_header, is_header

__all__ = [
    "HEADER_LIMIT",
    "KNOWN_BACKENDS",
    "LINE_LIMIT",
    "MAX_EVENTS",
    "NotASnapshot",
    "Snapshot",
    "SnapshotError",
    "UnreadableLine",
    "read_header",
    "read_snapshot",
    "recorder_backends",
    "starts_like_snapshot",
]

#: Longest header line read (bytes).
HEADER_LIMIT = 1 << 20
#: Longest event line read by default (bytes); longer ones are skipped and counted.
LINE_LIMIT = 16 << 20
#: Most events held by default: the newest are kept (a default window holds about 56,000; a
#: small zstd file can decode to tens of millions of valid lines, which would not fit in memory).
MAX_EVENTS = 1_000_000
#: Problems kept as messages in a lenient read (all of them are counted).
_KEPT_PROBLEMS = 20

#: Backends of other distributions a snapshot may have been written with, by their magic: only
#: to say what to install when none registered can read a file (reading is their ``decode``).
KNOWN_BACKENDS = {
    b"\x28\xb5\x2f\xfd": ("zstd", "llmlog-recorder-zstd", "zstd -dc FILE"),
}


def starts_like_snapshot(first: bytes) -> bool:
    """Whether a file whose first line is ``first`` looks like a flight-recorder snapshot: it
    starts with a known backend's magic (compressed), or is a plain snapshot's header. For
    readers of several kinds of file (the report, ``llmlog export``, the MCP server), which then
    read it with :func:`read_snapshot`."""
    return any(first.startswith(magic) for magic in KNOWN_BACKENDS) or is_snapshot_header(first)


class SnapshotError(ValueError):
    """A snapshot that cannot be read; the message names ``file:line``."""


class NotASnapshot(SnapshotError):
    """A file that is not a flight-recorder snapshot at all (no snapshot header)."""


class UnreadableLine(SnapshotError):
    """A bad event line or damaged part, which a lenient read skips."""


@attrs.frozen
class Snapshot:
    """A snapshot read back: its header and its events, oldest first.

    :param skipped: lines not read: longer than the line limit, or (lenient) not valid events.
    :param problems: ``file:line: ...`` messages of the first skipped lines and of the damaged
        parts of the file passed over (lenient); the events lost in those are
        :attr:`missing_events`.
    :param dropped: the oldest events not kept, past ``max_events``.
    """

    path: Path
    header: dict[str, Any]
    events: list[dict[str, Any]]
    skipped: int = 0
    problems: tuple[str, ...] = ()
    dropped: int = 0

    @property
    def missing_events(self) -> int:
        """Events the header counts in the window that were not read: a file cut short at a
        frame boundary, or damaged parts, lose events no line number tells of."""
        window = self.header.get("window") or {}
        expected = window.get("events")
        if not isinstance(expected, int):
            return 0
        # The window's events are the chunks' ones: not the re-emitted open spans and regions.
        read = sum(
            1
            for e in self.events
            if not e.get("started_before_window")
            and not (e["kind"] == "region_begin" and e.get("open"))
        )
        return max(0, expected - read - self.skipped - self.dropped)


def recorder_backends() -> list[RecorderBackend]:
    """One instance of every registered flight-recorder backend (to read snapshots with), and
    of ``memory`` always."""
    from llmlog.ext import BuildContext, ComponentKind, plugin_host

    backends = []
    for component in plugin_host().components(ComponentKind.RECORDER).values():
        try:
            options = None if component.options is None else component.options()
            backends.append(component.factory(options, BuildContext(component.name)))
        except Exception:  # a backend that cannot be built cannot have written the file
            continue
    if not any(backend.name == "memory" for backend in backends):
        # The engine's own backend reads plain JSON Lines even where the engine is not loaded.
        from llmlog_engine_flight.memory import MemoryBackend

        backends.append(MemoryBackend())
    return backends


def _backend_for(
    path: Path, fh: BinaryIO, backends: Sequence[RecorderBackend] | None
) -> RecorderBackend:
    """The backend that wrote the open file ``fh``: the longest ``magic`` it starts with."""
    start = fh.read(16)
    fh.seek(0)
    found = recorder_backends() if backends is None else list(backends)
    found.sort(key=lambda b: len(getattr(b, "magic", b"")), reverse=True)
    for backend in found:
        if start.startswith(getattr(backend, "magic", b"")):
            return backend
    for magic, (name, distribution, command) in KNOWN_BACKENDS.items():
        if start.startswith(magic):
            raise SnapshotError(
                f"{path}: a {name} snapshot; reading it needs the {name} backend "
                f"(pip install {distribution}), or run: {command}"
            )
    raise NotASnapshot(f"{path}: not an llmlog flight-recorder snapshot (unknown encoding)")


#: What :func:`_split` yields: ``(what, line number, line or message)``.
_LINE, _LONG, _CUT, _DAMAGED = "line", "long", "cut", "damaged"


def _split(
    pieces: Iterator[bytes], limit: int, damage: list[str]
) -> Iterator[tuple[str, int, Any]]:
    """The lines of the decoded ``pieces``, newlines removed, as ``(_LINE, number, bytes)``;
    a line longer than ``limit`` as ``(_LONG, number, None)``, told as soon as it passes the
    limit (a caller wanting only the first line reads no further) and never held; a last line
    without its newline as ``(_CUT, number, bytes)``; a damaged part the decoder passed over
    (appended to ``damage``) as ``(_DAMAGED, number of the last line, message)``, dropping the
    line it cut."""
    number = 0
    buffer = bytearray()
    skipping = False  # inside a line longer than the limit, already told
    reported = 0
    for piece in pieces:
        while reported < len(damage):
            yield _DAMAGED, number, damage[reported]
            reported += 1
            buffer.clear()
            skipping = False
        start = 0
        while True:
            end = piece.find(b"\n", start)
            if end < 0:
                if not skipping:
                    buffer += piece[start:]
                    if len(buffer) > limit:
                        number += 1
                        yield _LONG, number, None
                        buffer.clear()
                        skipping = True
                break
            if skipping:
                skipping = False  # the long line ends here
            else:
                if buffer:
                    buffer += piece[start:end]
                    line = bytes(buffer)
                    buffer.clear()
                else:
                    line = piece[start:end]
                number += 1
                yield (_LONG, number, None) if len(line) > limit else (_LINE, number, line)
            start = end + 1
    for message in damage[reported:]:
        yield _DAMAGED, number, message
        buffer.clear()
    if buffer and not skipping:
        yield _CUT, number + 1, bytes(buffer)


class _BadLine(ValueError):
    """A line that is not a JSON value; the message says why."""


def _refuse(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("a number out of range")
    return value


def _decode_line(raw: bytes) -> Any:
    """A line's JSON value. A lone surrogate escape (``"\\ud800"``, valid JSON but not valid
    text, which orjson refuses) is read as the six characters ``\\ud800``, as the recorder
    writes one.

    :raises _BadLine: saying what is wrong (not UTF-8, not JSON).
    """
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        problem = exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _BadLine(
            f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})"
        ) from None
    if "surrogate" not in str(problem):
        raise _BadLine(f"not a JSON line ({problem})")
    from llmlog.ext import serializer

    try:
        value = json.loads(text, parse_constant=_refuse, parse_float=_finite)
    except (ValueError, RecursionError):
        raise _BadLine(f"not a JSON line ({problem})") from None
    return orjson.loads(serializer.dumps(value))


def _header_from(path: Path, lines: Iterator[tuple[str, int, Any]]) -> dict[str, Any]:
    first: tuple[str | None, int, Any] = next(lines, (None, 1, None))
    what, _, raw = first
    if what is None or (what == _CUT and not raw.strip()):
        raise NotASnapshot(f"{path}:1: empty: not an llmlog flight-recorder snapshot")
    if what == _DAMAGED:
        raise SnapshotError(f"{path}:1: cannot decode the header: {raw}")
    if what == _LONG:
        raise NotASnapshot(
            f"{path}:1: expected the header line, found a line of more than {HEADER_LIMIT} bytes"
        )
    try:
        header = _decode_line(raw)
    except _BadLine as exc:
        raise NotASnapshot(f"{path}:1: expected the snapshot header, {exc}") from None
    if not is_header(header):
        raise NotASnapshot(f"{path}:1: not an llmlog flight-recorder snapshot (no header line)")
    problem = check_header(header)
    if problem is not None:
        raise SnapshotError(f"{path}:1: {problem}")
    result: dict[str, Any] = header
    return result


def _open(path: Path) -> BinaryIO:
    try:
        return cast(BinaryIO, path.open("rb"))
    except IsADirectoryError:
        raise SnapshotError(f"{path}: is a directory, not a snapshot") from None
    except OSError as exc:
        raise SnapshotError(f"{path}: cannot read: {exc.strerror or exc}") from None


def read_header(
    path: str | os.PathLike[str], *, backends: Sequence[RecorderBackend] | None = None
) -> dict[str, Any]:
    """Only the header line of a snapshot: nothing past its first :data:`HEADER_LIMIT` bytes is
    read or decompressed.

    :raises SnapshotError: when the file is unreadable or its first line is not a valid header
        (:class:`NotASnapshot` when it is no snapshot at all).
    """
    p = Path(path)
    with _open(p) as fh:
        try:
            backend = _backend_for(p, fh, backends)
            damage: list[str] = []
            return _header_from(p, _split(backend.decode(fh, damage), HEADER_LIMIT, damage))
        except SnapshotError:
            raise
        except OSError as exc:
            raise SnapshotError(f"{p}: cannot read: {exc.strerror or exc}") from None
        except Exception as exc:  # a backend's decoder failing in a way it should not
            raise SnapshotError(f"{p}:1: cannot decode the header: {exc}") from None


def read_snapshot(
    path: str | os.PathLike[str],
    *,
    lenient: bool = False,
    max_line: int = LINE_LIMIT,
    max_events: int = MAX_EVENTS,
    backends: Sequence[RecorderBackend] | None = None,
) -> Snapshot:
    """Read a snapshot: its header and events, sorted by time (file order among equal times).

    :param lenient: skip (and count) event lines that are not valid events, and pass over
        damaged parts of the file, instead of raising.
    :param max_line: longest event line read; longer ones are skipped and counted.
    :param max_events: most events kept: past it, the oldest (in file order) are dropped and
        counted (:attr:`Snapshot.dropped`), so memory stays bounded.
    :param backends: the backends to decode with (default: the registered ones).
    :raises SnapshotError: naming ``file:line`` and what was expected.
    """
    p = Path(path)
    events: deque[dict[str, Any]] = deque(maxlen=max(max_events, 1))
    read = 0
    problems: list[str] = []
    skipped = 0

    def problem(message: str) -> None:
        nonlocal skipped
        skipped += 1
        if len(problems) < _KEPT_PROBLEMS:
            problems.append(message)

    with _open(p) as fh:
        try:
            backend = _backend_for(p, fh, backends)
            damage: list[str] = []
            pieces = backend.decode(fh, damage if lenient else None)
            lines = _split(pieces, max(max_line, HEADER_LIMIT), damage)
            header = _header_from(p, lines)
            number = 1
            try:
                for what, number, raw in lines:
                    if what == _DAMAGED:  # lines lost with it are not counted: missing_events
                        message = f"{p}: after line {number}: cannot decode ({backend.name}): {raw}"
                        if not lenient:
                            raise UnreadableLine(message)
                        problems.append(message)
                        continue
                    if what == _LONG or len(raw) > max_line:
                        problem(f"{p}:{number}: a line of more than {max_line} bytes, skipped")
                        continue
                    if not raw.strip():
                        continue
                    try:
                        event = _decode_line(raw)
                    except _BadLine as exc:
                        cut = "the last line is cut short (a truncated file)"
                        why = cut if what == _CUT else str(exc)
                        if not lenient:
                            raise UnreadableLine(f"{p}:{number}: {why}") from None
                        problem(f"{p}:{number}: {why}")
                        continue
                    wrong = check_event(event)
                    if wrong is not None:
                        if not lenient:
                            raise UnreadableLine(f"{p}:{number}: {wrong}")
                        problem(f"{p}:{number}: {wrong}")
                        continue
                    events.append(event)
                    read += 1
            except SnapshotError:
                raise
            except Exception as exc:  # the decoder refusing damaged data (strict mode)
                raise UnreadableLine(
                    f"{p}: after line {number}: cannot decode ({backend.name}): {exc}"
                ) from None
        except SnapshotError:
            raise
        except OSError as exc:
            raise SnapshotError(f"{p}: cannot read: {exc.strerror or exc}") from None
        except Exception as exc:
            raise SnapshotError(f"{p}:1: cannot decode: {exc}") from None
    dropped = read - len(events)
    if dropped:
        problems.append(
            f"{p}: {read} events: the oldest {dropped} were dropped (more than {max_events})"
        )
    kept = sorted(events, key=_time)
    return Snapshot(p, header, kept, skipped, tuple(problems), dropped)


def _time(event: dict[str, Any]) -> int:
    ts: int = event["ts"]
    return ts
