"""llmlog's flight-recorder engine: an always-on ring of recent activity, dumped when something
goes wrong.

The recorder (:mod:`.recorder`: what is recorded, triggers, snapshots), its ring
(:mod:`.ring`), the ``memory`` backend, reading snapshots back (:mod:`.snapshot`, checked against
:mod:`.schema`), ``llmlog flight view`` (:mod:`.view`) and the Chrome export (:mod:`.chrome`), the
``[flight_recorder]`` table (:mod:`.table`) and the ``llmlog flight`` command (:mod:`.commands`).
The annotations and the running recorder, which cost nothing without this engine, are core's
:mod:`llmlog.flight`. See ``docs/flight-recorder.md``.
"""

from typing import TYPE_CHECKING, Any

from llmlog.ext import global_flight_recorder, running_flight_recorder
from llmlog_engine_flight.options import FlightRecorderOptions

if TYPE_CHECKING:
    from llmlog_engine_flight.recorder import (
        FlightRecorder,
        RecorderOutput,
        SnapshotInProgress,
        add_trigger,
        code_triggers,
        init_global_flight_recorder,
        remove_trigger,
        set_global_flight_recorder,
    )
    from llmlog_engine_flight.ring import RecorderBackend

#: Where each lazily imported name lives: the plugin module is imported at every configure(), the
#: recorder (signal, gc, sockets, the ring) only when a recorder is wanted.
_LAZY = {
    "FlightRecorder": "recorder",
    "RecorderOutput": "recorder",
    "SnapshotInProgress": "recorder",
    "add_trigger": "recorder",
    "code_triggers": "recorder",
    "remove_trigger": "recorder",
    "init_global_flight_recorder": "recorder",
    "set_global_flight_recorder": "recorder",
    "RecorderBackend": "ring",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


__all__ = [
    "FlightRecorder",
    "FlightRecorderOptions",
    "RecorderBackend",
    "RecorderOutput",
    "SnapshotInProgress",
    "add_trigger",
    "code_triggers",
    "global_flight_recorder",
    "init_global_flight_recorder",
    "remove_trigger",
    "running_flight_recorder",
    "set_global_flight_recorder",
]
