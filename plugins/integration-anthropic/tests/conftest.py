"""A real OTLP/HTTP receiver on 127.0.0.1 for the integration's end-to-end test (the span side
of the OTLP exporter's test receiver, plugins/exporter-otlp/tests/conftest.py)."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest


def _value(any_value: dict[str, Any]) -> Any:
    if "kvlistValue" in any_value:
        return {kv["key"]: _value(kv["value"]) for kv in any_value["kvlistValue"].get("values", [])}
    if "arrayValue" in any_value:
        return [_value(v) for v in any_value["arrayValue"].get("values", [])]
    if "intValue" in any_value:
        return int(any_value["intValue"])
    for key in ("stringValue", "boolValue", "doubleValue", "bytesValue"):
        if key in any_value:
            return any_value[key]
    return None


class Receiver:
    """OTLP/HTTP traces on ``base``: every span received, decoded, in ``spans``."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                if self.path.endswith("/v1/traces"):
                    request = MessageToDict(ExportTraceServiceRequest.FromString(body))
                    for resource in request.get("resourceSpans", []):
                        for scope in resource.get("scopeSpans", []):
                            receiver.spans += scope.get("spans", [])
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    @staticmethod
    def attributes(holder: dict[str, Any]) -> dict[str, Any]:
        """A span's attributes as plain values."""
        return {kv["key"]: _value(kv["value"]) for kv in holder.get("attributes", [])}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.server.shutdown()
    found.server.server_close()
