"""The ``[flight_recorder]`` table of ``llmlog.toml`` (light: read at every ``configure()``)."""

from __future__ import annotations

from typing import Any

import attrs

from llmlog.ext import Bytes, Seconds, Severity

__all__ = ["THRESHOLD_TRIGGERS", "TRIGGERS", "FlightRecorderOptions", "describe_triggers"]

#: Snapshot triggers named in ``triggers``: ``fatal`` (a FATAL entry), ``unhandled`` (uncaught
#: exceptions in the main thread, other threads and asyncio tasks), ``signal`` (``signal_name``,
#: SIGUSR1 by default), ``exit`` (interpreter exit), ``budget`` (a ``[budgets]`` limit crossed)
#: and ``stdlib_error`` (an ERROR record from a captured standard-library logger). The triggers
#: with a threshold (``slow_span``, ``costly_call``, ``error_burst``) are on when their option
#: is set; a predicate registered in code (``llmlog_engine_flight.add_trigger``) when registered.
TRIGGERS = ("fatal", "unhandled", "signal", "exit", "budget", "stdlib_error")
#: The triggers on when their threshold is set.
THRESHOLD_TRIGGERS = ("slow_span", "costly_call", "error_burst")


def _positive(instance: object, attribute: Any, value: float) -> None:
    if value <= 0:
        raise ValueError(f"must be more than 0, got {value}")


def _non_negative(instance: object, attribute: Any, value: float) -> None:
    if value < 0:
        raise ValueError(f"must be 0 or more, got {value}")


def _thresholds(instance: object, attribute: Any, value: dict[str, int]) -> None:
    for pattern, limit in value.items():
        if limit < 0:
            raise ValueError(f"{pattern!r}: must be 0 or more, got {limit}")


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
    #: Automatic snapshots: ``fatal``, ``unhandled``, ``signal``, ``exit``, ``budget``,
    #: ``stdlib_error``.
    triggers: list[str] = attrs.field(factory=lambda: ["fatal", "budget"], validator=_triggers)
    #: The signal of the ``signal`` trigger.
    signal: str = "SIGUSR1"
    #: Automatic and on-error snapshots at most this often for each trigger, in seconds.
    min_snapshot_interval: Seconds = attrs.field(default=30.0, validator=_non_negative)
    #: The ``slow_span`` trigger: a snapshot when a span whose name matches a pattern
    #: (``fnmatch``) takes at least that many milliseconds: ``{"retrieve*" = 2000}``.
    slow_spans: dict[str, int] = attrs.field(factory=dict, validator=_thresholds)
    #: The ``costly_call`` trigger: a snapshot when one LLM call costs at least this many USD
    #: (0: off),
    call_cost: float = attrs.field(default=0.0, validator=_non_negative)
    #: ... or uses at least this many tokens (0: off).
    call_tokens: int = attrs.field(default=0, validator=_non_negative)
    #: The ``error_burst`` trigger: a snapshot when this many errors (``error`` trace events and
    #: spans ended by an error; one exception unwinding through nested spans counts once) happen
    #: within ``error_window`` (0: off).
    error_burst: int = attrs.field(default=0, validator=_non_negative)
    #: The window of ``error_burst``, in seconds.
    error_window: Seconds = attrs.field(default=60.0, validator=_positive)
    #: Record garbage-collector pauses.
    gc_pauses: bool = False
    #: Seal the open chunk after this many events.
    chunk_events: int = attrs.field(default=1024, validator=_positive)
    #: ... or this many raw bytes.
    chunk_bytes: Bytes = attrs.field(default=1 << 20, validator=_positive)
    #: ... or this many seconds.
    chunk_period: Seconds = attrs.field(default=1.0, validator=_positive)


def describe_triggers(
    triggers: Any,
    slow_spans: Any,
    call_cost: float,
    call_tokens: int,
    error_burst: int,
    error_window: float,
    code: Any = (),
) -> list[str]:
    """The triggers that snapshot automatically, each with its threshold where it has one (what
    ``llmlog flight list`` prints)."""
    found = [t for t in TRIGGERS if t in triggers]
    found += [f"slow_span ({p} >= {ms} ms)" for p, ms in dict(slow_spans).items()]
    if call_cost:
        found.append(f"costly_call (>= {call_cost:g} USD)")
    if call_tokens:
        found.append(f"costly_call (>= {call_tokens} tokens)")
    if error_burst:
        found.append(f"error_burst ({error_burst} in {error_window:g} s)")
    found += [f"{name} (code)" for name in code]
    return found
