"""A bounded queue in front of one export thread: what the span exporter and the log output share.

The application's thread only appends to the queue; a full queue drops the item and counts it.
The queue is bounded twice: in items (``max_queue_size``: what waits for the export thread, and
again what waits for the collector) and in bytes (``max_queue_bytes``: both together, by an
estimate the item's owner gives, see :mod:`llmlog_exporter_otlp.sizes`). One daemon thread
converts what is queued into exportable items and sends them in batches. A collector that is
down, slow or refusing costs the application nothing: a failed batch is retried with growing
pauses (1 s doubling to 30 s) while the items waiting keep to the same bounds; beyond them they
are dropped and counted.

Closing is bounded in total. The first flush or close (without an explicit timeout) of any
queue opens a window of ``flush_timeout`` and wakes every running queue to export what it holds
now; a flush or close of a queue that was running then ends by the window's end, or at once if
the window is over but the sequence goes on (the previous step ended less than a second before).
So ``llmlog.shutdown()``, which flushes and closes the log output and then stops the span
exporter, takes one ``flush_timeout``, not three. At exit every running queue is closed here, all
at once, by the same rule (an exit right after a FATAL entry's flush shares its window). A closing
queue sends what it holds with requests whose timeout is bounded by what is left of the deadline,
gives up at the first failure, and at the deadline abandons its thread if a request is still in
flight (a daemon thread: the process does not wait for it).

Nothing is lost silently: what was dropped is counted in the units the collector would have
received (log records, spans), by cause (a full queue, a failed export, unsent when the queue
closed) and reported once when the queue closes; each kind of problem is reported once as it
first happens.
"""

from __future__ import annotations

import atexit
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from llmlog.ext import report_problem
from llmlog_exporter_otlp.options import OtlpConnectionOptions

__all__ = ["ExportQueue", "shown_endpoint"]

_CAUSES = ("dropped_queue_full", "dropped_export_failed", "dropped_unsent")


def _one(item: Any) -> int:
    return 1


def _none() -> int:
    return 0


def shown_endpoint(endpoint: str) -> str:
    """``endpoint`` as messages show it: without a user name and password."""
    try:
        parts = urlsplit(endpoint)
    except ValueError:
        return "<endpoint>"
    if "@" not in parts.netloc:
        return endpoint
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def _mib(size: int) -> str:
    return f"{size / 2**20:g} MiB"


class ExportQueue:
    """See the module docstring.

    :param name: the export thread's name.
    :param options: the queue bounds, batch size, pause between exports, request timeout and
        closing deadline.
    :param convert: turns one queued item into the items to send (runs on the export thread).
    :param send: sends one batch; returns whether the collector accepted it (may raise). Its
        second argument is ``None``, or while closing the seconds left before the deadline (a
        request should not take longer).
    :param estimate: the bytes a queued item holds (on the application's thread: cheap).
    :param measure: the bytes a converted item holds (on the export thread).
    :param finish: what is left to send when the queue closes (the span exporter's open spans).
    :param units: how many items to send a queued item stands for when it is dropped unconverted
        (default 1; the span exporter: 1 for a span start, 0 for other events).
    :param held: how many items to send ``convert`` holds back, unfinished (open spans).
    :param queued: what the queue holds, for messages (``"log entries"``).
    :param sent: what is sent, for messages (``"log records"``).
    :param other: for queued items that stand for no item to send (``units`` 0), what they are,
        for messages (``"other trace events"``).
    :param endpoint: the destination, for messages (shown without credentials).
    """

    def __init__(
        self,
        name: str,
        options: OtlpConnectionOptions,
        *,
        convert: Callable[[Any], Iterable[Any]],
        send: Callable[[list[Any], float | None], bool],
        estimate: Callable[[Any], int],
        measure: Callable[[Any], int],
        finish: Callable[[], Iterable[Any]] = tuple,
        units: Callable[[Any], int] = _one,
        held: Callable[[], int] = _none,
        queued: str,
        sent: str,
        other: str = "",
        endpoint: str,
    ) -> None:
        self.options = options
        self._name = name
        self._convert = convert
        self._send = send
        self._estimate = estimate
        self._measure = measure
        self._finish = finish
        self._units = units
        self._held = held
        self._queued, self._sent, self._other = queued, sent, other
        self._endpoint = shown_endpoint(endpoint)
        self._max = 0  # items: 0 until started, and again once closed (put() then refuses)
        self._max_bytes = options.max_queue_bytes
        self._batch = options.max_export_batch_size
        # (item, estimated bytes): appended by the application, taken by the export thread.
        self._queue: deque[tuple[Any, int]] = deque()
        # (converted item, measured bytes): waiting for the collector; export thread only.
        self._pending: deque[tuple[Any, int]] = deque()
        # Bytes held = bytes_in - bytes_out + pending_bytes. bytes_in is added to by application
        # threads (an int += has no switch point under the GIL), the others by the export thread,
        # which also keeps bytes_limit (what bytes_in may reach) so that put() reads one number.
        self._bytes_in = self._bytes_out = self._pending_bytes = 0
        self._bytes_limit = self._max_bytes
        self._wake = threading.Event()
        self._idle = threading.Event()
        # The export thread's state (pending, the converter, counters of what it settles) against
        # a close that gives up on it at the deadline. Never held while a request is in flight.
        self._lock = threading.Lock()
        self._count_lock = threading.Lock()  # counters added to from several threads
        self._stop_lock = threading.Lock()
        self._stopping = False
        self._deadline = 0.0
        self._done = False  # the export thread settled everything and ended
        self._abandoned = False  # closed at the deadline with a request in flight
        self._closed = False
        self._at_exit = False
        self._failing = False  # the last export attempt failed: flush() does not wait
        self._thread: threading.Thread | None = None
        #: Items sent and, in the same units, dropped by cause; failed export attempts; queued
        #: items dropped that stood for nothing to send (``other``).
        self.counters = {
            "exported": 0,
            "dropped_queue_full": 0,
            "dropped_export_failed": 0,
            "dropped_unsent": 0,
            "dropped_other": 0,
            "failed_exports": 0,
        }
        self._reported: dict[str, object] = {}

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        """Start the export thread (once: a queue that was closed stays closed)."""
        if self._thread is not None or self._closed:
            return
        self._max = self.options.max_queue_size
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        with _window_lock:
            _live.add(self)
        self._thread.start()

    def stop(self) -> bool:
        """Send what is queued and what ``finish`` gives, by the closing deadline (see the module
        docstring); count the rest as unsent, report what was dropped. Returns whether it was
        running. Idempotent."""
        if self._thread is None:
            return False
        return self._close(_deadline_for(self))

    def flush(self, timeout: float | None = None) -> bool:
        """Export everything queued so far; ``False`` if that took longer than ``timeout`` (by
        default: until the closing window's end, see the module docstring), and at once while
        the collector is failing (exit and FATAL must not wait for a dead one)."""
        if self._thread is None:
            return True
        if self._failing:
            self._wake.set()
            return False
        if timeout is not None:
            self._idle.clear()
            self._wake.set()
            return self._idle.wait(timeout)
        wait = _deadline_for(self) - time.monotonic()
        self._idle.clear()
        self._wake.set()
        try:
            return self._idle.wait(max(0.0, wait))
        finally:
            _window_step_ended()

    def _gone(self) -> bool:
        # A call, not the attribute: another thread sets it while this one waits.
        return self._abandoned

    @property
    def abandoned(self) -> bool:
        """Whether closing gave up on the export thread with a request still in flight."""
        return self._abandoned

    # -- the application's side ------------------------------------------------------------------

    def put(self, item: Any) -> None:
        """Queue one item; never blocks, never raises (a full or closed queue drops it, counted)."""
        try:
            size = self._estimate(item)
        except Exception:  # a value whose len() or values() fails: a guess, never an exception
            size = 1 << 16
        queue = self._queue
        if len(queue) >= self._max or self._bytes_in + size > self._bytes_limit:
            self._refused(item)
            return
        self._bytes_in += size
        queue.append((item, size))
        if len(queue) >= self._batch:
            self._wake.set()

    def _refused(self, item: Any) -> None:
        units = self._units(item)
        if self._closed:
            self._count("dropped_unsent" if units else "dropped_other", units or 1)
            self.report(
                "late",
                f"{self._queued} made after the exporter closed{' at exit' if self._at_exit else ''}"
                " are not sent (counted in llmlog.stats())",
            )
            return
        self._count("dropped_queue_full" if units else "dropped_other", units or 1)
        self.report(
            "full",
            f"dropping {self._queued}: the queue is full ({self.options.max_queue_size} items or "
            f"{_mib(self._max_bytes)}: the collector is slower than the application or "
            "unreachable); counted, the total is reported when the exporter closes",
        )

    # -- the export thread -----------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._loop()
        except Exception as exc:  # a defect here: reported, and what is held counted as unsent
            self.report("crashed", f"the export thread failed: {type(exc).__name__}: {exc}")
            self._settle()

    def _loop(self) -> None:
        backoff = 0.0
        while True:
            if not self._stopping:
                self._wake.wait(backoff or self.options.schedule_delay)
                self._wake.clear()
            if not self._take():
                return
            backoff = self._export(backoff)
            if backoff < 0:  # abandoned while a request was in flight
                return
            self._failing = backoff > 0
            if self._stopping:
                # Closing: give up at the first failure or at the deadline; else go on while
                # the application still adds (it may log while shutting down).
                if (
                    backoff
                    or time.monotonic() >= self._deadline
                    or not (self._queue or self._pending or self._held())
                ):
                    self._settle()
                    return
            elif not self._queue and not self._pending:
                self._idle.set()

    def _take(self) -> bool:
        """Convert what is queued now (not what comes meanwhile: a steady stream must not keep
        the thread from sending), a batch at a time (the lock is let go between batches), and,
        when closing, what ``finish`` gives; ``False`` once the queue was abandoned."""
        queue, pending = self._queue, self._pending
        todo = len(queue)
        while True:
            with self._lock:
                if self._gone():
                    return False
                chunk = min(self._batch, todo, len(queue))
                todo -= chunk
                for _ in range(chunk):
                    item, size = queue.popleft()
                    self._bytes_out += size
                    try:
                        converted = self._convert(item)
                    except Exception as exc:  # a malformed item must not stop the exporter
                        self._count("dropped_export_failed", self._units(item))
                        self.report(
                            "convert", f"could not convert one of the {self._queued}: {exc}"
                        )
                        continue
                    self._add(converted)
                if self._stopping and (todo <= 0 or not queue):
                    try:
                        self._add(self._finish())
                    except Exception as exc:
                        self.report("finish", f"could not finish: {exc}")
                # What waits for the collector keeps to the same bounds (the oldest go first).
                excess = 0
                while pending and (
                    len(pending) > self.options.max_queue_size
                    or self._pending_bytes > self._max_bytes
                ):
                    self._pending_bytes -= pending.popleft()[1]
                    excess += 1
                self._rebound()
                if excess:
                    self._count("dropped_export_failed", excess)
                    self.report(
                        "dropped",
                        f"dropping {self._sent}: the collector is not taking them "
                        f"({self.options.max_queue_size} items or {_mib(self._max_bytes)} "
                        "wait at most); counted, the total is reported when the exporter closes",
                    )
            if todo <= 0 or not queue or (self._stopping and time.monotonic() >= self._deadline):
                return True

    def _next_batch(self) -> list[Any]:
        """The oldest pending items: ``max_export_batch_size`` at most, and at most an eighth of
        ``max_queue_bytes`` (at least one item): encoding a request costs a few times its size."""
        batch: list[Any] = []
        budget = self._max_bytes // 8
        for item, size in self._pending:
            if len(batch) >= self._batch or (batch and size > budget):
                break
            batch.append(item)
            budget -= size
        return batch

    def _rebound(self) -> None:
        # What put() may add up to: the bound less what is held beyond the queue (export thread).
        self._bytes_limit = self._max_bytes + self._bytes_out - self._pending_bytes

    def _add(self, converted: Iterable[Any]) -> None:
        for item in converted:
            size = self._measure(item)
            self._pending.append((item, size))
            self._pending_bytes += size

    def _export(self, backoff: float) -> float:
        """Send what is pending in batches; returns the pause before the next try (0: all sent),
        or -1 if the queue was abandoned meanwhile."""
        pending = self._pending
        while True:
            with self._lock:
                if self._gone():
                    return -1.0
                if not pending:
                    return 0.0
                batch = self._next_batch()
            time_left = None
            if self._stopping:
                time_left = self._deadline - time.monotonic()
                if time_left <= 0:
                    return 0.0
            error = None
            try:
                accepted = self._send(batch, time_left)
            except Exception as exc:
                accepted, error = False, exc
            with self._lock:
                if self._gone():  # closing gave up on this request: nothing more to say
                    return -1.0
                if error is not None:
                    self.report("export", f"export raised {type(error).__name__}: {error}")
                if not accepted:
                    self._count("failed_exports", 1)
                    self.report(
                        "failed",
                        f"the collector did not accept {self._sent}; retrying with backoff "
                        f"(endpoint {self._endpoint})",
                    )
                    return min(30.0, max(1.0, backoff * 2))
                for _ in batch:
                    self._pending_bytes -= pending.popleft()[1]
                self._rebound()
                self._count("exported", len(batch))

    def _settle(self) -> None:
        """The export thread's end when closing: what is left is counted as unsent."""
        with self._lock:
            if not self._gone():
                self._close_door()
                self._done = True

    def _close_door(self) -> None:
        """Refuse further items and count what is still held as unsent (under ``_lock``)."""
        self._closed = True
        self._max = 0
        units = self._units
        queue, pending = self._queue, self._pending
        left = len(pending) + self._held()
        other = 0
        while queue:
            item, size = queue.popleft()
            self._bytes_out += size
            n = units(item)
            left += n
            other += not n
        pending.clear()
        self._pending_bytes = 0
        if left:
            self._count("dropped_unsent", left)
        if other:
            self._count("dropped_other", other)

    # -- closing -----------------------------------------------------------------------------------

    def _begin_close(self, deadline: float) -> None:
        """Tell the export thread to send what it holds by ``deadline``, then end."""
        if not self._stopping:
            self._deadline = deadline
            self._stopping = True
        self._wake.set()

    def _close(self, deadline: float) -> bool:
        with self._stop_lock:
            thread = self._thread
            if thread is None:
                return False
            self._begin_close(deadline)
            thread.join(max(0.0, deadline - time.monotonic()))
            with self._lock:
                if not self._done:  # a request is still in flight: abandon the thread to it
                    self._abandoned = True
                    self._close_door()
                elif self._queue:  # put() calls that slipped in after the thread's count
                    self._close_door()
            self._thread = None
            with _window_lock:
                _live.discard(self)
            self._idle.set()
        _window_step_ended()
        self._report_totals()
        return True

    def _report_totals(self) -> None:
        counters = self.counters
        dropped = sum(counters[cause] for cause in _CAUSES)
        other = counters["dropped_other"]
        if not dropped and not other:
            return
        when = "at exit" if self._at_exit else "at close"
        message = (
            f"OTLP exporter: {dropped} of {dropped + counters['exported']} {self._sent} were not "
            f"sent to {self._endpoint}: {counters['dropped_queue_full']} dropped at a full queue, "
            f"{counters['dropped_export_failed']} after failed exports, "
            f"{counters['dropped_unsent']} unsent {when}; {counters['exported']} sent"
        )
        if other:
            message += f"; {other} {self._other or self._queued} were dropped too"
        report_problem(message)

    # -- counting and reporting --------------------------------------------------------------------

    def _count(self, key: str, n: int) -> None:
        with self._count_lock:
            self.counters[key] += n

    def report(self, key: str, message: str) -> None:
        """Report one kind of problem once, from any thread."""
        # setdefault is one atomic step: only the call that inserted its own marker reports.
        marker = object()
        if self._reported.setdefault(key, marker) is marker:
            report_problem(f"OTLP exporter: {message}")

    @staticmethod
    def no_stats() -> dict[str, int]:
        """What :meth:`stats` gives for a queue that never ran: every counter 0."""
        return dict.fromkeys(
            (
                "exported",
                *_CAUSES,
                "dropped_other",
                "failed_exports",
                "dropped",
                "waiting",
                "waiting_bytes",
            ),
            0,
        )

    def stats(self) -> dict[str, int]:
        """The counters, their total ``dropped`` (in the units sent), and what waits now: items
        (``waiting``) and estimated bytes (``waiting_bytes``)."""
        with self._count_lock:
            counters = dict(self.counters)
        counters["dropped"] = sum(counters[cause] for cause in _CAUSES)
        counters["waiting"] = len(self._queue)
        counters["waiting_bytes"] = max(0, self._bytes_in - self._bytes_out + self._pending_bytes)
        return counters


# -- closing together ----------------------------------------------------------------------------

_live: weakref.WeakSet[ExportQueue] = weakref.WeakSet()
_window_lock = threading.Lock()
_window_start = -1e18
_window_last = -1e18  # when the last flush or close of the window ended
_window_members: weakref.WeakSet[ExportQueue] = weakref.WeakSet()
#: Seconds between the end of one flush or close and the start of the next for both to belong to
#: one closing sequence (``llmlog.shutdown()`` makes its calls back to back).
_CHAINED = 1.0


def _deadline_for(queue: ExportQueue) -> float:
    """When a flush or close of ``queue`` starting now must end.

    If ``queue`` was running when the current closing window opened: the window's end, or now
    (nothing left to wait) if the window is over but its last flush or close ended less than a
    second ago (the same closing sequence). Otherwise ``flush_timeout`` from now, opening a
    window that wakes every running queue to export what it holds.
    """
    global _window_start, _window_members
    now = time.monotonic()
    timeout = queue.options.flush_timeout
    with _window_lock:
        if queue in _window_members:
            if now < _window_start + timeout:
                return _window_start + timeout
            if now - _window_last < _CHAINED:
                return now
        _window_start = now
        _window_members = weakref.WeakSet(_live)
        _window_members.add(queue)
        others = [q for q in _window_members if q is not queue]
    for other in others:
        other._wake.set()
    return now + timeout


def _window_step_ended() -> None:
    global _window_last
    with _window_lock:
        _window_last = time.monotonic()


@atexit.register
def _close_at_exit() -> None:
    # Registered when the exporter is first used, so after llmlog's own exit handlers, which
    # therefore run after this one: every queue is closed here, all at once, and what each
    # dropped is reported. Later flushes and stops find them closed.
    with _window_lock:
        queues = list(_live)
    deadlines = []
    for queue in queues:
        queue._at_exit = True
        deadline = _deadline_for(queue)
        queue._begin_close(deadline)
        deadlines.append(deadline)
    for queue, deadline in zip(queues, deadlines, strict=True):
        queue._close(deadline)
