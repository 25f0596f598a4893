"""Registers the ``llmlog demo`` command."""

from __future__ import annotations

import argparse

from llmlog import hookimpl
from llmlog.ext import CommandRegister, PluginHost


def _arguments(host: PluginHost, parser: argparse.ArgumentParser) -> None:
    # The command's modules (the pipeline, the flight recorder) are imported when the command
    # line is built, not by every configure(), which imports each plugin's module.
    from llmlog_command_demo.command import add_arguments

    add_arguments(host, parser)


def _run(host: PluginHost, args: argparse.Namespace) -> int:
    from llmlog_command_demo.command import run

    return run(host, args)


@hookimpl
def llmlog_register_commands(register: CommandRegister, host: PluginHost) -> None:
    register(
        "demo",
        lambda args: _run(host, args),
        help="run a simulated LLM pipeline that logs through the configured outputs",
        arguments=lambda parser: _arguments(host, parser),
    )
