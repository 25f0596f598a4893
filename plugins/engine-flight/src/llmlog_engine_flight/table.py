"""The ``[flight_recorder]`` table: what ``configure()`` does with it.

``check`` finds what would keep the recorder from starting (a signal that does not exist or
cannot be caught, a backend that cannot be built, options the recorder refuses) without starting
anything; ``start`` starts the configured recorder, makes it the global one and attaches it to
logging, and returns what retiring the configuration closes.
"""

from __future__ import annotations

import signal
from typing import TYPE_CHECKING, Any

from llmlog.ext import (
    BuildContext,
    ConfigError,
    OptionError,
    TableContext,
    running_flight_recorder,
    shown,
)
from llmlog_engine_flight.options import FlightRecorderOptions

if TYPE_CHECKING:
    from llmlog_engine_flight.recorder import FlightRecorder

__all__ = ["check", "start"]

#: Signals no handler can be installed for.
_UNCATCHABLE = frozenset(
    getattr(signal, name) for name in ("SIGKILL", "SIGSTOP") if hasattr(signal, name)
)
_WHAT = "cannot start the flight recorder"

#: The recorder the configuration in force started (``None``: none, or one started through the
#: API, which configuration leaves alone).
_configured: FlightRecorder | None = None


def _line(message: str, path: str) -> str:
    return f"{_WHAT}: {message} @ {path}"


def _failure(exc: BaseException, path: str) -> str:
    if isinstance(exc, OptionError):
        return _line(exc.message, f"{path}.{exc.key}")
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, OSError) and exc.strerror:
        detail = exc.strerror + (f": {exc.filename}" if exc.filename else "")
    return _line(detail, path)


def _backend(context: TableContext) -> Any:
    spec = context.component
    return spec.component.factory(
        spec.options, BuildContext("flight_recorder", None, context.config_path)
    )


def _new_recorder(options: FlightRecorderOptions, context: TableContext, backend: Any) -> Any:
    # The recorder (signal, gc, sockets...) is imported when a configuration asks for one.
    from llmlog_engine_flight.recorder import FlightRecorder, default_snapshot_dir

    return FlightRecorder(
        options.min_age,
        options.max_bytes,
        backend,
        level=options.level,
        snapshot_dir=context.resolve(options.snapshot_dir, default_snapshot_dir()),
        triggers=options.triggers,
        signal_name=options.signal,
        min_snapshot_interval=options.min_snapshot_interval,
        gc_pauses=options.gc_pauses,
        slow_spans=options.slow_spans,
        call_cost=options.call_cost,
        call_tokens=options.call_tokens,
        error_burst=options.error_burst,
        error_window=options.error_window,
        chunk_events=options.chunk_events,
        chunk_bytes=options.chunk_bytes,
        chunk_period=options.chunk_period,
    )


def check(options: FlightRecorderOptions, context: TableContext) -> None:
    """Raise :class:`~llmlog.ConfigError` with every reason an enabled recorder would not start.

    Always: the signal, and the backend's own ``check``; in a dry run (``llmlog config check``)
    also the backend built and the recorder constructed, never started (no thread, no hook)."""
    spec = context.component
    if not options.enabled or spec is None:
        return
    errors = []
    number = getattr(signal, options.signal, None) if options.signal.startswith("SIG") else None
    if "signal" in options.triggers and not isinstance(number, signal.Signals):
        errors.append(
            _line(
                f"unknown signal {shown(options.signal)} (expected a name such as SIGUSR1)",
                "$.flight_recorder.signal",
            )
        )
    elif "signal" in options.triggers and number in _UNCATCHABLE:
        errors.append(_line(f"{options.signal} cannot be caught", "$.flight_recorder.signal"))
    try:
        if spec.component.check is not None:
            spec.component.check(
                spec.options, BuildContext("flight_recorder", None, context.config_path)
            )
        backend = _backend(context) if context.dry_run else None
    except Exception as exc:
        raise ConfigError("", [*errors, _failure(exc, "$.flight_recorder.backend")]) from None
    if backend is not None and not errors:
        try:
            _new_recorder(options, context, backend)  # constructed, never started
        except Exception as exc:
            errors.append(_failure(exc, "$.flight_recorder"))
    if errors:
        raise ConfigError("", errors)


class _Started:
    """Closed when the configuration that started ``recorder`` is retired. The recorder stays
    global until the next configuration decides (it may snapshot at exit, after logging is shut
    down); one no longer global is stopped."""

    def __init__(self, recorder: FlightRecorder) -> None:
        self.recorder = recorder

    def close(self) -> None:
        if running_flight_recorder() is not self.recorder:
            self.recorder.stop()


def start(options: FlightRecorderOptions, context: TableContext) -> _Started | None:
    """Start the configured recorder and make it global (the previous one stops), or, when the
    table does not enable one, stop the recorder a previous configuration started; a recorder
    started through the API keeps running and is attached to this configuration's logging."""
    global _configured
    previous, _configured = _configured, None
    running = running_flight_recorder()
    if running is None and not (options.enabled and context.component is not None):
        return None  # nothing to start or stop: the recorder module is not even imported
    from llmlog_engine_flight.recorder import (
        FlightRecorder,
        attach_to_logging,
        set_global_flight_recorder,
    )

    if options.enabled and context.component is not None:
        recorder = _new_recorder(options, context, _backend(context))
        recorder.start()
        set_global_flight_recorder(recorder)
        attach_to_logging(recorder)
        _configured = recorder
        return _Started(recorder)
    if running is not None and running is previous:
        set_global_flight_recorder(None)  # the previous configuration's; this one does not want it
    elif isinstance(running, FlightRecorder):
        attach_to_logging(running)
    return None
