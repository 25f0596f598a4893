"""The contracts a plugin implements: :class:`Output`, :class:`Formatter`, :class:`Integration`
and :class:`TraceSink`.

Modelled on Go's ``slog.Handler``: the core does the level check, builds one complete
:class:`~llmlog.LogEntry` (context resolved, secrets redacted, sizes capped) and hands it to each
output whose level admits it. Outputs never see filtered entries, never raise into the application
(the core catches, reports once and counts), and are called from any thread.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

from llmlog.records import LogEntry, TraceEvent
from llmlog.severity import Severity

__all__ = ["BuildContext", "EntryCode", "Formatter", "Integration", "Output", "TraceSink"]


@attrs.frozen
class EntryCode:
    """Python source that writes the common log entry, which the core compiles at configure time
    into one flat function per severity (with the level check, context, redaction and caller
    inline), the way ``attrs`` and ``dataclasses`` generate their methods: one frame per entry
    instead of a call per layer. See :attr:`Output.entry_code`.

    The *common entry* is the one the generated function takes: no context fields, trace, span
    (unless the code has :attr:`line_traced`), model, token usage, latency, cost or exception; a
    message (a ``str``) the sanitizer found clean; fields (the dispatcher's default fields, then a
    bound logger's, then the call's, merged as the generic path merges them) that are a ``dict``
    with ``str`` keys known not to be secret nor special keywords, and values that are strings the
    sanitizer found clean, ``int``, ``float``, ``bool`` or ``None``. Every other entry takes the generic path
    (:meth:`Output.write` or :attr:`Output.write_parts`), which stays the reference: the code
    must write exactly what that path writes for the same entry.

    The statements see these locals: ``ns`` (the time, ``time.time_ns()``), ``message``,
    ``file`` (the caller's base name, never empty), ``line``, ``function`` (its qualified name),
    ``fields`` and ``logger`` (the logger's name, or ``""``). Every string among them (message,
    file, function, logger name, field keys and string values) is printable ASCII: nothing needs
    escaping, only quoting where a format quotes. The severity is fixed: the code is asked for one
    severity at a time.
    """

    #: Statements that make the entry's bytes (into locals ``write`` reads). Nothing may have
    #: been written yet: ``return True`` (or an exception) hands the entry to the generic path.
    line: str = ""
    #: ``line`` for an entry logged inside a trace's context (a trace or span id, no context
    #: fields, model or token usage): it also sees ``trace_id`` and ``span_id`` (each ``None`` or
    #: a printable ASCII ``str``, written when true, as the generic path does). ``None``: such an
    #: entry takes the generic path.
    line_traced: str | None = None
    #: Statements that write the bytes; an exception here is reported and counted as a failing
    #: output's (the entry is not written twice).
    write: str = ""
    #: The globals the statements use; names from several parts must not clash (prefix them).
    namespace: Mapping[str, Any] = attrs.field(factory=dict)
    #: Statements run once, when the function is built, around it: the state it keeps.
    setup: str = ""
    #: Names ``setup`` binds that the statements rebind (declared ``nonlocal``).
    state: tuple[str, ...] = ()
    #: Field names the code does not handle (a formatter's own keys): an entry with a field of
    #: one of these names takes the generic path.
    reserved: frozenset[str] = frozenset()
    #: Whether ``line`` raises (so the entry takes the generic path) for a message that is not
    #: exactly a ``str`` or a field value that is not exactly a ``str``, ``int``, ``float``,
    #: ``bool`` or ``None`` (a subclass included), as ``orjson.dumps`` does with
    #: ``OPT_PASSTHROUGH_SUBCLASS`` and no ``default``. The generated function then leaves out
    #: its own type tests: a value is one set lookup, and a number one more test.
    types_checked: bool = False

    def then(self, other: EntryCode) -> EntryCode:
        """This code followed by ``other`` (a formatter's line, then a sink's write).

        :raises ValueError: when their namespaces bind one name to different objects.
        """
        clash = [
            name
            for name in self.namespace.keys() & other.namespace.keys()
            if self.namespace[name] is not other.namespace[name]
        ]
        if clash:
            raise ValueError(f"entry code namespaces clash on {sorted(clash)}")
        # Inside a trace, each part's traced line; a part making no line (a sink's write) has
        # nothing to add, one that makes its line without trace ids makes the whole untraced.
        traced = [
            part.line_traced
            if part.line_traced is not None
            else ("" if not part.line.strip() else None)
            for part in (self, other)
        ]
        return EntryCode(
            line=f"{self.line}\n{other.line}",
            line_traced=None if None in traced else f"{traced[0]}\n{traced[1]}",
            write=f"{self.write}\n{other.write}",
            namespace={**self.namespace, **other.namespace},
            setup=f"{self.setup}\n{other.setup}",
            state=(*self.state, *other.state),
            reserved=self.reserved | other.reserved,
            types_checked=self.types_checked or other.types_checked,
        )


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
    #: Optional: ``line_code(severity)`` returns an :class:`EntryCode` whose ``line`` makes the
    #: common entry's line as ``data``, exactly ``line_from_parts``' bytes, for outputs that
    #: write bytes to build their :attr:`Output.entry_code` from. Same rule for subclasses as
    #: ``line_from_parts``.
    line_code: Callable[[Severity], EntryCode | None] | None = None

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
    #: Optional: ``entry_code(severity)`` returns the :class:`EntryCode` that writes the common
    #: entry of that severity (or ``None``). When every output taking a severity offers one, the
    #: core compiles them into one flat function that the logging methods call (each code's
    #: names renamed apart, every line made before any write). Build it once per
    #: call; the generated function is rebuilt at each configuration.
    entry_code: Callable[[Severity], EntryCode | None] | None = None

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
