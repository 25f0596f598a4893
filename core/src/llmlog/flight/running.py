"""The process-wide flight recorder as the rest of llmlog sees it: the running one, or a no-op.

The recorder itself (ring, triggers, snapshots) is the ``llmlog-engine-flight`` plugin; core only
holds which recorder runs, so that ``raise global_flight_recorder().snapshot_on_error(exc)`` works
whether or not the engine is installed, and never imports it.
"""

from __future__ import annotations

import os
from typing import IO, Any, Protocol

from llmlog import state
from llmlog.records import LogEntry, TraceEvent

__all__ = [
    "NO_FLIGHT_RECORDER",
    "FlightRecorderAPI",
    "NoFlightRecorder",
    "global_flight_recorder",
    "replace_global_flight_recorder",
    "running_flight_recorder",
]


class FlightRecorderAPI(Protocol):
    """What code may call on the process-wide recorder (``llmlog_engine_flight.FlightRecorder``
    or :class:`NoFlightRecorder`)."""

    @property
    def enabled(self) -> bool: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def record(self, kind: str, **data: Any) -> None: ...

    def record_entry(self, entry: LogEntry) -> None: ...

    def record_trace_event(self, event: TraceEvent) -> None: ...

    def record_exception(self, exc: BaseException, where: str = "") -> None: ...

    def write_to(self, fileobj: IO[bytes], *, reason: str = "manual") -> int: ...

    def snapshot(
        self, path: str | os.PathLike[str] | None = None, *, reason: str = "manual"
    ) -> Any: ...

    def snapshot_on_error(
        self,
        exc: BaseException,
        path: str | os.PathLike[str] | None = None,
        *,
        min_interval: float | None = None,
    ) -> BaseException: ...

    def stats(self) -> dict[str, int]: ...

    def trigger(self, name: str, detail: str = "") -> bool: ...


class NoFlightRecorder:
    """What :func:`global_flight_recorder` returns when no recorder runs (the default): every
    method does nothing, so code written for a running recorder works unchanged without one.

    ``raise global_flight_recorder().snapshot_on_error(exc)`` raises ``exc`` itself; ``snapshot()``
    writes nothing and returns ``None`` (as dspy-go's wrapper does when not running); ``enabled``
    is ``False``. Nothing is recorded: start a recorder with ``[flight_recorder] enabled = true``
    or ``llmlog_engine_flight.init_global_flight_recorder``.
    """

    __slots__ = ()

    @property
    def enabled(self) -> bool:
        """Always ``False``."""
        return False

    def start(self) -> None:
        """Does nothing (this object cannot record)."""

    def stop(self) -> None:
        """Does nothing."""

    def record(self, kind: str, **data: Any) -> None:
        """Does nothing."""

    def record_entry(self, entry: LogEntry) -> None:
        """Does nothing."""

    def record_trace_event(self, event: TraceEvent) -> None:
        """Does nothing."""

    def record_exception(self, exc: BaseException, where: str = "") -> None:
        """Does nothing."""

    def write_to(self, fileobj: IO[bytes], *, reason: str = "manual") -> int:
        """Writes nothing; returns 0."""
        return 0

    def snapshot(
        self, path: str | os.PathLike[str] | None = None, *, reason: str = "manual"
    ) -> None:
        """Writes nothing; returns ``None``."""
        return

    def snapshot_on_error(
        self,
        exc: BaseException,
        path: str | os.PathLike[str] | None = None,
        *,
        min_interval: float | None = None,
    ) -> BaseException:
        """Returns ``exc``, for ``raise``."""
        return exc

    def stats(self) -> dict[str, int]:
        """No counters: an empty dict."""
        return {}

    def trigger(self, name: str, detail: str = "") -> bool:
        """No snapshot: ``False``."""
        return False

    def __repr__(self) -> str:
        return "<NoFlightRecorder: no flight recorder runs>"


#: The one :class:`NoFlightRecorder`.
NO_FLIGHT_RECORDER = NoFlightRecorder()


def global_flight_recorder() -> FlightRecorderAPI:
    """The global recorder; when none runs (no engine, nothing enabled, a failure to start),
    :data:`NO_FLIGHT_RECORDER`, whose methods do nothing: ``raise
    global_flight_recorder().snapshot_on_error(exc)`` is safe either way. Whether one runs:
    ``global_flight_recorder().enabled``; the recorder itself or ``None``:
    :func:`running_flight_recorder`."""
    recorder = state.flight_recorder
    return recorder if recorder is not None else NO_FLIGHT_RECORDER


def running_flight_recorder() -> FlightRecorderAPI | None:
    """The global recorder, or ``None`` when there is none (for code that attaches to it)."""
    return state.flight_recorder


def replace_global_flight_recorder(
    recorder: FlightRecorderAPI | None, *, only_if_unset: bool = False
) -> FlightRecorderAPI | None:
    """Make ``recorder`` the global one (the flight-recorder engine calls this); returns the
    previous one, which the caller stops. With ``only_if_unset``, a global recorder already set
    stays, and is returned."""
    with state.flight_recorder_lock:
        previous = state.flight_recorder
        if not (only_if_unset and previous is not None):
            state.flight_recorder = recorder
    return previous
