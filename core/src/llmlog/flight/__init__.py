"""The flight recorder: an always-on ring of recent activity, dumped when something goes wrong.

See :mod:`llmlog.flight.recorder` for what is recorded and how snapshots look, and
``docs/flight-recorder.md`` for the guide.
"""

from llmlog.flight.annotations import trace_log, trace_region, trace_task
from llmlog.flight.options import FlightRecorderOptions
from llmlog.flight.recorder import (
    FlightRecorder,
    NoFlightRecorder,
    RecorderOutput,
    SnapshotInProgress,
    global_flight_recorder,
    init_global_flight_recorder,
    running_flight_recorder,
)

__all__ = [
    "FlightRecorder",
    "FlightRecorderOptions",
    "NoFlightRecorder",
    "RecorderOutput",
    "SnapshotInProgress",
    "global_flight_recorder",
    "init_global_flight_recorder",
    "running_flight_recorder",
    "trace_log",
    "trace_region",
    "trace_task",
]
