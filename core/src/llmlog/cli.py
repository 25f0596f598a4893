"""The ``llmlog`` command line.

``llmlog --version`` · ``llmlog plugins`` · ``llmlog config check [PATH]`` ·
``llmlog config show [PATH]`` · ``llmlog demo`` · ``llmlog view FILE`` · ``llmlog convert FILE --to
FORMAT`` · ``llmlog flight list [DIR]`` · ``llmlog flight view|convert FILE``; plugins add
subcommands through ``llmlog_register_commands``.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

import llmlog
from llmlog.config import ConfigError, Configuration, find_config
from llmlog.config.converter import converter
from llmlog.config.loader import load_configuration, plugin_selection
from llmlog.plugins import PluginHost
from llmlog.registry import ComponentKind
from llmlog.tomlout import dumps_toml

__all__ = ["main"]


def _host_for(path: str | None) -> tuple[Any, PluginHost, list[str]]:
    source = find_config(path)
    only, disabled, errors = plugin_selection(source)
    host = PluginHost(only=only, blocked=disabled)
    return source, host, errors + [f"{c} @ $.plugins" for c in host.conflicts]


def _validate(path: str | None) -> tuple[Configuration, PluginHost]:
    source, host, errors = _host_for(path)
    config = load_configuration(
        source,
        host.components(ComponentKind.OUTPUT),
        host.components(ComponentKind.FORMATTER),
        recorders=host.components(ComponentKind.RECORDER),
        trace_formats=host.components(ComponentKind.TRACE_FORMAT),
        integrations=host.components(ComponentKind.INTEGRATION),
        extra_errors=errors,
    )
    return config, host


def _options_dict(options: Any) -> dict[str, Any]:
    if options is None:
        return {}
    return dict(converter.unstructure(options))


def _component_value(spec: Any) -> Any:
    """A formatter or backend as TOML: its name, or a table with its options."""
    options = _options_dict(spec.options)
    return {"type": spec.component.name, **options} if options else spec.component.name


def effective_dict(config: Configuration) -> dict[str, Any]:
    """The configuration in force, defaults filled in, as plain data."""
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
    config = _validated_or_report(args.path)
    if config is None:
        return 1
    outputs = ", ".join(f"{n} ({s.component.name})" for n, s in config.outputs.items()) or "none"
    print(
        f"{config.source.label}: OK; level {config.settings.level.name.lower()}; outputs: {outputs}"
    )
    return 0


def _cmd_config_show(args: argparse.Namespace) -> int:
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
    print(f"# effective llmlog configuration; source: {config.source.label}")
    print(dumps_toml(data, comments))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    import tempfile

    from llmlog.demo import run_demo
    from llmlog.flight import FlightRecorder, global_flight_recorder
    from llmlog.flight.recorder import set_global_flight_recorder
    from llmlog.stdlib import StdlibCapture, StdlibOptions

    if args.dspy:
        return _dspy_demo(args)
    if args.debug:
        os.environ["LLMLOG_LEVEL"] = "debug"  # the documented override of `level`
    try:
        config = llmlog.configure(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    # Unless the configuration runs one, the demo runs its own flight recorder (snapshots in a
    # temporary directory) and captures the simulated SDK's standard-logging records into it.
    recorder = global_flight_recorder()
    own = recorder is None
    if own:
        recorder = FlightRecorder(snapshot_dir=tempfile.mkdtemp(prefix="llmlog-demo-"))
        recorder.start()
        set_global_flight_recorder(recorder)
        llmlog.configure(args.config)  # attaches the recorder to the logging path
    capture = StdlibCapture(
        StdlibOptions(capture=True, loggers=["demo.provider_sdk"], propagate=False)
    )
    capture.install()
    try:
        usage = run_demo()
    finally:
        capture.uninstall()
    llmlog.get_logger().dispatcher.flush()
    assert recorder is not None
    snapshot = recorder.snapshot(reason="demo")
    events = read_events(snapshot)
    hidden = sum(1 for e in events if e.get("kind") == "log" and e.get("level") == "DEBUG")
    outputs = ", ".join(config.outputs) or "none"
    print(
        f"\ndemo done: {usage.total_tokens} tokens, ${usage.cost or 0:.6f}; "
        f"configuration: {config.source.label}; outputs: {outputs}\n"
        f"flight recorder: {len(events)} events kept ({hidden} DEBUG entries no output showed); "
        f"see them with: llmlog flight view {snapshot}",
        file=sys.stderr,
    )
    if own:
        set_global_flight_recorder(None)
    return 0


def _dspy_demo(args: argparse.Namespace) -> int:
    import importlib.util
    import tempfile

    if importlib.util.find_spec("llmlog_integration_dspy") is None:
        print(
            "llmlog: demo --dspy needs DSPy and the integration: pip install llmlog-integration-dspy",
            file=sys.stderr,
        )
        return 1
    from llmlog_integration_dspy.demo import run_dspy_demo

    try:
        llmlog.configure(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    path = run_dspy_demo(Path(tempfile.mkdtemp(prefix="llmlog-dspy-demo-")))
    print(f"\n$ llmlog view {path}\n", file=sys.stderr)
    from llmlog.viewing import view_arguments

    view = view_arguments()
    view.file = str(path)
    return _cmd_view(view)


def read_events(path: Any) -> list[dict[str, Any]]:
    """The events of a snapshot (for the demo's summary)."""
    from llmlog.flight.snapshot import read_snapshot

    return read_snapshot(path).events


def _snapshot_or_report(path: str) -> Any:
    """The snapshot at ``path``, or ``None`` after saying on stderr why it cannot be read."""
    from llmlog.flight.snapshot import SnapshotError, read_snapshot

    try:
        return read_snapshot(path)
    except SnapshotError as exc:
        print(f"llmlog: {exc}", file=sys.stderr)
        return None


def _cmd_flight_view(args: argparse.Namespace) -> int:
    from llmlog.flight.view import render_view
    from llmlog.severity import SEVERITY_NAMES, severity_from_name

    level = None
    if args.level is not None:
        level = severity_from_name(args.level)
        if level is None:
            print(
                f"llmlog: --level: unknown severity {args.level!r}; expected one of "
                f"{', '.join(SEVERITY_NAMES)}",
                file=sys.stderr,
            )
            return 2
    snapshot = _snapshot_or_report(args.file)
    if snapshot is None:
        return 1
    render_view(
        snapshot, sys.stdout, last=args.last, kinds=args.kind or (), level=level, grep=args.grep
    )
    return 0


def _cmd_flight_list(args: argparse.Namespace) -> int:
    from llmlog.filesink import config_relative
    from llmlog.flight.recorder import default_snapshot_dir
    from llmlog.flight.snapshot import SnapshotError, read_header
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
    if not directory.is_dir():
        print(f"No snapshots: {directory} does not exist.")
        return 0
    found = sorted(
        (p for p in directory.iterdir() if p.name.endswith((".jsonl", ".jsonl.zst"))),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    rows, others = [], 0
    for path in found:
        if path.name.startswith("."):  # a snapshot still being written (temporary name)
            continue
        try:
            header = read_header(path)
        except SnapshotError:
            others += 1
            continue
        created = header.get("created_ns")
        when = local_timestamp(created) if isinstance(created, int) else "?"
        window = header.get("window") or {}
        rows.append(
            f"  {when}  {escape(str(header.get('reason', '?'))):<10} "
            f"{escape(str((header.get('config') or {}).get('backend', '?'))):<7} "
            f"{window.get('events', '?'):>8} events {path.stat().st_size / 1024:>9.1f} KiB  "
            f"{escape(path.name)}"
        )
    print(f"Snapshots in {directory} ({len(rows)}, newest first):")
    for row in rows:
        print(row)
    if others:
        print(f"  ({others} other .jsonl files that are not snapshots)")
    if rows:
        print("Open one with: llmlog flight view FILE")
    return 0


def _cmd_flight_convert(args: argparse.Namespace) -> int:
    from llmlog.flight.chrome import write_chrome

    snapshot = _snapshot_or_report(args.file)
    if snapshot is None:
        return 1
    target = (
        args.output or str(args.file).removesuffix(".zst").removesuffix(".jsonl") + ".chrome.json"
    )
    with open(target, "wb") as fh:
        size = write_chrome(snapshot, fh)
    print(
        f"{target}: {size} bytes of Chrome Trace Event JSON (open it in ui.perfetto.dev or chrome://tracing)"
    )
    return 0


def _first_line(path: Path) -> tuple[bytes | None, str | None]:
    """The file's first line, or the message saying why it is not a trace."""
    try:
        with path.open("rb") as fh:
            first = fh.readline(1 << 20)
    except OSError as exc:
        return None, f"{path}: cannot read: {exc.strerror or exc}"
    if not first.strip():
        return None, f"{path}:1: empty file"
    if b"\x00" in first:
        return None, f"{path}:1: a binary file, not a trace"
    return first, None


def _say(message: str) -> None:
    """``llmlog: message`` on stderr, escaped: a message can name a file whose name, or quote a
    value whose text, holds control characters."""
    from llmlog.render import escape

    print(f"llmlog: {escape(message)}", file=sys.stderr)


def _await_first_line(path: Path, interval: float = 0.2) -> bool:
    """``view --watch`` on a file that does not exist yet or is still empty (a program has just
    opened its trace, and buffers): wait for its first whole line. False if interrupted."""
    said = False
    try:
        while True:
            try:
                with path.open("rb") as fh:
                    first = fh.readline(1 << 20)
                if first.endswith(b"\n") or len(first) >= 1 << 20:
                    return True
            except FileNotFoundError:
                pass
            except OSError:
                return True  # let the format detection name the problem
            if not said:
                _say(f"waiting for {path} to get its first line")
                said = True
            time.sleep(interval)
    except KeyboardInterrupt:
        return False


#: The trace formats of the standard set, by the distribution that installs each.
_STANDARD_FORMATS = {"dspy": "llmlog-trace-dspy", "rlm": "llmlog-trace-rlm"}


def _formats_hint(formats: dict[str, Any]) -> tuple[str, str]:
    """The installed trace formats (``dspy, rlm``, or ``""``) and, for the standard ones that are
    missing, what to install (``"; more with: pip install llmlog-trace-rlm"``)."""
    missing = [dist for name, dist in _STANDARD_FORMATS.items() if name not in formats]
    if not formats:
        hint = f'; install them with: pip install {" ".join(missing)} (or "llmlog[standard]")'
    else:
        hint = f"; more with: pip install {' '.join(missing)}" if missing else ""
    return ", ".join(sorted(formats)), hint


def _detect_format(path: Path, formats: dict[str, Any]) -> tuple[Any, str | None]:
    """The trace-format component that recognises ``path``, or the message saying none does."""
    first, problem = _first_line(path)
    if first is None:
        return None, problem
    for _, component in sorted(formats.items()):
        detect = component.support.detect
        try:
            recognised = detect is not None and detect(first)
        except Exception:  # a plugin's detect() that raises does not recognise the file
            recognised = False
        if recognised:
            return component, None
    known, hint = _formats_hint(formats)
    return (
        None,
        f"{path}:1: not a trace in any installed format ({known or 'none installed'}){hint}",
    )


def _cmd_view(args: argparse.Namespace) -> int:
    from llmlog.viewing import ViewError

    path = Path(args.file)
    if args.watch and not _await_first_line(path):
        return 0
    component, problem = _detect_format(path, PluginHost().components(ComponentKind.TRACE_FORMAT))
    if component is None or component.support.view is None:
        _say(problem or f"{path}: the format cannot be shown")
        return 1
    try:
        return int(component.support.view(path, args, sys.stdout) or 0)
    except ViewError as exc:
        _say(str(exc))
        return 2
    except ValueError as exc:  # the readers' errors name file:line
        _say(str(exc))
        return 1
    except BrokenPipeError:
        raise  # `llmlog view FILE | head`: main() ends quietly
    except OSError as exc:  # the file vanished or became unreadable, an export cannot be written
        where = exc.filename if exc.filename is not None else path
        _say(f"{where}: {exc.strerror or exc}")
        return 1


def _cmd_convert(args: argparse.Namespace) -> int:
    path = Path(args.file)
    formats = PluginHost().components(ComponentKind.TRACE_FORMAT)
    target_format = formats.get(args.to)
    if target_format is None:
        known, hint = _formats_hint(formats)
        _say(f"unknown trace format {args.to!r}; installed: {known or 'none'}{hint}")
        return 2
    source, problem = _detect_format(path, formats)
    if source is None or source.support.read is None:
        _say(problem or f"{path}: its format cannot be read")
        return 1
    # A directory (the input's by default) lets the format name a new file, as sessions do.
    output = Path(args.output) if args.output else path.parent
    into_directory = output.is_dir() or str(args.output or "").endswith(os.sep)
    directory = output if into_directory else output.parent
    if not into_directory and output.exists() and not args.force:
        _say(f"{output} exists; pass --force to replace it")
        return 1
    try:
        written, count, skipped = _convert(path, source, target_format, directory, args)
    except ValueError as exc:  # the reader's message names file:line
        _say(str(exc))
        return 1
    except OSError as exc:
        where = exc.filename if exc.filename is not None else directory
        _say(f"{where}: {exc.strerror or exc}")
        return 1
    try:
        final = written.parent.parent / written.name if into_directory else output
        if into_directory and final.exists():  # timestamped names: only by a clash of clocks
            raise FileExistsError(errno.EEXIST, "exists", str(final))
        os.replace(written, final)
    except OSError as exc:
        _say(f"{exc.filename or output}: cannot write: {exc.strerror or exc}")
        return 1
    finally:
        shutil.rmtree(written.parent, ignore_errors=True)
    from llmlog.render import escape

    note = f"; {len(skipped)} unreadable line{'' if len(skipped) == 1 else 's'} skipped"
    print(
        escape(
            f"{final}: {count} event{'' if count == 1 else 's'} from {path} ({source.name}) "
            f"written as {args.to}{note if skipped else ''}"
        )
    )
    return 0


def _convert(
    path: Path, source: Any, target: Any, directory: Path, args: argparse.Namespace
) -> tuple[Path, int, list[str]]:
    """Writes the converted file into a private temporary directory inside ``directory`` (so the
    file is the target format's, with its name and mode from the first byte, and the rename into
    place is atomic); returns its path, the events written and the lines skipped. On any failure
    the temporary directory is removed, so nothing partial is left."""
    import tempfile

    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    scratch = Path(tempfile.mkdtemp(prefix=".llmlog-convert-", dir=directory))
    skipped: list[str] = []
    count = 0
    try:
        writer = target.factory(target.options() if target.options is not None else None, scratch)
        try:
            for event in source.support.read(path, skipped=skipped if args.lenient else None):
                writer.write(event)
                count += 1
        finally:
            writer.close()
        written = Path(getattr(writer, "path", ""))
        if written.parent != scratch or not written.is_file():
            raise OSError(errno.ENOENT, "the format wrote no file", str(directory))
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return written, count, skipped


def build_parser(host: PluginHost | None = None) -> argparse.ArgumentParser:
    """The argument parser, with plugin subcommands added from ``host``."""
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
    check = config_sub.add_parser("check", help="validate a configuration (all errors at once)")
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

    demo = sub.add_parser(
        "demo", help="run a simulated LLM pipeline that logs through the configured outputs"
    )
    demo.add_argument("--config", help="configuration file (default: the usual search)")
    demo.add_argument("--debug", action="store_true", help="also show DEBUG entries")
    demo.add_argument(
        "--dspy",
        action="store_true",
        help="trace a DSPy ReAct agent and a ChainOfThought on DummyLM, then show the trace",
    )
    demo.set_defaults(run=_cmd_demo)

    view_trace = sub.add_parser("view", help="show a trace file (the format is detected)")
    view_trace.add_argument("file", help="a trace file")
    view_trace.add_argument(
        "--stats", action="store_true", help="totals: tokens, cost, timings (min/median/max)"
    )
    view_trace.add_argument(
        "--errors", action="store_true", help="only what failed (and, in a tree, its ancestors)"
    )
    view_trace.add_argument(
        "-s", "--search", metavar="TEXT", help="only what mentions TEXT (case-insensitive)"
    )
    view_trace.add_argument(
        "-c", "--compact", action="store_true", help="no full responses or LLM-call details"
    )
    view_trace.add_argument("--iter", type=int, metavar="N", help="only iteration N (RLM files)")
    view_trace.add_argument("--final", action="store_true", help="only the final answer")
    view_trace.add_argument(
        "-w", "--watch", action="store_true", help="follow a growing file (Ctrl-C to stop)"
    )
    view_trace.add_argument("--export", metavar="FILE.md", help="write Markdown to FILE.md")
    view_trace.add_argument("--no-color", action="store_true", help="never colour")
    view_trace.add_argument(
        "--lenient", action="store_true", help="skip unreadable lines (counted)"
    )
    view_trace.set_defaults(run=_cmd_view)

    convert_trace = sub.add_parser(
        "convert", help="rewrite a trace file in another trace format (the source is detected)"
    )
    convert_trace.add_argument("file", help="a trace file")
    convert_trace.add_argument(
        "--to", required=True, metavar="FORMAT", help="target trace format (dspy, rlm, ...)"
    )
    convert_trace.add_argument(
        "-o", "--output", help="output file or directory (default: a new file beside the input)"
    )
    convert_trace.add_argument("--force", action="store_true", help="replace an existing file")
    convert_trace.add_argument(
        "--lenient", action="store_true", help="skip unreadable lines (counted)"
    )
    convert_trace.set_defaults(run=_cmd_convert)

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
    view.set_defaults(run=_cmd_flight_view)
    convert = flight_sub.add_parser("convert", help="convert a snapshot for a trace viewer")
    convert.add_argument("file", help="a snapshot (.jsonl or .jsonl.zst)")
    convert.add_argument("--to", choices=["chrome"], default="chrome", help="output format")
    convert.add_argument("-o", "--output", help="output file (default: next to the snapshot)")
    convert.set_defaults(run=_cmd_flight_convert)

    for command in host.commands.values() if host is not None else ():
        cp = sub.add_parser(command.name, help=command.help)
        if command.arguments is not None:
            command.arguments(cp)
        cp.set_defaults(run=command.run)
    return parser


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
