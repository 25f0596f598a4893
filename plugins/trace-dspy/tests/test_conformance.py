"""The ``dspy`` format passes the trace-format conformance suite."""

from llmlog.testing import check_trace_format, isolated_environment


def test_dspy_format_conformance(tmp_path):
    with isolated_environment(tmp_path):
        check_trace_format("dspy", tmp_path)
