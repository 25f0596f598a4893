"""Work done beside the report's own process, in a forked child, for large inputs.

A report is Python work per event and per node; on a machine of several CPUs a forked child does
part of it (it starts with the run already in memory, nothing to send it) and sends back its
result pickled through a pipe. Every use keeps the one-process result: the caller uses what the
child sends only when it is complete and exact, and does the work itself otherwise (the child
failed, was killed, or its part could not be joined), so the report is the same bytes either
way. ``LLMLOG_REPORT_PROCESSES=1`` turns it off.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["Child", "parallel_ok"]


def parallel_ok() -> bool:
    """Whether a child may be forked: Linux (``fork`` is safe there and cheap), more than one
    CPU for this process, and not turned off by ``LLMLOG_REPORT_PROCESSES=1``."""
    if sys.platform != "linux" or os.environ.get("LLMLOG_REPORT_PROCESSES") == "1":
        return False
    try:
        return len(os.sched_getaffinity(0)) > 1
    except (AttributeError, OSError):
        return False


class Child:
    """``work()`` run in a forked child; :meth:`result` is what it returned.

    The child runs nothing of the parent's after ``work`` (``os._exit``: no ``atexit``, no
    flushed buffers, no ``finally`` of the caller).
    """

    def __init__(self, work: Callable[[], Any]) -> None:
        receive, send = os.pipe()
        pid = os.fork()
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
