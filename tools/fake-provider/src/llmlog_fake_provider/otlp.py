"""A real OTLP/HTTP receiver on 127.0.0.1 for the tests of every tree (the exporter's, the
integrations', the root's): it decodes the protobuf requests (traces and logs) as a collector
would and keeps what it got. It needs ``protobuf`` and ``opentelemetry-proto`` (the OTLP
exporter's dependencies), imported when a receiver starts.

``receiver`` (in :mod:`llmlog_fake_provider.pytest_fixtures`) is the pytest fixture.
"""

from __future__ import annotations

import gzip
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Receiver", "value"]


def value(any_value: dict[str, Any]) -> Any:
    """An OTLP ``AnyValue`` (as ``MessageToDict`` gives it) as a plain value."""
    if "kvlistValue" in any_value:
        return {kv["key"]: value(kv["value"]) for kv in any_value["kvlistValue"].get("values", [])}
    if "arrayValue" in any_value:
        return [value(v) for v in any_value["arrayValue"].get("values", [])]
    if "intValue" in any_value:
        return int(any_value["intValue"])
    for key in ("stringValue", "boolValue", "doubleValue", "bytesValue"):
        if key in any_value:
            return any_value[key]
    return None


class Receiver:
    """OTLP/HTTP traces and logs on one port (``base``; ``traces_endpoint`` and ``endpoint``, the
    logs URL), every request decoded and kept: ``spans``, ``requests`` (the logs requests, whole)
    and ``records()``; ``bodies``, every request body as received (decompressed), whatever its
    status. ``status`` is what it answers (a 503 keeps nothing decoded); ``headers`` what it got.
    ``close()`` stops it."""

    def __init__(self) -> None:
        from google.protobuf.json_format import MessageToDict
        from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
            ExportLogsServiceRequest,
        )
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
        )

        self.spans: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.bodies: list[bytes] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                receiver.headers.append(dict(self.headers))
                receiver.bodies.append(body)
                if receiver.status == 200:
                    if self.path.endswith("/v1/traces"):
                        request = MessageToDict(ExportTraceServiceRequest.FromString(body))
                        for resource in request.get("resourceSpans", []):
                            for scope in resource.get("scopeSpans", []):
                                receiver.spans += scope.get("spans", [])
                    else:
                        receiver.requests.append(
                            MessageToDict(ExportLogsServiceRequest.FromString(body))
                        )
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.endpoint = f"{self.base}/v1/logs"
        self.traces_endpoint = f"{self.base}/v1/traces"

    def traces_options(self, **options: Any) -> dict[str, Any]:
        """An ``[integrations.otlp]`` table sending spans here, exported every 50 ms unless
        ``options`` (more of the table's keys, e.g. ``capture_content=True``) say otherwise."""
        return {
            "enabled": True,
            "endpoint": self.traces_endpoint,
            "schedule_delay": 0.05,
            **options,
        }

    def close(self) -> None:
        """Stop serving and free the port."""
        self.server.shutdown()
        self.server.server_close()

    def records(self) -> list[tuple[dict[str, Any], str, dict[str, Any]]]:
        """Every log record received: (resource attributes, scope name, record)."""
        found = []
        for request in self.requests:
            for resource_logs in request.get("resourceLogs", []):
                resource = self.attributes(resource_logs.get("resource", {}))
                for scope_logs in resource_logs.get("scopeLogs", []):
                    scope = scope_logs.get("scope", {}).get("name", "")
                    for record in scope_logs.get("logRecords", []):
                        found.append((resource, scope, record))
        return found

    @staticmethod
    def attributes(holder: dict[str, Any]) -> dict[str, Any]:
        """A span's, record's or resource's attributes as plain values."""
        return {kv["key"]: value(kv["value"]) for kv in holder.get("attributes", [])}
