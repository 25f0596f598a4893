"""Creating the flight recorder's files: snapshots and ``llmlog flight convert`` output.

A file is created with mode 0600 from its first byte (``os.open`` with the mode, never a chmod
afterwards), under a fresh temporary name in its directory (``O_EXCL | O_NOFOLLOW``: nothing
already there, not even a symlink someone planted, is followed or reused), and renamed over the
target when complete, so no reader sees half a file and a failure leaves nothing behind.
Directories the recorder creates get mode 0700, parents included. Existing files and
directories keep their modes.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = ["DIRECTORY_MODE", "FILE_MODE", "make_private_directory", "written_atomically"]

#: Mode of every file the flight recorder and its commands create.
FILE_MODE = 0o600
#: Mode of every directory they create.
DIRECTORY_MODE = 0o700

_FLAGS = (
    os.O_WRONLY
    | os.O_CREAT
    | os.O_EXCL
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)


def make_private_directory(directory: Path) -> None:
    """Create ``directory`` and its missing parents with mode 0700 (``mkdir -p`` would give the
    parents the default mode)."""
    missing = []
    current = directory
    while not current.exists() and current.parent != current:
        missing.append(current)
        current = current.parent
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):  # made by someone else meanwhile
            path.mkdir(mode=DIRECTORY_MODE)


@contextlib.contextmanager
def written_atomically(target: Path) -> Iterator[BinaryIO]:
    """A binary file to write ``target`` through: created 0600 under a temporary name, synced
    and renamed to ``target`` when the block ends, removed if the block raises."""
    make_private_directory(target.parent)
    # Short enough for any file-name limit, unique, and hidden from `flight list` (leading dot).
    temporary = target.with_name(f".{target.name[:180]}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    fd = os.open(temporary, _FLAGS, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
