"""The plugin host: finds plugins, registers them with pluggy and collects their components.

Loading order:

1. the default plugins (:data:`DEFAULT_PLUGINS`: the modules of :mod:`llmlog.default_plugins`),
   registered through the same hooks as any other, whatever the switches say;
2. entry points in the ``llmlog`` group, unless autoload is off; each entry point's name is the
   plugin name used by the switches below;
3. ``pluggy.PluginManager.check_pending()``, so a misspelled hook name is reported, not ignored.

A plugin that fails to import, declares a bad hook, or raises from a register hook is reported
(one warning on stderr, and in ``llmlog plugins``) and left out; the application's logging goes on.
Two plugins registering the same component name is a conflict that names both plugins.

Switches (environment, then configuration):

* ``LLMLOG_DISABLE_PLUGIN_AUTOLOAD=1``: load no entry points (built-ins only);
* ``LLMLOG_DISABLED_PLUGINS=a,b``: block the named plugins;
* ``plugins = [...]`` in ``llmlog.toml``: load only the listed entry points;
* ``LLMLOG_TRACE_PLUGINS=1``: print every hook call to stderr.

A component that configuration asks for and that only a switched-off plugin provides is reported
as such (:meth:`PluginHost.unavailable`), not as unknown: to tell, and only then, the host imports
the switched-off plugins and asks them what they register, without registering them.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata as md
import os
import sys
from collections.abc import Callable, Iterable
from typing import Any

import attrs
import pluggy

from llmlog import hookspecs
from llmlog.config.loader import SETTINGS_KEYS, TABLE_KIND
from llmlog.registry import (
    Closeable,
    Command,
    Component,
    ComponentChoice,
    ComponentKind,
    Reprice,
    Table,
    TableContext,
    TraceFormatSupport,
)

__all__ = [
    "DEFAULT_PLUGINS",
    "ENTRY_POINT_GROUP",
    "TABLE",
    "PluginConflictError",
    "PluginHost",
    "PluginInfo",
]

ENTRY_POINT_GROUP = "llmlog"

#: The default plugins (shown as built-in by ``llmlog plugins``): always loaded, even with
#: autoload off, and never blocked.
DEFAULT_PLUGINS: tuple[str, ...] = (
    "llmlog.default_plugins.stderr_output",
    "llmlog.default_plugins.tables",
    "llmlog.default_plugins.pricing",
    "llmlog.default_plugins.budgets",
    "llmlog.default_plugins.trace_commands",
)

#: What :meth:`PluginHost.unavailable` is asked about beside components: a claimed table.
TABLE = TABLE_KIND
#: Names a plugin cannot claim as a table: the top-level keys and tables the loader owns.
_RESERVED_TABLES = frozenset({"outputs", "integrations"})

_TRUE = {"1", "true", "yes", "on"}


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in _TRUE


def _env_list(name: str) -> list[str]:
    return [p.strip() for p in os.environ.get(name, "").split(",") if p.strip()]


class PluginConflictError(Exception):
    """Two plugins registered a component of the same kind under the same name."""


@attrs.define
class PluginInfo:
    """What the host knows about one plugin, as ``llmlog plugins`` shows it."""

    name: str
    module: str
    distribution: str | None = None
    version: str | None = None
    builtin: bool = False
    status: str = "loaded"  # loaded | failed | blocked | not selected
    error: str | None = None
    components: list[str] = attrs.Factory(list)


class PluginHost:
    """Owns one :class:`pluggy.PluginManager` and what its plugins registered.

    :param autoload: load entry points; ``None`` reads ``LLMLOG_DISABLE_PLUGIN_AUTOLOAD``.
    :param only: if given, load only the entry points with these names.
    :param blocked: plugin names never to load, in addition to ``LLMLOG_DISABLED_PLUGINS``.
    :param extra: plugin objects (modules or instances) to register after the entry points, as
        ``(name, object)`` pairs; tests and applications use this for in-process plugins.
    """

    def __init__(
        self,
        *,
        autoload: bool | None = None,
        only: Iterable[str] | None = None,
        blocked: Iterable[str] = (),
        extra: Iterable[tuple[str, object]] = (),
    ) -> None:
        self.pm = pluggy.PluginManager("llmlog")
        self.pm.add_hookspecs(hookspecs)
        self.autoload = (
            (not _env_flag("LLMLOG_DISABLE_PLUGIN_AUTOLOAD")) if autoload is None else autoload
        )
        self._autoload_given = autoload is not None
        self.only = set(only) if only is not None else None
        self._blocked_here = set(blocked)
        self.blocked = {*blocked, *_env_list("LLMLOG_DISABLED_PLUGINS")}
        self._entry_points: dict[str, md.EntryPoint] = {}
        self._would_provide: dict[str, set[tuple[ComponentKind | str, str]]] = {}
        self.plugins: dict[str, PluginInfo] = {}
        self.conflicts: list[str] = []
        self._components: dict[ComponentKind, dict[str, Component]] = {k: {} for k in ComponentKind}
        self._serializers: list[tuple[type, Callable[[Any], Any]]] = []
        self._commands: dict[str, Command] = {}
        self._tables: dict[str, Table] = {}
        if _env_flag("LLMLOG_TRACE_PLUGINS"):
            self.pm.trace.root.setwriter(sys.stderr.write)
            self.pm.enable_tracing()
        self._load(extra)

    # -- loading ---------------------------------------------------------------------------------

    def _load(self, extra: Iterable[tuple[str, object]]) -> None:
        for module_name in DEFAULT_PLUGINS:
            module = importlib.import_module(module_name)
            self.pm.register(module, name=module_name)
            self.plugins[module_name] = PluginInfo(
                module_name, module_name, "llmlog", _version("llmlog"), builtin=True
            )
        if self.autoload:
            for ep in sorted(md.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
                self._load_entry_point(ep)
        for name, plugin in extra:
            info = PluginInfo(name, getattr(plugin, "__name__", type(plugin).__qualname__))
            self.plugins[name] = info
            self._register(info, plugin)
        self._check_pending()
        self._collect()

    def _load_entry_point(self, ep: md.EntryPoint) -> None:
        dist = ep.dist.name if ep.dist is not None else None
        version = ep.dist.version if ep.dist is not None else None
        info = PluginInfo(ep.name, ep.value, dist, version)
        if ep.name in self.plugins:
            other = self.plugins[ep.name]
            info.status, info.error = (
                "failed",
                (
                    f"plugin name {ep.name!r} is already used by {other.distribution or other.module}"
                ),
            )
            self._report(info)
            self.plugins[f"{ep.name} ({dist})"] = info
            return
        self.plugins[ep.name] = info
        self._entry_points[ep.name] = ep
        if ep.name in self.blocked:
            info.status = "blocked"
            return
        if self.only is not None and ep.name not in self.only:
            info.status = "not selected"
            return
        try:
            plugin = ep.load()
        except Exception as exc:
            info.status, info.error = "failed", f"import failed: {type(exc).__name__}: {exc}"
            self._report(info)
            return
        self._register(info, plugin)

    def _register(self, info: PluginInfo, plugin: object) -> None:
        try:
            self.pm.register(plugin, name=info.name)
        except Exception as exc:
            info.status, info.error = "failed", f"{type(exc).__name__}: {exc}"
            self._report(info)

    def _check_pending(self) -> None:
        # A misspelled hook name is only noticed here; drop the offending plugin and look again.
        while True:
            try:
                self.pm.check_pending()
                return
            except pluggy.PluginValidationError as exc:
                name = self.pm.get_name(exc.plugin) or str(exc.plugin)
                self.pm.unregister(exc.plugin)
                info = self.plugins.get(name)
                if info is None or info.builtin:
                    raise
                info.status, info.error = "failed", str(exc)
                self._report(info)

    def _report(self, info: PluginInfo) -> None:
        where = f" ({info.distribution})" if info.distribution else ""
        try:
            print(
                f"llmlog: warning: plugin {info.name!r}{where} was not loaded: {info.error}",
                file=sys.stderr,
            )
        except Exception:  # stderr closed or missing: the plugin list still shows it
            pass

    # -- collecting components -------------------------------------------------------------------

    def _collect(self) -> None:
        for kind in ComponentKind:
            self._call_register_hook(
                f"llmlog_register_{kind.value}", self._component_register(kind)
            )
        self._call_register_hook("llmlog_register_serializers", self._serializer_register)
        self._call_register_hook("llmlog_register_tables", self._table_register)
        # Last: a command reads what the others registered (view: the trace formats).
        self._call_register_hook("llmlog_register_commands", self._command_register, host=self)

    def _call_register_hook(
        self, hook_name: str, make_register: Callable[[str], Any], **given: object
    ) -> None:
        # Each implementation is called directly with a register bound to its plugin, so a
        # registration can be attributed (for conflicts and `llmlog plugins`) and one plugin's
        # exception cannot stop the others from registering.
        hook = getattr(self.pm.hook, hook_name)
        for impl in hook.get_hookimpls():  # in registration (load) order
            arguments = {"register": make_register(impl.plugin_name), **given}
            try:
                impl.function(**{name: arguments[name] for name in impl.argnames})
            except PluginConflictError as exc:
                self.conflicts.append(str(exc))
            except Exception as exc:
                info = self.plugins.get(impl.plugin_name)
                if info is None or info.builtin:
                    raise
                info.status = "failed"
                info.error = f"{hook_name} raised {type(exc).__name__}: {exc}"
                self._report(info)

    def _component_register(self, kind: ComponentKind) -> Callable[[str], Any]:
        def make(plugin: str) -> Callable[..., None]:
            def register(
                name: Any,
                factory: Callable[[Any, Any], Any] | None = None,
                *,
                options: type | None = None,
                description: str = "",
                accepts_formatter: bool = False,
                default_formatter: str | None = None,
                detect: Callable[[bytes], bool] | None = None,
                read: Callable[..., Any] | None = None,
                view: Callable[..., int] | None = None,
                view_arguments: Callable[[Any], None] | None = None,
                reprice: Reprice | None = None,
                check: Callable[[Any, Any], None] | None = None,
            ) -> None:
                if kind is ComponentKind.TRACE_FORMAT and not isinstance(name, str):
                    # One trace-format object (TraceFormat, or any object with its attributes):
                    # registered as its parts, so both forms give the same component.
                    if factory is not None:
                        raise TypeError("register(format) takes a trace-format object alone")
                    register(**_trace_format_parts(name))
                    return
                if not isinstance(name, str) or not name:
                    raise TypeError(
                        f"{kind.singular} name must be a non-empty string, not {name!r}"
                    )
                if not callable(factory):
                    raise TypeError(f"{kind.singular} {name!r}: factory is not callable")
                if check is not None and not callable(check):
                    raise TypeError(f"{kind.singular} {name!r}: check is not callable")
                if view_arguments is not None and not callable(view_arguments):
                    raise TypeError(f"{kind.singular} {name!r}: view_arguments is not callable")
                if reprice is not None and not callable(reprice):
                    raise TypeError(f"{kind.singular} {name!r}: reprice is not callable")
                support = TraceFormatSupport(detect, read, view, view_arguments, reprice)
                if kind is not ComponentKind.TRACE_FORMAT and support != TraceFormatSupport():
                    raise TypeError(
                        f"{kind.singular} {name!r}: detect, read, view, view_arguments and "
                        "reprice are for trace formats"
                    )
                if options is not None and not attrs.has(options):
                    raise TypeError(f"{kind.singular} {name!r}: options must be an attrs class")
                table = self._components[kind]
                if name in table:
                    raise PluginConflictError(
                        f"{kind.singular} {name!r} is registered by both plugin "
                        f"{self._describe(table[name].plugin)} and plugin {self._describe(plugin)}; "
                        f"block one with LLMLOG_DISABLED_PLUGINS"
                    )
                table[name] = Component(
                    kind,
                    name,
                    factory,
                    plugin,
                    options,
                    description,
                    accepts_formatter or default_formatter is not None,
                    default_formatter,
                    support,
                    check,
                )
                info = self.plugins.get(plugin)
                if info is not None:
                    info.components.append(f"{kind.singular}:{name}")

            return register

        return make

    def _serializer_register(self, plugin: str) -> Callable[..., None]:
        def register(type_: type, function: Callable[[Any], Any]) -> None:
            if not isinstance(type_, type) or not callable(function):
                raise TypeError("register(type_, function) needs a type and a callable")
            self._serializers.append((type_, function))
            info = self.plugins.get(plugin)
            if info is not None:
                info.components.append(f"serializer:{type_.__qualname__}")

        return register

    def _command_register(self, plugin: str) -> Callable[..., None]:
        def register(
            name: str,
            run: Callable[[argparse.Namespace], int | None],
            *,
            help: str = "",
            arguments: Callable[[argparse.ArgumentParser], None] | None = None,
        ) -> None:
            if name in self._commands:
                raise PluginConflictError(
                    f"command {name!r} is registered by both plugin "
                    f"{self._describe(self._commands[name].plugin)} and plugin {self._describe(plugin)}"
                )
            self._commands[name] = Command(name, run, plugin, help, arguments)
            info = self.plugins.get(plugin)
            if info is not None:
                info.components.append(f"command:{name}")

        return register

    def _table_register(self, plugin: str) -> Callable[..., None]:
        def register(
            name: str,
            options: type,
            *,
            description: str = "",
            component: ComponentChoice | None = None,
            check: Callable[[Any, TableContext], None] | None = None,
            start: Callable[[Any, TableContext], Closeable | None] | None = None,
        ) -> None:
            if not isinstance(name, str) or not name:
                raise TypeError(f"table name must be a non-empty string, not {name!r}")
            if name in _RESERVED_TABLES or name in SETTINGS_KEYS:
                raise TypeError(f"table [{name}]: the name is llmlog's own and cannot be claimed")
            if not attrs.has(options):
                raise TypeError(f"table [{name}]: options must be an attrs class")
            if component is not None and not isinstance(component, ComponentChoice):
                raise TypeError(f"table [{name}]: component must be a ComponentChoice")
            for what, function in (("check", check), ("start", start)):
                if function is not None and not callable(function):
                    raise TypeError(f"table [{name}]: {what} is not callable")
            if name in self._tables:
                raise PluginConflictError(
                    f"table [{name}] is claimed by both plugin "
                    f"{self._describe(self._tables[name].plugin)} and plugin "
                    f"{self._describe(plugin)}; block one with LLMLOG_DISABLED_PLUGINS"
                )
            self._tables[name] = Table(name, options, plugin, description, component, check, start)
            info = self.plugins.get(plugin)
            if info is not None:
                info.components.append(f"table:{name}")

        return register

    def _describe(self, plugin: str) -> str:
        info = self.plugins.get(plugin)
        if info is None or info.distribution is None:
            return repr(plugin)
        return f"{plugin!r} ({info.distribution} {info.version})"

    # -- queries ---------------------------------------------------------------------------------

    def components(self, kind: ComponentKind) -> dict[str, Component]:
        """The registered components of one kind, by name."""
        return dict(self._components[kind])

    def unavailable(self, kind: ComponentKind | str, name: str) -> str | None:
        """Why the component ``name`` of ``kind`` (or, with ``kind`` :data:`TABLE`, the table
        ``name``) is not available although an installed plugin provides it (the plugin is blocked, not selected, or entry points are off), as the end of
        a sentence: ``provided by plugin 'output_file' (...), which is disabled
        (disabled_plugins)``; ``None`` when no switched-off plugin provides it.

        Imports each switched-off plugin (once) and calls its register hooks with a register that
        only notes the names; nothing is registered and any failure is ignored.
        """
        for ep, reason in self._switched_off():
            provided = self._would_provide.get(ep.name)
            if provided is None:
                provided = self._would_provide[ep.name] = _provided_by(ep)
            if (kind, name) in provided:
                dist = f" ({ep.dist.name} {ep.dist.version})" if ep.dist is not None else ""
                return f"provided by plugin {ep.name!r}{dist}, which {reason}"
        return None

    def _switched_off(self) -> Iterable[tuple[md.EntryPoint, str]]:
        if not self.autoload:
            switch = "autoload=False" if self._autoload_given else "LLMLOG_DISABLE_PLUGIN_AUTOLOAD"
            for ep in sorted(md.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
                yield ep, f"is not loaded: entry-point plugins are off ({switch})"
            return
        for name, ep in self._entry_points.items():
            status = self.plugins[name].status
            if status == "blocked":
                where = (
                    "disabled_plugins" if name in self._blocked_here else "LLMLOG_DISABLED_PLUGINS"
                )
                yield ep, f"is disabled ({where})"
            elif status == "not selected":
                listed = ", ".join(sorted(self.only or ())) or "none"
                yield ep, f"is not in plugins (the configuration loads only: {listed})"

    @property
    def serializers(self) -> list[tuple[type, Callable[[Any], Any]]]:
        """Every ``(type, function)`` registered through ``llmlog_register_serializers``."""
        return list(self._serializers)

    @property
    def tables(self) -> dict[str, Table]:
        """Top-level tables claimed through ``llmlog_register_tables``, by name, in load order."""
        return dict(self._tables)

    @property
    def commands(self) -> dict[str, Command]:
        """CLI subcommands registered by plugins, by name."""
        return dict(self._commands)

    @property
    def load_errors(self) -> list[PluginInfo]:
        """Plugins that failed to load or register."""
        return [p for p in self.plugins.values() if p.status == "failed"]


def _provided_by(ep: md.EntryPoint) -> set[tuple[ComponentKind | str, str]]:
    """The components and tables the plugin of ``ep`` registers, found in a plugin manager of
    its own."""
    found: set[tuple[ComponentKind | str, str]] = set()
    try:
        pm = pluggy.PluginManager("llmlog")
        pm.add_hookspecs(hookspecs)
        pm.register(ep.load(), name=ep.name)
    except Exception:
        return found
    kinds: list[tuple[ComponentKind | str, str]] = [
        *((kind, kind.value) for kind in ComponentKind),
        (TABLE, "tables"),
    ]
    for kind, hook in kinds:

        def note(
            name: object, *args: object, _kind: ComponentKind | str = kind, **kwargs: object
        ) -> None:
            # A trace format may be registered as one object carrying its name.
            name = name if isinstance(name, str) else getattr(name, "name", None)
            if isinstance(name, str):
                found.add((_kind, name))

        for impl in getattr(pm.hook, f"llmlog_register_{hook}").get_hookimpls():
            try:
                impl.function(**dict.fromkeys(impl.argnames, note))
            except Exception:
                continue
    return found


def _version(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def _trace_format_parts(format_: object) -> dict[str, Any]:
    """The ``register`` arguments of a trace-format object (:class:`TraceFormat` or any object
    with its attributes: ``name`` and ``writer`` required, the others optional)."""
    parts: dict[str, Any] = {"name": getattr(format_, "name", None)}
    parts["factory"] = getattr(format_, "writer", None)
    if not isinstance(parts["name"], str) or not callable(parts["factory"]):
        raise TypeError(
            f"a trace format must have a name (a string) and a writer (callable): {format_!r}"
        )
    for key in ("options", "detect", "read", "view", "view_arguments", "reprice", "check"):
        parts[key] = getattr(format_, key, None)
    parts["description"] = getattr(format_, "description", "") or ""
    return parts
