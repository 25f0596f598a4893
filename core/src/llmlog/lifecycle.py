"""Process-wide flush, exit and fork handling for components that keep their own buffers, files or
threads outside the dispatcher (the file sinks of ``llmlog-engine-files``, for one), so that core
can act on them without knowing them.

A component registers its callbacks with :func:`register` when it first has something to look
after, not at import: a program that never writes a file registers nothing, and the interpreter's
exit and fork hooks are installed only then. Core calls :func:`flush_all` when everything buffered
must reach its destination at once (a FATAL entry); so may a plugin (a flight-recorder snapshot,
so that what it shows is in the files too).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
from collections.abc import Callable

__all__ = ["flush_all", "register"]

_lock = threading.Lock()
#: Every (role, callable) ever registered, so that registering one again changes nothing.
_seen: set[tuple[str, Callable[[], None]]] = set()
_flushers: list[Callable[[], None]] = []


def register(
    *,
    flush: Callable[[], None] | None = None,
    at_exit: Callable[[], None] | None = None,
    before_fork: Callable[[], None] | None = None,
    after_fork_in_child: Callable[[], None] | None = None,
) -> None:
    """Register process-wide callbacks; a callable already registered in a role is not registered
    again in it.

    :param flush: write out everything buffered; called by :func:`flush_all`. It should not raise
        (a failure is its own to report); an exception is swallowed so the others still run.
    :param at_exit: interpreter exit. Installed with :func:`atexit.register` now, so it runs
        before the exit handlers installed earlier (core's flush of the loggers' outputs among
        them) and after those installed later.
    :param before_fork: called in the parent before :func:`os.fork`.
    :param after_fork_in_child: called in the child after :func:`os.fork` (locks held by other
        threads at the fork must be replaced there, threads started again on demand).
    """
    with _lock:
        fresh = {
            role: callback
            for role, callback in (
                ("flush", flush),
                ("at_exit", at_exit),
                ("before_fork", before_fork),
                ("after_fork_in_child", after_fork_in_child),
            )
            if callback is not None and (role, callback) not in _seen
        }
        _seen.update(fresh.items())
        if "flush" in fresh:
            _flushers.append(fresh["flush"])
    if "at_exit" in fresh:
        atexit.register(fresh["at_exit"])
    if "before_fork" in fresh or "after_fork_in_child" in fresh:
        os.register_at_fork(
            before=fresh.get("before_fork", _nothing),
            after_in_child=fresh.get("after_fork_in_child", _nothing),
        )


def flush_all() -> None:
    """Call every registered ``flush``, in the order they were registered; never raises.

    The loggers' outputs are not among them: those are the dispatcher's to flush
    (:meth:`llmlog.dispatch.Dispatcher.flush`)."""
    for flush in tuple(_flushers):
        with contextlib.suppress(Exception):
            flush()


def _nothing() -> None:
    pass
