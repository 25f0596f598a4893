"""Registers the ``otlp`` integration (spans) and the ``otlp`` output (log records)."""

from __future__ import annotations

from llmlog import BuildContext, hookimpl
from llmlog.ext import ComponentRegister, Integration, Output, OutputRegister
from llmlog_exporter_otlp.options import OtlpLogOptions, OtlpOptions


def _factory(options: OtlpOptions | None, context: BuildContext) -> Integration:
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


def _output_factory(options: OtlpLogOptions | None, context: BuildContext) -> Output:
    # protobuf and requests are imported only when the output is configured.
    from llmlog_exporter_otlp.logs import OtlpLogOutput

    return OtlpLogOutput(options)


@hookimpl
def llmlog_register_outputs(register: OutputRegister) -> None:
    register(
        "otlp",
        _output_factory,
        options=OtlpLogOptions,
        description="Log entries as OpenTelemetry log records over OTLP/HTTP, linked to their spans.",
    )
