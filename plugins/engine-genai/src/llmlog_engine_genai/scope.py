"""One LLM call as a scope: one span and one ``llm_call`` event however many sources see it.

The first source to start a call in a context owns it: it opens the ``LM:<model>`` span (parent:
the current llmlog span) and, at its end, writes the call's ``llm_call`` event through its trace
session's ``emit_llm_call`` (which prices it by the cost chain, charges the budgets, redacts it
and drops content in the no-content mode). A source that starts a call while one is open in its
context (the OpenAI SDK called by LiteLLM, LiteLLM called by DSPy) only contributes: its fields
are merged into the owner's by :data:`~llmlog_engine_genai.data.RANK`. The open call is held
in a context variable, so threads and asyncio tasks each have their own.

Nothing here raises into the application (a ``BudgetExceeded`` from :func:`start_call`'s budget
check is the one exception, as at every LLM call boundary): a failure is counted by kind and
the first of each kind reported.
"""

from __future__ import annotations

import atexit
import contextvars
import threading
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import attrs

from llmlog import check_budget
from llmlog.ext import (
    TokenUsage,
    TraceSession,
    enter_context,
    exit_context,
    get_current,
    new_span_id,
    report_problem,
    start_trace_session,
    usage_from,
)
from llmlog_engine_genai.data import FIELDS, CallData, prompt_text, rank_of
from llmlog_engine_genai.options import GenAIOptions

__all__ = [
    "CallScope",
    "announce_source",
    "claim",
    "claims_needed",
    "close_shared_session",
    "current_call",
    "problem",
    "start_call",
    "stats",
    "unclaimed_data",
]

_perf = time.perf_counter_ns
_DEFAULT_OPTIONS = GenAIOptions()
_FIELD_NAMES = frozenset(FIELDS)

_current: contextvars.ContextVar[CallScope | None] = contextvars.ContextVar(
    "llmlog_genai_call", default=None
)

# -- process-wide state of the engine (a plugin module's own) ------------------------------------

_lock = threading.Lock()
_shared: TraceSession | None = None
#: Failures by kind (the first of each reported), and data dropped because it came too late.
_failures: dict[str, int] = {}
_late = [0]
#: The sources that start calls of their own in this process (their integrations are on, or one
#: has started a call): while there is none, no call can be nested in a claimed one.
_sources: set[str] = set()


def announce_source(source: str) -> None:
    """Say that ``source`` starts calls of its own with :func:`start_call` in this process (an
    SDK integration says so when it instruments; :func:`start_call` says so for its caller
    too). From then on :func:`claims_needed` is ``True``."""
    _sources.add(source)


def claims_needed() -> bool:
    """Whether a :func:`claim` can matter: some source starts calls of its own, which would be
    nested in the claimed call. While none does, a source that would claim (DSPy's
    integration) can write its call from what it knows alone, with :func:`unclaimed_data`."""
    return bool(_sources)


def problem(kind: str, exc: BaseException | str) -> None:
    """Count a failure of kind ``kind``; report the first of each kind on stderr. Never raises.
    The integrations report theirs through it too (``"openai: aggregating a chunk"``)."""
    try:
        with _lock:
            count = _failures[kind] = _failures.get(kind, 0) + 1
        if count == 1:
            text = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
            report_problem(f"llmlog genai: {kind} failed (reported once): {text}")
    except Exception:  # pragma: no cover - reporting itself failed: nothing more to do
        pass


def stats() -> dict[str, Any]:
    """The engine's counts: ``failures`` by kind and ``late`` (contributions that arrived after
    their call had ended, dropped)."""
    with _lock:
        return {"failures": dict(_failures), "late": _late[0]}


def _shared_session(source: str) -> TraceSession:
    global _shared
    session = _shared
    if session is None:
        with _lock:
            session = _shared
            if session is None:
                session = _shared = start_trace_session(metadata={"integration": "genai"})
    return session


def close_shared_session() -> None:
    """Close the session shared by the SDK integrations, if one was opened; the next call made
    outside any session opens a new one. Called at exit."""
    global _shared
    with _lock:
        session, _shared = _shared, None
    if session is not None:
        session.close()


atexit.register(close_shared_session)


# -- the call ---------------------------------------------------------------------------------


class _Record:
    """One call as its owner records it: the merged data, each field's source rank, the span."""

    __slots__ = (
        "data",
        "emits",
        "finished",
        "first_ns",
        "lock",
        "owns_session",
        "ranks",
        "session",
        "sources",
        "span_id",
        "start_ns",
    )

    def __init__(self, data: CallData, emits: bool) -> None:
        self.data = data
        rank = rank_of(data.source)
        self.ranks = dict.fromkeys(FIELDS, rank)
        self.sources = [data.source]
        self.lock = threading.Lock()
        self.finished = False
        self.emits = emits
        self.start_ns = _perf()
        self.first_ns: int | None = None
        self.session: TraceSession | None = None
        self.owns_session = False
        self.span_id: str | None = None

    def merge(self, source: str, fields: Mapping[str, Any]) -> None:
        """Merge ``fields`` said by ``source``: each replaces the current value if it is not
        ``None`` and ``source`` ranks at least as high as the one that set it."""
        rank = rank_of(source)
        with self.lock:
            if self.finished:
                with _lock:
                    _late[0] += 1
                return
            if source not in self.sources:
                self.sources.append(source)
            data, ranks = self.data, self.ranks
            for name, value in fields.items():
                if not _kept(name, value):
                    continue
                current = getattr(data, name)
                if current is None or rank >= ranks[name] or (name == "stream"):
                    setattr(data, name, value)
                    ranks[name] = rank

    def mark_first(self) -> None:
        if self.first_ns is None:
            self.first_ns = _perf()

    def end(self, error: BaseException | None = None) -> None:
        with self.lock:
            if self.finished:
                return
            self.finished = True
        if not self.emits:
            return
        session, span_id = self.session, self.span_id
        if session is None or span_id is None:
            return
        data = self.data
        latency_ms = (_perf() - self.start_ns) // 1_000_000
        if data.stream and data.time_to_first_token_ms is None and self.first_ns is not None:
            data.time_to_first_token_ms = (self.first_ns - self.start_ns) // 1_000_000
        try:
            session.emit_llm_call(
                span_id,
                data.provider or "",
                data.model or data.response_model or "",
                prompt_text(data.messages, data.prompt),
                data.response or "",
                _usage(data),
                latency_ms,
                messages=list(data.messages) if data.messages is not None else None,
                params=data.params,
                extra=event_extra(data, self.sources),
            )
            error_text = None
            if data.error_type is not None or data.error is not None or error is not None:
                error_type = data.error_type or (type(error).__name__ if error else "Error")
                message = data.error if data.error is not None else str(error or "")
                session.emit_error(span_id, error_type, message, False)
                error_text = f"{error_type}: {message}" if message else error_type
            session.emit_span_end(span_id, None, error_text, latency_ms)
        finally:
            if self.owns_session:
                session.close()


def _usage(data: CallData) -> Any:
    usage = data.usage
    if data.cost is None:
        return usage
    counts = usage if isinstance(usage, TokenUsage) else usage_from(usage or {})
    return attrs.evolve(counts, cost=data.cost, cost_source=None)


_EXTRA = (
    "operation",
    "response_model",
    "finish_reason",
    "tool_calls",
    "response_messages",
    "time_to_first_token_ms",
    "stream_end",
    "error_type",
    "status_code",
)


def event_extra(data: CallData, sources: list[str]) -> dict[str, Any]:
    """The extra keys of the ``llm_call`` event of a call from its merged ``data``: the operation,
    the model that answered, the finish reason, tool calls, time to first token, how a stream
    ended, the error class and HTTP status, and the sources that saw the call (``source``, the
    first; ``sources`` when there were several). DSPy's integration writes its claimed calls'
    events with it too."""
    extra: dict[str, Any] = {"source": sources[0]}
    if len(sources) > 1:
        extra["sources"] = list(sources)
    for name in _EXTRA:
        value = getattr(data, name)
        if value is not None:
            extra[name] = value
    if data.stream:
        extra["stream"] = True
    return extra


def _fields_of(data: CallData) -> dict[str, Any]:
    return {name: getattr(data, name) for name in FIELDS}


def _error_fields(exc: BaseException) -> dict[str, Any]:
    fields: dict[str, Any] = {"error_type": type(exc).__name__, "error": str(exc)}
    status = getattr(exc, "status_code", None)
    if status is None:
        status = getattr(getattr(exc, "response", None), "status_code", None)
    if isinstance(status, int) and not isinstance(status, bool):
        fields["status_code"] = status
    return fields


class CallScope:
    """One source's part in one LLM call: what :func:`start_call` and :func:`claim` return.

    ``owner`` is ``True`` for the source that opened the call (it writes the span and event),
    ``False`` for a source nested in another's call (it only contributes its fields). Every
    method is safe to call more than once and never raises. As a context manager, it finishes
    the call at the block's end (or fails it with the block's exception).
    """

    __slots__ = ("_record", "_tokens", "owner", "source")

    def __init__(self, source: str, owner: bool, record: _Record) -> None:
        self.source = source
        self.owner = owner
        self._record = record
        self._tokens: tuple[contextvars.Token[Any], ...] | None = None

    # -- what the call is ---------------------------------------------------------------------

    @property
    def data(self) -> CallData:
        """The call's data as merged so far (the owner's, with every nested source's fields)."""
        return self._record.data

    @property
    def finished(self) -> bool:
        """The call has ended (its event is written, or it was dropped)."""
        return self._record.finished

    @property
    def span_id(self) -> str | None:
        """The call's span (``None`` for a :func:`claim` or a failed start)."""
        return self._record.span_id

    @property
    def session(self) -> TraceSession | None:
        """The trace session the call is written to."""
        return self._record.session

    @property
    def content_limit(self) -> int | None:
        """How many characters of streamed text are worth keeping: 0 in the no-content mode,
        the session's string cap otherwise (``None``: no cap)."""
        session = self._record.session
        if session is None:
            return None
        return session.string_limit if session.content else 0

    # -- contributing ---------------------------------------------------------------------------

    def update(self, **fields: Any) -> None:
        """Merge ``fields`` (names of :class:`CallData`) into the call by the rank rule; after
        the call has ended, dropped and counted (``stats()["late"]``)."""
        try:
            self._record.merge(self.source, fields)
        except Exception as exc:
            problem("update", exc)

    def first_token(self) -> None:
        """A stream's first chunk arrived: marks the time to first token (once)."""
        try:
            self._record.mark_first()
        except Exception as exc:  # pragma: no cover - an attribute write
            problem("first_token", exc)

    def finish(self, **fields: Any) -> None:
        """End this source's part: merge ``fields``, leave the context; the owner writes the
        call's ``llm_call`` event and ends its span (once: later calls do nothing)."""
        try:
            if fields:
                self._record.merge(self.source, fields)
            self.detach()
            if self.owner:
                self._record.end()
        except Exception as exc:
            problem("finish", exc)

    def fail(self, exc: BaseException, **fields: Any) -> None:
        """End this source's part with ``exc``: its class as ``error_type`` (the provider's:
        ``RateLimitError``), its text, its HTTP ``status_code`` if it has one, then as
        :meth:`finish`; the owner also writes an ``error`` event and ends the span failed."""
        try:
            self._record.merge(self.source, {**_error_fields(exc), **fields})
            self.detach()
            if self.owner:
                self._record.end(exc)
        except Exception as failure:
            problem("fail", failure)

    # -- the context ----------------------------------------------------------------------------

    def _attach(self) -> None:
        record = self._record
        call_token = _current.set(self)
        if self.owner and record.span_id is not None and record.session is not None:
            context_token = enter_context(
                span_id=record.span_id,
                trace_id=record.session.trace_id,
                session=record.session,
                **({"model_id": record.data.model} if record.data.model else {}),
            )
            self._tokens = (call_token, context_token)
        else:
            self._tokens = (call_token,)

    def detach(self) -> None:
        """Leave the context (the call goes on): for a stream handed back to the caller, whose
        later calls are not part of this one. Done by :meth:`finish` and :meth:`fail` too."""
        tokens, self._tokens = self._tokens, None
        if not tokens:
            return
        try:
            if len(tokens) > 1:
                exit_context(tokens[1])
            _current.reset(tokens[0])
        except ValueError:
            pass  # ended from another context (a stream consumed elsewhere): nothing to undo here
        except Exception as exc:
            problem("detach", exc)

    def __enter__(self) -> CallScope:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.finish()
        else:
            self.fail(exc)

    def __repr__(self) -> str:
        role = "owner" if self.owner else "nested"
        return f"<CallScope {self.source} {role} {self.data.model!r}>"


def current_call() -> CallScope | None:
    """The call open in this context (thread or task), or ``None``."""
    scope = _current.get()
    if scope is None or scope._record.finished:
        return None
    return scope


def _nested(data: CallData) -> CallScope | None:
    parent = _current.get()
    if parent is None or parent._record.finished:
        return None
    record = parent._record
    record.merge(data.source, _fields_of(data))
    scope = CallScope(data.source, False, record)
    scope._attach()
    return scope


def _dead(data: CallData) -> CallScope:
    """A scope that records nothing (its start failed: reported; the call goes on)."""
    record = _Record(data, False)
    record.finished = True
    return CallScope(data.source, False, record)


def start_call(data: CallData, *, options: GenAIOptions | None = None) -> CallScope:
    """Start one LLM call as ``data.source`` sees it, at the call boundary (before the request).

    With no call open in the context, the scope owns the call: it opens the ``LM:<model>``
    span, parented to the current llmlog span, in the current trace session, or else the
    engine's shared one (``options.sessions == "shared"``) or a session of its own
    (``"per_call"``). With a call open, the scope is nested (``owner`` False) and its fields are
    merged into the open call's. Either way the scope is the current call until it is finished,
    failed or detached.

    Checks the budgets first (:func:`llmlog.check_budget`): a budget with ``stop`` that has
    reached its limit raises ``BudgetExceeded`` here, before the request is made. Otherwise
    never raises.
    """
    check_budget()
    if data.source not in _sources:
        _sources.add(data.source)
    try:
        nested = _nested(data)
        if nested is not None:
            return nested
        options = options or _DEFAULT_OPTIONS
        record = _Record(data, True)
        ctx = get_current()
        current = ctx.session
        if isinstance(current, TraceSession):
            session = current
        elif options.sessions == "per_call":
            session = start_trace_session(metadata={"integration": data.source})
            record.owns_session = True
        else:
            session = _shared_session(data.source)
        parent = ctx.span_id if ctx.session is session else None
        span_id = new_span_id()
        model = data.model or data.response_model or ""
        # The parameters go with the llm_call event (once: each copy is another redaction walk).
        inputs: dict[str, Any] = {"model": model}
        if data.provider:
            inputs["provider"] = data.provider
        session.emit_span_start(span_id, parent, f"LM:{model}", inputs)
        record.session, record.span_id = session, span_id
        scope = CallScope(data.source, True, record)
        scope._attach()
        return scope
    except Exception as exc:
        problem("start", exc)
        return _dead(data)


def _kept(name: str, value: Any) -> bool:
    """Whether a source's field is merged: a ``CallData`` field (another name is reported, but
    ``source``), said (not ``None``), and not a stream's default ``False`` (not knowledge)."""
    if name not in _FIELD_NAMES:
        if name != "source":
            problem("update", f"CallData has no field {name!r}")
        return False
    return value is not None and not (name == "stream" and value is False)


def unclaimed_data(source: str, exception: BaseException | None = None, **fields: Any) -> CallData:
    """The data a :func:`claim` of ``source`` would hold at its end when nothing was nested in
    it: ``fields`` (``CallData`` fields, ``None`` ones left out), and the error's fields when
    the call failed with ``exception`` (as :meth:`CallScope.fail` merges them)."""
    # One source, so no ranks to weigh: what _Record.merge keeps of its fields, set at once.
    if exception is not None:
        fields = {**fields, **_error_fields(exception)}
    return CallData(source, **{name: v for name, v in fields.items() if _kept(name, v)})


def claim(source: str) -> CallScope:
    """Own the calls made in this context from now on without a span of the engine's: for a
    source that writes its own span and event (the DSPy integration's ``LM:`` span). SDK
    integrations called inside only contribute; read the merged :attr:`CallScope.data` before
    :meth:`CallScope.finish` (which writes nothing). With a call already open, the scope is
    nested like any other."""
    data = CallData(source)
    try:
        nested = _nested(data)
        if nested is not None:
            return nested
        scope = CallScope(source, True, _Record(data, False))
        scope._attach()
        return scope
    except Exception as exc:
        problem("claim", exc)
        return _dead(data)
