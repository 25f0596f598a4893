"""The ``llmlog`` command line.

``llmlog --version`` · ``llmlog plugins`` · ``llmlog config check [PATH]`` ·
``llmlog config show [PATH]`` · ``llmlog demo`` · ``llmlog view FILE`` · ``llmlog convert FILE --to
FORMAT``; plugins add subcommands through ``llmlog_register_commands`` (``llmlog flight ...`` is
the flight-recorder engine's).
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
from llmlog.config import ConfigError, Configuration
from llmlog.config.converter import converter
from llmlog.plugins import PluginHost
from llmlog.registry import ComponentKind
from llmlog.safefiles import make_private_dirs
from llmlog.sanitize import REDACTED, Sanitizer
from llmlog.severity import Severity
from llmlog.tomlout import dumps_toml

__all__ = ["main"]


def _validate(path: str | None) -> tuple[Configuration, PluginHost]:
    from llmlog.configure import validate

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


def _is_demo_snapshot(name: str) -> bool:
    return name.startswith("flight-") and name.endswith(("-demo.jsonl", "-demo.jsonl.zst"))


def _cmd_demo(args: argparse.Namespace) -> int:
    # The demo runs the flight-recorder engine; it leaves core with the demo (command-demo).
    from llmlog.config.paths import config_relative
    from llmlog.demo import KEEP, cli_command, keep_newest, run_demo
    from llmlog.flight import running_flight_recorder
    from llmlog.render import escape, plural
    from llmlog.stdlib import StdlibCapture, StdlibOptions
    from llmlog_engine_flight.recorder import (
        FlightRecorder,
        default_snapshot_dir,
        set_global_flight_recorder,
    )

    if args.dspy:
        return _dspy_demo(args)
    if args.debug:
        os.environ["LLMLOG_LEVEL"] = "debug"  # the documented override of `level`
    try:
        config = llmlog.configure(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    # Unless the configuration runs one, the demo runs its own flight recorder and captures the
    # simulated SDK's standard-logging records into it. Its snapshot goes where `llmlog flight
    # list` looks (the configured snapshot_dir, else the platformdirs default), and the newest
    # KEEP demo snapshots stay there: nothing is left in the temporary directory.
    recorder: Any = running_flight_recorder()
    own = recorder is None
    if own:
        flight = config.table("flight_recorder")
        recorder = FlightRecorder(
            snapshot_dir=config_relative(
                flight.options.snapshot_dir if flight else "",
                config.source.path,
                default_snapshot_dir(),
            )
        )
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
    keep_newest(snapshot.parent, _is_demo_snapshot)
    events = read_events(snapshot)
    hidden = sum(1 for e in events if e.get("kind") == "log" and e.get("level") == "DEBUG")
    outputs = ", ".join(config.outputs) or "none"
    print(
        f"\ndemo done: {plural(usage.total_tokens, 'token')}, ${usage.cost or 0:.6f}; "
        f"configuration: {config.source.label}; outputs: {outputs}\n"
        f"flight recorder: {plural(len(events), 'event')} kept "
        f"({plural(hidden, 'DEBUG entry', 'DEBUG entries')} no output showed), "
        f"in {escape(str(snapshot.parent))} with the last {KEEP} demo snapshots; "
        f"see them with: {escape(cli_command('flight', 'view', str(snapshot)))}",
        file=sys.stderr,
    )
    if own:
        set_global_flight_recorder(None)
        recorder.stop()
    return 0


def _dspy_demo(args: argparse.Namespace) -> int:
    from llmlog.config.paths import config_relative
    from llmlog.demo import cli_command, keep_newest
    from llmlog.render import escape
    from llmlog.traceconfig import default_trace_dir

    try:
        # The integration and DSPy itself (which the demo module imports): either may be missing.
        from llmlog_integration_dspy.demo import run_dspy_demo
    except ImportError as exc:
        print(
            "llmlog: demo --dspy needs DSPy and the integration: pip install "
            f"llmlog-integration-dspy ({exc})",
            file=sys.stderr,
        )
        return 1

    try:
        config = llmlog.configure(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    # In `demo` under the configured trace directory, where the newest KEEP demo traces stay.
    trace = config.table("trace")
    directory = config_relative(
        trace.options.dir if trace else "", config.source.path, default_trace_dir()
    )
    directory /= "demo"
    path = run_dspy_demo(directory)
    keep_newest(directory, lambda name: ".jsonl" in name and not name.startswith("."))
    print(f"\n$ {escape(cli_command('view', str(path)))}\n", file=sys.stderr)
    from llmlog.viewing import view_arguments

    view = view_arguments()
    view.file = str(path)
    return _cmd_view(view)


def read_events(path: Any) -> list[dict[str, Any]]:
    """The events of a snapshot (for the demo's summary); unreadable lines are skipped."""
    from llmlog_engine_flight.snapshot import read_snapshot

    return read_snapshot(path, lenient=True).events


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
def _formats_hint(formats: dict[str, Any]) -> tuple[str, str]:
    """The installed trace formats (``dspy, rlm``, or ``""``) and, for the standard ones that are
    missing, what to install (``"; more with: pip install llmlog-trace-rlm"``)."""
    from llmlog.tracing import STANDARD_FORMATS

    missing = [dist for name, dist in STANDARD_FORMATS.items() if name not in formats]
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

    make_private_dirs(directory)
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
