"""The ``llmlog`` command line: the frame.

``llmlog --version`` · ``llmlog plugins`` · ``llmlog config check [PATH]`` ·
``llmlog config show [PATH]``, and every command a plugin registers through
``llmlog_register_commands``: the default plugins' ``view`` and ``convert``
(:mod:`llmlog.default_plugins.trace_commands`), ``demo`` (``llmlog-command-demo``), ``flight`` (``llmlog-engine-flight``)...
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

import attrs

import llmlog
from llmlog.config import ConfigError, Configuration
from llmlog.config.converter import converter
from llmlog.plugins import PluginHost
from llmlog.registry import Command
from llmlog.sanitize import REDACTED, Sanitizer
from llmlog.severity import Severity
from llmlog.tomlout import dumps_toml

__all__ = ["main"]


def _validate(path: str | None) -> tuple[Configuration, PluginHost]:
    from llmlog.runtime import validate

    return validate(path)


def _options_dict(options: Any) -> dict[str, Any]:
    if options is None:
        return {}
    data = dict(converter.unstructure(options))
    for field in attrs.fields(type(options)):
        value = getattr(options, field.name)
        if isinstance(value, Severity):  # as the file says it: "debug", not 10
            data[field.name] = value.name.lower()
    return data


def _component_value(spec: Any) -> Any:
    """A formatter or backend as TOML: its name, or a table with its options."""
    options = _options_dict(spec.options)
    return {"type": spec.component.name, **options} if options else spec.component.name


def effective_dict(config: Configuration, *, redacted: bool = True) -> dict[str, Any]:
    """The configuration in force, defaults filled in, as plain data.

    With ``redacted`` (the default), secrets in it are redacted as the configuration redacts log
    entries: a header, a default field or an option holding a key is shown as ``[REDACTED]``."""
    data = _effective(config)
    if not redacted:
        return data
    settings = config.settings
    # The top-level settings name patterns, not secrets (redact_keys is not a key): only the
    # values that fields and components were given are redacted. Default fields are data, so
    # every configured rule applies; components' options are structure too (a type, a level, a
    # trigger name), so only the built-in rules do, which never match those: what is printed
    # still reads back, whatever the configured patterns match.
    fields = Sanitizer.from_settings(settings)
    options = Sanitizer(redact=settings.redact, redact_values=settings.redact_values)
    data["default_fields"] = _redact_text(fields, data["default_fields"], False)
    for key in config.tables:
        data[key] = _redact_text(options, data[key], False)
    for group in ("outputs", "integrations"):
        data[group] = {name: _redact_text(options, t, False) for name, t in data[group].items()}
    return data


def _redact_text(clean: Sanitizer, value: Any, secret: bool) -> Any:
    """``value`` with its text redacted (every string under a secret key, the secrets inside
    the others) and every other value kept: what ``config show`` prints still reads back as the
    same types, whatever ``redact_keys`` matches."""
    if isinstance(value, str):
        return REDACTED if secret and value else clean.text(value)
    if isinstance(value, dict):
        return {
            k: _redact_text(clean, v, secret or clean.is_secret_key(k)) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_redact_text(clean, v, secret) for v in value]
    return value


def _effective(config: Configuration) -> dict[str, Any]:
    settings = attrs.asdict(config.settings)
    settings["level"] = config.settings.level.name.lower()
    outputs: dict[str, Any] = {}
    for name, spec in config.outputs.items():
        table: dict[str, Any] = {"type": spec.component.name}
        if spec.level is not None:
            table["level"] = spec.level.name.lower()
        if spec.follow_trace_sampling:
            table["follow_trace_sampling"] = True
        if spec.formatter is not None:
            table["formatter"] = _component_value(spec.formatter)
        table.update(_options_dict(spec.options))
        outputs[name] = table
    tables: dict[str, Any] = {}
    for name, claimed in config.tables.items():
        shown = _options_dict(claimed.options)
        choice = claimed.table.component
        if choice is not None and claimed.component is not None:
            shown = {choice.key: _component_value(claimed.component), **shown}
        tables[name] = shown
    integrations = {
        name: {"enabled": spec.enabled, **_options_dict(spec.options)}
        for name, spec in config.integrations.items()
    }
    return {**settings, "outputs": outputs, **tables, "integrations": integrations}


def _cmd_plugins(args: argparse.Namespace) -> int:
    host = PluginHost()
    rows = [attrs.asdict(info) for info in host.plugins.values()]
    if args.json:
        print(json.dumps({"plugins": rows, "conflicts": host.conflicts}, indent=2))
    else:
        for info in host.plugins.values():
            origin = f"{info.distribution} {info.version}" if info.distribution else info.module
            tag = "built-in" if info.builtin else info.status
            print(f"{info.name}  ({origin})  [{tag}]")
            for component in info.components:
                print(f"    {component}")
            if info.error:
                print(f"    error: {info.error}")
        for conflict in host.conflicts:
            print(f"conflict: {conflict}")
        if not host.autoload:
            print("(entry-point plugins not loaded: LLMLOG_DISABLE_PLUGIN_AUTOLOAD is set)")
    return 1 if host.load_errors or host.conflicts else 0


def _validated_or_report(path: str | None) -> Configuration | None:
    """The validated configuration, or ``None`` after printing its errors on stderr."""
    try:
        return _validate(path)[0]
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return None


def _cmd_config_check(args: argparse.Namespace) -> int:
    from llmlog.runtime import check_configuration

    try:
        # A dry run of configure(): every component checked or built and closed, nothing created.
        config = check_configuration(args.path)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    outputs = ", ".join(f"{n} ({s.component.name})" for n, s in config.outputs.items()) or "none"
    print(
        f"{config.source.label}: OK; level {config.settings.level.name.lower()}; outputs: {outputs}"
    )
    return 0


def _cmd_config_show(args: argparse.Namespace) -> int:
    from llmlog.render import escape

    config = _validated_or_report(args.path)
    if config is None:
        return 1
    data = effective_dict(config)
    if args.json:
        print(
            json.dumps(
                {"source": config.source.label, "provenance": config.provenance, "config": data},
                indent=2,
            )
        )
        return 0
    comments = {key: f"from {where}" for key, where in config.provenance.items()}
    if config.provenance.get("outputs") == "default":
        comments["outputs"] = "built-in default (no [outputs] table)"
    print(f"# effective llmlog configuration; source: {escape(config.source.label)}")
    print(dumps_toml(data, comments))
    return 0


def build_parser(host: PluginHost | None = None) -> argparse.ArgumentParser:
    """The argument parser: ``plugins`` and ``config``, and every command registered in ``host``
    (none without one)."""
    parser = argparse.ArgumentParser(
        prog="llmlog", description="llmlog: logging, tracing and flight recording for LLM apps."
    )
    parser.add_argument("--version", action="version", version=f"llmlog {llmlog.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("plugins", help="list plugins, their components and load errors")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run=_cmd_plugins)

    config = sub.add_parser("config", help="check or show the configuration")
    config_sub = config.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    check = config_sub.add_parser(
        "check",
        help="validate a configuration and dry-run building it (all errors at once; creates nothing)",
    )
    check.add_argument(
        "path", nargs="?", help="llmlog.toml or pyproject.toml (default: the usual search)"
    )
    check.set_defaults(run=_cmd_config_check)
    show = config_sub.add_parser(
        "show", help="print the effective configuration and where each part came from"
    )
    show.add_argument(
        "path", nargs="?", help="llmlog.toml or pyproject.toml (default: the usual search)"
    )
    show.add_argument("--json", action="store_true", help="machine-readable output")
    show.set_defaults(run=_cmd_config_show)

    for command in host.commands.values() if host is not None else ():
        cp = sub.add_parser(command.name, help=command.help)
        try:
            if command.arguments is not None:
                command.arguments(cp)
        except Exception as exc:  # one plugin's broken command leaves the others usable
            problem = f"its arguments raised {type(exc).__name__}: {exc}"
            cp.set_defaults(run=lambda args, c=command, p=problem: _broken(c, p))
            continue
        cp.set_defaults(run=command.run)
    return parser


def _broken(command: Command, problem: str) -> int:
    from llmlog.render import escape

    print(
        escape(
            f"llmlog: command {command.name!r} (plugin {command.plugin!r}) cannot run: {problem}"
        ),
        file=sys.stderr,
    )
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``llmlog`` command."""
    try:
        return _run(argv)
    except KeyboardInterrupt:
        # Ctrl-C while a command waits (a pipe nobody writes yet, a long read) or while the
        # plugins load: the shell's status for SIGINT, without a traceback, as `cat` ends.
        return 130


def _run(argv: Sequence[str] | None) -> int:
    host = PluginHost()
    parser = build_parser(host)
    args = parser.parse_args(argv)
    if getattr(args, "run", None) is None:
        parser.print_help()
        return 2
    try:
        result = args.run(args)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`llmlog view FILE | head`): not an error. Point stdout at devnull
        # so the interpreter's final flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
