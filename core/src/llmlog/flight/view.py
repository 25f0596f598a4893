"""``llmlog flight view``: a snapshot summarised in the terminal, errors first, then the timeline."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from typing import Any, TextIO

import orjson

from llmlog.flight.snapshot import Snapshot
from llmlog.render import escape, local_timestamp
from llmlog.severity import Severity, severity_from_name

__all__ = ["render_view"]

_ERROR_LEVELS = {"ERROR", "FATAL"}


def _is_error(event: dict[str, Any]) -> bool:
    kind = event.get("kind")
    if kind in ("exception", "error"):
        return True
    if kind == "log" and event.get("level") in _ERROR_LEVELS:
        return True
    return bool(kind in ("region", "region_end", "task_end") and event.get("error"))


def _line(event: dict[str, Any], t_end: int) -> str:
    ts = int(event.get("ts", 0))
    rel = (ts - t_end) / 1e9
    kind = event.get("kind", "?")
    if kind == "log":
        body = f"{event.get('level', ''):<5} {event.get('msg', '')}"
        if event.get("logger"):
            body += f" [{event['logger']}]"
        fields = event.get("fields")
        if isinstance(fields, dict) and fields:
            body += " " + " ".join(f"{k}={v}" for k, v in fields.items())
        elif fields:
            body += f" {fields}"
    elif kind == "exception":
        body = f"{event.get('type')}: {event.get('message')} ({event.get('where', '')})"
    elif kind in ("region", "region_begin", "region_end", "task_begin", "task_end"):
        body = f"{kind} {event.get('name', '')}"
        if kind == "region":
            body += f" {int(event.get('dur', 0)) / 1e6:.3f} ms"
        elif event.get("open"):
            body += " (still running)"
        if event.get("error"):
            body += f" error={event['error']}"
    elif kind == "annotation":
        body = f"[{event.get('category')}] {event.get('message')}"
    elif kind == "span":
        data = event.get("data") or {}
        body = f"span {data.get('event', '')} {data.get('operation', event.get('span_id', ''))}"
    else:
        data = event.get("data") or {
            k: v for k, v in event.items() if k not in ("ts", "kind", "tid")
        }
        body = f"{kind} {data}"
    return f"{local_timestamp(ts)} ({rel:+8.3f}s) {escape(str(body))[:300]}"


def _filter(
    events: list[dict[str, Any]],
    kinds: Collection[str],
    level: Severity | None,
    grep: str | None,
) -> list[dict[str, Any]]:
    """The events of the chosen ``kinds`` (all if empty), log events at ``level`` and above (other
    kinds are not affected), and, with ``grep``, that contain it anywhere: message, fields,
    traceback, data (case-insensitive)."""
    wanted = []
    needle = grep.casefold() if grep else None
    for event in events:
        if kinds and event.get("kind") not in kinds:
            continue
        if level is not None and event.get("kind") == "log":
            found = severity_from_name(str(event.get("level", "")))
            if found is None or found < level:
                continue
        if needle is not None and needle not in orjson.dumps(event).decode().casefold():
            continue
        wanted.append(event)
    return wanted


def render_view(
    snapshot: Snapshot,
    out: TextIO,
    *,
    last: int = 50,
    kinds: Collection[str] = (),
    level: Severity | None = None,
    grep: str | None = None,
) -> None:
    """Print the summary, every error event, then the last ``last`` events.

    ``kinds``, ``level`` and ``grep`` narrow the timeline (see :func:`_filter`); the summary and
    the errors always cover the whole snapshot.
    """
    header = snapshot.header
    events = snapshot.events
    window = header.get("window", {})
    drops = header.get("drops", {})
    config = header.get("config", {})
    t_end = events[-1]["ts"] if events else 0
    span = (events[-1]["ts"] - events[0]["ts"]) / 1e9 if len(events) > 1 else 0.0
    out.write(f"Flight recorder snapshot {snapshot.path}\n")
    out.write(
        f"  pid {header.get('pid')} on {header.get('host')}, reason: {header.get('reason')}, "
        f"backend {config.get('backend')}, min_age {config.get('min_age')}s, max_bytes {config.get('max_bytes')}\n"
    )
    out.write(
        f"  {len(events)} events over {span:.3f}s; {window.get('stored_bytes', 0)} bytes stored "
        f"({window.get('raw_bytes', 0)} raw); {window.get('open_spans_before_window', 0)} spans open before the window\n"
    )
    dropped = {k: v for k, v in drops.items() if v}
    out.write(f"  drops: {dropped or 'none'}\n")
    counts = Counter(e.get("kind", "?") for e in events)
    out.write("  kinds: " + ", ".join(f"{k} {n}" for k, n in counts.most_common()) + "\n")
    errors = [e for e in events if _is_error(e)]
    out.write(f"\nErrors ({len(errors)}):\n")
    for event in errors:
        out.write("  " + _line(event, t_end) + "\n")
        if event.get("exception") or event.get("traceback"):
            for text in str(event.get("exception") or event.get("traceback")).splitlines()[-6:]:
                out.write(f"      | {escape(text)}\n")
    narrowed = kinds or level is not None or grep
    matching = _filter(events, kinds, level, grep) if narrowed else events
    shown = matching[-last:] if last > 0 else matching
    of = f"{len(matching)} matching" if narrowed else f"{len(events)}"
    out.write(f"\nTimeline (last {len(shown)} of {of}; times relative to the newest event):\n")
    for event in shown:
        out.write("  " + _line(event, t_end) + "\n")
