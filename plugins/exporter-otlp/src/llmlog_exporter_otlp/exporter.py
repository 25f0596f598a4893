"""The OTLP exporter: a trace-event listener, a bounded queue and one export thread.

The application's thread only appends each event to a bounded queue (a full queue drops the event
and counts it). One daemon thread turns events into spans (:mod:`llmlog_exporter_otlp.assemble`)
and sends them in batches through the OpenTelemetry SDK's OTLP exporter. A collector that is down,
slow or rejecting costs the application nothing: failed batches are retried with growing pauses
while the queue keeps its bound, spans beyond the bound are dropped and counted, and the first
problem is reported once on stderr.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from typing import Any

from llmlog.dispatch import report_problem
from llmlog.interfaces import Integration
from llmlog.records import TraceEvent
from llmlog.tracing import add_listener, remove_listener
from llmlog_exporter_otlp.options import OtlpOptions

__all__ = ["OtlpExporter"]

_CONTENT_MODES = {"SPAN_ONLY", "SPAN_AND_EVENT"}
#: The SDK exporters log every retry and failure; this exporter reports each kind of problem once
#: itself, so their loggers are quietened while it runs.
_SDK_LOGGERS = ("opentelemetry.exporter.otlp", "opentelemetry.sdk.trace.export")


def _span_exporter(options: OtlpOptions) -> Any:
    """The SDK's OTLP exporter; unset options leave the ``OTEL_EXPORTER_OTLP_*`` variables in
    charge (the SDK reads them)."""
    protocol = options.protocol or os.environ.get(
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "")
    )
    kwargs: dict[str, Any] = {}
    if options.endpoint:
        kwargs["endpoint"] = options.endpoint
    if options.headers:
        from opentelemetry.util.re import parse_env_headers

        env = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_HEADERS") or os.environ.get(
            "OTEL_EXPORTER_OTLP_HEADERS", ""
        )
        kwargs["headers"] = {**parse_env_headers(env, liberal=True), **options.headers}
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


def _resource(options: OtlpOptions) -> Any:
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


class OtlpExporter(Integration):
    """``[integrations.otlp] enabled = true``: export every trace event as OpenTelemetry spans.

    :param options: endpoint, headers, resource, content capture, queue bounds.
    :param span_exporter: the SDK exporter to send through (default: OTLP from ``options``).
    """

    def __init__(self, options: OtlpOptions | None = None, span_exporter: Any = None) -> None:
        self.options = options or OtlpOptions()
        self._span_exporter = span_exporter
        self._queue: deque[TraceEvent] = deque()
        self._wake = threading.Event()
        self._idle = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._max = self.options.max_queue_size
        #: Counters: events or spans dropped, spans exported, failed export attempts.
        self.counters = {"dropped": 0, "exported": 0, "failed_exports": 0}
        self._reported: dict[str, object] = {}
        self._drop_lock = threading.Lock()  # only on the (rare) dropping path

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        """Build the exporter, start the export thread and listen to every trace event."""
        from llmlog_exporter_otlp.assemble import SpanAssembler

        if self._thread is not None:
            return
        if self._span_exporter is None:
            self._span_exporter = _span_exporter(self.options)
        capture = self.options.capture_content or (
            os.environ.get("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "").upper()
            in _CONTENT_MODES
        )
        self._assembler = SpanAssembler(
            _resource(self.options),
            capture_content=capture,
            openinference=self.options.openinference,
        )
        self._stopping = False
        self._quieted = [(logging.getLogger(n), logging.getLogger(n).level) for n in _SDK_LOGGERS]
        for logger, _ in self._quieted:
            logger.setLevel(logging.CRITICAL)
        self._thread = threading.Thread(target=self._run, name="llmlog-otlp", daemon=True)
        self._thread.start()
        add_listener(self._enqueue)

    def stop(self) -> None:
        """Stop listening, export what is queued and the spans still open (within
        ``flush_timeout``), and shut the exporter down. Idempotent."""
        thread = self._thread
        if thread is None:
            return
        remove_listener(self._enqueue)
        self._stopping = True
        self._wake.set()
        thread.join(self.options.flush_timeout)
        self._thread = None
        if thread.is_alive():  # the collector is slower than flush_timeout: give up on the rest
            left = len(self._queue)
            self._queue.clear()
            if left:
                self._dropped(left)
        try:
            self._span_exporter.shutdown()
        except Exception as exc:
            self._report("shutdown", f"shutting the exporter down failed: {exc}")
        for logger, level in self._quieted:
            logger.setLevel(level)
        if self.counters["dropped"]:
            report_problem(
                f"OTLP exporter: {self.counters['dropped']} trace events or spans were dropped "
                f"(queue full or collector unreachable); {self.counters['exported']} spans exported"
            )

    def flush(self, timeout: float | None = None) -> bool:
        """Export everything queued so far; ``False`` if that took longer than ``timeout``."""
        if self._thread is None:
            return True
        self._idle.clear()
        self._wake.set()
        return self._idle.wait(self.options.flush_timeout if timeout is None else timeout)

    # -- the application's side ------------------------------------------------------------------

    def _enqueue(self, event: TraceEvent) -> None:
        queue = self._queue
        if len(queue) >= self._max:  # bounded: never grow, never block the application
            self._dropped(1)
            return
        queue.append(event)
        if len(queue) >= self.options.max_export_batch_size:
            self._wake.set()

    # -- the export thread -----------------------------------------------------------------------

    def _run(self) -> None:
        pending: deque[Any] = deque()
        backoff = 0.0
        while True:
            self._wake.wait(backoff or self.options.schedule_delay)
            self._wake.clear()
            queue = self._queue
            while queue:
                event = queue.popleft()
                try:
                    pending.extend(self._assembler.add(event))
                except Exception as exc:  # a malformed event must not stop the exporter
                    self._report("assemble", f"could not convert an event: {exc}")
            if self._stopping:
                pending.extend(self._assembler.close())
            # Finished spans waiting for the collector are bounded like the queue.
            excess = len(pending) - self._max
            if excess > 0:
                for _ in range(excess):
                    pending.popleft()
                self._dropped(excess)
            backoff = self._export(pending, backoff)
            if self._stopping and (not pending or backoff):
                # Closing while the collector still fails: what is left is dropped, counted.
                left = len(pending) + len(queue)
                queue.clear()
                if left:
                    self._dropped(left)
                self._idle.set()
                return
            if not queue and not pending:
                self._idle.set()

    def _export(self, pending: deque[Any], backoff: float) -> float:
        """Send ``pending`` in batches; returns the pause before the next try (0: all sent)."""
        from opentelemetry.sdk.trace.export import SpanExportResult

        size = self.options.max_export_batch_size
        while pending:
            batch = [pending[i] for i in range(min(size, len(pending)))]
            try:
                result = self._span_exporter.export(batch)
            except Exception as exc:
                result = None
                self._report("export", f"export raised {type(exc).__name__}: {exc}")
            if result is not SpanExportResult.SUCCESS:
                self.counters["failed_exports"] += 1
                self._report(
                    "failed",
                    "the collector did not accept spans; retrying with backoff, dropping beyond "
                    f"{self._max} (endpoint {self.options.endpoint or 'from OTEL_EXPORTER_OTLP_*'})",
                )
                return min(30.0, max(1.0, backoff * 2))
            for _ in batch:
                pending.popleft()
            self.counters["exported"] += len(batch)
        return 0.0

    def _dropped(self, count: int) -> None:
        with self._drop_lock:
            self.counters["dropped"] += count
        self._report(
            "dropped",
            "dropping trace data: the queue is full or the collector unreachable "
            "(counted; the total is reported at exit)",
        )

    def _report(self, key: str, message: str) -> None:
        # Each kind of problem once, from any thread: setdefault is one atomic step, and only
        # the call that inserted its own marker reports.
        marker = object()
        if self._reported.setdefault(key, marker) is marker:
            report_problem(f"OTLP exporter: {message}")

    def stats(self) -> dict[str, int]:
        """The counters, plus the events waiting now."""
        return {**self.counters, "waiting": len(self._queue)}
