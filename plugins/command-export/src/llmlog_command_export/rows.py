"""A run as flat rows: one per LLM call or per node (span, LLM call, tool call, code block,
error, log entry...), the columns people load into pandas or DuckDB.

Every row has every column of :data:`ROW_COLUMNS` (``null`` when unknown), so a reader infers
one schema from any row. Contents are text: ``prompt`` (chat messages as ``role: content``
lines), ``response``, ``input`` and ``output`` (a span's inputs and outputs, a tool's arguments
and result, as JSON text); ``--no-content`` leaves them ``null``. ``evaluation`` is a DSPy
``Evaluate`` run's score and counts, or one example's index, metric value, pass/fail and error,
as an object (kept by ``--no-content``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from llmlog.ext import dumps_json
from llmlog_report_html.model import Node, Run

__all__ = [
    "ROW_COLUMNS",
    "STATS_COLUMNS",
    "node_depths",
    "run_rows",
    "run_stats",
    "trace_ids",
    "utc_time",
]

#: The columns of a row, in order (docs/export.md describes each).
ROW_COLUMNS = (
    "trace_id",
    "span_id",
    "parent",
    "name",
    "kind",
    "depth",
    "model",
    "provider",
    "start",
    "start_ns",
    "duration_ms",
    "status",
    "error",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "reasoning_tokens",
    "cost",
    "cost_source",
    "prompt",
    "response",
    "input",
    "output",
    "evaluation",
)

STATS_COLUMNS = (
    "model",
    "calls",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "reasoning_tokens",
    "cost",
    "unknown_cost",
    "errors",
    "p50_ms",
    "p95_ms",
)

#: Node kinds that are no row of their own: a trace's root (its id is every row's trace_id).
_NOT_ROWS = frozenset({"trace"})


def trace_ids(run: Run) -> list[str]:
    """The trace id of each node (its root's), by index."""
    ids: list[str] = []
    for node in run.nodes:
        if node.parent < 0:
            ids.append(run.traces[node.trace] if 0 <= node.trace < len(run.traces) else node.id)
        else:
            ids.append(ids[node.parent] if node.parent < len(ids) else "")
    return ids


def node_depths(run: Run) -> list[int]:
    """Each node's depth under its trace's root (a top-level span: 0)."""
    depths: list[int] = []
    for node in run.nodes:
        depths.append(depths[node.parent] + 1 if 0 <= node.parent < len(depths) else -1)
    return depths


def utc_time(ns: int) -> str | None:
    """``ns`` (nanoseconds since the epoch) as RFC 3339 in UTC with nanoseconds
    (``2026-12-06T07:37:49.681829129Z``), ``None`` out of range."""
    import datetime

    seconds, nanos = divmod(ns, 1_000_000_000)
    try:
        moment = datetime.datetime.fromtimestamp(seconds, datetime.UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{nanos:09d}Z"


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if type(value) is str:
        return value
    return dumps_json(value)


def _prompt(content: Mapping[str, Any]) -> str | None:
    messages = content.get("messages")
    if isinstance(messages, list) and messages:
        lines = []
        for message in messages:
            if isinstance(message, Mapping):
                role = message.get("role")
                text = message.get("content")
                shown = text if type(text) is str else _text(text) or ""
                lines.append(f"{role}: {shown}" if type(role) is str else shown)
            else:
                lines.append(_text(message) or "")
        return "\n".join(lines)
    return _text(content.get("prompt"))


def _io(node: Node, key: str) -> str | None:
    content = node.content
    if key == "input":
        for name in ("inputs", "input", "code_exec"):
            if name in content:
                return _text(content[name])
        return None
    for name in ("outputs", "output"):
        if name in content:
            return _text(content[name])
    return None


def row_of(
    run: Run, index: int, trace_id: str, depth: int, *, no_content: bool = False
) -> dict[str, Any]:
    """Node ``index`` of ``run`` as a row (:data:`ROW_COLUMNS`)."""
    node = run.nodes[index]
    parent = run.nodes[node.parent] if node.parent >= 0 else None
    content = {} if no_content else node.content
    message = node.content.get("message") if node.kind == "log" else None
    return {
        "trace_id": trace_id or None,
        "span_id": node.id,
        "parent": parent.id if parent is not None and parent.kind != "trace" else None,
        "name": node.name,
        "kind": node.kind,
        "depth": depth,
        "model": node.model or None,
        "provider": node.provider or None,
        "start": utc_time(node.start_ns) if node.start_ns is not None else None,
        "start_ns": node.start_ns,
        "duration_ms": round(node.duration_ms, 3) if node.duration_ms is not None else None,
        "status": "error" if node.error else ("ok" if node.duration_ms is not None else "unset"),
        "error": node.error,
        "input_tokens": node.input_tokens,
        "output_tokens": node.output_tokens,
        "cached_tokens": node.cached_tokens,
        "reasoning_tokens": node.reasoning_tokens,
        "cost": node.cost,
        "cost_source": node.cost_source or None,
        "prompt": _prompt(content) if node.kind == "llm" else _text(message) if content else None,
        "response": _text(content.get("response")) if node.kind == "llm" else None,
        "input": None if node.kind == "llm" else _io(node, "input") if content else None,
        "output": None if node.kind == "llm" else _io(node, "output") if content else None,
        # Numbers and flags (and an error text), kept by --no-content as the trace keeps them.
        "evaluation": dict(node.evaluation) if node.evaluation is not None else None,
    }


def run_rows(run: Run, *, rows: str = "span", no_content: bool = False) -> Iterator[dict[str, Any]]:
    """``run``'s rows: ``rows="llm"`` one per LLM call, ``"span"`` one per node but the traces'
    roots (spans, LLM calls, tool calls, code blocks, errors, log entries, flight-recorder
    rows), parents before children."""
    ids = trace_ids(run)
    depths = node_depths(run)
    for index, node in enumerate(run.nodes):
        if node.kind in _NOT_ROWS or (rows == "llm" and node.kind != "llm"):
            continue
        yield row_of(run, index, ids[index], depths[index], no_content=no_content)


def run_stats(run: Run) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """``view --stats``: a row per model (and ``*`` for every call: :data:`STATS_COLUMNS`) and
    the run's totals."""
    models = [stats.to_json() for stats in run.model_stats()]
    spans = [n for n in run.nodes if n.kind in ("span", "iteration", "code")]
    starts = [n.start_ns for n in run.nodes if n.start_ns is not None]
    ends = [
        n.start_ns + int(n.duration_ms * 1_000_000)
        for n in run.nodes
        if n.start_ns is not None and n.duration_ms is not None
    ]
    every = models[-1]
    summary = {
        "traces": len(run.traces),
        "spans": len(spans),
        "llm_calls": every["calls"],
        "tool_calls": sum(1 for n in run.nodes if n.kind == "tool"),
        "errors": sum(1 for n in run.nodes if n.error and n.kind != "trace"),
        "input_tokens": every["input_tokens"],
        "output_tokens": every["output_tokens"],
        "cost": every["cost"],
        "unknown_cost": every["unknown_cost"],
        "wall_ms": round((max(ends, default=0) - min(starts)) / 1e6, 3)
        if starts and ends
        else None,
        "formats": run.formats,
        "evaluations": [
            {
                "span_id": run.nodes[e.node].id,
                "name": run.nodes[e.node].name,
                **e.summary,
                "example_spans": len(e.examples),
            }
            for e in run.evaluations()
        ],
    }
    return models, summary
