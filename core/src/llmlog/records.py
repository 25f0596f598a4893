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
from typing import Any, Final, NamedTuple

import attrs

from llmlog.severity import Severity

__all__ = [
    "DETAIL_FIELDS",
    "DETAIL_LABELS",
    "EMPTY_FIELDS",
    "LogEntry",
    "Moment",
    "TokenInfo",
    "TokenUsage",
    "TraceEvent",
    "TraceEventType",
    "detail_items",
    "detail_text",
]

#: Shared immutable empty mapping, used wherever an entry has no fields.
EMPTY_FIELDS: Mapping[str, Any] = MappingProxyType({})


#: The detail counts of :class:`~llmlog.TokenUsage`, as attribute names and as the keys of a
#: trace's ``usage`` object and of logfmt (the JSON formatter writes them in camelCase).
DETAIL_FIELDS: Final = (
    "cache_read_tokens",
    "cache_creation_tokens",
    "reasoning_tokens",
    "audio_tokens",
    "image_tokens",
)


#: The short label of each detail count in text (``tokens=30(20↑10↓ cached=5 reasoning=4)``).
DETAIL_LABELS: Final = {
    "cache_read_tokens": "cached",
    "cache_creation_tokens": "cache_write",
    "reasoning_tokens": "reasoning",
    "audio_tokens": "audio",
    "image_tokens": "image",
}


def detail_text(usage: TokenUsage) -> str:
    """The detail counts that are not zero as text, each ``label=count`` after a space
    (``" cached=5 reasoning=4"``), or ``""``."""
    return "".join(f" {DETAIL_LABELS[name]}={value}" for name, value in detail_items(usage))


def detail_items(usage: TokenUsage) -> list[tuple[str, int]]:
    """The detail counts of ``usage`` that are not zero, as ``(field, count)`` pairs in the order
    of :data:`DETAIL_FIELDS` (a zero is not written, so usage without details reads as before)."""
    items = []
    for name in DETAIL_FIELDS:
        value = getattr(usage, name)
        if value:
            items.append((name, value))
    return items


def _total(self: TokenUsage) -> int:
    return self.prompt_tokens + self.completion_tokens


@attrs.frozen
class TokenUsage:
    """Tokens and cost of one or more LLM calls.

    ``cost`` is in US dollars; ``None`` means the price is unknown, which is not the same as free.

    The detail counts follow the OpenTelemetry GenAI conventions: ``cache_read_tokens`` (input
    served from the provider's prompt cache) and ``cache_creation_tokens`` (input written to it)
    are *included in* ``prompt_tokens``; ``reasoning_tokens`` are *included in*
    ``completion_tokens``; ``audio_tokens`` and ``image_tokens`` are included in whichever side
    carried them (0: none, or not reported). ``total_tokens`` defaults to prompt plus completion
    tokens, so no detail is counted twice. :func:`llmlog.usage.usage_from` reads a provider's
    usage (OpenAI's, Anthropic's, LiteLLM's, DSPy's) by this rule.

    Where the cost came from is kept beside it, so a reader knows what to trust:
    ``cost_source`` is ``"reported"`` (the provider, the framework or the caller gave it),
    ``"override"`` (the user's ``[prices]``) or ``"table:NAME@VERSION"`` (a price table); a
    usage priced as unknown has no ``cost`` and says why in ``cost_unknown``. Both stay ``None``
    until the usage is priced (:func:`llmlog.pricing.price_token_usage`: a logger does it for
    the entries that carry usage).
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = attrs.field(default=attrs.Factory(_total, takes_self=True))
    cost: float | None = None
    cache_read_tokens: int = attrs.field(default=0, kw_only=True)
    cache_creation_tokens: int = attrs.field(default=0, kw_only=True)
    reasoning_tokens: int = attrs.field(default=0, kw_only=True)
    audio_tokens: int = attrs.field(default=0, kw_only=True)
    image_tokens: int = attrs.field(default=0, kw_only=True)
    cost_source: str | None = attrs.field(default=None, kw_only=True)
    cost_unknown: str | None = attrs.field(default=None, kw_only=True)

    @property
    def has_details(self) -> bool:
        """Whether any detail count (cache read or creation, reasoning, audio, image) is not 0."""
        return bool(
            self.cache_read_tokens
            or self.reasoning_tokens
            or self.cache_creation_tokens
            or self.audio_tokens
            or self.image_tokens
        )

    def __add__(self, other: TokenUsage) -> TokenUsage:
        """Sum two usages, detail counts included; the cost stays unknown if either side's is
        (with that side's reason), and the sources of a known sum are both named
        (``"reported+table:genai-prices@0.0.40"``) when they differ."""
        if not isinstance(other, TokenUsage):
            return NotImplemented
        cost = None if self.cost is None or other.cost is None else self.cost + other.cost
        source = unknown = None
        if cost is not None:
            sources = {self.cost_source, other.cost_source} - {None}
            source = "+".join(sorted(s for s in sources if s)) or None
        else:
            unknown = self.cost_unknown if self.cost is None else other.cost_unknown
        return TokenUsage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.total_tokens + other.total_tokens,
            cost,
            cache_read_tokens=self.cache_read_tokens + other.cache_read_tokens,
            cache_creation_tokens=self.cache_creation_tokens + other.cache_creation_tokens,
            reasoning_tokens=self.reasoning_tokens + other.reasoning_tokens,
            audio_tokens=self.audio_tokens + other.audio_tokens,
            image_tokens=self.image_tokens + other.image_tokens,
            cost_source=source,
            cost_unknown=unknown,
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


class Moment(NamedTuple):
    """When and where a trace event happened, for an event emitted later than it happened (a
    producer that handles its hooks in batches, as the DSPy integration does): what the event
    would have read from the clock and the thread then. Take one with
    :func:`llmlog.tracing.moment`."""

    #: Wall-clock time in nanoseconds since the epoch.
    time: int
    #: The thread's id (``threading.get_ident()``).
    thread: int
    #: The innermost ``trace_task`` then, ``(id, name)``, or ``None``.
    task: tuple[int, str] | None


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
    encode it once between them; ``encoded_tail`` caches the line's end from the trace id on
    (:func:`llmlog.render.event_line_tail`), shared the same way. ``origin`` is the
    :class:`Moment` of an event emitted later than it happened (``None``: it happened where and
    when it was emitted): a sink that notes the thread or task (the flight recorder) takes them
    from there.
    """

    type: TraceEventType
    time: int
    trace_id: str = ""
    span_id: str | None = None
    parent_id: str | None = None
    data: Mapping[str, Any] = EMPTY_FIELDS
    encoded_data: bytes | None = attrs.field(default=None, init=False, eq=False, repr=False)
    encoded_tail: bytes | None = attrs.field(default=None, init=False, eq=False, repr=False)
    origin: Moment | None = attrs.field(default=None, init=False, eq=False, repr=False)
