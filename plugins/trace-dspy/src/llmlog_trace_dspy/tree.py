"""The span tree of a dspy-format trace and its LLM calls, counted once each: what
``llmlog view`` draws and totals, by the rules in the docstring of :mod:`llmlog_trace_dspy.view`
(the tree, cycles and deep chains, counting ``sub_llm_calls``, values of unexpected types).

:func:`load_tree` builds the whole tree (the tree view, ``--errors``, ``--search``, ``--final``),
without recursion at any step, so a 10,000-deep chain or a parent cycle costs a line per span.
:func:`stream_totals` (``--stats``) applies the same counting rule in one pass that forgets each
span when it ends (its subtree is then complete), so its memory is a few numbers per LLM call and
the spans open at once, not the file; an event written after its span's end counts there as a
span of its own.
"""

from __future__ import annotations

import math
import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import attrs

from llmlog.ext import USAGE_DETAIL_FIELDS, Distribution, TraceEvent, TraceEventType, serializer
from llmlog_trace_dspy.format import read_trace

__all__ = [
    "NO_SPAN",
    "Call",
    "Node",
    "Row",
    "Totals",
    "Trace",
    "call_of",
    "load_tree",
    "mentions",
    "ms_text",
    "stream_totals",
    "text_of",
]

_SESSION, _SPAN, _LLM = TraceEventType.SESSION, TraceEventType.SPAN, TraceEventType.LLM_CALL
_MODULE, _CODE, _TOOL = TraceEventType.MODULE, TraceEventType.CODE_EXEC, TraceEventType.TOOL_CALL
_ERROR = TraceEventType.ERROR
#: The key of the events that carry no span id.
NO_SPAN = ""


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _number(value: Any) -> int | float | None:
    """A JSON number (not a boolean), else ``None``: what Go's ``.(float64)`` accepts."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _int(value: Any) -> int:
    number = _number(value)
    return int(number) if number is not None else 0


def text_of(value: Any) -> str:
    """A value shown as text: a string as it is, anything else as compact JSON."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return serializer.dumps(value).decode("utf-8")


def ms_text(value: Any) -> str:
    number = _number(value)
    return "?ms" if number is None else f"{int(number)}ms"


def _texts(values: Iterable[Any]) -> Iterator[str]:
    """Every string in ``values`` (keys, strings and numbers, at any depth), without recursion."""
    stack = list(values)
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            for key, item in value.items():
                yield key
                stack.append(item)
        elif isinstance(value, list):
            stack.extend(value)
        elif value is not None and not isinstance(value, bool):
            yield str(value)


def mentions(values: Iterable[Any], needle: str) -> bool:
    return any(needle in text.lower() for text in _texts(values))


def _prompt_text(prompt: Any) -> str:
    """A prompt as one text: a list of messages compares as its contents joined."""
    if isinstance(prompt, list):
        parts = [text_of(m.get("content")) if isinstance(m, dict) else text_of(m) for m in prompt]
        return "\n\n".join(parts)
    return text_of(prompt)


@attrs.define(slots=True)
class Call:
    """One LLM call: an ``llm_call`` event, or an item of a ``code_exec``'s ``sub_llm_calls``."""

    provider: str
    model: str
    latency: int | float | None
    usage: bool  # whether token counts were given
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost: float | None
    key: int  # identifies the call by its prompt and response
    listed: bool
    #: the detail counts (cache read, cache creation, reasoning, audio, image) when given, in
    #: the order of ``USAGE_DETAIL_FIELDS``; all part of the prompt or completion tokens
    details: tuple[int, ...] = ()
    #: where the cost came from (``reported``, ``override``, ``table:NAME@VERSION``), or why it
    #: is unknown, as the ``usage`` says (``""``: not said)
    cost_source: str = ""
    cost_unknown: str = ""

    def detail(self, name: str) -> int:
        """One detail count by its field name (``"cache_read_tokens"``), 0 when not given."""
        if not self.details:
            return 0
        return self.details[USAGE_DETAIL_FIELDS.index(name)]


def call_of(data: Mapping[str, Any], listed: bool) -> Call:
    """An ``llm_call`` event's data, or (``listed``) an item of ``sub_llm_calls``: its tokens in
    ``usage`` or, as llmlog and rlm write the items, at the top level; its time in
    ``latency_ms`` or ``execution_time`` (seconds)."""
    usage: Any = data.get("usage")
    if isinstance(usage, dict):
        given = True
    else:
        # a sub_llm_calls item as llmlog and rlm write it: the counts at the top level
        usage = data
        given = listed and any(k in data for k in ("prompt_tokens", "completion_tokens"))
    prompt, completion = _int(usage.get("prompt_tokens")), _int(usage.get("completion_tokens"))
    total = _number(usage.get("total_tokens"))
    cost = _number(usage.get("cost", data.get("cost") if listed else None))
    latency = _number(data.get("latency_ms"))
    if latency is None and listed:
        seconds = _number(data.get("execution_time"))
        latency = seconds * 1000 if seconds is not None else None
    return Call(
        provider=text_of(data.get("provider")),
        model=text_of(data.get("model")),
        latency=latency,
        usage=given,
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=int(total) if total is not None else prompt + completion,
        cost=float(cost) if cost is not None else None,
        key=hash((_prompt_text(data.get("prompt")), text_of(data.get("response")))),
        listed=listed,
        details=_details(usage),
        cost_source=_text(usage.get("cost_source")) if cost is not None else "",
        cost_unknown=_text(usage.get("cost_unknown")) if cost is None else "",
    )


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _details(usage: Mapping[str, Any]) -> tuple[int, ...]:
    """The detail counts of a ``usage`` object (keys of ``USAGE_DETAIL_FIELDS``; a count that is
    not a number is 0), ``()`` when it has none."""
    if not any(name in usage for name in USAGE_DETAIL_FIELDS):
        return ()
    return tuple(max(_int(usage.get(name)), 0) for name in USAGE_DETAIL_FIELDS)


@attrs.define(slots=True, eq=False)
class Node:
    """A span: what its events said, its calls, and its place in the tree."""

    span_id: str
    parent: str | None = None
    name: str | None = None
    started: bool = False
    ended: bool = False
    duration: Any = None
    error: str | None = None
    attention: bool = False  # code that wrote to stderr: shown by --errors
    inputs: Any = None
    outputs: Any = None
    #: the ``evaluation`` of its end: an ``Evaluate`` run's score and counts, or an example's
    #: ``index``, ``metric``, ``score``, ``passed`` and ``error``
    evaluation: dict[str, Any] | None = None
    cycle: str | None = None
    up: Node | None = None  # the parent drawn (None for a root)
    notes: list[str] = attrs.Factory(list)
    #: the messages of its ``error`` events (``ValueError: ...``), in order
    error_events: list[str] = attrs.Factory(list)
    calls: list[Call] = attrs.Factory(list)
    listed: list[Call] = attrs.Factory(list)
    text: list[Any] = attrs.Factory(list)
    children: list[Node] = attrs.Factory(list)
    # tokens, cost, calls of unknown price: the node's subtree, filled in by Trace.total()
    tokens: int = 0
    cost: float = 0.0
    unknown: int = 0
    priced: int = 0

    @property
    def title(self) -> str:
        if self.span_id == NO_SPAN:
            return "(events with no span id)"
        if self.started and self.name:
            return self.name
        return f"span {self.span_id}"


@attrs.define
class Trace:
    """A trace file as a tree of :class:`Node` s."""

    nodes: dict[str, Node] = attrs.Factory(dict)
    session: dict[str, Any] = attrs.Factory(dict)
    skipped: int = 0
    roots: list[Node] = attrs.Factory(list)
    #: every node once, each before its children (roots in file order)
    order: list[Node] = attrs.Factory(list)

    @property
    def spans(self) -> int:
        return sum(1 for key in self.nodes if key != NO_SPAN)

    def calls(self) -> Iterator[Call]:
        for node in self.nodes.values():
            yield from node.calls


def load_tree(path: str | os.PathLike[str], lenient: bool) -> Trace:
    """The span tree of the trace at ``path``, with each span's calls, notes and searchable
    values, linked, its sub-calls counted and its subtree totals filled in.

    :param lenient: skip unreadable lines (counted in ``skipped``) instead of raising.
    :raises TraceReadError: naming ``file:line``, for an unreadable line when not ``lenient``.
    """
    trace = Trace()
    nodes = trace.nodes
    problems: list[str] = []
    for event in read_trace(path, skipped=problems if lenient else None):
        if event.type is _SESSION:
            if not trace.session:
                trace.session = {"trace_id": event.trace_id, **event.data}
            continue
        key = event.span_id or NO_SPAN
        node = nodes.get(key)
        if node is None:
            node = nodes[key] = Node(key)
        _add(node, event)
    trace.skipped = len(problems)
    _link(trace)
    _count_listed_calls(trace)
    _total(trace)
    return trace


def _add(node: Node, event: TraceEvent) -> None:
    data = event.data
    kind = event.type
    text = node.text
    if kind is _SPAN and data.get("event") == "start":
        if not node.started:  # dspy-cli keeps the first
            node.started = True
            node.name = text_of(data.get("operation")) or None
            node.inputs = data.get("inputs")
            if event.parent_id:
                node.parent = event.parent_id
        text += [data.get("operation"), data.get("inputs")]
        return
    if event.parent_id and node.parent is None:
        node.parent = event.parent_id
    if kind is _SPAN:
        node.ended = True
        node.duration = data.get("duration_ms")
        if data.get("error") not in (None, "", False):
            node.error = text_of(data["error"])
        if data.get("outputs") is not None:
            node.outputs = data["outputs"]
        if type(data.get("evaluation")) is dict:
            node.evaluation = data["evaluation"]
        text += [data.get("error"), data.get("outputs"), data.get("evaluation")]
    elif kind is _LLM:
        node.calls.append(call_of(data, listed=False))
        text += [data.get(k) for k in ("prompt", "response", "model", "provider")]
    elif kind is _ERROR:
        message = f"{text_of(data.get('error_type'))}: {text_of(data.get('message'))}"
        node.error = node.error or message
        node.error_events.append(message)
        text += [data.get("error_type"), data.get("message")]
    elif kind is _TOOL:
        name = text_of(data.get("tool_name"))
        failed = data.get("success") is False
        if failed:
            error = data.get("error")
            reason = f": {text_of(error)}" if error not in (None, "") else ""
            node.error = node.error or f"tool {name} failed{reason}"
        state = "failed" if failed else "ok"
        node.notes.append(f"tool {name} {state} {ms_text(data.get('duration_ms'))}")
        text += [data.get(k) for k in ("tool_name", "input", "output", "error")]
    elif kind is _MODULE:
        label = f"{text_of(data.get('module_type'))}:{text_of(data.get('module_name'))}"
        failed = data.get("success") is False
        if failed:
            node.error = node.error or f"module {label} failed"
        node.notes.append(
            f"module {label} {'failed' if failed else 'ok'}, "
            f"{_count(_int(data.get('llm_calls')), 'LLM call')}, "
            f"{_count(_int(data.get('total_tokens')), 'token')}"
        )
        text += [data.get(k) for k in ("module_type", "module_name", "signature")]
        text += [data.get("inputs"), data.get("outputs")]
    elif kind is _CODE:
        stderr = data.get("stderr")
        if stderr not in (None, ""):
            node.attention = True
        subs = data.get("sub_llm_calls")
        if isinstance(subs, list):
            node.listed += [call_of(item, listed=True) for item in subs if isinstance(item, dict)]
        iteration = data.get("iteration")
        node.notes.append(
            f"code{'' if iteration is None else ' #' + text_of(iteration)} "
            f"{ms_text(data.get('duration_ms'))}" + (" stderr" if stderr not in (None, "") else "")
        )
        text += [data.get(k) for k in ("code", "stdout", "stderr", "locals", "final_answer")]
        if isinstance(subs, list):
            text += [
                [item.get(k) for k in ("prompt", "response", "model")]
                for item in subs
                if isinstance(item, dict)
            ]


def _link(trace: Trace) -> None:
    """Children lists, roots and a depth-first order, from the parent ids; a parent that is not
    in the file makes a root, and so does the first span (in file order) of a parent cycle."""
    nodes = trace.nodes
    parent_of: dict[str, str | None] = {}
    for key, node in nodes.items():
        parent = node.parent
        parent_of[key] = parent if parent in nodes and parent != key else None
        if parent == key:
            node.cycle = "its own parent: drawn here as a root"
    position = {key: i for i, key in enumerate(nodes)}
    done: set[str] = set()
    for start in nodes:
        path: list[str] = []
        on_path: set[str] = set()
        current: str | None = start
        while current is not None and current not in done and current not in on_path:
            path.append(current)
            on_path.add(current)
            current = parent_of[current]
        if current is not None and current in on_path:
            # path[i]'s parent is path[i + 1]; the cycle is the part from `current` on.
            cycle = path[path.index(current) :]
            first = min(cycle, key=position.__getitem__)
            at = cycle.index(first)
            chain = [*cycle[at:], *cycle[:at], first]
            shown = " → ".join(chain if len(chain) <= 6 else [*chain[:5], "…", first])
            parent_of[first] = None
            nodes[first].cycle = f"parent cycle {shown}: drawn here as a root"
        done.update(path)
    for key, node in nodes.items():
        parent = parent_of[key]
        if parent is None:
            trace.roots.append(node)
        else:
            node.up = nodes[parent]
            node.up.children.append(node)
    stack = list(reversed(trace.roots))
    while stack:
        node = stack.pop()
        trace.order.append(node)
        stack.extend(reversed(node.children))


def _count_listed_calls(trace: Trace) -> None:
    """Counts each ``sub_llm_calls`` item that no ``llm_call`` event in its span's subtree stands
    for (see the module docstring). Children before parents, each node's multiset of event keys
    merged into its parent's, the largest kept: O(n log n) however the tree is shaped."""
    keys: dict[int, Counter[int]] = {}
    for node in reversed(trace.order):
        merged: Counter[int] | None = None
        for child in node.children:
            counter = keys.pop(id(child), None)
            if counter is None:
                continue
            if merged is None or len(counter) > len(merged):
                merged, counter = counter, merged
            if counter:
                merged.update(counter)
        if merged is None:
            merged = Counter()
        merged.update(call.key for call in node.calls)
        if node.listed:
            seen: Counter[int] = Counter()
            for call in node.listed:
                seen[call.key] += 1
                if seen[call.key] > merged[call.key]:
                    node.calls.append(call)
            node.listed = []
        keys[id(node)] = merged


def _total(trace: Trace) -> None:
    """Tokens, cost and calls of unknown price of each node's subtree, children first."""
    for node in reversed(trace.order):
        for call in node.calls:
            node.tokens += call.total_tokens
            if call.cost is None:
                node.unknown += 1
            else:
                node.cost += call.cost
                node.priced += 1
        for child in node.children:
            node.tokens += child.tokens
            node.cost += child.cost
            node.unknown += child.unknown
            node.priced += child.priced


@attrs.define(slots=True)
class Row:
    """``--stats``' numbers for one provider/model."""

    calls: int = 0
    tokens: int = 0
    cost: float = 0.0
    unknown: int = 0
    #: the calls' latencies in milliseconds, in bounded memory (quantiles ±1% past 65,536)
    latencies: Distribution = attrs.Factory(Distribution)
    prompt: int = 0
    completion: int = 0
    #: the detail counts' sums, in the order of ``USAGE_DETAIL_FIELDS``
    details: list[int] = attrs.Factory(lambda: [0] * len(USAGE_DETAIL_FIELDS))
    #: priced calls by where their cost came from; unknown calls by the reason
    sources: Counter[str] = attrs.Factory(Counter)
    reasons: Counter[str] = attrs.Factory(Counter)

    def add(self, call: Call) -> None:
        self.calls += 1
        self.tokens += call.total_tokens
        self.prompt += call.prompt_tokens
        self.completion += call.completion_tokens
        for i, value in enumerate(call.details):
            self.details[i] += value
        if call.cost is None:
            self.unknown += 1
            self.reasons[call.cost_unknown or "not said"] += 1
        else:
            self.cost += call.cost
            self.sources[call.cost_source or "not said"] += 1
        if call.latency is not None:
            self.latencies.add(call.latency)


@attrs.define(slots=True)
class _Open:
    """What ``--stats`` keeps of a span until it ends: its parent, the keys of the LLM calls
    traced in its subtree so far, the ``sub_llm_calls`` items listed in it."""

    parent: str | None
    keys: Counter[int] = attrs.Factory(Counter)
    listed: list[Call] = attrs.Factory(list)


@attrs.define(slots=True)
class Totals:
    """What ``--stats`` prints: counts, and the LLM calls per ``provider/model``."""

    session: dict[str, Any]
    spans: int
    errors: int
    rows: dict[str, Row]
    skipped: int


def stream_totals(path: str | os.PathLike[str], lenient: bool) -> Totals:
    """The totals of the trace at ``path`` in one pass (see the module docstring)."""
    # One pass that keeps numbers, never text, and forgets a span when it ends: memory is the
    # latencies' bounded summary per model, a key per LLM call while a span above it is open,
    # and the spans open at once, not the file. The same counting rule as the tree: each span's
    # listed sub-calls are matched when it ends (its subtree complete), against the keys its
    # children passed up as they ended.
    problems: list[str] = []
    session: dict[str, Any] = {}
    open_spans: dict[str, _Open] = {}
    startless: set[str] = set()
    failed: set[str] = set()
    spans = 0
    rows: dict[str, Row] = defaultdict(Row)

    def count(call: Call) -> None:
        rows[f"{call.provider or '-'}/{call.model or '-'}"].add(call)

    def close(key: str) -> None:
        state = open_spans.pop(key)
        if state.listed:
            seen: Counter[int] = Counter()
            for call in state.listed:
                seen[call.key] += 1
                if seen[call.key] > state.keys[call.key]:
                    count(call)
        parent = open_spans.get(state.parent) if state.parent is not None else None
        if parent is not None and state.keys:
            parent.keys.update(state.keys)

    for event in read_trace(path, skipped=problems if lenient else None):
        kind, data = event.type, event.data
        if kind is _SESSION:
            session = session or {"trace_id": event.trace_id, **data}
            continue
        key = event.span_id or NO_SPAN
        state = open_spans.get(key)
        if kind is _SPAN and data.get("event") == "start":
            if state is None:
                spans += 1
                open_spans[key] = _Open(event.parent_id)
            continue
        if state is None:  # a span with no start (counted once), or events after its end
            if key != NO_SPAN and key not in startless:
                startless.add(key)
                spans += 1
            state = open_spans[key] = _Open(event.parent_id)
        if kind is _SPAN:
            if data.get("error") not in (None, "", False):
                failed.add(key)
            close(key)
        elif kind is _LLM:
            call = call_of(data, listed=False)
            count(call)
            state.keys[call.key] += 1
        elif kind is _CODE:
            subs = data.get("sub_llm_calls")
            if isinstance(subs, list):
                state.listed += [
                    call_of(item, listed=True) for item in subs if isinstance(item, dict)
                ]
        elif kind is _ERROR or (data.get("success") is False and kind in (_TOOL, _MODULE)):
            failed.add(key)
    for key in reversed(list(open_spans)):  # children opened after their parents: first
        if key in open_spans:
            close(key)
    return Totals(session, spans, len(failed), dict(rows), len(problems))
