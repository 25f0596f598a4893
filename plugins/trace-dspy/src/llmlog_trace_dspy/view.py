"""``llmlog view`` for dspy-format traces: the span tree with durations, tokens, cost and errors.

Like dspy-go's "Trace Timeline", with the span tree dspy-go parsed but never drew. Flags:
``--stats`` (totals and LLM latency min/median/max per model), ``--errors`` (only failing spans and
error events, with their ancestors), ``--search TEXT`` (spans whose events mention TEXT),
``--compact`` (no LLM-call lines), ``--no-color``, ``--lenient`` (skip unreadable lines, counted).
"""

from __future__ import annotations

import argparse
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any, TextIO

import attrs
import orjson

from llmlog.records import TraceEventType
from llmlog.render import escape, format_cost
from llmlog_trace_dspy.format import read_trace

__all__ = ["detect", "view"]

_RED, _GREEN, _DIM, _CYAN, _RESET = "\033[31m", "\033[32m", "\033[2m", "\033[36m", "\033[0m"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def detect(first_line: bytes) -> bool:
    """Whether a file starting with ``first_line`` is a dspy-format trace."""
    try:
        record = orjson.loads(first_line)
    except orjson.JSONDecodeError:
        return False
    return (
        isinstance(record, dict)
        and record.get("type") in {t.value for t in TraceEventType}
        and "trace_id" in record
    )


@attrs.define
class _Node:
    span_id: str
    name: str = "?"
    parent: str | None = None
    start: int = 0
    duration_ms: int | None = None
    error: str | None = None
    children: list[str] = attrs.Factory(list)
    calls: list[dict[str, Any]] = attrs.Factory(list)
    notes: list[str] = attrs.Factory(list)
    text: list[str] = attrs.Factory(list)


def _load(path: Path, lenient: bool) -> tuple[dict[str, _Node], list[str], dict[str, Any], int]:
    nodes: dict[str, _Node] = {}
    roots: list[str] = []
    session: dict[str, Any] = {}
    problems: list[str] = []
    for event in read_trace(path, skipped=problems if lenient else None):
        data = dict(event.data)
        if event.type is TraceEventType.SESSION:
            session = {"trace_id": event.trace_id, **data}
            continue
        span_id = event.span_id or "-"
        node = nodes.get(span_id)
        if node is None:
            node = nodes[span_id] = _Node(span_id, start=event.time)
        if event.type is TraceEventType.SPAN and data.get("event") == "start":
            node.name = str(data.get("operation", span_id))
            node.parent = event.parent_id
            node.start = event.time
            node.text.append(node.name)
            if event.parent_id and event.parent_id in nodes:
                nodes[event.parent_id].children.append(span_id)
            elif not event.parent_id:
                roots.append(span_id)
            else:
                roots.append(span_id)  # parent not in this file (rotated away)
        elif event.type is TraceEventType.SPAN:
            node.duration_ms = int(data.get("duration_ms") or 0)
            if data.get("error"):
                node.error = str(data["error"])
        elif event.type is TraceEventType.LLM_CALL:
            node.calls.append(data)
            node.text += [str(data.get(k, "")) for k in ("prompt", "response", "model", "provider")]
        elif event.type is TraceEventType.ERROR:
            node.error = node.error or f"{data.get('error_type')}: {data.get('message')}"
            node.notes.append(f"error {data.get('error_type')}: {data.get('message')}")
        elif event.type is TraceEventType.TOOL_CALL:
            ok = data.get("success", True)
            node.notes.append(
                f"tool {data.get('tool_name')} {'ok' if ok else 'failed'} {data.get('duration_ms', 0)}ms"
            )
            node.text.append(str(data.get("tool_name", "")))
            if not ok and data.get("error"):
                node.error = node.error or f"tool {data.get('tool_name')}: {data.get('error')}"
        elif event.type is TraceEventType.MODULE:
            node.notes.append(
                f"module {data.get('module_type')}:{data.get('module_name')} "
                f"{'ok' if data.get('success') else 'failed'}, {_count(int(data.get('llm_calls') or 0), 'LLM call')}, "
                f"{data.get('total_tokens', 0)} tokens"
            )
        elif event.type is TraceEventType.CODE_EXEC:
            node.notes.append(
                f"code #{data.get('iteration')} {data.get('duration_ms', 0)}ms"
                + (" stderr" if data.get("stderr") else "")
            )
            node.text += [str(data.get(k, "")) for k in ("code", "stdout", "stderr")]
    return nodes, roots, session, len(problems)


def _subtree(nodes: dict[str, _Node], span_id: str) -> list[_Node]:
    out, stack = [], [span_id]
    while stack:
        node = nodes.get(stack.pop())
        if node is not None:
            out.append(node)
            stack.extend(node.children)
    return out


def _usage(calls: list[dict[str, Any]]) -> tuple[int, float | None, int]:
    tokens, cost, unknown = 0, 0.0, 0
    for call in calls:
        usage = call.get("usage") or {}
        tokens += int(usage.get("total_tokens") or 0)
        if usage.get("cost") is None:
            unknown += 1
        else:
            cost += float(usage["cost"])
    return tokens, (cost if calls and unknown < len(calls) else None), unknown


def view(path: Path, args: argparse.Namespace, out: TextIO) -> int:
    """Print the trace at ``path``; returns the exit status."""
    color = not args.no_color and out.isatty()
    paint = (lambda code, text: f"{code}{text}{_RESET}") if color else (lambda code, text: text)
    nodes, roots, session, skipped = _load(path, args.lenient)
    all_calls = [c for n in nodes.values() for c in n.calls]
    tokens, cost, unknown = _usage(all_calls)
    out.write(f"Trace {session.get('trace_id', '?')} in {path}")
    if session.get("start_time"):
        out.write(f", started {session['start_time']}")
    out.write("\n")
    if args.stats:
        return _stats(nodes, all_calls, out)
    search = args.search.lower() if args.search else None
    wanted: set[str] | None = None
    if args.errors or search:
        wanted = set()
        for node in nodes.values():
            hit = (args.errors and node.error) or (
                search and any(search in t.lower() for t in node.text)
            )
            if hit:
                current: str | None = node.span_id
                while current is not None and current not in wanted:
                    wanted.add(current)
                    current = nodes[current].parent if current in nodes else None

    def render(span_id: str, prefix: str, last: bool, top: bool) -> None:
        node = nodes[span_id]
        if wanted is not None and span_id not in wanted:
            return
        branch = "" if top else ("└── " if last else "├── ")
        sub_tokens, sub_cost, sub_unknown = _usage(
            [c for n in _subtree(nodes, span_id) for c in n.calls]
        )
        parts = [paint(_RED, f"✗ {escape(node.name)}") if node.error else escape(node.name)]
        parts.append(
            paint(_DIM, f"{node.duration_ms}ms")
            if node.duration_ms is not None
            else paint(_DIM, "running")
        )
        if sub_tokens:
            parts.append(f"tokens={sub_tokens}")
        if sub_cost is not None:
            parts.append(format_cost(sub_cost) + (" (+ unknown)" if sub_unknown else ""))
        elif sub_unknown:
            parts.append("cost unknown")
        if node.error:
            parts.append(paint(_RED, escape(node.error)))
        out.write(f"{prefix}{branch}{' '.join(parts)}\n")
        child_prefix = prefix + ("" if top else ("    " if last else "│   "))
        for note in node.notes:
            out.write(f"{child_prefix}  {paint(_DIM, escape(note))}\n")
        if not args.compact:
            for call in node.calls:
                usage = call.get("usage") or {}
                line = f"llm {call.get('model')} ({call.get('provider')}) {call.get('latency_ms', 0)}ms"
                if usage:
                    line += f" tokens={usage.get('total_tokens', 0)}({usage.get('prompt_tokens', 0)}↑{usage.get('completion_tokens', 0)}↓)"
                    line += (
                        f" {format_cost(usage['cost'])}"
                        if usage.get("cost") is not None
                        else " cost unknown"
                    )
                out.write(f"{child_prefix}  {paint(_CYAN, escape(line))}\n")
        kids = [k for k in node.children if wanted is None or k in wanted]
        for i, child in enumerate(kids):
            render(child, child_prefix, i == len(kids) - 1, False)

    shown_roots = [r for r in roots if r in nodes and (wanted is None or r in wanted)]
    for root in shown_roots:
        render(root, "", True, True)
    errors = sum(1 for n in nodes.values() if n.error)
    summary = (
        f"\n{_count(len(nodes), 'span')}, {_count(len(all_calls), 'LLM call')}, {tokens} tokens"
    )
    summary += f", {format_cost(cost)}" if cost is not None else ""
    summary += f" ({_count(unknown, 'call')} with unknown price)" if unknown else ""
    summary += f", {errors} with errors" if errors else ""
    summary += f"; {_count(skipped, 'unreadable line')} skipped" if skipped else ""
    out.write(summary + "\n")
    return 0


def _stats(nodes: dict[str, _Node], calls: list[dict[str, Any]], out: TextIO) -> int:
    tokens, cost, unknown = _usage(calls)
    out.write(f"  spans: {len(nodes)}; errors: {sum(1 for n in nodes.values() if n.error)}\n")
    out.write(f"  LLM calls: {len(calls)}; tokens: {tokens}")
    out.write(f"; cost {format_cost(cost)}" if cost is not None else "")
    out.write(f" ({_count(unknown, 'call')} with unknown price)\n" if unknown else "\n")
    by_model: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for call in calls:
        by_model[f"{call.get('provider')}/{call.get('model')}"].append(call)
    for model, group in sorted(by_model.items()):
        latencies = sorted(float(c.get("latency_ms") or 0) for c in group)
        t, _, _ = _usage(group)
        out.write(
            f"  {model}: {_count(len(group), 'call')}, {t} tokens, latency min {latencies[0]:.0f} / median "
            f"{statistics.median(latencies):.0f} / max {latencies[-1]:.0f} ms\n"
        )
    return 0
