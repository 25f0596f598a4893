"""The records that flow through llmlog: token usage, log entries and trace events.

Records are attrs classes. :class:`LogEntry` is deliberately not frozen: a frozen attrs class pays an
``object.__setattr__`` per field on construction, which would double the cost of an enabled log
call. Outputs receive the same entry object and must treat it as read-only; one that needs a changed
copy calls :func:`attrs.evolve`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import attrs

from llmlog.severity import Severity

__all__ = ["EMPTY_FIELDS", "LogEntry", "TokenInfo", "TokenUsage", "TraceEvent", "TraceEventType"]

#: Shared immutable empty mapping, used wherever an entry has no fields.
EMPTY_FIELDS: Mapping[str, Any] = MappingProxyType({})


def _total(self: TokenUsage) -> int:
    return self.prompt_tokens + self.completion_tokens


@attrs.frozen
class TokenUsage:
    """Tokens and cost of one or more LLM calls.

    ``cost`` is in US dollars; ``None`` means the price is unknown, which is not the same as free.
    ``total_tokens`` defaults to prompt plus completion tokens.
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = attrs.field(default=attrs.Factory(_total, takes_self=True))
    cost: float | None = None

    def __add__(self, other: TokenUsage) -> TokenUsage:
        """Sum two usages; the cost stays unknown if either side's is."""
        if not isinstance(other, TokenUsage):
            return NotImplemented
        cost = None if self.cost is None or other.cost is None else self.cost + other.cost
        return TokenUsage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.total_tokens + other.total_tokens,
            cost,
        )


#: dspy-go has ``core.TokenInfo`` (tokens) and ``core.TokenUsage`` (tokens and cost); one class serves.
TokenInfo = TokenUsage


@attrs.define(slots=True, weakref_slot=False)
class LogEntry:
    """One structured log record, with the fields that matter for LLM work.

    :param time: wall-clock time in nanoseconds since the epoch (``time.time_ns()``).
    :param severity: the entry's :class:`~llmlog.Severity`.
    :param message: the rendered message (printf arguments already applied).
    :param file: base name of the calling source file.
    :param line: line number of the call.
    :param function: qualified name of the calling function.
    :param trace_id: trace id of the current trace session, if any.
    :param span_id: id of the current span, if any.
    :param model_id: the model in use, from the context or the call.
    :param token_info: token usage attached to the entry.
    :param latency_ms: duration of the operation the entry describes, in milliseconds.
    :param cost: cost of the operation in US dollars (``None``: unknown).
    :param fields: structured key/value data, already redacted and size-capped.
    :param logger: name of the logger that made the entry (``""`` for the root logger).
    :param exception: formatted traceback text when the entry carries an exception.
    """

    time: int
    severity: Severity
    message: str
    file: str = ""
    line: int = 0
    function: str = ""
    trace_id: str | None = None
    span_id: str | None = None
    model_id: str | None = None
    token_info: TokenUsage | None = None
    latency_ms: float | None = None
    cost: float | None = None
    fields: Mapping[str, Any] = EMPTY_FIELDS
    logger: str = ""
    exception: str | None = None


class TraceEventType(enum.StrEnum):
    """The event types of the dspy-go trace format."""

    SESSION = "session"
    SPAN = "span"
    LLM_CALL = "llm_call"
    MODULE = "module"
    CODE_EXEC = "code_exec"
    TOOL_CALL = "tool_call"
    ERROR = "error"

    def __str__(self) -> str:
        return self.value


@attrs.define(slots=True, weakref_slot=False)
class TraceEvent:
    """One event of a trace session, shaped like dspy-go's ``TraceEvent``.

    :param type: the event type.
    :param time: wall-clock time in nanoseconds since the epoch.
    :param trace_id: the session's trace id (32 lowercase hex characters when llmlog made it).
    :param span_id: the span the event belongs to (16 hex characters when llmlog made it).
    :param parent_id: the parent span, carried only by span start events.
    :param data: the type-specific payload (see the trace format reference).

    ``encoded_data`` caches ``data`` as JSON once an encoder asked for it
    (:func:`llmlog.serialize.encoded_event_data`), so the trace file and the flight recorder
    encode it once between them.
    """

    type: TraceEventType
    time: int
    trace_id: str = ""
    span_id: str | None = None
    parent_id: str | None = None
    data: Mapping[str, Any] = EMPTY_FIELDS
    encoded_data: bytes | None = attrs.field(default=None, init=False, eq=False, repr=False)
