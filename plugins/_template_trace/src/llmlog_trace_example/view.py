"""``llmlog view`` for the ``example`` format: one line per event, indented under its span.

Everything from the file is escaped (:func:`llmlog.ext.escape`) before it reaches the terminal:
a prompt holding terminal control sequences is shown, not obeyed.
"""

from __future__ import annotations

import argparse
import io
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TextIO

from llmlog.ext import (
    DIM,
    RED,
    ArgumentAdder,
    Paint,
    TraceEvent,
    escape,
    export_target,
    follow,
    format_cost,
    paint_for,
    plural,
    rfc3339_local,
    write_private_text,
)
from llmlog_trace_example.format import read_trace

__all__ = ["view", "view_arguments"]

#: The keys of an event's data that name it on its line, the first present wins.
_LABELS = ("operation", "module_name", "tool_name", "model", "error_type")


def view_arguments(parser: ArgumentAdder) -> None:
    """The ``llmlog view`` flags only this format understands."""
    parser.add_argument("--calls", action="store_true", help="only the LLM calls")


def view(path: Path, args: argparse.Namespace, out: TextIO) -> int:
    """Print the trace at ``path`` as ``llmlog view`` flags ask; returns the exit status.

    Shared flags: ``--stats`` (a summary only), ``--errors`` (only errors), ``--search TEXT``,
    ``--compact`` (no timestamps), ``--lenient`` (skip unreadable lines), ``--export FILE.md``,
    ``--watch``, ``--no-color``; this format's own: ``--calls``. Another format's flag (``--iter``)
    is ignored.
    """
    target = export_target(args)  # a bad --export is refused before any work
    if target is not None:
        text = io.StringIO()
        _show(path, args, text, lambda colour, value: value)
        write_private_text(target, text.getvalue())
        print(f"wrote {escape(str(target))}", file=out)
        return 0
    paint = paint_for(args, out)
    if args.watch:
        return follow(path, lambda: _show(path, args, out, paint))
    _show(path, args, out, paint)
    return 0


def _show(path: Path, args: argparse.Namespace, out: TextIO, paint: Paint) -> None:
    skipped: list[str] | None = [] if args.lenient else None
    events = list(read_trace(path, skipped=skipped))
    if args.stats:
        print(_summary(events), file=out)
    else:
        lines = list(_lines(events, args, paint))
        for line in lines:
            print(line, file=out)
        if not lines:
            print("no events match", file=out)
    if skipped:
        print(f"skipped {plural(len(skipped), 'unreadable line')}", file=out)


def _lines(events: Iterable[TraceEvent], args: argparse.Namespace, paint: Paint) -> Iterable[str]:
    depth: dict[str, int] = {}
    search = (args.search or "").lower()
    for event in events:
        data = event.data
        if event.type == "span" and data.get("event") == "start" and event.span_id:
            depth[event.span_id] = depth.get(event.parent_id or "", -1) + 1
        if args.errors and event.type != "error":
            continue
        if getattr(args, "calls", False) and event.type != "llm_call":
            continue
        # A span's own events at its depth, what happened inside it one deeper.
        indent = depth.get(event.span_id or "", -1) + (event.type != "span")
        text = f"{'  ' * indent}{event.type} {_label(data)}".rstrip()
        if search and search not in text.lower():
            continue
        colour = RED if event.type == "error" else ""
        line = paint(colour, escape(text)) if colour else escape(text)
        yield line if args.compact else f"{paint(DIM, rfc3339_local(event.time))} {line}"


def _label(data: Mapping[str, Any]) -> str:
    label = next((str(data[key]) for key in _LABELS if data.get(key)), "")
    if data.get("event") == "end":  # a span's end: how long it took
        label = f"end {data.get('duration_ms', 0)} ms"
    usage = data.get("usage")
    if isinstance(usage, Mapping):
        label += f" {usage.get('total_tokens', 0)} tokens"
        if isinstance(usage.get("cost"), int | float):
            label += f" {format_cost(usage['cost'])}"
    if data.get("message"):
        label += f": {data['message']}"
    return label


def _summary(events: list[TraceEvent]) -> str:
    calls = [e.data.get("usage") for e in events if e.type == "llm_call"]
    tokens = sum(int(u.get("total_tokens") or 0) for u in calls if isinstance(u, Mapping))
    errors = sum(1 for e in events if e.type == "error")
    return (
        f"{plural(len(events), 'event')}, {plural(len(calls), 'LLM call')}, "
        f"{plural(tokens, 'token')}, {plural(errors, 'error')}"
    )
