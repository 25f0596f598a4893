"""The ``otlp`` output: log entries as OpenTelemetry log records, sent over OTLP/HTTP.

An entry's ``write`` only appends it to an :class:`~llmlog_exporter_otlp.sending.ExportQueue`;
the export thread turns entries into log records (OpenTelemetry's log data model) and posts them
in batches as ``ExportLogsServiceRequest`` protobuf to ``/v1/logs``. The encoding uses
``opentelemetry-proto``, whose messages are the OTLP specification, rather than the SDK's logs
API, which is still experimental (``opentelemetry.sdk._logs``) and has changed shape between
releases.

What a record carries:

* ``time_unix_nano``, ``severity_number`` / ``severity_text`` (DEBUG 5, INFO 9, WARN 13, ERROR 17,
  FATAL 21), the message as ``body``;
* ``trace_id`` / ``span_id`` of the llmlog span the entry was made in, mapped as the span
  exporter maps them (:mod:`llmlog_exporter_otlp.ids`), so a backend shows the entry inside the
  trace the span exporter sent;
* attributes: the entry's fields (nested values as OTLP maps and arrays), ``code.file.path``,
  ``code.line.number``, ``code.function.name``, ``gen_ai.request.model``,
  ``gen_ai.usage.input_tokens`` / ``output_tokens`` (and the cache read, cache creation and
  reasoning counts when not zero), ``llmlog.cost.usd`` with ``llmlog.cost.source`` (or
  ``llmlog.cost.unknown`` with ``llmlog.cost.unknown_reason``), ``llmlog.latency_ms`` and ``exception.stacktrace``;
* the logger's name as the instrumentation scope.

Fields were redacted and size-capped by the core before the entry reached any output. Values are
read when the batch is built (within ``schedule_delay``), like any batching exporter's.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterable, Mapping
from typing import Any

from llmlog.ext import LEVEL_NAMES, LogEntry, Output, serializer
from llmlog_exporter_otlp.exporter import _resource
from llmlog_exporter_otlp.ids import otel_id_bytes
from llmlog_exporter_otlp.options import OtlpLogOptions, request_headers, setting
from llmlog_exporter_otlp.sending import ExportQueue
from llmlog_exporter_otlp.sizes import ITEM_OVERHEAD, fields_size
from llmlog_exporter_otlp.usage import cost_attributes, usage_attributes

__all__ = ["OtlpLogOutput", "entry_size", "severity_number"]

_DEFAULT_ENDPOINT = "http://localhost:4318/v1/logs"
_MAX_DEPTH = 8


def severity_number(severity: int) -> int:
    """OpenTelemetry's ``SeverityNumber`` for an llmlog (standard-library numbered) severity:
    the first number of the matching range (DEBUG 5, INFO 9, WARN 13, ERROR 17, FATAL 21)."""
    if severity < 10:
        return 1  # TRACE
    return min(21, 5 + 4 * ((severity - 10) // 10))


def logs_endpoint(options: OtlpLogOptions) -> str:
    """Where records go: the option, ``OTEL_EXPORTER_OTLP_LOGS_ENDPOINT`` (as is), or
    ``OTEL_EXPORTER_OTLP_ENDPOINT`` with ``/v1/logs`` appended, as the OTLP specification says."""
    explicit = options.endpoint or os.environ.get("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT")
    if explicit:
        return explicit
    base = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "")
    return f"{base.rstrip('/')}/v1/logs" if base else _DEFAULT_ENDPOINT


class OtlpLogOutput(Output):
    """``[outputs.NAME] type = "otlp"``: every entry at or above the output's level becomes an
    OpenTelemetry log record; see the module docstring.

    :param options: endpoint, headers, compression, timeout, resource, queue bounds.
    """

    def __init__(self, options: OtlpLogOptions | None = None) -> None:
        self.options = opts = options or OtlpLogOptions()
        self.endpoint = logs_endpoint(opts)
        self._headers = {
            **request_headers(opts, "LOGS"),
            "Content-Type": "application/x-protobuf",
        }
        self._gzip = setting(opts.compression, "LOGS", "COMPRESSION") == "gzip"
        if self._gzip:
            self._headers["Content-Encoding"] = "gzip"
        self._timeout = opts.timeout or _seconds_from_env(setting("", "LOGS", "TIMEOUT"))
        self._resource = _proto_resource(_resource(opts))
        self._session: Any = None
        self._closed = False
        self._sending = ExportQueue(
            "llmlog-otlp-logs",
            opts,
            convert=_record,
            send=self._send,
            estimate=entry_size,
            measure=_record_size,
            queued="log entries",
            sent="log records",
            endpoint=self.endpoint,
        )
        self._sending.start()
        # One call per entry on the application's thread: straight to the queue.
        self.write = self._sending.put  # type: ignore[method-assign,assignment]

    def write(self, entry: LogEntry) -> None:  # replaced per instance in __init__
        self._sending.put(entry)

    def flush(self) -> None:
        """Send what is queued (waits at most ``flush_timeout``; at once while the collector is
        failing)."""
        self._sending.flush()

    def close(self) -> None:
        """Send what is left within ``flush_timeout`` and stop; idempotent."""
        if self._closed:
            return
        self._closed = True
        self._sending.stop()
        if self._session is not None:
            self._session.close()

    def stats(self) -> dict[str, int]:
        """Records dropped and exported, failed export attempts, entries waiting now."""
        return self._sending.stats()

    # -- the export thread -----------------------------------------------------------------------

    def _send(self, batch: list[tuple[str, Any]], time_left: float | None) -> bool:
        from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
            ExportLogsServiceRequest,
        )
        from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
        from opentelemetry.proto.logs.v1.logs_pb2 import ResourceLogs, ScopeLogs

        by_scope: dict[str, list[Any]] = {}
        for scope, record in batch:
            by_scope.setdefault(scope, []).append(record)
        request = ExportLogsServiceRequest(
            resource_logs=[
                ResourceLogs(
                    resource=self._resource,
                    scope_logs=[
                        ScopeLogs(scope=InstrumentationScope(name=name), log_records=records)
                        for name, records in by_scope.items()
                    ],
                )
            ]
        )
        body = request.SerializeToString()
        if self._gzip:
            body = gzip.compress(body)
        if self._session is None:
            import requests

            self._session = requests.Session()
        # While closing, a request takes no longer than what is left of the deadline.
        timeout = self._timeout if time_left is None else max(0.01, min(self._timeout, time_left))
        response = self._session.post(
            self.endpoint, data=body, headers=self._headers, timeout=timeout
        )
        return bool(200 <= response.status_code < 300)


def entry_size(entry: LogEntry) -> int:
    """What a queued entry holds, estimated cheaply (on the application's thread): its message,
    fields and traceback by length, plus a fixed cost per item and per value."""
    size = ITEM_OVERHEAD + len(entry.message)
    if entry.fields:
        size += fields_size(entry.fields)
    if entry.exception:
        size += len(entry.exception)
    return size


def _record_size(item: tuple[str, Any]) -> int:
    scope, record = item
    return ITEM_OVERHEAD + len(scope) + int(record.ByteSize())


def _seconds_from_env(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        return 10.0
    return value if value > 0 else 10.0


def _proto_resource(resource: Any) -> Any:
    from opentelemetry.proto.resource.v1.resource_pb2 import Resource

    return Resource(attributes=_key_values(resource.attributes))


def _key_values(mapping: Mapping[Any, Any], depth: int = 0) -> list[Any]:
    from opentelemetry.proto.common.v1.common_pb2 import KeyValue

    return [KeyValue(key=_text(str(k)), value=_any_value(v, depth)) for k, v in mapping.items()]


def _text(value: str) -> str:
    # Protobuf strings must be valid UTF-8: a lone surrogate becomes its escape.
    try:
        value.encode()
    except UnicodeEncodeError:
        return value.encode("utf-8", "backslashreplace").decode()
    return value


def _any_value(value: Any, depth: int = 0) -> Any:
    """An OTLP ``AnyValue``: scalars as themselves, mappings and sequences as maps and arrays
    (to a depth of 8), anything else as llmlog's JSON text of it."""
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValueList

    if isinstance(value, str):
        return AnyValue(string_value=_text(value))
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int) and -(2**63) <= value < 2**63:
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    if depth < _MAX_DEPTH:
        if isinstance(value, Mapping):
            return AnyValue(kvlist_value=KeyValueList(values=_key_values(value, depth + 1)))
        if isinstance(value, list | tuple):
            return AnyValue(
                array_value=ArrayValue(values=[_any_value(v, depth + 1) for v in value])
            )
    return AnyValue(string_value=_text(serializer.dumps(value).decode()))


def _record(entry: LogEntry) -> Iterable[tuple[str, Any]]:
    """One entry as ``(scope name, LogRecord)``."""
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue
    from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

    attributes: dict[str, Any] = dict(entry.fields) if entry.fields else {}
    if entry.file:
        attributes["code.file.path"] = entry.file
        attributes["code.line.number"] = entry.line
        attributes["code.function.name"] = entry.function
    if entry.model_id:
        attributes["gen_ai.request.model"] = entry.model_id
    usage = entry.token_info
    if usage is not None:
        attributes.update(usage_attributes(usage))
    if entry.cost is not None:
        attributes.update(cost_attributes(entry.cost, "reported"))  # the caller's own figure
    elif usage is not None:
        attributes.update(cost_attributes(usage.cost, usage.cost_source, usage.cost_unknown))
    if entry.latency_ms is not None:
        attributes["llmlog.latency_ms"] = entry.latency_ms
    if entry.exception:
        attributes["exception.stacktrace"] = entry.exception
    # The ids the span exporter gives the same span (a custom, non-hex id is hashed alike).
    trace_id = otel_id_bytes(entry.trace_id, 16)
    span_id = otel_id_bytes(entry.span_id, 8)
    severity = int(entry.severity)
    record = LogRecord(
        time_unix_nano=entry.time,
        observed_time_unix_nano=entry.time,
        severity_number=severity_number(severity),  # type: ignore[arg-type]
        severity_text=LEVEL_NAMES.get(severity) or str(severity),
        body=AnyValue(string_value=_text(entry.message)),
        attributes=_key_values(attributes),
        trace_id=trace_id,
        span_id=span_id if trace_id else b"",
    )
    return ((entry.logger or "llmlog", record),)
