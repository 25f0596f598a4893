"""The running configuration: ``llmlog.configure()``, ``shutdown()``, ``stats()`` and the plugin
host they share.

(Named ``runtime``, not ``configure``: a submodule named like the ``llmlog.configure`` function
would replace that function on the package the moment it is imported, and ``llmlog`` loads it
lazily.)

``configure()``, from configuration to installed outputs.

Steps: read the configuration (:func:`~llmlog.config.find_config`), load plugins honouring its
``plugins`` switches, validate every key against the installed components and claimed tables, build
each formatter and output, install them into the global dispatcher, close the outputs they replace,
start each claimed table (``[stdlib]``, ``[flight_recorder]``, ...), then call the
``llmlog_configure`` hook. Any problem raises one :class:`~llmlog.config.ConfigError` listing all of
them, and the previous configuration stays in force.
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from llmlog import state, tracesinks
from llmlog.config import (
    ConfigError,
    ConfigSource,
    Configuration,
    OptionError,
    OutputSpec,
    find_config,
)
from llmlog.config.loader import load_configuration, plugin_selection
from llmlog.default_plugins.stderr_output import StderrOutput
from llmlog.dispatch import close_outputs, report_problem, set_report_sanitizer
from llmlog.interfaces import BuildContext, Formatter, Output
from llmlog.plugins import PluginHost
from llmlog.records import LogEntry
from llmlog.registry import ComponentKind, TableContext
from llmlog.sanitize import Sanitizer
from llmlog.serialize import serializer
from llmlog.severity import Severity

__all__ = [
    "build_output",
    "build_outputs",
    "check_components",
    "check_configuration",
    "configure",
    "configure_fallback",
    "configure_on_first_use",
    "current_configuration",
    "plugin_host",
    "shutdown",
    "stats",
    "validate",
]

# Before any plugin loads, so that plugins' exit handlers run before the sinks are retired.
tracesinks.shutdown_at_exit()


def configure_on_first_use() -> None:
    """The first entry of an unconfigured process configures llmlog from the usual places
    (``llmlog.toml``, ``LLMLOG_CONFIG``, ``pyproject.toml``, the user config dir, built-in
    defaults); ``llmlog/__init__.py`` defers the global dispatcher to this. A broken
    configuration must not break the application: it falls back to stderr and says so."""
    with state.configure_lock:
        if state.dispatcher.on_first_use is None:
            return
        state.dispatcher.on_first_use = None
        try:
            configure()
        except Exception as exc:
            report_problem(f"configuration failed, logging to stderr instead:\n{exc}")
            configure_fallback()


def _as_source(source: str | os.PathLike[str] | Mapping[str, Any] | None) -> ConfigSource:
    if isinstance(source, Mapping):
        return ConfigSource("dict", None, dict(source))
    return find_config(source)


def _failure(what: str, path: str, exc: BaseException) -> str:
    """One error line for a component that cannot be built: at the option the component names
    (:class:`~llmlog.config.OptionError`), else at the component's table."""
    if isinstance(exc, OptionError):
        return f"{what}: {exc.message} @ {path}.{exc.key}"
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, OSError) and exc.strerror:
        # "[Errno 13] ..." helps nobody; the message and the file do.
        detail = exc.strerror + (f": {exc.filename}" if exc.filename else "")
    return f"{what}: {detail} @ {path}"


def _make_output(spec: OutputSpec, config: Configuration, formatter: Formatter | None) -> Output:
    output = spec.component.factory(
        spec.options, BuildContext(spec.name, formatter, config.source.path)
    )
    if not isinstance(output, Output):
        close = getattr(output, "close", None)
        if callable(close):
            close()
        raise TypeError(
            f"output type {spec.component.name!r} (plugin {spec.component.plugin!r}) built "
            f"{type(output).__name__}, which is not an llmlog.Output"
        )
    output.level = spec.level if spec.level is not None else config.settings.level
    output.name = spec.name
    if spec.follow_trace_sampling:
        from llmlog.sampling import FollowSampling

        return FollowSampling(output)
    return output


def _make_formatter(spec: OutputSpec, config: Configuration) -> Formatter | None:
    if spec.formatter is None:
        return None
    formatter: Formatter = spec.formatter.component.factory(
        spec.formatter.options, BuildContext(spec.name, None, config.source.path)
    )
    return formatter


def build_output(spec: OutputSpec, config: Configuration) -> Output:
    """Build one output (and its formatter) from its validated table."""
    return _make_output(spec, config, _make_formatter(spec, config))


def build_outputs(config: Configuration) -> list[Output]:
    """Build every output; on any failure close the ones built and raise one :class:`ConfigError`."""
    built: list[Output] = []
    errors: list[str] = []
    for spec in config.outputs.values():
        what, path = f"cannot create output {spec.name!r}", f"$.outputs.{spec.name}"
        try:
            formatter = _make_formatter(spec, config)
        except Exception as exc:
            errors.append(_failure(what, f"{path}.formatter", exc))
            continue
        try:
            built.append(_make_output(spec, config, formatter))
        except Exception as exc:
            errors.append(_failure(what, path, exc))
    if errors:
        close_outputs(built, lambda o, e: None)
        raise ConfigError(config.source.label, errors)
    return built


def check_components(config: Configuration, *, dry_run: bool = False) -> list[str]:
    """What building ``config``'s components would fail on, found without building them.

    Runs each component's ``check`` (see :attr:`llmlog.registry.Component.check`: it creates
    nothing), and each claimed table's ``check``; ``configure()`` does this before building
    anything. With ``dry_run`` (``llmlog config check``), formatters are built and dropped, a
    component without a ``check`` is built and closed at once, and tables are checked with
    ``context.dry_run`` set: every error ``configure()`` would raise, worded and placed as it
    would.
    Integrations are not built: ``configure()`` reports one that fails to start and goes on.

    :returns: the error lines, ``description @ $.path``.
    """
    errors: list[str] = []
    where = config.source.path
    for spec in config.outputs.values():
        what, path = f"cannot create output {spec.name!r}", f"$.outputs.{spec.name}"
        formatter = None
        if spec.formatter is not None:
            component = spec.formatter.component
            context = BuildContext(spec.name, None, where)
            try:
                if component.check is not None:
                    component.check(spec.formatter.options, context)
                if dry_run:
                    formatter = component.factory(spec.formatter.options, context)
            except Exception as exc:
                errors.append(_failure(what, f"{path}.formatter", exc))
                continue
        try:
            if spec.component.check is not None:
                spec.component.check(spec.options, BuildContext(spec.name, formatter, where))
            elif dry_run:
                _make_output(spec, config, formatter).close()
        except Exception as exc:
            errors.append(_failure(what, path, exc))
    errors += _table_errors(config, dry_run)
    return errors


def _table_context(config: Configuration, name: str, dry_run: bool = False) -> TableContext:
    spec = config.tables[name]
    return TableContext(name, config.source.path, spec.component, dry_run)


def _table_errors(config: Configuration, dry_run: bool) -> list[str]:
    """What each claimed table's ``check`` raises, as error lines."""
    errors: list[str] = []
    for name, spec in config.tables.items():
        if spec.table.check is None:
            continue
        try:
            spec.table.check(spec.options, _table_context(config, name, dry_run))
        except ConfigError as exc:  # a check with several lines of its own
            errors.extend(exc.errors)
        except Exception as exc:
            errors.append(_failure(f"[{name}]", f"$.{name}", exc))
    return errors


def validate(
    source: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    *,
    plugins: Iterable[tuple[str, object]] = (),
    autoload: bool | None = None,
) -> tuple[Configuration, PluginHost]:
    """Read and validate a configuration against the plugins it selects, building nothing.

    Arguments as for :func:`configure`.

    :returns: the validated configuration and the plugin host it was validated against.
    :raises ConfigError: listing every problem.
    """
    src = _as_source(source)
    only, disabled, errors = plugin_selection(src)
    host = PluginHost(autoload=autoload, only=only, blocked=disabled, extra=plugins)
    errors += [f"{conflict} @ $.plugins" for conflict in host.conflicts]
    config = load_configuration(
        src,
        host.components(ComponentKind.OUTPUT),
        host.components(ComponentKind.FORMATTER),
        integrations=host.components(ComponentKind.INTEGRATION),
        tables=host.tables,
        components={kind: host.components(kind) for kind in ComponentKind},
        extra_errors=errors,
        explain=host.unavailable,
    )
    return config, host


def check_configuration(
    source: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    *,
    plugins: Iterable[tuple[str, object]] = (),
    autoload: bool | None = None,
) -> Configuration:
    """What ``llmlog config check`` does: :func:`validate`, then a dry run of building every
    component (:func:`check_components` with ``dry_run``), creating nothing and installing
    nothing. A configuration it accepts, :func:`configure` accepts; it raises what
    :func:`configure` would raise, worded and placed the same way.

    :raises ConfigError: listing every problem.
    """
    config, _ = validate(source, plugins=plugins, autoload=autoload)
    problems = check_components(config, dry_run=True)
    if problems:
        raise ConfigError(config.source.label, problems)
    return config


def configure(
    source: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    *,
    plugins: Iterable[tuple[str, object]] = (),
    autoload: bool | None = None,
) -> Configuration:
    """Configure llmlog from a file, a dict, or (with no argument) the usual places.

    :param source: a path to ``llmlog.toml`` (or a ``pyproject.toml`` with ``[tool.llmlog]``), a
        dict with the same structure, or ``None`` to search (see :func:`~llmlog.config.find_config`).
    :param plugins: extra in-process plugins to register, as ``(name, module_or_object)`` pairs.
    :param autoload: load entry-point plugins; ``None`` follows ``LLMLOG_DISABLE_PLUGIN_AUTOLOAD``.
    :returns: the validated :class:`~llmlog.config.Configuration` now in force.
    :raises ConfigError: listing every problem; the previous configuration stays in force.
    """
    with state.configure_lock:
        config, host = validate(source, plugins=plugins, autoload=autoload)
        problems = check_components(config)
        if problems:
            raise ConfigError(config.source.label, problems)
        outputs = build_outputs(config)
        settings = config.settings
        serializer.reset(host.serializers)
        dispatcher = state.dispatcher
        sanitizer = Sanitizer.from_settings(settings)
        previous = dispatcher.install(
            outputs,
            level=settings.level,
            sample_rate=settings.sample_rate,
            default_fields=settings.default_fields,
            sanitizer=sanitizer,
            include_caller=settings.include_caller,
        )
        # Problem reports are redacted as entries are, but never cut short.
        set_report_sanitizer(
            Sanitizer.from_settings(attrs.evolve(settings, max_string_length=1 << 16))
        )
        close_outputs(previous, lambda o, e: report_problem(f"closing output {o.name!r}: {e}"))
        _retire_current()
        state.configuration, state.plugin_host = config, host
        _start_tables(config)
        _start_integrations(config)
        host.pm.hook.llmlog_configure(config=config)
        return config


def configure_fallback(level: Severity = Severity.INFO) -> None:
    """Install plain stderr output, used when the configuration cannot be loaded."""
    with state.configure_lock:
        output = StderrOutput()
        output.level = level
        output.name = "stderr"
        previous = state.dispatcher.install([output], level=level)
        close_outputs(previous, lambda o, e: None)
        _retire_current()


def _start_tables(config: Configuration) -> None:
    # After check() passed, a table that fails to start is reported and skipped, as an
    # integration is: logging itself must keep working.
    for name, spec in config.tables.items():
        if spec.table.start is None:
            continue
        try:
            started = spec.table.start(spec.options, _table_context(config, name))
        except Exception as exc:
            report_problem(f"[{name}] failed to start: {type(exc).__name__}: {exc}")
            continue
        if started is not None:
            state.started_tables.append((name, started))


def _close_tables() -> None:
    while state.started_tables:
        name, started = state.started_tables.pop()
        try:
            started.close()
        except Exception as exc:
            report_problem(f"[{name}] failed to stop: {type(exc).__name__}: {exc}")


def _start_integrations(config: Configuration) -> None:
    # A failing integration is reported and skipped: logging itself must keep working.
    for name, spec in config.integrations.items():
        if not spec.enabled:
            continue
        try:
            integration = spec.component.factory(
                spec.options, BuildContext(name, None, config.source.path)
            )
            integration.start()
        except Exception as exc:
            report_problem(f"integration {name!r} failed to start: {type(exc).__name__}: {exc}")
            continue
        state.integrations.append((name, integration))


def _stop_integrations() -> None:
    while state.integrations:
        name, integration = state.integrations.pop()
        try:
            integration.stop()
        except Exception as exc:
            report_problem(f"integration {name!r} failed to stop: {type(exc).__name__}: {exc}")


def _retire_current() -> None:
    _stop_integrations()
    _close_tables()
    config, host = state.configuration, state.plugin_host
    state.configuration = state.plugin_host = None
    if config is not None and host is not None:
        try:
            host.pm.hook.llmlog_unconfigure(config=config)
        except Exception as exc:
            report_problem(f"a plugin's llmlog_unconfigure failed: {type(exc).__name__}: {exc}")


def current_configuration() -> Configuration | None:
    """The configuration in force, or ``None`` before the first ``configure()``."""
    return state.configuration


def plugin_host() -> PluginHost:
    """The plugin host of the configuration in force (a fresh one if unconfigured)."""
    host = state.plugin_host
    return host if host is not None else PluginHost()


def shutdown() -> None:
    """Flush and close every output, retire the configuration, then flush and shut down every
    trace sink still added (:func:`llmlog.tracesinks.shutdown`).

    Entries logged afterwards (by a library's exit code, a late thread) are not dropped: they go
    to stderr as plain text, and the first of them says so. ``configure()`` starts over."""
    with state.configure_lock:
        dispatcher = state.dispatcher
        level = dispatcher.level
        dispatcher.close()
        _retire_current()  # the sinks of integrations and tables are removed by their owners
        tracesinks.shutdown()
        set_report_sanitizer(None)
        late = _AfterShutdown()
        late.level = level
        late.name = "stderr (after shutdown)"
        dispatcher.install([late], level=level)


class _AfterShutdown(StderrOutput):
    """Where entries go after :func:`shutdown`: stderr, with a note on the first."""

    def __init__(self) -> None:
        super().__init__()
        self._noted = False

    def write(self, entry: LogEntry) -> None:
        if not self._noted:
            self._noted = True
            report_problem(
                "logging after llmlog.shutdown(): this entry and later ones go to stderr"
            )
        super().write(entry)


def stats() -> dict[str, Any]:
    """Counters of the global logger: output failures by output, entries dropped by sampling;
    and, once a tail sampler ran, its decisions by sampler (``trace_sampling``: ``trace`` for
    trace files, ``otlp`` for the exporter; see :func:`llmlog.sampling.counts`)."""
    result = state.dispatcher.stats()
    if state.sampling_counts:
        from llmlog.sampling import counts

        result["trace_sampling"] = counts()
    return result


@atexit.register
def _at_exit() -> None:
    # Flush, then let plugins stop their background work. Outputs stay open: libraries may still
    # log from their own exit handlers, and the operating system closes the files.
    state.dispatcher.flush()
    with state.configure_lock:
        _retire_current()
