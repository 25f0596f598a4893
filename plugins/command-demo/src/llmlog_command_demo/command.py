"""The ``llmlog demo`` command: the simulated pipeline (:mod:`llmlog_command_demo.pipeline`)
through the configured outputs and a flight recorder, or a variant another plugin registers
(``--dspy``: a traced DSPy program, then its trace shown by ``llmlog view``)."""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shlex
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pluggy

import llmlog
from llmlog.ext import (
    ConfigError,
    PluginHost,
    StdlibCapture,
    StdlibOptions,
    config_relative,
    default_trace_dir,
    escape,
    make_private_dirs,
    plugin_host,
    plural,
    running_flight_recorder,
)
from llmlog_command_demo import hookspecs
from llmlog_command_demo.pipeline import run_demo
from llmlog_engine_flight.recorder import (
    FlightRecorder,
    default_snapshot_dir,
    set_global_flight_recorder,
)
from llmlog_engine_flight.snapshot import read_snapshot

__all__ = [
    "KEEP",
    "STANDARD_VARIANTS",
    "DemoVariant",
    "add_arguments",
    "cli_command",
    "demo_variants",
    "keep_newest",
    "run",
]

#: Demo snapshots (in the snapshot directory) and demo traces kept: each run removes older ones.
KEEP = 5


@attrs.frozen
class DemoVariant:
    """``llmlog demo --NAME``: what :func:`~llmlog_command_demo.hookspecs.llmlog_register_demos`
    registered (``run`` is ``None`` for a standard variant whose plugin is not installed)."""

    name: str
    run: Callable[[Path], Path] | None = attrs.field(eq=False)
    help: str = ""
    needs: str = ""
    install: str = ""
    plugin: str = ""


#: The variants of the standard plugins: their flag is always there, and says what to install
#: when the plugin that runs it is not loaded.
STANDARD_VARIANTS = {
    "dspy": DemoVariant(
        "dspy",
        None,
        help="trace a DSPy ReAct agent and a ChainOfThought on DummyLM, then show the trace",
        needs="DSPy and the integration",
        install="llmlog-integration-dspy",
    ),
}

_NAME = re.compile(r"[a-z][a-z0-9-]*")
_TAKEN = {"config", "debug", "help"}


def demo_variants(host: PluginHost) -> dict[str, DemoVariant]:
    """The variants of ``llmlog demo``: the standard ones, replaced or joined by those that
    ``host``'s plugins register. A registration that fails is reported on stderr and left out."""
    hook = getattr(host.pm.hook, "llmlog_register_demos", None)
    if hook is None or hook.spec is None:
        try:
            host.pm.add_hookspecs(hookspecs)
        except pluggy.PluginValidationError as exc:  # its call below reports it again
            _warn(f"plugin {host.pm.get_name(exc.plugin)!r}: {exc}")
    found = dict(STANDARD_VARIANTS)
    registered: dict[str, str] = {}
    for impl in host.pm.hook.llmlog_register_demos.get_hookimpls():
        plugin = impl.plugin_name

        def register(
            name: str,
            run: Callable[[Path], Path],
            *,
            help: str = "",
            needs: str = "",
            install: str = "",
            _plugin: str = plugin,
        ) -> None:
            if not isinstance(name, str) or not _NAME.fullmatch(name) or name in _TAKEN:
                raise ValueError(
                    f"demo name {name!r}: lowercase letters, digits and -, not {_TAKEN}"
                )
            if not callable(run):
                raise TypeError(f"demo {name!r}: run is not callable")
            if name in registered:
                raise ValueError(
                    f"demo {name!r} is registered by both {registered[name]!r} and {_plugin!r}"
                )
            registered[name] = _plugin
            found[name] = DemoVariant(name, run, help, needs, install, _plugin)

        try:
            impl.function(**dict.fromkeys(impl.argnames, register))
        except Exception as exc:  # one plugin's mistake leaves the demo and the other variants
            _warn(f"plugin {plugin!r}: llmlog_register_demos raised {type(exc).__name__}: {exc}")
    return found


def add_arguments(host: PluginHost, parser: argparse.ArgumentParser) -> None:
    """The flags of ``llmlog demo``: ``--config``, ``--debug`` and one per variant."""
    parser.add_argument("--config", help="configuration file (default: the usual search)")
    parser.add_argument("--debug", action="store_true", help="also show DEBUG entries")
    variants = parser.add_mutually_exclusive_group()
    for name, variant in sorted(demo_variants(host).items()):
        missing = f" (needs {variant.install})" if variant.run is None and variant.install else ""
        variants.add_argument(
            f"--{name}",
            dest="variant",
            action="store_const",
            const=name,
            help=f"{variant.help}{missing}",
        )


def run(host: PluginHost, args: argparse.Namespace) -> int:
    """``llmlog demo``: the pipeline, or the variant ``args.variant`` names."""
    variant = getattr(args, "variant", None)
    if variant is not None:
        return _run_variant(host, demo_variants(host)[variant], args)
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
    # The same snapshot as one HTML page, where the report plugin is installed (the standard set).
    page = ""
    if "report" in plugin_host().commands:
        report = cli_command("report", str(snapshot), "-o", "llmlog-demo.html")
        page = (
            f"\nor as one HTML page (written here, opens offline in any browser): {escape(report)}"
        )
    print(
        f"\ndemo done: {plural(usage.total_tokens, 'token')}, ${usage.cost or 0:.6f}; "
        f"configuration: {config.source.label}; outputs: {outputs}\n"
        f"flight recorder: {plural(len(events), 'event')} kept "
        f"({plural(hidden, 'DEBUG entry', 'DEBUG entries')} no output showed), "
        f"in {escape(str(snapshot.parent))} with the last {KEEP} demo snapshots; "
        f"see them with: {escape(cli_command('flight', 'view', str(snapshot)))}{page}",
        file=sys.stderr,
    )
    if own:
        set_global_flight_recorder(None)
        recorder.stop()
    return 0


def _run_variant(host: PluginHost, variant: DemoVariant, args: argparse.Namespace) -> int:
    """A variant's traced program into ``demo/`` of the trace directory, then ``llmlog view`` of
    its trace file."""

    def missing(reason: object) -> int:
        needs = variant.needs or variant.install or "a plugin"
        install = f": pip install {variant.install}" if variant.install else ""
        print(f"llmlog: demo --{variant.name} needs {needs}{install} ({reason})", file=sys.stderr)
        return 1

    if variant.run is None:
        return missing("no installed plugin provides it")
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
    make_private_dirs(directory)
    try:
        path = variant.run(directory)
    except ImportError as exc:  # what the variant needs (DSPy...) is not installed
        return missing(exc)
    keep_newest(directory, lambda name: ".jsonl" in name and not name.startswith("."))
    print(f"\n$ {escape(cli_command('view', str(path)))}\n", file=sys.stderr)
    # The view command as the command line runs it, through its registration.
    view = host.commands["view"]
    parser = argparse.ArgumentParser(prog="llmlog view")
    if view.arguments is not None:
        view.arguments(parser)
    return int(view.run(parser.parse_args([str(path)])) or 0)


def _warn(message: str) -> None:
    print(f"llmlog: warning: {escape(message)}", file=sys.stderr)


def _is_demo_snapshot(name: str) -> bool:
    return name.startswith("flight-") and name.endswith(("-demo.jsonl", "-demo.jsonl.zst"))


def read_events(path: Any) -> list[dict[str, Any]]:
    """The events of a snapshot (for the demo's summary); unreadable lines are skipped."""
    return read_snapshot(path, lenient=True).events


def keep_newest(directory: Path, matches: Callable[[str], bool], keep: int = KEEP) -> None:
    """Remove all but the ``keep`` newest files in ``directory`` whose names ``matches``
    (what earlier demo runs left; nothing else is touched, and a failure is ignored)."""
    try:
        found = [(p.stat().st_mtime_ns, p) for p in directory.iterdir() if matches(p.name)]
    except OSError:
        return
    found.sort(reverse=True)
    for _, old in found[keep:]:
        with contextlib.suppress(OSError):
            old.unlink()


def cli_command(*args: str) -> str:
    """The shell command that runs ``llmlog ARGS`` with this llmlog, as it can be typed: plain
    ``llmlog`` when that is what the shell finds, else the script beside the running interpreter
    by its absolute path (``.venv/bin/llmlog`` is not on ``PATH`` unless the environment is
    activated), else ``python -m llmlog.cli``."""
    executable = Path(os.path.abspath(sys.executable))
    script = executable.with_name("llmlog.exe" if os.name == "nt" else "llmlog")
    found = shutil.which("llmlog")
    program: list[str]
    if script.is_file():
        try:
            same = found is not None and os.path.samefile(found, script)
        except OSError:
            same = False
        program = ["llmlog"] if same else [str(script)]
    else:
        program = [str(executable), "-m", "llmlog.cli"]
    return shlex.join([*program, *args])
