"""``trace_region``, ``trace_task`` and ``trace_log``: annotations for the flight recorder.

They cost next to nothing when no recorder runs (a module global is checked and a shared no-op
object returned), so they can stay in production code.

* ``trace_region(name)``: a context manager and decorator marking a section of code on the current
  thread (regions nest).
* ``trace_task(name)``: a high-level operation that may span threads and asyncio tasks; it lives in
  a context variable, so tasks spawned inside inherit it, and every event recorded inside carries
  its id.
* ``trace_log(category, message)``: a one-off note on the timeline, attached to the current task.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import itertools
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

from llmlog import state as _state

__all__ = [
    "current_task",
    "release_annotations",
    "take_annotations",
    "trace_log",
    "trace_region",
    "trace_task",
]

F = TypeVar("F", bound=Callable[..., Any])

_task: contextvars.ContextVar[tuple[int, str] | None] = contextvars.ContextVar(
    "llmlog_trace_task", default=None
)
_ids = itertools.count(1)
_time_ns = time.time_ns
_get_ident = threading.get_ident


#: ``current_task()``: ``(id, name)`` of the innermost ``trace_task`` of this context, or
#: ``None``. The context variable's own ``get``, so that the recorder's per-event path makes one
#: call, not two.
current_task: Callable[[], tuple[int, str] | None] = _task.get


class _NoOp:
    """What ``trace_region``/``trace_task`` return when no recorder runs: a no-op context manager,
    and (for ``trace_region``) a decorator that looks for a recorder at every call."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __enter__(self) -> _NoOp:
        return self

    def __exit__(self, exc_type: Any = None, exc: Any = None, tb: Any = None) -> None:
        return None

    def __call__(self, fn: F) -> F:
        name = self.name
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with trace_region(name):
                    return await fn(*args, **kwargs)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with trace_region(name):
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


# One no-op per region name: with no recorder running, trace_region allocates nothing.
_inactive: dict[str, _NoOp] = {}
_NOOP = _NoOp("")


class _Region(_NoOp):
    """An active region. It is recorded as one ``region`` event with its duration when it ends;
    while it runs it sits in the recorder's table of open regions, so a snapshot taken inside it
    (a hang, a crash) still shows it, as an open ``region_begin``."""

    __slots__ = ("_id", "_recorder", "_start")

    def __init__(self, recorder: Any, name: str) -> None:
        # No super().__init__(): this runs for every region, and the call would cost more
        # than the assignments.
        self.name = name
        self._recorder = recorder
        self._id = 0
        self._start = 0

    def __enter__(self) -> _Region:
        self._id = region = next(_ids)
        self._start = start = _time_ns()
        self._recorder._open_regions[region] = (start, self.name, _get_ident(), _task.get())
        return self

    def __exit__(self, exc_type: Any = None, exc: Any = None, tb: Any = None) -> None:
        error = None if exc_type is None else f"{exc_type.__name__}: {exc}"
        self._recorder.record_region(self.name, self._id, self._start, error)


def trace_region(name: str) -> Any:
    """Mark a region of code: ``with trace_region("ProcessModule"):`` or ``@trace_region("x")``."""
    recorder = _state.annotating_recorder
    if recorder is not None:
        return _Region(recorder, name)
    try:
        return _inactive[name]
    except KeyError:
        noop = _NoOp(name)
        if len(_inactive) < 10_000:
            _inactive[name] = noop
        return noop


class _Task:
    __slots__ = ("_id", "_name", "_token")

    def __init__(self, name: str) -> None:
        self._name = name
        self._id = 0
        self._token: contextvars.Token[tuple[int, str] | None] | None = None

    @property
    def id(self) -> int:
        """The task id carried by events recorded inside."""
        return self._id

    def __enter__(self) -> _Task:
        self._id = next(_ids)
        recorder = _state.annotating_recorder
        if recorder is not None:
            recorder.record("task_begin", name=self._name, task_id=self._id)
        self._token = _task.set((self._id, self._name))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._token is not None:
            _task.reset(self._token)
        recorder = _state.annotating_recorder
        if recorder is not None:
            data: dict[str, Any] = {"name": self._name, "task_id": self._id}
            if exc_type is not None:
                data["error"] = f"{exc_type.__name__}: {exc}"
            recorder.record("task_end", **data)


def trace_task(name: str) -> Any:
    """A task for a high-level operation: ``with trace_task("Optimization") as task:``.

    Its id is in a context variable, so it follows ``await`` and is inherited by asyncio tasks and
    by threads given the context (``llmlog.bind_current``); its end may happen elsewhere.
    """
    if _state.annotating_recorder is None:
        return _NOOP
    return _Task(name)


def trace_log(category: str, message: str) -> None:
    """Put a note on the flight-recorder timeline, attached to the current task."""
    recorder = _state.annotating_recorder
    if recorder is not None:
        recorder.record("annotation", category=category, message=message)


def take_annotations(recorder: Any) -> Any:
    """Send every annotation to ``recorder`` from now on (a flight-recorder engine calls this
    when its recorder starts: the recorder started last takes them). Returns the recorder that had
    them, or ``None``. ``recorder`` needs ``record(kind, **data)`` and
    ``record_region(name, id, start_ns, error)``."""
    previous = _state.annotating_recorder
    _state.annotating_recorder = recorder
    return previous


def release_annotations(recorder: Any) -> None:
    """Stop sending annotations to ``recorder`` if it has them (its engine calls this when it
    stops); with no recorder taking them, annotations cost next to nothing."""
    if _state.annotating_recorder is recorder:
        _state.annotating_recorder = None
