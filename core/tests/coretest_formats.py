"""Two small but real trace formats for the core's own tests (no trace format ships with core).

``coretest``: JSON lines ``{"coretest": 1, "type", "time", "trace_id", "span_id", "parent_id",
"data"}`` written through :mod:`llmlog.safefiles`, with ``detect``, ``read``, ``view`` and one
view flag of its own (``--coretest-type TYPE``). ``coretest-alt``: arrays
``["ct-alt", type, time, trace_id, span_id, parent_id, data]``, readable but with no viewer, the
target of ``llmlog convert``. Both are registered by :data:`plugin`; :func:`install` makes them
an installed entry-point plugin (a ``.dist-info`` on ``sys.path``), so ``llmlog.cli.main`` and a
``python -m llmlog.cli`` subprocess find them as they find any plugin.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import attrs
import orjson

from llmlog import BuildContext, hookimpl
from llmlog.records import TraceEvent, TraceEventType
from llmlog.render import escape, escape_json_bytes, format_cost, plural
from llmlog.safefiles import create_new, make_private_dirs
from llmlog.serialize import serializer
from llmlog.viewing import BOLD, export_target, follow, paint_for, write_private_text

NAME = "coretest"
ALT = "coretest-alt"
DIST = "llmlog_coretest_formats"


@attrs.frozen(kw_only=True)
class CoretestOptions:
    """The ``coretest`` format's options."""

    mode: int = 0o600
    prefix: str = "coretest"


class LinesWriter:
    """A new file (in a directory: a new numbered name) written line by line, owner-only."""

    def __init__(self, path: Path, mode: int, prefix: str, encode: Any) -> None:
        if path.is_dir():
            make_private_dirs(path)
            number = 0
            while (path / f"{prefix}-{number}.jsonl").exists():
                number += 1
            path = path / f"{prefix}-{number}.jsonl"
        self.path = path
        self._encode = encode
        self._fh = os.fdopen(create_new(path, mode), "wb")
        self.closed = False

    def write(self, event: TraceEvent) -> None:
        self._fh.write(escape_json_bytes(self._encode(event)) + b"\n")

    def flush(self) -> None:
        if not self.closed:
            self._fh.flush()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._fh.close()


def _data(event: TraceEvent) -> Any:
    return orjson.Fragment(serializer.dumps(dict(event.data), sort_keys=True))


def encode(event: TraceEvent) -> bytes:
    return orjson.dumps(
        {
            "coretest": 1,
            "type": str(event.type),
            "time": event.time,
            "trace_id": event.trace_id,
            "span_id": event.span_id,
            "parent_id": event.parent_id,
            "data": _data(event),
        }
    )


def encode_alt(event: TraceEvent) -> bytes:
    return orjson.dumps(
        [
            "ct-alt",
            str(event.type),
            event.time,
            event.trace_id,
            event.span_id,
            event.parent_id,
            _data(event),
        ]
    )


def make_writer(options: CoretestOptions | None, context: BuildContext) -> LinesWriter:
    options = options or CoretestOptions()
    return LinesWriter(context.trace_path(), options.mode, options.prefix, encode)


def make_alt_writer(options: object, context: BuildContext) -> LinesWriter:
    return LinesWriter(context.trace_path(), 0o600, "coretest-alt", encode_alt)


def detect(first_line: bytes) -> bool:
    try:
        record = orjson.loads(first_line)
    except orjson.JSONDecodeError:
        return False
    return isinstance(record, dict) and record.get("coretest") == 1


def detect_alt(first_line: bytes) -> bool:
    return first_line.startswith(b'["ct-alt"')


def _lines(path: Path, skipped: list[str] | None, parse: Any) -> Iterator[TraceEvent]:
    with path.open("rb") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                yield parse(orjson.loads(line))
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, IndexError) as exc:
                message = f"{path}:{number}: not a {NAME} event ({type(exc).__name__})"
                if skipped is None:
                    raise ValueError(message) from None
                skipped.append(message)


def _event(record: dict[str, Any]) -> TraceEvent:
    return TraceEvent(
        TraceEventType(record["type"]),
        int(record["time"]),
        record["trace_id"],
        record["span_id"],
        record["parent_id"],
        record["data"],
    )


def _alt_event(record: list[Any]) -> TraceEvent:
    if record[0] != "ct-alt":
        raise ValueError("not ct-alt")
    return TraceEvent(TraceEventType(record[1]), int(record[2]), *record[3:6], record[6])


def read(path: Path, skipped: list[str] | None = None) -> Iterator[TraceEvent]:
    return _lines(Path(path), skipped, _event)


def read_alt(path: Path, skipped: list[str] | None = None) -> Iterator[TraceEvent]:
    return _lines(Path(path), skipped, _alt_event)


def view_arguments(parser: Any) -> None:
    parser.add_argument("--coretest-type", metavar="TYPE", help="only events of this type")
    # Declared alike by both formats: added once, its help naming both.
    parser.add_argument("--coretest-last", action="store_true", help="only the last event")


def view_arguments_alt(parser: Any) -> None:
    parser.add_argument("--coretest-last", action="store_true", help="only the last event")


def _render(path: Path, args: argparse.Namespace, out: TextIO) -> int:
    paint = paint_for(args, out)
    skipped: list[str] = []
    events = list(read(path, skipped if args.lenient else None))
    if args.errors:
        events = [e for e in events if e.type is TraceEventType.ERROR or "error" in e.data]
    if args.search:
        needle = args.search.lower()
        events = [e for e in events if needle in orjson.dumps(dict(e.data)).decode().lower()]
    if args.coretest_type:
        events = [e for e in events if e.type == args.coretest_type]
    if args.coretest_last:
        events = events[-1:]
    lines = []
    for e in events:
        text = f"{e.type} {e.span_id or '-'}"
        if not args.compact:
            text += " " + escape(orjson.dumps(dict(e.data)).decode())
        lines.append(paint(BOLD, text))
    if args.stats:
        calls = [e for e in events if e.type is TraceEventType.LLM_CALL]
        tokens = sum(int(e.data.get("usage", {}).get("total_tokens", 0)) for e in calls)
        cost = sum(float(e.data.get("usage", {}).get("cost", 0)) for e in calls)
        lines.append(
            f"{plural(len(calls), 'LLM call')}, {plural(tokens, 'token')}, {format_cost(cost)}"
        )
    if skipped:
        lines.append(f"{plural(len(skipped), 'unreadable line')} skipped")
    target = export_target(args)
    if target is not None:
        write_private_text(target, "# trace\n\n" + "\n".join(f"- {x}" for x in lines) + "\n")
        print(f"wrote {target}", file=out)
        return 0
    print("\n".join(lines) or "(no events)", file=out, flush=True)
    return 0


def view(path: Path, args: argparse.Namespace, out: TextIO) -> int:
    if args.watch:
        return follow(path, lambda: _render(path, args, out), interval=0.05)
    return _render(path, args, out)


class Plugin:
    """Registers both formats."""

    @hookimpl
    def llmlog_register_trace_formats(self, register: Any) -> None:
        register(
            NAME,
            make_writer,
            options=CoretestOptions,
            description="JSON lines for the core's tests",
            detect=detect,
            read=read,
            view=view,
            view_arguments=view_arguments,
        )
        register(
            ALT,
            make_alt_writer,
            description="arrays for the core's tests (no viewer)",
            detect=detect_alt,
            read=read_alt,
            view_arguments=view_arguments_alt,
        )


plugin = Plugin()


def install(site: Path, **entry_points: str) -> Path:
    """Make ``site`` hold an installed distribution whose ``llmlog`` entry points are
    ``entry_points`` (default: this module's :data:`plugin` as ``coretest``); returns ``site``.
    Put ``site`` and this module's directory on ``sys.path`` (or ``PYTHONPATH``) to load it."""
    info = site / f"{DIST}-0.1.0.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {DIST}\nVersion: 0.1.0\n")
    points = entry_points or {NAME: f"{__name__}:plugin"}
    (info / "entry_points.txt").write_text(
        "[llmlog]\n" + "".join(f"{k} = {v}\n" for k, v in points.items())
    )
    return site


class BrokenCommand:
    """A command whose arguments raise: ``llmlog`` still runs, and says so when it is used."""

    @hookimpl
    def llmlog_register_commands(self, register: Any) -> None:
        def arguments(parser: argparse.ArgumentParser) -> None:
            raise RuntimeError("arguments bug")

        register("coretest-broken", lambda args: 0, help="cannot run", arguments=arguments)


broken_command = BrokenCommand()
