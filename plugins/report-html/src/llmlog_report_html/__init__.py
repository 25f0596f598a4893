"""llmlog's HTML report: a whole LLM run as one self-contained HTML file, and two runs compared.

``llmlog report FILE... [-o run.html]`` reads trace files of any installed trace format (through
the formats' ``detect`` and ``read``), flight-recorder snapshots (through ``llmlog-engine-flight``)
and llmlog's own JSON log lines, and writes one HTML file that embeds its data (compressed JSON)
and its front end (hand-written JavaScript and CSS, :mod:`importlib.resources` ``assets/``): it
opens from ``file://`` with the network off. ``llmlog diff A B`` compares two runs in the terminal,
``llmlog report A --compare B`` in the page. In Jupyter, ``llmlog.display(path)`` shows the same
page inline, through this plugin's ``llmlog_render_html`` hook.

Modules: :mod:`.load` (inputs to a :class:`~llmlog_report_html.model.Run`), :mod:`.model` (spans,
calls, logs and their totals), :mod:`.page` (the HTML), :mod:`.diff` (matching two runs),
:mod:`.commands` (the command line), :mod:`.plugin` (the hooks).
"""

from llmlog_report_html.diff import RunDiff, diff_runs
from llmlog_report_html.load import ReportInputError, load_run
from llmlog_report_html.model import Run
from llmlog_report_html.page import ReportOptions, render_html, write_report

__all__ = [
    "ReportInputError",
    "ReportOptions",
    "Run",
    "RunDiff",
    "diff_runs",
    "load_run",
    "render_html",
    "write_report",
]
