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
from pathlib import Path

__all__ = ["DIRECTORY_MODE", "create_new", "make_private_dirs", "replace_atomically"]

#: Permission bits of every directory llmlog creates.
DIRECTORY_MODE = 0o700
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


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
    """Create ``path``, which must not exist, with ``mode`` exactly; return its descriptor
    (close-on-exec).

    :raises FileExistsError: if ``path`` exists.
    """
    fd = os.open(path, flags | os.O_CREAT | os.O_EXCL | _CLOEXEC, mode)
    try:
        os.fchmod(fd, mode)  # the umask can only have removed bits: set exactly these
    except OSError:
        pass
    return fd


def replace_atomically(path: str | os.PathLike[str], data: bytes, mode: int = 0o600) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory (created with
    ``mode``) renamed over it, so a reader or a crash sees the old file or the whole new one."""
    target = Path(path)
    make_private_dirs(target.parent)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    fd = create_new(temporary, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
