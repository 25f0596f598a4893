"""Whether a file could be opened for appending (created with its directories if missing), found
without creating anything: ``llmlog config check`` asks this of every path ``configure()`` would
open, so that what check accepts, configure accepts.

The answer follows what :class:`~llmlog_engine_files.sink.FileSink` does: an existing file must be
writable (a regular file is opened for appending and closed at once, which changes nothing;
anything else is asked with ``access()``), a missing one needs its nearest existing ancestor to be
a directory where this process may create entries. Permission bits do not stop root, so the filesystem is
asked too: on Linux by opening an unnamed temporary file in that directory (``O_TMPFILE``: never
linked into it, gone at close); where the filesystem cannot say (no ``O_TMPFILE`` support), a
kernel filesystem that takes no new files (``/proc``, ``/sys``...) is recognised by its type.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

__all__ = ["check_appendable"]

# Kernel filesystems where open(O_CREAT) and mkdir never make a new entry, whoever asks.
_NO_NEW_FILES = frozenset(
    {
        "proc",
        "sysfs",
        "cgroup",
        "cgroup2",
        "devpts",
        "securityfs",
        "debugfs",
        "tracefs",
        "pstore",
        "bpf",
        "configfs",
        "fusectl",
        "binfmt_misc",
        "nsfs",
        "selinuxfs",
        "rpc_pipefs",
    }
)
# What an O_TMPFILE probe answers for any file created there (others: the filesystem cannot say).
_DEFINITE = frozenset({errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT})


def check_appendable(path: str | os.PathLike[str]) -> None:
    """Raise :class:`OSError` (its message naming the path, as
    :class:`~llmlog_engine_files.sink.FileSink` words it) when ``path`` could not be opened for appending, its missing directories created.

    Creates nothing. A ``True`` answer is not a promise (the filesystem can change before the
    file is opened), but every refusal is one ``FileSink`` would meet.
    """
    target = Path(path)
    try:
        os.fsencode(target)  # a name the filesystem cannot take (a lone surrogate)
        _check(target, hops=0)
    except ValueError as exc:  # NUL in the name, or not encodable
        raise OSError(
            errno.EINVAL, f"{os.fspath(target)!r} is not a usable file name: {exc}"
        ) from None


# The directories FileSink will have made before it opens the file, by their absolute path: where
# each is made (an existing directory) and its names below it. A link that points at one, dangling
# now, leads to a directory by then.
_Made = dict[str, tuple[Path, tuple[str, ...]]]


def _check(path: Path, hops: int, made: _Made | None = None) -> None:
    if hops > 40:
        raise OSError(
            errno.ELOOP, f"cannot open {path} for appending: Too many levels of symbolic links"
        )
    if path.name == "..":  # always a directory, once FileSink has made the ones before it
        raise IsADirectoryError(errno.EISDIR, f"{path} is a directory, not a file")
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):  # a dangling link: the file is made at its target
            _check_link_target(path, Path(os.path.realpath(path)), hops, made or {})
            return
        _check_creatable(path, hops)
        return
    except OSError as exc:
        if exc.errno == errno.ENOTDIR:  # an ancestor is a file: what mkdir would meet
            _check_creatable(path, hops)
        raise OSError(exc.errno, f"cannot open {path} for appending: {exc.strerror}") from None
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, f"{path} is a directory, not a file")
    if stat.S_ISREG(st.st_mode):
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)))
        except FileNotFoundError:  # rotated away since the stat (another process): look again
            _check(path, hops + 1, made)
        except OSError as exc:
            raise OSError(exc.errno, f"cannot open {path} for appending: {exc.strerror}") from None
    elif not os.access(path, os.W_OK):  # a device or a pipe: opening one can block or act
        raise PermissionError(errno.EACCES, f"cannot open {path} for appending: Permission denied")


def _check_creatable(path: Path, hops: int) -> None:
    """``path`` is missing: FileSink makes its missing directories (lexically, as
    ``Path.mkdir(parents=True)`` does), then opens it; every directory it makes an entry in must
    take one."""
    names = [path.name]  # below the nearest existing ancestor, in order
    for ancestor in path.parents:
        try:
            st = os.stat(ancestor)
        except FileNotFoundError:
            if os.path.islink(ancestor):  # a dangling link where a directory must be made
                raise FileExistsError(
                    errno.EEXIST, _cannot(path, f"{ancestor} is a link to nothing")
                ) from None
            names.insert(0, ancestor.name)
            continue
        except OSError as exc:  # ENOTDIR: a file where a directory is needed; EACCES, ELOOP...
            raise OSError(exc.errno, _cannot(path, exc.strerror or str(exc))) from None
        break
    else:  # not even the root exists (cannot happen for an absolute path)
        raise FileNotFoundError(errno.ENOENT, _cannot(path, "No such file or directory"))
    if not stat.S_ISDIR(st.st_mode):
        raise NotADirectoryError(errno.ENOTDIR, _cannot(path, f"{ancestor} is not a directory"))
    # Walk the names as the kernel will once the directories exist: ".." in a made directory
    # goes back lexically (it is a real directory), above the existing ancestor to its parent.
    current = Path(os.path.realpath(ancestor))
    made: list[str] = []  # directories made below ``current``, the deepest last
    # Every directory made, by its absolute path: "..", once ``made`` is empty, moves
    # ``current``, and the same names then mean another place.
    made_ever: _Made = {}
    takers: list[Path] = []  # existing directories that get a new entry

    def make(name: str) -> None:
        made.append(name)
        made_ever[str(current.joinpath(*made))] = (current, tuple(made))
        _check_name(path, name, current)

    for name in names[:-1]:
        if name == "..":
            if made:
                made.pop()
            else:
                current = current.parent
        elif name in ("", "."):
            continue
        elif made:  # inside a directory made here: everything in it is new
            make(name)
        elif os.path.isdir(current / name):  # ".." led back to one that exists
            current = Path(os.path.realpath(current / name))
        elif (target := _made_target(current / name, made_ever)) is not None:
            current, below = made_ever[target]  # a link to a directory made by then
            made[:] = below
        elif os.path.lexists(current / name):  # a file, or a link to nothing, in the way
            raise FileExistsError(
                errno.EEXIST, _cannot(path, f"{current / name} is not a directory")
            )
        else:
            takers.append(current)
            make(name)
    if str(current.joinpath(*made, names[-1])) in made_ever:
        raise IsADirectoryError(errno.EISDIR, f"{path} is a directory, not a file")
    existing = None
    if not made:
        existing = current / names[-1]
        if not os.path.lexists(existing):
            existing = None
            takers.append(current)
    if existing is None:
        _check_name(path, names[-1], current)
        if len(os.fsencode(path)) >= _pathconf(current, "PC_PATH_MAX", 4096):
            raise OSError(errno.ENAMETOOLONG, _cannot(path, "File name too long"))
    for directory in takers:
        if not os.access(directory, os.W_OK | os.X_OK):
            raise PermissionError(errno.EACCES, _cannot(path, f"{directory} is not writable"))
        problem = _probe(directory)
        if problem is not None:
            raise OSError(problem[0], _cannot(path, problem[1]))
    if existing is not None:  # reached through "..": a file (or a link) that exists after all
        _check(existing, hops + 1, made_ever)


def _made_target(link: Path, made: _Made) -> str | None:
    """The absolute path of the directory FileSink will have made that ``link``, a link to
    nothing now, points at; else ``None``."""
    if not made or not os.path.islink(link):
        return None
    target = os.path.realpath(link)
    return target if target in made else None


def _check_link_target(path: Path, target: Path, hops: int, made: _Made) -> None:
    """``path`` is a link to nothing (yet): opening it creates ``target``, its last name only (the
    kernel makes no directory on a link's behalf), unless FileSink will have made ``target`` as a
    directory, or made the directory it goes in."""
    if str(target) in made:
        raise IsADirectoryError(errno.EISDIR, f"{path} is a directory, not a file")
    if str(target.parent) in made:  # made by this process: it takes the new file
        _check_name(path, target.name, target.parent)
        return
    if not os.path.isdir(target.parent):
        raise FileNotFoundError(
            errno.ENOENT, f"cannot open {path} for appending: {target.parent} does not exist"
        )
    _check(target, hops + 1)


def _cannot(path: Path, reason: str) -> str:
    # FileSink's own words: the directory first (it is made first), else the file.
    if path.parent.exists():
        return f"cannot open {path} for appending: {reason}"
    return f"cannot create directory {path.parent}: {reason}"


def _pathconf(directory: Path, name: str, default: int) -> int:
    try:
        return os.pathconf(directory, name)
    except (OSError, ValueError):
        return default


def _check_name(path: Path, name: str, directory: Path) -> None:
    if len(os.fsencode(name)) > _pathconf(directory, "PC_NAME_MAX", 255):
        raise OSError(errno.ENAMETOOLONG, _cannot(path, f"the name {name[:40]!r}… is too long"))


def _probe(directory: Path) -> tuple[int, str] | None:
    """``(errno, reason)`` when ``directory`` surely takes no new file, else ``None``."""
    tmpfile = getattr(os, "O_TMPFILE", 0)
    if tmpfile:
        try:
            os.close(os.open(directory, tmpfile | os.O_WRONLY | getattr(os, "O_CLOEXEC", 0), 0o600))
            return None
        except OSError as exc:
            if exc.errno in _DEFINITE:
                return exc.errno or errno.EACCES, exc.strerror or str(exc)
    kind = _filesystem_type(directory)
    if kind in _NO_NEW_FILES:
        return errno.EPERM, f"{directory} is on a {kind} filesystem, which takes no new files"
    return None


def _filesystem_type(directory: Path) -> str | None:
    """The type of the filesystem holding ``directory`` (Linux: from ``/proc/self/mountinfo``)."""
    try:
        device = os.stat(directory).st_dev
        wanted = f"{os.major(device)}:{os.minor(device)}"
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                fields = line.split()
                if len(fields) > 2 and fields[2] == wanted and " - " in line:
                    return line.split(" - ", 1)[1].split()[0]
    except (OSError, ValueError, IndexError):
        pass
    return None
