"""``llmlog mcp [DIR...]``: the server on stdin and stdout until the client closes them."""

from __future__ import annotations

import argparse
import sys

from llmlog.ext import (
    ConfigError,
    PluginHost,
    Sanitizer,
    config_relative,
    escape,
    validate_configuration,
)

__all__ = ["run_mcp"]


def _say(message: str) -> None:
    # stdout is the protocol's: every message of ours goes to stderr.
    print(f"llmlog: {escape(message)}", file=sys.stderr)


def run_mcp(host: PluginHost, args: argparse.Namespace) -> int:
    from pathlib import Path

    from llmlog_server_mcp.options import McpOptions
    from llmlog_server_mcp.runs import Library, OutsideError
    from llmlog_server_mcp.server import build_server

    try:
        config, _ = validate_configuration(args.config)
    except ConfigError as exc:
        _say(str(exc))
        return 2
    spec = config.table("mcp")
    options = spec.options if spec is not None else McpOptions()
    assert isinstance(options, McpOptions)
    if args.directories:
        directories = [Path(d) for d in args.directories]
    else:
        directories = [config_relative(d, config.source.path, Path(d)) for d in options.directories]
    if not directories:
        _say("no directory to serve: give DIR... or set [mcp] directories in llmlog.toml")
        return 2
    settings = config.settings
    sanitizer = Sanitizer(
        redact=settings.redact,
        extra_patterns=settings.redact_keys,
        max_string_length=options.max_field,
        redact_values=settings.redact_values,
        value_patterns=settings.redact_patterns,
    )
    try:
        library = Library.of(
            directories, sanitizer=sanitizer, host=host, max_output=options.max_output
        )
    except OutsideError as exc:
        _say(str(exc))
        return 2
    _say(f"serving {', '.join(str(r) for r in library.roots)} over MCP on stdio (read-only)")
    build_server(library).run("stdio")
    return 0
