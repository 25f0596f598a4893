"""llmlog: logging, tracing and flight recording for Python LLM applications.

Quick start::

    import llmlog

    llmlog.configure()                       # llmlog.toml, or built-in defaults
    log = llmlog.get_logger(__name__)
    with llmlog.with_model_id("gpt-4o-mini"):
        log.info("answered %s questions", 3, dataset="squad")

Everything here is re-exported from the module that defines it; those modules' docstrings are the
API reference.
"""

from importlib.metadata import PackageNotFoundError, version

from llmlog.config import ConfigError, Configuration
from llmlog.configure import (
    check_configuration,
    configure,
    current_configuration,
    shutdown,
    stats,
)
from llmlog.context import (
    LogContext,
    bind_current,
    current_context,
    get_model_id,
    get_span_id,
    get_token_info,
    get_trace_id,
    get_trace_session,
    with_fields,
    with_model_id,
    with_span_id,
    with_token_info,
    with_trace_id,
    with_trace_session,
)
from llmlog.hookspecs import hookimpl
from llmlog.interfaces import BuildContext, Formatter, Output
from llmlog.logger import Logger, get_logger, set_logger
from llmlog.records import LogEntry, TokenInfo, TokenUsage, TraceEvent, TraceEventType
from llmlog.severity import Severity, parse_severity
from llmlog.tracing import (
    Span,
    TraceSession,
    new_trace_session,
    record_llm_call,
    span,
    start_trace_session,
    traced,
)

try:
    __version__ = version("llmlog")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

__all__ = [
    "BuildContext",
    "ConfigError",
    "Configuration",
    "Formatter",
    "LogContext",
    "LogEntry",
    "Logger",
    "Output",
    "Severity",
    "Span",
    "TokenInfo",
    "TokenUsage",
    "TraceEvent",
    "TraceEventType",
    "TraceSession",
    "__version__",
    "bind_current",
    "check_configuration",
    "configure",
    "current_configuration",
    "current_context",
    "get_logger",
    "get_model_id",
    "get_span_id",
    "get_token_info",
    "get_trace_id",
    "get_trace_session",
    "hookimpl",
    "new_trace_session",
    "parse_severity",
    "record_llm_call",
    "set_logger",
    "shutdown",
    "span",
    "start_trace_session",
    "stats",
    "traced",
    "with_fields",
    "with_model_id",
    "with_span_id",
    "with_token_info",
    "with_trace_id",
    "with_trace_session",
]
