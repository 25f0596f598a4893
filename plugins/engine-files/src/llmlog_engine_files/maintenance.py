"""Retention and compression of a file's rotated files, as one ordered pass that any process may
run; a killed process leaves the plain file or the complete compressed one, and the next pass
finishes its work."""

from __future__ import annotations

import collections
import contextlib
import fcntl
import os
import threading
import time
from pathlib import Path

from llmlog.ext import create_new, report_problem
from llmlog_engine_files import locks, process
from llmlog_engine_files.compression import compressor
from llmlog_engine_files.naming import rotation_groups
from llmlog_engine_files.rotation import RotationPolicy

__all__ = ["Maintenance"]

_monotonic = time.monotonic


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

    :raises ValueError: when the policy's compression needs a package that is not installed.
    """

    def __init__(
        self, path: Path, policy: RotationPolicy, mode: int, lock_path: Path, name: str
    ) -> None:
        self.path = path
        self._policy = policy
        self._mode = mode
        self._lock_path = lock_path
        self._name = name
        self._compress = compressor(policy.compress)
        self._suffix = self._compress.suffix if self._compress is not None else ""
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
        if process.exiting:
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
        groups = rotation_groups(self.path)
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
        claim = locks.claim(file)
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
        claim = locks.claim(plain) if plain is not None else None
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
        claim = locks.claim(plain)
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
        deadline = min(deadline, _monotonic() + locks.CHECK_SECONDS + 0.5)
        delay = 0.02
        while self.run_pass() and _monotonic() + delay < deadline:
            time.sleep(delay)
            delay = min(delay * 2, 0.5)

    def after_fork_in_child(self) -> None:
        """In a forked child: no thread, fresh locks, nothing pending of the parent's."""
        self._rotated = collections.deque()
        self._wake = threading.Event()
        self._thread = None
        self._stopping = False
        self._run_lock = threading.Lock()
