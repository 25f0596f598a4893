"""Export and ``--json`` never raise on hostile input: any file is either exported (every row
valid JSON with every column, every OTLP line a real ``ExportTraceServiceRequest``) or refused
with a ``ReportInputError`` whose message starts with ``file:`` and says what was expected.
Bounded: a few seconds by default; a longer campaign is marked slow."""

from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmlog.ext import PluginHost, Sanitizer, dumps_json
from llmlog_command_export import ROW_COLUMNS, run_rows
from llmlog_command_export.commands import run_document
from llmlog_command_export.examples import run_examples
from llmlog_command_export.otlpjson import trace_events, write_otlp_json
from llmlog_report_html import ReportInputError, load_run

_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_ids = st.one_of(st.none(), st.sampled_from(["a", "b", "c", ""]), _json)
_data = st.dictionaries(
    st.sampled_from(
        [
            "event",
            "operation",
            "inputs",
            "outputs",
            "error",
            "duration_ms",
            "latency_ms",
            "model",
            "usage",
            "prompt",
            "response",
            "messages",
            "tool_name",
            "success",
            "code",
        ]
    ),
    _json | st.sampled_from(["start", "end", "\x1b[31mred\u009b"]),
    max_size=6,
)
_trace_line = st.fixed_dictionaries(
    {
        "type": st.sampled_from(
            ["session", "span", "llm_call", "module", "tool_call", "error", "x"]
        ),
        "timestamp": st.sampled_from(
            ["2026-12-06T10:00:00Z", "2026-12-06T10:00:01.5+02:00", "bad"]
        ),
        "trace_id": _ids,
    },
    optional={"span_id": _ids, "parent_id": _ids, "data": _data},
).map(lambda d: json.dumps(d).encode())
_line = st.one_of(_trace_line, _trace_line, st.binary(max_size=40))
_file = st.lists(_line, min_size=0, max_size=8).map(lambda lines: b"\n".join(lines) + b"\n")

HOST = PluginHost()


def _check(body: bytes, lenient: bool) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "input.jsonl"
        path.write_bytes(body)
        refused = None
        try:
            run = load_run([path], host=HOST, lenient=lenient)
        except ReportInputError as exc:
            refused = str(exc)
        if refused is not None:
            assert refused.startswith(f"{path}:"), refused
        else:
            for row in run_rows(run, rows="span"):
                assert tuple(row) == ROW_COLUMNS
                assert json.loads(dumps_json(row))["span_id"] == row["span_id"]
            examples, _ = run_examples(run)
            json.loads(dumps_json(examples))
            from llmlog_report_html import diff_runs
            from llmlog_report_html.commands import diff_document

            diffed = dumps_json(
                diff_document(
                    diff_runs(run, run), show_same=True, search="a", sanitizer=Sanitizer()
                )
            )
            assert "\x1b" not in diffed and "\u009b" not in diffed
            json.loads(diffed)
            document = run_document(
                [str(path)],
                {"lenient": lenient, "search": "a", "host": HOST, "sanitizer": Sanitizer()},
                HOST,
            )
            text = dumps_json(document)
            assert "\x1b" not in text and "\u009b" not in text
            json.loads(text)
        out = io.BytesIO()
        try:
            write_otlp_json(trace_events([path], HOST, lenient=lenient), out, sanitizer=Sanitizer())
        except ReportInputError as exc:
            refused = str(exc)
        else:
            refused = None
        if refused is not None:
            assert refused.startswith(f"{path}:"), refused
            return
        from google.protobuf import json_format
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
        )

        for line in out.getvalue().splitlines():
            document = json.loads(line)
            for resource in document["resourceSpans"]:
                for scope in resource["scopeSpans"]:
                    for span in scope["spans"]:
                        for key in ("traceId", "spanId", "parentSpanId"):
                            if key in span:
                                span[key] = ""  # hex, checked by the end-to-end test
            json_format.Parse(json.dumps(document), ExportTraceServiceRequest())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_file, st.booleans())
def test_any_file_is_exported_or_refused_with_file_and_line(body, lenient):
    _check(body, lenient)


@pytest.mark.slow
@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_file, st.booleans())
def test_any_file_is_exported_or_refused_campaign(body, lenient):
    _check(body, lenient)
