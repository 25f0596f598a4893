"""The DSPy callback that turns DSPy's hooks into llmlog spans and events.

Every hook pair (module, LM, adapter format/parse, tool, evaluate, compile, interpreter execute,
tool call, startup, shutdown) becomes a span whose parent is the span of DSPy's active call
(``ACTIVE_CALL_ID``), so threads of ``Evaluate``/``dspy.Parallel`` and concurrent ``acall`` s build
one correct tree. State is kept per ``call_id`` (never per thread: one thread interleaves asyncio
tasks). A DSPy call with no DSPy parent hangs under the current llmlog span if there is one.

**Hooks in batches.** A hook does at once only what cannot wait: it finds the call's parent and
session, enters llmlog's context (so the program's log entries inside the call carry its span),
checks the budgets before an LM call, claims the LM call from the GenAI engine (while an SDK or
LiteLLM integration is on: they add their fields to it), and takes what
the call's objects say then (the LM's history entry, the outputs as plain data) with the time,
thread and trace task (a :class:`~llmlog.Moment`). The rest (building, redacting, encoding and
writing the events) waits in the callback's queue and is handled ``batch`` hooks at a time, in
order, each event with the moment it happened at. Handled together, away from the program's own
code, the hooks cost about half as much: code and data stay in the processor's caches. Held hooks
are handled at the latest ``batch_delay`` seconds later (by the integration's thread), at once for
a call that raised (its ``error`` event is written at once), before anything else emits an event
(a span of the program's own: :func:`llmlog.ext.add_trace_producer`), before a session flushes or
closes, before a budget check that could stop the program, at FATAL, flight-recorder snapshots,
fork and exit. The rare hooks (``Evaluate``, ``compile``, the interpreters) and the program's
calls on ``Evaluate`` examples are handled at once, after the held ones. ``batch = 0`` handles
every hook at once.

Nothing here may reach the DSPy program: each hook catches its own failures, reports the first on
stderr and counts them (``LlmlogCallback.failures``).
"""

from __future__ import annotations

import collections
import contextlib
import contextvars
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import dspy
from dspy.utils.callback import BaseCallback
from dspy.utils.callback_context import ACTIVE_CALL_ID

from llmlog import check_budget
from llmlog.ext import (
    Moment,
    TokenUsage,
    TraceSession,
    add_trace_producer,
    current_task,
    enter_context,
    get_current,
    register_lifecycle,
    report_problem,
    start_trace_session,
    usage_from,
)
from llmlog_engine_genai import CallScope, claim, claims_needed, event_extra, unclaimed_data
from llmlog_integration_dspy.evaluation import EvaluationRun, plain_data
from llmlog_integration_dspy.lm import (
    history_entry,
    is_replayed,
    merged_params,
    model_and_provider,
    prompt_of,
    response_fields,
    response_of,
    usage_of,
)
from llmlog_integration_dspy.options import DspyOptions

__all__ = ["LlmlogCallback"]

_perf = time.perf_counter_ns
_time_ns = time.time_ns
_get_ident = threading.get_ident
_active = ACTIVE_CALL_ID.get
# Moment's own constructor is a Python function: tuple.__new__ makes the same tuple in C.
_new_tuple = tuple.__new__


#: What the handlers of a held call's start and end are (set by its hooks): the callback's
#: methods, taken from the class (see the end of this module).
_Handler = Callable[["LlmlogCallback", "_Call"], None]


class _Call:
    """One DSPy call: its span and session, and what its start and end hooks took, kept until
    both are handled. The callback's queue holds the call itself, twice (its start, then its
    end): no tuple or bound method per held hook, fewer objects for the garbage collector to
    find alive."""

    __slots__ = (
        "call_id",
        "context",
        "end",
        "end_task",
        "end_thread",
        "end_time",
        "entry",
        "exception",
        "inputs",
        "instance",
        "kind",
        "model",
        "name",
        "on_end",
        "on_start",
        "outputs",
        "owner",
        "owns_session",
        "params",
        "parent",
        "parent_span",
        "provider",
        "request",
        "run",
        "scope",
        "session",
        "settings",
        "span_id",
        "start",
        "start_task",
        "start_thread",
        "start_time",
        "started",
        "state",
        "tool",
    )

    # Set by the hooks of the calls that use them (declared here, for the type checker).
    on_start: _Handler  # its start's handler, and its end's
    on_end: _Handler
    end: int  # when it ended: perf_counter_ns, time_ns, thread and task
    end_time: int
    end_thread: int
    end_task: tuple[int, str] | None
    exception: BaseException | None
    outputs: Any  # its span's outputs (a tool's: its result)
    entry: Mapping[str, Any] | None  # an LM call's: its history entry
    model: str  # an LM call's model, provider, settings (the LM's kwargs), request (the hook's
    provider: str  # inputs), parameters and claim
    settings: dict[str, Any] | None
    request: Mapping[str, Any]
    params: dict[str, Any] | None
    scope: CallScope | None
    tool: str  # a tool's name

    def __init__(
        self,
        kind: str,
        call_id: str,
        session: TraceSession,
        parent: str | None,
        owner: _Call | None,
        instance: Any,
    ) -> None:
        self.kind = kind
        self.call_id = call_id
        self.name = ""  # the span's operation
        self.span_id = call_id[:16]
        self.session = session
        self.parent = parent  # the parent's call_id, when DSPy has one
        self.owner = owner  # the parent's call, when llmlog traces it
        self.parent_span: str | None = None  # a root's parent: the llmlog span current then
        self.instance = instance
        self.owns_session = False
        self.context: contextvars.Token[Any] | None = None
        self.state: dict[str, Any] | None = None
        self.run: EvaluationRun | None = None  # an Evaluate call's examples
        self.started = False  # its start handled
        self.inputs: Mapping[str, Any] | None = None  # its span's inputs
        self.start = _perf()
        self.start_time = _time_ns()
        self.start_thread = _get_ident()
        self.start_task = current_task()

    @property
    def at(self) -> Moment:
        """When and where the call started."""
        return _new_tuple(Moment, (self.start_time, self.start_thread, self.start_task))

    @property
    def end_at(self) -> Moment:
        """When and where the call ended."""
        return _new_tuple(Moment, (self.end_time, self.end_thread, self.end_task))

    @property
    def duration_ms(self) -> int:
        return (self.end - self.start) // 1_000_000


def _outputs_mapping(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    plain = plain_data(value)
    if type(plain) is dict:  # the session copies span outputs itself: no copy here
        return plain
    return dict(plain) if isinstance(plain, Mapping) else {"output": plain}


_object_attribute = object.__getattribute__
#: How a class gives a name its instances do not hold: not at all, as a plain class attribute,
#: or through a descriptor or ``__getattr__`` (the instance's own way), per (class, name).
_ABSENT, _ON_CLASS, _DYNAMIC = 0, 1, 2
_class_reads: dict[tuple[type, str], int] = {}


def _class_read(kind: type, name: str) -> int:
    if getattr(kind, "__getattr__", None) is not None:
        return _DYNAMIC
    try:
        value = _object_attribute(kind, name)
    except AttributeError:
        return _ABSENT
    return _DYNAMIC if hasattr(type(value), "__get__") else _ON_CLASS


def _attribute(instance: Any, name: str) -> Any:
    """``getattr(instance, name, None)``, read from the instance's ``__dict__`` and its class:
    ``dspy.Module`` overrides ``__getattribute__`` in Python (a call per read, and an exception
    for a missing name), which here only watches ``forward``."""
    try:
        own = _object_attribute(instance, "__dict__")
    except AttributeError:  # no __dict__: slots, or not a Python object
        return getattr(instance, name, None)
    if type(own) is dict:
        value = own.get(name, _object_attribute)
        if value is not _object_attribute:
            return value
    kind = type(instance)
    read = _class_reads.get((kind, name))
    if read is None:
        read = _class_read(kind, name)
        if len(_class_reads) < 1024:  # classes come from code, but stay bounded anyway
            _class_reads[(kind, name)] = read
    if read == _ABSENT:
        return None
    if read == _ON_CLASS:
        return getattr(kind, name, None)
    return getattr(instance, name, None)


def _instance_vars(instance: Any) -> dict[str, Any]:
    """``vars(instance)`` without ``dspy.Module``'s ``__getattribute__`` (see :func:`_attribute`)."""
    own = _object_attribute(instance, "__dict__")
    return own if type(own) is dict else dict(own)


# A signature's text ("question -> answer") per signature class: DSPy rebuilds it from the
# fields at every access, and a module summary asks for it at every module end.
_signature_texts: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


def _signature(instance: Any) -> str:
    # Predict has a signature; ChainOfThought and the like hold a Predict as ``predict``.
    signature = _attribute(instance, "signature")
    if signature is None:
        signature = _attribute(_attribute(instance, "predict"), "signature")
    if signature is None:
        return ""
    try:
        return _signature_texts[signature]
    except (KeyError, TypeError):  # not seen yet, or not weakly referenceable
        pass
    try:
        text = str(signature.signature)
    except Exception:
        return type(signature).__name__
    try:
        _signature_texts[signature] = text
    except TypeError:
        pass
    return text


# An adapter span's name per adapter class and step ("ChatAdapter.format"): made once.
_adapter_names: dict[tuple[type, str], str] = {}


def _adapter_name(kind: type, step: str) -> str:
    name = _adapter_names.get((kind, step))
    if name is None:
        name = f"{kind.__name__}.{step}"
        if len(_adapter_names) < 1024:  # classes come from code, but stay bounded anyway
            _adapter_names[(kind, step)] = name
    return name


def _describe_run(session: TraceSession, about: Mapping[str, Any]) -> None:
    """Give an RLM module's settings to a session it did not open (one opened by the program
    around it, or by an earlier call): a trace format that keeps run metadata (the ``rlm``
    format's ``describe_run``) takes what it does not know yet."""
    describe = getattr(session.writer, "describe_run", None)
    if callable(describe):
        describe(about)


# -- the held hooks of every callback, for the thread that bounds their wait ---------------------

#: The callbacks that hold hooks (they join at their first held hook).
_holders: weakref.WeakSet[LlmlogCallback] = weakref.WeakSet()
_holders_lock = threading.Lock()
_waiter: list[threading.Thread | None] = [None]
#: The shortest and longest wait of the waiting thread between two looks at the queues (s).
_MIN_TICK = 0.05
_MAX_TICK = 1.0
#: The longest a flush waits for another thread handling held hooks (seconds).
_FLUSH_WAIT = 5.0


def _drain_all() -> None:
    """Handle every callback's held hooks (a trace producer's drain: see
    :func:`llmlog.ext.add_trace_producer`; also at fork and exit)."""
    for callback in list(_holders):
        callback.flush()  # at once when it holds nothing and nothing is being handled


def _wait_loop() -> None:
    """The integration's thread: a hook held longer than its callback's ``batch_delay`` is
    handled here. It looks at the queues every half of the shortest delay, at least once a
    second (a hook waits at most one and a half delays), and never wakes the program's threads:
    it only takes the interpreter's lock when it looks."""
    while True:
        delay = min((c._delay_ns for c in list(_holders)), default=1_000_000_000) / 2e9
        time.sleep(min(max(_MIN_TICK, delay), _MAX_TICK))
        now = _perf()
        for callback in list(_holders):
            if callback._queue and now - callback._since >= callback._delay_ns:
                callback.flush()


def _join(callback: LlmlogCallback) -> None:
    """Count ``callback`` among those holding hooks; start the waiting thread, once per process."""
    with _holders_lock:
        _holders.add(callback)
        if _waiter[0] is None:
            thread = threading.Thread(target=_wait_loop, name="llmlog-dspy-batches", daemon=True)
            thread.start()  # RuntimeError at interpreter exit: the caller handles hooks at once
            _waiter[0] = thread
            add_trace_producer(_drain_all)
            # At exit before the trace files' own exit handler (registered earlier, when the
            # first session opened), which then writes out what this handled.
            register_lifecycle(
                at_exit=_drain_all, before_fork=_drain_all, after_fork_in_child=_after_fork_in_child
            )


def _after_fork_in_child() -> None:
    # The parent handled its held hooks before the fork (before_fork); the child has no thread
    # and maybe a lock another thread held.
    global _holders_lock
    _holders_lock = threading.Lock()
    _waiter[0] = None
    for callback in list(_holders):
        callback._queue.clear()
        callback._handling = threading.Lock()
        callback._handler = None
    _holders.clear()


class LlmlogCallback(BaseCallback):  # type: ignore[misc]
    """A DSPy ``BaseCallback`` writing llmlog spans; register it with :func:`instrument`.

    :param options: granularity, session policy and batching (``[integrations.dspy]``).
    """

    def __init__(self, options: DspyOptions | None = None) -> None:
        self.options = options or DspyOptions()
        self._calls: dict[str, _Call] = {}
        self._shared: TraceSession | None = None
        self._shared_lock = threading.Lock()
        self._opened: TraceSession | None = None  # the shared session this callback opened
        # The interpreters themselves, weakly: an id kept past its interpreter would be a new
        # interpreter's, whose bootstrap would then be taken for the program's code.
        self._started_interpreters: weakref.WeakSet[Any] = weakref.WeakSet()
        self._starting: dict[str, Any] = {}
        self.failures = 0
        self._adapters = self.options.adapters == "spans"
        # The held hooks, as their calls, in the order they came. A deque: appends from any
        # thread and pops by the one handling them are each atomic.
        self._queue: collections.deque[_Call] = collections.deque()
        self._batch = self.options.batch
        self._delay_ns = int(self.options.batch_delay * 1e9)
        self._since = 0  # when the queue last stopped being empty (perf_counter_ns)
        self._joined = False
        self._handling = threading.Lock()  # one thread handles held hooks at a time, in order
        self._handler: int | None = None  # that thread, while it does

    # -- held hooks ------------------------------------------------------------------------------

    def _hold(self, call: _Call) -> None:
        """Hold ``call``'s next hook (its start, then its end), or handle it now when not
        batching."""
        if not self._batch:
            self._handle(call)
            return
        queue = self._queue
        if not queue:
            self._since = _perf()
            if not self._joined:
                self._join()
        queue.append(call)
        if len(queue) >= self._batch:
            self.flush()

    def _handle(self, call: _Call) -> None:
        """Handle ``call``'s next hook: its start the first time, then its end."""
        if call.started:
            call.on_end(self, call)
        else:
            call.started = True
            call.on_start(self, call)

    def _start_hold(self, call: _Call) -> None:
        """Hold a call's start; handled at once, after the held ones, for a call directly under
        Evaluate (its example is told by the thread and the clock)."""
        owner = call.owner
        if owner is not None and owner.run is not None:
            self.flush()
            self._handle(call)
        else:
            self._hold(call)

    def _end_hold(self, call: _Call) -> None:
        """Hold a call's end; handled at once, after the held ones, when the call raised (its
        error is written at once), closes its own session, or is directly under Evaluate."""
        owner = call.owner
        if (
            call.exception is not None
            or call.owns_session
            or (owner is not None and owner.run is not None)
        ):
            self.flush()
            self._handle(call)
        else:
            self._hold(call)

    def _join(self) -> None:
        try:
            _join(self)
        except RuntimeError:  # no thread can start (interpreter exit): every hook at once
            self._batch = 0
        self._joined = True

    def flush(self) -> None:
        """Handle every held hook now, in the order they came (their events emitted and, as the
        trace format writes, buffered), and those another thread is handling now. Never
        raises; returns at once when called from inside a handler (a session it closes asks for
        it)."""
        queue = self._queue
        if not queue and self._handler is None:
            return
        me = _get_ident()
        if self._handler == me:
            return
        # Bounded: a signal handler's flush (a FATAL entry) on a thread that was interrupted
        # while holding a session's lock must not wait forever for a handler that waits for
        # that lock. The handling thread writes the held hooks anyway.
        if not self._handling.acquire(timeout=_FLUSH_WAIT):
            return
        try:
            self._handler = me
            try:
                pop = queue.popleft
                while queue:
                    call = pop()
                    try:
                        # _handle, written out: a call less per held hook.
                        if call.started:
                            call.on_end(self, call)
                        else:
                            call.started = True
                            call.on_start(self, call)
                    except Exception as exc:
                        self._failed(exc)
            finally:
                self._handler = None
        finally:
            self._handling.release()

    # -- sessions ------------------------------------------------------------------------------

    def _session_for_root(
        self, kind: str, instance: Any, values: Mapping[str, Any] | None, model_id: str | None
    ) -> tuple[TraceSession, bool]:
        """The session a top-level call writes to, and whether the call owns (closes) it."""
        current = get_current().session
        if isinstance(current, TraceSession):
            return current, False
        if self.options.sessions == "per_call":
            metadata = _root_metadata(kind, instance, values, model_id)
            return start_trace_session(metadata={"integration": "dspy", **metadata}), True
        shared = self._shared
        if shared is None:
            with self._shared_lock:
                shared = self._shared
                if shared is None:
                    metadata = _root_metadata(kind, instance, values, model_id)
                    shared = self._shared = self._opened = start_trace_session(
                        metadata={"integration": "dspy", **metadata}
                    )
        return shared, False

    def swap_shared_session(self, session: TraceSession | None) -> TraceSession | None:
        """Make ``session`` the one top-level calls write to where no session is current in the
        context (the worker threads of ``dspy.Parallel``, threads the program starts), in place
        of the one opened at the first such call; returns the previous one (``None`` if none was
        opened), which the caller gives back the same way when done. The caller keeps owning
        ``session`` (:meth:`close` closes only a session this callback opened). A recording (the
        replay plugin's ``--llmlog-record``) uses it so that every call lands in its file."""
        self.flush()
        with self._shared_lock:
            previous, self._shared = self._shared, session
        return previous

    def close(self) -> None:
        """Handle the held hooks, then close the shared session if this callback opened one
        (uninstrument and exit do this)."""
        self.flush()
        with self._shared_lock:
            shared, self._shared = self._shared, None
            opened, self._opened = self._opened, None
        if shared is not None and shared is opened:
            shared.close()

    # -- the common start and end ---------------------------------------------------------------

    def _open(
        self,
        kind: str,
        call_id: str,
        instance: Any,
        values: Mapping[str, Any] | None = None,
        model_id: str | None = None,
    ) -> _Call:
        """A call's start, the part that cannot wait: its parent and session, the context."""
        parent_call = _active()
        owner = self._calls.get(parent_call) if parent_call else None
        if owner is not None:
            session = owner.session
            call = _Call(kind, call_id, session, parent_call, owner, instance)
        else:
            session, owns = self._session_for_root(kind, instance, values, model_id)
            call = _Call(kind, call_id, session, parent_call, None, instance)
            call.owns_session = owns
            ctx = get_current()
            call.parent_span = ctx.span_id if ctx.session is session else None
        self._calls[call_id] = call
        # Keyword arguments spelled out: a ``**{...}`` for the optional model builds two dicts.
        if model_id:
            call.context = enter_context(
                span_id=call.span_id, trace_id=session.trace_id, session=session, model_id=model_id
            )
        else:
            call.context = enter_context(
                span_id=call.span_id, trace_id=session.trace_id, session=session
            )
        return call

    def _started(self, call: _Call, operation: str, inputs: Mapping[str, Any] | None) -> None:
        """A call's start, handled: its span's start event."""
        call.name = operation
        owner = call.owner
        if owner is None:
            parent_span = call.parent_span
        elif owner.run is not None:
            # Under Evaluate: the example's span (opened by the program's call on it). Such a
            # call is handled at once: the run reads the thread and the clock.
            parent_span = owner.run.parent_for(call.call_id, call.kind, inputs, call.instance)
        else:
            parent_span = owner.span_id
        call.session.emit_span_start(call.span_id, parent_span, operation, inputs, at=call.at)

    def _close(self, call_id: str, exception: BaseException | None) -> _Call | None:
        """A call's end, the part that cannot wait: the context left, the time taken."""
        call = self._calls.pop(call_id, None)
        if call is None:  # started before instrument(), or its start failed
            return None
        token = call.context
        if token is not None:
            # exit_context written out (a call less per span): a token of another context (the
            # call ended on another thread or task) does not apply and is let go.
            try:
                token.var.reset(token)
            except ValueError:
                pass
        call.end = _perf()
        call.end_time = _time_ns()
        call.end_thread = _get_ident()
        call.end_task = current_task()
        call.exception = exception
        return call

    def _ended(
        self,
        call: _Call,
        outputs: Mapping[str, Any] | None,
        exception: BaseException | None,
        finish: Callable[[_Call], None] | None = None,
        evaluation: Callable[[], Mapping[str, Any] | None] | None = None,
    ) -> None:
        """A call's end, handled: its events and its span's end (and its session's, if owned)."""
        session = call.session
        at = call.end_at
        if finish is not None:
            finish(call)
        if exception is not None:
            session.emit_error(
                call.span_id,
                type(exception).__name__,
                str(exception),
                call.kind == "tool",
                at=at,
            )
        session.emit_span_end(
            call.span_id,
            outputs,
            exception,
            call.duration_ms,
            evaluation=evaluation() if evaluation is not None else None,
            at=at,
        )
        if call.owns_session:
            session.close()

    def _guard(self, action: Callable[[], Any]) -> None:
        # DSPy would log a warning and go on; we report once and count, and never let a failure
        # of llmlog's reach the program.
        try:
            action()
        except Exception as exc:
            self._failed(exc)

    def _failed(self, exc: Exception) -> None:
        """Count a hook's failure, and report the first."""
        self.failures += 1
        if self.failures == 1:
            report_problem(
                f"llmlog DSPy integration: a callback failed (reported once): "
                f"{type(exc).__name__}: {exc}"
            )

    # -- modules ---------------------------------------------------------------------------------

    # The module, LM, adapter and tool hooks guard themselves inline (a closure and two calls
    # less than _guard, ten times per LM call). Each takes what cannot wait and holds its call;
    # the handlers below them do the rest when the held hooks are handled.

    def on_module_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
        try:
            values = _module_values(inputs)
            call = self._open("module", call_id, instance, values)
            call.inputs = values
            call.on_start = _MODULE_START
            call.on_end = _MODULE_END
            self._start_hold(call)
        except Exception as exc:
            self._failed(exc)

    def on_module_end(
        self, call_id: str, outputs: Any | None, exception: BaseException | None = None
    ) -> None:
        try:
            call = self._close(call_id, exception)
            if call is None:
                return
            # As plain data now: the program may change its Prediction afterwards.
            call.outputs = _outputs_mapping(outputs)
            owner = call.owner
            if owner is not None and owner.run is not None:
                self.flush()
                owner.run.call_ended(call_id, outputs, exception)
            self._end_hold(call)
        except Exception as exc:
            self._failed(exc)

    def _module_started(self, call: _Call) -> None:
        instance = call.instance
        name = type(instance).__name__
        attribute = _attribute_name(call.owner, instance)
        if attribute:  # dspy-go's "ModuleType:ModuleName", the name being its attribute
            name = f"{name}:{attribute}"
        self._started(call, name, call.inputs)
        # An RLM module's settings, for a session it did not open (see _root_metadata).
        if not call.owns_session and isinstance(_attribute(instance, "max_iters"), int):
            _describe_run(call.session, _module_about(instance, call.inputs or {}))

    def _module_ended(self, call: _Call) -> None:
        exception = call.exception

        def summary(call: _Call) -> None:
            calls, tokens = call.session.subtree_usage(call.span_id)
            module_type, _, module_name = call.name.partition(":")
            call.session.emit_module(
                call.span_id,
                module_type,
                module_name or module_type,
                _signature(call.instance),
                None,
                None,
                call.duration_ms,
                calls,
                tokens,
                exception is None,
                at=call.end_at,
            )

        self._ended(call, call.outputs, exception, summary)

    # -- LM calls --------------------------------------------------------------------------------

    def on_lm_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
        # The LLM call boundary: a budget with stop=True that has reached its limit raises
        # BudgetExceeded (a BaseException, which DSPy's callback runner lets through) before the
        # call is made, the held calls charged first; one attribute read otherwise.
        check_budget(self.flush)
        try:
            model, provider = model_and_provider(instance)
            raw = getattr(instance, "kwargs", None)
            call = self._open("lm", call_id, instance, None, model)
            call.model = model
            call.provider = provider
            # A copy now (api_key and the like are redacted when handled): the program may
            # change its LM's settings afterwards.
            call.settings = dict(raw) if (type(raw) is dict or isinstance(raw, Mapping)) else None
            call.request = inputs
            call.scope = None
            call.params = None
            if claims_needed():
                # The call is DSPy's: LiteLLM's and the SDKs' integrations called inside it
                # contribute their (richer) data to this span's llm_call, never a span of
                # theirs. With none of them on, nothing can be nested: no claim.
                call.params = merged_params(call.settings, _call_kwargs(inputs))
                scope = call.scope = claim("dspy")
                scope.update(model=model, provider=provider, params=call.params)
            call.on_start = _LM_START
            call.on_end = _LM_END
            self._start_hold(call)
        except Exception as exc:
            self._failed(exc)

    def on_lm_end(
        self, call_id: str, outputs: Any | None, exception: BaseException | None = None
    ) -> None:
        try:
            call = self._close(call_id, exception)
            if call is None:
                return
            call.outputs = outputs
            # The history entry now: the LM appends more.
            entry = call.entry = history_entry(call.instance, outputs)
            scope: CallScope | None = call.scope
            if scope is not None:
                # Settled now: the claim ends with the call in this context. DSPy's own view
                # (rank 1) fills what no richer source said; LiteLLM's and the SDKs' fields,
                # merged while the call ran, win.
                scope.update(**response_fields(entry))
                if exception is None:
                    scope.finish()
                else:
                    scope.fail(exception)
            self._end_hold(call)
        except Exception as exc:
            self._failed(exc)

    def _lm_started(self, call: _Call) -> None:
        inputs: dict[str, Any] = {"model": call.model, "provider": call.provider}
        if call.settings:
            inputs["kwargs"] = call.settings  # api_key and the like are redacted
        self._started(call, f"LM:{call.model}", inputs)

    def _lm_ended(self, call: _Call) -> None:
        exception = call.exception

        def finish(call: _Call) -> None:
            entry = call.entry
            request = call.request
            text, messages = prompt_of(request)
            usage: Any = usage_of(entry)
            replayed = is_replayed(entry)
            provider = call.provider
            params = call.params
            scope: CallScope | None = call.scope
            if scope is None:
                # Unclaimed (no source could be nested): the data a claim would hold.
                params = merged_params(call.settings, _call_kwargs(request))
                data = unclaimed_data(
                    "dspy",
                    exception,
                    model=call.model,
                    provider=provider,
                    params=params,
                    **response_fields(entry),
                )
            elif not scope.owner:  # inside another source's call: that one writes it
                return
            else:
                data = scope.data
            provider = data.provider or provider
            if data.usage is not None and not replayed:
                # The richer source's counts (cached and reasoning tokens); its reported
                # cost (LiteLLM's response_cost), else the one DSPy recorded.
                own_cost = usage.cost if usage is not None else None
                richer = (
                    data.usage if isinstance(data.usage, TokenUsage) else usage_from(data.usage)
                )
                cost = next((c for c in (data.cost, richer.cost, own_cost) if c is not None), None)
                usage = attrs.evolve(richer, cost=cost, cost_source=None)
            call.session.emit_llm_call(
                call.span_id,
                provider,
                call.model,
                text,
                response_of(call.outputs),
                usage if usage is not None else TokenUsage(),
                call.duration_ms,
                messages=messages,
                params=params,
                replayed=replayed,
                extra=event_extra(data, ["dspy"]),
                at=call.end_at,
            )

        self._ended(call, None, exception, finish)

    # -- adapters ----------------------------------------------------------------------------------

    def on_adapter_format_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
        if self._adapters:
            try:
                call = self._open("adapter", call_id, instance)
                kind = type(instance)
                call.name = _adapter_names.get((kind, "format")) or _adapter_name(kind, "format")
                call.on_start = _ADAPTER_START
                call.on_end = _ADAPTER_END
                self._start_hold(call)
            except Exception as exc:
                self._failed(exc)

    def on_adapter_format_end(
        self, call_id: str, outputs: Any | None, exception: BaseException | None = None
    ) -> None:
        if self._adapters:
            try:
                call = self._close(call_id, exception)
                if call is not None:
                    call.outputs = None
                    self._end_hold(call)
            except Exception as exc:
                self._failed(exc)

    def on_adapter_parse_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
        if self._adapters:
            try:
                call = self._open("adapter", call_id, instance)
                kind = type(instance)
                call.name = _adapter_names.get((kind, "parse")) or _adapter_name(kind, "parse")
                call.on_start = _ADAPTER_START
                call.on_end = _ADAPTER_END
                self._start_hold(call)
            except Exception as exc:
                self._failed(exc)

    def on_adapter_parse_end(
        self, call_id: str, outputs: Any | None, exception: BaseException | None = None
    ) -> None:
        if self._adapters:
            parsed = None
            try:
                # A copy now: the adapter fills in missing fields of the very dict afterwards.
                if type(outputs) is dict or isinstance(outputs, Mapping):
                    parsed = dict(outputs)
            except Exception as exc:  # outputs that cannot be read: the span still ends
                self._failed(exc)
            try:
                call = self._close(call_id, exception)
                if call is not None:
                    call.outputs = parsed
                    self._end_hold(call)
            except Exception as exc:
                self._failed(exc)

    def _adapter_started(self, call: _Call) -> None:
        self._started(call, call.name, None)

    def _adapter_ended(self, call: _Call) -> None:
        self._ended(call, call.outputs, call.exception)

    # -- tools -------------------------------------------------------------------------------------

    def on_tool_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
        try:
            name = str(getattr(instance, "name", None) or type(instance).__name__)
            raw = inputs.get("kwargs")
            args = dict(raw) if (type(raw) is dict or isinstance(raw, Mapping)) else dict(inputs)
            call = self._open("tool", call_id, instance)
            call.tool = name
            call.inputs = args
            call.on_start = _TOOL_START
            call.on_end = _TOOL_END
            self._start_hold(call)
        except Exception as exc:
            self._failed(exc)

    def on_tool_end(
        self, call_id: str, outputs: Any | None, exception: BaseException | None = None
    ) -> None:
        try:
            call = self._close(call_id, exception)
            if call is not None:
                call.outputs = plain_data(outputs)  # now: the result may change afterwards
                self._end_hold(call)
        except Exception as exc:
            self._failed(exc)

    def _tool_started(self, call: _Call) -> None:
        self._started(call, f"Tool:{call.tool}", call.inputs)

    def _tool_ended(self, call: _Call) -> None:
        exception = call.exception

        def finish(call: _Call) -> None:
            call.session.emit_tool_call(
                call.span_id,
                call.tool,
                call.inputs,
                call.outputs,
                call.duration_ms,
                exception is None,
                exception,
                at=call.end_at,
            )

        self._ended(call, None, exception, finish)

    # -- the rare hooks, handled at once (after the held ones) ------------------------------------

    def _begin_now(
        self,
        kind: str,
        call_id: str,
        instance: Any,
        operation: str,
        inputs: Mapping[str, Any] | None,
    ) -> _Call:
        self.flush()
        call = self._open(kind, call_id, instance)
        self._started(call, operation, inputs)
        return call

    def _end_now(
        self,
        call_id: str,
        outputs: Mapping[str, Any] | None,
        exception: BaseException | None,
        finish: Callable[[_Call], None] | None = None,
        evaluation: Callable[[], Mapping[str, Any] | None] | None = None,
    ) -> None:
        self.flush()
        call = self._close(call_id, exception)
        if call is not None:
            self._ended(call, outputs, exception, finish, evaluation)

    # -- evaluate and compile (roots, so a threaded evaluation is one tree) -----------------------

    def on_evaluate_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
        def begin() -> None:
            devset = inputs.get("devset") or getattr(instance, "devset", None) or []
            metric = inputs.get("metric") or getattr(instance, "metric", None)
            program = inputs.get("program")
            values = {
                "program": type(program).__name__ if program is not None else None,
                "metric": getattr(metric, "__name__", type(metric).__name__) if metric else None,
                "examples": len(devset) if hasattr(devset, "__len__") else None,
                "num_threads": inputs.get("num_threads") or getattr(instance, "num_threads", None),
            }
            call = self._begin_now("evaluate", call_id, instance, "Evaluate", values)
            # Each example becomes a span of its own under this root (see evaluation.py).
            metric_name = values["metric"]
            call.run = EvaluationRun(
                call.session,
                call.span_id,
                devset,
                metric_name if isinstance(metric_name, str) else None,
                program if isinstance(program, dspy.Module) else None,
            )

        self._guard(begin)

    def on_evaluate_end(
        self, call_id: str, outputs: Any | None, exception: BaseException | None = None
    ) -> None:
        score = getattr(outputs, "score", None)
        results = getattr(outputs, "results", None)
        summary = None
        if outputs is not None:
            summary = {"score": score if score is not None else plain_data(outputs)}
            if isinstance(results, list):
                summary["results"] = len(results)
        evaluation: dict[str, Any] | None = None

        def finish(call: _Call) -> None:
            run = call.run
            if run is not None:

                def results() -> None:
                    nonlocal evaluation
                    evaluation = run.finish(outputs)

                # A failure reading the results (reported once, counted) still ends every
                # example span and the root.
                self._guard(results)
                self._guard(run.close)

        self._guard(lambda: self._end_now(call_id, summary, exception, finish, lambda: evaluation))

    def on_compile_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
        def begin() -> None:
            student = inputs.get("student")
            trainset = inputs.get("trainset") or []
            values = {
                "student": type(student).__name__ if student is not None else None,
                "trainset": len(trainset) if hasattr(trainset, "__len__") else None,
            }
            name = f"Compile:{type(instance).__name__}"
            self._begin_now("compile", call_id, instance, name, values)

        self._guard(begin)

    def on_compile_end(
        self, call_id: str, outputs: Any | None, exception: BaseException | None = None
    ) -> None:
        summary = {"program": type(outputs).__name__} if outputs is not None else None
        self._guard(lambda: self._end_now(call_id, summary, exception))

    # -- code interpreters (dspy.RLM, ProgramOfThought, CodeAct) ----------------------------------

    def on_interpreter_execute_start(
        self, call_id: str, instance: Any, inputs: dict[str, Any]
    ) -> None:
        def begin() -> None:
            code = str(inputs.get("code") or "")
            # The first execute of a fresh interpreter runs the sandbox's own bootstrap code (and
            # starts the worker inside it): a span, but not a code block of the program.
            bootstrap = not self._interpreter_started(instance) and (
                getattr(instance, "_process", True) is None
            )
            if bootstrap:
                self._begin_now("bootstrap", call_id, instance, "Interpreter.bootstrap", None)
                return
            variables = inputs.get("variables")
            call = self._begin_now(
                "execute", call_id, instance, "Interpreter.execute", {"code": code}
            )
            call.state = {"code": code, "variables": variables}

        self._guard(begin)

    def on_interpreter_execute_end(
        self, call_id: str, outputs: Any | None, exception: BaseException | None = None
    ) -> None:
        def finish(call: _Call) -> None:
            if call.kind != "execute":
                return
            state = call.state or {}
            # Numbered per calling module (the RLM run), as dspy-go numbers its iterations.
            owner = call.owner
            iteration = 1
            if owner is not None:
                if owner.state is None:
                    owner.state = {}
                iteration = owner.state["iterations"] = owner.state.get("iterations", 0) + 1
            final = (
                getattr(outputs, "output", None)
                if type(outputs).__name__ == "FinalOutput"
                else None
            )
            variables = state.get("variables")
            data_locals = dict(variables) if isinstance(variables, Mapping) else None
            call.session.emit_code_exec(
                call.span_id,
                iteration,
                state.get("code", ""),
                outputs if isinstance(outputs, str) else "",
                "" if exception is None else f"{type(exception).__name__}: {exception}",
                data_locals,
                call.duration_ms,
                final_answer=final,
                at=call.end_at,
            )

        self._guard(lambda: self._end_now(call_id, None, exception, finish))

    def on_interpreter_tool_call_start(
        self, call_id: str, instance: Any, inputs: dict[str, Any]
    ) -> None:
        def begin() -> None:
            name = str(inputs.get("tool_name") or "tool")
            args = {"args": inputs.get("args"), "kwargs": inputs.get("kwargs")}
            call = self._begin_now("tool", call_id, instance, f"Tool:{name}", args)
            # Its end is on_tool_end's, as a DSPy tool's.
            call.tool = name
            call.inputs = args
            call.started = True
            call.on_end = _TOOL_END

        self._guard(begin)

    on_interpreter_tool_call_end = on_tool_end

    def _interpreter_started(self, instance: Any) -> bool:
        try:
            return instance in self._started_interpreters
        except TypeError:  # unhashable: never kept
            return False

    def on_interpreter_startup_start(
        self, call_id: str, instance: Any, inputs: dict[str, Any]
    ) -> None:
        self._starting[call_id] = instance
        if self.options.interpreter_lifecycle:
            self._guard(
                lambda: self._begin_now("lifecycle", call_id, instance, "Interpreter.startup", None)
            )

    def on_interpreter_startup_end(
        self, call_id: str, outputs: Any | None, exception: BaseException | None = None
    ) -> None:
        interpreter = self._starting.pop(call_id, None)
        if exception is None and interpreter is not None:
            with contextlib.suppress(TypeError):  # one that takes no weak reference is not kept
                self._started_interpreters.add(interpreter)
        if self.options.interpreter_lifecycle:
            self._guard(lambda: self._end_now(call_id, None, exception))

    def on_interpreter_shutdown_start(
        self, call_id: str, instance: Any, inputs: dict[str, Any]
    ) -> None:
        with contextlib.suppress(TypeError):
            self._started_interpreters.discard(instance)
        if self.options.interpreter_lifecycle:
            self._guard(
                lambda: self._begin_now(
                    "lifecycle", call_id, instance, "Interpreter.shutdown", None
                )
            )

    def on_interpreter_shutdown_end(
        self, call_id: str, outputs: Any | None, exception: BaseException | None = None
    ) -> None:
        if self.options.interpreter_lifecycle:
            self._guard(lambda: self._end_now(call_id, None, exception))


# -- what a module call's hook says ------------------------------------------------------------------


def _module_values(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """A module call's arguments as its span's inputs: the keyword ones, the positional ones
    as ``args``."""
    kwargs = inputs.get("kwargs")
    if type(kwargs) is not dict and not isinstance(kwargs, Mapping):
        kwargs = None
    args = inputs.get("args")
    values = dict(kwargs or {})
    if args:
        values["args"] = list(args)
    return values


def _module_about(instance: Any, values: Mapping[str, Any]) -> dict[str, Any]:
    """What an RLM file's metadata line wants to know of a module call: its iteration limit and
    query."""
    about: dict[str, Any] = {}
    iterations = _attribute(instance, "max_iters")
    if isinstance(iterations, int):
        about["max_iterations"] = iterations
    if isinstance(values.get("query"), str):
        about["query"] = values["query"]
    return about


def _root_metadata(
    kind: str, instance: Any, values: Mapping[str, Any] | None, model_id: str | None
) -> dict[str, Any]:
    """The metadata of a session a top-level call opens: a module's :func:`_module_about` (from
    its arguments, ``values``), an LM call's model."""
    if kind == "module" and values is not None:
        return _module_about(instance, values)
    return {"root_model": model_id} if model_id else {}


def _attribute_name(owner: _Call | None, instance: Any) -> str | None:
    """The attribute of the calling module that holds ``instance`` (``react``, ``extract``)."""
    if owner is None or owner.kind != "module":
        return None
    try:
        for key, value in _instance_vars(owner.instance).items():
            if value is instance:
                return str(key)
    except TypeError:  # no __dict__
        return None
    return None


def _call_kwargs(inputs: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """An LM call's own keyword arguments, from its start hook's inputs."""
    raw = inputs.get("kwargs")
    return raw if (type(raw) is dict or isinstance(raw, Mapping)) else None


# The handlers a held call's hooks name (functions of the class: no bound method per hook).
_MODULE_START: _Handler = LlmlogCallback._module_started
_MODULE_END: _Handler = LlmlogCallback._module_ended
_LM_START: _Handler = LlmlogCallback._lm_started
_LM_END: _Handler = LlmlogCallback._lm_ended
_ADAPTER_START: _Handler = LlmlogCallback._adapter_started
_ADAPTER_END: _Handler = LlmlogCallback._adapter_ended
_TOOL_START: _Handler = LlmlogCallback._tool_started
_TOOL_END: _Handler = LlmlogCallback._tool_ended
