"""Registered components and the ``register`` callbacks the hooks receive."""

from __future__ import annotations

import argparse
import enum
from collections.abc import Callable
from typing import Any, Protocol

import attrs

__all__ = [
    "CommandRegister",
    "Component",
    "ComponentKind",
    "ComponentRegister",
    "OutputRegister",
    "SerializerRegister",
]


class ComponentKind(enum.StrEnum):
    """The kinds of component a plugin can provide; values are the hook name suffixes."""

    OUTPUT = "outputs"
    FORMATTER = "formatters"
    RECORDER = "recorders"
    TRACE_FORMAT = "trace_formats"

    @property
    def singular(self) -> str:
        """``output``, ``formatter``, ``recorder`` or ``trace format``: for messages."""
        return {"outputs": "output", "formatters": "formatter", "recorders": "recorder"}.get(
            self.value, "trace format"
        )


@attrs.frozen
class Component:
    """One registered component: what configuration can select by ``name``."""

    kind: ComponentKind
    name: str
    factory: Callable[[Any, Any], Any] = attrs.field(eq=False)
    plugin: str
    options: type | None = None
    description: str = ""
    accepts_formatter: bool = False
    default_formatter: str | None = None


@attrs.frozen
class Command:
    """A CLI subcommand registered by a plugin."""

    name: str
    run: Callable[[argparse.Namespace], int | None] = attrs.field(eq=False)
    plugin: str
    help: str = ""
    arguments: Callable[[argparse.ArgumentParser], None] | None = attrs.field(
        default=None, eq=False
    )


class ComponentRegister(Protocol):
    """The ``register`` callback of formatter, recorder and trace-format hooks."""

    def __call__(
        self,
        name: str,
        factory: Callable[[Any, Any], Any],
        *,
        options: type | None = None,
        description: str = "",
    ) -> None: ...


class OutputRegister(Protocol):
    """The ``register`` callback of ``llmlog_register_outputs``."""

    def __call__(
        self,
        name: str,
        factory: Callable[[Any, Any], Any],
        *,
        options: type | None = None,
        description: str = "",
        accepts_formatter: bool = False,
        default_formatter: str | None = None,
    ) -> None: ...


class SerializerRegister(Protocol):
    """The ``register`` callback of ``llmlog_register_serializers``."""

    def __call__(self, type_: type, function: Callable[[Any], Any]) -> None: ...


class CommandRegister(Protocol):
    """The ``register`` callback of ``llmlog_register_commands``."""

    def __call__(
        self,
        name: str,
        run: Callable[[argparse.Namespace], int | None],
        *,
        help: str = "",
        arguments: Callable[[argparse.ArgumentParser], None] | None = None,
    ) -> None: ...
