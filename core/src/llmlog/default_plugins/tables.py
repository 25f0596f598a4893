"""Built-in plugin claiming the ``[stdlib]`` and ``[trace]`` tables of ``llmlog.toml``.

They go through ``llmlog_register_tables`` as any plugin's table does: the loader validates them,
``llmlog config show`` prints them, and ``configure()`` starts what they ask for.
"""

from __future__ import annotations

from llmlog.hookspecs import hookimpl
from llmlog.registry import ComponentChoice, ComponentKind, TableContext, TableRegister
from llmlog.stdlib import StdlibCapture, StdlibOptions
from llmlog.traceconfig import TraceOptions


def _start_capture(options: StdlibOptions, context: TableContext) -> StdlibCapture | None:
    """``capture = true``: the handler installed on the configured loggers until the
    configuration is retired."""
    if not options.capture:
        return None
    capture = StdlibCapture(options)
    capture.install()
    return capture


@hookimpl
def llmlog_register_tables(register: TableRegister) -> None:
    register(
        "stdlib",
        StdlibOptions,
        description="Capture the standard logging module's records into llmlog.",
        start=_start_capture,
    )
    # Trace sessions read it when they open (llmlog.tracing): nothing to start.
    register(
        "trace",
        TraceOptions,
        description="Where and how trace sessions write by default.",
        component=ComponentChoice("format", ComponentKind.TRACE_FORMAT, "dspy", "trace format"),
    )
