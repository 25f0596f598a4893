"""Registers ``llmlog mcp`` and claims the ``[mcp]`` table."""

from __future__ import annotations

import argparse

from llmlog import hookimpl
from llmlog.ext import CommandRegister, PluginHost, TableRegister


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "directories",
        nargs="*",
        metavar="DIR",
        help="directories of traces and snapshots to serve (default: [mcp] directories)",
    )
    parser.add_argument("--config", help="the configuration file (default: discovered)")


def _run(host: PluginHost, args: argparse.Namespace) -> int:
    from llmlog_server_mcp.command import run_mcp

    try:
        return run_mcp(host, args)
    except KeyboardInterrupt:
        return 0


@hookimpl
def llmlog_register_commands(register: CommandRegister, host: PluginHost) -> None:
    register(
        "mcp",
        lambda args: _run(host, args),
        help="serve local traces and snapshots to coding agents over MCP (stdio, read-only)",
        arguments=_arguments,
    )


@hookimpl
def llmlog_register_tables(register: TableRegister) -> None:
    from llmlog_server_mcp.options import McpOptions

    register(
        "mcp",
        McpOptions,
        description="llmlog mcp: the directories it serves and the size of its answers.",
    )
