"""``llmlog view`` for dspy-format traces: the span tree with durations, tokens, cost and errors.

Like dspy-go's "Trace Timeline", with the span tree dspy-go parsed but never drew. Flags:
``--stats`` (totals and LLM latency min/median/max per model), ``--errors`` (only failing spans and
error events, with their ancestors), ``--search TEXT`` (spans whose events mention TEXT),
``--compact`` (no LLM-call lines), ``--final`` (what the root spans returned), ``--watch`` (print
events as they are appended), ``--export FILE.md`` (the tree as Markdown), ``--no-color``,
``--lenient`` (skip unreadable lines, counted). ``--iter`` is for RLM files.
"""

from __future__ import annotations

import argparse
import io
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any, TextIO

import attrs
import orjson

from llmlog.records import TraceEvent, TraceEventType
from llmlog.render import escape, escape_lines, format_cost
from llmlog.viewing import CYAN, DIM, RED, ViewError, export_target, follow, paint_for
from llmlog_trace_dspy.format import read_trace

__all__ = ["detect", "view"]


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def detect(first_line: bytes) -> bool:
    """Whether a file starting with ``first_line`` is a dspy-format trace."""
    try:
        record = orjson.loads(first_line)
    except orjson.JSONDecodeError:
        return False
    kind = record.get("type") if isinstance(record, dict) else None
    return (
        isinstance(kind, str) and kind in {t.value for t in TraceEventType} and "trace_id" in record
    )


@attrs.define
class _Node:
    span_id: str
    name: str = "?"
    parent: str | None = None
    start: int = 0
    duration_ms: int | None = None
    error: str | None = None
    outputs: Any = None
    children: list[str] = attrs.Factory(list)
    calls: list[dict[str, Any]] = attrs.Factory(list)
    notes: list[str] = attrs.Factory(list)
    text: list[str] = attrs.Factory(list)


def _load(path: Path, lenient: bool) -> tuple[dict[str, _Node], list[str], dict[str, Any], int]:
    """The span tree, with each span's calls, notes and searchable text."""
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
            if not node.parent and data.get("outputs") is not None:
                node.outputs = data["outputs"]
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
            subs = data.get("sub_llm_calls")
            if isinstance(subs, list):
                node.calls += [_sub_call(item) for item in subs if isinstance(item, dict)]
    return nodes, roots, session, len(problems)


def _sub_call(item: dict[str, Any]) -> dict[str, Any]:
    """A ``code_exec`` event's ``sub_llm_calls`` item as an ``llm_call``'s data, so the tree and
    the totals count the calls made from code."""
    usage = item.get("usage") if isinstance(item.get("usage"), dict) else None
    if usage is None:
        prompt = int(item.get("prompt_tokens") or 0)
        completion = int(item.get("completion_tokens") or 0)
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
        if isinstance(item.get("cost"), int | float):
            usage["cost"] = item["cost"]
    latency = item.get("latency_ms", float(item.get("execution_time") or 0.0) * 1000)
    return {
        "provider": item.get("provider", ""),
        "model": item.get("model", ""),
        "usage": usage,
        "latency_ms": int(latency or 0),
        "prompt": item.get("prompt", ""),
        "response": item.get("response", ""),
    }


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
    if args.iter is not None:
        raise ViewError("--iter N selects an iteration of an RLM file; this is a dspy trace")
    export = export_target(args)
    if args.watch:
        return _watch(path, args, out)
    if export is not None:
        buffer = io.StringIO()
        args.no_color = True
        _tree(path, args, buffer)
        export.write_text(f"# Trace `{path.name}`\n\n```text\n{buffer.getvalue()}```\n", "utf-8")
        out.write(f"{export}: the trace tree written as Markdown\n")
        return 0
    return _tree(path, args, out)


def _tree(path: Path, args: argparse.Namespace, out: TextIO) -> int:
    if args.stats:
        return _stats(path, args, out)
    paint = paint_for(args, out)
    nodes, roots, session, skipped = _load(path, args.lenient)
    all_calls = [c for n in nodes.values() for c in n.calls]
    tokens, cost, unknown = _usage(all_calls)
    if args.final:
        answers = [nodes[r].outputs for r in roots if r in nodes and nodes[r].outputs is not None]
        if not answers:
            out.write("no final answer in this trace (no root span ended with outputs)\n")
            return 1
        for answer in answers:
            text = (
                answer
                if isinstance(answer, str)
                else orjson.dumps(answer, option=orjson.OPT_INDENT_2).decode()
            )
            out.write(escape_lines(text) + "\n")
        return 0
    _header(session, path, out)
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
        parts = [paint(RED, f"✗ {escape(node.name)}") if node.error else escape(node.name)]
        parts.append(
            paint(DIM, f"{node.duration_ms}ms")
            if node.duration_ms is not None
            else paint(DIM, "running")
        )
        if sub_tokens:
            parts.append(f"tokens={sub_tokens}")
        if sub_cost is not None:
            parts.append(format_cost(sub_cost) + (" (+ unknown)" if sub_unknown else ""))
        elif sub_unknown:
            parts.append("cost unknown")
        if node.error:
            parts.append(paint(RED, escape(node.error)))
        out.write(f"{prefix}{branch}{' '.join(parts)}\n")
        child_prefix = prefix + ("" if top else ("    " if last else "│   "))
        for note in node.notes:
            out.write(f"{child_prefix}  {paint(DIM, escape(note))}\n")
        if not args.compact:
            for call in node.calls:
                usage = call.get("usage") or {}
                provider = f" ({call['provider']})" if call.get("provider") else ""
                line = f"llm {call.get('model')}{provider} {call.get('latency_ms', 0)}ms"
                if usage:
                    line += f" tokens={usage.get('total_tokens', 0)}({usage.get('prompt_tokens', 0)}↑{usage.get('completion_tokens', 0)}↓)"
                    line += (
                        f" {format_cost(usage['cost'])}"
                        if usage.get("cost") is not None
                        else " cost unknown"
                    )
                out.write(f"{child_prefix}  {paint(CYAN, escape(line))}\n")
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


def _event_line(event: TraceEvent) -> str | None:
    data = event.data
    kind = event.type
    if kind is TraceEventType.LLM_CALL:
        usage = data.get("usage") or {}
        return f"llm {data.get('model')} {data.get('latency_ms', 0)}ms tokens={usage.get('total_tokens', 0)}"
    if kind is TraceEventType.MODULE:
        state = "ok" if data.get("success") else "failed"
        return f"module {data.get('module_type')}:{data.get('module_name')} {state} {data.get('duration_ms', 0)}ms"
    if kind is TraceEventType.TOOL_CALL:
        state = "ok" if data.get("success", True) else "failed"
        return f"tool {data.get('tool_name')} {state} {data.get('duration_ms', 0)}ms"
    if kind is TraceEventType.CODE_EXEC:
        return f"code #{data.get('iteration')} {data.get('duration_ms', 0)}ms" + (
            " stderr" if data.get("stderr") else ""
        )
    if kind is TraceEventType.ERROR:
        return f"error {data.get('error_type')}: {data.get('message')}"
    if kind is TraceEventType.SPAN and data.get("event") == "start":
        return f"span {data.get('operation')} started"
    if kind is TraceEventType.SPAN:
        return f"span ended {data.get('duration_ms', 0)}ms" + (
            f" error: {data['error']}" if data.get("error") else ""
        )
    return None


def _watch(path: Path, args: argparse.Namespace, out: TextIO) -> int:
    paint = paint_for(args, out)
    seen = {"events": 0}

    def refresh() -> None:
        problems: list[str] = []  # a line being written is incomplete until its newline
        events = list(read_trace(path, skipped=problems))
        for event in events[seen["events"] :]:
            line = _event_line(event)
            if line is None:
                continue
            if args.search and args.search.lower() not in str(event.data).lower():
                continue
            if (
                args.errors
                and event.type is not TraceEventType.ERROR
                and not event.data.get("error")
            ):
                continue
            colour = RED if event.type is TraceEventType.ERROR or event.data.get("error") else DIM
            out.write(f"{(event.span_id or '-')[:8]} {paint(colour, escape(line))}\n")
        seen["events"] = len(events)
        out.flush()

    out.write(f"watching {path} (Ctrl-C to stop)\n")
    return follow(path, refresh)


def _header(session: dict[str, Any], path: Path, out: TextIO) -> None:
    out.write(f"Trace {session.get('trace_id', '?')} in {path}")
    if session.get("start_time"):
        out.write(f", started {session['start_time']}")
    out.write("\n")


def _stats(path: Path, args: argparse.Namespace, out: TextIO) -> int:
    # One pass that keeps numbers only (a latency per call for the medians), never the tree or
    # any text: memory stays flat however big the file is.
    problems: list[str] = []
    session: dict[str, Any] = {}
    spans = 0
    failed: set[str] = set()
    by_model: dict[str, list[Any]] = defaultdict(lambda: [0, 0, 0.0, 0, []])
    for event in read_trace(path, skipped=problems if args.lenient else None):
        data = event.data
        kind = event.type
        if kind is TraceEventType.SESSION:
            session = {"trace_id": event.trace_id, **data}
        elif kind is TraceEventType.SPAN:
            if data.get("event") == "start":
                spans += 1
            elif data.get("error"):
                failed.add(event.span_id or "-")
        elif kind is TraceEventType.ERROR or (
            kind is TraceEventType.TOOL_CALL and data.get("success") is False
        ):
            failed.add(event.span_id or "-")
        calls = [data] if kind is TraceEventType.LLM_CALL else []
        if kind is TraceEventType.CODE_EXEC and isinstance(data.get("sub_llm_calls"), list):
            calls = [_sub_call(item) for item in data["sub_llm_calls"] if isinstance(item, dict)]
        for call in calls:
            usage = call.get("usage") or {}
            row = by_model[f"{call.get('provider') or '-'}/{call.get('model') or '-'}"]
            row[0] += 1
            row[1] += int(usage.get("total_tokens") or 0)
            if usage.get("cost") is None:
                row[3] += 1
            else:
                row[2] += float(usage["cost"])
            row[4].append(float(call.get("latency_ms") or 0))
    _header(session, path, out)
    calls_total = sum(r[0] for r in by_model.values())
    unknown = sum(r[3] for r in by_model.values())
    out.write(f"  spans: {spans}; errors: {len(failed)}\n")
    out.write(f"  LLM calls: {calls_total}; tokens: {sum(r[1] for r in by_model.values())}")
    if calls_total and unknown < calls_total:
        out.write(f"; cost {format_cost(sum(r[2] for r in by_model.values()))}")
    out.write(f" ({_count(unknown, 'call')} with unknown price)\n" if unknown else "\n")
    for model, (count, tokens, _, _, latencies) in sorted(by_model.items()):
        latencies.sort()
        out.write(
            f"  {model}: {_count(count, 'call')}, {tokens} tokens, latency min {latencies[0]:.0f} / median "
            f"{statistics.median(latencies):.0f} / max {latencies[-1]:.0f} ms\n"
        )
    if problems:
        out.write(f"  {_count(len(problems), 'unreadable line')} skipped\n")
    return 0
