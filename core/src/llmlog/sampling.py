"""Tail sampling of whole traces: keep the traces that matter in full, the rest sampled or summed up.

A :class:`TailSampler` stands in front of one trace sink (a trace session's file, the OTLP
exporter), as the OpenTelemetry Collector's ``tail_sampling`` processor stands in front of an
exporter. It holds the events of each *trace* until the trace's root span ends, then decides:

* **kept in full** when any rule of its :class:`SamplingOptions` matches (an error anywhere in
  it, its duration, a slow span by name, its cost or tokens, a span name, an attribute, a
  predicate registered in code with :func:`add_sampling_rule`), or when its id falls in the
  head-sampled ``ratio`` (deterministic: the trace id's low 64 bits, as OpenTelemetry's
  ``TraceIdRatioBased``, so every process and every sink agree);
* otherwise **not kept**: dropped, or written as one summary line (``not_kept = "summary"``).

A *trace* is a root span (a span start whose parent the sampler has not seen) and everything
under it. Outside a trace session that is exactly an OpenTelemetry trace (each root span has its
own trace id). A trace session has one trace id for its whole file; each root span in it (one
request of a service writing one session) is then sampled on its own, its head-sampling hash the
trace id's low bits XOR the root span id's, so every sink of the process still agrees.

Bounds: at most ``max_open_traces`` traces and ``max_bytes`` (estimated) held; past either, the
oldest are *decided early* by what is known so far (an error, a duration already past the
threshold, the head share): kept ones stream on, the others are dropped with a summary. Events
that arrive after their trace was decided (a child span ending after its root) follow the
decision. An event outside any span (a session line) passes straight through.

Every decision is counted: per sampler (:meth:`TailSampler.counts`), process-wide in
``llmlog.stats()["trace_sampling"]``, and, for a trace file, in its summary lines.

The sampler takes no lock of its own: its owner calls it from one thread at a time. Trace sessions
and the OTLP exporter feed theirs through a :class:`SamplerHandoff`: the application's thread only
appends each event to a queue, and the sampling worker thread holds, decides and writes (so the
application's thread never pays for a decision, a kept trace's writing or a summary line);
``flush()``, ``close()`` and exit decide what was handed over first.
"""

from __future__ import annotations

import fnmatch
import re
import threading
import time
import weakref
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from llmlog import state
from llmlog.dispatch import report_problem
from llmlog.interfaces import Output
from llmlog.records import LogEntry, TraceEvent, TraceEventType
from llmlog.severity import Severity

__all__ = [
    "FollowSampling",
    "SamplerHandoff",
    "SamplingOptions",
    "TailSampler",
    "TraceFacts",
    "add_sampling_rule",
    "counts",
    "head_sampled",
    "remove_sampling_rule",
]

if TYPE_CHECKING:
    from llmlog.traceconfig import SamplingOptions


def __getattr__(name: str) -> Any:
    # SamplingOptions lives with the [trace] table's options (its size type loads the
    # configuration machinery, which ``import llmlog`` must not): offered here too, on first use.
    if name == "SamplingOptions":
        from llmlog.traceconfig import SamplingOptions

        return SamplingOptions
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_SPAN = TraceEventType.SPAN
_SESSION = TraceEventType.SESSION
_ERROR = TraceEventType.ERROR
_LLM_CALL = TraceEventType.LLM_CALL
_TOOL_CALL = TraceEventType.TOOL_CALL
_MODULE = TraceEventType.MODULE


@attrs.define(kw_only=True)
class TraceFacts:
    """What is known of one trace when it is decided: what rules and summary lines read.

    ``events`` are the trace's events held so far (read-only); a predicate registered with
    :func:`add_sampling_rule` gets the whole object.
    """

    trace_id: str
    root_span_id: str
    #: The root span's name.
    name: str = ""
    #: The root span's duration; for a trace not yet ended, how long it has run so far.
    duration_ms: int = 0
    spans: int = 0
    llm_calls: int = 0
    total_tokens: int = 0
    #: Total cost in USD of the calls whose price is known (``None``: no known price).
    cost: float | None = None
    errors: int = 0
    #: Its root span has not ended (decided early, or flushed at close).
    unfinished: bool = False
    events: list[TraceEvent] = attrs.Factory(list)
    #: Each span's name and duration, for the slow-span rule.
    span_durations: list[tuple[str, int]] = attrs.Factory(list)

    @property
    def status(self) -> str:
        """``error``, ``unfinished`` or ``ok``."""
        return "error" if self.errors else "unfinished" if self.unfinished else "ok"

    def summary(self) -> dict[str, Any]:
        """The one-line summary written for a trace not kept."""
        line: dict[str, Any] = {
            "root_span_id": self.root_span_id,
            "root": self.name,
            "duration_ms": self.duration_ms,
            "status": self.status,
            "spans": self.spans,
            "llm_calls": self.llm_calls,
            "total_tokens": self.total_tokens,
        }
        if self.cost is not None:
            line["cost"] = self.cost
        return line


# -- predicates registered in code ------------------------------------------------------------------


def add_sampling_rule(name: str, predicate: Callable[[TraceFacts], bool]) -> None:
    """Keep every trace for which ``predicate(facts)`` is true, in every tail sampler (counted as
    ``kept_rule_<name>``). A predicate that raises is reported once and counts as false.
    Registering a name again replaces its predicate."""
    with state.sampling_lock:
        state.sampling_rules = {**state.sampling_rules, name: predicate}


def remove_sampling_rule(name: str) -> bool:
    """Forget the predicate ``name``; whether there was one."""
    with state.sampling_lock:
        rules = dict(state.sampling_rules)
        found = rules.pop(name, None) is not None
        state.sampling_rules = rules
    return found


def counts() -> dict[str, dict[str, int]]:
    """Every tail sampler's decisions so far, by sampler name, summed over samplers of the same
    name (``trace`` for trace files, ``otlp`` for the exporter): ``kept_<rule>``, ``kept``,
    ``sampled_out``, ``summarised``, ``decided_early``, ``unfinished``, ``late_kept``,
    ``late_dropped``, ``errors_after_drop``, ``passed_through`` (events of a span it never saw
    start), ``rule_<name>_failed``."""
    with state.sampling_lock:
        totals = {name: Counter(c) for name, c in state.sampling_counts.items()}
        live = list(state.sampling_live)
    for sampler in live:
        totals.setdefault(sampler.name, Counter()).update(_copy(sampler._counts))
    return {name: dict(c) for name, c in totals.items()}


def _copy(counter: Counter[str]) -> Counter[str]:
    # Read from another thread than the owner's: a new key added meanwhile makes the copy fail;
    # another try sees it.
    for _ in range(100):
        try:
            return Counter(dict(counter))
        except RuntimeError:
            continue
    return Counter()


def _retire(name: str, counter: Counter[str]) -> None:
    """A sampler closed or collected: its counts join the process-wide totals."""
    with state.sampling_lock:
        state.sampling_counts.setdefault(name, Counter()).update(counter)


def head_sampled(key: int, ratio: float) -> bool:
    """Whether a trace whose 64-bit key is ``key`` falls in the head-sampled ``ratio``
    (OpenTelemetry's ``TraceIdRatioBased``: the key below ``ratio`` × 2^64)."""
    return key < int(ratio * (1 << 64))


def _low64(hex_id: str) -> int:
    try:
        return int(hex_id[-16:], 16)
    except ValueError:  # an id not in hex (given by a caller): its hash, stable in a process
        return hash(hex_id) & 0xFFFF_FFFF_FFFF_FFFF


# -- the sampler ---------------------------------------------------------------------------------------

#: Estimated cost of holding one event besides its text (the event, its data dict and the
#: list slot, measured: bench/bench_sampling.py --mode memory).
EVENT_OVERHEAD = 330


#: The nested mappings whose texts count (user inputs and outputs); others (``usage``) hold
#: numbers, counted by their size alone.
_TEXT_MAPPINGS = frozenset({"inputs", "outputs", "locals", "input", "output"})


def _estimate(event: TraceEvent) -> int:
    encoded = event.encoded_data
    if encoded is not None:
        return EVENT_OVERHEAD + len(encoded)
    size = EVENT_OVERHEAD
    for key, value in event.data.items():
        kind = type(value)  # exact types first: an ABC check costs more than the rest
        if kind is str:
            size += len(value)
        elif kind is dict or (kind is not int and isinstance(value, Mapping)):
            size += 48 * len(value)
            if key in _TEXT_MAPPINGS:
                for inner in value.values():
                    if type(inner) is str:
                        size += len(inner)
        elif kind is list:  # chat messages: their contents
            size += 48 * len(value)
            for item in value:
                if type(item) is dict:
                    content = item.get("content")
                    if type(content) is str:
                        size += len(content)
        else:
            size += 16
    return size


class _Trace:
    """One trace being held."""

    __slots__ = ("events", "per_root", "root", "size", "spans", "started", "trace_id")

    def __init__(self, event: TraceEvent, per_root: bool) -> None:
        self.trace_id = event.trace_id
        self.root: str = event.span_id or ""
        #: Head-sampled by the trace id XOR the root span id (a root in a session).
        self.per_root = per_root
        self.events: list[TraceEvent] = []
        self.spans: list[str] = [self.root]
        self.size = 0
        self.started = event.time  # wall-clock ns, as the events'

    @property
    def key(self) -> int:
        """The 64-bit head-sampling key (computed only where a ratio asks for it)."""
        key = _low64(self.trace_id)
        return key ^ _low64(self.root) if self.per_root else key


def _patterns(globs: list[str] | Mapping[str, Any]) -> list[tuple[re.Pattern[str], Any]]:
    if isinstance(globs, Mapping):
        return [(re.compile(fnmatch.translate(p)), v) for p, v in globs.items()]
    return [(re.compile(fnmatch.translate(p)), None) for p in globs]


class TailSampler:
    """Holds each trace's events until its root span ends, then hands the kept ones to ``keep``
    (in order), and a summary of each not kept to ``summarise`` (when given and
    ``not_kept = "summary"``).

    :param options: the policy.
    :param keep: takes each event to pass on (of a kept trace, or outside any trace).
    :param summarise: takes ``(facts, outcome)`` for a trace not kept (``outcome``:
        ``sampled_out``, ``decided_early``, ``error_after_drop``) and for one flushed unfinished
        at :meth:`close`; ``None``: the sink writes no lines (OTLP).
    :param name: what its counts are filed under in ``llmlog.stats()``.
    :param one_trace_id: every event has one trace id (a trace session): each root span is a
        trace of its own, head-sampled by the trace id XOR the root span id.
    :param follow: log entries follow this sampler's decisions (outputs with
        ``follow_trace_sampling``): the spans it holds are published in ``llmlog.state`` and
        each decision announced (trace sessions' samplers do).

    Not thread-safe: the owner calls :meth:`offer` and :meth:`close` under its own lock.
    """

    def __init__(
        self,
        options: SamplingOptions,
        keep: Callable[[TraceEvent], None],
        summarise: Callable[[TraceFacts, str], None] | None = None,
        *,
        name: str = "trace",
        one_trace_id: bool = False,
        follow: bool = False,
    ) -> None:
        self.options = options
        self.name = name
        self._keep = keep
        self._summarise = summarise if options.not_kept == "summary" else None
        self._one_trace_id = one_trace_id
        #: Trace ids that carry a session line: their root spans are sampled one by one.
        # OrderedDicts where the oldest is taken: a plain dict whose front entries were deleted
        # makes finding its first entry a scan.
        self._sessions: OrderedDict[str, None] = OrderedDict()
        self._open: OrderedDict[str, _Trace] = OrderedDict()  # by root span id, oldest first
        self._span_trace: dict[str, _Trace] = {}
        #: Spans of decided traces: whether they were kept (late events follow), oldest first.
        self._decided: OrderedDict[str, bool] = OrderedDict()
        self._decided_limit = max(4 * options.max_open_traces, 65_536)
        self._bytes = 0
        self._max_open = options.max_open_traces
        self._max_bytes = options.max_bytes
        self._counts: Counter[str] = Counter()
        self._threshold = int(options.ratio * (1 << 64))
        self._slow = _patterns(options.slow_spans)
        self._names = _patterns(options.span_names)
        self._attribute_keys = [
            (k, re.compile(fnmatch.translate(v))) for k, v in options.attributes.items()
        ]
        self._closed = False
        self._follow = follow
        # The options read at every decision, as plain attributes.
        self._errors = options.errors
        self._min_duration = options.min_duration_ms
        # Counted here without a lock (the owner's lock orders the calls); llmlog.stats() reads
        # the live samplers, and a closed or collected one's counts join the totals.
        with state.sampling_lock:
            state.sampling_counts.setdefault(name, Counter())
            state.sampling_live.add(self)
        self._retired = weakref.finalize(self, _retire, name, self._counts)
        state.register_lifecycle(after_fork_in_child=_after_fork_in_child)

    # -- the application's path --------------------------------------------------------------

    def offer(self, event: TraceEvent) -> None:
        """Take one event: held with its trace, passed on, or dropped by an earlier decision."""
        span = event.span_id
        if span is None or self._closed:
            if event.type is _SESSION and not self._one_trace_id:
                self._note_session(event.trace_id)
            self._keep(event)
            return
        held = self._span_trace.get(span)
        if held is None:
            held = self._place(event, span)
            if held is None:
                return
        held.events.append(event)
        size = _estimate(event)
        held.size += size
        self._bytes += size
        if span == held.root and event.type is _SPAN and event.data.get("event") == "end":
            self._decide(held, finished=True)
        elif self._bytes > self._max_bytes:
            self._decide_oldest()

    def _place(self, event: TraceEvent, span: str) -> _Trace | None:
        """The trace of a span not seen yet: its parent's, a new one for a root, or ``None``
        when the event was handled by an earlier decision."""
        if event.type is _SPAN and event.data.get("event") == "start":
            parent = event.parent_id
            if parent is not None:
                held = self._span_trace.get(parent)
                if held is not None:
                    self._span_trace[span] = held
                    held.spans.append(span)
                    if self._follow and state.sampling_followers:
                        state.sampling_open_spans[span] = held.root
                    return held
                kept = self._decided.get(parent)
                if kept is not None:
                    self._remember(span, kept)
                    self._late(event, kept)
                    return None
            return self._new_trace(event, span)
        kept = self._decided.get(span)
        if kept is None:
            # A span that started before this sampler, or forgotten past every bound: not a
            # trace it holds; passed on, counted.
            self._count("passed_through")
            self._keep(event)
            return None
        self._late(event, kept)
        return None

    def _new_trace(self, event: TraceEvent, span: str) -> _Trace:
        per_root = self._one_trace_id or event.trace_id in self._sessions
        held = self._open[span] = self._span_trace[span] = _Trace(event, per_root)
        if self._follow and state.sampling_followers:
            state.sampling_open_spans[span] = span
        if len(self._open) > self._max_open:
            self._decide_oldest()
        return held

    def _note_session(self, trace_id: str) -> None:
        sessions = self._sessions
        sessions[trace_id] = None
        if len(sessions) > 4096:
            sessions.popitem(last=False)

    def _late(self, event: TraceEvent, kept: bool) -> None:
        if kept:
            self._count("late_kept")
            self._keep(event)
            return
        self._count("late_dropped")
        if self._is_error(event):
            # A trace dropped early that failed afterwards: never silently.
            self._count("errors_after_drop")
            if self._summarise is not None:
                facts = TraceFacts(
                    trace_id=event.trace_id, root_span_id=event.span_id or "", errors=1
                )
                facts.events = [event]
                self._summary(facts, "error_after_drop")

    @staticmethod
    def _is_error(event: TraceEvent) -> bool:
        kind = event.type
        if kind is _ERROR:
            return True
        data = event.data
        if kind is _SPAN:
            return data.get("event") == "end" and data.get("error") is not None
        if kind is _TOOL_CALL or kind is _MODULE:
            return data.get("success") is False or data.get("error") is not None
        return False

    # -- deciding ----------------------------------------------------------------------------

    def _decide_oldest(self) -> None:
        while self._open and (len(self._open) > self._max_open or self._bytes > self._max_bytes):
            oldest = self._open[next(iter(self._open))]
            self._decide(oldest, finished=False, early=True)

    def _decide(self, held: _Trace, *, finished: bool, early: bool = False) -> None:
        del self._open[held.root]
        span_trace = self._span_trace
        for span in held.spans:
            span_trace.pop(span, None)
        self._bytes -= held.size
        facts = self._facts(held, finished)
        reason = self._reason(facts, held)
        if not finished and not early:  # flushed at close: kept, marked unfinished
            reason = reason or "unfinished"
        kept = reason is not None
        if early:
            self._count("decided_early")
        # Late events (a child ending after its root, an early decision's rest) follow it: only
        # spans that had not ended can have any.
        if not finished or facts.spans != len(facts.span_durations):
            for span in held.spans:
                self._remember(span, kept)
        if self._follow and state.sampling_followers:
            open_spans = state.sampling_open_spans
            for span in held.spans:
                open_spans.pop(span, None)
            for follower in state.sampling_followers:
                follower.decided(held.root, kept)
        if kept:
            self._count("kept", f"kept_{reason}")
            keep = self._keep
            for event in held.events:
                keep(event)
            if not finished and not early:
                self._count("unfinished")
                if self._summarise is not None:
                    self._summary(facts, "unfinished")
            return
        if self._summarise is None:
            self._count("sampled_out")
        else:
            self._count("sampled_out", "summarised")
            self._summarise(facts, "decided_early" if early else "sampled_out")

    def _remember(self, span: str, kept: bool) -> None:
        decided = self._decided
        decided[span] = kept
        if len(decided) > self._decided_limit:
            decided.popitem(last=False)

    def _summary(self, facts: TraceFacts, outcome: str) -> None:
        assert self._summarise is not None
        self._count("summarised")
        self._summarise(facts, outcome)

    def _facts(self, held: _Trace, finished: bool) -> TraceFacts:
        # One pass over the trace's events, in locals (this runs once per trace, on the thread
        # that ended its root).
        names: dict[str, str] = {}
        durations: list[tuple[str, int]] = []
        cost: float | None = None
        spans = calls = tokens = errors = 0
        for event in held.events:
            kind = event.type
            data = event.data
            if kind is _SPAN:
                if data.get("event") == "start":
                    spans += 1
                    names[event.span_id or ""] = str(data.get("operation", ""))
                    continue
                duration = data.get("duration_ms", 0)
                durations.append(
                    (names.get(event.span_id or "", ""), duration if type(duration) is int else 0)
                )
                if data.get("error") is not None:
                    errors += 1
            elif kind is _LLM_CALL:
                calls += 1
                usage = data.get("usage")
                if type(usage) is dict or isinstance(usage, Mapping):
                    used = usage.get("total_tokens", 0)
                    tokens += used if type(used) is int else 0
                    price = usage.get("cost")
                    if isinstance(price, int | float):
                        cost = (cost or 0.0) + float(price)
            elif kind is _ERROR or (
                (kind is _TOOL_CALL or kind is _MODULE)
                and (data.get("success") is False or data.get("error") is not None)
            ):
                errors += 1
        if finished:  # the last event is the root's end
            duration = held.events[-1].data.get("duration_ms", 0)
            took = duration if type(duration) is int else 0
        else:
            took = max(0, time.time_ns() - held.started) // 1_000_000
        return TraceFacts(
            trace_id=held.trace_id,
            root_span_id=held.root,
            name=names.get(held.root, ""),
            duration_ms=took,
            spans=spans,
            llm_calls=calls,
            total_tokens=tokens,
            cost=cost,
            errors=errors,
            unfinished=not finished,
            events=held.events,
            span_durations=durations,
        )

    def _reason(self, facts: TraceFacts, held: _Trace) -> str | None:
        """The first rule that keeps the trace, or ``None``."""
        if self._errors and facts.errors:
            return "error"
        options = self.options
        if self._min_duration and facts.duration_ms >= self._min_duration:
            return "duration"
        if self._slow:
            durations = list(facts.span_durations)
            if facts.unfinished:  # the root so far counts too
                durations.append((facts.name, facts.duration_ms))
            for name, duration in durations:
                for pattern, limit in self._slow:
                    if duration >= limit and pattern.match(name):
                        return "slow_span"
        if options.min_cost and facts.cost is not None and facts.cost >= options.min_cost:
            return "cost"
        if options.min_tokens and facts.total_tokens >= options.min_tokens:
            return "tokens"
        if self._names and self._span_name_matches(facts):
            return "span_name"
        if self._attribute_keys and self._attribute_matches(facts):
            return "attribute"
        rules = state.sampling_rules
        for name, predicate in rules.items() if rules else ():
            try:
                if predicate(facts):
                    return f"rule_{name}"
            except Exception as exc:
                self._count(f"rule_{name}_failed")
                if self._counts[f"rule_{name}_failed"] == 1:
                    report_problem(
                        f"the sampling rule {name!r} failed (reported once): "
                        f"{type(exc).__name__}: {exc}"
                    )
        if self._threshold and held.key < self._threshold:
            return "ratio"
        return None

    def _span_name_matches(self, facts: TraceFacts) -> bool:
        for event in facts.events:
            if event.type is _SPAN and event.data.get("event") == "start":
                name = str(event.data.get("operation", ""))
                if any(pattern.match(name) for pattern, _ in self._names):
                    return True
        return False

    def _attribute_matches(self, facts: TraceFacts) -> bool:
        for event in facts.events:
            data = event.data
            places = [data]
            for nested in ("inputs", "outputs"):
                inner = data.get(nested)
                if isinstance(inner, Mapping):
                    places.append(inner)
            for key, pattern in self._attribute_keys:
                for place in places:
                    if key in place and pattern.match(str(place[key])):
                        return True
        return False

    def _count(self, what: str, also: str | None = None) -> None:
        counts = self._counts
        counts[what] = counts.get(what, 0) + 1
        if also is not None:
            counts[also] = counts.get(also, 0) + 1

    # -- the owner's lifecycle ---------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """This sampler's decisions so far (see :func:`counts`)."""
        return dict(self._counts)

    @property
    def open_traces(self) -> int:
        """Traces held now."""
        return len(self._open)

    @property
    def held_bytes(self) -> int:
        """Bytes held now (the estimate the bound uses)."""
        return self._bytes

    def close(self) -> None:
        """Flush every trace still held, kept in full and marked unfinished (a crashed task, a
        process exiting); later events pass straight through. Idempotent."""
        if self._closed:
            return
        while self._open:
            self._decide(self._open[next(iter(self._open))], finished=False)
        self._closed = True
        with state.sampling_lock:
            state.sampling_live.discard(self)
        self._retired()  # the counts join the totals (once)


# -- deciding off the application's thread ------------------------------------------------------

#: Events a hand-off holds before it wakes the sampling worker.
HANDOFF_BATCH = 256
#: Events a hand-off holds at most: past it the application's thread decides itself (the worker
#: fell behind), so what waits stays bounded.
HANDOFF_LIMIT = 4096
#: Seconds an event may wait for the worker when fewer than a batch are waiting.
HANDOFF_INTERVAL = 0.2


class SamplerHandoff:
    """Takes a :class:`TailSampler`'s events from the application's threads and has the sampling
    worker thread offer them, in order: the application's thread only appends the event to a
    queue; holding it with its trace, deciding the trace when its root ends, and writing a kept
    trace (or the summary line of one not kept) happen on the worker.

    Every call into the sampler (and so into its sink) is made under the hand-off's lock, by the
    worker, by :meth:`drain` (a sink's ``flush``, ``close``), or by the application's thread when
    ``HANDOFF_LIMIT`` events wait (the worker fell behind). While an output follows the trace
    files' decisions (``follow_trace_sampling``) a following sampler decides on the application's
    thread, as it comes: an entry logged inside a span must find the span held.

    :param sampler: the sampler to feed.
    :param failed: takes an exception raised by the sampler or its sink (reported and counted
        by the owner); the other events go on.
    :param flush: the sink's flush, called after draining at ``llmlog.flush()``.
    """

    __slots__ = (
        "__weakref__",
        "_closed",
        "_failed",
        "_flush",
        "_follow",
        "_lock",
        "_owner",
        "_pending",
        "sampler",
    )

    def __init__(
        self,
        sampler: TailSampler,
        failed: Callable[[Exception], None],
        flush: Callable[[], None] | None = None,
    ) -> None:
        self.sampler = sampler
        self._failed = failed
        self._flush = flush
        self._closed = False
        self._follow = sampler._follow
        self._pending: deque[TraceEvent] = deque()
        self._lock = threading.Lock()
        #: The thread draining now: a drain it starts from inside (a rule that logs a FATAL
        #: entry, which flushes everything) returns at once instead of waiting for itself.
        self._owner: int | None = None
        with state.sampling_lock:
            state.sampling_handoffs.add(self)
        state.register_lifecycle(flush=_drain_all, after_fork_in_child=_after_fork_in_child)
        state.sampling_wake.set()  # an idle worker waits for a first hand-off without a timeout

    def put(self, event: TraceEvent) -> None:
        """Hand ``event`` over (the application's thread): an append, and a wake-up per batch."""
        pending = self._pending
        pending.append(event)
        if self._follow and state.sampling_followers:
            self.drain()
            return
        waiting = len(pending)
        if waiting == HANDOFF_BATCH:
            state.sampling_wake.set()
        elif waiting >= HANDOFF_LIMIT:
            self.drain()
        elif waiting == 1 and state.sampling_worker is None and not _start_worker():
            self.drain()  # no thread to be had (the interpreter exiting): decided here

    def drain(self, then: Callable[[], None] | None = None) -> None:
        """Offer every event waiting, on this thread, then call ``then`` (a sink's flush or
        close) under the same lock; never raises: a failure goes to ``failed``."""
        me = threading.get_ident()
        if self._owner == me:
            return
        with self._lock:
            self._owner = me
            try:
                if self._closed:  # closed meanwhile, its sink too: what came since goes nowhere
                    self._pending.clear()
                    return
                pending = self._pending
                offer = self.sampler.offer
                while pending:
                    event = pending.popleft()
                    try:
                        offer(event)
                    except Exception as exc:
                        self._failed(exc)
                if then is not None:
                    try:
                        then()
                    except Exception as exc:
                        self._failed(exc)
            finally:
                self._owner = None

    @property
    def waiting(self) -> int:
        """Events handed over and not yet offered."""
        return len(self._pending)

    def close(self, then: Callable[[], None] | None = None) -> None:
        """Offer what waits, close the sampler (its open traces flushed, marked unfinished), then
        call ``then`` under the lock; the worker forgets this hand-off."""
        with state.sampling_lock:
            state.sampling_handoffs.discard(self)

        def closing() -> None:
            self._closed = True
            self.sampler.close()
            if then is not None:
                then()

        self.drain(closing)


def _start_worker() -> bool:
    """Start the sampling worker if none runs; whether one runs."""
    with state.sampling_lock:
        if state.sampling_worker is None:
            worker = threading.Thread(target=_work, name="llmlog-sampling", daemon=True)
            try:
                worker.start()
            except RuntimeError:  # the interpreter is exiting
                return False
            state.sampling_worker = worker
    return True


def _work() -> None:
    """The sampling worker: decides the traces handed over, a batch at a time or every
    ``HANDOFF_INTERVAL``. Never ends (a daemon thread; sessions are closed at exit, which
    drains them on the exiting thread)."""
    failures = 0
    while True:
        wake = state.sampling_wake
        wake.wait(HANDOFF_INTERVAL if state.sampling_handoffs else None)
        wake.clear()
        try:
            with state.sampling_lock:
                handoffs = list(state.sampling_handoffs)
            for handoff in handoffs:
                if handoff._pending:
                    handoff.drain()
        except Exception as exc:  # drain reports its own; this is the worker's own failure
            failures += 1
            if failures == 1:
                report_problem(f"the sampling worker failed (reported once): {exc!r}")


def _drain_all() -> None:
    """``llmlog.flush()``: every event handed over is offered (traces whose root ended are
    decided and written)."""
    with state.sampling_lock:
        handoffs = list(state.sampling_handoffs)
    for handoff in handoffs:
        handoff.drain(handoff._flush)


def _after_fork_in_child() -> None:
    state.sampling_lock = threading.Lock()
    for follower in state.sampling_followers:
        follower._lock = threading.Lock()
    # The worker did not come along; a lock it held stays held: fresh ones.
    state.sampling_worker = None
    state.sampling_wake = threading.Event()
    for handoff in list(state.sampling_handoffs):
        handoff._lock = threading.Lock()


# -- log entries following their trace's decision -------------------------------------------------


class FollowSampling(Output):
    """An output whose entries follow their trace's tail-sampling decision
    (``[outputs.NAME] follow_trace_sampling = true``).

    An entry whose span belongs to a trace a trace session's sampler holds now waits with that
    trace, and is written when the trace is kept, or dropped (counted) when it is not; any other
    entry (outside a span, of a span no sampler holds, of a trace already decided) is written at
    once. Entries at ``ERROR`` and above are always written at once: an error is never hidden by
    sampling.

    Bounded: at most ``max_entries`` entries wait (10,000 by default); past that the oldest
    trace's entries are written early (counted ``released_early``). At :meth:`flush` nothing is
    released (the traces are undecided); at :meth:`close` every waiting entry is written.

    :param output: the configured output, which writes what is released.
    """

    def __init__(self, output: Output, max_entries: int = 10_000) -> None:
        self.output = output
        self.level = output.level
        self.name = output.name
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._held: dict[str, list[LogEntry]] = {}
        self._count = 0
        self._inner_write = output.write
        self.counters: Counter[str] = Counter()
        with state.sampling_lock:
            state.sampling_followers = (*state.sampling_followers, self)
        state.register_lifecycle(after_fork_in_child=_after_fork_in_child)

    def write(self, entry: LogEntry) -> None:
        span = entry.span_id
        if span is not None and entry.severity < _ERROR_SEVERITY:
            lock = self._lock
            lock.acquire()
            try:
                root = state.sampling_open_spans.get(span)
                if root is not None:
                    held = self._held.get(root)
                    if held is None:
                        held = self._held[root] = []
                    held.append(entry)
                    self._count += 1
                    if self._count > self.max_entries:
                        released = self._held.pop(next(iter(self._held)))
                        self._count -= len(released)
                        self.counters["released_early"] += len(released)
                    else:
                        return
                else:
                    released = None
            finally:
                lock.release()
            if released is not None:
                for early in released:
                    self._inner_write(early)
                return
        self._inner_write(entry)

    def decided(self, root: str, kept: bool) -> None:
        """The sampler decided the trace whose root span is ``root``: its entries are written
        (``kept``) or dropped."""
        with self._lock:
            held = self._held.pop(root, None)
            if held is None:
                return
            self._count -= len(held)
        if not kept:
            self.counters["dropped"] += len(held)
            return
        self.counters["released"] += len(held)
        for entry in held:
            try:
                self._inner_write(entry)
            except Exception as exc:  # the sampler's caller is the application's thread
                self.counters["failed"] += 1
                if self.counters["failed"] == 1:
                    report_problem(
                        f"the output {self.name!r} failed (reported once): "
                        f"{type(exc).__name__}: {exc}"
                    )

    @property
    def waiting(self) -> int:
        """Entries waiting for their trace's decision now."""
        return self._count

    def flush(self) -> None:
        self.output.flush()

    def close(self) -> None:
        """Write every waiting entry (their traces will not be decided in time), then close."""
        with state.sampling_lock:
            state.sampling_followers = tuple(f for f in state.sampling_followers if f is not self)
        with self._lock:
            held, self._held, self._count = self._held, {}, 0
        for entries in held.values():
            self.counters["released_at_close"] += len(entries)
            for entry in entries:
                self._inner_write(entry)
        self.output.close()

    def stats(self) -> dict[str, int]:
        return {**self.output.stats(), **{f"sampling_{k}": v for k, v in self.counters.items()}}

    def __getattr__(self, name: str) -> Any:
        # What else the core or a test reads of the output (its path, its stream).
        if name == "output":
            raise AttributeError(name)
        return getattr(self.output, name)


_ERROR_SEVERITY = Severity.ERROR
