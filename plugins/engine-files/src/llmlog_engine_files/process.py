"""The file sinks' side of the process: the sinks alive, interpreter exit, fork, and the
descriptors of closed sinks.

The first sink created registers :func:`flush_all`, :func:`at_exit` and the fork handlers with
:func:`llmlog.ext.register_lifecycle` (not at import: a program that never writes a file
registers nothing), so core flushes every file on a FATAL entry, and a flight-recorder snapshot
can, without knowing this package.
"""

from __future__ import annotations

import collections
import contextlib
import os
import time
import weakref
from pathlib import Path
from typing import TYPE_CHECKING

from llmlog.ext import register_lifecycle
from llmlog_engine_files.locks import CLOEXEC

if TYPE_CHECKING:
    from llmlog_engine_files.sink import FileSink

__all__ = ["EXIT_TIMEOUT", "flush_all", "park", "track"]

#: Longest wait, at interpreter exit, for compression and retention still due.
EXIT_TIMEOUT = 5.0

#: Whether the interpreter is exiting: no thread can be started any more, so sinks write every
#: line at once and run maintenance in the calling thread.
exiting = False

_LIVE_SINKS: weakref.WeakSet[FileSink] = weakref.WeakSet()
_registered = False


def track(sink: FileSink) -> None:
    """Count ``sink`` among the live sinks: flushed by :func:`flush_all`, finished at exit, made
    safe in a forked child."""
    global _registered
    _LIVE_SINKS.add(sink)
    if not _registered:
        _registered = True
        register_lifecycle(
            flush=flush_all,
            at_exit=at_exit,
            before_fork=flush_all,
            after_fork_in_child=_after_fork_in_child,
        )


def flush_all() -> None:
    """Write out the buffer of every open file sink (log files and trace files alike).

    Runs at interpreter exit, on a FATAL entry, before a fork and before a flight-recorder
    snapshot (through :func:`llmlog.ext.flush_all`), so nothing buffered is lost silently;
    a sink that fails to flush reports it itself."""
    for sink in list(_LIVE_SINKS):
        with contextlib.suppress(Exception):
            sink.flush()


def at_exit() -> None:
    """Interpreter exit: every sink writes its buffer out, then every later line at once, and
    finishes the compression and retention due (all sinks together within
    :data:`EXIT_TIMEOUT`)."""
    global exiting
    exiting = True
    deadline = time.monotonic() + EXIT_TIMEOUT
    for sink in list(_LIVE_SINKS):
        with contextlib.suppress(Exception):
            sink.at_exit(deadline)


def _after_fork_in_child() -> None:
    for sink in list(_LIVE_SINKS):
        sink.after_fork_in_child()


# Closed sinks' descriptors, closed for good a while later (see FileSink.close).
_parked: collections.deque[tuple[float, int]] = collections.deque()
_PARK_SECONDS = 2.0


def park(fd: int, path: Path) -> None:
    """Keep a closed sink's descriptor number ``fd`` taken a while, pointed at ``path`` without
    the sink's lock, then close it: a thread that read the number just before the close writes
    to the log, never to an unrelated file that reused the number."""
    if fd < 0:
        return
    # Not a writer any more, so it must not keep the file it wrote from being compressed: the
    # number is pointed at a fresh, unlocked descriptor of the same path (a late write still
    # lands in the log). Never LOCK_UN: the locked description may be shared with forked
    # children still writing through it, and unlocking would unlock it for them too.
    try:
        fresh = os.open(path, os.O_WRONLY | os.O_APPEND | CLOEXEC)
    except OSError:
        fresh = os.open(os.devnull, os.O_WRONLY | CLOEXEC)
    try:
        os.dup2(fresh, fd, inheritable=False)
    except OSError:
        pass
    finally:
        os.close(fresh)
    now = time.monotonic()
    _parked.append((now, fd))
    while _parked and now - _parked[0][0] > _PARK_SECONDS:
        with contextlib.suppress(OSError):
            os.close(_parked.popleft()[1])
