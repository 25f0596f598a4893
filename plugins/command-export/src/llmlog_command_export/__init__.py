"""``llmlog export``: a run as DSPy examples, flat JSONL rows or OTLP JSON; and the
``llmlog_trace_json`` hook behind ``llmlog view --json``.

The rows, the examples and the ``--json`` documents come from one model of a run, the report's
(:func:`llmlog_report_html.load.load_run`: any installed trace format, flight snapshots, llmlog
JSON logs); OTLP JSON comes from the OTLP exporter's own span mapping.
"""

from llmlog_command_export.examples import EXAMPLES_SCHEMA, load_examples, run_examples
from llmlog_command_export.rows import ROW_COLUMNS, run_rows

__all__ = ["EXAMPLES_SCHEMA", "ROW_COLUMNS", "load_examples", "run_examples", "run_rows"]
