"""The OTLP span exporter: a trace sink (``llmlog.ext.TraceSink``) in front of an
:class:`ExportQueue`.

The application's thread only appends each event to the bounded queue. The export thread turns
events into spans (:mod:`llmlog_exporter_otlp.assemble`) and sends them in batches through the
OpenTelemetry SDK's OTLP exporter; the queue retries, bounds, drops and reports (see
:mod:`llmlog_exporter_otlp.sending`).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from llmlog.ext import (
    Integration,
    SamplerHandoff,
    TailSampler,
    TraceEvent,
    TraceSink,
    add_trace_sink,
    remove_trace_sink,
)
from llmlog_exporter_otlp.options import (
    OtlpConnectionOptions,
    OtlpOptions,
    request_headers,
    setting,
)
from llmlog_exporter_otlp.sending import ExportQueue
from llmlog_exporter_otlp.sizes import ITEM_OVERHEAD, fields_size

__all__ = ["OtlpExporter"]

_CONTENT_MODES = {"SPAN_ONLY", "SPAN_AND_EVENT"}
#: The SDK exporters log every retry and failure; this exporter reports each kind of problem once
#: itself, so their loggers are quietened while it runs.
_SDK_LOGGERS = ("opentelemetry.exporter.otlp", "opentelemetry.sdk.trace.export")


def _span_exporter(options: OtlpOptions) -> Any:
    """The SDK's OTLP exporter; unset options leave the ``OTEL_EXPORTER_OTLP_*`` variables in
    charge (the SDK reads them)."""
    protocol = setting(options.protocol, "TRACES", "PROTOCOL")
    kwargs: dict[str, Any] = {}
    if options.endpoint:
        kwargs["endpoint"] = options.endpoint
    if options.headers:
        kwargs["headers"] = request_headers(options, "TRACES")
    if options.timeout:
        kwargs["timeout"] = options.timeout
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
            OTLPSpanExporter as GrpcExporter,
        )

        if options.compression:
            from grpc import Compression

            kwargs["compression"] = (
                Compression.Gzip if options.compression == "gzip" else Compression.NoCompression
            )
        return GrpcExporter(**kwargs)
    from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    if options.compression:
        kwargs["compression"] = (
            HttpCompression.Gzip if options.compression == "gzip" else HttpCompression.NoCompression
        )
    return OTLPSpanExporter(**kwargs)


def _traces_endpoint(options: OtlpOptions) -> str:
    """Where the SDK's exporter sends, for messages: the option, the variables as the SDK reads
    them, or its default."""
    if options.endpoint:
        return options.endpoint
    explicit = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    if explicit:
        return explicit
    grpc = setting(options.protocol, "TRACES", "PROTOCOL") == "grpc"
    base = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "")
    if grpc:
        return base or "http://localhost:4317"
    return f"{base.rstrip('/')}/v1/traces" if base else "http://localhost:4318/v1/traces"


def _resource(options: OtlpConnectionOptions) -> Any:
    from opentelemetry.sdk.resources import Resource

    attributes: dict[str, Any] = dict(options.resource_attributes)
    if options.service_name:
        attributes["service.name"] = options.service_name
    elif not os.environ.get("OTEL_SERVICE_NAME") and "service.name" not in os.environ.get(
        "OTEL_RESOURCE_ATTRIBUTES", ""
    ):
        attributes.setdefault("service.name", "llmlog")
    if options.service_version:
        attributes["service.version"] = options.service_version
    return Resource.create(attributes)  # merges OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME


class OtlpExporter(Integration, TraceSink):
    """``[integrations.otlp] enabled = true``: export every trace event as OpenTelemetry spans.

    While started it is a sink of the trace fan-out (``llmlog.ext.add_trace_sink``): ``on_event``
    queues the event, ``flush`` exports what is queued, ``shutdown`` is :meth:`stop`.

    :param options: endpoint, headers, resource, content capture, queue bounds.
    :param span_exporter: the SDK exporter to send through (default: OTLP from ``options``).
    """

    name = "otlp"

    def __init__(self, options: OtlpOptions | None = None, span_exporter: Any = None) -> None:
        self.options = options or OtlpOptions()
        self._span_exporter = span_exporter
        self._given_exporter = span_exporter is not None
        self._sending: ExportQueue | None = None
        self._stopped: ExportQueue | None = None  # the last run's queue, for stats()
        #: The tail sampler in front of the queue (``sampling.enabled``), and its hand-off
        #: (the events of every thread, in order, decided by the sampling worker).
        self.sampler: TailSampler | None = None
        self._handoff: SamplerHandoff | None = None
        self._quieted: list[tuple[logging.Logger, int]] = []

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        """Build the exporter, start the export thread and take every trace event."""
        from llmlog_exporter_otlp.assemble import SpanAssembler

        if self._sending is not None:
            return
        if self._span_exporter is None:
            self._span_exporter = _span_exporter(self.options)
        capture = self.options.capture_content or (
            os.environ.get("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "").upper()
            in _CONTENT_MODES
        )
        assembler = SpanAssembler(
            _resource(self.options),
            capture_content=capture,
            openinference=self.options.openinference,
        )
        self._quieted = [(logging.getLogger(n), logging.getLogger(n).level) for n in _SDK_LOGGERS]
        for logger, _ in self._quieted:
            logger.setLevel(logging.CRITICAL)
        self._sending = ExportQueue(
            "llmlog-otlp",
            self.options,
            convert=assembler.add,
            send=self._send,
            estimate=event_size,
            measure=span_size,
            finish=assembler.close,
            units=_span_units,
            held=assembler.open_spans,
            queued="trace events",
            sent="spans",
            other="other trace events (span ends, LLM and tool calls, errors)",
            endpoint=_traces_endpoint(self.options),
        )
        self._sending.start()
        if self.options.sampling.enabled:
            self.sampler = TailSampler(self.options.sampling, self._sending.put, name="otlp")
            sending = self._sending
            # The application's thread hands the event over; the sampling worker holds it with
            # its trace and queues a kept trace whole at its root's end.
            self._handoff = SamplerHandoff(
                self.sampler,
                lambda exc: sending.report(
                    "sampling", f"tail sampling failed: {type(exc).__name__}: {exc}"
                ),
            )
            self.on_event = self._handoff.put  # type: ignore[method-assign]
        else:
            # The queue's put answers on_event itself: no call in between on the application's
            # thread.
            self.on_event = self._sending.put  # type: ignore[method-assign, assignment]
        add_trace_sink(self)

    def on_event(self, event: TraceEvent) -> None:
        """Queue ``event`` for export (replaced by the queue's ``put`` while started); never blocks,
        never raises."""
        sending = self._sending
        if sending is not None:
            sending.put(event)

    def shutdown(self) -> None:
        """:meth:`stop` (the trace fan-out retires its sinks at ``llmlog.shutdown()`` and exit)."""
        self.stop()

    def stop(self) -> None:
        """Stop taking events, export what is queued and the spans still open (within
        ``flush_timeout``), and shut the exporter down. Idempotent."""
        sending = self._sending
        if sending is None:
            return
        remove_trace_sink(self)
        self.__dict__.pop("on_event", None)
        handoff, self._handoff, self.sampler = self._handoff, None, None
        if handoff is not None:
            # The events handed over are decided, then the traces still open (a crashed task,
            # exit) exported as far as they went.
            handoff.close()
        sending.stop()
        self._sending, self._stopped = None, sending
        try:
            # Also ends the SDK's retry pauses, if closing abandoned a request in flight.
            self._span_exporter.shutdown()
        except Exception as exc:
            sending.report("shutdown", f"shutting the exporter down failed: {exc}")
        if not self._given_exporter:  # a later start() builds a fresh one
            self._span_exporter = None
        if not sending.abandoned:  # else the SDK may still log about the abandoned request
            for logger, level in self._quieted:
                logger.setLevel(level)

    def flush(self, timeout: float | None = None) -> bool:
        """Export everything queued so far (the events handed to the sampling worker decided
        first); ``False`` if that took longer than ``timeout``."""
        handoff = self._handoff
        if handoff is not None:
            handoff.drain()
        return True if self._sending is None else self._sending.flush(timeout)

    def _send(self, batch: list[Any], time_left: float | None) -> bool:
        # The SDK's exporter has its own request timeout and retries: while closing, a request
        # still in flight at the deadline is abandoned (see ExportQueue).
        from opentelemetry.sdk.trace.export import SpanExportResult

        return bool(self._span_exporter.export(batch) is SpanExportResult.SUCCESS)

    def stats(self) -> dict[str, int]:
        """Spans exported and dropped (``dropped``, and by cause: ``dropped_queue_full``,
        ``dropped_export_failed``, ``dropped_unsent``), other trace events dropped at a full queue
        (``dropped_other``), failed export attempts, and the events and bytes waiting now (of the
        current run, or of the last one after ``stop()``)."""
        sending = self._sending or self._stopped
        return ExportQueue.no_stats() if sending is None else sending.stats()


def event_size(event: TraceEvent) -> int:
    """What a queued trace event holds, estimated cheaply (on the application's thread): its
    data's encoded size if an encoder already made it, else its values by length."""
    encoded = event.encoded_data
    if encoded is not None:
        return ITEM_OVERHEAD + len(encoded)
    return ITEM_OVERHEAD + fields_size(event.data) if event.data else ITEM_OVERHEAD


def span_size(span: Any) -> int:
    """What a finished span (a ``ReadableSpan``) holds: its attributes and events by length."""
    size = ITEM_OVERHEAD + len(span.name) + fields_size(span.attributes or {})
    for event in span.events:
        size += ITEM_OVERHEAD // 2 + fields_size(event.attributes or {})
    return size


def _span_units(event: TraceEvent) -> int:
    # A dropped span start loses its span; other events (an end, an LLM call...) leave it
    # incomplete, counted apart.
    return 1 if event.type == "span" and event.data.get("event") == "start" else 0
