"""Writing lines to a text stream from code that a signal handler may interrupt.

A signal handler runs on the main thread between two bytecodes, possibly while that thread is
inside ``sys.stderr.write``. Python's text and buffered streams are not safe to re-enter: the
nested write raises ``RuntimeError: reentrant call``, or is silently lost with the stream's
pending text. So a write nested in another on the same thread never touches the stream: its line
is queued and written by the interrupted call, right after its own line.
"""

from __future__ import annotations

import collections
import threading
from typing import TextIO

__all__ = ["StreamLines"]

_get_ident = threading.get_ident


class StreamLines:
    """Writes whole lines to a stream, one ``write`` call each, never re-entering the stream
    from a nested call on the same thread (see the module docstring)."""

    __slots__ = ("_pending", "_writing")

    def __init__(self) -> None:
        self._writing: set[int] = set()
        self._pending: collections.deque[str] = collections.deque()

    def write(self, stream: TextIO, text: str) -> None:
        """Write ``text`` (a line with its newline) to ``stream``."""
        me = _get_ident()
        writing, pending = self._writing, self._pending
        if me in writing:
            pending.append(text)
            return
        while True:
            writing.add(me)
            try:
                stream.write(text)
                while pending:
                    stream.write(pending.popleft())
            finally:
                writing.discard(me)
            if not pending:
                return
            text = pending.popleft()  # queued just as we were leaving
