"""Work done beside the report's own process, in a forked child, for large inputs.

A report is Python work per event; on a machine with a CPU to spare a forked child reads part of
a large trace (it starts with everything loaded, nothing to send it) and sends back what it
built, pickled through a pipe. The caller uses it only when it is complete and exact, and does
the work itself otherwise (the child failed, was killed, or its part could not be joined), so
the report is the same bytes either way.

``LLMLOG_REPORT_PROCESSES=1`` never forks; ``=2`` forks whenever it can, however busy the
machine (the tests); unset, only when a CPU looks free.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["Child", "parallel_ok"]


def parallel_ok() -> bool:
    """Whether a child may be forked: Linux (``fork`` is cheap there), this process running
    one thread (see below), more than one CPU for this process, and a CPU to spare: the 1-minute load average under the CPUs less
    one half. The child's part costs more CPU in all (sending it back, taking it in): on a busy
    machine the report is slower in two processes than in one (measured: docs/performance.md).
    """
    wanted = os.environ.get("LLMLOG_REPORT_PROCESSES")
    if sys.platform != "linux" or wanted == "1":
        return False
    try:
        cpus = len(os.sched_getaffinity(0))
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return False
    if wanted == "2":
        return cpus > 1
    # A fork copies other threads' locks as they stand, held or not, and not the threads: a
    # child of a program with threads (a notebook kernel, an app calling llmlog.display, llmlog's
    # own flusher) could wait forever on one. Only a process with this one thread forks.
    return cpus > 1 and load < cpus - 0.5 and threading.active_count() == 1


class Child:
    """``work()`` run in a forked child; :meth:`result` is what it returned.

    The child runs nothing of the parent's after ``work`` (``os._exit``: no ``atexit``, no
    flushed buffers, no ``finally`` of the caller).
    """

    def __init__(self, work: Callable[[], Any]) -> None:
        """:raises OSError: when no child can be made (no pipe, no fork: out of processes or
        memory); the caller does the work itself."""
        receive, send = os.pipe()
        try:
            pid = os.fork()
        except OSError:
            os.close(receive)
            os.close(send)
            raise
        if pid == 0:
            status = 0
            try:
                os.close(receive)
                payload = pickle.dumps(work(), pickle.HIGHEST_PROTOCOL)
                with os.fdopen(send, "wb") as out:
                    out.write(payload)
            except BaseException:
                status = 1
            finally:
                os._exit(status)
        os.close(send)
        self._pid: int | None = pid
        self._pipe = os.fdopen(receive, "rb")

    def result(self) -> Any | None:
        """What ``work()`` returned (waiting for it), or ``None`` if the child failed."""
        try:
            payload = self._pipe.read()
        finally:
            self._pipe.close()
            self._reap(kill=False)
        if not payload:
            return None
        try:
            return pickle.loads(payload)
        except Exception:
            return None

    def cancel(self) -> None:
        """The result is not wanted (this process failed first): the child is ended."""
        self._pipe.close()
        self._reap(kill=True)

    def _reap(self, *, kill: bool) -> None:
        pid, self._pid = self._pid, None
        if pid is None:
            return
        if kill:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            os.waitpid(pid, 0)
