"""A real OTLP/HTTP receiver on 127.0.0.1 decoding the exporter's protobuf trace requests (the
exporter's own tests use the same kind of server)."""

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
    if "arrayValue" in any_value:
        return [_value(v) for v in any_value["arrayValue"].get("values", [])]
    if "intValue" in any_value:
        return int(any_value["intValue"])
    for key in ("stringValue", "boolValue", "doubleValue"):
        if key in any_value:
            return any_value[key]
    return None


class Receiver:
    """OTLP/HTTP traces: every span received, in ``spans``."""

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
                request = MessageToDict(ExportTraceServiceRequest.FromString(body))
                for resource in request.get("resourceSpans", []):
                    for scope in resource.get("scopeSpans", []):
                        receiver.spans += scope.get("spans", [])
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}/v1/traces"

    @staticmethod
    def attributes(span: dict[str, Any]) -> dict[str, Any]:
        return {kv["key"]: _value(kv["value"]) for kv in span.get("attributes", [])}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.server.shutdown()
