"""llmlog's OTLP exporter: spans and log entries to OpenTelemetry, over OTLP.

``[integrations.otlp] enabled = true`` in ``llmlog.toml`` (or ``OtlpExporter(options).start()``)
hands every trace event, from every session and span, to a bounded queue that one background
thread turns into OpenTelemetry spans with the GenAI semantic conventions and sends with the
OpenTelemetry SDK's OTLP exporter. It works beside the local trace files. ``[outputs.NAME] type =
"otlp"`` (or ``OtlpLogOutput(options)``) sends log entries as OpenTelemetry log records, linked
to the spans they were made in.
"""

from llmlog_exporter_otlp.options import OtlpLogOptions, OtlpOptions

__all__ = ["OtlpExporter", "OtlpLogOptions", "OtlpLogOutput", "OtlpOptions"]


def __getattr__(name: str) -> object:
    # The OpenTelemetry SDK is imported on first use, not with the package.
    if name == "OtlpExporter":
        from llmlog_exporter_otlp.exporter import OtlpExporter

        return OtlpExporter
    if name == "OtlpLogOutput":
        from llmlog_exporter_otlp.logs import OtlpLogOutput

        return OtlpLogOutput
    raise AttributeError(name)
