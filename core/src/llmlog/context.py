"""Context carried in :mod:`contextvars`: model id, token usage, trace session, current span, fields.

Everything lives in one immutable :class:`LogContext` held by one context variable, so a log call
reads the whole context with a single ``ContextVar.get()``. Each ``with_*`` helper is a context
manager that installs a changed copy on entry and restores the previous one on exit.

asyncio tasks copy the context when they are created, so a task sees what was set when it was
spawned and its own changes stay inside it. Threads start with an empty context: hand yours over
with :func:`bind_current` (or ``contextvars.copy_context().run``).
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable, Mapping
from types import MappingProxyType, TracebackType
from typing import Any, NamedTuple, ParamSpec, Protocol, TypeVar

from llmlog.records import EMPTY_FIELDS, TokenUsage

__all__ = [
    "LogContext",
    "TraceSessionLike",
    "bind_current",
    "current_context",
    "enter_context",
    "exit_context",
    "get_model_id",
    "get_span_id",
    "get_token_info",
    "get_trace_id",
    "get_trace_session",
    "with_fields",
    "with_model_id",
    "with_span_id",
    "with_token_info",
    "with_trace_id",
    "with_trace_session",
]

P = ParamSpec("P")
R = TypeVar("R")


class TraceSessionLike(Protocol):
    """What the context needs from a trace session: its trace id."""

    @property
    def trace_id(self) -> str: ...


class LogContext(NamedTuple):
    """The llmlog values of the current context. Read it with :func:`current_context`.

    Immutable: change it with the ``with_*`` helpers (or :func:`enter_context`). A named tuple:
    a span enters and leaves a context (a DSPy LM call opens five), and a tuple is built in one
    call where a class with slots takes one per field.
    """

    model_id: str | None = None
    token_info: TokenUsage | None = None
    trace_id: str | None = None
    span_id: str | None = None
    session: Any = None
    fields: Mapping[str, Any] = EMPTY_FIELDS


_EMPTY = LogContext()

#: ``_new_context(LogContext, (model_id, token_info, trace_id, span_id, session, fields))``: the
#: context built without the named tuple's keyword-argument ``__new__`` (a Python function).
_new_context = tuple.__new__


_UNSET: Any = object()
_current: contextvars.ContextVar[LogContext] = contextvars.ContextVar(
    "llmlog_context", default=_EMPTY
)

#: Read by the logger on every call; a module global avoids an attribute lookup per call.
get_current = _current.get


def current_context() -> LogContext:
    """Return the :class:`LogContext` of the calling thread or task."""
    return _current.get()


class _Change:
    """A context manager that applies ``changes`` to the context while the block runs."""

    __slots__ = ("_changes", "_fields", "_tokens")

    def __init__(self, changes: dict[str, Any], fields: Mapping[str, Any] | None = None) -> None:
        self._changes = changes
        # Added to the fields in force when the block is entered, not when this was created.
        self._fields = fields
        # A stack, so one object can be entered again (nested or after a previous exit).
        self._tokens: list[contextvars.Token[LogContext]] = []

    def __enter__(self) -> LogContext:
        ctx = _current.get()
        changes = self._changes
        if self._fields:
            changes = {**changes, "fields": MappingProxyType({**ctx.fields, **self._fields})}
        # Built directly: spans enter a context change twice per span.
        get = changes.get
        ctx = _new_context(
            LogContext,
            (
                get("model_id", ctx.model_id),
                get("token_info", ctx.token_info),
                get("trace_id", ctx.trace_id),
                get("span_id", ctx.span_id),
                get("session", ctx.session),
                get("fields", ctx.fields),
            ),
        )
        self._tokens.append(_current.set(ctx))
        return ctx

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        _current.reset(self._tokens.pop())


def enter_context(
    *, model_id: Any = _UNSET, trace_id: Any = _UNSET, span_id: Any = _UNSET, session: Any = _UNSET
) -> contextvars.Token[LogContext]:
    """Change the current context now; undo it with :func:`exit_context`.

    For integrations whose "start" and "end" are separate callbacks (DSPy's hooks), where a
    ``with`` block cannot span both. Arguments left out keep their current values.
    """
    model, token_info, trace, span, current, fields = _current.get()
    return _current.set(
        _new_context(
            LogContext,
            (
                model if model_id is _UNSET else model_id,
                token_info,
                trace if trace_id is _UNSET else trace_id,
                span if span_id is _UNSET else span_id,
                current if session is _UNSET else session,
                fields,
            ),
        )
    )


def exit_context(token: contextvars.Token[LogContext]) -> None:
    """Undo :func:`enter_context`. From another context (a callback that ended on another thread
    or task) the token does not apply and this does nothing."""
    try:
        _current.reset(token)
    except ValueError:
        pass


def with_model_id(model_id: str | None) -> _Change:
    """Attach ``model_id`` to every entry logged inside the ``with`` block."""
    return _Change({"model_id": model_id})


def with_token_info(token_info: TokenUsage | None) -> _Change:
    """Attach token usage to every entry logged inside the ``with`` block."""
    return _Change({"token_info": token_info})


def with_trace_id(trace_id: str | None) -> _Change:
    """Attach a trace id (without a session object) inside the ``with`` block."""
    return _Change({"trace_id": trace_id})


def with_trace_session(session: TraceSessionLike | None) -> _Change:
    """Make ``session`` the current trace session; entries carry its trace id."""
    trace_id = session.trace_id if session is not None else None
    return _Change({"session": session, "trace_id": trace_id})


def with_span_id(span_id: str | None) -> _Change:
    """Make ``span_id`` the current span; entries carry it and new spans take it as parent."""
    return _Change({"span_id": span_id})


def with_fields(**fields: Any) -> _Change:
    """Add ``fields`` to every entry logged inside the block (like structlog's ``bound_contextvars``)."""
    return _Change({}, fields)


def get_model_id() -> str | None:
    """Return the current model id, or ``None``."""
    return _current.get().model_id


def get_token_info() -> TokenUsage | None:
    """Return the current token usage, or ``None``."""
    return _current.get().token_info


def get_trace_id() -> str | None:
    """Return the current trace id, or ``None``."""
    return _current.get().trace_id


def get_span_id() -> str | None:
    """Return the current span id, or ``None``."""
    return _current.get().span_id


def get_trace_session() -> Any:
    """Return the current trace session, or ``None``."""
    return _current.get().session


def bind_current(fn: Callable[P, R]) -> Callable[P, R]:
    """Wrap ``fn`` so it runs in a copy of the *caller's* current context.

    Use it to hand the context to a thread: ``executor.submit(bind_current(work), item)``. Each call
    of the wrapper runs in its own fresh copy, so concurrent calls cannot disturb each other.
    """
    captured = contextvars.copy_context()

    @functools.wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        return captured.copy().run(fn, *args, **kwargs)

    return run
