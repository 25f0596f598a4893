"""``llmlog flight view``: a snapshot summarised in the terminal, errors first, then the timeline.

Each event is one line: its local time, its offset from the newest event and what it was. Span
starts and ends both name the span and its id (an end shows the duration); LLM calls, and log
entries that carry them, show the model, tokens, latency and cost; errors read as ``Type:
message``, never as raw data. Every text from the snapshot (header fields, kinds, messages,
fields, names, the file's own name) goes through :func:`llmlog.render.escape`: a snapshot may
hold anything a prompt or a tool result held, and none of it may act on the terminal.
Colours as ``llmlog view`` (:func:`llmlog.viewing.paint_for`): on a terminal, unless
``--no-color`` or ``NO_COLOR``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping
from typing import Any, TextIO

import orjson

from llmlog.ext import (
    CYAN,
    DIM,
    RED,
    USAGE_DETAIL_FIELDS,
    USAGE_DETAIL_LABELS,
    YELLOW,
    Paint,
    Severity,
    escape,
    format_cost,
    format_value,
    local_timestamp,
    quote_if_needed,
    severity_from_name,
)
from llmlog_engine_flight.snapshot import Snapshot

__all__ = ["render_view"]

_ERROR_LEVELS = {"ERROR", "FATAL"}
#: Longest text shown for one value, and for one event's fields together (after escaping).
_TEXT = 300
_FIELDS = 400


def _plain(code: str, text: str) -> str:
    return text


def _cut(text: str, limit: int = _TEXT) -> str:
    """``text`` escaped and, past ``limit`` characters, cut with an ellipsis."""
    shown = escape(text[: limit + 1])
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def _value(value: Any, limit: int = _TEXT) -> str:
    text = format_value(value)  # escaped
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _number(value: Any) -> str:
    """A duration or count as short text (``12``, ``12.5``)."""
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".")
    return str(value)


def _is_error(event: Mapping[str, Any]) -> bool:
    kind = event.get("kind")
    if kind in ("exception", "error"):
        return True
    if kind == "log":
        return event.get("level") in _ERROR_LEVELS
    if kind in ("region", "region_end", "task_end"):
        return bool(event.get("error"))
    data = event.get("data") or {}
    if kind == "span":
        return data.get("event") == "end" and bool(data.get("error"))
    if kind == "tool_call":
        return data.get("success") is False or bool(data.get("error"))
    return False


def _usage(tokens: Mapping[str, Any], prompt: str, completion: str, total: str) -> str:
    """``tokens=30(20↑10↓)`` from a usage object with these key names, the detail counts
    (``cache_read_tokens``...) that are not zero inside the brackets: ``(20↑10↓ cached=5)``."""
    text = f"tokens={tokens.get(total) or 0}"
    if tokens.get(prompt) is not None or tokens.get(completion) is not None:
        details = "".join(
            f" {USAGE_DETAIL_LABELS[name]}={tokens[name]}"
            for name in USAGE_DETAIL_FIELDS
            if tokens.get(name)
        )
        text += f"({tokens.get(prompt) or 0}↑{tokens.get(completion) or 0}↓{details})"
    return text


def _fields(mapping: Mapping[str, Any], skip: Collection[str] = ()) -> str:
    """``key=value ...`` (escaped), cut to :data:`_FIELDS` characters."""
    parts = []
    length = 0
    for key, value in mapping.items():
        if key in skip or value is None:
            continue
        # Quoted as the console output quotes (a value with a space cannot pass for two fields).
        part = (
            f"{quote_if_needed(_cut(str(key), 60), strict=False)}="
            f"{quote_if_needed(_value(value, 120), strict=False)}"
        )
        length += len(part) + 1
        if length > _FIELDS:
            parts.append("…")
            break
        parts.append(part)
    return " ".join(parts)


class _Lines:
    """Renders events of one snapshot (span names are looked up across the whole snapshot)."""

    def __init__(self, snapshot: Snapshot, paint: Paint) -> None:
        self.paint = paint
        self.t_end = snapshot.events[-1]["ts"] if snapshot.events else 0
        self.span_names: dict[str, str] = {}
        for event in snapshot.events:
            if event.get("kind") == "span":
                data = event.get("data") or {}
                span_id = event.get("span_id")
                if span_id and data.get("event") == "start" and data.get("operation"):
                    self.span_names.setdefault(span_id, data["operation"])

    def line(self, event: Mapping[str, Any]) -> str:
        ts: int = event["ts"]
        when = self.paint(DIM, f"{local_timestamp(ts)} ({(ts - self.t_end) / 1e9:+8.3f}s)")
        return f"{when} {self._body(event)}"

    def _span(self, event: Mapping[str, Any]) -> str:
        span_id = event.get("span_id")
        return f" [{_cut(span_id, 64)}]" if span_id else ""

    def _body(self, event: Mapping[str, Any]) -> str:
        paint = self.paint
        kind = event["kind"]
        data: Mapping[str, Any] = event.get("data") or {}
        if kind == "log":
            return self._log(event)
        if kind == "span":
            phase = data.get("event")
            span_id = event.get("span_id") or ""
            name = data.get("operation") or self.span_names.get(span_id)
            named = _cut(name, 120) if name else "(its start is not in this snapshot)"
            if phase == "end":
                text = f"span end   {named}{self._span(event)}"
                if data.get("duration_ms") is not None:
                    text += f" {_number(data['duration_ms'])} ms"
                if data.get("error"):
                    return paint(RED, f"{text} error: {_value(data['error'])}")
                return text
            text = f"span {'start' if phase == 'start' else _cut(str(phase))} {named}{self._span(event)}"
            if event.get("started_before_window"):
                text += " (started before the window)"
            return text
        if kind == "llm_call":
            return paint(CYAN, self._call(data) + self._span(event))
        if kind == "tool_call":
            ok = data.get("success") is not False and not data.get("error")
            text = f"tool {_cut(data.get('tool_name') or '?', 120)} {'ok' if ok else 'failed'}"
            if data.get("duration_ms") is not None:
                text += f" {_number(data['duration_ms'])} ms"
            if data.get("error"):
                text += f" error: {_value(data['error'])}"
            text += self._span(event)
            return text if ok else paint(RED, text)
        if kind == "error":
            text = f"error {_cut(data.get('error_type') or '?', 120)}: {_cut(data.get('message') or '')}"
            return paint(RED, text + self._span(event))
        if kind == "module":
            ok = data.get("success") is not False
            text = (
                f"module {_cut(data.get('module_type') or '?', 60)}:"
                f"{_cut(data.get('module_name') or '?', 60)} {'ok' if ok else 'failed'}"
            )
            if data.get("llm_calls") is not None:
                text += f", {data['llm_calls']} LLM calls"
            if data.get("total_tokens") is not None:
                text += f", {data['total_tokens']} tokens"
            if data.get("duration_ms") is not None:
                text += f", {_number(data['duration_ms'])} ms"
            return text + self._span(event)
        if kind == "code_exec":
            text = f"code #{data.get('iteration', '?')}"
            if data.get("duration_ms") is not None:
                text += f" {_number(data['duration_ms'])} ms"
            return text + self._span(event)
        if kind in ("region", "region_begin", "region_end", "task_begin", "task_end"):
            text = f"{kind} {_cut(event.get('name') or '', 120)}"
            if kind == "region" and event.get("dur") is not None:
                text += f" {max(event['dur'], 0) / 1e6:.3f} ms"
            elif event.get("open"):
                text += " (still running)"
            if event.get("error"):
                return paint(RED, f"{text} error: {_cut(event['error'])}")
            return text
        if kind == "annotation":
            return f"[{_cut(event.get('category') or '', 60)}] {_cut(event.get('message') or '')}"
        if kind == "exception":
            text = f"exception {_cut(event.get('type') or '?', 120)}: {_cut(event.get('message') or '')}"
            if event.get("where"):
                text += f" ({_cut(event['where'], 120)})"
            return paint(RED, text)
        if kind == "snapshot_skipped":
            return paint(
                YELLOW,
                f"snapshot skipped: {_cut(event.get('reason') or '?', 60)} "
                f"({_cut(event.get('why') or '', 120)})",
            )
        if kind == "snapshot":
            return f"snapshot ({_cut(event.get('reason') or '', 60)}) written to {_cut(event.get('path') or '')}"
        if kind == "gc":
            text = f"gc generation {event.get('generation', '?')}, {event.get('collected', '?')} collected"
            if event.get("dur_ns") is not None:
                text += f", {event['dur_ns'] / 1e6:.3f} ms"
            return text
        rest = {k: v for k, v in event.items() if k not in ("ts", "kind", "tid", "task")}
        return f"{_cut(kind, 60)} {_fields(rest)}".rstrip()

    def _call(self, data: Mapping[str, Any]) -> str:
        text = f"llm {_cut(data.get('model') or '?', 120)}"
        if data.get("provider"):
            text += f" ({_cut(data['provider'], 60)})"
        if data.get("latency_ms") is not None:
            text += f" {_number(data['latency_ms'])} ms"
        usage = data.get("usage") or {}
        if usage:
            text += " " + _usage(usage, "prompt_tokens", "completion_tokens", "total_tokens")
            if usage.get("cost") is not None:
                text += f" {format_cost(usage['cost'])}"
        return text

    def _log(self, event: Mapping[str, Any]) -> str:
        paint = self.paint
        level = event.get("level") or ""
        text = f"{_cut(level, 10):<5} {_cut(event.get('msg') or '')}"
        if event.get("logger"):
            text += f" [{_cut(event['logger'], 120)}]"
        extras = []
        if event.get("model"):
            extras.append(f"model={_cut(event['model'], 120)}")
        tokens = event.get("tokens") or {}
        if tokens:
            extras.append(_usage(tokens, "prompt", "completion", "total"))
        if event.get("latency_ms") is not None:
            extras.append(f"latency={_number(event['latency_ms'])}ms")
        cost = event.get("cost")
        source = ""
        if cost is None:
            cost = tokens.get("cost")
            source = tokens.get("cost_source") or ""
        if cost is not None:
            extras.append(
                f"cost={format_cost(cost)}" + (f" ({_cut(source, 120)})" if source else "")
            )
        elif tokens.get("cost_unknown"):
            extras.append("cost=unknown")
        fields = event.get("fields")
        if fields:
            extras.append(_fields(fields))
        if extras:
            text += " " + " ".join(extras)
        if level in _ERROR_LEVELS:
            return paint(RED, text)
        if level == "WARN":
            return paint(YELLOW, text)
        return text


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
        if kinds and event["kind"] not in kinds:
            continue
        if level is not None and event["kind"] == "log":
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
    paint: Paint = _plain,
) -> None:
    """Print the summary, every error event, then the last ``last`` events (0: all).

    ``kinds``, ``level`` and ``grep`` narrow the timeline (see :func:`_filter`); the summary and
    the errors always cover the whole snapshot. ``paint(colour, text)`` colours (default none).
    """
    header = snapshot.header
    events = snapshot.events
    window = header.get("window") or {}
    config = header.get("config") or {}
    lines = _Lines(snapshot, paint)
    span = (events[-1]["ts"] - events[0]["ts"]) / 1e9 if len(events) > 1 else 0.0
    write = out.write
    write(f"Flight recorder snapshot {_cut(str(snapshot.path), 1000)}\n")
    write(
        f"  pid {header.get('pid', '?')} on {_cut(str(header.get('host', '?')), 120)}, "
        f"reason: {_cut(str(header.get('reason', '?')), 120)}, "
        f"backend {_cut(str(config.get('backend', '?')), 60)}, "
        f"min_age {_number(config.get('min_age', '?'))}s, max_bytes {config.get('max_bytes', '?')}\n"
    )
    write(
        f"  {len(events)} events over {span:.3f}s; {window.get('stored_bytes') or 0} bytes stored "
        f"({window.get('raw_bytes') or 0} raw); "
        f"{window.get('open_spans_before_window') or 0} spans open before the window\n"
    )
    dropped = {k: v for k, v in (header.get("drops") or {}).items() if v}
    write(f"  drops: {_fields(dropped) if dropped else 'none'}\n")
    skipped_snapshots = header.get("skipped_snapshots") or {}
    if any(skipped_snapshots.values()):
        write(
            paint(
                YELLOW,
                "  automatic snapshots skipped since the previous one: "
                + _fields({k: v for k, v in skipped_snapshots.items() if v}),
            )
            + "\n"
        )
    if snapshot.skipped:
        plural = "s" if snapshot.skipped > 1 else ""
        write(paint(YELLOW, f"  {snapshot.skipped} unreadable line{plural} skipped") + "\n")
    for problem in snapshot.problems:
        write(paint(YELLOW, f"    {_cut(problem, 1000)}") + "\n")
    missing = snapshot.missing_events
    if missing:
        write(
            paint(
                YELLOW,
                f"  {missing} of the {window.get('events')} events the header counts are missing "
                "(the file is damaged or cut short)",
            )
            + "\n"
        )
    counts = Counter(event["kind"] for event in events)
    write("  kinds: " + ", ".join(f"{_cut(k, 60)} {n}" for k, n in counts.most_common()) + "\n")
    errors = [e for e in events if _is_error(e)]
    write(f"\nErrors ({len(errors)}):\n")
    for event in errors:
        write("  " + lines.line(event) + "\n")
        trace = event.get("exception") or event.get("traceback")
        if isinstance(trace, str):
            for text in trace.splitlines()[-6:]:
                write(f"      | {_cut(text, 1000)}\n")
    narrowed = bool(kinds) or level is not None or bool(grep)
    matching = _filter(events, kinds, level, grep) if narrowed else events
    shown = matching[-last:] if last > 0 else matching
    of = f"{len(matching)} matching" if narrowed else f"{len(events)}"
    write(f"\nTimeline (last {len(shown)} of {of}; times relative to the newest event):\n")
    for event in shown:
        write("  " + lines.line(event) + "\n")
