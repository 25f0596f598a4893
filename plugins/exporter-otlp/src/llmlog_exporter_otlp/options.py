"""The options of ``[integrations.otlp]``."""

from __future__ import annotations

import os
from typing import Literal

import attrs

from llmlog.ext import Bytes, SamplingOptions, Seconds

__all__ = ["OtlpConnectionOptions", "OtlpLogOptions", "OtlpOptions", "request_headers", "setting"]


@attrs.frozen(kw_only=True)
class OtlpConnectionOptions:
    """Where and how to send, and the queue in front of it: what spans and logs share."""

    #: Extra request headers (API keys of hosted backends); merged over ``OTEL_EXPORTER_OTLP_HEADERS``.
    headers: dict[str, str] = attrs.Factory(dict)
    #: ``gzip`` or ``none``; default from ``OTEL_EXPORTER_OTLP_COMPRESSION``, else none.
    compression: Literal["", "gzip", "none"] = ""
    #: Seconds one export request may take (``OTEL_EXPORTER_OTLP_TIMEOUT``; default 10).
    timeout: Seconds = 0.0
    #: ``service.name`` of the resource (``OTEL_SERVICE_NAME``; default ``llmlog``).
    service_name: str = ""
    #: ``service.version`` of the resource.
    service_version: str = ""
    #: More resource attributes (``deployment.environment`` ...), over ``OTEL_RESOURCE_ATTRIBUTES``.
    resource_attributes: dict[str, str] = attrs.Factory(dict)
    #: Items waiting for the export thread at most, and again items waiting for the collector;
    #: more are dropped and counted.
    max_queue_size: int = attrs.field(default=20_000, validator=attrs.validators.gt(0))
    #: Bytes held by both at most (an estimate: text by length plus a fixed cost per item); more
    #: are dropped and counted. 32 MiB holds a full queue of ordinary entries (20,000 of about
    #: 1 KiB) or about 1,000 prompts at the core's 32 KiB string cap.
    max_queue_bytes: Bytes = attrs.field(
        default=32 * 2**20, validator=attrs.validators.ge(64 * 2**10)
    )
    #: Items per export request at most.
    max_export_batch_size: int = attrs.field(default=512, validator=attrs.validators.gt(0))
    #: Seconds between exports (sooner when a batch is full).
    schedule_delay: Seconds = attrs.field(default=1.0, validator=attrs.validators.gt(0))
    #: Seconds closing (``llmlog.shutdown()``, a new configuration, exit) waits for the last items
    #: to be exported, in total for every OTLP exporter and output closing together; a request
    #: still in flight then is abandoned.
    flush_timeout: Seconds = attrs.field(default=5.0, validator=attrs.validators.gt(0))


@attrs.frozen(kw_only=True)
class OtlpOptions(OtlpConnectionOptions):
    """Options of the OTLP span exporter (``enabled`` is read by the configuration itself).

    Empty values fall back to the standard ``OTEL_EXPORTER_OTLP_*`` and ``OTEL_SERVICE_NAME`` /
    ``OTEL_RESOURCE_ATTRIBUTES`` environment variables, then to OpenTelemetry's defaults.
    """

    #: Where to send traces, e.g. ``http://127.0.0.1:4318/v1/traces`` (``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``,
    #: ``OTEL_EXPORTER_OTLP_ENDPOINT``; default ``http://localhost:4318/v1/traces``).
    endpoint: str = ""
    #: ``http/protobuf`` or ``grpc`` (needs ``llmlog-exporter-otlp[grpc]``); default from
    #: ``OTEL_EXPORTER_OTLP_PROTOCOL``, else ``http/protobuf``.
    protocol: Literal["", "http/protobuf", "grpc"] = ""
    #: Export prompts, responses, tool arguments and results, inputs and outputs (may hold personal
    #: data; off by default, as the GenAI conventions ask). Also on when
    #: ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` is ``SPAN_ONLY`` or ``SPAN_AND_EVENT``.
    capture_content: bool = False
    #: Also write OpenInference attributes (``openinference.span.kind``, ``llm.token_count.*``...)
    #: so that Arize Phoenix shows LLM and tool spans natively.
    openinference: bool = False
    #: Tail sampling before export (``[integrations.otlp.sampling]``), its own policy apart
    #: from the trace files' ``[trace.sampling]``: whole traces kept or left out, never part of
    #: one. The OTLP exporter writes no summary lines (``not_kept`` is ``drop`` here); its
    #: decisions are counted in ``llmlog.stats()["trace_sampling"]["otlp"]``.
    sampling: SamplingOptions = attrs.Factory(SamplingOptions)


@attrs.frozen(kw_only=True)
class OtlpLogOptions(OtlpConnectionOptions):
    """Options of the ``otlp`` output: log entries as OpenTelemetry log records over OTLP/HTTP.

    Empty values fall back to the ``OTEL_EXPORTER_OTLP_LOGS_*`` / ``OTEL_EXPORTER_OTLP_*``,
    ``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES`` environment variables.
    """

    #: Where to send log records, e.g. ``http://127.0.0.1:4318/v1/logs``
    #: (``OTEL_EXPORTER_OTLP_LOGS_ENDPOINT``, else ``OTEL_EXPORTER_OTLP_ENDPOINT`` + ``/v1/logs``;
    #: default ``http://localhost:4318/v1/logs``).
    endpoint: str = ""


def setting(value: str, signal: str, name: str) -> str:
    """An option's ``value`` if set, else ``OTEL_EXPORTER_OTLP_{signal}_{name}``, else
    ``OTEL_EXPORTER_OTLP_{name}`` (the order the OTLP exporter specification gives), else ``""``.

    :param signal: ``TRACES`` or ``LOGS``.
    """
    return (
        value
        or os.environ.get(f"OTEL_EXPORTER_OTLP_{signal}_{name}")
        or os.environ.get(f"OTEL_EXPORTER_OTLP_{name}", "")
    )


def request_headers(options: OtlpConnectionOptions, signal: str) -> dict[str, str]:
    """The option's headers over those of the ``OTEL_EXPORTER_OTLP_[signal_]HEADERS`` variables."""
    from opentelemetry.util.re import parse_env_headers

    return {**parse_env_headers(setting("", signal, "HEADERS"), liberal=True), **options.headers}
