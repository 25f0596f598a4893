"""Creating files and directories with the permissions asked for, from their first byte.

Prompts and completions are often sensitive, so every file llmlog creates (logs, rotated and
compressed files, temporaries, trace files, snapshots, exports) is created with its configured
mode, ``0o600`` by default, and every directory ``0o700``: never created with the process's
default and narrowed afterwards, when another user could already have opened it.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = ["DIRECTORY_MODE", "create_new", "make_private_dirs", "written_atomically"]

#: Permission bits of every directory llmlog creates.
DIRECTORY_MODE = 0o700
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def make_private_dirs(directory: str | os.PathLike[str], mode: int = DIRECTORY_MODE) -> None:
    """Create ``directory`` and every missing parent with ``mode`` exactly (``Path.mkdir``
    gives the parents the default permissions, ``0o755`` under the usual umask). Existing
    directories are left as they are.

    :raises OSError: naming the directory that could not be created.
    """
    path = Path(directory)
    missing: list[Path] = []
    while not path.is_dir():
        missing.append(path)
        if path.parent == path:
            break
        path = path.parent
    for target in reversed(missing):
        try:
            os.mkdir(target, mode)
        except FileExistsError:
            if not target.is_dir():
                raise NotADirectoryError(
                    errno.ENOTDIR, f"cannot create directory {target}: a file is in the way"
                ) from None
            continue
        except OSError as exc:
            raise OSError(exc.errno, f"cannot create directory {target}: {exc.strerror}") from None
        with contextlib.suppress(OSError):
            os.chmod(target, mode)  # the umask can only have removed bits: set exactly these


def create_new(path: str | os.PathLike[str], mode: int, flags: int = os.O_WRONLY) -> int:
    """Create ``path``, which must not exist (a symlink there counts), with ``mode`` exactly;
    return its descriptor (close-on-exec).

    :raises FileExistsError: if ``path`` exists.
    """
    fd = os.open(path, flags | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, mode)
    try:
        os.fchmod(fd, mode)  # the umask can only have removed bits: set exactly these
    except OSError:
        pass
    return fd


@contextlib.contextmanager
def written_atomically(target: str | os.PathLike[str], mode: int = 0o600) -> Iterator[BinaryIO]:
    """A binary file to write ``target`` through: created with ``mode`` under a fresh temporary
    name in its directory (a hidden name, ``O_EXCL | O_NOFOLLOW``: nothing already there, not even
    a planted symlink, is followed or reused), synced and renamed over ``target`` when the block
    ends, removed if the block raises. No reader sees half a file; a failure leaves nothing."""
    path = Path(target)
    make_private_dirs(path.parent)
    # Short enough for any file-name limit, unique, and hidden (leading dot).
    temporary = path.with_name(f".{path.name[:180]}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    fd = create_new(temporary, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
