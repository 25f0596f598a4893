"""Trace sessions and spans: dspy-go's ``TraceSession`` in Python idiom.

A :class:`TraceSession` writes :class:`~llmlog.TraceEvent` records through a trace format (a plugin
registered with ``llmlog_register_trace_formats``; ``dspy`` writes dspy-go's JSONL). Its ``emit_*``
methods mirror dspy-go's ``EmitSpanStart``, ``EmitLLMCall`` and the rest.

On top of it, :func:`span` and :func:`traced` give Python code nested spans whose parents come from
the current context, so threads given the context (``llmlog.bind_current``) and asyncio tasks keep a
correct tree; dspy-go's interceptor always sent an empty parent. Inside a span, log entries carry its
trace id and span id.

Every event goes through one fan-out (:mod:`llmlog.tracesinks`, in the shape of OpenTelemetry's
span processors): to each :class:`~llmlog.interfaces.TraceSink` added there (the flight recorder,
the OTLP exporter, yours), then to the session itself, the sink that writes its file. Spans
work without a session too: ids in the context, events to the added sinks only.
"""

from __future__ import annotations

import functools
import inspect
import os
import random
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import attrs

from llmlog import state as _state
from llmlog import tracesinks as _fanout
from llmlog.budgets import charge
from llmlog.context import _Change, get_current
from llmlog.dispatch import report_problem
from llmlog.flight.annotations import current_task
from llmlog.interfaces import BuildContext, TraceSink
from llmlog.numbers import MAX_SAFE_INT, as_cost, as_count, as_seconds
from llmlog.pricing import REPLAYED, price_usage
from llmlog.records import Moment, TokenUsage, TraceEvent, TraceEventType
from llmlog.render import rfc3339_nano
from llmlog.sampling import SamplerHandoff, TailSampler, TraceFacts
from llmlog.sanitize import Sanitizer
from llmlog.usage import DETAIL_FIELDS, detail_items, usage_from

__all__ = [
    "ModuleInfo",
    "Span",
    "TraceSession",
    "TraceWriter",
    "add_listener",
    "moment",
    "new_span_id",
    "new_trace_id",
    "new_trace_session",
    "record_llm_call",
    "remove_listener",
    "span",
    "start_trace_session",
    "traced",
    "tracing_interceptor",
    "usage_data",
]

if TYPE_CHECKING:
    from llmlog.traceconfig import SamplingOptions

F = TypeVar("F", bound=Callable[..., Any])


# Ids need to be unique, not secret: a PRNG seeded from the OS is a few times cheaper than
# secrets.token_hex, and it is reseeded in a forked child so parent and child never repeat ids.
_random = random.Random(secrets.randbits(128))
_bits = _random.getrandbits
os.register_at_fork(after_in_child=lambda: _random.seed(secrets.randbits(128)))


# Functions as sinks, kept here where tracing code has always found them.
add_listener = _fanout.add_listener
remove_listener = _fanout.remove_listener
_deliver = _fanout.deliver
_sink_failed = _fanout._failed
_drain_producers = _fanout.drain_producers

# The event types of the per-span emits as module constants (an enum member read through its
# class costs a lookup per event), and the clock.
_SPAN = TraceEventType.SPAN
_LLM_CALL = TraceEventType.LLM_CALL
_MODULE = TraceEventType.MODULE
_TOOL_CALL = TraceEventType.TOOL_CALL
_time_ns = time.time_ns
_get_ident = threading.get_ident


def moment() -> Moment:
    """Now and here, as a :class:`~llmlog.Moment`: what a producer that emits an event later
    (:func:`llmlog.tracesinks.add_producer`) keeps with what it took, and gives the session's
    ``emit_*`` as ``at=``, so the event carries the time, thread and task it happened at."""
    return Moment(_time_ns(), _get_ident(), current_task())


def new_trace_id() -> str:
    """32 lowercase hex characters (128 random bits), the W3C trace-id shape dspy-go uses."""
    return f"{_bits(128):032x}"


def new_span_id() -> str:
    """16 lowercase hex characters (64 random bits), the W3C span-id shape dspy-go's interceptor uses."""
    return f"{_bits(64):016x}"


def _flag(value: object) -> bool:
    """A ``success``/``recoverable`` argument as a bool; one whose truth cannot be told (a NumPy
    array, a signalling NaN) is ``False``, so the trace call still never raises."""
    if value is True or value is False:
        return value
    try:
        return bool(value)
    except Exception:
        return False


def usage_data(usage: Any) -> dict[str, Any]:
    """Token usage as an ``llm_call`` event's ``usage``: the three counts as safe integers
    (:func:`llmlog.numbers.as_count`), the detail counts (``cache_read_tokens``,
    ``cache_creation_tokens``, ``reasoning_tokens``, ``audio_tokens``, ``image_tokens``) when not
    zero, and the cost only when known and finite.

    ``usage`` is a :class:`~llmlog.TokenUsage`, or what a provider's SDK returns, as a mapping
    or an object, read by :func:`llmlog.usage.usage_from` (OpenAI's ``prompt_tokens`` with its
    ``*_tokens_details``, Anthropic's ``input_tokens`` with its cache counts, LiteLLM's, DSPy's);
    ``cost`` if it has one. A missing total is the sum of the other two. Readers that do not know
    the detail keys ignore them.
    """
    parsed = usage_from(usage)
    if isinstance(usage, TokenUsage):  # a caller's own object: its numbers made safe too
        prompt, completion, total = (
            parsed.prompt_tokens,
            parsed.completion_tokens,
            parsed.total_tokens,
        )
        # as_count's own first test inline (the counts are safe ints as a rule: usage_from's).
        data: dict[str, Any] = {
            "prompt_tokens": prompt
            if type(prompt) is int and 0 <= prompt <= MAX_SAFE_INT
            else as_count(prompt, "usage.prompt_tokens"),
            "completion_tokens": completion
            if type(completion) is int and 0 <= completion <= MAX_SAFE_INT
            else as_count(completion, "usage.completion_tokens"),
            "total_tokens": total
            if type(total) is int and 0 <= total <= MAX_SAFE_INT
            else as_count(total, "usage.total_tokens"),
        }
        for name, value in detail_items(parsed):
            data[name] = as_count(value, f"usage.{name}")
    else:
        data = {
            "prompt_tokens": parsed.prompt_tokens,
            "completion_tokens": parsed.completion_tokens,
            "total_tokens": parsed.total_tokens,
        }
        data.update(detail_items(parsed))
    known = as_cost(parsed.cost, "usage.cost")
    if known is not None:
        data["cost"] = known
    return data


def _sub_call_numbers(call: Mapping[str, Any]) -> dict[str, Any]:
    """A ``sub_llm_calls`` item with the numbers readers decode made safe (its other keys as
    given): token counts and ``latency_ms`` as integers, ``execution_time`` in seconds, a cost
    only when finite, also inside a nested ``usage``."""
    item = dict(call)
    for key in ("prompt_tokens", "completion_tokens", "total_tokens", "latency_ms", *DETAIL_FIELDS):
        if key in item:
            item[key] = as_count(item[key], f"sub_llm_calls.{key}")
    if "execution_time" in item:
        item["execution_time"] = as_seconds(item["execution_time"], "sub_llm_calls.execution_time")
    if "cost" in item:
        cost = as_cost(item["cost"], "sub_llm_calls.cost")
        if cost is None:
            del item["cost"]
        else:
            item["cost"] = cost
    usage = item.get("usage")
    if isinstance(usage, Mapping):
        # The mapping's other keys stay; a cost that is not a finite number goes.
        item["usage"] = {k: v for k, v in usage.items() if k != "cost"} | usage_data(usage)
    return item


def _llm_call_data(
    provider: str,
    model: str,
    prompt: str,
    response: str,
    usage: Any,
    latency_ms: object,
    messages: list[Mapping[str, Any]] | None,
    params: Mapping[str, Any] | None = None,
    replayed: bool = False,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "provider": provider,
        "model": model,
        "prompt": prompt,
        "response": response,
        "latency_ms": as_count(latency_ms, "latency_ms"),
    }
    if messages is not None:
        data["messages"] = messages
    if params:
        data["params"] = dict(params)
    if replayed:
        data["replayed"] = True
    if usage is not None:
        replaced = _state.number_adjustments.total()
        data["usage"] = priced = usage_data(usage)
        if replayed:
            # A replayed call costs what the recorded one cost: no table prices it again.
            if "cost" in priced:
                priced["cost_source"] = REPLAYED
            else:
                priced["cost_unknown"] = "unknown when recorded"
            return data
        # a count replaced on the way (NaN, negative, past 2^53) gives no price, not a wrong one
        price_usage(
            priced, provider, model, countable=_state.number_adjustments.total() == replaced
        )
    return data


#: The chat roles a prompt joined from messages may name (plain words, no digits: see
#: ``TraceSession._clean_joined_prompt``).
_ROLES = frozenset({"system", "user", "assistant", "tool", "developer", "function"})


def _joined(messages: Iterable[Any]) -> str | None:
    """The messages as one prompt, ``role: content`` joined by blank lines, when each is a
    mapping with a known role and a string content; ``None`` otherwise."""
    parts = []
    for message in messages:
        if not (type(message) is dict or isinstance(message, Mapping)):
            return None
        role = message.get("role", "user")
        content = message.get("content")
        if type(role) is not str or role not in _ROLES or type(content) is not str:
            return None
        parts.append(f"{role}: {content}")  # prompt_of in the DSPy integration, for str contents
    return "\n\n".join(parts)


class TraceWriter(Protocol):
    """What a trace format's factory returns: where a session's events go."""

    def write(self, event: TraceEvent) -> None:
        """Write one event."""

    def flush(self) -> None:
        """Push buffered events out."""

    def close(self) -> None:
        """Flush and close. Idempotent."""


def open_trace_writer(
    component: Any, options: Any, path: str | os.PathLike[str], config_path: Path | None = None
) -> TraceWriter:
    """Build ``component``'s (a trace format's) writer for the trace file or directory ``path``:
    ``factory(options, context)`` as every component kind is built, the path in
    ``context.path``."""
    writer: TraceWriter = component.factory(
        options, BuildContext(component.name, None, config_path, Path(path))
    )
    return writer


class TraceSession(TraceSink):
    """A trace: one trace id, events written in order through ``writer``.

    The session is the trace sink of its own events (:class:`~llmlog.interfaces.TraceSink`): each
    event goes to the sinks of the fan-out (:mod:`llmlog.tracesinks`), then to :meth:`on_event`,
    which writes it behind the session's lock, so events of threads sharing the session are
    written whole and in order.

    Use :func:`new_trace_session` or :func:`start_trace_session` to make one from a path and a
    format name. As a context manager it becomes the current session (``with_trace_session``) and is
    closed on exit.

    :param writer: where events go (from a trace format).
    :param trace_id: the trace id; a new random one by default.
    :param sanitizer: redaction and size caps applied to event data (secure defaults).
    :param content: ``False`` drops prompts, responses, inputs and outputs but keeps tokens, cost and
        latency (the "no content" mode).
    :param sampling: a tail-sampling policy (:mod:`llmlog.sampling`) in front of the writer: each
        root span's events are held until it ends, then written in full or left out (with a
        summary line); the decisions are counted in a summary line at :meth:`close`. ``None``
        or one not ``enabled``: every event is written.
    """

    def __init__(
        self,
        writer: TraceWriter,
        trace_id: str | None = None,
        *,
        sanitizer: Sanitizer | None = None,
        content: bool = True,
        sampling: SamplingOptions | None = None,
    ) -> None:
        self.writer = writer
        self.trace_id = trace_id or new_trace_id()
        self.name = f"trace session {self.trace_id}"
        self._sanitizer = sanitizer or Sanitizer()
        self._content = content
        self._lock = threading.Lock()
        self._closed = False
        self._context: _Change | None = None
        #: Events the writer failed to write (the first is reported).
        self.failures = 0
        # Per open span: its parent, and the LLM calls and tokens of its whole subtree, so a
        # module summary can roll up without counting a call twice.
        self._parents: dict[str, str | None] = {}
        self._rollup: dict[str, list[int]] = {}
        self.sampler: TailSampler | None = None
        #: The sampler's hand-off: the events wait there for the sampling worker, which decides
        #: and writes them off the application's thread.
        self._handoff: SamplerHandoff | None = None
        if sampling is not None and sampling.enabled:
            self.sampler = TailSampler(
                sampling,
                self._write,
                self._write_summary,
                name="trace",
                one_trace_id=True,
                follow=True,
            )
            self._handoff = SamplerHandoff(self.sampler, self._failed, self.writer.flush)
            # A session nobody closes still has its open traces written at exit.
            _state.sampled_sessions.add(self)
            _state.register_lifecycle(at_exit=_close_sampled_sessions)

    # -- writing ---------------------------------------------------------------------------------

    def _emit(
        self,
        type_: TraceEventType,
        span_id: str | None,
        data: dict[str, Any],
        parent_id: str | None = None,
        cleaned: bool = False,
        at: Moment | None = None,
    ) -> TraceEvent:
        if at is None:
            if _state.trace_producers:
                # Events a producer still holds happened before this one: they go first.
                _drain_producers()
            when = _time_ns()
        else:
            when = at.time
        event = TraceEvent(
            type_,
            when,
            self.trace_id,
            span_id,
            parent_id,
            data if cleaned else self._clean(data),
        )
        if at is not None:
            event.origin = at
        sinks = _state.trace_sinks
        if sinks:
            # tracesinks.deliver written out (a call less per event): each sink in order,
            # a failure counted and reported, never raised.
            for sink in sinks:
                try:
                    sink.on_event(event)
                except Exception as exc:
                    _sink_failed(sink, "", exc)
        # on_event written out (a call less per event): see there.
        lock = self._lock
        lock.acquire()
        try:
            if not self._closed:
                handoff = self._handoff
                if handoff is None:
                    self.writer.write(event)
                else:
                    handoff.put(event)
        except Exception as exc:  # a trace call never raises into the application
            self._failed(exc)
        finally:
            lock.release()
        return event

    def on_event(self, event: TraceEvent) -> None:
        """Write ``event`` through the writer (nothing after :meth:`close`); never raises: a
        failure is counted in ``failures`` and the first one reported. (:meth:`_emit` writes
        the same statements out: change both.)"""
        lock = self._lock
        lock.acquire()  # half the cost of ``with lock:``
        try:
            if not self._closed:
                handoff = self._handoff
                if handoff is None:
                    self.writer.write(event)
                else:
                    handoff.put(event)
        except Exception as exc:  # a trace call never raises into the application
            self._failed(exc)
        finally:
            lock.release()

    def _failed(self, exc: Exception) -> None:
        self.failures += 1
        if self.failures == 1:
            report_problem(f"{self.name}: writing failed: {type(exc).__name__}: {exc}")

    def _write(self, event: TraceEvent) -> None:
        """The sampler's way to the file (under its hand-off's lock, on the sampling worker's
        thread as a rule): one event that failed is counted, the others still written."""
        try:
            self.writer.write(event)
        except Exception as exc:
            self._failed(exc)

    def _write_summary(self, facts: TraceFacts, outcome: str) -> None:
        """A trace the sampler did not keep (or flushed unfinished), as one ``session`` line
        with a ``sampling`` key: every reader of the format takes the first session line as
        the session and passes over the others."""
        self._write_sampling_line({"sampling": outcome, **facts.summary()})

    def _write_sampling_line(self, data: dict[str, Any]) -> None:
        self._write(
            TraceEvent(TraceEventType.SESSION, time.time_ns(), self.trace_id, None, None, data)
        )

    _CONTENT_KEYS = frozenset(
        {
            "prompt",
            "messages",
            "final_answer",
            "response",
            "inputs",
            "outputs",
            "code",
            "stdout",
            "stderr",
            "locals",
            "input",
            "output",
            "tool_calls",
            "response_messages",
        }
    )

    @property
    def content(self) -> bool:
        """Whether the session keeps content (prompts, responses, inputs, outputs): ``False`` in
        the no-content mode."""
        return self._content

    @property
    def string_limit(self) -> int | None:
        """The longest string the session writes whole (the sanitizer's
        ``max_string_length``; ``None``: no cap): a component that accumulates text for the
        session (a streamed response) need keep no more."""
        return self._sanitizer.limit

    def _user_mapping(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Span inputs or outputs, cleaned on their own: the span events' hot path (the rest of
        their data is ours and needs no walk)."""
        if not self._content:
            return dict.fromkeys(values)
        cleaned = self._sanitizer.fields(values)
        # A copy when nothing changed: the caller may go on mutating its own dict.
        return cleaned if type(cleaned) is dict and cleaned is not values else dict(cleaned)

    def _clean(self, data: dict[str, Any]) -> dict[str, Any]:
        if not self._content:
            # Content goes; the names of inputs and outputs stay (they are structure: a trace
            # format may rely on them, as the rlm format spots code execution by an input "code").
            data = {
                k: (dict.fromkeys(v) if k in self._CONTENT_KEYS else v)
                for k, v in data.items()
                if k not in self._CONTENT_KEYS
                or (k in ("inputs", "outputs") and isinstance(v, Mapping))
            }
        cleaned = self._sanitizer.fields(data)
        return cleaned if isinstance(cleaned, dict) else dict(cleaned)

    # -- dspy-go's Emit* methods -----------------------------------------------------------------

    def emit_session(
        self, metadata: Mapping[str, Any] | None = None, start_ns: int | None = None
    ) -> None:
        """The ``session`` event (written once, when the session opens)."""
        data = {"start_time": rfc3339_nano(start_ns or time.time_ns()), **(metadata or {})}
        self._emit(TraceEventType.SESSION, None, data)

    def emit_span_start(
        self,
        span_id: str,
        parent_id: str | None,
        operation: str,
        inputs: Mapping[str, Any] | None = None,
        *,
        at: Moment | None = None,
    ) -> None:
        """``EmitSpanStart``: a span begins (``parent_id`` empty or ``None`` for a root).

        ``at``, here and in every ``emit_*``: the :class:`~llmlog.Moment` the event happened at,
        for a producer that emits it later (:func:`moment`); ``None``: now."""
        sanitizer = self._sanitizer
        # An operation name seen clean (the sanitizer's cache) is not cleaned again: the same few
        # names come back at every span.
        if type(operation) is not str or operation not in sanitizer._clean:
            operation = sanitizer.text(operation)
        data: dict[str, Any] = {"event": "start", "operation": operation}
        if inputs is not None:
            data["inputs"] = self._user_mapping(inputs)
        self._parents[span_id] = parent_id or None
        self._rollup[span_id] = [0, 0]
        self._emit(_SPAN, span_id, data, parent_id or None, cleaned=True, at=at)

    def emit_span_end(
        self,
        span_id: str,
        outputs: Mapping[str, Any] | None = None,
        error: BaseException | str | None = None,
        duration_ms: float = 0,
        evaluation: Mapping[str, Any] | None = None,
        *,
        at: Moment | None = None,
    ) -> None:
        """``EmitSpanEnd``: a span ends, with its outputs or error.

        ``evaluation``: an evaluation's result on this span (an example's metric value and
        pass/fail, an evaluation run's score and counts), written as the end's ``evaluation``
        key. Unlike ``outputs`` it is kept in the no-content mode (redaction and caps still
        apply): it must hold numbers, flags and names, never the program's content."""
        # as_count's own first test inline: a span's duration is a small int.
        duration = (
            duration_ms
            if type(duration_ms) is int and 0 <= duration_ms <= MAX_SAFE_INT
            else as_count(duration_ms, "duration_ms")
        )
        data: dict[str, Any] = {"event": "end", "duration_ms": duration}
        if outputs is not None:
            data["outputs"] = self._user_mapping(outputs)
        if error is not None:
            data["error"] = self._sanitizer.text(str(error))
        if evaluation is not None:
            data["evaluation"] = dict(self._sanitizer.fields(evaluation))
        self._emit(_SPAN, span_id, data, cleaned=True, at=at)
        self._parents.pop(span_id, None)
        self._rollup.pop(span_id, None)

    def subtree_usage(self, span_id: str) -> tuple[int, int]:
        """``(llm_calls, total_tokens)`` recorded so far in ``span_id`` and the spans under it."""
        calls, tokens = self._rollup.get(span_id, (0, 0))
        return calls, tokens

    def _add_usage(self, span_id: str, tokens: int) -> None:
        seen = 0
        current: str | None = span_id
        while current is not None and current in self._rollup and seen < 1000:
            entry = self._rollup[current]
            entry[0] += 1
            entry[1] += tokens
            current = self._parents.get(current)
            seen += 1

    def emit_llm_call(
        self,
        span_id: str,
        provider: str,
        model: str,
        prompt: str,
        response: str,
        usage: Any = None,
        latency_ms: float = 0,
        *,
        messages: list[Mapping[str, Any]] | None = None,
        params: Mapping[str, Any] | None = None,
        replayed: bool = False,
        extra: Mapping[str, Any] | None = None,
        at: Moment | None = None,
    ) -> None:
        """``EmitLLMCall``: one LLM call, with token usage and latency. An unknown cost stays absent.

        :param usage: a :class:`~llmlog.TokenUsage` or a provider's usage, as a mapping or an
            object (see :func:`usage_data`).
        :param messages: the chat messages, kept beside the text ``prompt`` (an extra key that
            dspy-go's readers ignore; the ``rlm`` format shows them as the conversation).
        :param params: the request parameters that change the answer (temperature, max_tokens,
            tools, response_format...), kept as ``params`` so that a replay
            (``llmlog-testing-replay``) can key the call on them; redacted as any data.
        :param replayed: the call was answered from a recorded trace, not by a model: written as
            ``replayed: true``, its cost (the recorded one) with ``cost_source = "replayed"``
            and never priced again.
        :param extra: more keys of the event, which readers that do not know them ignore (the SDK
            integrations' ``operation``, ``response_model``, ``finish_reason``, ``tool_calls``,
            ``time_to_first_token_ms``, ``stream``, ``error_type``, ``status_code``); a key of
            the event's own is never replaced. Redacted as any data; ``tool_calls`` and
            ``response_messages`` are content (left out in the no-content mode).

        Numbers are written as every reader decodes them (:mod:`llmlog.numbers`): a NaN, negative
        or non-numeric latency or token count becomes 0, one past ``2**53 - 1`` that, reported once.
        """
        data = _llm_call_data(
            provider, model, prompt, response, usage, latency_ms, messages, params, replayed
        )
        if extra:
            for key, value in extra.items():
                data.setdefault(str(key), value)
        self._add_usage(span_id, data["usage"]["total_tokens"] if "usage" in data else 0)
        if "usage" in data and (_state.budgets_active or _state.budget_blocks_open):
            charge(self.trace_id, data["usage"])
        if messages and type(prompt) is str and self._content and self._sanitizer.joins_clean:
            data = self._clean_joined_prompt(data, prompt, messages)
            self._emit(_LLM_CALL, span_id, data, cleaned=True, at=at)
            return
        self._emit(_LLM_CALL, span_id, data, at=at)

    def _clean_joined_prompt(
        self, data: dict[str, Any], prompt: str, messages: list[Mapping[str, Any]]
    ) -> dict[str, Any]:
        """``data`` cleaned, the prompt scanned only when it is not the messages joined as
        ``role: content`` (what the DSPy integration and the SDKs' chat calls write) or a message
        changed: the prompt is then the same text as the messages, and the scan of each message
        found it clean. A secret cannot straddle two messages: the built-in shapes hold no
        whitespace across the ``\\n\\nrole: `` between them (the roles are plain words without
        digits, none ending like a secret's name, so no ``role: value`` reads as an assignment),
        and a private key's block starts inside one message and is redacted there."""
        limit = self._sanitizer.limit
        if (limit is not None and len(prompt) > limit) or _joined(messages) != prompt:
            return self._clean(data)
        data["prompt"] = ""  # the walk spends one value on it, as on the prompt
        cleaned = self._clean(data)
        cleaned["prompt"] = (
            prompt if cleaned.get("messages") is messages else self._sanitizer.text(prompt)
        )
        return cleaned

    def emit_module(
        self,
        span_id: str,
        module_type: str,
        module_name: str,
        signature: str,
        inputs: Mapping[str, Any] | None,
        outputs: Mapping[str, Any] | None,
        duration_ms: float,
        llm_calls: int,
        total_tokens: int,
        success: bool,
        *,
        at: Moment | None = None,
    ) -> None:
        """``EmitModule``: a module run, summarised."""
        # as_count's first test inline for the three counts (small ints, a module per span).
        data: dict[str, Any] = {
            "module_type": module_type,
            "module_name": module_name,
            "signature": signature,
            "duration_ms": duration_ms
            if type(duration_ms) is int and 0 <= duration_ms <= MAX_SAFE_INT
            else as_count(duration_ms, "duration_ms"),
            "llm_calls": llm_calls
            if type(llm_calls) is int and 0 <= llm_calls <= MAX_SAFE_INT
            else as_count(llm_calls, "llm_calls"),
            "total_tokens": total_tokens
            if type(total_tokens) is int and 0 <= total_tokens <= MAX_SAFE_INT
            else as_count(total_tokens, "total_tokens"),
            "success": success if success is True or success is False else _flag(success),
        }
        if inputs is not None:
            data["inputs"] = dict(inputs)
        if outputs is not None:
            data["outputs"] = dict(outputs)
        self._emit(_MODULE, span_id, data, at=at)

    def emit_code_exec(
        self,
        span_id: str,
        iteration: int,
        code: str,
        stdout: str,
        stderr: str,
        locals_: Mapping[str, Any] | None = None,
        duration_ms: float = 0,
        sub_llm_calls: list[Mapping[str, Any]] | None = None,
        *,
        final_answer: Any = None,
        at: Moment | None = None,
    ) -> None:
        """``EmitCodeExec``: one code execution (an RLM REPL step).

        :param final_answer: what the code submitted as the run's answer, if it did (an extra key
            that dspy-go's readers ignore; the ``rlm`` format makes it the final answer).
        """
        data: dict[str, Any] = {
            "iteration": as_count(iteration, "iteration"),
            "code": code,
            "stdout": stdout,
            "stderr": stderr,
            "duration_ms": as_count(duration_ms, "duration_ms"),
        }
        if locals_ is not None:
            data["locals"] = dict(locals_)
        if sub_llm_calls is not None:
            data["sub_llm_calls"] = [_sub_call_numbers(c) for c in sub_llm_calls]
        if final_answer is not None:
            data["final_answer"] = final_answer
        self._emit(TraceEventType.CODE_EXEC, span_id, data, at=at)

    def emit_tool_call(
        self,
        span_id: str,
        tool_name: str,
        input: Any,
        output: Any,
        duration_ms: float = 0,
        success: bool = True,
        error: BaseException | str | None = None,
        *,
        at: Moment | None = None,
    ) -> None:
        """``EmitToolCall``: one tool call."""
        data: dict[str, Any] = {
            "tool_name": tool_name,
            "input": input,
            "output": output,
            "duration_ms": as_count(duration_ms, "duration_ms"),
            "success": _flag(success),
        }
        if error is not None:
            data["error"] = str(error)
        self._emit(_TOOL_CALL, span_id, data, at=at)

    def emit_error(
        self,
        span_id: str,
        error_type: str,
        message: str,
        recoverable: bool = False,
        *,
        at: Moment | None = None,
    ) -> None:
        """``EmitError``: an error in a span."""
        self._emit(
            TraceEventType.ERROR,
            span_id,
            {"error_type": error_type, "message": message, "recoverable": _flag(recoverable)},
            at=at,
        )

    @property
    def path(self) -> Path | None:
        """The file the session writes (``None`` for a writer that has no file)."""
        path = getattr(self.writer, "path", None)
        return Path(path) if path is not None else None

    def _repr_html_(self) -> str | None:
        """Jupyter's view of the session: its file's report, from the plugin that renders HTML
        (``llmlog-report-html``); ``None`` (the plain repr) when none is installed or the
        session has no file."""
        if self.path is None:
            return None
        from llmlog.notebook import NoRenderer, render_html

        try:
            return render_html(self)
        except (NoRenderer, ValueError, OSError):
            return None

    # -- lifecycle -------------------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> bool:
        """Push buffered events to the file (the writer's flush; ``timeout`` is not used). While
        sampling, the events handed to the sampling worker are decided first (on this thread):
        every trace whose root has ended is written or summed up. Events the producers hold
        (:func:`llmlog.tracesinks.add_producer`) are emitted first."""
        if _state.trace_producers:
            _drain_producers()
        with self._lock:
            if not self._closed:
                handoff = self._handoff
                if handoff is None:
                    self.writer.flush()
                else:
                    handoff.drain(self.writer.flush)
        return True

    def close(self) -> None:
        """Flush and close (idempotent); events the producers hold are emitted first."""
        if _state.trace_producers and not self._closed:
            _drain_producers()
        with self._lock:
            if self._closed:
                return
            sampler, handoff = self.sampler, self._handoff
            if sampler is not None and handoff is not None:
                # The events handed over are decided first, then the traces still open flushed
                # (marked unfinished), then the counts: on this thread, under the hand-off's lock.
                handoff.close(
                    lambda: self._write_sampling_line({"sampling": "counts", **sampler.counts()})
                )
            self._closed = True
            try:
                self.writer.close()
            except Exception as exc:
                report_problem(f"{self.name}: closing failed: {exc}")

    def shutdown(self) -> None:
        """:meth:`close` (as a trace sink)."""
        self.close()

    def __enter__(self) -> TraceSession:
        from llmlog.context import with_trace_session

        self._context = with_trace_session(self)
        self._context.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._context is not None:
            self._context.__exit__(exc_type, exc, tb)
            self._context = None
        self.close()


def _close_sampled_sessions() -> None:
    """At exit: close every trace session that samples and is still open, so the traces it
    holds are written (marked unfinished) with its counts line."""
    for session in list(_state.sampled_sessions):
        session.close()


def _session_defaults() -> tuple[Any, Any, Sanitizer, Path | None]:
    """The configured ``[trace]`` table, format spec, sanitizer and config file (configuring
    llmlog from the usual places first if nothing has yet)."""
    from llmlog.traceconfig import TraceOptions

    _state.dispatcher.ensure_configured()
    config = _state.configuration
    if config is None:
        return TraceOptions(), None, Sanitizer(), None
    sanitizer = Sanitizer.from_settings(config.settings)
    trace = config.table("trace")
    if trace is None:  # a configuration built without the built-in plugins
        return TraceOptions(), None, sanitizer, config.source.path
    return trace.options, trace.component, sanitizer, config.source.path


#: The trace formats of ``llmlog[standard]`` and the distribution that brings each.
STANDARD_FORMATS = {"dspy": "llmlog-trace-dspy", "rlm": "llmlog-trace-rlm"}


def unknown_format_message(name: str, installed: Iterable[str]) -> str:
    """What to say when no trace format ``name`` is loaded: what is, and what to install (or,
    for an installed distribution whose plugin did not load, where to look)."""
    from importlib.metadata import PackageNotFoundError, distribution

    known = ", ".join(sorted(installed)) or "none"
    message = f"unknown trace format {name!r} (installed: {known})"
    package = STANDARD_FORMATS.get(name)
    if package is None:
        return f"{message}; trace formats come from plugins: `llmlog plugins` lists them"
    try:
        distribution(package)
    except PackageNotFoundError:
        return f"{message}; install {package} (pip install {package}, or llmlog[standard])"
    return (
        f"{message}; {package} is installed but its plugin is not loaded (disabled, or it failed "
        f"to import): `llmlog plugins` says why"
    )


def _open_session(
    path: str | os.PathLike[str] | None,
    format: str | None,
    content: bool | None,
    options: Mapping[str, Any],
    trace_id: str | None,
    metadata: Mapping[str, Any] | None,
    sampling: SamplingOptions | None = None,
) -> TraceSession:
    from llmlog.config.paths import config_relative
    from llmlog.plugins import PluginHost
    from llmlog.registry import ComponentKind
    from llmlog.safefiles import make_private_dirs  # here: `import llmlog` loads no file code
    from llmlog.traceconfig import default_trace_dir

    trace, spec, sanitizer, config_path = _session_defaults()
    factory_options: Any = None
    if format is None and spec is not None:
        component = spec.component
        factory_options = spec.options
        if options and factory_options is not None:
            factory_options = attrs.evolve(factory_options, **options)
    else:
        host = _state.plugin_host if _state.plugin_host is not None else PluginHost()
        formats = host.components(ComponentKind.TRACE_FORMAT)
        name = format or "dspy"
        found = formats.get(name)
        if found is None:
            raise ValueError(unknown_format_message(name, formats))
        component = found
        if component.options is not None:
            factory_options = component.options(**options)
    if path is None:
        directory = config_relative(trace.dir, config_path, default_trace_dir())
        make_private_dirs(directory)
        path = directory
    writer = open_trace_writer(component, factory_options, path, config_path)
    session = TraceSession(
        writer,
        trace_id,
        sanitizer=sanitizer,
        content=trace.content if content is None else content,
        sampling=trace.sampling if sampling is None else sampling,
    )
    session.emit_session(metadata)
    return session


def new_trace_session(
    path: str | os.PathLike[str] | None = None,
    *,
    format: str | None = None,
    content: bool | None = None,
    sampling: SamplingOptions | None = None,
    **options: Any,
) -> TraceSession:
    """``NewTraceSession``: open a trace file and write the session event.

    With no arguments it follows the ``[trace]`` table of ``llmlog.toml``: its ``format``
    (``dspy`` by default) and a new timestamped file in its ``dir``; so swapping ``format = "rlm"``
    there changes what every session writes, with no code change.

    :param path: the trace file, or a directory to create a new file in.
    :param format: a trace format name, overriding ``[trace] format``.
    :param content: ``False`` drops prompts, responses, inputs and outputs (default from
        ``[trace] content``).
    :param sampling: a tail-sampling policy for the file, overriding ``[trace.sampling]``
        (:class:`llmlog.sampling.SamplingOptions`; ``SamplingOptions()`` turns it off).
    :param options: the format's options (for ``dspy``: ``buffer_size``, ``max_bytes``,
        ``max_files``, ``mode``...), overriding those of ``[trace] format``.
    """
    return _open_session(path, format, content, options, None, None, sampling)


def start_trace_session(
    path: str | os.PathLike[str] | None = None,
    metadata: Mapping[str, Any] | None = None,
    *,
    format: str | None = None,
    content: bool | None = None,
    sampling: SamplingOptions | None = None,
    **options: Any,
) -> TraceSession:
    """``StartTraceSession``: like :func:`new_trace_session`, reusing the context's trace id if any
    and merging ``metadata`` into the session event (for ``rlm``: ``root_model``,
    ``max_iterations``, ``backend``, ``context``, ``query``...)."""
    return _open_session(path, format, content, options, get_current().trace_id, metadata, sampling)


class Span:
    """An open span; what ``with span(...) as s`` gives. Set outputs with :meth:`set_outputs`."""

    __slots__ = (
        "_context",
        "_start",
        "error",
        "name",
        "outputs",
        "parent_id",
        "session",
        "span_id",
        "trace_id",
    )

    def __init__(self, name: str, inputs: Mapping[str, Any] | None) -> None:
        ctx = get_current()
        self.name = name
        self.session = ctx.session
        self.trace_id = ctx.trace_id or new_trace_id()
        self.parent_id = ctx.span_id
        self.span_id = new_span_id()
        self.outputs: dict[str, Any] | None = None
        self.error: BaseException | None = None
        self._start = time.perf_counter_ns()
        self._context = _Change({"span_id": self.span_id, "trace_id": self.trace_id})
        self._begin(inputs)

    def _begin(self, inputs: Mapping[str, Any] | None) -> None:
        if isinstance(self.session, TraceSession):
            self.session.emit_span_start(self.span_id, self.parent_id, self.name, inputs)
        elif _state.trace_sinks:
            data: dict[str, Any] = {"event": "start", "operation": self.name}
            if inputs is not None:
                data["inputs"] = dict(inputs)
            _without_session(
                TraceEvent(
                    TraceEventType.SPAN,
                    time.time_ns(),
                    self.trace_id,
                    self.span_id,
                    self.parent_id,
                    data,
                )
            )

    def set_outputs(self, **outputs: Any) -> None:
        """Record the span's outputs (written with its end)."""
        self.outputs = {**(self.outputs or {}), **outputs}

    def end(self) -> None:
        """End the span (the ``with`` block does this)."""
        duration_ms = (time.perf_counter_ns() - self._start) // 1_000_000
        if isinstance(self.session, TraceSession):
            self.session.emit_span_end(self.span_id, self.outputs, self.error, duration_ms)
        elif _state.trace_sinks:
            data: dict[str, Any] = {"event": "end", "duration_ms": duration_ms}
            if self.outputs is not None:
                data["outputs"] = self.outputs
            if self.error is not None:
                data["error"] = str(self.error)
            _without_session(
                TraceEvent(
                    TraceEventType.SPAN, time.time_ns(), self.trace_id, self.span_id, None, data
                )
            )

    def llm_call(
        self,
        *,
        model: str | None = None,
        prompt: Any = "",
        response: Any = "",
        usage: Any = None,
        latency_ms: float | None = None,
        provider: str = "",
        messages: list[Mapping[str, Any]] | None = None,
    ) -> None:
        """Record one LLM call made in this span (an ``llm_call`` event; ``llmlog view`` counts
        it, with its tokens and cost, in the span and every span above it).

        :param model: the model id; the context's (``with_model_id``) by default.
        :param prompt: the prompt text, or a list of chat messages (``{"role", "content"}``),
            kept as ``messages`` with their contents joined as the text.
        :param response: the completion text.
        :param usage: a :class:`~llmlog.TokenUsage`, or the provider's usage as its SDK gives
            it, a mapping or an object (``prompt_tokens``/``completion_tokens``/
            ``total_tokens``, or ``input_tokens``/``output_tokens``; ``cost`` if known).
        :param latency_ms: how long the call took, in milliseconds.
        :param provider: ``"openai"``, ``"anthropic"``...
        :param messages: the chat messages, kept beside the text prompt.

        Works in a session-less span too (to the trace sinks); never raises.
        """
        _record_llm_call(
            self.session,
            self.trace_id,
            self.span_id,
            model=model,
            prompt=prompt,
            response=response,
            usage=usage,
            latency_ms=latency_ms,
            provider=provider,
            messages=messages,
        )

    def __enter__(self) -> Span:
        self._context.__enter__()
        return self

    def fail(self, exc: BaseException) -> None:
        """Record that the span failed with ``exc`` (an ``error`` event; the end carries it too)."""
        self.error = exc
        if isinstance(self.session, TraceSession):
            self.session.emit_error(self.span_id, type(exc).__name__, str(exc), False)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._context.__exit__(exc_type, exc, tb)
        if exc is not None:
            self.fail(exc)
        self.end()


def _prompt_parts(prompt: Any, messages: Any) -> tuple[str, Any]:
    """The text ``prompt`` (dspy-go's readers need a string) and the chat messages: a prompt
    given as a list of messages is kept as the messages, its contents joined as the text."""
    if isinstance(prompt, str):
        return prompt, messages
    if isinstance(prompt, list | tuple) and all(isinstance(m, Mapping) for m in prompt):
        text = "\n\n".join(str(m.get("content", "")) for m in prompt)
        return text, list(prompt) if messages is None else messages
    return str(prompt), messages


def _charge_untraced(provider: str, model: str, usage: Any, trace_id: str | None) -> None:
    """An LLM call that is recorded in no trace (``prompt_completion`` outside a span), priced
    and counted against the budgets in force. Never raises."""
    try:
        if usage is None:
            return
        replaced = _state.number_adjustments.total()
        priced = usage_data(usage)
        price_usage(
            priced, provider, model, countable=_state.number_adjustments.total() == replaced
        )
        charge(trace_id, priced)
    except Exception as exc:
        report_problem(f"counting an LLM call failed: {type(exc).__name__}: {exc}")


def _record_llm_call(
    session: Any,
    trace_id: str | None,
    span_id: str | None,
    *,
    model: str | None,
    prompt: Any,
    response: Any,
    usage: Any,
    latency_ms: float | None,
    provider: str,
    messages: list[Mapping[str, Any]] | None,
) -> None:
    """One LLM call in ``session`` (an ``llm_call`` event of ``span_id``), or, with no session,
    to the trace sinks (:mod:`llmlog.tracesinks`). Never raises."""
    try:
        if model is None:
            model = get_current().model_id or ""
        text, messages = _prompt_parts(prompt, messages)
        answer = response if isinstance(response, str) else str(response)
        if isinstance(session, TraceSession):
            session.emit_llm_call(
                span_id or "",
                provider,
                model,
                text,
                answer,
                usage,
                0 if latency_ms is None else latency_ms,
                messages=messages,
            )
        elif _state.trace_sinks or _state.budgets_active or _state.budget_blocks_open:
            data = _llm_call_data(provider, model, text, answer, usage, latency_ms, messages)
            if "usage" in data:
                charge(trace_id, data["usage"])
            if not _state.trace_sinks:
                return
            cleaned = _state.dispatcher.sanitizer.fields(data)
            _without_session(
                TraceEvent(
                    TraceEventType.LLM_CALL,
                    time.time_ns(),
                    trace_id or "",
                    span_id,
                    None,
                    cleaned if isinstance(cleaned, dict) else dict(cleaned),
                )
            )
    except Exception as exc:  # a trace call never raises into the application
        with _state.counters_lock:
            _state.record_failures += 1
            first = _state.record_failures == 1
        if first:
            report_problem(
                f"recording an LLM call failed (reported once): {type(exc).__name__}: {exc}"
            )


def record_llm_call(
    *,
    model: str | None = None,
    prompt: Any = "",
    response: Any = "",
    usage: Any = None,
    latency_ms: float | None = None,
    provider: str = "",
    messages: list[Mapping[str, Any]] | None = None,
) -> None:
    """Record one LLM call on the current span: ``llmlog.record_llm_call(model="gpt-4o-mini",
    prompt=p, response=r, usage=response.usage, latency_ms=840)``.

    The call goes to the current trace session as an ``llm_call`` event of the current span (with
    no span, of the session itself), counted in the enclosing modules' ``llm_calls`` and
    ``total_tokens``; with no session, to the trace sinks (the flight recorder, the OTLP exporter)
    when any is added; otherwise nowhere. See :meth:`Span.llm_call` for the arguments.
    Never raises.
    """
    ctx = get_current()
    _record_llm_call(
        ctx.session,
        ctx.trace_id,
        ctx.span_id,
        model=model,
        prompt=prompt,
        response=response,
        usage=usage,
        latency_ms=latency_ms,
        provider=provider,
        messages=messages,
    )


def _without_session(event: TraceEvent) -> None:
    """A session-less span's event: to the trace sinks only, redacted and capped as log entries
    are (by the configured sanitizer), like a session's events."""
    if event.data and event.type is TraceEventType.SPAN:
        cleaned = _state.dispatcher.sanitizer.fields(event.data)
        event.data = cleaned if isinstance(cleaned, dict) else dict(cleaned)
    _deliver(event)


def span(name: str, inputs: Mapping[str, Any] | None = None) -> Span:
    """Open a span: ``with llmlog.span("retrieve", inputs={"q": q}) as s: ...; s.set_outputs(docs=n)``.

    Its parent is the current span; entries logged inside carry its trace and span ids.
    """
    return Span(name, inputs)


def traced(
    name: str | None = None, *, record_inputs: bool = True, record_output: bool = True
) -> Callable[[F], F]:
    """Decorate a function (sync, async, generator or async generator) to run inside a span.

    The span is named after the function unless ``name`` is given; arguments become its inputs and
    the return value its output (``record_inputs``/``record_output`` turn that off); an exception is
    recorded and re-raised. For generators the span covers the whole iteration.
    """

    def decorate(fn: F) -> F:
        label = name or fn.__qualname__
        signature = inspect.signature(fn)

        def inputs_of(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any] | None:
            if not record_inputs:
                return None
            try:
                bound = signature.bind_partial(*args, **kwargs)
            except TypeError:
                return {"args": list(args), **kwargs}
            return {k: v for k, v in bound.arguments.items() if k not in ("self", "cls")}

        def done(s: Span, value: Any) -> None:
            if record_output:
                s.set_outputs(output=value)

        if inspect.isasyncgenfunction(fn):

            @functools.wraps(fn)
            async def agen_wrapper(*args: Any, **kwargs: Any) -> Any:
                s = span(label, inputs_of(args, kwargs))
                iterator = fn(*args, **kwargs)
                count = 0
                try:
                    while True:
                        # The span is current only while the generator body runs, never in the
                        # caller between items.
                        with s._context:
                            try:
                                item = await iterator.__anext__()
                            except StopAsyncIteration:
                                break
                        count += 1
                        yield item
                except GeneratorExit:  # the consumer stopped early: not an error
                    await iterator.aclose()
                    raise
                except BaseException as exc:
                    s.fail(exc)
                    raise
                finally:
                    done(s, {"items": count})
                    s.end()

            return agen_wrapper  # type: ignore[return-value]
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with span(label, inputs_of(args, kwargs)) as s:
                    value = await fn(*args, **kwargs)
                    done(s, value)
                    return value

            return async_wrapper  # type: ignore[return-value]
        if inspect.isgeneratorfunction(fn):

            @functools.wraps(fn)
            def gen_wrapper(*args: Any, **kwargs: Any) -> Iterator[Any]:
                s = span(label, inputs_of(args, kwargs))
                iterator = fn(*args, **kwargs)
                count = 0
                try:
                    while True:
                        with s._context:  # current only while the generator body runs
                            try:
                                item = next(iterator)
                            except StopIteration:
                                break
                        count += 1
                        yield item
                except GeneratorExit:  # the consumer stopped early: not an error
                    iterator.close()
                    raise
                except BaseException as exc:
                    s.fail(exc)
                    raise
                finally:
                    done(s, {"items": count})
                    s.end()

            return gen_wrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with span(label, inputs_of(args, kwargs)) as s:
                value = fn(*args, **kwargs)
                done(s, value)
                return value

        return wrapper  # type: ignore[return-value]

    return decorate


@attrs.frozen
class ModuleInfo:
    """What an interceptor knows about the module it wraps (dspy-go's ``core.ModuleInfo``)."""

    module_name: str
    module_type: str
    signature: str = ""


Handler = Callable[[Mapping[str, Any]], Mapping[str, Any]]


def tracing_interceptor() -> Callable[[Mapping[str, Any], ModuleInfo, Handler], Mapping[str, Any]]:
    """dspy-go's ``TracingInterceptor``: wrap a module call in a span of the current session.

    The returned ``intercept(inputs, info, handler)`` calls ``handler(inputs)`` inside a span named
    ``"ModuleType:ModuleName"`` whose parent is the current span (dspy-go always wrote an empty
    parent), records the outputs or the error, and ends with a ``module`` event whose ``llm_calls``
    and ``total_tokens`` roll up every LLM call made inside, nested modules included, each counted
    once. With no current session it just calls the handler.
    """

    def intercept(
        inputs: Mapping[str, Any], info: ModuleInfo, handler: Handler
    ) -> Mapping[str, Any]:
        session = get_current().session
        if not isinstance(session, TraceSession):
            return handler(inputs)
        started = time.perf_counter_ns()
        outputs: Mapping[str, Any] | None = None
        with span(f"{info.module_type}:{info.module_name}", inputs) as s:
            try:
                outputs = handler(inputs)
                s.set_outputs(**outputs)
                return outputs
            finally:
                calls, tokens = session.subtree_usage(s.span_id)
                session.emit_module(
                    s.span_id,
                    info.module_type,
                    info.module_name,
                    info.signature,
                    inputs,
                    outputs,
                    (time.perf_counter_ns() - started) // 1_000_000,
                    calls,
                    tokens,
                    outputs is not None,
                )

    return intercept
