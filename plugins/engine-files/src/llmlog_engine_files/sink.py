"""Durable, rotating, multi-process-safe line files: :class:`FileSink`, the machinery behind the
``file`` output and the trace files (:class:`~llmlog_engine_files.trace.TraceOutput`).

Durability
----------
* **Unbuffered (default)**: every line is handed to the operating system with one ``write()``
  before the logging call returns. If the process is killed, nothing already logged is lost (a
  machine crash can still lose what the OS had not written to disk; see ``fsync``).
* **Buffered** (``buffer_size > 0``): lines collect in memory and are written when the buffer is
  full, at the latest ``flush_interval`` seconds after they were logged, at once for an entry of
  ERROR or above, at exit, on FATAL and on ``close()``. A kill between those points loses at most
  the buffer. From interpreter exit on, every line is written at once (no thread can be started
  then), so entries logged by exit handlers and ``__del__`` methods reach the file too.
* **fsync**: ``"never"`` (default; the OS writes back on its own), ``"flush"`` (after every buffer
  write, explicit flush and close), ``"always"`` (after every write).

Concurrency
-----------
The file is opened with ``O_APPEND`` and every write is one ``write()`` of whole lines, so lines
from threads and processes never interleave. The sink keeps one descriptor *number* for its whole
life: opening another file (after a rotation, or when the file vanished) ``dup2``-s the new file
onto it, so a thread that read the number an instant before writes to the old file or the new
one, never to an unrelated file that reused a closed number.

Every writer holds a shared ``flock`` on the file it appends to. Rotation is coordinated between
processes with an exclusive ``flock`` on ``<file>.lock``: the process that finds the file over its
limit renames it and creates the next one while holding that lock; the others notice the new file
(its inode changed) at their next check, at least every second and every 1/16 of ``max_bytes``
written (64 KiB without a size limit), and until then append, whole lines still, to the just-rotated file. A rotated file is
compressed or deleted only by whoever gets an exclusive ``flock`` on it, which no one gets while a
writer still appends to it, in any process: so no line is ever written into a file being
compressed or deleted. Compression and retention are one ordered pass
(:class:`~llmlog_engine_files.maintenance.Maintenance`) that any process may run; a killed process
leaves the plain file or the complete compressed one, and the next pass finishes its work.

Faults
------
A directory that cannot be created, a path that is a directory, or a permission problem raises
:class:`OSError` naming the path when the sink is created. At run time a failing write (disk full,
I/O error) is reported once on stderr and counted; the lines that could not be written go whole to
stderr, a fragment left in the file is ended before the next line, every later write tries the
file again, and the first success is reported as a recovery. A file deleted by someone else is
created again at the next check, and the lines written to the deleted file since the check before
are copied into the new one (under the rotation lock, once across processes), so none is lost.
A line torn by a killed writer is ended before the next line is written.

Re-entrancy
-----------
A signal handler that logs runs in the middle of whatever the main thread was doing, possibly
inside this sink's lock. Such a nested call never waits for the lock it interrupted: its line is
queued and written, in order, before the interrupted call releases the lock.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import fcntl
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from llmlog.ext import EntryCode, create_new, make_private_dirs, report_problem
from llmlog_engine_files import locks, process
from llmlog_engine_files.locks import CLOEXEC, rotation_lock
from llmlog_engine_files.maintenance import Maintenance
from llmlog_engine_files.naming import rotated_files, rotated_name
from llmlog_engine_files.rotation import RotationPolicy

__all__ = ["FileSink"]

_monotonic = time.monotonic
_time_ns = time.time_ns
_os_write = os.write
#: Whether the GIL runs: appending to the buffer without the lock relies on one ``bytearray``
#: append being one step under it. A free-threaded build without it appends under the lock.
_GIL: bool = getattr(sys, "_is_gil_enabled", lambda: True)()
# A clock read a check window accepts: a check is due when the entry's time leaves
# (check time - _BACK_NS, check time + CHECK_SECONDS); a clock set back by more than _BACK_NS
# makes it due at once instead of postponing it.
_BACK_NS = 5_000_000_000
#: The byte budget when nothing limits it (no rotation size): checks every _check_bytes anyway.
_NO_LIMIT = 1 << 62
_get_ident = threading.get_ident


class FileSink:
    """Appends lines (``bytes`` without the newline) to one file; see the module docstring.

    :param path: the file; missing directories are created (mode 0o700).
    :param mode: permission bits for files llmlog creates (the log, rotated and compressed files,
        temporaries, the lock file).
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
        self._header = header
        self._lock = threading.Lock()
        # Threads inside the locked section, and lines of calls nested in one of them (a signal
        # handler that logs, on the main thread): written before that thread releases the lock.
        self._inside: set[int] = set()
        self._pending: collections.deque[bytes] = collections.deque()
        self._buffer = bytearray()
        self._fd = -1  # one number for the sink's life: see the module docstring
        self._readable = True
        self._ino = self._dev = 0
        self._size = 0
        self._linked_size = 0  # the file's size when last seen at its path
        self._period = ""
        # When to look at the path again (rotation by another process, a deleted file, a new
        # clock period): when an entry's wall-clock time leaves (_check_lo, _check_hi), and
        # when _budget runs out. The budget is the bytes left before the next look by size
        # (every 1/16 of max_bytes, at least 4 KiB; every 64 KiB without a size limit, where only
        # a vanished file or another process's rotation is looked for, and the clock bounds
        # the wait to a second anyway) and before max_bytes: one counter the fast path
        # decrements, instead of a clock read and two size tests per line. (A look costs some
        # 60,000 instructions: every 4 KiB, a sixth of a short entry's cost.)
        self._check_lo = self._check_hi = 0
        self._max_bytes = self._rotation.max_bytes
        self._check_bytes = max(self._max_bytes // 16, 4096) if self._max_bytes else 1 << 16
        self._budget = 0
        # Buffered mode: whether lines may be appended to the buffer without the lock (see
        # entry_writer); off until the flusher thread runs, and off once closing or exiting.
        self._appending = False
        self._closed = False
        self._failing = False
        self._torn = False
        self._fast = False
        # _check_hi while _fast, else 0: the entry code's one test of both (entry_write_code).
        self._fast_hi = 0
        self._reported: set[str] = set()
        self._flusher: threading.Thread | None = None
        self._wake = threading.Event()
        #: Counters, also shown by ``llmlog.stats()``.
        self.counters = {
            "write_errors": 0,
            "lines_to_stderr": 0,
            "rotations": 0,
            "reopens": 0,
            "recreated": 0,
            "lines_recovered": 0,
        }
        self._lock_path = self.path.with_name(self.path.name + ".lock")
        self.maintenance = Maintenance(self.path, self._rotation, mode, self._lock_path, self.name)
        self._open(initial=True)
        process.track(self)
        if self.maintenance.needed:
            self.maintenance.request()  # finish what a killed process left

    # -- opening ---------------------------------------------------------------------------------

    def _open_current(self) -> tuple[int, os.stat_result, bool]:
        """Open the file at ``path`` for appending, holding a shared lock on it: its descriptor,
        status and whether it was created."""
        try:
            make_private_dirs(self.path.parent)
        except OSError as exc:
            raise OSError(exc.errno, str(exc.strerror or exc)) from None
        if self.path.is_dir():
            raise IsADirectoryError(errno.EISDIR, f"{self.path} is a directory, not a file")
        access = os.O_RDWR if self._readable else os.O_WRONLY
        for _ in range(100):
            created = False
            try:
                try:
                    fd = create_new(self.path, self._mode, access | os.O_APPEND)
                    created = True
                except FileExistsError:
                    # An existing file, or a symlink (followed, and its target created if it
                    # has none yet, as the user who made the link meant).
                    fd = os.open(self.path, access | os.O_APPEND | os.O_CREAT | CLOEXEC, self._mode)
            except PermissionError:
                if access == os.O_WRONLY:
                    raise OSError(
                        errno.EACCES, f"cannot open {self.path} for appending: Permission denied"
                    ) from None
                access, self._readable = os.O_WRONLY, False  # a write-only file: no read-back
                continue
            except OSError as exc:
                raise OSError(
                    exc.errno, f"cannot open {self.path} for appending: {exc.strerror}"
                ) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)  # being compressed or deleted: it was rotated away meanwhile
                time.sleep(0.001)
                continue
            st = os.fstat(fd)
            try:
                at_path = os.stat(self.path)
            except FileNotFoundError:
                at_path = None
            if at_path is None or (at_path.st_ino, at_path.st_dev) != (st.st_ino, st.st_dev):
                os.close(fd)  # rotated away between the open and the lock: open the new one
                continue
            return fd, st, created
        raise OSError(errno.EAGAIN, f"cannot open {self.path}: it keeps being rotated away")

    def _open(self, initial: bool = False, recover_from: int = -1) -> None:
        # recover_from >= 0: the file was deleted; copy what was written to it since last seen.
        fd, st, created = self._open_current()
        if recover_from >= 0:
            self._recover_deleted(fd, st)
            st = os.fstat(fd)
        if self._fd < 0:
            self._fd = fd
        else:
            # Atomically: a write racing with this lands in the old file or the new one.
            os.dup2(fd, self._fd, inheritable=False)
            os.close(fd)
        self._ino, self._dev = st.st_ino, st.st_dev
        self._size = self._linked_size = st.st_size
        self._period = self._rotation.period(st.st_mtime if st.st_size else time.time())
        self._checked()
        if initial or recover_from >= 0:
            # Where a killed writer may have left half a line (files just made by a rotation,
            # ours or another process's, start empty and whole).
            self._note_torn_tail(st.st_size)
        self._update_fast()
        if created and not initial and self._header is not None:
            line = self._header()
            if line is not None:
                self._raw_write(line + b"\n")

    def _note_torn_tail(self, size: int) -> None:
        # A writer killed mid-write (or one that met a full disk) can leave a line without its
        # newline: end it before our first line, so that line stays whole. Another process's
        # long write under way looks the same for an instant (the size grows page by page), so
        # the tail must stay the same a little while to count as torn.
        if not size or not self._readable or self._torn:
            return
        try:
            for _ in range(3):
                if os.pread(self._fd, 1, size - 1) == b"\n":
                    return
                time.sleep(0.005)
                now = os.fstat(self._fd).st_size
                if now != size:
                    size = now  # someone is writing: look at the new end
            self._torn = os.pread(self._fd, 1, size - 1) != b"\n"
        except OSError:
            pass

    def _recover_deleted(self, new_fd: int, new: os.stat_result) -> None:
        """Copy into the new file the lines written to the deleted one since it was last seen
        at its path (the rotation lock is held). Processes sharing the file record in the lock
        file how far the deleted file was copied, so each line is copied once."""
        if not self._readable:
            return
        with contextlib.suppress(OSError):
            mine = os.fstat(self._fd)
            position = max(self._linked_size, self._recorded_copy(mine.st_ino, new.st_ino))
            while position < mine.st_size:
                chunk = os.pread(self._fd, min(1 << 20, mine.st_size - position), position)
                if not chunk:
                    break
                _write_all(new_fd, chunk)
                position += len(chunk)
                self.counters["lines_recovered"] += chunk.count(b"\n")
            self._record_copy(mine.st_ino, new.st_ino, position)

    def _recorded_copy(self, old_ino: int, new_ino: int) -> int:
        with contextlib.suppress(OSError, ValueError):
            text = self._lock_path.read_bytes().decode("ascii").split()
            if len(text) == 3 and int(text[0]) == old_ino and int(text[1]) == new_ino:
                return int(text[2])
        return 0

    def _record_copy(self, old_ino: int, new_ino: int, offset: int) -> None:
        with contextlib.suppress(OSError):
            fd = os.open(self._lock_path, os.O_WRONLY | CLOEXEC)
            try:
                record = f"{old_ino} {new_ino} {offset}\n".encode()
                os.pwrite(fd, record, 0)
                os.ftruncate(fd, len(record))
            finally:
                os.close(fd)

    # -- writing ---------------------------------------------------------------------------------

    def _checked(self) -> None:
        """Start a new check window and byte budget (the path was just looked at)."""
        now = _time_ns()
        self._check_lo = now - _BACK_NS
        self._check_hi = now + int(locks.CHECK_SECONDS * 1e9)
        self._fast_hi = self._check_hi if self._fast else 0
        self._reset_budget()

    def _reset_budget(self) -> None:
        # A line of n bytes takes the fast path while budget - n > 0: then it is under the
        # bytes left before the next look by size, and the file stays within max_bytes.
        room = self._max_bytes - self._size + 1 if self._max_bytes else _NO_LIMIT
        self._budget = min(self._check_bytes, room)

    def _update_fast(self) -> None:
        # The lock-free path: unbuffered, healthy, open, no fsync per write, no torn fragment to
        # end first. O_APPEND makes each single write() of whole lines atomic with respect to
        # other writers, threads or processes.
        self._fast = not (
            self._buffer_size or self._closed or self._failing or self._fsync_always or self._torn
        )
        self._fast_hi = self._check_hi if self._fast else 0

    def write(self, line: bytes, *, urgent: bool = False) -> None:
        """Append one line (without its newline). ``urgent`` flushes a buffer at once (ERROR+).
        See :meth:`write_line`."""
        self.write_line(line + b"\n", urgent)

    def write_line(self, data: bytes, urgent: bool = False) -> None:
        """Append ``data``: one or more whole lines, each *with* its newline (what an encoder
        that appends the newline itself gives, as ``orjson.OPT_APPEND_NEWLINE``), one call
        less than :meth:`write`. ``urgent`` flushes a buffer at once.

        Buffered, the line is appended to the buffer without the lock, as
        :meth:`entry_writer`'s function does (appending to a ``bytearray`` is one step under the
        GIL, and :meth:`_drain` removes only what it copied); the lock is taken only to write
        the buffer out (full, urgent) or when appending is off (before the flusher runs, while
        closing, from exit on: then the locked path writes the line, to the file or, once
        closed, to stderr, never losing it)."""
        if self._appending:
            buffer = self._buffer
            buffer += data
            # Checked again after the append: close() and exit turn appending off before their
            # last drain, so a line appended after that drain is seen here and written below.
            if not urgent and len(buffer) < self._buffer_size and self._appending:
                return
            self._locked(b"", urgent, 0)
            return
        if self._fast:
            n = len(data)
            # Approximate under threads (as _size is): it only decides when to look.
            budget = self._budget = self._budget - n
            if budget > 0 and self._check_lo < _time_ns() < self._check_hi:
                try:
                    written = _os_write(self._fd, data)
                except OSError:
                    written = 0  # nothing was written; the locked path retries and reports
                self._size += written
                if written == n:
                    return
                if written:
                    # A short write: the locked path finishes it, or sends the line to stderr
                    # and ends the fragment.
                    self._locked(data, urgent, written)
                    return
        self._locked(data, urgent, 0)

    def entry_writer(self, line_of: Callable[..., bytes], urgent_at: int) -> Callable[..., None]:
        """A function that takes a log entry as its parts (positionally, in
        :class:`~llmlog.LogEntry` field order: ``time, severity, ..., exception``), makes its
        line with ``line_of`` (the same parts; bytes *with* the newline) and writes it: what
        :meth:`write` does with one call layer less, for an output's
        :attr:`~llmlog.Output.write_parts`. An entry whose severity is ``urgent_at`` or above
        is urgent (a buffer is written at once).

        Unbuffered, the fast path is :meth:`write`'s with the entry's own time as the clock
        (no clock read of its own). Buffered, a line is appended to the buffer without the
        lock (appending to a ``bytearray`` is one step under the GIL, and :meth:`_drain` removes
        only what it copied), and the lock is taken only to write the buffer out; a line
        appended while :meth:`close` or exit turned appending off is written by the locked
        path (to the file, or to stderr once closed), never lost.
        """
        sink = self
        os_write = _os_write
        if self._buffer_size:
            size = self._buffer_size

            def write_buffered(
                time: int,
                severity: int,
                message: str,
                file: str,
                line: int,
                function: str,
                trace_id: str | None,
                span_id: str | None,
                model_id: str | None,
                token_info: Any,
                latency_ms: float | None,
                cost: float | None,
                fields: Any,
                logger: str,
                exception: str | None,
            ) -> None:
                data = line_of(
                    time, severity, message, file, line, function, trace_id, span_id,
                    model_id, token_info, latency_ms, cost, fields, logger, exception,
                )  # fmt: skip
                if sink._appending:
                    buffer = sink._buffer
                    buffer += data
                    if severity < urgent_at and len(buffer) < size and sink._appending:
                        return
                    data = b""  # in the buffer: the locked path writes it out
                sink._locked(data, severity >= urgent_at, 0)

            return write_buffered

        def write_direct(
            time: int,
            severity: int,
            message: str,
            file: str,
            line: int,
            function: str,
            trace_id: str | None,
            span_id: str | None,
            model_id: str | None,
            token_info: Any,
            latency_ms: float | None,
            cost: float | None,
            fields: Any,
            logger: str,
            exception: str | None,
        ) -> None:
            data = line_of(
                time, severity, message, file, line, function, trace_id, span_id,
                model_id, token_info, latency_ms, cost, fields, logger, exception,
            )  # fmt: skip
            if sink._fast:
                n = len(data)
                budget = sink._budget = sink._budget - n
                # The entry's time is the clock; an entry stamped outside the window (one
                # replayed with its own old time by log_record) asks the clock itself.
                if budget > 0 and (
                    sink._check_lo < time < sink._check_hi
                    or sink._check_lo < _time_ns() < sink._check_hi
                ):
                    try:
                        written = os_write(sink._fd, data)
                    except OSError:
                        written = 0  # nothing was written; the locked path retries and reports
                    if written == n:
                        # _size is not kept here: the budget guards max_bytes, and every look
                        # at the path (when the budget runs out) reads the size from the file.
                        return
                    sink._size += written
                    if written:
                        sink._locked(data, False, written)
                        return
            sink._locked(data, severity >= urgent_at, 0)

        return write_direct

    def entry_write_code(self, urgent: bool) -> EntryCode:
        """The ``write`` part of an output's :class:`~llmlog.ext.EntryCode`: the line in the
        local ``data`` (with its newline) written as :meth:`entry_writer`'s function writes it,
        ``ns`` (the entry's time, read just now) as the clock; ``urgent`` for ERROR and above.
        Its names start with ``s_``."""
        if self._buffer_size:
            # Appended without the lock, as entry_writer's function appends (the buffer is one
            # object for the sink's life); then the lock is taken when the buffer is full, for
            # an urgent line (ERROR and up, written out at once), or when lines may not stay in
            # the buffer unlocked (no flusher yet, closing, exiting): _write_locked takes them
            # from there, in order, as it takes lines appended while the sink closed.
            due = "True" if urgent else "len(s_buffer) >= s_size or not s_sink._appending"
            write = f"""
            s_extend(data)
            if {due}:
                s_sink._locked(b"", {urgent!r}, 0)
            """
            if not _GIL:  # pragma: no cover - a free-threaded build: under the lock
                write = f"s_sink._locked(data, {urgent!r}, 0)"
        else:
            # _fast_hi is 0 unless _fast: one test for both, the entry's time (read just now)
            # as the clock. The budget is spent either way (the locked path looks when it is).
            write = f"""
            s_n = len(data)
            s_budget = s_sink._budget = s_sink._budget - s_n
            if s_budget > 0 and s_sink._check_lo < ns < s_sink._fast_hi:
                try:
                    s_written = s_os_write(s_sink._fd, data)
                except OSError:
                    s_written = 0
                if s_written != s_n:
                    if s_written:
                        s_sink._size += s_written
                        s_sink._locked(data, False, s_written)
                    else:
                        s_sink._locked(data, {urgent!r}, 0)
            else:
                s_sink._locked(data, {urgent!r}, 0)
            """
        return EntryCode(
            write=write,
            namespace={
                "s_sink": self,
                "s_size": self._buffer_size,
                "s_os_write": _os_write,
                "s_buffer": self._buffer,
                "s_extend": self._buffer.extend,
            },
        )

    def _locked(self, data: bytes, urgent: bool, done: int) -> None:
        me = _get_ident()
        if me in self._inside:
            # Re-entered on this thread (a signal handler that logs, interrupting this sink):
            # waiting for the lock would wait for ourselves. The interrupted call writes it.
            self._pending.append(data[done:] if done else data)
            return
        pending = self._pending
        while True:
            self._inside.add(me)
            try:
                with self._lock:
                    self._write_locked(data, urgent, done)
                    while pending:
                        self._write_locked(pending.popleft(), urgent, 0)
            finally:
                self._inside.discard(me)
            if not pending:
                return
            # Queued after our last look, before we left: write it too.
            data, done = pending.popleft(), 0

    def _write_locked(self, data: bytes, urgent: bool, done: int) -> None:
        if self._buffer and (self._closed or process.exiting):
            # Lines entry_writer appended as the sink closed or the interpreter began to exit,
            # after the last drain: written before this one, not left behind.
            data, done = bytes(self._buffer) + data[done:], 0
            self._buffer.clear()
        if self._closed:
            self._to_stderr(data)
            return
        if done:
            self._raw_write(data, done)
        elif self._buffer_size and not process.exiting:
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
            or self._budget <= 0
            or not self._check_lo < _time_ns() < self._check_hi
        ):
            self._check(len(data))
        self._raw_write(data)

    def _raw_write(self, data: bytes, done: int = 0) -> None:
        """Write ``data[done:]`` (whole lines once complete) with the lock held. On failure the
        lines not wholly written go to stderr, whole, and a fragment left in the file is ended
        before the next write."""
        position = done
        try:
            if self._torn and not done:
                _write_all(self._fd, b"\n")
                self._torn = False
            view = memoryview(data)[done:]
            while view:
                n = os.write(self._fd, view)
                self._size += n
                self._budget -= n
                position += n
                view = view[n:]
            if self._fsync_always:
                os.fsync(self._fd)
            if self._failing:
                self._failing = False
                report_problem(f"file output {self.name!r}: writing to {self.path} works again")
            self._update_fast()
        except OSError as exc:
            self.counters["write_errors"] += 1
            complete = data.rfind(b"\n", 0, position) + 1  # lines wholly in the file
            if position > complete:
                self._torn = True  # part of a line is in the file: end it before the next one
            if not self._failing:
                self._failing = True
                report_problem(
                    f"file output {self.name!r}: cannot write to {self.path}: {exc.strerror or exc}; "
                    "entries go to stderr until it recovers (counted in llmlog.stats())"
                )
            self._update_fast()
            self._to_stderr(data[complete:])

    def _to_stderr(self, data: bytes) -> None:
        self.counters["lines_to_stderr"] += data.count(b"\n")
        try:
            stream = sys.stderr
            if stream is not None:
                stream.write(data.decode("utf-8", "backslashreplace"))
                stream.flush()
        except Exception:
            pass

    def _drain(self) -> bool:
        """Write the buffer out (lock held); fsync under the ``flush`` policy. Returns whether it
        synced."""
        if not self._buffer:
            return False
        data = bytes(self._buffer)
        # Only what was copied: a line appended meanwhile without the lock (entry_writer) stays.
        del self._buffer[: len(data)]
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
        """Follow a rotation by another process or a vanished file; rotate if due. Called with
        the lock held."""
        self._checked()
        try:
            current, ours = self._at_path()
        except OSError:
            return
        if current is None or not ours:
            self._follow()
            return
        self._size = self._linked_size = current.st_size
        self._reset_budget()
        if self._due(incoming):
            self._rotate(incoming)

    def _at_path(self) -> tuple[os.stat_result | None, bool]:
        """The status of the file at ``path`` (``None``: no file there) and whether it is the
        one we write to.

        :raises OSError: when the path cannot be looked at (other than not existing)."""
        try:
            current = os.stat(self.path)
        except FileNotFoundError:
            return None, False
        return current, (current.st_ino, current.st_dev) == (self._ino, self._dev)

    def _due(self, incoming: int) -> bool:
        return self._rotation.due(self._size, incoming, self._period)

    def _follow(self) -> None:
        """The file at ``path`` is not ours any more: another process rotated it (normal), or
        someone deleted or moved it (reported once). Decided under the rotation lock, which a
        rotating process holds from its rename to its new file, so a rotation in progress is
        never mistaken for a deletion."""
        try:
            with rotation_lock(self._lock_path, self._mode):
                current, ours = self._at_path()
                if ours:
                    return  # back in place
                try:
                    deleted = os.fstat(self._fd).st_nlink == 0
                except OSError:
                    deleted = False
                if current is None and not deleted and self._renamed_by_a_rotation():
                    # A rotation renamed it and its process died before making the next file
                    # (killed between the two, holding the lock): finish its work, quietly.
                    self._open()
                elif current is None or deleted:
                    # Not a rotation (a rotation leaves a file at the path and ours renamed).
                    self._open(recover_from=1 if deleted else -1)
                    self.counters["recreated"] += 1
                    what = "was deleted" if deleted else "was moved away"
                    self._report_once(
                        what,
                        f"file output {self.name!r}: {self.path} {what}; created it again"
                        + (", with the entries written since it was last seen" if deleted else ""),
                    )
                else:
                    self._open()
                self.counters["reopens"] += 1
        except OSError as exc:
            self._open_failed(exc)

    def _renamed_by_a_rotation(self) -> bool:
        """Whether our file now stands under a rotated name of ours."""
        try:
            mine = os.fstat(self._fd)
            return any(
                (st.st_ino, st.st_dev) == (mine.st_ino, mine.st_dev)
                for st in (os.stat(p) for p in rotated_files(self.path))
            )
        except OSError:
            return False

    def _report_once(self, key: str, message: str) -> None:
        if key not in self._reported:
            self._reported.add(key)
            report_problem(message + " (reported once; counted in llmlog.stats())")

    def _open_failed(self, exc: OSError) -> None:
        self.counters["write_errors"] += 1
        if not self._failing:
            self._failing = True
            self._update_fast()
            report_problem(
                f"file output {self.name!r}: {exc}; entries go to stderr until it recovers"
            )

    def _rotate(self, incoming: int) -> None:
        try:
            with rotation_lock(self._lock_path, self._mode):
                # Another process may have rotated while we waited: look again under the lock.
                current, ours = self._at_path()
                if current is not None and ours:
                    self._size = current.st_size
                    self._reset_budget()
                    if self._due(incoming):
                        rotated = rotated_name(self.path)
                        os.rename(self.path, rotated)
                        self.counters["rotations"] += 1
                        self._open()
                        self.maintenance.request(rotated)
                        return
                if not ours:
                    self._open()
                    self.counters["reopens"] += 1
        except OSError as exc:
            self._open_failed(exc)

    # -- flushing and closing --------------------------------------------------------------------

    def _start_flusher(self) -> None:
        thread = threading.Thread(
            target=self._flush_loop, name=f"llmlog-flush-{self.name}", daemon=True
        )
        try:
            thread.start()
        except RuntimeError:  # the interpreter is shutting down: write now instead
            self._drain()
            return
        self._flusher = thread
        self._appending = _GIL and not (self._closed or process.exiting)

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
        self._with_lock(self._flush_locked)

    def _with_lock(self, action: Callable[[], None]) -> None:
        me = _get_ident()
        if me in self._inside:  # a signal handler flushing mid-write: the write flushes after
            return
        self._inside.add(me)
        try:
            with self._lock:
                if not self._closed:
                    action()
                while self._pending:
                    self._write_locked(self._pending.popleft(), False, 0)
        finally:
            self._inside.discard(me)

    def close(self, timeout: float = process.EXIT_TIMEOUT) -> None:
        """Flush, finish due compression and retention (waiting at most ``timeout`` seconds),
        stop the background threads and close the file. Idempotent."""
        self._appending = False  # before the last drain: see entry_writer
        with self._lock:
            if self._closed:
                return
            self._flush_locked()
            self._closed = True
            self._fast = False
            self._fast_hi = 0
            fd, self._fd = self._fd, -1
        # A thread that read the number just before the close may still write through it: park
        # the number a while rather than let a new file reuse it at once. Parking also lets go
        # of our file, which the last passes below may then compress if it was rotated.
        process.park(fd, self.path)
        self._wake.set()
        self.maintenance.finish(_monotonic() + timeout)

    def at_exit(self, deadline: float) -> None:
        """Interpreter exit: write the buffer out and write every later line at once (exit
        handlers and ``__del__`` methods still log), and finish due maintenance by
        ``deadline``. The file stays open; the operating system closes it."""
        self._appending = False
        self._with_lock(self._flush_and_follow)
        self._update_fast()
        self.maintenance.finish(deadline)

    def _flush_and_follow(self) -> None:
        # If another process rotated our file and we have not written since, we still hold it:
        # move to the current file, so the last maintenance passes can compress or delete it.
        self._flush_locked()
        self._check(0)

    def stats(self) -> dict[str, Any]:
        """The counters: write errors, lines sent to stderr, rotations, reopens, files created
        again, and the maintenance's compressed, deleted and failed files."""
        return {**self.counters, **self.maintenance.counters}

    def after_fork_in_child(self) -> None:
        """In a forked child: a fresh lock, an empty buffer, no threads (started again on
        demand). The parent flushed before forking."""
        # The descriptor, and the shared lock it holds, are the parent's too: both write to the
        # file.
        self._lock = threading.Lock()
        self._inside = set()
        self._pending = collections.deque()
        self._buffer.clear()  # the same object: entry code appends to it (entry_write_code)
        self._appending = False  # until this process's flusher runs
        self._flusher = None
        self._wake = threading.Event()
        self.maintenance.after_fork_in_child()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
