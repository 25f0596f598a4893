"""The ``llmlog`` command line: the frame.

``llmlog --version`` · ``llmlog plugins`` · ``llmlog config check [PATH]`` ·
``llmlog config show [PATH]``, and every command a plugin registers through
``llmlog_register_commands``: the default plugins' ``view`` and ``convert``
(:mod:`llmlog.default_plugins.trace_commands`), ``demo`` (``llmlog-command-demo``)...
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

import llmlog
from llmlog.config import ConfigError, Configuration
from llmlog.config.converter import converter
from llmlog.plugins import PluginHost
from llmlog.registry import Command
from llmlog.sanitize import REDACTED, Sanitizer
from llmlog.tomlout import dumps_toml

__all__ = ["main"]


def _validate(path: str | None) -> tuple[Configuration, PluginHost]:
    from llmlog.configure import validate

    return validate(path)


def _options_dict(options: Any) -> dict[str, Any]:
    if options is None:
        return {}
    return dict(converter.unstructure(options))


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
    for key in ("stdlib", "flight_recorder", "trace"):
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
        if spec.formatter is not None:
            table["formatter"] = _component_value(spec.formatter)
        table.update(_options_dict(spec.options))
        outputs[name] = table
    stdlib = _options_dict(config.stdlib)
    stdlib["level"] = config.stdlib.level.name.lower()
    flight = _options_dict(config.flight_recorder)
    flight["level"] = config.flight_recorder.level.name.lower()
    if config.recorder_backend is not None:
        flight = {"backend": _component_value(config.recorder_backend), **flight}
    trace = _options_dict(config.trace)
    if config.trace_format is not None:
        trace = {"format": _component_value(config.trace_format), **trace}
    integrations = {
        name: {"enabled": spec.enabled, **_options_dict(spec.options)}
        for name, spec in config.integrations.items()
    }
    return {
        **settings,
        "outputs": outputs,
        "stdlib": stdlib,
        "flight_recorder": flight,
        "trace": trace,
        "integrations": integrations,
    }


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
    from llmlog.configure import check_configuration

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


def _snapshot_or_report(path: str, lenient: bool = False, max_events: int | None = None) -> Any:
    """The snapshot at ``path``, or ``None`` after saying on stderr (escaped) why it cannot be
    read."""
    import gc

    from llmlog.flight.snapshot import SnapshotError, UnreadableLine, read_snapshot
    from llmlog.render import escape

    # Loading builds one dict per event and keeps them all: the cyclic garbage collector would
    # traverse them again and again (two thirds of the time for 100,000 events) to find nothing.
    collecting = gc.isenabled()
    gc.disable()
    try:
        if max_events is None:
            return read_snapshot(path, lenient=lenient)
        return read_snapshot(path, lenient=lenient, max_events=max_events)
    except SnapshotError as exc:
        hint = " (--lenient skips unreadable lines)" if isinstance(exc, UnreadableLine) else ""
        print(f"llmlog: {escape(str(exc))}{hint}", file=sys.stderr)
        return None
    finally:
        if collecting:
            gc.enable()


def _cmd_flight_view(args: argparse.Namespace) -> int:
    from llmlog.flight.schema import KNOWN_KINDS
    from llmlog.flight.view import render_view
    from llmlog.render import escape
    from llmlog.severity import SEVERITY_NAMES, severity_from_name
    from llmlog.viewing import paint_for

    level = None
    if args.level is not None:
        level = severity_from_name(args.level)
        if level is None:
            print(
                f"llmlog: --level: unknown severity {escape(repr(args.level))}; expected one of "
                f"{', '.join(SEVERITY_NAMES)}",
                file=sys.stderr,
            )
            return 2
    if args.last < 0:
        print("llmlog: --last: expected 0 (all) or more", file=sys.stderr)
        return 2
    if args.max_events is not None and args.max_events < 1:
        print("llmlog: --max-events: expected 1 or more", file=sys.stderr)
        return 2
    snapshot = _snapshot_or_report(args.file, args.lenient, args.max_events)
    if snapshot is None:
        return 1
    # Kinds the recorder writes, and any other this snapshot holds (FlightRecorder.record).
    present = {event["kind"] for event in snapshot.events}
    unknown = [k for k in args.kind or () if k not in KNOWN_KINDS and k not in present]
    if unknown:
        others = sorted(present - set(KNOWN_KINDS))
        extra = f"; in this snapshot also: {', '.join(escape(k) for k in others)}" if others else ""
        print(
            f"llmlog: --kind: unknown kind {escape(repr(unknown[0]))}; known kinds: "
            f"{', '.join(KNOWN_KINDS)}{extra}",
            file=sys.stderr,
        )
        return 2
    render_view(
        snapshot,
        sys.stdout,
        last=args.last,
        kinds=args.kind or (),
        level=level,
        grep=args.grep,
        paint=paint_for(args, sys.stdout),
    )
    return 0


def _cmd_flight_list(args: argparse.Namespace) -> int:
    import stat

    from llmlog.config.paths import config_relative
    from llmlog.flight.recorder import default_snapshot_dir
    from llmlog.flight.snapshot import (
        NotASnapshot,
        SnapshotError,
        read_header,
        recorder_backends,
    )
    from llmlog.render import escape, local_timestamp

    if args.dir:
        directory = Path(args.dir)
    else:
        # Where this project's configuration sends snapshots, else the platformdirs default.
        try:
            config, _ = _validate(args.config)
        except ConfigError as exc:
            print(f"llmlog: {exc}", file=sys.stderr)
            return 1
        directory = config_relative(
            config.flight_recorder.snapshot_dir, config.source.path, default_snapshot_dir()
        )
    shown_dir = escape(str(directory))
    if not directory.is_dir():
        print(f"No snapshots: {shown_dir} does not exist.")
        return 0
    try:
        names = [p for p in directory.iterdir() if p.name.endswith((".jsonl", ".jsonl.zst"))]
    except OSError as exc:
        print(f"llmlog: {shown_dir}: cannot list: {exc.strerror or exc}", file=sys.stderr)
        return 1
    found = []
    for path in names:
        if path.name.startswith("."):  # a snapshot still being written (temporary name)
            continue
        try:
            status = path.stat()
        except OSError:  # gone meanwhile, or a dangling link
            continue
        if not stat.S_ISREG(status.st_mode):  # a directory, or a FIFO that would block a read
            continue
        found.append((status.st_mtime, status.st_size, path))
    found.sort(key=lambda item: item[0], reverse=True)
    backends = recorder_backends()
    rows, others, unreadable = [], 0, []
    for _, size, path in found:
        try:
            header = read_header(path, backends=backends)
        except NotASnapshot:
            others += 1
            continue
        except SnapshotError as exc:  # a snapshot that cannot be read: listed with the reason
            unreadable.append(escape(str(exc)))
            continue
        created = header.get("created_ns")
        when = local_timestamp(created) if isinstance(created, int) else "?"
        window = header.get("window") or {}
        events = window.get("events")
        rows.append(
            f"  {when}  {escape(str(header.get('reason') or '?')[:40]):<10} "
            f"{escape(str((header.get('config') or {}).get('backend') or '?')[:20]):<7} "
            f"{events if isinstance(events, int) else '?':>8} events {size / 1024:>9.1f} KiB  "
            f"{escape(path.name)}"
        )
    print(f"Snapshots in {shown_dir} ({len(rows)}, newest first):")
    for row in rows:
        print(row)
    for message in unreadable:
        print(f"  unreadable: {message}")
    if others:
        print(f"  ({others} other .jsonl files that are not snapshots)")
    if rows:
        print("Open one with: llmlog flight view FILE")
    return 0


def _cmd_flight_convert(args: argparse.Namespace) -> int:
    from llmlog.flight.chrome import write_chrome
    from llmlog.render import escape
    from llmlog.safefiles import written_atomically

    if args.max_events is not None and args.max_events < 1:
        print("llmlog: --max-events: expected 1 or more", file=sys.stderr)
        return 2
    snapshot = _snapshot_or_report(args.file, args.lenient, args.max_events)
    if snapshot is None:
        return 1
    target = Path(
        args.output or str(args.file).removesuffix(".zst").removesuffix(".jsonl") + ".chrome.json"
    )
    try:
        with written_atomically(target) as fh:  # 0600 from the first byte; no half file
            size = write_chrome(snapshot, fh)
    except OSError as exc:
        print(
            f"llmlog: {escape(str(target))}: cannot write: {exc.strerror or exc}", file=sys.stderr
        )
        return 1
    skipped = ""
    if snapshot.skipped:
        skipped = (
            f"; {snapshot.skipped} unreadable line{'s' if snapshot.skipped > 1 else ''} skipped"
        )
    if snapshot.missing_events:
        skipped += f"; {snapshot.missing_events} events missing (the file is damaged or cut short)"
    if snapshot.dropped:
        skipped += f"; the oldest {snapshot.dropped} events left out (--max-events)"
    print(
        f"{escape(str(target))}: {size} bytes of Chrome Trace Event JSON "
        f"(open it in ui.perfetto.dev or chrome://tracing){skipped}"
    )
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

    flight = sub.add_parser("flight", help="read flight-recorder snapshots")
    flight_sub = flight.add_subparsers(dest="flight_command", metavar="ACTION", required=True)
    listing = flight_sub.add_parser(
        "list", help="the snapshots in the configured snapshot directory, newest first"
    )
    listing.add_argument(
        "dir", nargs="?", help="a directory (default: [flight_recorder] snapshot_dir)"
    )
    listing.add_argument("--config", help="the configuration file (default: discovered)")
    listing.set_defaults(run=_cmd_flight_list)
    view = flight_sub.add_parser("view", help="summary and timeline of a snapshot, errors first")
    view.add_argument("file", help="a snapshot (.jsonl or .jsonl.zst)")
    view.add_argument(
        "--last", type=int, default=50, help="timeline events to show (default 50; 0: all)"
    )
    view.add_argument(
        "--kind",
        action="append",
        help="only events of this kind in the timeline (log, span, llm_call, region, ...); repeat",
    )
    view.add_argument("--level", help="only log entries at or above this severity in the timeline")
    view.add_argument("--grep", help="only timeline events containing this text (any case)")
    view.add_argument("--no-color", action="store_true", help="no colours (also: NO_COLOR)")
    view.add_argument(
        "--lenient", action="store_true", help="skip unreadable lines (counted) instead of failing"
    )
    view.add_argument(
        "--max-events",
        type=int,
        help="most events read, the newest kept (default 1,000,000: bounds memory)",
    )
    view.set_defaults(run=_cmd_flight_view)
    convert = flight_sub.add_parser("convert", help="convert a snapshot for a trace viewer")
    convert.add_argument("file", help="a snapshot (.jsonl or .jsonl.zst)")
    convert.add_argument("--to", choices=["chrome"], default="chrome", help="output format")
    convert.add_argument("-o", "--output", help="output file (default: next to the snapshot)")
    convert.add_argument(
        "--lenient", action="store_true", help="skip unreadable lines (counted) instead of failing"
    )
    convert.add_argument(
        "--max-events",
        type=int,
        help="most events read, the newest kept (default 1,000,000: bounds memory)",
    )
    convert.set_defaults(run=_cmd_flight_convert)

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
