"""The flight recorder's user-facing API: annotations and the running recorder.

``trace_region``, ``trace_task`` and ``trace_log`` mark the timeline and cost next to nothing
when no recorder runs; ``global_flight_recorder()`` is the running recorder or a no-op one. The
recorder itself (ring, triggers, snapshots, ``llmlog flight ...``, the ``[flight_recorder]``
table) is the ``llmlog-engine-flight`` plugin: see ``docs/flight-recorder.md``.
"""

from llmlog.flight.annotations import trace_log, trace_region, trace_task
from llmlog.flight.running import (
    NO_FLIGHT_RECORDER,
    FlightRecorderAPI,
    NoFlightRecorder,
    global_flight_recorder,
    running_flight_recorder,
)

__all__ = [
    "NO_FLIGHT_RECORDER",
    "FlightRecorderAPI",
    "NoFlightRecorder",
    "global_flight_recorder",
    "running_flight_recorder",
    "trace_log",
    "trace_region",
    "trace_task",
]
