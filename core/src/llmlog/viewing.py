"""What every ``llmlog view`` renderer shares: colours, ``--watch`` polling, ``--export`` checks.

A trace format registers a viewer (``view=`` in ``llmlog_register_trace_formats``) as
``view(path, args, out) -> exit status``; ``args`` carries the flags of ``llmlog view``.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

__all__ = [
    "Paint",
    "ViewError",
    "export_target",
    "follow",
    "paint_for",
    "view_arguments",
    "write_private_text",
]

RED, GREEN, YELLOW, DIM, CYAN, BOLD, RESET = (
    "\033[31m",
    "\033[32m",
    "\033[33m",
    "\033[2m",
    "\033[36m",
    "\033[1m",
    "\033[0m",
)

Paint = Callable[[str, str], str]


class ViewError(ValueError):
    """A problem with the request (not the file): printed as ``llmlog: message``, exit 2."""


#: The flags of ``llmlog view`` as a viewer receives them, at their defaults.
VIEW_DEFAULTS: dict[str, object] = {
    "stats": False,
    "errors": False,
    "search": None,
    "compact": False,
    "iter": None,
    "final": False,
    "watch": False,
    "export": None,
    "no_color": False,
    "lenient": False,
}


def view_arguments(**flags: object) -> argparse.Namespace:
    """The ``args`` a viewer gets from ``llmlog view``, for calling one from code:
    ``view(path, view_arguments(stats=True), sys.stdout)``."""
    unknown = set(flags) - set(VIEW_DEFAULTS)
    if unknown:
        raise TypeError(f"unknown llmlog view flags: {', '.join(sorted(unknown))}")
    return argparse.Namespace(**{**VIEW_DEFAULTS, **flags})


def paint_for(args: argparse.Namespace, out: TextIO) -> Paint:
    """``paint(colour, text)``: colours only on a terminal and without ``--no-color``/``NO_COLOR``."""
    if args.no_color or os.environ.get("NO_COLOR") or not out.isatty():
        return lambda code, text: text
    return lambda code, text: f"{code}{text}{RESET}"


def export_target(args: argparse.Namespace) -> Path | None:
    """The ``--export`` file, which must end in ``.md`` (as in the rlm-go viewer)."""
    if not args.export:
        return None
    target = Path(args.export)
    if target.suffix.lower() != ".md":
        raise ViewError(f"--export writes Markdown; give a file ending in .md, not {target.name!r}")
    return target


def write_private_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path``, replacing it whole (:func:`llmlog.safefiles.
    written_atomically`): owner-only (0600) from its first byte, as every file llmlog creates (an
    export holds prompts and responses)."""
    from llmlog.safefiles import written_atomically

    with written_atomically(path) as fh:
        fh.write(text.encode("utf-8", "backslashreplace"))


def follow(
    path: Path,
    on_change: Callable[[], None],
    *,
    interval: float = 0.5,
    until: Callable[[], bool] = lambda: False,
) -> int:
    """``--watch``: call ``on_change()`` whenever ``path`` changes size, polling every
    ``interval`` seconds, until Ctrl-C (or ``until()``); returns exit status 0."""
    size = -1
    try:
        while not until():
            try:
                current = path.stat().st_size
            except FileNotFoundError:
                current = -1
            if current != size:
                size = current
                if current >= 0:
                    on_change()
            time.sleep(interval)
    except KeyboardInterrupt:
        pass
    return 0
