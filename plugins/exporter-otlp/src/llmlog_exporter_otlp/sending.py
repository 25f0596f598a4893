"""A bounded queue in front of one export thread: what the span exporter and the log output share.

The application's thread only appends to the queue (a full queue drops the item and counts it).
One daemon thread converts what is queued into exportable items and sends them in batches. A
collector that is down, slow or refusing costs the application nothing: a failed batch is retried
with growing pauses (1 s doubling to 30 s) while the items waiting keep to the same bound; beyond
it they are dropped and counted; each kind of problem is reported once on stderr, and a total of
what was dropped when the queue stops.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from llmlog.dispatch import report_problem
from llmlog_exporter_otlp.options import OtlpConnectionOptions

__all__ = ["ExportQueue"]


class ExportQueue:
    """See the module docstring.

    :param name: the export thread's name.
    :param options: the queue bound, batch size, pause between exports and closing deadline.
    :param convert: turns one queued item into the items to send (runs on the export thread).
    :param send: sends one batch; returns whether the collector accepted it (may raise).
    :param finish: what is left to send when the queue stops (the span exporter's open spans).
    :param queued: what the queue holds, for messages (``"log entries"``).
    :param sent: what is sent, for messages (``"log records"``).
    :param endpoint: the destination, for messages.
    """

    def __init__(
        self,
        name: str,
        options: OtlpConnectionOptions,
        *,
        convert: Callable[[Any], Iterable[Any]],
        send: Callable[[list[Any]], bool],
        finish: Callable[[], Iterable[Any]] = tuple,
        queued: str,
        sent: str,
        endpoint: str,
    ) -> None:
        self.options = options
        self._name = name
        self._convert = convert
        self._send = send
        self._finish = finish
        self._queued, self._sent, self._endpoint = queued, sent, endpoint
        self._queue: deque[Any] = deque()
        self._max = options.max_queue_size
        self._batch = options.max_export_batch_size
        self._wake = threading.Event()
        self._idle = threading.Event()
        self._stopping = False
        self._failing = False  # the last export attempt failed: flush() does not wait
        self._thread: threading.Thread | None = None
        #: Items dropped, items exported, failed export attempts.
        self.counters = {"dropped": 0, "exported": 0, "failed_exports": 0}
        self._reported: dict[str, object] = {}
        self._drop_lock = threading.Lock()  # only on the (rare) dropping path

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        """Start the export thread (idempotent)."""
        if self._thread is not None:
            return
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def stop(self) -> bool:
        """Send what is queued and what ``finish`` gives, within ``flush_timeout``; drop (and
        count) the rest. Returns whether it was running. Idempotent."""
        thread = self._thread
        if thread is None:
            return False
        self._stopping = True
        self._wake.set()
        thread.join(self.options.flush_timeout)
        self._thread = None
        if thread.is_alive():  # the collector is slower than flush_timeout: give up on the rest
            left = len(self._queue)
            self._queue.clear()
            if left:
                self._dropped(left)
        if self.counters["dropped"]:
            report_problem(
                f"OTLP exporter: {self.counters['dropped']} {self._queued} were dropped "
                f"(queue full or collector unreachable); {self.counters['exported']} "
                f"{self._sent} exported"
            )
        return True

    def flush(self, timeout: float | None = None) -> bool:
        """Export everything queued so far; ``False`` if that took longer than ``timeout``, and
        at once while the collector is failing (exit and FATAL must not wait for a dead one)."""
        if self._thread is None:
            return True
        if self._failing:
            self._wake.set()
            return False
        self._idle.clear()
        self._wake.set()
        return self._idle.wait(self.options.flush_timeout if timeout is None else timeout)

    # -- the application's side ------------------------------------------------------------------

    def put(self, item: Any) -> None:
        """Queue one item; never blocks, never raises (a full queue drops it, counted)."""
        queue = self._queue
        if len(queue) >= self._max:
            self._dropped(1)
            return
        queue.append(item)
        if len(queue) >= self._batch:
            self._wake.set()

    # -- the export thread -----------------------------------------------------------------------

    def _run(self) -> None:
        pending: deque[Any] = deque()
        backoff = 0.0
        while True:
            self._wake.wait(backoff or self.options.schedule_delay)
            self._wake.clear()
            queue = self._queue
            while queue:
                item = queue.popleft()
                try:
                    pending.extend(self._convert(item))
                except Exception as exc:  # a malformed item must not stop the exporter
                    self.report("convert", f"could not convert one of the {self._queued}: {exc}")
            if self._stopping:
                try:
                    pending.extend(self._finish())
                except Exception as exc:
                    self.report("finish", f"could not finish: {exc}")
            # Items waiting for the collector are bounded like the queue.
            excess = len(pending) - self._max
            if excess > 0:
                for _ in range(excess):
                    pending.popleft()
                self._dropped(excess)
            backoff = self._export(pending, backoff)
            self._failing = backoff > 0
            if self._stopping and (not pending or backoff):
                # Closing while the collector still fails: what is left is dropped, counted.
                left = len(pending) + len(queue)
                queue.clear()
                if left:
                    self._dropped(left)
                self._idle.set()
                return
            if not queue and not pending:
                self._idle.set()

    def _export(self, pending: deque[Any], backoff: float) -> float:
        """Send ``pending`` in batches; returns the pause before the next try (0: all sent)."""
        while pending:
            batch = [pending[i] for i in range(min(self._batch, len(pending)))]
            try:
                accepted = self._send(batch)
            except Exception as exc:
                accepted = False
                self.report("export", f"export raised {type(exc).__name__}: {exc}")
            if not accepted:
                self.counters["failed_exports"] += 1
                self.report(
                    "failed",
                    f"the collector did not accept {self._sent}; retrying with backoff, dropping "
                    f"beyond {self._max} (endpoint {self._endpoint})",
                )
                return min(30.0, max(1.0, backoff * 2))
            for _ in batch:
                pending.popleft()
            self.counters["exported"] += len(batch)
        return 0.0

    def _dropped(self, count: int) -> None:
        with self._drop_lock:
            self.counters["dropped"] += count
        self.report(
            "dropped",
            f"dropping {self._queued}: the queue is full or the collector unreachable "
            "(counted; the total is reported at exit)",
        )

    def report(self, key: str, message: str) -> None:
        """Report one kind of problem once, from any thread."""
        # setdefault is one atomic step: only the call that inserted its own marker reports.
        marker = object()
        if self._reported.setdefault(key, marker) is marker:
            report_problem(f"OTLP exporter: {message}")

    def stats(self) -> dict[str, int]:
        """The counters, plus the items waiting now."""
        return {**self.counters, "waiting": len(self._queue)}
