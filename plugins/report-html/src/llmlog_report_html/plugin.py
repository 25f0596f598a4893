"""Registers ``llmlog report`` and ``llmlog diff``, and renders the page for ``llmlog.display``
and a session's ``_repr_html_`` (the ``llmlog_render_html`` hook)."""

from __future__ import annotations

import argparse
from typing import Any

from llmlog import hookimpl
from llmlog.ext import CommandRegister, PluginHost


def _report_arguments(parser: argparse.ArgumentParser) -> None:
    # The command's modules are imported when the command line is built or run, not by every
    # configure(), which imports each plugin's module.
    from llmlog_report_html.commands import report_arguments

    report_arguments(parser)


def _diff_arguments(parser: argparse.ArgumentParser) -> None:
    from llmlog_report_html.commands import diff_arguments

    diff_arguments(parser)


def _run_report(host: PluginHost, args: argparse.Namespace) -> int:
    from llmlog_report_html.commands import run_report

    return run_report(host, args)


def _run_diff(host: PluginHost, args: argparse.Namespace) -> int:
    from llmlog_report_html.commands import run_diff

    return run_diff(host, args)


@hookimpl
def llmlog_register_commands(register: CommandRegister, host: PluginHost) -> None:
    register(
        "report",
        lambda args: _run_report(host, args),
        help="write a self-contained HTML report of a run (traces, snapshots, JSON logs)",
        arguments=_report_arguments,
    )
    register(
        "diff",
        lambda args: _run_diff(host, args),
        help="compare two runs: matched spans, prompt and output diffs, token/cost/latency deltas",
        arguments=_diff_arguments,
    )


@hookimpl
def llmlog_render_html(source: Any, options: dict[str, Any]) -> str | None:
    """The report of ``source`` (a path, a list of paths, or a trace session, whose file is
    flushed first) as an HTML fragment for a notebook: the page in a sandboxed ``iframe``."""
    from llmlog_report_html.notebook import notebook_html

    return notebook_html(source, options)
