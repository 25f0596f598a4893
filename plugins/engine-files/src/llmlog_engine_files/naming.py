"""The names of files: a log file's rotated files, and a new file in a trace directory."""

from __future__ import annotations

import errno
import os
import re
import time
from pathlib import Path

__all__ = ["file_in", "rotated_files", "rotated_name", "rotation_groups", "timestamped_name"]


def _split_name(path: Path) -> tuple[str, str]:
    """``app.log`` -> ``("app", ".log")``: rotated files keep the extension (``app.2026-...log``)."""
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
        file for _, files in rotation_groups(Path(path)) for file in files if file.suffix != ".tmp"
    ]


def rotation_groups(path: Path) -> list[tuple[tuple[str, int], list[Path]]]:
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


def rotated_name(path: Path) -> Path:
    """A free name for ``path`` rotated now: the local time to the microsecond, and a counter
    when that name (or its compressed copy, or a temporary of one) is taken."""
    stem, suffix = _split_name(path)
    now = time.time()
    stamp = (
        time.strftime("%Y-%m-%dT%H-%M-%S", time.localtime(now))
        + f".{int(now * 1e6) % 1_000_000:06d}"
    )
    for counter in range(10_000):
        tail = f"-{counter}" if counter else ""
        candidate = path.with_name(f"{stem}.{stamp}{tail}{suffix}")
        if not any(
            candidate.with_name(candidate.name + s).exists()
            for s in ("", ".gz", ".zst", ".gz.tmp", ".zst.tmp")
        ):
            return candidate
    raise FileExistsError(errno.EEXIST, f"no free rotation name for {path}")


def timestamped_name(prefix: str, suffix: str = ".jsonl", now: float | None = None) -> str:
    """``{prefix}_YYYY-MM-DD_HH-MM-SS_<8 hex>{suffix}``: a new file's name in a directory, in local
    time (the rlm writers' pattern), sorting by time, with a random suffix so that two files of
    the same second never collide."""
    stamp = time.strftime("%Y-%m-%d_%H-%M-%S", time.localtime(now))
    return f"{prefix}_{stamp}_{os.urandom(4).hex()}{suffix}"


def file_in(path: str | os.PathLike[str], prefix: str) -> Path:
    """``path`` itself, or a :func:`timestamped_name` inside it when it is a directory (or ends in
    a separator)."""
    target = Path(path)
    if target.is_dir() or str(path).endswith(os.sep):
        return target / timestamped_name(prefix)
    return target
