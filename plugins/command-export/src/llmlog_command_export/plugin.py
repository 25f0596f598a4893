"""Registers ``llmlog export`` and answers ``llmlog_trace_json`` (``llmlog view --json``)."""

from __future__ import annotations

import argparse
from typing import Any

from llmlog import hookimpl
from llmlog.ext import CommandRegister, PluginHost


def _export_arguments(parser: argparse.ArgumentParser) -> None:
    # The command's modules are imported when the command line is built or run, not by every
    # configure(), which imports each plugin's module.
    from llmlog_command_export.commands import export_arguments

    export_arguments(parser)


def _run_export(host: PluginHost, args: argparse.Namespace) -> int:
    from llmlog_command_export.commands import run_export

    return run_export(host, args)


@hookimpl
def llmlog_register_commands(register: CommandRegister, host: PluginHost) -> None:
    register(
        "export",
        lambda args: _run_export(host, args),
        help="write a run as DSPy examples, flat JSONL rows (pandas, DuckDB) or OTLP JSON",
        arguments=_export_arguments,
    )


@hookimpl
def llmlog_trace_json(paths: list[str], options: dict[str, Any]) -> dict[str, Any] | None:
    """The ``--json`` document of ``llmlog view`` (:func:`~llmlog_command_export.commands.
    run_document`)."""
    from llmlog_command_export.commands import run_document

    return run_document(paths, options, options.get("host"))
