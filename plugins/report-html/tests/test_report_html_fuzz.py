"""The report writer never raises on malformed input: any file is either read (strict or
lenient) and rendered, or refused with a :class:`ReportInputError` whose message starts with
``file:`` and says what was expected. Bounded: a few seconds by default; a longer campaign is
marked slow."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmlog_report_html import ReportInputError, ReportOptions, diff_runs, load_run, render_html

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
_types = st.sampled_from(
    ["session", "span", "llm_call", "module", "code_exec", "tool_call", "error", "x"]
)
_ids = st.one_of(st.none(), st.sampled_from(["a", "b", "c", ""]), _json)
_data_keys = st.sampled_from(
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
        "code",
        "stdout",
        "stderr",
        "locals",
        "final_answer",
        "tool_name",
        "success",
        "iteration",
    ]
)
# A span end's ``evaluation`` (a DSPy Evaluate run's counts or an example's result), any values.
_evaluation = st.fixed_dictionaries(
    {},
    optional={
        "index": st.integers(0, 3) | _json,
        "examples": _json,
        "metric": _json,
        "score": _json,
        "passed": _json,
        "error": _json,
        "node": _json,
        "rows": _json,
    },
)
_data = st.tuples(
    st.dictionaries(_data_keys, _json | st.sampled_from(["start", "end"]), max_size=6),
    st.none() | _evaluation | _json,
).map(lambda pair: pair[0] if pair[1] is None else {**pair[0], "evaluation": pair[1]})
_trace_line = st.fixed_dictionaries(
    {
        "type": _types,
        "timestamp": st.sampled_from(
            ["2026-12-06T10:00:00Z", "2026-12-06T10:00:01.5+02:00", "bad"]
        ),
        "trace_id": _ids,
    },
    optional={
        "span_id": _ids,
        "parent_id": _ids,
        "data": _data,
    },
).map(lambda d: json.dumps(d).encode())
_log_line = st.fixed_dictionaries(
    {"level": _json | st.just("INFO"), "message": _json | st.just("m")},
    optional={
        "timestamp": _json,
        "traceId": _ids,
        "spanId": _ids,
        "tokenInfo": _json,
        "cost": _json,
    },
).map(lambda d: json.dumps(d).encode())
_line = st.one_of(_trace_line, _log_line, st.binary(max_size=40))
_file = st.lists(_line, min_size=0, max_size=8).map(lambda lines: b"\n".join(lines) + b"\n")


def _check(body: bytes, lenient: bool) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "input.jsonl"
        path.write_bytes(body)
        try:
            run = load_run([path], lenient=lenient)
        except ReportInputError as exc:
            refused = str(exc)
        else:
            refused = None
        if refused is not None:
            assert refused.startswith(f"{path}:"), refused
            return
        html, _ = render_html(run, ReportOptions(max_size=200_000))
        assert html.startswith("<!DOCTYPE html>")
        diff_runs(run, run)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(_file, st.booleans())
def test_any_file_is_reported_or_refused_with_file_and_line(body, lenient):
    _check(body, lenient)


@pytest.mark.slow
@settings(max_examples=1000, suppress_health_check=[HealthCheck.too_slow])
@given(_file, st.booleans())
def test_any_file_is_reported_or_refused_campaign(body, lenient):
    _check(body, lenient)
