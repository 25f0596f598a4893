"""The inter-process ``flock`` protocol of file sinks.

Every writer holds a shared ``flock`` on the file it appends to. A rotation holds the exclusive
``flock`` on ``<file>.lock`` from its rename to its new file (:func:`rotation_lock`); a rotated
file is compressed or deleted only by whoever gets an exclusive ``flock`` on it (:func:`claim`),
which no one gets while a writer, in any process, still appends to it. Writers look whether
their file was rotated (or deleted) at least every :data:`CHECK_SECONDS`.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from llmlog.ext import create_new

__all__ = ["CHECK_SECONDS", "CLOEXEC", "claim", "rotation_lock"]

CLOEXEC = getattr(os, "O_CLOEXEC", 0)
#: The longest a writer goes, in seconds, before it looks whether its file is still the one at
#: its path (read at each use, so tests can shorten it).
CHECK_SECONDS = 1.0


@contextlib.contextmanager
def rotation_lock(lock_path: Path, mode: int) -> Iterator[int]:
    """Hold the exclusive inter-process ``flock`` on ``lock_path`` (created with ``mode``);
    yields its descriptor. ``flock`` conflicts between two descriptors even within one process,
    so code holding it never takes it again."""
    try:
        fd = create_new(lock_path, mode, os.O_RDWR)
    except FileExistsError:
        fd = os.open(lock_path, os.O_RDWR | CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)  # releases the lock


def claim(path: Path) -> int | None:
    """An exclusive ``flock`` on ``path``, taken only if no one holds any lock on it (every
    writer holds a shared one on the file it appends to); its descriptor, or ``None``."""
    try:
        fd = os.open(path, os.O_RDONLY | CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd
