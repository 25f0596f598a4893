"""The plugin API: everything a plugin imports from core, and nothing else.

A plugin (an output, formatter, recorder backend, trace format, integration, claimed table or
CLI command; see ``docs/writing-a-plugin.md``) imports core through three names only:

* ``llmlog`` for the user API it also offers its users (``configure``, ``get_logger``, ``span``,
  ``__version__``...);
* ``llmlog.ext`` (this module) for the plugin API below;
* ``llmlog.testing`` in its tests (capturing entries, the conformance suites).

Every other module of ``llmlog`` is internal: it may change in any release. A test of the
repository fails when a first-party plugin imports one. Each name here is re-exported from the
module that defines it, whose docstring is its reference; this list says what each is for.
Importing ``llmlog.ext`` costs no more than ``import llmlog``: each name loads its module on first
use (PEP 562).

Hooks and registration
    ``hookimpl`` marks a hook implementation (``@hookimpl def llmlog_register_outputs(register)``);
    ``hookspec`` marks the specification of a hook a plugin declares for other plugins.
    ``register`` callbacks, one per hook: ``OutputRegister``, ``ComponentRegister`` (formatters,
    recorders, integrations), ``TraceFormatRegister``, ``SerializerRegister``, ``TableRegister``,
    ``CommandRegister``. A price table (``llmlog_register_pricing``) returns a ``PriceTable``
    whose ``lookup`` answers ``Rates`` (USD per million tokens). What they register: ``TraceFormat`` (a trace format as one object:
    ``register(FORMAT)``), ``ComponentKind``, ``Component`` (with ``TraceFormatSupport`` of a
    trace format), ``Table`` with ``TableContext`` and
    ``ComponentChoice``, ``Command``, ``Closeable`` (what a table's ``start`` returns).
    A trace format's ``llmlog view`` flags: ``ViewArguments`` (a function of an
    ``ArgumentAdder``); its ``reprice(lines, price)`` gets a ``PriceUsage``. ``PluginHost`` is what the commands hook receives; ``plugin_host()`` the
    host of the configuration in force (``plugin_host().components(ComponentKind.RECORDER)``).

Interfaces and records
    ``Output``, ``Formatter``, ``Integration``: the base classes of components; ``BuildContext``:
    what a factory gets besides its options. ``EntryCode``: the source of an output's flat
    per-entry function (``Output.entry_code``, ``Formatter.line_code``). ``LogEntry``,
    ``TokenUsage``, ``TraceEvent``, ``TraceEventType``: the records. ``usage_from`` reads a provider's usage (OpenAI's,
    Anthropic's, LiteLLM's, DSPy's) into a ``TokenUsage`` by its counting rule;
    ``USAGE_DETAIL_FIELDS`` names its detail counts (cache read, cache creation, reasoning,
    audio, image), ``USAGE_DETAIL_LABELS`` their short labels in text, and ``usage_details(usage)`` gives those that are not zero (``usage_detail_text``: as
    `` cached=5 reasoning=4`` text). ``Severity``, ``parse_severity``, ``severity_from_name``,
    ``LEVEL_NAMES`` (each severity's upper-case name, by value) and ``SEVERITY_NAMES`` (their
    lower-case names, as configuration writes them).

Configuration
    Option types for a component's or table's attrs options class: ``Seconds`` (a number or a
    duration such as ``"1m30s"``), ``Bytes`` (a number or a size such as ``"64KiB"``),
    ``FileMode`` (permission bits, octal text or number); ``parse_duration`` and ``parse_size``
    read the same texts. ``OptionError``: raised by a factory or ``check`` for a bad option, placed
    at its key. ``ConfigError``, ``Configuration``, ``validate_configuration`` (read and validate
    one, building nothing). ``config_relative`` resolves a path option against the configuration
    file's directory; ``default_trace_dir()`` is where traces go by default. ``shown(value)``
    quotes a configuration value for a message.

Process and problems
    ``report_problem(message)``: tell the user of a failure llmlog survives (stderr, sanitised,
    never raises). ``register_lifecycle(flush=, at_exit=, before_fork=, after_fork_in_child=)``:
    process-wide callbacks of a component that keeps its own buffers, files or threads;
    ``flush_all()`` calls every registered ``flush``. ``global_dispatcher()`` is the running
    logging pipeline (a ``Dispatcher``: its ``sanitizer``, ``add_output``, ``remove_output``).

Rendering text (every text plugin escapes the same way)
    ``escape``, ``escape_lines``, ``escape_json_bytes`` (``event_line_tail``: a trace event's
    line from its trace id on, shared by the encoders that end with it), ``quote_if_needed``,
    ``format_value``, ``format_fields``, ``safe_field_items``, ``format_cost``, ``format_tokens``, ``plain_line``,
    ``continuation_lines``, ``plural``; timestamps ``rfc3339_utc``, ``rfc3339_local``,
    ``rfc3339_nano``, ``local_timestamp``. ``StreamLines`` writes whole lines to a stream shared
    by threads.

Serialising and sanitising
    ``serializer`` (a ``Serializer``: ``dumps``, ``default``), ``encoded_event_data`` (a trace
    event's ``data`` encoded once, shared by every writer), ``plain_id`` with ``PLAIN_IDS`` (an id
    written as it is), ``retainable``, ``valid_text``,
    ``big_int_text``, ``safe_repr``. ``Sanitizer``: redaction and limits as configured.

Files
    ``make_private_dirs``, ``create_new``, ``written_atomically``, ``write_private_text``,
    ``DIRECTORY_MODE``: every file and directory llmlog creates is the owner's only.

Tracing (for trace formats and integrations)
    ``TraceWriter``: what a trace format's factory returns (``write``, ``flush``, ``close``).
    ``TraceSession``, ``start_trace_session``, ``new_trace_id``, ``new_span_id``, ``ModuleInfo``,
    ``tracing_interceptor``. The trace fan-out: ``TraceSink`` (``on_event``, ``flush``,
    ``shutdown``: the contract of whatever takes every trace event, as the flight recorder and the
    OTLP exporter do), ``add_trace_sink``, ``remove_trace_sink``, ``trace_sinks()`` (those added
    now), ``flush_trace_sinks``, ``trace_sink_failures``; ``add_listener``/``remove_listener`` for
    a plain function. The other end: ``add_trace_producer``/``remove_trace_producer`` for code
    that holds events to emit them later (in batches), each with the ``Moment`` it happened at
    (``moment()``, given to ``emit_*`` as ``at=``); ``drain_trace_producers`` has them emit.
    Tail sampling in front of a sink: ``SamplingOptions`` (a policy as a table), ``TailSampler`` (holds each trace until its root span ends, then passes it on or
    not), ``TraceFacts`` (what a decision reads), ``SamplerHandoff`` (the sampler fed off the
    application's thread: the events handed over, decided and passed on by the sampling worker).
    ``LogContext``, ``get_current``, ``enter_context``, ``exit_context``: the context a trace
    session and its spans live in.

Viewing (for a trace format's ``view``)
    ``Paint`` and ``paint_for(args, out)`` (colours only on a terminal), the colours ``RED``,
    ``GREEN``, ``YELLOW``, ``DIM``, ``CYAN``, ``BOLD``, ``RESET``; ``ViewError`` (a bad request:
    exit 2); ``export_target`` (``--export``), ``follow`` (``--watch``); ``Distribution``
    (``--stats`` quantiles in bounded memory).
    ``--json`` of every viewer command (schema ``JSON_SCHEMA``, ``llmlog.view/1``):
    ``add_json_flags`` (``--json``, ``--limit``, ``--offset``, ``--search``, ``--errors``),
    ``json_page`` (the one envelope: rows redacted, filtered and paged; ``paging(args)`` its
    keywords from the flags), ``dumps_json`` and
    ``print_json`` (no terminal escapes), ``configured_sanitizer()`` (redaction as configured).
    Reading trace files as ``llmlog view`` does (for commands that read runs): ``compression_of``
    (a rotated part's ``gzip``/``zstd``, by its first bytes), ``trace_first_line`` (decompressed
    when it is), ``recognising_format`` (the installed format whose ``detect`` accepts it),
    ``is_snapshot_header`` (a flight-recorder snapshot's first line),
    ``decompressed_copy`` (bounded, private, removed afterwards), ``spooled`` (a pipe's
    private copy: a reader reads its input twice) and ``shown_as`` (messages naming the file
    given, not a copy); their errors are ``TraceInputError``, and
    ``TraceCompression`` names the two compressions.

Flight recorder (for its engine, and plugins that annotate)
    ``trace_region``, ``trace_task``, ``trace_log``, ``current_task``; ``FlightRecorderAPI``,
    ``NoFlightRecorder``, ``NO_FLIGHT_RECORDER``, ``global_flight_recorder``,
    ``running_flight_recorder``, ``replace_global_flight_recorder``; ``take_annotations`` and
    ``release_annotations``: which recorder the annotations go to (the running one).

Standard logging
    ``StdlibCapture`` and ``StdlibOptions`` capture standard loggers; a record carrying
    ``FORWARDED_ATTRIBUTE`` came from llmlog and is never captured.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmlog.config import ConfigError, Configuration, OptionError
    from llmlog.config.converter import (
        Bytes,
        FileMode,
        Seconds,
        parse_duration,
        parse_size,
        shown,
    )
    from llmlog.config.paths import config_relative
    from llmlog.context import LogContext, enter_context, exit_context, get_current
    from llmlog.dispatch import Dispatcher, report_problem
    from llmlog.flight.annotations import (
        current_task,
        release_annotations,
        take_annotations,
        trace_log,
        trace_region,
        trace_task,
    )
    from llmlog.flight.running import (
        NO_FLIGHT_RECORDER,
        FlightRecorderAPI,
        NoFlightRecorder,
        global_flight_recorder,
        replace_global_flight_recorder,
        running_flight_recorder,
    )
    from llmlog.hookspecs import hookimpl, hookspec
    from llmlog.interfaces import (
        BuildContext,
        EntryCode,
        Formatter,
        Integration,
        Output,
        TraceSink,
    )
    from llmlog.jsonout import (
        JSON_SCHEMA,
        add_json_flags,
        configured_sanitizer,
        dumps_json,
        json_page,
        paging,
        print_json,
    )
    from llmlog.logger import global_dispatcher
    from llmlog.plugins import PluginHost
    from llmlog.pricing import PriceTable, Rates
    from llmlog.records import DETAIL_FIELDS as USAGE_DETAIL_FIELDS
    from llmlog.records import DETAIL_LABELS as USAGE_DETAIL_LABELS
    from llmlog.records import LogEntry, Moment, TokenUsage, TraceEvent, TraceEventType
    from llmlog.records import detail_items as usage_details
    from llmlog.records import detail_text as usage_detail_text
    from llmlog.registry import (
        ArgumentAdder,
        Closeable,
        Command,
        CommandRegister,
        Component,
        ComponentChoice,
        ComponentKind,
        ComponentRegister,
        OutputRegister,
        PriceUsage,
        SerializerRegister,
        Table,
        TableContext,
        TableRegister,
        TraceFormat,
        TraceFormatRegister,
        TraceFormatSupport,
        ViewArguments,
    )
    from llmlog.render import (
        continuation_lines,
        escape,
        escape_json_bytes,
        escape_lines,
        event_line_tail,
        format_cost,
        format_fields,
        format_tokens,
        format_value,
        local_timestamp,
        plain_line,
        plural,
        quote_if_needed,
        rfc3339_local,
        rfc3339_nano,
        rfc3339_utc,
        safe_field_items,
    )
    from llmlog.runtime import plugin_host
    from llmlog.runtime import validate as validate_configuration
    from llmlog.safefiles import DIRECTORY_MODE, create_new, make_private_dirs, written_atomically
    from llmlog.sampling import SamplerHandoff, TailSampler, TraceFacts
    from llmlog.sanitize import Sanitizer
    from llmlog.serialize import (
        PLAIN_IDS,
        Serializer,
        big_int_text,
        encoded_event_data,
        plain_id,
        retainable,
        safe_repr,
        serializer,
        valid_text,
    )
    from llmlog.severity import (
        LEVEL_NAMES,
        SEVERITY_NAMES,
        Severity,
        parse_severity,
        severity_from_name,
    )
    from llmlog.state import flush_all, register_lifecycle
    from llmlog.stdlib import FORWARDED_ATTRIBUTE, StdlibCapture, StdlibOptions
    from llmlog.streamwrite import StreamLines
    from llmlog.traceconfig import SamplingOptions, default_trace_dir
    from llmlog.traceinput import Compression as TraceCompression
    from llmlog.traceinput import (
        TraceInputError,
        compression_of,
        decompressed_copy,
        is_snapshot_header,
        recognising_format,
        shown_as,
        spooled,
    )
    from llmlog.traceinput import first_line as trace_first_line
    from llmlog.tracesinks import add_producer as add_trace_producer
    from llmlog.tracesinks import add_sink as add_trace_sink
    from llmlog.tracesinks import added as trace_sinks
    from llmlog.tracesinks import drain_producers as drain_trace_producers
    from llmlog.tracesinks import failures as trace_sink_failures
    from llmlog.tracesinks import flush as flush_trace_sinks
    from llmlog.tracesinks import remove_producer as remove_trace_producer
    from llmlog.tracesinks import remove_sink as remove_trace_sink
    from llmlog.tracing import (
        ModuleInfo,
        TraceSession,
        TraceWriter,
        add_listener,
        moment,
        new_span_id,
        new_trace_id,
        remove_listener,
        start_trace_session,
        tracing_interceptor,
    )
    from llmlog.usage import usage_from
    from llmlog.viewing import (
        BOLD,
        CYAN,
        DIM,
        GREEN,
        RED,
        RESET,
        YELLOW,
        Distribution,
        Paint,
        ViewError,
        export_target,
        follow,
        paint_for,
        write_private_text,
    )


def _names(module: str, *names: str) -> dict[str, tuple[str, str]]:
    return {name: (module, name) for name in names}


# name -> (defining module, its name there). Loaded on first use: the registry, hook markers,
# configuration and viewing helpers pull in argparse, pluggy and cattrs, which a program that only
# logs (and imports a plugin's output module) should not pay for.
_SOURCES: dict[str, tuple[str, str]] = {
    **_names("llmlog.config", "ConfigError", "Configuration", "OptionError"),
    **_names(
        "llmlog.config.converter",
        "Bytes",
        "FileMode",
        "Seconds",
        "parse_duration",
        "parse_size",
        "shown",
    ),
    **_names("llmlog.config.paths", "config_relative"),
    **_names("llmlog.context", "LogContext", "enter_context", "exit_context", "get_current"),
    **_names("llmlog.dispatch", "Dispatcher", "report_problem"),
    **_names(
        "llmlog.flight.annotations",
        "current_task",
        "release_annotations",
        "take_annotations",
        "trace_log",
        "trace_region",
        "trace_task",
    ),
    **_names(
        "llmlog.flight.running",
        "NO_FLIGHT_RECORDER",
        "FlightRecorderAPI",
        "NoFlightRecorder",
        "global_flight_recorder",
        "replace_global_flight_recorder",
        "running_flight_recorder",
    ),
    **_names("llmlog.hookspecs", "hookimpl", "hookspec"),
    **_names(
        "llmlog.interfaces",
        "BuildContext",
        "EntryCode",
        "Formatter",
        "Integration",
        "Output",
        "TraceSink",
    ),
    **_names("llmlog.state", "flush_all", "register_lifecycle"),
    **_names("llmlog.logger", "global_dispatcher"),
    **_names("llmlog.plugins", "PluginHost"),
    **_names("llmlog.pricing", "PriceTable", "Rates"),
    **_names("llmlog.records", "LogEntry", "Moment", "TokenUsage", "TraceEvent", "TraceEventType"),
    **_names(
        "llmlog.registry",
        "ArgumentAdder",
        "Closeable",
        "Command",
        "CommandRegister",
        "Component",
        "ComponentChoice",
        "ComponentKind",
        "ComponentRegister",
        "OutputRegister",
        "PriceUsage",
        "SerializerRegister",
        "Table",
        "TableContext",
        "TableRegister",
        "TraceFormat",
        "TraceFormatRegister",
        "TraceFormatSupport",
        "ViewArguments",
    ),
    **_names(
        "llmlog.render",
        "continuation_lines",
        "escape",
        "escape_json_bytes",
        "escape_lines",
        "event_line_tail",
        "format_cost",
        "format_fields",
        "format_tokens",
        "format_value",
        "local_timestamp",
        "plain_line",
        "plural",
        "quote_if_needed",
        "rfc3339_local",
        "rfc3339_nano",
        "rfc3339_utc",
        "safe_field_items",
    ),
    **_names(
        "llmlog.jsonout",
        "JSON_SCHEMA",
        "add_json_flags",
        "configured_sanitizer",
        "dumps_json",
        "json_page",
        "paging",
        "print_json",
    ),
    "plugin_host": ("llmlog.runtime", "plugin_host"),
    "validate_configuration": ("llmlog.runtime", "validate"),
    **_names(
        "llmlog.safefiles",
        "DIRECTORY_MODE",
        "create_new",
        "make_private_dirs",
        "written_atomically",
    ),
    **_names("llmlog.sampling", "SamplerHandoff", "TailSampler", "TraceFacts"),
    **_names("llmlog.sanitize", "Sanitizer"),
    **_names(
        "llmlog.serialize",
        "PLAIN_IDS",
        "Serializer",
        "big_int_text",
        "encoded_event_data",
        "plain_id",
        "retainable",
        "safe_repr",
        "serializer",
        "valid_text",
    ),
    **_names(
        "llmlog.severity",
        "LEVEL_NAMES",
        "SEVERITY_NAMES",
        "Severity",
        "parse_severity",
        "severity_from_name",
    ),
    **_names("llmlog.stdlib", "FORWARDED_ATTRIBUTE", "StdlibCapture", "StdlibOptions"),
    **_names("llmlog.streamwrite", "StreamLines"),
    **_names(
        "llmlog.traceinput",
        "TraceInputError",
        "compression_of",
        "decompressed_copy",
        "is_snapshot_header",
        "recognising_format",
        "shown_as",
        "spooled",
    ),
    "trace_first_line": ("llmlog.traceinput", "first_line"),
    "TraceCompression": ("llmlog.traceinput", "Compression"),
    **_names("llmlog.traceconfig", "SamplingOptions", "default_trace_dir"),
    "add_trace_producer": ("llmlog.tracesinks", "add_producer"),
    "add_trace_sink": ("llmlog.tracesinks", "add_sink"),
    "drain_trace_producers": ("llmlog.tracesinks", "drain_producers"),
    "remove_trace_producer": ("llmlog.tracesinks", "remove_producer"),
    "flush_trace_sinks": ("llmlog.tracesinks", "flush"),
    "remove_trace_sink": ("llmlog.tracesinks", "remove_sink"),
    "trace_sink_failures": ("llmlog.tracesinks", "failures"),
    "trace_sinks": ("llmlog.tracesinks", "added"),
    **_names(
        "llmlog.tracing",
        "ModuleInfo",
        "TraceSession",
        "TraceWriter",
        "add_listener",
        "moment",
        "new_span_id",
        "new_trace_id",
        "remove_listener",
        "start_trace_session",
        "tracing_interceptor",
    ),
    "USAGE_DETAIL_FIELDS": ("llmlog.records", "DETAIL_FIELDS"),
    "USAGE_DETAIL_LABELS": ("llmlog.records", "DETAIL_LABELS"),
    "usage_detail_text": ("llmlog.records", "detail_text"),
    "usage_details": ("llmlog.records", "detail_items"),
    "usage_from": ("llmlog.usage", "usage_from"),
    **_names(
        "llmlog.viewing",
        "BOLD",
        "CYAN",
        "DIM",
        "GREEN",
        "RED",
        "RESET",
        "YELLOW",
        "Distribution",
        "Paint",
        "ViewError",
        "export_target",
        "follow",
        "paint_for",
        "write_private_text",
    ),
}


def __getattr__(name: str) -> Any:
    """A name of the plugin API, imported from its module on first use and then kept here as an
    ordinary attribute (PEP 562)."""
    try:
        module, attribute = _SOURCES[name]
    except KeyError:
        raise AttributeError(f"module 'llmlog.ext' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_SOURCES})


__all__ = [
    "BOLD",
    "CYAN",
    "DIM",
    "DIRECTORY_MODE",
    "FORWARDED_ATTRIBUTE",
    "GREEN",
    "JSON_SCHEMA",
    "LEVEL_NAMES",
    "NO_FLIGHT_RECORDER",
    "PLAIN_IDS",
    "RED",
    "RESET",
    "SEVERITY_NAMES",
    "USAGE_DETAIL_FIELDS",
    "USAGE_DETAIL_LABELS",
    "YELLOW",
    "ArgumentAdder",
    "BuildContext",
    "Bytes",
    "Closeable",
    "Command",
    "CommandRegister",
    "Component",
    "ComponentChoice",
    "ComponentKind",
    "ComponentRegister",
    "ConfigError",
    "Configuration",
    "Dispatcher",
    "Distribution",
    "EntryCode",
    "FileMode",
    "FlightRecorderAPI",
    "Formatter",
    "Integration",
    "LogContext",
    "LogEntry",
    "ModuleInfo",
    "Moment",
    "NoFlightRecorder",
    "OptionError",
    "Output",
    "OutputRegister",
    "Paint",
    "PluginHost",
    "PriceTable",
    "PriceUsage",
    "Rates",
    "SamplerHandoff",
    "SamplingOptions",
    "Sanitizer",
    "Seconds",
    "Serializer",
    "SerializerRegister",
    "Severity",
    "StdlibCapture",
    "StdlibOptions",
    "StreamLines",
    "Table",
    "TableContext",
    "TableRegister",
    "TailSampler",
    "TokenUsage",
    "TraceCompression",
    "TraceEvent",
    "TraceEventType",
    "TraceFacts",
    "TraceFormat",
    "TraceFormatRegister",
    "TraceFormatSupport",
    "TraceInputError",
    "TraceSession",
    "TraceSink",
    "TraceWriter",
    "ViewArguments",
    "ViewError",
    "add_json_flags",
    "add_listener",
    "add_trace_producer",
    "add_trace_sink",
    "big_int_text",
    "compression_of",
    "config_relative",
    "configured_sanitizer",
    "continuation_lines",
    "create_new",
    "current_task",
    "decompressed_copy",
    "default_trace_dir",
    "drain_trace_producers",
    "dumps_json",
    "encoded_event_data",
    "enter_context",
    "escape",
    "escape_json_bytes",
    "escape_lines",
    "event_line_tail",
    "exit_context",
    "export_target",
    "flush_all",
    "flush_trace_sinks",
    "follow",
    "format_cost",
    "format_fields",
    "format_tokens",
    "format_value",
    "get_current",
    "global_dispatcher",
    "global_flight_recorder",
    "hookimpl",
    "hookspec",
    "is_snapshot_header",
    "json_page",
    "local_timestamp",
    "make_private_dirs",
    "moment",
    "new_span_id",
    "new_trace_id",
    "paging",
    "paint_for",
    "parse_duration",
    "parse_severity",
    "parse_size",
    "plain_id",
    "plain_line",
    "plugin_host",
    "plural",
    "print_json",
    "quote_if_needed",
    "recognising_format",
    "register_lifecycle",
    "release_annotations",
    "remove_listener",
    "remove_trace_producer",
    "remove_trace_sink",
    "replace_global_flight_recorder",
    "report_problem",
    "retainable",
    "rfc3339_local",
    "rfc3339_nano",
    "rfc3339_utc",
    "running_flight_recorder",
    "safe_field_items",
    "safe_repr",
    "serializer",
    "severity_from_name",
    "shown",
    "shown_as",
    "spooled",
    "start_trace_session",
    "take_annotations",
    "trace_first_line",
    "trace_log",
    "trace_region",
    "trace_sink_failures",
    "trace_sinks",
    "trace_task",
    "tracing_interceptor",
    "usage_detail_text",
    "usage_details",
    "usage_from",
    "valid_text",
    "validate_configuration",
    "write_private_text",
    "written_atomically",
]
