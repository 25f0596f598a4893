"""A trace file reader and a real OTLP/HTTP traces receiver for the tests (as fixtures: test
modules cannot import each other).

LiteLLM reads its model cost map from the network at import unless told to use its bundled
copy: the tests use the bundled one (no network, no delay)."""

from __future__ import annotations

import gzip
import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


class Trace:
    """The events of one ``dspy``-format trace file: spans by id, the ``llm_call`` events."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records = [json.loads(x) for x in path.read_text().splitlines()]
        self.starts = {
            r["span_id"]: r
            for r in self.records
            if r["type"] == "span" and r["data"]["event"] == "start"
        }
        self.ends = {
            r["span_id"]: r
            for r in self.records
            if r["type"] == "span" and r["data"]["event"] == "end"
        }
        self.calls = [r for r in self.records if r["type"] == "llm_call"]

    def name(self, span_id: str | None) -> str | None:
        return self.starts[span_id]["data"]["operation"] if span_id in self.starts else None

    def parent(self, span_id: str) -> str | None:
        return self.starts[span_id].get("parent_id")

    def spans(self, operation: str) -> list[str]:
        return [s for s, r in self.starts.items() if r["data"]["operation"] == operation]

    def lm_spans(self) -> list[str]:
        return [s for s, r in self.starts.items() if r["data"]["operation"].startswith("LM:")]

    def call(self, span_id: str) -> dict[str, Any]:
        (found,) = [r["data"] for r in self.calls if r["span_id"] == span_id]
        return found

    def errors(self, span_id: str) -> list[dict[str, Any]]:
        return [r["data"] for r in self.records if r["type"] == "error" and r["span_id"] == span_id]


@pytest.fixture
def read_trace() -> type[Trace]:
    """:class:`Trace`, the reader of a dspy-format trace file."""
    return Trace


def _value(any_value: dict[str, Any]) -> Any:
    if "arrayValue" in any_value:
        return [_value(v) for v in any_value["arrayValue"].get("values", [])]
    if "intValue" in any_value:
        return int(any_value["intValue"])
    for key in ("stringValue", "boolValue", "doubleValue", "bytesValue"):
        if key in any_value:
            return any_value[key]
    return None


class Receiver:
    """OTLP/HTTP traces on 127.0.0.1 (``base``): every ``ExportTraceServiceRequest`` decoded
    (protobuf, as the exporter sends it) and its spans kept in ``spans``."""

    def __init__(self) -> None:
        from google.protobuf.json_format import MessageToDict
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
        )

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
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    @staticmethod
    def attributes(span: dict[str, Any]) -> dict[str, Any]:
        return {kv["key"]: _value(kv["value"]) for kv in span.get("attributes", [])}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.server.shutdown()
    found.server.server_close()
