"""Registers the ``otlp`` integration."""

from __future__ import annotations

from llmlog import hookimpl
from llmlog.interfaces import Integration
from llmlog.registry import ComponentRegister
from llmlog_exporter_otlp.options import OtlpOptions


def _factory(options: OtlpOptions | None) -> Integration:
    # The OpenTelemetry SDK is imported only when the exporter is enabled.
    from llmlog_exporter_otlp.exporter import OtlpExporter

    return OtlpExporter(options)


@hookimpl
def llmlog_register_integrations(register: ComponentRegister) -> None:
    register(
        "otlp",
        _factory,
        options=OtlpOptions,
        description="Export spans, LLM and tool calls as OpenTelemetry spans (GenAI conventions) over OTLP.",
    )
