"""A run as the report shows it: a tree of nodes (spans, LLM calls, tool calls, code blocks,
log entries, flight-recorder regions...), each with its timing, tokens, cost and content.

:class:`RunBuilder` takes trace events (from any trace format's reader, or a flight snapshot's
trace events), log entries and flight-recorder events in any order, and :meth:`RunBuilder.finish`
returns the :class:`Run`. Every value read from a file is checked before use: a reader hands over
``data`` as the file had it, so a token count may be a string and an output a list; nothing here
raises on such input.
"""

from __future__ import annotations

import contextlib
import gc
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import attrs

__all__ = ["KINDS", "ModelStats", "Node", "Run", "RunBuilder", "finite", "percentile"]

#: Node kinds, in the order the page knows them.
KINDS = (
    "trace",
    "span",
    "iteration",
    "code",
    "llm",
    "tool",
    "error",
    "log",
    "thread",
    "region",
    "task",
    "gc",
    "exception",
    "event",
    "group",
)

_ITERATION = re.compile(r"iteration \d+\Z")
#: Largest integer kept exactly by JavaScript's numbers.
_MAX_SAFE = 2**53 - 1


def _text(value: Any) -> str:
    """A value read from a file as text: strings as they are, anything else as ``""``."""
    return value if type(value) is str else ""


def _count(value: Any) -> int | None:
    """A token count read from a file: a non-negative integer, or ``None`` when it is not one."""
    if type(value) is int and 0 <= value <= _MAX_SAFE:
        return value
    if type(value) is float and math.isfinite(value) and 0 <= value <= _MAX_SAFE:
        return int(value)
    return None


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off while a run is read or written (and back as it was).

    A report makes millions of small objects (each event's decoded JSON, nodes, cleaned copies)
    and no reference cycles: the collector's passes over them found nothing and took a quarter of
    the 100,000-span run's time. Garbage is still freed as it goes (reference counting).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def finite(value: Any) -> float | None:
    """A duration or cost read from a file: a finite number, or ``None``."""
    if type(value) is int:
        return float(value) if abs(value) < 2**63 else None
    if type(value) is float and math.isfinite(value) and abs(value) < 1e300:
        return value
    return None


def _is_mapping(value: Any) -> bool:
    """``isinstance(value, Mapping)``, a dict (decoded JSON) without the ABC's check."""
    return type(value) is dict or isinstance(value, Mapping)


def _mapping(value: Any) -> Mapping[str, Any] | None:
    return value if _is_mapping(value) else None


def percentile(values: list[float], fraction: float) -> float | None:
    """The ``fraction`` quantile of ``values`` (nearest rank), ``None`` for none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1))
    return ordered[rank]


@attrs.define(slots=True)
class Node:
    """One row of the report's tree.

    :param id: what ``#span=ID`` links to: a span id, or ``SPAN#N`` for the N-th call or entry
        recorded in a span.
    :param start_ns: wall-clock start (nanoseconds since the epoch); ``None`` when unknown.
    :param duration_ms: its duration, ``None`` when unknown (a span that never ended).
    :param error: a short error text, or ``None``.
    :param cost: in US dollars; ``None`` means unknown, never 0.
    :param content: what the detail view shows (prompts, responses, inputs, outputs, code...);
        dropped by ``--no-content``.
    :param evaluation: the ``evaluation`` of a span's end: a DSPy ``Evaluate`` run's score and
        counts (``metric``, ``score``, ``examples``, ``passed``, ``failed``, ``errors``), or one
        example's ``index``, ``metric``, ``score``, ``passed`` and ``error``; kept by ``--no-content``.
    """

    id: str
    kind: str
    name: str
    parent: int = -1
    trace: int = -1
    start_ns: int | None = None
    duration_ms: float | None = None
    error: str | None = None
    model: str = ""
    provider: str = ""
    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_tokens: int | None = None
    reasoning_tokens: int | None = None
    cost: float | None = None
    cost_source: str = ""
    severity: str = ""
    thread: str = ""
    content: dict[str, Any] = attrs.Factory(dict)
    evaluation: dict[str, Any] | None = None


@attrs.frozen
class ModelStats:
    """Calls, tokens, cost and latency of one model (or of every call: ``model == "*"``)."""

    model: str
    calls: int
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    reasoning_tokens: int
    #: Known costs summed; ``None`` when no call's cost is known.
    cost: float | None
    #: Calls whose cost is unknown.
    unknown_cost: int
    errors: int
    p50_ms: float | None
    p95_ms: float | None

    def to_json(self) -> dict[str, Any]:
        return attrs.asdict(self)


@attrs.define
class Evaluation:
    """An evaluation run in a :class:`Run`: its node, its ``evaluation`` (score and counts) and
    its examples' nodes (each with an example's ``evaluation``), in devset order."""

    node: int
    summary: dict[str, Any]
    examples: list[int]


@attrs.define
class Run:
    """What one report shows: its nodes (parents before children, siblings in time order), the
    trace ids, where it was read from and what was left out."""

    nodes: list[Node]
    traces: list[str]
    sources: list[str]
    #: ``file: format`` per input read.
    formats: list[str] = attrs.Factory(list)
    #: Lines skipped by a lenient read, and other problems read past (``file:line: ...``).
    problems: list[str] = attrs.Factory(list)
    #: A flight snapshot's header: ``reason`` (its trigger), ``created_ns``, ``pid``, ``host``...
    flight: list[dict[str, Any]] = attrs.Factory(list)
    #: The first root's final answer (RLM runs, and any root whose outputs say ``final_answer``).
    final_answer: Any = None
    #: Session metadata, by trace id.
    sessions: dict[str, dict[str, Any]] = attrs.Factory(dict)
    #: Each flight snapshot in Chrome's Trace Event Format (``llmlog-engine-flight``'s export).
    chrome: list[dict[str, Any]] = attrs.Factory(list)

    def llm_calls(self) -> list[Node]:
        return [n for n in self.nodes if n.kind == "llm"]

    def model_stats(self) -> list[ModelStats]:
        """Per model (sorted by name), then ``*`` for every call."""
        groups: dict[str, list[Node]] = {}
        for node in self.llm_calls():
            groups.setdefault(node.model or "(unknown model)", []).append(node)
        stats = [_stats(model, calls) for model, calls in sorted(groups.items())]
        stats.append(_stats("*", self.llm_calls()))
        return stats

    def evaluations(self) -> list[Evaluation]:
        """Each evaluation run (a span whose end has a run's ``evaluation``) with its examples
        (its children with an example's), in devset order."""
        nodes = self.nodes
        runs: dict[int, Evaluation] = {}
        for index, node in enumerate(nodes):
            evaluation = node.evaluation
            if evaluation is not None and "examples" in evaluation:
                runs[index] = Evaluation(index, evaluation, [])
        if not runs:
            return []
        for index, node in enumerate(nodes):
            evaluation = node.evaluation
            if (
                evaluation is not None
                and type(evaluation.get("index")) is int
                and node.parent in runs
            ):
                runs[node.parent].examples.append(index)
        for run in runs.values():
            run.examples.sort(key=lambda i: nodes[i].evaluation["index"])  # type: ignore[index]
        return list(runs.values())

    def start_ns(self) -> int:
        known = [n.start_ns for n in self.nodes if n.start_ns is not None]
        return min(known) if known else 0

    def path_of(self, index: int) -> tuple[str, ...]:
        """The names from the root down to node ``index``."""
        names = []
        while index >= 0:
            node = self.nodes[index]
            names.append(node.name)
            index = node.parent
        return tuple(reversed(names))


def _stats(model: str, calls: list[Node]) -> ModelStats:
    known = [c.cost for c in calls if c.cost is not None]
    latencies = [c.duration_ms for c in calls if c.duration_ms is not None]
    return ModelStats(
        model=model,
        calls=len(calls),
        input_tokens=sum(c.input_tokens or 0 for c in calls),
        output_tokens=sum(c.output_tokens or 0 for c in calls),
        cached_tokens=sum(c.cached_tokens or 0 for c in calls),
        reasoning_tokens=sum(c.reasoning_tokens or 0 for c in calls),
        cost=sum(known) if known else None,
        unknown_cost=len(calls) - len(known),
        errors=sum(1 for c in calls if c.error),
        p50_ms=percentile(latencies, 0.5),
        p95_ms=percentile(latencies, 0.95),
    )


def _joined_contents(messages: list[Any], prompt: str) -> bool:
    """Whether ``prompt`` is the text contents of ``messages``, in order (however joined)."""
    at = 0
    for message in messages:
        text = message.get("content") if _is_mapping(message) else None
        if type(text) is not str:
            return False
        found = prompt.find(text, at)
        if found < 0 or found - at > 4:  # only a separator between two messages
            return False
        at = found + len(text)
    return at > 0 and len(prompt) - at <= 4


def _nested_count(usage: Mapping[str, Any], *paths: tuple[str, ...]) -> int | None:
    """The first count found along ``paths`` (``("prompt_tokens_details", "cached_tokens")``)."""
    for path in paths:
        value: Any = usage
        for key in path:
            # A missing key ends the path.
            value = value.get(key) if _is_mapping(value) else None
            if value is None:
                break
        count = _count(value)
        if count is not None:
            return count
    return None


_CACHED = (
    ("cache_read_tokens",),  # llmlog's own (TokenUsage.cache_read_tokens)
    ("cached_tokens",),
    ("cache_read_input_tokens",),
    ("prompt_tokens_details", "cached_tokens"),
    ("input_tokens_details", "cached_tokens"),
)
_REASONING = (
    ("reasoning_tokens",),
    ("completion_tokens_details", "reasoning_tokens"),
    ("output_tokens_details", "reasoning_tokens"),
)
#: The keys each path above starts with: a usage with none of them has no such count.
_CACHED_HEADS = frozenset(path[0] for path in _CACHED)
_REASONING_HEADS = frozenset(path[0] for path in _REASONING)


class RunBuilder:
    """Builds a :class:`Run` from events in any order: a span's end may come before its start
    (files of a rotated run read out of order), an LLM call before its span."""

    def __init__(self) -> None:
        self.nodes: list[Node] = []
        self._spans: dict[tuple[int, str], int] = {}
        self._traces: dict[str, int] = {}
        self._trace_ids: list[str] = []
        self._pending_parent: dict[int, str] = {}
        self._calls: dict[int, int] = {}
        self._logs: list[tuple[int, str, str]] = []  # node index, trace id, span id
        self._threads: dict[tuple[int, str], int] = {}
        self._open_regions: dict[tuple[int, str, int], int] = {}
        self._open_tasks: dict[tuple[int, int], int] = {}
        # Trace roots an event changed or put a node under (not only a span's trace).
        self._touched: set[int] = set()
        self.sources: list[str] = []
        self.formats: list[str] = []
        self.problems: list[str] = []
        self.flight: list[dict[str, Any]] = []
        self.chrome: list[dict[str, Any]] = []
        self.sessions: dict[str, dict[str, Any]] = {}

    # -- trees ----------------------------------------------------------------------------------

    def _add(self, node: Node) -> int:
        self.nodes.append(node)
        return len(self.nodes) - 1

    def trace(self, trace_id: str) -> int:
        """The root node of a trace (made on first sight)."""
        index = self._traces.get(trace_id)
        if index is None:
            self._trace_ids.append(trace_id)
            label = f"trace {trace_id}" if trace_id else "trace (no id)"
            index = self._add(Node(trace_id or "trace", "trace", label))
            self.nodes[index].trace = len(self._trace_ids) - 1
            self._traces[trace_id] = index
        return index

    def _span(self, trace_id: str, span_id: str) -> int:
        root = self._traces.get(trace_id)
        if root is None:
            root = self.trace(trace_id)
        key = (root, span_id)
        index = self._spans.get(key)
        if index is None:
            index = self._add(Node(span_id, "span", f"span {span_id}", parent=root))
            self._spans[key] = index
        return index

    def _next_id(self, span: int) -> str:
        n = self._calls.get(span, 0) + 1
        self._calls[span] = n
        return f"{self.nodes[span].id}#{n}"

    # -- trace events ---------------------------------------------------------------------------

    def trace_event(
        self,
        kind: str,
        time_ns: int,
        trace_id: Any,
        span_id: Any,
        parent_id: Any,
        data: Any,
    ) -> None:
        """One trace event (the dspy-go event types): ``kind`` is its type's value."""
        # The common case inline (ids are strings, data a dict): this runs once per event.
        if type(trace_id) is not str:
            trace_id = ""
        if type(span_id) is not str:
            span_id = ""
        if type(parent_id) is not str:
            parent_id = ""
        if type(data) is not dict:
            data = _mapping(data) or {}
        if kind == "session":
            root = self.trace(trace_id)
            self._touched.add(root)
            self.nodes[root].start_ns = _min(self.nodes[root].start_ns, time_ns)
            meta = {k: v for k, v in data.items() if k != "start_time"}
            if meta:
                self.sessions.setdefault(trace_id, {}).update(meta)
                self.nodes[root].content.setdefault("session", {}).update(meta)
            return
        # An event of no span is a node under the trace itself; a span's node is made on its
        # first event (what _span does, inline: most events are a span's).
        known = self._traces.get(trace_id)
        root = self.trace(trace_id) if known is None else known
        if span_id:
            span_key = (root, span_id)
            found = self._spans.get(span_key)
            if found is None:
                nodes = self.nodes
                parent = self._spans[span_key] = len(nodes)
                nodes.append(Node(span_id, "span", f"span {span_id}", parent=root))
            else:
                parent = found
        else:
            parent = root
            self._touched.add(root)
        if kind == "span":
            self._span_event(parent, time_ns, parent_id, data, trace_id)
        elif kind == "llm_call":
            self._llm_call(parent, time_ns, data)
        elif kind == "tool_call":
            self._tool_call(parent, time_ns, data)
        elif kind == "code_exec":
            self._code_exec(parent, time_ns, data)
        elif kind == "module":
            node = self.nodes[parent]
            module = {k: data[k] for k in ("module_type", "module_name", "signature") if k in data}
            node.content.setdefault("module", {}).update(module)
            if data.get("success") is False and not node.error:
                node.error = "module failed"
            for key in ("inputs", "outputs"):
                if key in data and key not in node.content:
                    node.content[key] = data[key]
        elif kind == "error":
            error_type = _text(data.get("error_type"))
            message = _text(data.get("message"))
            text = f"{error_type}: {message}" if error_type and message else error_type or message
            child = Node(
                self._next_id(parent),
                "error",
                error_type or "error",
                parent=parent,
                start_ns=time_ns,
                error=text or "error",
            )
            child.content["error"] = dict(data)
            self._add(child)
            if not self.nodes[parent].error and self.nodes[parent].kind != "trace":
                self.nodes[parent].error = text or "error"

    def _span_event(
        self, index: int, time_ns: int, parent_id: str, data: Mapping[str, Any], trace_id: str
    ) -> None:
        node = self.nodes[index]
        if data.get("event") == "end":  # only a string equals "end"
            duration = finite(data.get("duration_ms"))
            if duration is not None and duration >= 0:
                node.duration_ms = duration
                if node.start_ns is None:
                    node.start_ns = time_ns - int(duration * 1_000_000)
            elif node.start_ns is not None:
                node.duration_ms = max(0.0, (time_ns - node.start_ns) / 1e6)
            if "outputs" in data:
                node.content["outputs"] = data["outputs"]
            evaluation = data.get("evaluation")
            if type(evaluation) is dict:
                node.evaluation = evaluation
            error = data.get("error")
            if error is not None and error != "":
                node.error = error if type(error) is str else str(error)[:1000]
            return
        # A start (or an event that says nothing: taken as one).
        operation = _text(data.get("operation"))
        if operation:
            node.name = operation
            if operation.startswith("iteration ") and _ITERATION.match(operation):
                node.kind = "iteration"
        inputs = data.get("inputs")
        if inputs is not None:
            node.content["inputs"] = inputs
            if _is_mapping(inputs) and "code" in inputs and node.kind == "span":
                node.kind = "code"
        if node.start_ns is None or node.duration_ms is None:
            node.start_ns = time_ns
        if parent_id:
            self._pending_parent[index] = parent_id

    def _llm_call(self, parent: int, time_ns: int, data: Mapping[str, Any]) -> None:
        model = _text(data.get("model"))
        latency = finite(data.get("latency_ms"))
        node = Node(
            self._next_id(parent),
            "llm",
            model or "LLM call",
            parent=parent,
            start_ns=time_ns - int(latency * 1_000_000) if latency and latency > 0 else time_ns,
            duration_ms=latency if latency is not None and latency >= 0 else None,
            model=model,
            provider=_text(data.get("provider")),
        )
        usage = _mapping(data.get("usage"))
        if usage is not None:
            node.input_tokens = _nested_count(usage, ("prompt_tokens",), ("input_tokens",))
            node.output_tokens = _nested_count(usage, ("completion_tokens",), ("output_tokens",))
            # Most usages hold no cached or reasoning count: one set test says so.
            keys = usage.keys()
            if not keys.isdisjoint(_CACHED_HEADS):
                node.cached_tokens = _nested_count(usage, *_CACHED)
            if not keys.isdisjoint(_REASONING_HEADS):
                node.reasoning_tokens = _nested_count(usage, *_REASONING)
            cost = finite(usage.get("cost"))
            if cost is not None and cost >= 0:
                node.cost = cost
                node.cost_source = _text(usage.get("cost_source")) or "recorded with the call"
        error = data.get("error")
        if error:
            node.error = error if type(error) is str else str(error)[:1000]
        content: dict[str, Any] = {}
        messages = data.get("messages")
        if isinstance(messages, list) and messages:
            content["messages"] = messages
            # The text prompt beside chat messages is their contents joined (what dspy-go's
            # readers need): kept only when it says something the messages do not.
            prompt = data.get("prompt")
            if type(prompt) is str and prompt and not _joined_contents(messages, prompt):
                content["prompt"] = prompt
        elif data.get("prompt") not in ("", None):
            content["prompt"] = data["prompt"]
        for key in ("response", "tool_calls", "tools"):
            if key in data and data[key] not in ("", None):
                content[key] = data[key]
        if usage is not None:
            content["usage"] = dict(usage)
        node.content = content
        self._add(node)

    def _tool_call(self, parent: int, time_ns: int, data: Mapping[str, Any]) -> None:
        duration = finite(data.get("duration_ms"))
        node = Node(
            self._next_id(parent),
            "tool",
            _text(data.get("tool_name")) or "tool call",
            parent=parent,
            start_ns=time_ns - int(duration * 1_000_000) if duration and duration > 0 else time_ns,
            duration_ms=duration if duration is not None and duration >= 0 else None,
        )
        error = data.get("error")
        if error:
            node.error = error if type(error) is str else str(error)[:1000]
        elif data.get("success") is False:
            node.error = "tool call failed"
        node.content = {k: data[k] for k in ("input", "output") if k in data}
        self._add(node)

    def _code_exec(self, parent: int, time_ns: int, data: Mapping[str, Any]) -> None:
        block = {
            k: data[k]
            for k in ("iteration", "code", "stdout", "stderr", "locals", "sub_llm_calls")
            if k in data
        }
        if "final_answer" in data:
            block["final_answer"] = data["final_answer"]
        target = self.nodes[parent]
        if target.kind == "code" and "code_exec" not in target.content:
            target.content["code_exec"] = block  # the span of this block (RLM, llmlog)
            return
        duration = finite(data.get("duration_ms"))
        iteration = _count(data.get("iteration"))
        node = Node(
            self._next_id(parent),
            "code",
            f"code (iteration {iteration})" if iteration is not None else "code",
            parent=parent,
            start_ns=time_ns - int(duration * 1_000_000) if duration and duration > 0 else time_ns,
            duration_ms=duration if duration is not None and duration >= 0 else None,
        )
        stderr = _text(data.get("stderr")).strip()
        if stderr:
            node.error = stderr.splitlines()[-1][:500]
        node.content["code_exec"] = block
        self._add(node)

    # -- log entries ----------------------------------------------------------------------------

    def log(
        self,
        time_ns: int | None,
        level: str,
        message: str,
        trace_id: str,
        span_id: str,
        content: dict[str, Any],
        *,
        model: str = "",
        tokens: tuple[int | None, int | None] = (None, None),
        cost: float | None = None,
        latency_ms: float | None = None,
        thread: str = "",
        cost_source: str = "",
    ) -> None:
        """A log entry: placed under its span (by trace and span id) once everything is read,
        else under its trace, else in a ``logs`` group."""
        node = Node(
            "",
            "log",
            message,
            start_ns=time_ns,
            severity=level,
            model=model,
            input_tokens=tokens[0],
            output_tokens=tokens[1],
            cost=cost,
            cost_source=(cost_source or "logged with the entry") if cost is not None else "",
            duration_ms=None,
            thread=thread,
        )
        if latency_ms is not None:
            node.content["latency_ms"] = latency_ms
        if level in ("ERROR", "FATAL"):
            node.error = message[:500] or level
        node.content.update(content)
        index = self._add(node)
        self._logs.append((index, trace_id, span_id))

    # -- flight-recorder events -----------------------------------------------------------------

    def _thread(self, snapshot: int, tid: Any, names: Mapping[str, Any]) -> int:
        key = (snapshot, str(tid))
        index = self._threads.get(key)
        if index is None:
            name = names.get(str(tid)) if isinstance(names, Mapping) else None
            label = f"thread {tid}" + (f" ({name})" if type(name) is str and name else "")
            index = self._add(Node(f"flight{snapshot}-thread-{tid}", "thread", label))
            self._threads[key] = index
        return index

    def flight_snapshot(
        self, header: Mapping[str, Any], events: Iterable[Mapping[str, Any]]
    ) -> None:
        """A flight-recorder snapshot read by ``llmlog-engine-flight`` (events checked against
        its schema): trace events become spans, logs log entries, regions, tasks, GC pauses and
        the rest rows of their thread."""
        number = len(self.flight)
        self.flight.append(dict(header))
        names = header.get("threads") if isinstance(header.get("threads"), Mapping) else {}
        assert isinstance(names, Mapping)
        for event in events:
            kind = event.get("kind")
            ts = event.get("ts")
            ts = ts if type(ts) is int else None
            if kind in ("session", "span", "llm_call", "module", "code_exec", "tool_call", "error"):
                self.trace_event(
                    str(kind),
                    ts or 0,
                    event.get("trace_id"),
                    event.get("span_id"),
                    event.get("parent_id"),
                    event.get("data"),
                )
                continue
            thread = self._thread(number, event.get("tid", 0), names)
            if kind == "log":
                tokens = _mapping(event.get("tokens")) or {}
                self.log(
                    ts,
                    _text(event.get("level")).upper(),
                    _text(event.get("msg")),
                    _text(event.get("trace_id")),
                    _text(event.get("span_id")),
                    _log_content(event, ("logger", "file", "line", "fn", "fields", "exception")),
                    model=_text(event.get("model")),
                    tokens=(_count(tokens.get("prompt")), _count(tokens.get("completion"))),
                    cost=finite(event.get("cost"))
                    if event.get("cost") is not None
                    else finite(tokens.get("cost")),
                    cost_source="reported"
                    if event.get("cost") is not None
                    else _text(tokens.get("cost_source")),
                    latency_ms=finite(event.get("latency_ms")),
                    thread=self.nodes[thread].name,
                )
                if not _text(event.get("trace_id")):
                    self._logs[-1] = (self._logs[-1][0], f"\0thread{thread}", "")
                continue
            self._flight_row(number, thread, str(kind), ts, event)

    def _flight_row(
        self, snapshot: int, thread: int, kind: str, ts: int | None, event: Mapping[str, Any]
    ) -> None:
        name = _text(event.get("name"))
        if kind == "region":
            dur = _count(event.get("dur"))
            node = Node(
                self._next_id(thread), "region", name or "region", parent=thread, start_ns=ts
            )
            node.duration_ms = dur / 1e6 if dur is not None else None
            if ts is not None and dur is not None:
                node.start_ns = ts - dur
            node.error = _text(event.get("error")) or None
            self._add(node)
        elif kind == "region_begin":
            node = Node(
                self._next_id(thread), "region", name or "region", parent=thread, start_ns=ts
            )
            key = (snapshot, str(event.get("tid")), _count(event.get("region")) or 0)
            self._open_regions[key] = self._add(node)
            if event.get("open"):
                node.content["open"] = "still open when the snapshot was taken"
        elif kind == "region_end":
            key = (snapshot, str(event.get("tid")), _count(event.get("region")) or 0)
            begun = self._open_regions.pop(key, None)
            if begun is not None and ts is not None:
                start = self.nodes[begun].start_ns
                if start is not None:
                    self.nodes[begun].duration_ms = max(0.0, (ts - start) / 1e6)
        elif kind == "task_begin":
            node = Node(self._next_id(thread), "task", name or "task", parent=thread, start_ns=ts)
            self._open_tasks[(snapshot, _count(event.get("task_id")) or 0)] = self._add(node)
        elif kind == "task_end":
            begun = self._open_tasks.pop((snapshot, _count(event.get("task_id")) or 0), None)
            if begun is not None:
                start = self.nodes[begun].start_ns
                if ts is not None and start is not None:
                    self.nodes[begun].duration_ms = max(0.0, (ts - start) / 1e6)
                self.nodes[begun].error = _text(event.get("error")) or None
        elif kind == "gc":
            dur = _count(event.get("dur_ns"))
            generation = _count(event.get("generation"))
            node = Node(
                self._next_id(thread),
                "gc",
                f"GC pause (generation {generation})" if generation is not None else "GC pause",
                parent=thread,
                start_ns=ts - dur if ts is not None and dur is not None else ts,
                duration_ms=dur / 1e6 if dur is not None else None,
            )
            node.content = _log_content(event, ("generation", "collected", "dur_ns"))
            self._add(node)
        elif kind == "exception":
            text = f"{_text(event.get('type'))}: {_text(event.get('message'))}".strip(": ")
            node = Node(
                self._next_id(thread),
                "exception",
                text or "exception",
                parent=thread,
                start_ns=ts,
                error=text or "exception",
            )
            node.content = _log_content(event, ("type", "message", "traceback", "where"))
            self._add(node)
        else:
            label = {
                "annotation": _text(event.get("message")) or "annotation",
                "snapshot": f"snapshot: {_text(event.get('reason'))}",
                "snapshot_skipped": f"snapshot skipped: {_text(event.get('why'))}",
                "recorder_start": "flight recorder started",
            }.get(kind, kind)
            node = Node(self._next_id(thread), "event", label, parent=thread, start_ns=ts)
            node.content = {k: v for k, v in event.items() if k not in ("ts", "tid", "task")}
            self._add(node)

    # -- a file read in two processes ------------------------------------------------------------

    def export(self) -> tuple[Any, ...]:
        """What :meth:`absorb` takes: the state of a builder that was given only trace events
        (a range of a file read in another process), as plain values for ``pickle``."""
        if self._logs or self._threads or self.flight or self.sources or self.problems:
            raise ValueError("only a builder of trace events is exported")
        return (
            [
                (
                    n.id,
                    n.kind,
                    n.name,
                    n.parent,
                    n.trace,
                    n.start_ns,
                    n.duration_ms,
                    n.error,
                    n.model,
                    n.provider,
                    n.input_tokens,
                    n.output_tokens,
                    n.cached_tokens,
                    n.reasoning_tokens,
                    n.cost,
                    n.cost_source,
                    n.severity,
                    n.thread,
                    n.content,
                    n.evaluation,
                )
                for n in self.nodes
            ],
            self._spans,
            self._traces,
            self._pending_parent,
            self._calls,
            self.sessions,
            self._touched,
        )

    def absorb(self, state: tuple[Any, ...]) -> bool:
        """Add the events another builder read (:meth:`export`), as if they had been given to
        this one after its own; ``False``, and nothing changed, when that cannot be done exactly.

        It can when the other builder's events touched none of this one's nodes: no span of
        theirs is one of ours (one begun before the split and ended after it), and no trace
        they share was changed by theirs (a session event, an event of no span). Their nodes
        then follow ours in the order they were made, as they would have been made here, and
        every index among them is renumbered.
        """
        nodes_t, spans, traces, pending, calls, sessions, touched = state
        trace_of = {index: trace_id for trace_id, index in traces.items()}
        ours = self._traces
        for trace_id, index in traces.items():
            if trace_id in ours and index in touched:
                return False
        for root, span_id in spans:
            mine = ours.get(trace_of[root])
            if mine is not None and (mine, span_id) in self._spans:
                return False
        # Their index -> ours: a shared trace is ours, every other node comes after ours.
        mapped: list[int] = []
        new: list[Node] = []
        base = len(self.nodes)
        for index, values in enumerate(nodes_t):
            shared = ours.get(trace_of[index]) if index in trace_of else None
            if shared is not None:
                mapped.append(shared)
            else:
                mapped.append(base + len(new))
                new.append(Node(*values))
        for node in new:
            if node.parent >= 0:
                node.parent = mapped[node.parent]
        self.nodes.extend(new)
        for trace_id, index in traces.items():
            if trace_id not in ours:
                self._trace_ids.append(trace_id)
                self.nodes[mapped[index]].trace = len(self._trace_ids) - 1
                ours[trace_id] = mapped[index]
        for (root, span_id), index in spans.items():
            self._spans[(mapped[root], span_id)] = mapped[index]
        for index, parent_id in pending.items():
            self._pending_parent[mapped[index]] = parent_id
        for index, count in calls.items():
            self._calls[mapped[index]] = count
        for trace_id, meta in sessions.items():
            self.sessions.setdefault(trace_id, {}).update(meta)
        self._touched.update(mapped[index] for index in touched)
        return True

    # -- the run --------------------------------------------------------------------------------

    def finish(self) -> Run:
        """The run: parents linked, log entries placed, nodes ordered parents first and siblings
        by time, the final answer found."""
        nodes = self.nodes
        spans = self._spans
        for index, parent_id in self._pending_parent.items():
            root = nodes[index].parent
            target = spans.get((root, parent_id))
            # A target still directly under the root cannot be below this node: no walk up its
            # chain for the common case of a parent linked first or a root span.
            if (
                target is not None
                and target != index
                and (nodes[target].parent == root or not _is_below(nodes, target, index))
            ):
                nodes[index].parent = target
        groups: dict[str, int] = {}
        for index, trace_id, span_id in self._logs:
            node = nodes[index]
            trace_root = self._traces.get(trace_id) if trace_id else None
            target = self._spans.get((trace_root, span_id)) if trace_root is not None else None
            if target is None:
                target = trace_root
            if target is None:
                if trace_id.startswith("\0thread"):
                    target = int(trace_id[7:])
                else:
                    target = groups.get("logs")
                    if target is None:
                        target = groups["logs"] = self._add(Node("logs", "group", "log entries"))
            node.parent = target
            node.id = self._next_id(target)
        ordered = _ordered(nodes)
        for trace_index, node in enumerate(n for n in ordered if n.kind == "trace"):
            node.trace = trace_index
        _fill_traces(ordered)
        _trace_times(ordered)
        final = None
        for node in ordered:
            outputs = node.content.get("outputs")
            if (
                node.parent >= 0
                and ordered[node.parent].kind == "trace"
                and outputs is not None
                and _is_mapping(outputs)
                and "final_answer" in outputs
            ):
                final = outputs["final_answer"]
                break
        for index, node in enumerate(ordered):
            if node.kind == "iteration":
                _assemble_iteration(ordered, index)
        return Run(
            nodes=ordered,
            traces=[n.id for n in ordered if n.kind == "trace"],
            sources=list(self.sources),
            formats=list(self.formats),
            problems=list(self.problems),
            flight=list(self.flight),
            final_answer=final,
            sessions=dict(self.sessions),
            chrome=list(self.chrome),
        )


def _min(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def _log_content(event: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: event[k] for k in keys if k in event and event[k] not in (None, "", {})}


def _is_below(nodes: list[Node], ancestor: int, index: int) -> bool:
    """Whether ``ancestor`` is ``index`` or one of its descendants (linking it would be a loop)."""
    seen = 0
    while ancestor >= 0 and seen <= len(nodes):
        if ancestor == index:
            return True
        ancestor = nodes[ancestor].parent
        seen += 1
    return seen > len(nodes)


def _ordered(nodes: list[Node]) -> list[Node]:
    """The nodes depth first, parents before children, siblings by start time (then the order
    read), with ``parent`` renumbered. A parent chain that loops (hostile ids) is cut at the
    root."""
    if _in_order(nodes):
        return list(nodes)
    return _sorted_tree(nodes)


def _in_order(nodes: list[Node]) -> bool:
    """Whether ``nodes`` are already in :func:`_ordered`'s order (then nothing moves and no
    parent is renumbered; a parent out of range becomes ``-1``, as a root there): what a builder
    makes of a program that ran its spans one after the other, each node made at its start. One
    pass: each node's parent is on the path from the last root to the node before it, after
    that parent's earlier children (by start time, those without one last); roots by rank."""
    count = len(nodes)
    path: list[int] = []  # the current node's ancestors, from its root
    last: list[Node | None] = []  # per entry of path: its last child so far
    rank = -1
    out_of_range = []
    for index, node in enumerate(nodes):
        parent = node.parent
        if parent < 0 or parent >= count:
            own = _root_rank(node)
            if own < rank:
                return False
            rank = own
            if parent >= count:
                out_of_range.append(node)
            path.clear()
            last.clear()
        else:
            while path and path[-1] != parent:
                path.pop()
                last.pop()
            if not path:
                return False  # its parent comes later, or its subtree is not in one piece
            before = last[-1]
            if before is not None:
                start = node.start_ns
                earlier = before.start_ns
                if earlier is None:
                    if start is not None:
                        return False
                elif start is not None and start < earlier:
                    return False
            last[-1] = node
        path.append(index)
        last.append(None)
    for node in out_of_range:
        node.parent = -1
    return True


def _sorted_tree(nodes: list[Node]) -> list[Node]:
    """:func:`_ordered` for nodes in any order."""
    children: dict[int, list[int]] = {}
    roots: list[int] = []
    for index, node in enumerate(nodes):
        if node.parent < 0 or node.parent >= len(nodes):
            roots.append(index)
        else:
            children.setdefault(node.parent, []).append(index)

    # Each node's sort key, made once: siblings by time (those without one last), then in the
    # order read; the sort looks keys up with the list's own __getitem__ (no Python call).
    keys = [
        (0, start, index) if (start := node.start_ns) is not None else (1, 0, index)
        for index, node in enumerate(nodes)
    ]
    key = keys.__getitem__

    order: list[int] = []
    placed = [False] * len(nodes)
    new_index = [-1] * len(nodes)
    stack = [(r, -1) for r in sorted(roots, key=lambda i: (_root_rank(nodes[i]), i), reverse=True)]
    while stack:
        index, parent = stack.pop()
        if placed[index]:
            continue
        placed[index] = True
        new_index[index] = len(order)
        nodes[index].parent = parent
        order.append(index)
        kids = children.get(index)
        if kids:  # most nodes are leaves: no sort, no generator
            if len(kids) > 1:
                kids.sort(key=key)
            at = new_index[index]
            stack.extend((k, at) for k in reversed(kids))
    # Whatever a loop kept unreachable becomes a root.
    for index in range(len(nodes)):
        if not placed[index]:
            placed[index] = True
            nodes[index].parent = -1
            new_index[index] = len(order)
            order.append(index)
    return [nodes[i] for i in order]


def _root_rank(node: Node) -> int:
    return {"trace": 0, "group": 2, "thread": 1}.get(node.kind, 3)


def _fill_traces(nodes: list[Node]) -> None:
    """Each node's ``trace`` is its root trace's number (parents come first)."""
    for node in nodes:
        if node.kind == "trace":
            continue
        node.trace = nodes[node.parent].trace if node.parent >= 0 else -1


def _trace_times(nodes: list[Node]) -> None:
    """A trace's (and a thread track's) start and duration: those of what it holds."""
    # Each node's earliest start and latest end over itself and what it holds (None: no time),
    # children before parents (parents come first in ``nodes``).
    los: list[int | None] = [None] * len(nodes)
    his = [0] * len(nodes)
    for index in range(len(nodes) - 1, -1, -1):
        node = nodes[index]
        lo = los[index]
        start = node.start_ns
        if start is not None:
            end = start + int((node.duration_ms or 0) * 1_000_000)
            if lo is None:
                lo, hi = start, end
            else:
                lo, hi = min(lo, start), max(his[index], end)
            los[index], his[index] = lo, hi
        else:
            hi = his[index]
        parent = node.parent
        if lo is not None and parent >= 0:
            plo = los[parent]
            if plo is None:
                los[parent], his[parent] = lo, hi
            else:
                los[parent], his[parent] = min(plo, lo), max(his[parent], hi)
    for index, node in enumerate(nodes):
        lo = los[index]
        if lo is not None and node.kind in ("trace", "thread", "group"):
            node.start_ns = lo
            node.duration_ms = (his[index] - lo) / 1e6


def _subtree_end(nodes: list[Node], index: int) -> int:
    """One past the last descendant of ``index`` (descendants follow their node, in order)."""
    end = index + 1
    while end < len(nodes) and _is_descendant(nodes, end, index):
        end += 1
    return end


def _is_descendant(nodes: list[Node], candidate: int, ancestor: int) -> bool:
    parent = nodes[candidate].parent
    while parent > ancestor:
        parent = nodes[parent].parent
    return parent == ancestor


def _assemble_iteration(nodes: list[Node], index: int) -> None:
    """An RLM iteration's view: its response, its code blocks (code, output, locals, sub-LM
    calls) and its final answer, gathered from the nodes below it."""
    node = nodes[index]
    end = _subtree_end(nodes, index)
    blocks: list[dict[str, Any]] = []
    response: Any = None
    prompt: Any = None
    for position in range(index + 1, end):
        child = nodes[position]
        if child.kind == "llm" and child.parent == index and response is None:
            response = child.content.get("response", "")
            prompt = child.content.get("messages", child.content.get("prompt"))
        elif child.kind == "code" and "code_exec" in child.content:
            block = dict(child.content["code_exec"])
            subs = [
                {
                    "model": c.model,
                    "prompt": c.content.get("prompt", ""),
                    "response": c.content.get("response", ""),
                    "input_tokens": c.input_tokens,
                    "output_tokens": c.output_tokens,
                }
                for c in nodes[position + 1 : _subtree_end(nodes, position)]
                if c.kind == "llm"
            ]
            if subs:
                block["sub_calls"] = subs
            blocks.append(block)
    outputs = node.content.get("outputs")
    view: dict[str, Any] = {"code_blocks": blocks}
    if prompt is not None:
        view["prompt"] = prompt
    if response is not None:
        view["response"] = response
    if isinstance(outputs, Mapping) and "final_answer" in outputs:
        view["final_answer"] = outputs["final_answer"]
    node.content["iteration"] = view
