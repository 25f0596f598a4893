"""The contracts a plugin implements: :class:`Output`, :class:`Formatter`, :class:`Integration`
and :class:`TraceSink`.

Modelled on Go's ``slog.Handler``: the core does the level check, builds one complete
:class:`~llmlog.LogEntry` (context resolved, secrets redacted, sizes capped) and hands it to each
output whose level admits it. Outputs never see filtered entries, never raise into the application
(the core catches, reports once and counts), and are called from any thread.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from pathlib import Path

import attrs

from llmlog.records import LogEntry, TraceEvent
from llmlog.severity import Severity

__all__ = ["BuildContext", "Formatter", "Integration", "Output", "TraceSink"]


class Formatter(abc.ABC):
    """Turns a :class:`~llmlog.LogEntry` into one line of text.

    Implementations must be safe to call from several threads at once (keep no per-call state on
    ``self``) and must not raise: fall back to :data:`llmlog.serialize.serializer` for values they do
    not know.
    """

    #: Optional: a callable taking an entry as its parts, positionally in
    #: :class:`~llmlog.LogEntry` field order (``time, severity, message, ..., exception``), that
    #: returns exactly ``format_bytes(entry) + b"\n"`` for the entry those parts make, built once
    #: when the formatter is made. Outputs that write bytes (the ``file`` output) use it to write
    #: an entry without a ``LogEntry`` (see :attr:`Output.write_parts`). ``None``: outputs call
    #: :meth:`format_bytes`. A subclass that overrides how lines are made must set it to ``None``
    #: or to a function of its own (the built-in formatters only set it for their own class).
    line_from_parts: Callable[..., bytes] | None = None

    @abc.abstractmethod
    def format(self, entry: LogEntry) -> str:
        """Return the entry as one line, without the trailing newline."""

    def format_bytes(self, entry: LogEntry) -> bytes:
        """Return the entry as UTF-8 bytes, without the trailing newline.

        Binary outputs (files) call this. Override it when the formatter produces bytes natively
        (the JSON formatter does, through orjson) to skip a decode/encode round trip.
        """
        return self.format(entry).encode("utf-8", "backslashreplace")


class Output(abc.ABC):
    """A destination for log entries.

    ``level`` is set by the core from the configuration; the core only calls :meth:`write` for
    entries at or above it. :meth:`write` is called from whichever thread logged the entry; make it
    safe for that (a single ``write()`` of a whole line to a stream needs no lock of its own).
    """

    level: Severity = Severity.DEBUG
    #: The instance name from the configuration (``[outputs.NAME]``); set by the core.
    name: str = ""
    #: Optional: a callable taking an entry as its parts, positionally in
    #: :class:`~llmlog.LogEntry` field order (``time, severity, message, ..., exception``). For an
    #: entry that only this output takes (its level is below every other output's), the logger
    #: calls it instead of building a ``LogEntry`` nobody else would see: the flight recorder
    #: takes DEBUG entries this way while every other output shows INFO and up. ``None``: the
    #: core always calls :meth:`write`.
    write_parts: Callable[..., None] | None = None

    @abc.abstractmethod
    def write(self, entry: LogEntry) -> None:
        """Deliver one entry. May raise; the core reports the failure once and counts the rest."""

    def flush(self) -> None:  # noqa: B027 - optional hook with a no-op default
        """Push buffered entries to their destination. Called at exit, on FATAL and on demand."""

    def close(self) -> None:
        """Flush and release resources. Must be idempotent."""
        self.flush()

    def stats(self) -> dict[str, int]:
        """Counters worth showing in ``llmlog.stats()`` (lines written, errors...); none by default."""
        return {}


class Integration(abc.ABC):
    """Something an integration plugin switches on and off: instrumentation of another library,
    an exporter. Built from its ``[integrations.NAME]`` options by ``configure()``."""

    @abc.abstractmethod
    def start(self) -> None:
        """Switch it on. Called once per configuration that enables it; must not raise into the
        application for anything but a programming error."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Switch it off and leave the other library as :meth:`start` found it; idempotent."""


class TraceSink:
    """A destination for trace events, in the shape of OpenTelemetry's ``SpanProcessor``.

    Every :class:`~llmlog.TraceEvent` of every trace session and of every session-less span is
    handed to each sink added with :func:`llmlog.tracesinks.add_sink`, in the order they were
    added, then to the session itself (its trace file). The flight recorder and the OTLP exporter
    are sinks; so is each :class:`~llmlog.TraceSession`, which writes only its own events.

    The contract, as OpenTelemetry's:

    * :meth:`on_event` runs on the application's thread, for each event, synchronously: make it
      cheap (queue the event; do the slow part on a thread of your own). It may be called from
      several threads at once. The event is shared with the other sinks: treat it as read-only.
      An exception from it is caught by the fan-out, reported once per sink on stderr and counted
      (:func:`llmlog.tracesinks.failures`); the other sinks still get the event and the
      application never sees it.
    * :meth:`flush` pushes out what the sink holds (``force_flush``), within ``timeout``.
    * :meth:`shutdown` is called once when the sink is retired: ``llmlog.shutdown()`` and
      interpreter exit flush and then shut down every sink still added (and remove them).
      Release threads and files there; it must be idempotent. Events that arrive after it (a
      late span on another thread) must be ignored, not raise.

    A plain class, not an :class:`abc.ABC` as the other contracts are: :class:`~llmlog.TraceSession`
    is a sink, and the tracing hot path's ``isinstance(session, TraceSession)`` must stay a plain
    type check (an ABC's costs several times more).
    """

    #: A name for diagnostics ("the trace sink 'otlp' failed"); the class name if empty.
    name: str = ""

    def on_event(self, event: TraceEvent) -> None:
        """Take one trace event. Called on the application's thread; may raise (see above).
        Override it: by default it raises :class:`NotImplementedError`."""
        raise NotImplementedError(f"{type(self).__name__} does not implement on_event")

    def flush(self, timeout: float | None = None) -> bool:
        """Push out everything taken so far; ``False`` if that did not finish within ``timeout``
        seconds. ``None`` means the sink's own bound, which must be finite: exit must not hang on
        a dead collector. Nothing to push by default (``True``)."""
        return True

    def shutdown(self) -> None:
        """Stop for good: flush what is left and release threads and files. Idempotent; nothing
        by default."""


@attrs.frozen
class BuildContext:
    """What every component factory gets besides its options: ``factory(options, context)`` is
    the one signature of every kind (outputs, formatters, recorder backends, trace formats'
    writers, integrations).

    :param name: the instance name from the configuration (``console`` in ``[outputs.console]``,
        ``dspy`` in ``[integrations.dspy]``, the format's name for a trace writer).
    :param formatter: for outputs that take one, the built formatter (``None`` otherwise).
    :param config_path: the configuration file the component was declared in, if any; resolve
        relative paths against its directory.
    :param path: for a trace format's writer, the trace file to write (or a directory to write
        a new file in); ``None`` for the other kinds.
    """

    name: str
    formatter: Formatter | None = None
    config_path: Path | None = None
    path: Path | None = None

    def trace_path(self) -> Path:
        """:attr:`path`, for a trace writer's factory; ``ValueError`` when none was given."""
        if self.path is None:
            raise ValueError(f"trace format {self.name!r} needs a file or directory to write to")
        return self.path
