"""Registers the flight-recorder engine: the ``memory`` backend, the ``[flight_recorder]`` table
and the ``llmlog flight`` command."""

from __future__ import annotations

from typing import Any

from llmlog import hookimpl
from llmlog.ext import (
    CommandRegister,
    ComponentChoice,
    ComponentKind,
    ComponentRegister,
    TableRegister,
)
from llmlog_engine_flight import commands, table
from llmlog_engine_flight.memory import MemoryBackend
from llmlog_engine_flight.options import FlightRecorderOptions


def _memory(options: Any, context: Any) -> MemoryBackend:
    return MemoryBackend()


@hookimpl
def llmlog_register_recorders(register: ComponentRegister) -> None:
    register(
        "memory",
        _memory,
        description="Flight-recorder chunks as plain JSON Lines in memory (the default).",
    )


@hookimpl
def llmlog_register_tables(register: TableRegister) -> None:
    register(
        "flight_recorder",
        FlightRecorderOptions,
        description="The flight recorder: an always-on ring of recent activity.",
        component=ComponentChoice(
            "backend", ComponentKind.RECORDER, "memory", "flight-recorder backend"
        ),
        check=table.check,
        start=table.start,
    )


@hookimpl
def llmlog_register_commands(register: CommandRegister) -> None:
    register(
        "flight",
        commands.run,
        help="read flight-recorder snapshots",
        arguments=commands.arguments,
    )
