"""The contracts a plugin implements: :class:`Output` and :class:`Formatter`.

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

from llmlog.records import LogEntry
from llmlog.severity import Severity

__all__ = ["BuildContext", "Formatter", "Integration", "Output"]


class Formatter(abc.ABC):
    """Turns a :class:`~llmlog.LogEntry` into one line of text.

    Implementations must be safe to call from several threads at once (keep no per-call state on
    ``self``) and must not raise: fall back to :data:`llmlog.serialize.serializer` for values they do
    not know.
    """

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


@attrs.frozen
class BuildContext:
    """What a component factory gets besides its options.

    :param name: the instance name from the configuration (``console`` in ``[outputs.console]``).
    :param formatter: for outputs that take one, the built formatter (``None`` otherwise).
    :param config_path: the configuration file the component was declared in, if any; resolve
        relative paths against its directory.
    """

    name: str
    formatter: Formatter | None = None
    config_path: Path | None = None
