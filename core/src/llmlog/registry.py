"""Registered components and the ``register`` callbacks the hooks receive."""

from __future__ import annotations

import argparse
import enum
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol, TextIO, overload

import attrs

__all__ = [
    "ArgumentAdder",
    "CommandRegister",
    "Component",
    "ComponentChoice",
    "ComponentKind",
    "ComponentRegister",
    "OutputRegister",
    "PriceUsage",
    "Reprice",
    "SerializerRegister",
    "Table",
    "TableContext",
    "TableRegister",
    "TraceFormat",
    "TraceFormatRegister",
    "TraceFormatSupport",
    "ViewArguments",
]


class ComponentKind(enum.StrEnum):
    """The kinds of component a plugin can provide; values are the hook name suffixes."""

    OUTPUT = "outputs"
    FORMATTER = "formatters"
    RECORDER = "recorders"
    TRACE_FORMAT = "trace_formats"
    INTEGRATION = "integrations"
    PRICING = "pricing"

    @property
    def singular(self) -> str:
        """``output``, ``formatter``, ``recorder``, ``trace format``, ``integration`` or
        ``price table``."""
        return {
            "outputs": "output",
            "formatters": "formatter",
            "recorders": "recorder",
            "trace_formats": "trace format",
            "integrations": "integration",
            "pricing": "price table",
        }[self.value]


class ArgumentAdder(Protocol):
    """What a trace format declares its ``llmlog view`` flags on: ``add_argument`` as
    :meth:`argparse.ArgumentParser.add_argument` takes it (an :class:`argparse.ArgumentParser`
    is one)."""

    def add_argument(self, *name_or_flags: str, **kwargs: Any) -> Any: ...


#: ``view_arguments(parser)``: a trace format adds the ``llmlog view`` flags of its own.
ViewArguments = Callable[[ArgumentAdder], None]

#: ``price(usage, provider, model, time_ns)``: what ``llmlog reprice`` gives a format's
#: ``reprice``: prices one call's ``usage`` (an ``llm_call`` event's ``usage`` object: counts,
#: ``cost``, ``cost_source``, ``cost_unknown``) in place by the chain in force, and counts it.
PriceUsage = Callable[[dict[str, Any], str, str, int | None], None]
#: ``reprice(lines, price)``: a trace format prices again every LLM call of a file with
#: ``price``, reading its lines (each without its newline) in order, and yields for each line
#: the new line, or ``None`` when nothing in it changed or it holds no call (the line is then kept
#: byte for byte). One call per file, so a format can use what an earlier line said (an RLM
#: file's metadata names the provider).
Reprice = Callable[[Iterable[bytes], PriceUsage], Iterator[bytes | None]]


@attrs.frozen
class TraceFormatSupport:
    """What a trace format offers beside its writer, for ``llmlog view`` and ``llmlog convert``.

    :param detect: ``detect(first_line: bytes) -> bool``: whether a file is in this format.
    :param read: ``read(path, skipped=None) -> Iterator[TraceEvent]``: the file's events (a list
        passed as ``skipped`` collects unreadable lines instead of raising ``ValueError``). A
        line-oriented format may also take ``start`` and ``stop`` byte offsets (keywords): the
        events of the lines that begin in ``[start, stop)``, ``start`` being 0 or just after a
        newline, messages numbering lines from the file's first. ``llmlog report`` then reads
        a large file in two processes.
    :param view: ``view(path, args, out) -> int``: print the file as ``llmlog view`` flags ask.
    :param view_arguments: ``view_arguments(parser)``: add the ``llmlog view`` flags only this
        format understands (``--iter N`` of RLM files), with ``parser.add_argument(...)``; their
        help names the format. Two formats may declare the same flag alike (``--final``): it is
        added once, its help naming each. ``view`` then finds every installed format's flags in
        ``args`` (another format's file can be shown with them: say so, or ignore them).
    :param reprice: ``reprice(lines, price)``: every LLM call of a file priced again, a result
        per line (``llmlog reprice``; see :data:`Reprice`). A format without it cannot be
        repriced.
    """

    detect: Callable[[bytes], bool] | None = None
    read: Callable[..., Iterator[Any]] | None = None
    view: Callable[[Path, argparse.Namespace, TextIO], int] | None = None
    view_arguments: ViewArguments | None = None
    reprice: Reprice | None = None


@attrs.frozen(kw_only=True)
class TraceFormat:
    """A trace format as one object: what writes its files, and what recognises, reads and shows
    them. ``llmlog_register_trace_formats`` registers it whole, ``register(FORMAT)``.

    Any object with these attributes may be registered instead (a class of your own with methods
    ``detect``, ``read``...): ``name`` and ``writer`` are required, the others default as here.

    :param name: what ``[trace] format`` and ``new_trace_session(format=...)`` select it by.
    :param writer: ``writer(options, context)`` (the path to write in ``context.path``): a :class:`llmlog.tracing.TraceWriter` (``write``,
        ``flush``, ``close``) for the trace file at ``path``, or for a new file it names in
        ``path`` when that is a directory; ``options`` is an instance of ``options`` (or ``None``).
    :param options: the attrs class of its options (``[trace] format = { type = NAME, ... }``).
    :param description: one line for ``llmlog plugins``.
    :param detect: ``detect(first_line: bytes) -> bool``; ``read``, ``view``, ``view_arguments``,
        ``reprice``: as :class:`TraceFormatSupport` describes them.
    :param check: ``check(options, context)``: raises what ``writer`` would, creating nothing.
    """

    name: str
    writer: Callable[[Any, Any], Any]
    options: type | None = None
    description: str = ""
    detect: Callable[[bytes], bool] | None = None
    read: Callable[..., Iterator[Any]] | None = None
    view: Callable[[Path, argparse.Namespace, TextIO], int] | None = None
    view_arguments: ViewArguments | None = None
    reprice: Reprice | None = None
    check: Callable[[Any, Any], None] | None = None


@attrs.frozen
class Component:
    """One registered component: what configuration can select by ``name``."""

    kind: ComponentKind
    name: str
    factory: Callable[..., Any] = attrs.field(eq=False)
    plugin: str
    options: type | None = None
    description: str = ""
    accepts_formatter: bool = False
    default_formatter: str | None = None
    #: Trace formats only: reading and showing files.
    support: TraceFormatSupport = attrs.field(factory=TraceFormatSupport, eq=False)
    #: ``check(options, context)``: raises what ``factory`` would raise for these options, creating
    #: nothing (no file, directory or thread); ``configure()`` and ``llmlog config check`` run it
    #: before building. ``None``: the dry run of ``config check`` builds the component and closes
    #: it at once instead.
    check: Callable[[Any, Any], None] | None = attrs.field(default=None, eq=False)


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


@attrs.frozen
class ComponentChoice:
    """A key of a claimed table that selects a component: by name (``backend = "zstd"``) or by a
    table with ``type`` and that component's options (``backend = { type = "zstd", level = 9 }``).

    :param key: the key in the table (``backend``); it is read apart from the options class.
    :param kind: the kind of component it names.
    :param default: the component used when the key is absent; when that one is not installed
        either, none is chosen (:attr:`TableContext.component` is ``None``).
    :param label: what messages call it (``flight-recorder backend``); default the kind's name.
    """

    key: str
    kind: ComponentKind
    default: str | None = None
    label: str = ""


class Closeable(Protocol):
    """What a claimed table's ``start`` returns: closed when its configuration is retired."""

    def close(self) -> None: ...


@attrs.frozen
class TableContext:
    """What a claimed table's ``check`` and ``start`` get besides its options.

    :param name: the table's name (``flight_recorder``).
    :param config_path: the configuration file, if any; resolve relative paths against its
        directory (:meth:`resolve`).
    :param component: the component chosen by the table's :class:`ComponentChoice` key, with its
        structured options, as ``component.component`` (a :class:`Component`) and
        ``component.options``; ``None`` when the table selects none.
    :param dry_run: ``llmlog config check``: ``check`` may build what it needs to find every
        error (a backend, an object never started), creating no file, directory or thread.
    """

    name: str
    config_path: Path | None = None
    component: Any = None
    dry_run: bool = False

    def resolve(self, raw: str, default: Path) -> Path:
        """A path from this table: ``default`` when empty, ``~`` expanded, a relative path taken
        from the configuration file's directory (so a configuration works from anywhere)."""
        if not raw:
            return default
        path = Path(raw).expanduser()
        if not path.is_absolute() and self.config_path is not None:
            path = self.config_path.parent / path
        return path


@attrs.frozen
class Table:
    """A top-level table of ``llmlog.toml`` claimed by a plugin (``llmlog_register_tables``)."""

    name: str
    options: type
    plugin: str
    description: str = ""
    component: ComponentChoice | None = None
    #: ``check(options, context)``: raises what ``start`` would, creating nothing.
    check: Callable[[Any, TableContext], None] | None = attrs.field(default=None, eq=False)
    #: ``start(options, context)``: acts on the table at ``configure()``; returns what to close
    #: when the configuration is retired, or ``None``.
    start: Callable[[Any, TableContext], Closeable | None] | None = attrs.field(
        default=None, eq=False
    )


class ComponentRegister(Protocol):
    """The ``register`` callback of the formatter, recorder and integration hooks."""

    def __call__(
        self,
        name: str,
        factory: Callable[..., Any],
        *,
        options: type | None = None,
        description: str = "",
        check: Callable[[Any, Any], None] | None = None,
    ) -> None: ...


class TraceFormatRegister(Protocol):
    """The ``register`` callback of ``llmlog_register_trace_formats``: ``register(FORMAT)`` with
    one :class:`TraceFormat` (or an object with its attributes), or the same parts as arguments,
    ``register(name, writer, options=..., detect=..., ...)``."""

    @overload
    def __call__(self, name: TraceFormat | Any, /) -> None: ...

    @overload
    def __call__(
        self,
        name: str,
        factory: Callable[[Any, Any], Any],
        *,
        options: type | None = None,
        description: str = "",
        detect: Callable[[bytes], bool] | None = None,
        read: Callable[..., Iterator[Any]] | None = None,
        view: Callable[[Path, argparse.Namespace, TextIO], int] | None = None,
        view_arguments: ViewArguments | None = None,
        reprice: Reprice | None = None,
        check: Callable[[Any, Any], None] | None = None,
    ) -> None: ...

    def __call__(
        self,
        name: Any,
        factory: Callable[[Any, Any], Any] | None = None,
        *,
        options: type | None = None,
        description: str = "",
        detect: Callable[[bytes], bool] | None = None,
        read: Callable[..., Iterator[Any]] | None = None,
        view: Callable[[Path, argparse.Namespace, TextIO], int] | None = None,
        view_arguments: ViewArguments | None = None,
        reprice: Reprice | None = None,
        check: Callable[[Any, Any], None] | None = None,
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
        check: Callable[[Any, Any], None] | None = None,
    ) -> None: ...


class SerializerRegister(Protocol):
    """The ``register`` callback of ``llmlog_register_serializers``."""

    def __call__(self, type_: type, function: Callable[[Any], Any]) -> None: ...


class TableRegister(Protocol):
    """The ``register`` callback of ``llmlog_register_tables``."""

    def __call__(
        self,
        name: str,
        options: type,
        *,
        description: str = "",
        component: ComponentChoice | None = None,
        check: Callable[[Any, TableContext], None] | None = None,
        start: Callable[[Any, TableContext], Closeable | None] | None = None,
    ) -> None: ...


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
