"""Opening a trace file whichever way it was written: plain, or a rotated part the file output
compressed (``.gz``, ``.zst``), and finding the installed trace format that recognises it.

Every reader of trace files (``llmlog view`` and ``convert``, ``reprice``, the report,
``llmlog export``, replay) opens its input here, so all of them accept the same files and name
them the same way: a pipe is read once into a private copy (:func:`spooled`), a compressed file is
recognised by its first bytes, not its name, and read through a private decompressed copy of
bounded size; every message names the file given, never a copy.
"""

from __future__ import annotations

import contextlib
import io
import stat
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO, Literal

__all__ = [
    "FIRST_LINE_LIMIT",
    "MAX_DECOMPRESSED",
    "Compression",
    "TraceInputError",
    "compression_of",
    "decompressed_copy",
    "first_line",
    "is_snapshot_header",
    "recognising_format",
    "shown_as",
    "spooled",
]

Compression = Literal["gzip", "zstd"]

#: The first bytes of the two compressions the file output writes.
_MAGIC: dict[bytes, Compression] = {b"\x1f\x8b": "gzip", b"\x28\xb5\x2f\xfd": "zstd"}
#: Most bytes a compressed input may decompress to (a small file can expand to gigabytes).
MAX_DECOMPRESSED = 4 << 30
#: Longest first line read to recognise a file's format.
FIRST_LINE_LIMIT = 1 << 20


class TraceInputError(ValueError):
    """A trace file that cannot be opened or read; the message names ``file[:line]`` and what
    was expected."""


def compression_of(path: Path) -> Compression | None:
    """``"gzip"`` or ``"zstd"`` when ``path`` starts as one does, else ``None``.

    :raises TraceInputError: the file cannot be read.
    """
    try:
        with path.open("rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise TraceInputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    for start, kind in _MAGIC.items():
        if magic.startswith(start):
            return kind
    return None


def first_line(path: Path, compression: Compression | None = None) -> bytes:
    """The first line of ``path`` (at most :data:`FIRST_LINE_LIMIT` bytes), decompressed when
    ``compression`` says so: only as much of the file is decompressed as that line needs.
    ``b""`` for an empty file.

    :raises TraceInputError: the file cannot be read, or decompressed.
    """
    try:
        if compression is None:
            with path.open("rb") as fh:
                return fh.readline(FIRST_LINE_LIMIT)
        with _decompressing(path, compression) as stream:
            return stream.readline(FIRST_LINE_LIMIT)
    except TraceInputError:
        raise
    except Exception as exc:
        raise _failure(path, exc) from None


def is_snapshot_header(first: bytes) -> bool:
    """Whether a first line (decompressed) is a flight-recorder snapshot's header, which names
    its format (``"llmlog-flight"``): what no trace format reads, and ``llmlog flight`` shows."""
    return first.lstrip().startswith(b"{") and b'"llmlog-flight"' in first


def recognising_format(first: bytes, formats: Mapping[str, Any]) -> tuple[str, Any] | None:
    """The name and component of the first trace format (by name) whose ``detect`` accepts
    ``first``; a ``detect`` that raises does not recognise the file."""
    for name, component in sorted(formats.items()):
        detect = component.support.detect
        try:
            recognised = detect is not None and bool(detect(first))
        except Exception:  # a plugin's detect() failing on a line it was not written for
            recognised = False
        if recognised:
            return name, component
    return None


@contextlib.contextmanager
def decompressed_copy(
    path: Path, compression: Compression, *, damage: list[str] | None = None
) -> Iterator[Path]:
    """A private decompressed copy of ``path``, in a temporary directory (mode 0700) removed
    afterwards. The copy keeps the file's name without its last suffix
    (``trace.jsonl.gz`` -> ``trace.jsonl``), for viewers that show names.

    :param damage: when given, a truncated or damaged file is not an error: the copy holds what
        decompressed before the damage, and a message saying where it stopped is appended here
        (as ``zcat`` prints what it can).
    :raises TraceInputError: the file decompresses to more than :data:`MAX_DECOMPRESSED` bytes,
        cannot be read, is damaged or truncated (without ``damage``), or is zstd and
        ``zstandard`` is not installed.
    """
    import tempfile

    with tempfile.TemporaryDirectory(prefix="llmlog-") as scratch:
        name = path.name.rsplit(".", 1)[0] if "." in path.name else path.name
        plain = Path(scratch) / (name or "trace")
        with plain.open("wb") as target:
            copied = 0
            try:
                with _decompressing(path, compression) as source:
                    # read1: what one step decompressed, so a damaged end loses nothing before it
                    while chunk := source.read1(1 << 20):
                        copied += len(chunk)
                        if copied > MAX_DECOMPRESSED:
                            raise TraceInputError(
                                f"{path}: decompresses to more than {MAX_DECOMPRESSED} bytes"
                            )
                        _write(target, chunk, path, scratch, "decompress")
            except TraceInputError:
                raise
            except Exception as exc:  # EOFError, zlib.error, zstandard's own errors, OSError
                failure = _failure(path, exc)
                if damage is None or isinstance(failure, _ReadError):
                    raise failure from None
                damage.append(f"{failure}; read the {copied} bytes before it")
        yield plain


def shown_as(text: str, path: Path, *copies: Path) -> str:
    """``text`` (a message, a line a viewer printed) naming ``path`` where it named one of
    ``copies`` (:func:`spooled`'s, :func:`decompressed_copy`'s)."""
    for copy in copies:
        if copy != path:
            text = text.replace(str(copy), str(path))
    return text


@contextlib.contextmanager
def spooled(path: Path) -> Iterator[Path]:
    """``path`` itself, or a private copy of what it gives when it is a pipe or a socket
    (``llmlog view <(zcat trace.jsonl.gz)``, ``… | llmlog view /dev/stdin``): every reader reads
    a file twice, its first line to recognise its format and then the whole, and a pipe gives
    its bytes once. The copy is at most :data:`MAX_DECOMPRESSED` bytes, in a temporary directory
    (mode 0700) removed afterwards; messages name it, :func:`shown_as` names ``path`` instead.
    A regular file, a directory, a device or a path that does not exist is ``path`` itself (its
    reader says what is wrong with it).

    :raises TraceInputError: the pipe gives more than :data:`MAX_DECOMPRESSED` bytes, or cannot be
        read.
    """
    try:
        mode = path.stat().st_mode
    except OSError:
        mode = 0
    if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)):
        yield path
        return
    import tempfile

    try:
        source = path.open("rb")  # waits for a writer, as `cat` does: before any directory
    except OSError as exc:
        raise TraceInputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    with source, tempfile.TemporaryDirectory(prefix="llmlog-") as scratch:
        copy = Path(scratch) / (path.name or "input")
        with copy.open("wb") as target:
            copied = 0
            while True:
                try:
                    chunk = source.read(1 << 20)
                except OSError as exc:
                    raise TraceInputError(f"{path}: cannot read: {exc.strerror or exc}") from None
                if not chunk:
                    break
                copied += len(chunk)
                if copied > MAX_DECOMPRESSED:
                    raise TraceInputError(f"{path}: gives more than {MAX_DECOMPRESSED} bytes")
                _write(target, chunk, path, scratch, "copy")
        yield copy


class _ReadError(TraceInputError):
    """The file could not be read (an I/O error), as against its content being damaged."""


def _failure(path: Path, exc: BaseException) -> TraceInputError:
    """The error for a failure reading ``path`` through a decompressor: an I/O error (it has an
    errno) is the file's; anything else (a bad header, a truncated stream) is its content's."""
    if isinstance(exc, OSError) and exc.errno is not None:
        return _ReadError(f"{path}: cannot read: {exc.strerror or exc}")
    return TraceInputError(f"{path}: cannot decompress: {exc}")


def _write(target: BinaryIO, chunk: bytes, path: Path, scratch: str, what: str) -> None:
    try:
        target.write(chunk)
    except OSError as exc:  # a full disk: the copy's, not the input's fault
        raise _ReadError(f"{path}: cannot {what} into {scratch}: {exc.strerror or exc}") from None


@contextlib.contextmanager
def _decompressing(path: Path, compression: Compression) -> Iterator[io.BufferedIOBase]:
    raw = path.open("rb")
    try:
        if compression == "gzip":
            import gzip

            with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
                yield stream
            return
        try:
            import zstandard
        except ImportError:
            raise TraceInputError(
                f"{path}: a zstd file; install zstandard (pip install zstandard) to read it"
            ) from None
        yield io.BufferedReader(_ZstdFrames(raw, zstandard.ZstdDecompressor()))
    finally:
        raw.close()


class _ZstdFrames(io.RawIOBase):
    """The frames of a zstd stream one after another, decompressed, as ``zstd -d`` reads them.
    zstandard's own stream reader ends quietly where a truncated file ends; this one raises
    :class:`EOFError` there, so a damaged part is never taken for a whole one."""

    #: Compressed bytes fed at a time: zstd expands a byte to at most about 32 KiB, so one step
    #: holds at most 16 MiB whatever the file.
    STEP = 512

    def __init__(self, raw: BinaryIO, decompressor: Any) -> None:
        self._raw = raw
        self._decompressor = decompressor
        self._frame = decompressor.decompressobj()
        self._inside = False  # fed bytes of a frame that has not ended yet
        self._pending = memoryview(b"")
        self._error: Exception | None = None  # damage found after the pending bytes

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            if self._error is not None:  # after what decompressed before it was read
                raise self._error
            data = self._raw.read(self.STEP)
            if not data:
                if self._inside:
                    raise EOFError("the file ends inside a zstd frame (truncated)")
                return 0
            out = bytearray()
            try:
                while data:
                    self._inside = True
                    out += self._frame.decompress(data)
                    data = b""
                    if self._frame.eof:  # a frame ended: what follows it starts the next
                        data = self._frame.unused_data
                        self._frame = self._decompressor.decompressobj()
                        self._inside = False
            except Exception as exc:  # damage: the frames before it in this step still count
                if not out:
                    raise
                self._error = exc
            self._pending = memoryview(out)
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n
