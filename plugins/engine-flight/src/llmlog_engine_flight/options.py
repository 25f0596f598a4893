"""The ``[flight_recorder]`` table of ``llmlog.toml`` (light: read at every ``configure()``)."""

from __future__ import annotations

from typing import Any

import attrs

from llmlog.ext import Bytes, Seconds, Severity

__all__ = ["TRIGGERS", "FlightRecorderOptions"]

#: Snapshot triggers: ``fatal`` (a FATAL entry), ``unhandled`` (uncaught exceptions in the main
#: thread, other threads and asyncio tasks), ``signal`` (``signal_name``, SIGUSR1 by default) and
#: ``exit`` (interpreter exit).
TRIGGERS = ("fatal", "unhandled", "signal", "exit")


def _positive(instance: object, attribute: Any, value: float) -> None:
    if value <= 0:
        raise ValueError(f"must be more than 0, got {value}")


def _non_negative(instance: object, attribute: Any, value: float) -> None:
    if value < 0:
        raise ValueError(f"must be 0 or more, got {value}")


def _triggers(instance: object, attribute: attrs.Attribute[list[str]], value: list[str]) -> None:
    unknown = [t for t in value if t not in TRIGGERS]
    if unknown:
        raise ValueError(f"unknown trigger {unknown[0]!r}; expected some of {', '.join(TRIGGERS)}")


@attrs.frozen(kw_only=True)
class FlightRecorderOptions:
    """Options of the flight recorder (``backend`` is read separately: a name or a table)."""

    #: Run the flight recorder.
    enabled: bool = False
    #: Seconds of history kept at least, unless ``max_bytes`` is reached first.
    min_age: Seconds = attrs.field(default=10.0, validator=_positive)
    #: Bytes of stored history kept at most (compressed size for ``zstd``); wins over ``min_age``.
    max_bytes: Bytes = attrs.field(default=10 << 20, validator=_positive)
    #: Lowest severity of log entries recorded, independent of every output's level.
    level: Severity = Severity.DEBUG
    #: Where snapshots go; default: ``flight`` in the platformdirs user state directory.
    snapshot_dir: str = ""
    #: Automatic snapshots: ``fatal``, ``unhandled``, ``signal``, ``exit``.
    triggers: list[str] = attrs.field(factory=lambda: ["fatal"], validator=_triggers)
    #: The signal of the ``signal`` trigger.
    signal: str = "SIGUSR1"
    #: Automatic and on-error snapshots at most this often for each trigger, in seconds.
    min_snapshot_interval: Seconds = attrs.field(default=30.0, validator=_non_negative)
    #: Record garbage-collector pauses.
    gc_pauses: bool = False
    #: Seal the open chunk after this many events.
    chunk_events: int = attrs.field(default=1024, validator=_positive)
    #: ... or this many raw bytes.
    chunk_bytes: Bytes = attrs.field(default=1 << 20, validator=_positive)
    #: ... or this many seconds.
    chunk_period: Seconds = attrs.field(default=1.0, validator=_positive)
