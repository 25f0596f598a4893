"""The DSPy callback that turns DSPy's hooks into llmlog spans and events.

Every hook pair (module, LM, adapter format/parse, tool, evaluate, compile, interpreter execute,
tool call, startup, shutdown) becomes a span whose parent is the span of DSPy's active call
(``ACTIVE_CALL_ID``), so threads of ``Evaluate``/``dspy.Parallel`` and concurrent ``acall`` s build
one correct tree. State is kept per ``call_id`` (never per thread: one thread interleaves asyncio
tasks). A DSPy call with no DSPy parent hangs under the current llmlog span if there is one.

Nothing here may reach the DSPy program: each hook catches its own failures, reports the first on
stderr and counts them (``LlmlogCallback.failures``).
"""

from __future__ import annotations

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
    TokenUsage,
    TraceSession,
    enter_context,
    get_current,
    report_problem,
    start_trace_session,
    usage_from,
)
from llmlog_engine_genai import CallScope, claim, event_extra
from llmlog_integration_dspy.evaluation import EvaluationRun, plain_data
from llmlog_integration_dspy.lm import (
    history_entry,
    is_replayed,
    model_and_provider,
    prompt_of,
    request_params,
    response_fields,
    response_of,
    usage_of,
)
from llmlog_integration_dspy.options import DspyOptions

__all__ = ["LlmlogCallback"]

_perf = time.perf_counter_ns
_active = ACTIVE_CALL_ID.get


class _Call:
    """One open DSPy call: its span, session and what its end hook needs."""

    __slots__ = (
        "context",
        "instance",
        "kind",
        "name",
        "owns_session",
        "parent",
        "run",
        "session",
        "span_id",
        "start",
        "state",
    )

    def __init__(
        self,
        kind: str,
        name: str,
        span_id: str,
        session: TraceSession,
        parent: str | None,
        instance: Any,
    ) -> None:
        self.kind = kind
        self.name = name
        self.span_id = span_id
        self.session = session
        self.parent = parent  # the parent's call_id, when DSPy has one
        self.instance = instance
        self.start = _perf()
        self.owns_session = False
        self.context: contextvars.Token[Any] | None = None
        self.state: dict[str, Any] | None = None
        self.run: EvaluationRun | None = None  # an Evaluate call's examples


def _outputs_mapping(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    plain = plain_data(value)
    if type(plain) is dict:  # the session copies span outputs itself: no copy here
        return plain
    return dict(plain) if isinstance(plain, Mapping) else {"output": plain}


# A signature's text ("question -> answer") per signature class: DSPy rebuilds it from the
# fields at every access, and a module summary asks for it at every module end.
_signature_texts: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


def _signature(instance: Any) -> str:
    # Predict has a signature; ChainOfThought and the like hold a Predict as ``predict``.
    signature = getattr(instance, "signature", None)
    if signature is None:
        signature = getattr(getattr(instance, "predict", None), "signature", None)
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


class LlmlogCallback(BaseCallback):  # type: ignore[misc]
    """A DSPy ``BaseCallback`` writing llmlog spans; register it with :func:`instrument`.

    :param options: granularity and session policy (``[integrations.dspy]``).
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

    # -- sessions ------------------------------------------------------------------------------

    def _session_for_root(self, metadata: Mapping[str, Any]) -> tuple[TraceSession, bool]:
        """The session a top-level call writes to, and whether the call owns (closes) it."""
        current = get_current().session
        if isinstance(current, TraceSession):
            return current, False
        if self.options.sessions == "per_call":
            return start_trace_session(metadata={"integration": "dspy", **metadata}), True
        shared = self._shared
        if shared is None:
            with self._shared_lock:
                shared = self._shared
                if shared is None:
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
        with self._shared_lock:
            previous, self._shared = self._shared, session
        return previous

    def close(self) -> None:
        """Close the shared session, if one was opened (uninstrument and exit do this)."""
        with self._shared_lock:
            shared, self._shared = self._shared, None
            opened, self._opened = self._opened, None
        if shared is not None and shared is opened:
            shared.close()

    # -- the common start and end ---------------------------------------------------------------

    def _begin(
        self,
        kind: str,
        call_id: str,
        instance: Any,
        operation: str,
        inputs: Mapping[str, Any] | None,
        model_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> _Call | None:
        parent_call = _active()
        parent = self._calls.get(parent_call) if parent_call else None
        span_id = call_id[:16]
        parent_span: str | None
        if parent is not None:
            session, parent_span, owns = parent.session, parent.span_id, False
            if parent.run is not None:
                # Under Evaluate: the example's span (opened by the program's call on it).
                parent_span = parent.run.parent_for(call_id, kind, inputs, instance)
        else:
            about = dict(metadata or {})
            if model_id:
                about["root_model"] = model_id
            session, owns = self._session_for_root(about)
            ctx = get_current()
            parent_span = ctx.span_id if ctx.session is session else None
        call = _Call(kind, operation, span_id, session, parent_call, instance)
        call.owns_session = owns
        self._calls[call_id] = call
        session.emit_span_start(span_id, parent_span, operation, inputs)
        # Keyword arguments spelled out: a ``**{...}`` for the optional model builds two dicts.
        if model_id:
            call.context = enter_context(
                span_id=span_id, trace_id=session.trace_id, session=session, model_id=model_id
            )
        else:
            call.context = enter_context(
                span_id=span_id, trace_id=session.trace_id, session=session
            )
        return call

    def _end(
        self,
        call_id: str,
        outputs: Mapping[str, Any] | None,
        exception: BaseException | None,
        finish: Callable[[_Call], None] | None = None,
        evaluation: Callable[[], Mapping[str, Any] | None] | None = None,
    ) -> None:
        call = self._calls.pop(call_id, None)
        if call is None:  # started before instrument(), or its start failed
            return
        token = call.context
        if token is not None:
            # exit_context written out (a call less per span): a token of another context (the
            # call ended on another thread or task) does not apply and is let go.
            try:
                token.var.reset(token)
            except ValueError:
                pass
        session = call.session
        if finish is not None:
            finish(call)
        if exception is not None:
            session.emit_error(
                call.span_id, type(exception).__name__, str(exception), call.kind == "tool"
            )
        duration_ms = (_perf() - call.start) // 1_000_000
        session.emit_span_end(
            call.span_id,
            outputs,
            exception,
            duration_ms,
            evaluation=evaluation() if evaluation is not None else None,
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

    # The module, LM and tool hooks guard themselves inline, as the adapter hooks do (a closure
    # and two calls less than _guard, six times per LM call).

    def on_module_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
        try:
            kwargs = inputs.get("kwargs")
            if type(kwargs) is not dict and not isinstance(kwargs, Mapping):
                kwargs = None
            args = inputs.get("args")
            values = dict(kwargs or {})
            if args:
                values["args"] = list(args)
            # What an RLM file's metadata line wants to know, when this call opens the session.
            about: dict[str, Any] = {}
            if isinstance(getattr(instance, "max_iters", None), int):
                about["max_iterations"] = instance.max_iters
            if isinstance(values.get("query"), str):
                about["query"] = values["query"]
            name = type(instance).__name__
            attribute = self._attribute_name(instance)
            if attribute:  # dspy-go's "ModuleType:ModuleName", the name being its attribute
                name = f"{name}:{attribute}"
            call = self._begin("module", call_id, instance, name, values, None, about)
            if call is not None and "max_iterations" in about and not call.owns_session:
                _describe_run(call.session, about)
        except Exception as exc:
            self._failed(exc)

    def _attribute_name(self, instance: Any) -> str | None:
        """The attribute of the calling module that holds ``instance`` (``react``, ``extract``)."""
        parent = self._calls.get(_active() or "")
        if parent is None or parent.kind != "module":
            return None
        try:
            for key, value in vars(parent.instance).items():
                if value is instance:
                    return str(key)
        except TypeError:  # no __dict__
            return None
        return None

    def on_module_end(
        self, call_id: str, outputs: Any | None, exception: BaseException | None = None
    ) -> None:
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
                (_perf() - call.start) // 1_000_000,
                calls,
                tokens,
                exception is None,
            )

        try:
            call = self._calls.get(call_id)
            if call is not None and call.parent is not None:
                owner = self._calls.get(call.parent)
                if owner is not None and owner.run is not None:
                    owner.run.call_ended(call_id, outputs, exception)
            self._end(call_id, _outputs_mapping(outputs), exception, summary)
        except Exception as exc:
            self._failed(exc)

    # -- LM calls --------------------------------------------------------------------------------

    def on_lm_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
        # The LLM call boundary: a budget with stop=True that has reached its limit raises
        # BudgetExceeded (a BaseException, which DSPy's callback runner lets through) before the
        # call is made; one attribute read otherwise.
        check_budget()
        try:
            model, provider = model_and_provider(instance)
            settings = getattr(instance, "kwargs", None)
            span_inputs: dict[str, Any] = {"model": model, "provider": provider}
            if (type(settings) is dict or isinstance(settings, Mapping)) and settings:
                span_inputs["kwargs"] = dict(settings)  # api_key and the like are redacted
            call = self._begin("lm", call_id, instance, f"LM:{model}", span_inputs, model)
            if call is not None:
                raw = inputs.get("kwargs")
                params = request_params(
                    instance, raw if (type(raw) is dict or isinstance(raw, Mapping)) else None
                )
                # The call is DSPy's: LiteLLM's and the SDKs' integrations called inside it
                # contribute their (richer) data to this span's llm_call, never a span of theirs.
                scope = claim("dspy")
                scope.update(model=model, provider=provider, params=params)
                call.state = {
                    "inputs": inputs,
                    "model": model,
                    "provider": provider,
                    "params": params,
                    "claim": scope,
                }
        except Exception as exc:
            self._failed(exc)

    def on_lm_end(
        self, call_id: str, outputs: Any | None, exception: BaseException | None = None
    ) -> None:
        def finish(call: _Call) -> None:
            state = call.state or {}
            text, messages = prompt_of(state.get("inputs") or {})
            entry = history_entry(call.instance, outputs)
            usage: Any = usage_of(entry)
            replayed = is_replayed(entry)
            provider, extra = state.get("provider", ""), None
            scope: CallScope | None = state.get("claim")
            if scope is not None:
                # DSPy's own view (rank 1) fills what no richer source said; LiteLLM's and the
                # SDKs' fields, merged while the call ran, win.
                scope.update(**response_fields(entry))
                if exception is None:
                    scope.finish()
                else:
                    scope.fail(exception)
                if not scope.owner:  # inside another source's call: that one writes it
                    return
                data = scope.data
                provider = data.provider or provider
                if data.usage is not None and not replayed:
                    # The richer source's counts (cached and reasoning tokens); its reported
                    # cost (LiteLLM's response_cost), else the one DSPy recorded.
                    own_cost = usage.cost if usage is not None else None
                    richer = (
                        data.usage if isinstance(data.usage, TokenUsage) else usage_from(data.usage)
                    )
                    cost = next(
                        (c for c in (data.cost, richer.cost, own_cost) if c is not None), None
                    )
                    usage = attrs.evolve(richer, cost=cost, cost_source=None)
                extra = event_extra(data, ["dspy"])
            call.session.emit_llm_call(
                call.span_id,
                provider,
                state.get("model", ""),
                text,
                response_of(outputs),
                usage if usage is not None else TokenUsage(),
                (_perf() - call.start) // 1_000_000,
                messages=messages,
                params=state.get("params"),
                replayed=replayed,
                extra=extra,
            )

        try:
            self._end(call_id, None, exception, finish)
        except Exception as exc:
            self._failed(exc)

    # -- adapters ----------------------------------------------------------------------------------

    # Four hooks per LM call: the guard written out (a closure and two calls less than _guard).

    def on_adapter_format_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
        if self._adapters:
            try:
                kind = type(instance)
                name = _adapter_names.get((kind, "format")) or _adapter_name(kind, "format")
                self._begin("adapter", call_id, instance, name, None)
            except Exception as exc:
                self._failed(exc)

    def on_adapter_format_end(
        self, call_id: str, outputs: Any | None, exception: BaseException | None = None
    ) -> None:
        if self._adapters:
            try:
                self._end(call_id, None, exception)
            except Exception as exc:
                self._failed(exc)

    def on_adapter_parse_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
        if self._adapters:
            try:
                kind = type(instance)
                name = _adapter_names.get((kind, "parse")) or _adapter_name(kind, "parse")
                self._begin("adapter", call_id, instance, name, None)
            except Exception as exc:
                self._failed(exc)

    def on_adapter_parse_end(
        self, call_id: str, outputs: Any | None, exception: BaseException | None = None
    ) -> None:
        if self._adapters:
            parsed = None
            try:
                # A dict as it is: the session copies span outputs itself.
                if type(outputs) is dict:
                    parsed = outputs
                elif isinstance(outputs, Mapping):
                    parsed = dict(outputs)
            except Exception as exc:  # outputs that cannot be read: the span still ends
                self._failed(exc)
            try:
                self._end(call_id, parsed, exception)
            except Exception as exc:
                self._failed(exc)

    # -- tools -------------------------------------------------------------------------------------

    def on_tool_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
        try:
            name = str(getattr(instance, "name", None) or type(instance).__name__)
            raw = inputs.get("kwargs")
            args = dict(raw) if (type(raw) is dict or isinstance(raw, Mapping)) else dict(inputs)
            call = self._begin("tool", call_id, instance, f"Tool:{name}", args)
            if call is not None:
                call.state = {"name": name, "args": args}
        except Exception as exc:
            self._failed(exc)

    def on_tool_end(
        self, call_id: str, outputs: Any | None, exception: BaseException | None = None
    ) -> None:
        def finish(call: _Call) -> None:
            state = call.state or {}
            call.session.emit_tool_call(
                call.span_id,
                state.get("name", call.name),
                state.get("args"),
                plain_data(outputs),
                (_perf() - call.start) // 1_000_000,
                exception is None,
                exception,
            )

        try:
            self._end(call_id, None, exception, finish)
        except Exception as exc:
            self._failed(exc)

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
            call = self._begin("evaluate", call_id, instance, "Evaluate", values)
            if call is not None:
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

        self._guard(lambda: self._end(call_id, summary, exception, finish, lambda: evaluation))

    def on_compile_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
        def begin() -> None:
            student = inputs.get("student")
            trainset = inputs.get("trainset") or []
            values = {
                "student": type(student).__name__ if student is not None else None,
                "trainset": len(trainset) if hasattr(trainset, "__len__") else None,
            }
            name = f"Compile:{type(instance).__name__}"
            self._begin("compile", call_id, instance, name, values)

        self._guard(begin)

    def on_compile_end(
        self, call_id: str, outputs: Any | None, exception: BaseException | None = None
    ) -> None:
        summary = {"program": type(outputs).__name__} if outputs is not None else None
        self._guard(lambda: self._end(call_id, summary, exception))

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
                self._begin("bootstrap", call_id, instance, "Interpreter.bootstrap", None)
                return
            variables = inputs.get("variables")
            call = self._begin("execute", call_id, instance, "Interpreter.execute", {"code": code})
            if call is not None:
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
            owner = self._calls.get(call.parent) if call.parent else None
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
                (_perf() - call.start) // 1_000_000,
                final_answer=final,
            )

        self._guard(lambda: self._end(call_id, None, exception, finish))

    def on_interpreter_tool_call_start(
        self, call_id: str, instance: Any, inputs: dict[str, Any]
    ) -> None:
        def begin() -> None:
            name = str(inputs.get("tool_name") or "tool")
            args = {"args": inputs.get("args"), "kwargs": inputs.get("kwargs")}
            call = self._begin("tool", call_id, instance, f"Tool:{name}", args)
            if call is not None:
                call.state = {"name": name, "args": args}

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
                lambda: self._begin("lifecycle", call_id, instance, "Interpreter.startup", None)
            )

    def on_interpreter_startup_end(
        self, call_id: str, outputs: Any | None, exception: BaseException | None = None
    ) -> None:
        interpreter = self._starting.pop(call_id, None)
        if exception is None and interpreter is not None:
            with contextlib.suppress(TypeError):  # one that takes no weak reference is not kept
                self._started_interpreters.add(interpreter)
        if self.options.interpreter_lifecycle:
            self._guard(lambda: self._end(call_id, None, exception))

    def on_interpreter_shutdown_start(
        self, call_id: str, instance: Any, inputs: dict[str, Any]
    ) -> None:
        with contextlib.suppress(TypeError):
            self._started_interpreters.discard(instance)
        if self.options.interpreter_lifecycle:
            self._guard(
                lambda: self._begin("lifecycle", call_id, instance, "Interpreter.shutdown", None)
            )

    def on_interpreter_shutdown_end(
        self, call_id: str, outputs: Any | None, exception: BaseException | None = None
    ) -> None:
        if self.options.interpreter_lifecycle:
            self._guard(lambda: self._end(call_id, None, exception))
