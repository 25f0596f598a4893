"""Durable, rotating, multi-process-safe line files: the machinery behind the ``file`` output and
the trace :class:`TraceOutput`.

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
written, and until then append, whole lines still, to the just-rotated file. A rotated file is
compressed or deleted only by whoever gets an exclusive ``flock`` on it, which no one gets while a
writer still appends to it, in any process: so no line is ever written into a file being
compressed or deleted. Compression and retention are one ordered pass (:class:`Maintenance`) that
any process may run; a killed process leaves the plain file or the complete compressed one, and
the next pass finishes its work.

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

import atexit
import collections
import contextlib
import errno
import fcntl
import os
import re
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import attrs

from llmlog import lifecycle
from llmlog.dispatch import report_problem
from llmlog.safefiles import create_new, make_private_dirs

__all__ = ["FileSink", "Maintenance", "RotationPolicy", "TraceOutput", "rotated_files"]

Compression = Literal["none", "gzip", "zstd"]
_SUFFIX = {"none": "", "gzip": ".gz", "zstd": ".zst"}
_CHECK_SECONDS = 1.0
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_monotonic = time.monotonic
_os_write = os.write
_get_ident = threading.get_ident

#: Longest wait, at interpreter exit, for compression and retention still due.
EXIT_TIMEOUT = 5.0


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
    # Groups: the time, the counter, the compression suffix, a temporary's ".tmp".
    stem, suffix = _split_name(path)
    return re.compile(
        rf"^{re.escape(stem)}\.(\d{{4}}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{{6}})(?:-(\d+))?"
        rf"{re.escape(suffix)}(\.gz|\.zst)?(\.tmp)?$",
        re.ASCII,
    )


def rotated_files(path: str | os.PathLike[str]) -> list[Path]:
    """The rotated files of ``path`` (plain and compressed), oldest first, by the time and
    counter in their names.

    Only names of the exact rotation pattern count, so ``app.log.old`` or ``app.logger`` are never
    touched by retention; temporaries of a compression under way are not listed.
    """
    return [
        file for _, files in _rotation_groups(Path(path)) for file in files if file.suffix != ".tmp"
    ]


def _rotation_groups(path: Path) -> list[tuple[tuple[str, int], list[Path]]]:
    """Each rotation's files (plain, compressed, temporaries), oldest rotation first."""
    pattern = _rotated_pattern(path)
    prefix = _split_name(path)[0] + "."
    groups: dict[tuple[str, int], list[str]] = {}
    try:
        names = os.listdir(path.parent)
    except OSError:
        return []
    for name in names:
        if not name.startswith(prefix):  # most names, cheaply
            continue
        m = pattern.match(name)
        if m:
            groups.setdefault((m.group(1), int(m.group(2) or 0)), []).append(name)
    parent = path.parent
    return [(key, [parent / n for n in names]) for key, names in sorted(groups.items())]


@contextlib.contextmanager
def rotation_lock(lock_path: Path, mode: int) -> Iterator[int]:
    """Hold the exclusive inter-process ``flock`` on ``lock_path`` (created with ``mode``);
    yields its descriptor. ``flock`` conflicts between two descriptors even within one process,
    so code holding it never takes it again."""
    try:
        fd = create_new(lock_path, mode, os.O_RDWR)
    except FileExistsError:
        fd = os.open(lock_path, os.O_RDWR | _CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)  # releases the lock


def _claim(path: Path) -> int | None:
    """An exclusive ``flock`` on ``path``, taken only if no one holds any lock on it (every
    writer holds a shared one on the file it appends to); its descriptor, or ``None``."""
    try:
        fd = os.open(path, os.O_RDONLY | _CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _compressor(kind: Compression) -> Callable[[int, int], None] | None:
    """``compress(source_fd, target_fd)`` for ``kind``; imported only when configured."""
    if kind == "gzip":
        import gzip
        import shutil

        def gz(source: int, target: int) -> None:
            with (
                open(source, "rb", closefd=False) as fin,
                open(target, "wb", closefd=False) as raw,
                gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as fout,
            ):
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

        def zst(source: int, target: int) -> None:
            with (
                open(source, "rb", closefd=False) as fin,
                open(target, "wb", closefd=False) as fout,
            ):
                zstandard.ZstdCompressor(level=3).copy_stream(fin, fout)

        return zst
    return None


class Maintenance:
    """Compression and retention of one file's rotated files, as one ordered pass.

    A pass decides under the rotation lock: the oldest rotations beyond ``max_files`` are
    deleted, leftovers of a killed compression are cleared (a temporary no one writes, a plain
    file whose compressed copy is complete), and the remaining plain rotated files are
    compressed, oldest first. A file is deleted or compressed only when this pass holds an
    exclusive ``flock`` on it, which it cannot get while any writer, in any process, still
    appends to it; such a file is left for a later pass. Compressing writes ``<name>.gz.tmp``
    (created with the file mode) and renames it, then deletes the plain file, so a kill at any
    moment leaves the plain file or the complete compressed one.

    Passes run in a background thread, one after each rotation and again while something was
    left for later; at exit, :meth:`finish` waits a bounded time for what is due.
    """

    def __init__(
        self, path: Path, policy: RotationPolicy, mode: int, lock_path: Path, name: str
    ) -> None:
        self.path = path
        self._policy = policy
        self._mode = mode
        self._lock_path = lock_path
        self._name = name
        self._compress = _compressor(policy.compress)
        self._suffix = _SUFFIX[policy.compress]
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._run_lock = threading.Lock()  # one pass at a time within this process
        self._failed: set[str] = set()  # names that failed to compress: kept plain, not retried
        # Files our rotations made since the last pass. With no retention, a pass compresses
        # just these; the directory is listed (for leftovers of killed processes, files held
        # by writers) at the start, when something was left for later, and at the end.
        self._rotated: collections.deque[Path] = collections.deque()
        self._scan_due = True
        self.counters = {"compressed": 0, "deleted": 0, "compress_failures": 0}

    @property
    def needed(self) -> bool:
        """Whether the policy asks for any maintenance at all."""
        return self._compress is not None or self._policy.max_files > 0

    def request(self, rotated: Path | None = None) -> None:
        """Ask for a pass soon; never blocks the writer. ``rotated``: the file a rotation just
        made, which a pass that keeps every file can compress without listing the directory."""
        if not self.needed:
            return
        if rotated is None:
            self._scan_due = True
        else:
            self._rotated.append(rotated)
        if _exiting:
            self.run_pass()  # no thread can start at exit: a pass now, in this thread
            return
        self._wake.set()
        thread = self._thread
        if thread is None or not thread.is_alive():
            thread = threading.Thread(
                target=self._loop, name=f"llmlog-maintain-{self._name}", daemon=True
            )
            self._thread = thread
            try:
                thread.start()
            except RuntimeError:  # interpreter shutting down
                self._thread = None
                self.run_pass()

    def _loop(self) -> None:
        delay: float | None = None
        while True:
            self._wake.wait(delay)
            self._wake.clear()
            if self._stopping:
                return
            left = self.run_pass()
            # Something held by a writer (another process that has not yet noticed the
            # rotation): look again, less and less often.
            delay = min((delay or 0.05) * 2, 2.0) if left else None

    def run_pass(self) -> bool:
        """One pass; returns whether something was left for later (held by a writer)."""
        with self._run_lock:
            try:
                return self._pass()
            except OSError as exc:
                report_problem(
                    f"file output {self._name!r}: maintenance of {self.path} failed: {exc}"
                )
                return False

    def _pass(self) -> bool:
        # No inter-process lock is needed: a file is only ever deleted, or compressed and then
        # deleted, by whoever holds its exclusive claim, and rotations only add newer files, so
        # passes of several processes, each from its own listing, delete exactly the oldest
        # rotations beyond max_files between them.
        left = False
        keep = self._policy.max_files
        if keep <= 0 and not self._scan_due:
            while self._rotated:
                left |= not self._compress_one(self._rotated.popleft())
            self._scan_due = left
            return left
        self._rotated.clear()
        self._scan_due = False
        groups = _rotation_groups(self.path)
        doomed = groups[: max(0, len(groups) - keep)] if keep > 0 else []
        for _, files in doomed:
            for file in files:
                left |= not self._delete(file)
        for _, files in groups[len(doomed) :]:
            plain = [f for f in files if not f.name.endswith((".gz", ".zst", ".tmp"))]
            done = [f for f in files if f.name.endswith((".gz", ".zst"))]
            for temporary in (f for f in files if f.name.endswith(".tmp")):
                left |= not self._delete_leftover(temporary, plain[0] if plain else None)
            if plain and done:
                # Killed between the rename of the compressed copy and the deletion: the copy
                # is complete (renamed only once whole), the plain file is a duplicate.
                left |= not self._delete(plain[0], counted=False)
            elif plain and self._compress is not None and plain[0].name not in self._failed:
                left |= not self._compress_one(plain[0])
        self._scan_due = left
        return left

    def _delete(self, file: Path, *, counted: bool = True) -> bool:
        """Delete ``file`` if no one holds it; whether it is gone."""
        claim = _claim(file)
        if claim is None:
            return not file.exists()
        try:
            file.unlink()
            if counted:
                self.counters["deleted"] += 1
        except FileNotFoundError:
            pass
        finally:
            os.close(claim)
        return True

    def _delete_leftover(self, temporary: Path, plain: Path | None) -> bool:
        """Delete a compression's temporary unless a compression of ``plain`` is under way
        (whoever compresses holds ``plain``): a killed compression's leftover."""
        claim = _claim(plain) if plain is not None else None
        if plain is not None and claim is None and plain.exists():
            return False
        try:
            return self._delete(temporary, counted=False)
        finally:
            if claim is not None:
                os.close(claim)

    def _compress_one(self, plain: Path) -> bool:
        """Compress ``plain`` if no one holds it; whether it needs no further pass."""
        assert self._compress is not None
        claim = _claim(plain)
        if claim is None:
            return not plain.exists()
        target = plain.with_name(plain.name + self._suffix)
        temporary = target.with_name(target.name + ".tmp")
        try:
            try:
                out = create_new(temporary, self._mode)
            except FileExistsError:  # another process's compression of it, killed
                return False
            try:
                fcntl.flock(out, fcntl.LOCK_EX)  # ours while being written: not a leftover
                self._compress(claim, out)
            finally:
                os.close(out)
            # The claim on the plain file kept every other pass from deleting it meanwhile.
            os.replace(temporary, target)
            plain.unlink()
            self.counters["compressed"] += 1
            return True
        except FileNotFoundError:
            # Deleted under us by retention in another process: nothing went wrong.
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            return True
        except Exception as exc:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            self._failed.add(plain.name)
            self.counters["compress_failures"] += 1
            report_problem(
                f"file output {self._name!r}: compressing {plain} failed: {exc}; kept it uncompressed"
            )
            return True
        finally:
            os.close(claim)

    def finish(self, deadline: float) -> None:
        """Stop the background thread and run what is still due, until ``deadline``
        (monotonic seconds): at exit and on close."""
        self._scan_due = True
        self._stopping = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(max(0.0, deadline - _monotonic()))
        if not self.needed:
            return
        # A file still held is another process's current file it has not yet noticed is
        # rotated: a writer notices within its check interval, so wait about that long (an idle
        # one may hold it much longer; a later pass, in any process, finishes the work).
        deadline = min(deadline, _monotonic() + _CHECK_SECONDS + 0.5)
        delay = 0.02
        while self.run_pass() and _monotonic() + delay < deadline:
            time.sleep(delay)
            delay = min(delay * 2, 0.5)

    def after_fork_in_child(self) -> None:
        self._rotated = collections.deque()
        self._wake = threading.Event()
        self._thread = None
        self._stopping = False
        self._run_lock = threading.Lock()


_LIVE_SINKS: weakref.WeakSet[FileSink] = weakref.WeakSet()
_exiting = False


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
        self._next_check = 0.0
        self._max_bytes = self._rotation.max_bytes
        self._check_bytes = max(self._max_bytes // 16, 4096)
        self._since_check = 0
        self._closed = False
        self._failing = False
        self._torn = False
        self._fast = False
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
        _LIVE_SINKS.add(self)
        _register_exit_handler()
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
                    fd = os.open(
                        self.path, access | os.O_APPEND | os.O_CREAT | _CLOEXEC, self._mode
                    )
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
        self._period = _period(self._rotation.when, st.st_mtime if st.st_size else time.time())
        self._next_check = _monotonic() + _CHECK_SECONDS
        self._since_check = 0
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
            fd = os.open(self._lock_path, os.O_WRONLY | _CLOEXEC)
            try:
                record = f"{old_ino} {new_ino} {offset}\n".encode()
                os.pwrite(fd, record, 0)
                os.ftruncate(fd, len(record))
            finally:
                os.close(fd)

    # -- writing ---------------------------------------------------------------------------------

    def _update_fast(self) -> None:
        # The lock-free path: unbuffered, healthy, open, no fsync per write, no torn fragment to
        # end first. O_APPEND makes each single write() of whole lines atomic with respect to
        # other writers, threads or processes.
        self._fast = not (
            self._buffer_size or self._closed or self._failing or self._fsync_always or self._torn
        )

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
        if self._closed:
            self._to_stderr(data)
            return
        if done:
            self._raw_write(data, done)
        elif self._buffer_size and not _exiting:
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
        """Follow a rotation by another process or a vanished file; rotate if due. Called with
        the lock held."""
        self._since_check = 0
        self._next_check = _monotonic() + _CHECK_SECONDS
        try:
            current, ours = self._at_path()
        except OSError:
            return
        if current is None or not ours:
            self._follow()
            return
        self._size = self._linked_size = current.st_size
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
        rotation = self._rotation
        if rotation.max_bytes and self._size > 0 and self._size + incoming > rotation.max_bytes:
            return True
        return rotation.when != "never" and _period(rotation.when, time.time()) != self._period

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
                    if self._due(incoming):
                        rotated = self._rotated_name()
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
                candidate.with_name(candidate.name + s).exists()
                for s in ("", ".gz", ".zst", ".gz.tmp", ".zst.tmp")
            ):
                return candidate
        raise FileExistsError(errno.EEXIST, f"no free rotation name for {self.path}")

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

    def close(self, timeout: float = EXIT_TIMEOUT) -> None:
        """Flush, finish due compression and retention (waiting at most ``timeout`` seconds),
        stop the background threads and close the file. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._flush_locked()
            self._closed = True
            self._fast = False
            fd, self._fd = self._fd, -1
        # A thread that read the number just before the close may still write through it: park
        # the number a while rather than let a new file reuse it at once. Parking also lets go
        # of our file, which the last passes below may then compress if it was rotated.
        _park(fd, self.path)
        self._wake.set()
        self.maintenance.finish(_monotonic() + timeout)

    def at_exit(self, deadline: float) -> None:
        """Interpreter exit: write the buffer out and write every later line at once (exit
        handlers and ``__del__`` methods still log), and finish due maintenance by
        ``deadline``. The file stays open; the operating system closes it."""
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

    def _after_fork_in_child(self) -> None:
        # The parent flushed before forking; a fresh lock and no threads in the child. The
        # descriptor, and the shared lock it holds, are the parent's too: both write to the file.
        self._lock = threading.Lock()
        self._inside = set()
        self._pending = collections.deque()
        self._buffer = bytearray()
        self._flusher = None
        self._wake = threading.Event()
        self.maintenance.after_fork_in_child()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


# Closed sinks' descriptors, closed for good a while later (see FileSink.close).
_parked: collections.deque[tuple[float, int]] = collections.deque()
_PARK_SECONDS = 2.0


def _park(fd: int, path: Path) -> None:
    if fd < 0:
        return
    # Not a writer any more, so it must not keep the file it wrote from being compressed: the
    # number is pointed at a fresh, unlocked descriptor of the same path (a late write still
    # lands in the log). Never LOCK_UN: the locked description may be shared with forked
    # children still writing through it, and unlocking would unlock it for them too.
    try:
        fresh = os.open(path, os.O_WRONLY | os.O_APPEND | _CLOEXEC)
    except OSError:
        fresh = os.open(os.devnull, os.O_WRONLY | _CLOEXEC)
    try:
        os.dup2(fresh, fd, inheritable=False)
    except OSError:
        pass
    finally:
        os.close(fresh)
    now = _monotonic()
    _parked.append((now, fd))
    while _parked and now - _parked[0][0] > _PARK_SECONDS:
        with contextlib.suppress(OSError):
            os.close(_parked.popleft()[1])


def flush_all() -> None:
    """Write out the buffer of every open file sink (log files and trace files alike).

    Runs at interpreter exit, on a FATAL entry and before a flight-recorder snapshot, so nothing
    buffered is lost silently; a sink that fails to flush reports it itself."""
    for sink in list(_LIVE_SINKS):
        with contextlib.suppress(Exception):
            sink.flush()


def _at_exit() -> None:
    global _exiting
    _exiting = True
    deadline = _monotonic() + EXIT_TIMEOUT
    for sink in list(_LIVE_SINKS):
        with contextlib.suppress(Exception):
            sink.at_exit(deadline)


def _before_fork() -> None:
    for sink in list(_LIVE_SINKS):
        with contextlib.suppress(Exception):
            sink.flush()


def _after_fork_in_child() -> None:
    for sink in list(_LIVE_SINKS):
        sink._after_fork_in_child()


_registered = False


def _register_exit_handler() -> None:
    # On the first sink, not at import: a program that never writes a file registers nothing.
    global _registered
    if not _registered:
        _registered = True
        atexit.register(_at_exit)
        os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)
        lifecycle.register(flush=flush_all)  # core's FATAL path flushes through it


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
