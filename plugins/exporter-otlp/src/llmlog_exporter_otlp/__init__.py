"""llmlog's OTLP exporter: trace sessions and spans as OpenTelemetry spans, sent over OTLP.

``[integrations.otlp] enabled = true`` in ``llmlog.toml`` (or ``OtlpExporter(options).start()``)
hands every trace event, from every session and span, to a bounded queue that one background
thread turns into OpenTelemetry spans with the GenAI semantic conventions and sends with the
OpenTelemetry SDK's OTLP exporter. It works beside the local trace files.
"""

from llmlog_exporter_otlp.options import OtlpOptions

__all__ = ["OtlpExporter", "OtlpOptions"]


def __getattr__(name: str) -> object:
    # The OpenTelemetry SDK is imported on first use, not with the package.
    if name == "OtlpExporter":
        from llmlog_exporter_otlp.exporter import OtlpExporter

        return OtlpExporter
    raise AttributeError(name)
