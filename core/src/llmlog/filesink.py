"""Durable, rotating, multi-process-safe line files: the machinery behind the ``file`` output and
the trace :class:`TraceOutput`.

Durability policy
-----------------
* **Unbuffered (default)**: every line is handed to the operating system with one ``write()``
  before the logging call returns. If the process is killed, nothing already logged is lost (a
  machine crash can still lose what the OS had not written to disk; see ``fsync``).
* **Buffered** (``buffer_size > 0``): lines collect in memory and are written when the buffer is
  full, at the latest ``flush_interval`` seconds after they were logged, at once for an entry of
  ERROR or above, at exit, on FATAL and on ``close()``. A kill between those points loses at most
  the buffer.
* **fsync**: ``"never"`` (default; the OS writes back on its own), ``"flush"`` (after every buffer
  write, explicit flush and close), ``"always"`` (after every write).

Concurrency
-----------
The file is opened with ``O_APPEND`` and every write is one ``write()`` of whole lines, so lines
from threads and processes never tear or interleave. Rotation is coordinated between processes
with an ``flock`` on ``<file>.lock``: the process that finds the file over its limit rotates it while
holding the lock, and the others notice the new file (its inode changed) at their next check, which
happens at least every second and every 1/16 of ``max_bytes`` written. Until then their lines go to
the just-rotated file: still whole, still kept.

Faults
------
A directory that cannot be created, a path that is a directory, or a permission problem raises
:class:`OSError` naming the path when the sink is created. At run time a failing write (disk full,
I/O error) is reported once on stderr and counted, the line goes to stderr instead, and every later
write tries the file again; the first success is reported as a recovery. A file deleted or moved
away by someone else is noticed at the next check and recreated.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import fcntl
import gzip
import os
import queue
import re
import shutil
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import attrs

from llmlog.dispatch import report_problem

__all__ = ["FileSink", "RotationPolicy", "TraceOutput", "rotated_files"]

Compression = Literal["none", "gzip", "zstd"]
_SUFFIX = {"none": "", "gzip": ".gz", "zstd": ".zst"}
_CHECK_SECONDS = 1.0
_monotonic = time.monotonic
_os_write = os.write


@attrs.frozen(kw_only=True)
class RotationPolicy:
    """When to start a new file and how many old ones to keep.

    :param max_bytes: rotate when the file would grow past this size; 0: no size limit.
    :param when: also rotate when the local hour or day changes: ``"never"``, ``"hourly"``, ``"daily"``.
    :param max_files: rotated files to keep, newest first; 0 keeps all.
    :param compress: compress rotated files: ``"none"``, ``"gzip"`` or ``"zstd"`` (needs the
        ``zstandard`` package, which the zstd plugin installs).
    """

    max_bytes: int = 0
    when: Literal["never", "hourly", "daily"] = "never"
    max_files: int = 0
    compress: Compression = "none"


def _period(when: str, seconds: float) -> str:
    fmt = {"hourly": "%Y%m%d%H", "daily": "%Y%m%d"}.get(when)
    return time.strftime(fmt, time.localtime(seconds)) if fmt else ""


def _split_name(path: Path) -> tuple[str, str]:
    # app.log -> ("app", ".log"); rotated files keep the extension: app.2026-...log
    suffix = path.suffix if path.suffix and path.suffix != path.name else ""
    return path.name[: len(path.name) - len(suffix)], suffix


def _rotated_pattern(path: Path) -> re.Pattern[str]:
    stem, suffix = _split_name(path)
    return re.compile(
        rf"^{re.escape(stem)}\.(\d{{4}}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{{6}})(?:-(\d+))?"
        rf"{re.escape(suffix)}(\.gz|\.zst)?$",
        re.ASCII,
    )


def _rotation_key(path: Path) -> str:
    # The time-and-counter part of a rotated name, zero-padded so keys sort in rotation order.
    match = re.search(r"\.(\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{6})(?:-(\d+))?", path.name, re.ASCII)
    return f"{match.group(1)}-{int(match.group(2) or 0):06d}" if match else path.name


def rotated_files(path: str | os.PathLike[str]) -> list[Path]:
    """The rotated files of ``path``, oldest first (by the time and counter in their names).

    Only names of the exact rotation pattern count, so ``app.log.old`` or ``app.logger`` are never
    touched by retention.
    """
    p = Path(path)
    pattern = _rotated_pattern(p)
    found = []
    try:
        names = os.listdir(p.parent)
    except FileNotFoundError:
        return []
    for name in names:
        m = pattern.match(name)
        if m:
            found.append(((m.group(1), int(m.group(2) or 0)), p.parent / name))
    return [f for _, f in sorted(found)]


def _compressor(kind: Compression) -> Callable[[Path, Path], None] | None:
    if kind == "gzip":

        def gz(src: Path, dst: Path) -> None:
            with src.open("rb") as fin, gzip.open(dst, "wb") as fout:
                shutil.copyfileobj(fin, fout, 1 << 20)

        return gz
    if kind == "zstd":
        try:
            import zstandard
        except ImportError:
            raise ValueError(
                'compress = "zstd" needs the zstandard package (pip install zstandard, or the '
                "llmlog zstd recorder plugin)"
            ) from None

        def zst(src: Path, dst: Path) -> None:
            with src.open("rb") as fin, dst.open("wb") as fout:
                zstandard.ZstdCompressor(level=3, threads=-1).copy_stream(fin, fout)

        return zst
    return None


_LIVE_SINKS: weakref.WeakSet[FileSink] = weakref.WeakSet()


class FileSink:
    """Appends lines (``bytes`` without the newline) to one file; see the module docstring.

    :param path: the file; missing directories are created (mode 0o700).
    :param mode: permission bits for files llmlog creates (the log, rotated and compressed files).
    :param buffer_size: bytes to buffer before writing; 0 writes every line at once.
    :param flush_interval: in buffered mode, the longest a line waits before it is written.
    :param fsync: ``"never"``, ``"flush"`` or ``"always"``.
    :param rotation: when to rotate and what to keep.
    :param header: called for the first line of every file the sink starts after the first one
        (after a rotation, or when the file had vanished); return ``None`` for no header. Trace
        formats use it to repeat their session line, so every file can be read on its own.
    :param name: how messages name this sink (the output's name).
    :raises OSError: with the path in the message, when the file cannot be opened.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        mode: int = 0o600,
        buffer_size: int = 0,
        flush_interval: float = 1.0,
        fsync: Literal["never", "flush", "always"] = "never",
        rotation: RotationPolicy | None = None,
        header: Callable[[], bytes | None] | None = None,
        name: str = "",
    ) -> None:
        self.path = Path(path)
        self.name = name or str(self.path)
        self._mode = mode
        self._flush_interval = flush_interval
        self._fsync_always = fsync == "always"
        self._fsync_on_flush = fsync in ("flush", "always")
        self._rotation = rotation or RotationPolicy()
        if buffer_size and self._rotation.max_bytes:
            # A buffer is written whole into one file: keep it well under the rotation size, or
            # files would grow past max_bytes by up to a buffer.
            buffer_size = min(buffer_size, max(1, self._rotation.max_bytes // 4))
        self._buffer_size = buffer_size
        self._compress = _compressor(self._rotation.compress)
        self._header = header
        self._lock = threading.Lock()
        self._buffer = bytearray()
        self._fd = -1
        # A replaced descriptor is closed only at the next replacement: a thread that read the old
        # number just before the swap still writes to the (rotated) file it meant, never to
        # whatever file might reuse a freshly closed number.
        self._retired_fd = -1
        self._max_bytes = self._rotation_max = 0
        self._fast = False
        self._ino = 0
        self._size = 0
        self._period = ""
        self._next_check = 0.0
        self._check_bytes = max(self._rotation.max_bytes // 16, 4096)
        self._since_check = 0
        self._closed = False
        self._failing = False
        self._torn = False
        self._compress_queue: queue.SimpleQueue[Path | None] = queue.SimpleQueue()
        self._compressor: threading.Thread | None = None
        self._flusher: threading.Thread | None = None
        self._wake = threading.Event()
        #: Counters, also shown by ``llmlog.stats()``.
        self.counters = {"write_errors": 0, "lines_to_stderr": 0, "rotations": 0, "reopens": 0}
        self._lock_path = self.path.with_name(self.path.name + ".lock")
        self._max_bytes = self._rotation.max_bytes
        self._open(initial=True)
        self._update_fast()
        _LIVE_SINKS.add(self)

    # -- opening ---------------------------------------------------------------------------------

    def _open(self, initial: bool = False) -> None:
        directory = self.path.parent
        try:
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise OSError(
                exc.errno, f"cannot create directory {directory}: {exc.strerror}"
            ) from None
        if self.path.is_dir():
            raise IsADirectoryError(errno.EISDIR, f"{self.path} is a directory, not a file")
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
        created = False
        try:
            try:
                fd = os.open(self.path, flags | os.O_EXCL, self._mode)
                created = True
            except FileExistsError:
                fd = os.open(self.path, flags, self._mode)
        except OSError as exc:
            raise OSError(
                exc.errno, f"cannot open {self.path} for appending: {exc.strerror}"
            ) from None
        if created:
            # umask could only remove bits; set exactly what was asked for.
            with contextlib.suppress(OSError):
                os.fchmod(fd, self._mode)
        st = os.fstat(fd)
        old, self._fd = self._fd, fd
        if self._retired_fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._retired_fd)
        self._retired_fd = old
        self._ino, self._size = st.st_ino, st.st_size
        self._period = _period(self._rotation.when, st.st_mtime if st.st_size else time.time())
        self._next_check = _monotonic() + _CHECK_SECONDS
        self._since_check = 0
        if created and not initial and self._header is not None:
            line = self._header()
            if line is not None:
                self._raw_write(line + b"\n")

    # -- writing ---------------------------------------------------------------------------------

    def _update_fast(self) -> None:
        # The lock-free path: unbuffered, healthy, open, no fsync per write. O_APPEND makes each
        # single write() of whole lines atomic with respect to other writers, threads or processes.
        self._fast = not (self._buffer_size or self._closed or self._failing or self._fsync_always)

    def write(self, line: bytes, *, urgent: bool = False) -> None:
        """Append one line (without its newline). ``urgent`` flushes a buffer at once (ERROR+)."""
        data = line + b"\n"
        if self._fast:
            n = len(data)
            self._since_check += n  # approximate under threads; only decides when to look
            max_bytes = self._max_bytes
            if (
                self._since_check < self._check_bytes
                and _monotonic() < self._next_check
                and not (max_bytes and self._size + n > max_bytes)
            ):
                try:
                    written = _os_write(self._fd, data)
                except OSError:
                    pass  # nothing was written; the locked path retries and reports
                else:
                    self._size += written
                    if written == n:
                        return
                    data = data[written:]  # a short write: finish it under the lock
                    self._torn = True
        with self._lock:
            if self._closed:
                self._to_stderr(data)
                return
            if self._buffer_size:
                self._buffer += data
                if urgent or len(self._buffer) >= self._buffer_size:
                    self._drain()
                elif self._flusher is None:
                    self._start_flusher()
            else:
                self._write_out(data)

    def _write_out(self, data: bytes) -> None:
        """Write with the lock held, checking for rotation or a vanished file first when due."""
        max_bytes = self._max_bytes
        if (
            (max_bytes and self._size > 0 and self._size + len(data) > max_bytes)
            or self._since_check >= self._check_bytes
            or _monotonic() >= self._next_check
        ):
            self._check(len(data))
        self._raw_write(data)

    def _raw_write(self, data: bytes) -> None:
        try:
            if self._torn:
                # The last write broke off mid-line: end that fragment so the next line stays whole.
                os.write(self._fd, b"\n")
                self._torn = False
            view = memoryview(data)
            while view:
                n = os.write(self._fd, view)
                self._size += n
                view = view[n:]
                if view:
                    self._torn = True
            self._torn = False
            if self._fsync_always:
                os.fsync(self._fd)
            if self._failing:
                self._failing = False
                self._update_fast()
                report_problem(f"file output {self.name!r}: writing to {self.path} works again")
        except OSError as exc:
            self.counters["write_errors"] += 1
            if not self._failing:
                self._failing = True
                self._fast = False
                report_problem(
                    f"file output {self.name!r}: cannot write to {self.path}: {exc.strerror or exc}; "
                    "entries go to stderr until it recovers (counted in llmlog.stats())"
                )
            self._to_stderr(data)

    def _to_stderr(self, data: bytes) -> None:
        self.counters["lines_to_stderr"] += data.count(b"\n")
        try:
            stream = sys.stderr
            if stream is not None:
                stream.write(data.decode("utf-8", "backslashreplace"))
        except Exception:
            pass

    def _drain(self) -> bool:
        """Write the buffer out (lock held); fsync under the ``flush`` policy. Returns whether it
        synced."""
        if not self._buffer:
            return False
        data = bytes(self._buffer)
        self._buffer.clear()
        self._write_out(data)
        return self._sync()

    def _sync(self) -> bool:
        if self._fsync_on_flush and not self._failing:
            with contextlib.suppress(OSError):
                os.fsync(self._fd)
            return True
        return False

    def _flush_locked(self) -> None:
        if not self._drain():
            self._sync()

    # -- checks and rotation ---------------------------------------------------------------------

    def _check(self, incoming: int) -> None:
        """Reopen if the file was moved or deleted; rotate if it is due. Called with the lock held."""
        self._since_check = 0
        self._next_check = _monotonic() + _CHECK_SECONDS
        try:
            current = os.stat(self.path)
        except FileNotFoundError:
            current = None
        except OSError:
            return
        if current is None or current.st_ino != self._ino:
            # Rotated by another process, or removed by someone: follow the path.
            self._reopen_quietly(moved=current is not None)
            return
        self._size = current.st_size
        if self._due(incoming):
            self._rotate(incoming)

    def _due(self, incoming: int) -> bool:
        rotation = self._rotation
        if rotation.max_bytes and self._size > 0 and self._size + incoming > rotation.max_bytes:
            return True
        return rotation.when != "never" and _period(rotation.when, time.time()) != self._period

    def _reopen_quietly(self, moved: bool) -> None:
        try:
            self._open()
            self.counters["reopens"] += 1
            if not moved:
                report_problem(
                    f"file output {self.name!r}: {self.path} disappeared; created it again"
                )
        except OSError as exc:
            self._raw_write_failed(exc)

    def _raw_write_failed(self, exc: OSError) -> None:
        self.counters["write_errors"] += 1
        if not self._failing:
            self._failing = True
            self._fast = False
            report_problem(
                f"file output {self.name!r}: {exc}; entries go to stderr until it recovers"
            )

    @contextlib.contextmanager
    def _rotation_lock(self) -> Iterator[None]:
        """Hold the inter-process ``flock`` on ``<file>.lock``.

        flock conflicts between two descriptors even within one process, so code that already
        holds it calls the unlocked helpers directly.
        """
        lock_fd = os.open(
            self._lock_path, os.O_WRONLY | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), self._mode
        )
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX)
            yield
        finally:
            with contextlib.suppress(OSError):
                fcntl.flock(lock_fd, fcntl.LOCK_UN)
            os.close(lock_fd)

    def _rotate(self, incoming: int) -> None:
        try:
            with self._rotation_lock():
                # Another process may have rotated while we waited: look again under the lock.
                try:
                    current = os.stat(self.path)
                except FileNotFoundError:
                    current = None
                if current is not None and current.st_ino == self._ino:
                    self._size = current.st_size
                    if self._due(incoming):
                        target = self._rotated_name()
                        os.rename(self.path, target)
                        self.counters["rotations"] += 1
                        self._open()
                        self._after_rotation(target)
                        return
                if current is None or current.st_ino != self._ino:
                    self._open()
                    self.counters["reopens"] += 1
        except OSError as exc:
            self._raw_write_failed(exc)

    def _rotated_name(self) -> Path:
        stem, suffix = _split_name(self.path)
        now = time.time()
        stamp = (
            time.strftime("%Y-%m-%dT%H-%M-%S", time.localtime(now))
            + f".{int(now * 1e6) % 1_000_000:06d}"
        )
        for counter in range(10_000):
            tail = f"-{counter}" if counter else ""
            candidate = self.path.with_name(f"{stem}.{stamp}{tail}{suffix}")
            if not any(
                candidate.with_name(candidate.name + s).exists() for s in ("", ".gz", ".zst")
            ):
                return candidate
        raise FileExistsError(errno.EEXIST, f"no free rotation name for {self.path}")

    def _after_rotation(self, rotated: Path) -> None:
        # Called by _rotate with the rotation lock held.
        if self._compress is None:
            self._prune()
            return
        # One worker per sink, in rotation order: retention never runs while another thread is
        # halfway through renaming a compressed file.
        self._compress_queue.put(rotated)
        if self._compressor is None or not self._compressor.is_alive():
            self._compressor = threading.Thread(
                target=self._compress_loop, name=f"llmlog-compress-{self.name}", daemon=True
            )
            self._compressor.start()

    def _compress_loop(self) -> None:
        while True:
            rotated = self._compress_queue.get()
            if rotated is None:
                return
            self._compress_one(rotated)
            self._apply_retention()

    def _compress_one(self, rotated: Path) -> None:
        assert self._compress is not None
        target = rotated.with_name(rotated.name + _SUFFIX[self._rotation.compress])
        temporary = target.with_name(target.name + ".tmp")
        try:
            self._compress(rotated, temporary)
            os.chmod(temporary, self._mode)
            os.replace(temporary, target)
            os.unlink(rotated)
        except Exception as exc:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            report_problem(
                f"file output {self.name!r}: compressing {rotated} failed: {exc}; kept it uncompressed"
            )

    def _apply_retention(self) -> None:
        """Prune old rotated files under the rotation lock (for the compression worker), so
        processes sharing the file do not prune at the same time."""
        if self._rotation.max_files <= 0:
            return
        try:
            with self._rotation_lock():
                self._prune()
        except OSError:
            pass

    def _prune(self) -> None:
        """Delete all but the newest ``max_files`` rotated files; the rotation lock must be held."""
        keep = self._rotation.max_files
        if keep <= 0:
            return
        # A rotation mid-compression exists twice (app.X.log and app.X.log.gz): one entry.
        groups: dict[str, list[Path]] = {}
        for path in rotated_files(self.path):
            groups.setdefault(_rotation_key(path), []).append(path)
        for key in sorted(groups)[: max(0, len(groups) - keep)]:
            for old in groups[key]:
                with contextlib.suppress(FileNotFoundError):
                    old.unlink()

    # -- flushing and closing --------------------------------------------------------------------

    def _start_flusher(self) -> None:
        self._flusher = threading.Thread(
            target=self._flush_loop, name=f"llmlog-flush-{self.name}", daemon=True
        )
        self._flusher.start()

    def _flush_loop(self) -> None:
        while True:
            self._wake.wait(self._flush_interval)
            self._wake.clear()
            with self._lock:
                if self._closed:
                    return
                self._drain()

    def flush(self) -> None:
        """Write the buffer out (and fsync if the policy says so)."""
        with self._lock:
            if not self._closed:
                self._flush_locked()

    def close(self) -> None:
        """Flush, stop the background threads and close the file. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._flush_locked()
            self._closed = True
            self._fast = False
            for fd in (self._fd, self._retired_fd):
                if fd >= 0:
                    with contextlib.suppress(OSError):
                        os.close(fd)
        self._wake.set()
        if self._compressor is not None:
            self._compress_queue.put(None)
            self._compressor.join(timeout=60)

    def stats(self) -> dict[str, Any]:
        """The counters: lines, write errors, lines sent to stderr, rotations, reopens."""
        return dict(self.counters)

    def _after_fork_in_child(self) -> None:
        # The parent flushed before forking; a fresh lock and no flusher thread in the child.
        self._lock = threading.Lock()
        self._buffer = bytearray()
        self._flusher = None
        self._wake = threading.Event()
        self._compress_queue = queue.SimpleQueue()
        self._compressor = None


def flush_all() -> None:
    """Write out the buffer of every open file sink (log files and trace files alike).

    Runs at interpreter exit, on a FATAL entry and before a flight-recorder snapshot, so nothing
    buffered is lost silently; a sink that fails to flush reports it itself."""
    for sink in list(_LIVE_SINKS):
        with contextlib.suppress(Exception):
            sink.flush()


atexit.register(flush_all)


def _before_fork() -> None:
    for sink in list(_LIVE_SINKS):
        with contextlib.suppress(Exception):
            sink.flush()


def _after_fork_in_child() -> None:
    for sink in list(_LIVE_SINKS):
        sink._after_fork_in_child()


os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)


def timestamped_name(prefix: str, suffix: str = ".jsonl", now: float | None = None) -> str:
    """``{prefix}_YYYY-MM-DD_HH-MM-SS_<8 hex>{suffix}``: a new file's name in a directory, in local
    time (the rlm writers' pattern), sorting by time, with a random suffix so that two files of
    the same second never collide."""
    stamp = time.strftime("%Y-%m-%d_%H-%M-%S", time.localtime(now))
    return f"{prefix}_{stamp}_{os.urandom(4).hex()}{suffix}"


def config_relative(raw: str, config_path: Path | None, default: Path) -> Path:
    """A path from configuration: ``default`` when empty, ``~`` expanded, and a relative path
    taken from the configuration file's directory (so a config works from any working
    directory)."""
    if not raw:
        return default
    path = Path(raw).expanduser()
    if not path.is_absolute() and config_path is not None:
        path = config_path.parent / path
    return path


def file_in(path: str | os.PathLike[str], prefix: str) -> Path:
    """``path`` itself, or a :func:`timestamped_name` inside it when it is a directory (or ends in
    a separator)."""
    target = Path(path)
    if target.is_dir() or str(path).endswith(os.sep):
        return target / timestamped_name(prefix)
    return target


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
