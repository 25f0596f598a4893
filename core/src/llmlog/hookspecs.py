"""Hook specifications: the extension points of llmlog.

Plugins implement these with the :data:`hookimpl` marker (``from llmlog import hookimpl``). All
``llmlog_register_*`` hooks use the register-callback style: llmlog passes a ``register`` function,
and the plugin calls it once per component it provides. The host validates each registration and
reports duplicates naming both plugins.

Every hook runs at setup (``llmlog.configure()`` or a CLI command), never per log entry: the
per-entry path is plain method calls on the built components.

Implementations may declare only the arguments they use; pluggy passes those by name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from llmlog.plugins import PluginHost
    from llmlog.registry import (
        CommandRegister,
        ComponentRegister,
        OutputRegister,
        SerializerRegister,
        TableRegister,
        TraceFormatRegister,
    )

__all__ = ["hookimpl", "hookspec"]

hookspec = pluggy.HookspecMarker("llmlog")
hookimpl = pluggy.HookimplMarker("llmlog")


@hookspec
def llmlog_register_outputs(register: OutputRegister) -> None:
    """Register output types (where entries go), selected by ``type`` in ``[outputs.NAME]``.

    :param register: ``register(name, factory, *, options=None, description="",
        accepts_formatter=False, default_formatter=None, check=None)``. ``factory(options,
        context)`` returns an :class:`llmlog.Output`; ``options`` is an attrs class whose fields
        are the output's TOML keys (``None`` if it has none); ``context`` is an
        :class:`llmlog.BuildContext`. ``accepts_formatter`` allows a ``formatter`` key;
        ``default_formatter`` names the formatter used when the configuration gives none.
        ``check(options, context)`` raises what ``factory`` would, creating nothing (raise
        :class:`llmlog.config.OptionError` to name the option); ``configure()`` and ``llmlog
        config check`` run it before building. Without it, ``config check`` builds the output and
        closes it at once.

    Use in plugins providing outputs, such as ``llmlog-output-console``.
    """


@hookspec
def llmlog_register_formatters(register: ComponentRegister) -> None:
    """Register formatters (how entries become lines), selected by an output's ``formatter`` key.

    :param register: ``register(name, factory, *, options=None, description="", check=None)``.
        ``factory(options, context)`` returns an :class:`llmlog.Formatter`; ``check`` as for
        outputs.
    """


@hookspec
def llmlog_register_recorders(register: ComponentRegister) -> None:
    """Register flight-recorder backends (where the always-on ring of recent events is kept),
    selected by ``[flight_recorder] backend``.

    :param register: ``register(name, factory, *, options=None, description="", check=None)``;
        ``check`` as for outputs. ``factory(options, context)`` returns a backend
        (``llmlog_engine_flight.RecorderBackend``): ``name``, ``suffix``, ``background``,
        ``magic`` (what its snapshots start with), ``seal(raw)`` when recording and
        ``decode(stream, skipped=None)`` when reading. It owns both directions: snapshots are
        read back through the ``decode`` of the backend whose ``magic`` starts the file.
    """


@hookspec
def llmlog_register_trace_formats(register: TraceFormatRegister) -> None:
    """Register trace formats (how a trace session is written), selected by ``[trace] format``
    in ``llmlog.toml`` or ``llmlog.new_trace_session(path, format=...)``.

    :param register: ``register(FORMAT)`` with one :class:`llmlog.registry.TraceFormat` (its
        ``name``, ``writer``, ``options``, ``description``, ``detect``, ``read``, ``view``,
        ``view_arguments``, ``reprice``), or the same parts as arguments: ``register(name,
        factory, *, options=None, description="", detect=None, read=None, view=None,
        view_arguments=None, reprice=None)``.
        ``factory(options, context)`` (the format's ``writer``) returns a writer
        with ``write(event)``, ``flush()`` and ``close()`` for the trace file at ``context.path``
        (or, when that is a directory, for a new file it names there). ``detect(first_line)`` tells
        whether a file is in the format, ``read(path, skipped=None)`` yields its events (so
        ``llmlog convert`` can turn it into any other format), ``view(path, args, out)``
        prints it for ``llmlog view``, and ``view_arguments(parser)`` adds the ``llmlog view``
        flags of the format's own (``parser.add_argument(...)``; see
        :class:`llmlog.registry.TraceFormatSupport`), and ``reprice(lines, price)`` prices every
        LLM call of a file again for ``llmlog reprice``.
    """


@hookspec
def llmlog_register_integrations(register: ComponentRegister) -> None:
    """Register integrations with other libraries (tracing DSPy, exporting over OTLP...), turned
    on by ``[integrations.NAME] enabled = true`` in ``llmlog.toml``.

    :param register: ``register(name, factory, *, options=None, description="")``.
        ``factory(options, context)`` returns an :class:`llmlog.interfaces.Integration`
        (``context.name`` is the table's ``NAME``): ``configure()``
        calls its ``start()`` when the table says ``enabled = true``, and its ``stop()`` when the
        configuration is replaced or llmlog shuts down. ``stop()`` must leave the other library as
        ``start()`` found it.
    """


@hookspec
def llmlog_register_pricing(register: ComponentRegister) -> None:
    """Register price tables: what prices an LLM call whose cost nobody reported, selected by
    ``[prices] table = "NAME"`` in ``llmlog.toml`` (see ``docs/cost.md``).

    :param register: ``register(name, factory, *, options=None, description="", check=None)``.
        ``factory(options, context)`` returns a :class:`llmlog.pricing.PriceTable`: ``name`` and
        ``version`` (written into every cost it priced as ``cost_source = "table:NAME@VERSION"``)
        and ``lookup(provider, model)``, which returns the model's
        :class:`llmlog.pricing.Rates` (or a function of a trace ``usage`` object giving its cost)
        or raises :class:`LookupError` with the reason the price is unknown. ``lookup`` is called
        once per (provider, model) in a process; import the table's data there, not in the
        factory, so that configuring stays cheap. The ``none`` table of the core prices nothing.
    """


@hookspec
def llmlog_register_serializers(register: SerializerRegister) -> None:
    """Teach every formatter to encode values of a type it does not know.

    :param register: ``register(type_, function)``; ``function(value)`` returns something
        JSON-encodable (a str, number, list or dict). Subclasses of ``type_`` use it too. A failing
        function falls back to ``repr()``; a log call never raises because of it.
    """


@hookspec
def llmlog_register_tables(register: TableRegister) -> None:
    """Claim top-level tables of ``llmlog.toml`` (``[flight_recorder]``, ``[stdlib]``, ``[trace]``).

    :param register: ``register(name, options, *, description="", component=None, check=None,
        start=None)``.

        - ``name``: the table's name; a name claimed by two plugins is a conflict naming both,
          and ``outputs``, ``integrations`` and the top-level settings cannot be claimed.
        - ``options``: an attrs class whose fields are the table's keys. The loader validates the
          table as it validates every table: all problems at once, each as
          ``description @ $.name.key``, in a :class:`llmlog.ConfigError` naming the file; a table
          the file does not have is built from the defaults.
        - ``component``: a :class:`llmlog.registry.ComponentChoice` for a key that selects a
          registered component by name or by a table with ``type`` (the flight recorder's
          ``backend``, ``[trace] format``); it is validated against the installed components.
        - ``check(options, context)``: raises what ``start`` would, creating nothing (no file,
          directory or thread); ``configure()`` runs it before building anything and ``llmlog
          config check`` with ``context.dry_run`` set. Raise :class:`llmlog.config.OptionError`
          to name the key (``@ $.name.key``); any other exception is placed at ``$.name``. Raise
          :class:`llmlog.ConfigError` to report several lines at once.
        - ``start(options, context)``: called by every ``configure()`` once the new outputs are
          installed and the previous configuration retired (whether or not the file has the
          table), before ``llmlog_configure``. It returns what to close (an object with
          ``close()``) when this configuration is retired, by the next ``configure()``,
          ``llmlog.shutdown()`` or interpreter exit, or ``None``. An exception is reported on
          stderr and logging goes on: what can fail belongs in ``check``.

        ``context`` is a :class:`llmlog.registry.TableContext`: the table's name, the
        configuration file (``context.resolve(raw, default)`` for paths in the table), the chosen
        component, and ``dry_run``. The validated options are also in
        ``Configuration.tables[name].options``. ``llmlog config show`` prints the table with its
        defaults filled in.

    A table the configuration has but no loaded plugin claims is an error listing the claimed
    tables; for a table of a known distribution that is not installed, or of a plugin switched
    off, the message says what to install or which switch.

    Use in plugins that are configured by a table of their own, such as ``llmlog-engine-flight``.
    """


@hookspec
def llmlog_register_commands(register: CommandRegister, host: PluginHost) -> None:
    """Add subcommands to the ``llmlog`` command line. Every command but ``plugins`` and
    ``config`` comes through here, the core's own ``view`` and ``convert`` included
    (:mod:`llmlog.default_plugins.trace_commands`).

    :param register: ``register(name, run, *, help="", arguments=None)``. ``arguments(parser)``
        adds options to an :class:`argparse.ArgumentParser` (a command with actions adds its own
        subparsers, as ``llmlog flight list|view|convert`` does, and ``run`` dispatches on the
        action); ``run(args)`` does the work and returns an exit status (``None`` means 0).
    :param host: the :class:`llmlog.plugins.PluginHost` the command line runs with: the
        components every plugin registered (``host.components(kind)``: ``llmlog view`` reads the
        trace formats) and its pluggy manager ``host.pm``, for hooks a plugin declares for other
        plugins (``llmlog demo``'s variants). Every component is registered by the time this hook
        is called; read ``host.commands`` in ``arguments`` or ``run``, not here.
    """


@hookspec(firstresult=True)
def llmlog_render_html(source: Any, options: dict[str, Any]) -> str | None:
    """Render a run as HTML for a notebook: what :func:`llmlog.display` and a trace session's
    ``_repr_html_`` show. Stops at the first non-``None`` result.

    :param source: what to show: a path (``str`` or :class:`os.PathLike`) of a trace file,
        snapshot, log file or directory, a list of them, or a :class:`llmlog.TraceSession` (its
        file, flushed first).
    :param options: keyword options given to ``display`` (``height``, ``no_content``...); an
        implementation ignores those it does not know.
    :returns: an HTML fragment that needs nothing else (no script of the notebook's, no server),
        or ``None`` when the plugin does not show this kind of source.

    Use in plugins that render reports, such as ``llmlog-report-html``. The core has no renderer
    of its own: with none installed, ``display`` says what to install.
    """


@hookspec(firstresult=True)
def llmlog_trace_json(paths: list[str], options: dict[str, Any]) -> dict[str, Any] | None:
    """A run as the ``--json`` document of ``llmlog view`` (schema ``llmlog.view/1``, built with
    :func:`llmlog.jsonout.json_page`). Stops at the first non-``None`` result.

    :param paths: the files (a trace in any installed format, a flight snapshot, llmlog JSON
        log lines) or directories of one run.
    :param options: ``view`` (``"spans"``, ``"llm"`` or ``"stats"``), ``search``, ``errors``,
        ``limit``, ``offset``, ``lenient``, ``no_content``, ``max_field``; an implementation
        ignores those it does not know.
    :returns: the document, or ``None`` when the plugin does not read runs.
    :raises ValueError: when a file cannot be read (the message names ``file:line``).

    Use in plugins that model runs, such as ``llmlog-command-export``. The core has no model of
    a run of its own: with none installed, ``llmlog view --json`` says what to install.
    """


@hookspec
def llmlog_configure(config: Any) -> None:
    """Called at the end of ``llmlog.configure()``, after every output is built and installed.

    :param config: the validated :class:`llmlog.config.Configuration`.

    Use it to start background work that depends on the configuration.
    """


@hookspec
def llmlog_unconfigure(config: Any) -> None:
    """Called before a configuration is replaced or at interpreter exit, after outputs are flushed.

    :param config: the :class:`llmlog.config.Configuration` being retired.

    Use it to stop what ``llmlog_configure`` started.
    """
