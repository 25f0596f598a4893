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

from typing import TYPE_CHECKING, Any

from llmlog import state as _state
from llmlog.budgets import Budget, BudgetExceeded, budget, check_budget
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


def _configure_on_first_use() -> None:
    # Here, at the top of the package, because only this layer may import llmlog.runtime (the
    # logger and the dispatcher sit below it); a program that logs without calling configure()
    # loads it at its first entry.
    from llmlog.runtime import configure_on_first_use

    configure_on_first_use()


_state.dispatcher.defer(_configure_on_first_use)

if TYPE_CHECKING:
    from llmlog.config import ConfigError, Configuration
    from llmlog.hookspecs import hookimpl
    from llmlog.notebook import display
    from llmlog.runtime import (
        check_configuration,
        configure,
        current_configuration,
        shutdown,
        stats,
    )

    __version__: str

# Configuration (attrs classes, cattrs, TOML, platformdirs) and the plugin host (pluggy,
# importlib.metadata) load on first use: a program that only logs never pays for them, and the
# first entry of an unconfigured process configures llmlog anyway (``llmlog.logger``).
_LAZY = {
    "ConfigError": "llmlog.config",
    "Configuration": "llmlog.config",
    "check_configuration": "llmlog.runtime",
    "configure": "llmlog.runtime",
    "current_configuration": "llmlog.runtime",
    "shutdown": "llmlog.runtime",
    "stats": "llmlog.runtime",
    "hookimpl": "llmlog.hookspecs",
    "display": "llmlog.notebook",
}


def __getattr__(name: str) -> Any:
    """The lazily loaded names of ``llmlog`` (PEP 562): each is imported from its module once and
    then kept here as an ordinary attribute."""
    import importlib

    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            value: Any = version("llmlog")
        except PackageNotFoundError:  # a source tree that is not installed
            value = "0.0.0"
    elif name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    else:
        raise AttributeError(f"module 'llmlog' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY, "__version__"})


__all__ = [
    "Budget",
    "BudgetExceeded",
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
    "budget",
    "check_budget",
    "check_configuration",
    "configure",
    "current_configuration",
    "current_context",
    "display",
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
