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
    """Register flight-recorder backends (where the always-on ring of recent events is kept).

    :param register: ``register(name, factory, *, options=None, description="", check=None)``;
        ``check`` as for outputs.
    """


@hookspec
def llmlog_register_trace_formats(register: TraceFormatRegister) -> None:
    """Register trace formats (how a trace session is written), selected by ``[trace] format``
    in ``llmlog.toml`` or ``llmlog.new_trace_session(path, format=...)``.

    :param register: ``register(name, factory, *, options=None, description="", detect=None,
        read=None, view=None, view_arguments=None)``. ``factory(options, path)`` returns a writer
        with ``write(event)``, ``flush()`` and ``close()`` for the trace file at ``path`` (or, when
        ``path`` is a directory, for a new file it names there). ``detect(first_line)`` tells
        whether a file is in the format, ``read(path, skipped=None)`` yields its events (so
        ``llmlog convert`` can turn it into any other format), ``view(path, args, out)``
        prints it for ``llmlog view``, and ``view_arguments(parser)`` adds the ``llmlog view``
        flags of the format's own (``parser.add_argument(...)``; see
        :class:`llmlog.registry.TraceFormatSupport`).
    """


@hookspec
def llmlog_register_integrations(register: ComponentRegister) -> None:
    """Register integrations with other libraries (tracing DSPy, exporting over OTLP...), turned
    on by ``[integrations.NAME] enabled = true`` in ``llmlog.toml``.

    :param register: ``register(name, factory, *, options=None, description="")``.
        ``factory(options)`` returns an :class:`llmlog.interfaces.Integration`: ``configure()``
        calls its ``start()`` when the table says ``enabled = true``, and its ``stop()`` when the
        configuration is replaced or llmlog shuts down. ``stop()`` must leave the other library as
        ``start()`` found it.
    """


@hookspec
def llmlog_register_serializers(register: SerializerRegister) -> None:
    """Teach every formatter to encode values of a type it does not know.

    :param register: ``register(type_, function)``; ``function(value)`` returns something
        JSON-encodable (a str, number, list or dict). Subclasses of ``type_`` use it too. A failing
        function falls back to ``repr()``; a log call never raises because of it.
    """


@hookspec
def llmlog_register_commands(register: CommandRegister, host: PluginHost) -> None:
    """Add subcommands to the ``llmlog`` command line. Every command but ``plugins`` and
    ``config`` comes through here, the core's own ``view`` and ``convert`` included
    (:mod:`llmlog.default_plugins.trace_commands`).

    :param register: ``register(name, run, *, help="", arguments=None)``. ``arguments(parser)``
        adds options to an :class:`argparse.ArgumentParser` (a command with actions adds its own
        subparsers); ``run(args)`` does the work and returns an exit status (``None`` means 0).
    :param host: the :class:`llmlog.plugins.PluginHost` the command line runs with: the
        components every plugin registered (``host.components(kind)``: ``llmlog view`` reads the
        trace formats) and its pluggy manager ``host.pm``, for hooks a plugin declares for other
        plugins (``llmlog demo``'s variants). Every component is registered by the time this hook
        is called; read ``host.commands`` in ``arguments`` or ``run``, not here.
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
