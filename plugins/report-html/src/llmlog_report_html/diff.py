"""Two runs of the same program compared: spans matched by the path of their names and their
order among siblings of the same name, then prompt and output diffs and token, cost, latency
and error deltas per span and in total.

A node's key is the list, from its root down, of ``(kind:name, n)``: ``n`` counts the earlier
siblings with the same kind and name (the third ``Predict`` call under ``evaluate`` is
``n = 2``). An LLM call's key leaves out its model, so a model change shows as a change of that
call, not as one call removed and another added. Trace ids and span ids never take part: they
differ between any two runs.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from typing import Any

import attrs

from llmlog_report_html.model import Node, Run

__all__ = ["MATCHED_KINDS", "NodeDiff", "RunDiff", "diff_runs", "text_diff"]

#: The kinds of node that are matched and compared (log entries and flight tracks are not).
MATCHED_KINDS = frozenset({"trace", "span", "iteration", "code", "llm", "tool", "error"})
#: Longest text (characters) diffed line by line; longer ones are compared whole.
_MAX_DIFF_TEXT = 200_000
#: Most diff lines kept per text.
_MAX_DIFF_LINES = 400


def text_diff(a: str, b: str) -> list[tuple[str, str]]:
    """A line diff of ``a`` and ``b``: ``(" ", line)`` kept, ``("-", line)`` only in ``a``,
    ``("+", line)`` only in ``b``; at most :data:`_MAX_DIFF_LINES` lines, then ``("…", note)``."""
    if a == b:
        return []
    if len(a) > _MAX_DIFF_TEXT or len(b) > _MAX_DIFF_TEXT:
        return [("…", f"texts of {len(a)} and {len(b)} characters differ (too long to diff)")]
    left, right = a.splitlines(), b.splitlines()
    out: list[tuple[str, str]] = []
    matcher = difflib.SequenceMatcher(None, left, right, autojunk=False)
    for group in matcher.get_grouped_opcodes(2):
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                out += [(" ", line) for line in left[i1:i2]]
                continue
            out += [("-", line) for line in left[i1:i2]]
            out += [("+", line) for line in right[j1:j2]]
        out.append(("…", ""))
    if out and out[-1] == ("…", ""):
        out.pop()
    if len(out) > _MAX_DIFF_LINES:
        more = len(out) - _MAX_DIFF_LINES
        out = [*out[:_MAX_DIFF_LINES], ("…", f"{more} more diff lines")]
    return out


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=repr)
    except (ValueError, TypeError, RecursionError):
        return repr(value)


def prompt_text(node: Node) -> str:
    """What was sent: an LLM call's messages (``role: content`` per message) or prompt; a
    span's inputs."""
    content = node.content
    messages = content.get("messages")
    if isinstance(messages, list) and messages:
        lines = []
        for message in messages:
            if isinstance(message, Mapping):
                lines.append(f"{message.get('role', '?')}: {_as_text(message.get('content'))}")
            else:
                lines.append(_as_text(message))
        return "\n".join(lines)
    if "prompt" in content:
        return _as_text(content["prompt"])
    return _as_text(content.get("inputs"))


def output_text(node: Node) -> str:
    """What came back: an LLM call's response, a tool's output, a span's outputs, a code
    block's stdout."""
    content = node.content
    for key in ("response", "output", "outputs"):
        if key in content:
            return _as_text(content[key])
    block = content.get("code_exec")
    if isinstance(block, Mapping):
        return _as_text(block.get("stdout"))
    return ""


@attrs.frozen
class Side:
    """One side of a matched node: its numbers."""

    index: int
    tokens: int
    cost: float | None
    duration_ms: float | None
    error: str | None
    #: A DSPy ``Evaluate`` result: an example's (``pass 1``, ``FAIL 0``, ``ERROR``) or a run's
    #: (``score 40: 2 passed, 1 failed, 2 errors``); ``None`` for other nodes.
    result: str | None = None

    def to_json(self) -> dict[str, Any]:
        return attrs.asdict(self)


@attrs.frozen
class NodeDiff:
    """One node in either run: ``status`` is ``same``, ``changed``, ``added`` (only in B) or
    ``removed`` (only in A)."""

    path: tuple[str, ...]
    kind: str
    status: str
    a: Side | None
    b: Side | None
    prompt: list[tuple[str, str]] = attrs.Factory(list)
    output: list[tuple[str, str]] = attrs.Factory(list)
    model: tuple[str, str] = ("", "")

    def to_json(self) -> dict[str, Any]:
        return {
            "path": list(self.path),
            "kind": self.kind,
            "status": self.status,
            "a": self.a.to_json() if self.a else None,
            "b": self.b.to_json() if self.b else None,
            "prompt": [list(line) for line in self.prompt],
            "output": [list(line) for line in self.output],
            "model": list(self.model),
        }


@attrs.frozen
class Totals:
    """A run's totals: LLM calls, tokens, known cost (``None``: none known), calls of unknown
    cost, the duration of its roots, errors."""

    calls: int
    tokens: int
    cost: float | None
    unknown_cost: int
    duration_ms: float
    errors: int

    @classmethod
    def of(cls, run: Run) -> Totals:
        calls = [n for n in run.nodes if n.kind == "llm"]
        known = [n.cost for n in calls if n.cost is not None]
        roots = [n for n in run.nodes if n.kind == "trace"]
        return cls(
            calls=len(calls),
            tokens=sum(_tokens(n) for n in calls),
            cost=sum(known) if known else None,
            unknown_cost=len(calls) - len(known),
            duration_ms=sum(n.duration_ms or 0.0 for n in roots),
            errors=sum(1 for n in run.nodes if n.error and n.kind in MATCHED_KINDS),
        )

    def to_json(self) -> dict[str, Any]:
        return attrs.asdict(self)


@attrs.frozen
class RunDiff:
    """Two runs compared: every matched, added and removed node, and the totals of each."""

    a_name: str
    b_name: str
    nodes: list[NodeDiff]
    a_totals: Totals
    b_totals: Totals

    @property
    def changed(self) -> list[NodeDiff]:
        return [n for n in self.nodes if n.status != "same"]

    def to_json(self, limit: int = 5_000) -> dict[str, Any]:
        """The page's data: the totals and the nodes that differ (at most ``limit``)."""
        changed = self.changed
        return {
            "a": self.a_name,
            "b": self.b_name,
            "totals": {"a": self.a_totals.to_json(), "b": self.b_totals.to_json()},
            "matched": sum(1 for n in self.nodes if n.a is not None and n.b is not None),
            "nodes": [n.to_json() for n in changed[:limit]],
            "more": max(0, len(changed) - limit),
        }


def _tokens(node: Node) -> int:
    return (node.input_tokens or 0) + (node.output_tokens or 0)


def _keys(run: Run) -> dict[tuple[tuple[str, int], ...], int]:
    """Each matched node's key (see the module docstring) to its index."""
    keys: dict[tuple[tuple[str, int], ...], int] = {}
    own: list[tuple[tuple[str, int], ...] | None] = [None] * len(run.nodes)
    seen: dict[tuple[int, str], int] = {}
    for index, node in enumerate(run.nodes):
        if node.kind not in MATCHED_KINDS:
            continue
        label = f"{node.kind}:" + ("" if node.kind in ("llm", "trace") else node.name)
        parent_key: tuple[tuple[str, int], ...] = ()
        if node.parent >= 0:
            found = own[node.parent]
            if found is None:
                continue
            parent_key = found
        n = seen.get((node.parent, label), 0)
        seen[(node.parent, label)] = n + 1
        key = (*parent_key, (label, n))
        own[index] = key
        keys[key] = index
    return keys


def _side(node: Node, index: int) -> Side:
    tokens = _tokens(node)
    return Side(index, tokens, node.cost, node.duration_ms, node.error, _result(node))


def _result(node: Node) -> str | None:
    """An ``Evaluate`` run's or example's result in a few words (:attr:`Side.result`)."""
    evaluation = node.evaluation
    if evaluation is None:
        return None
    score = evaluation.get("score")
    shown = f"{score:g}" if isinstance(score, float) else _as_text(score)
    if "examples" in evaluation:
        counts = ", ".join(
            f"{_as_text(n)} {'error' if key == 'errors' and n == 1 else key}"
            for key in ("passed", "failed", "errors")
            if (n := evaluation.get(key)) is not None
        )
        return f"score {shown}" + (f": {counts}" if counts else "")
    if evaluation.get("error"):
        return "ERROR"
    passed = evaluation.get("passed")
    verdict = "pass" if passed is True else "FAIL" if passed is False else "score"
    return verdict if isinstance(score, bool) else f"{verdict} {shown}"


def diff_runs(a: Run, b: Run, a_name: str = "A", b_name: str = "B") -> RunDiff:
    """Compare run ``b`` with run ``a``."""
    keys_a, keys_b = _keys(a), _keys(b)
    nodes: list[NodeDiff] = []
    for key, ia in keys_a.items():
        na = a.nodes[ia]
        path = a.path_of(ia)
        ib = keys_b.get(key)
        if ib is None:
            nodes.append(NodeDiff(path, na.kind, "removed", _side(na, ia), None))
            continue
        nb = b.nodes[ib]
        prompt = text_diff(prompt_text(na), prompt_text(nb))
        output = text_diff(output_text(na), output_text(nb))
        side_a, side_b = _side(na, ia), _side(nb, ib)
        changed = (
            prompt
            or output
            or side_a.tokens != side_b.tokens
            or side_a.cost != side_b.cost
            or bool(side_a.error) != bool(side_b.error)
            or side_a.result != side_b.result
            or na.model != nb.model
        )
        nodes.append(
            NodeDiff(
                path,
                na.kind,
                "changed" if changed else "same",
                side_a,
                side_b,
                prompt,
                output,
                (na.model, nb.model),
            )
        )
    for key, ib in keys_b.items():
        if key not in keys_a:
            nb = b.nodes[ib]
            nodes.append(NodeDiff(b.path_of(ib), nb.kind, "added", None, _side(nb, ib)))
    return RunDiff(a_name, b_name, nodes, Totals.of(a), Totals.of(b))


def _money(cost: float | None) -> str:
    return "unknown" if cost is None else f"${cost:.6f}".rstrip("0").rstrip(".")


def _delta_number(a: float | None, b: float | None, unit: str = "", digits: int = 0) -> str:
    if a is None and b is None:
        return "unknown"
    if a is None or b is None:
        return f"{'unknown' if a is None else f'{a:.{digits}f}{unit}'} → " + (
            "unknown" if b is None else f"{b:.{digits}f}{unit}"
        )
    sign = "+" if b - a >= 0 else "−"
    return f"{a:.{digits}f}{unit} → {b:.{digits}f}{unit} ({sign}{abs(b - a):.{digits}f}{unit})"


def _delta_cost(a: float | None, b: float | None) -> str:
    if a is None or b is None:
        return f"{_money(a)} → {_money(b)}"
    sign = "+" if b - a >= 0 else "−"
    return f"{_money(a)} → {_money(b)} ({sign}{_money(abs(b - a))})"


def format_diff(diff: RunDiff, *, show_same: bool = False) -> list[str]:
    """The terminal form of a diff (``llmlog diff``), one string per line (not yet escaped)."""
    ta, tb = diff.a_totals, diff.b_totals
    lines = [
        f"A: {diff.a_name}",
        f"B: {diff.b_name}",
        "",
        "totals",
        f"  LLM calls  {_delta_number(ta.calls, tb.calls)}",
        f"  tokens     {_delta_number(ta.tokens, tb.tokens)}",
        f"  cost       {_delta_cost(ta.cost, tb.cost)}"
        + (
            f"  ({ta.unknown_cost} and {tb.unknown_cost} calls of unknown cost)"
            if ta.unknown_cost or tb.unknown_cost
            else ""
        ),
        f"  duration   {_delta_number(ta.duration_ms, tb.duration_ms, ' ms')}",
        f"  errors     {_delta_number(ta.errors, tb.errors)}",
        "",
    ]
    counts = {s: sum(1 for n in diff.nodes if n.status == s) for s in ("same", "changed")}
    added = sum(1 for n in diff.nodes if n.status == "added")
    removed = sum(1 for n in diff.nodes if n.status == "removed")
    lines.append(
        f"{counts['same'] + counts['changed']} matched ({counts['changed']} changed), "
        f"{added} only in B, {removed} only in A"
    )
    for node in diff.nodes:
        if node.status == "same" and not show_same:
            continue
        mark = {"same": "=", "changed": "~", "added": "+", "removed": "-"}[node.status]
        path = " / ".join(node.path[1:] or node.path)
        lines.append("")
        lines.append(f"{mark} {path}" + ("" if node.kind == "span" else f"  [{node.kind}]"))
        if node.status == "added":
            lines.append("  only in B")
            continue
        if node.status == "removed":
            lines.append("  only in A")
            continue
        a, b = node.a, node.b
        assert a is not None
        assert b is not None
        if node.model[0] != node.model[1]:
            lines.append(f"  model     {node.model[0] or '?'} → {node.model[1] or '?'}")
        if a.tokens or b.tokens:
            lines.append(f"  tokens    {_delta_number(a.tokens, b.tokens)}")
        if a.cost != b.cost:
            lines.append(f"  cost      {_delta_cost(a.cost, b.cost)}")
        if a.duration_ms is not None or b.duration_ms is not None:
            lines.append(f"  latency   {_delta_number(a.duration_ms, b.duration_ms, ' ms')}")
        if a.error != b.error:
            lines.append(f"  error     {a.error or 'none'} → {b.error or 'none'}")
        if a.result != b.result:
            lines.append(f"  result    {a.result or 'none'} → {b.result or 'none'}")
        for label, diff_lines in (("prompt", node.prompt), ("output", node.output)):
            if diff_lines:
                lines.append(f"  {label}:")
                lines += [f"    {op} {text}" for op, text in diff_lines]
    return lines
