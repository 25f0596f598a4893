"""The LiteLLM ``CustomLogger`` that turns LiteLLM's callbacks into calls of the GenAI engine.

How LiteLLM (1.110) calls a ``CustomLogger``, which this follows (measured against a loopback
server; ``tests/test_litellm_hooks.py`` keeps it true):

- ``log_pre_api_call`` runs before the request, in the caller's context (on the caller's thread
  for ``completion``/``embedding`` and ``acompletion``; for ``aembedding`` on an executor thread
  in a copy of the caller's context): the call is opened there, so its span's parent is the
  caller's current llmlog span and a DSPy call claimed around it is found. The call is keyed by
  ``litellm_call_id``, which every later hook carries.
- ``log_post_api_call`` runs when the HTTP answer (or a stream's head) is in: the call leaves
  the context there (an SDK called below LiteLLM, e.g. the OpenAI SDK's embeddings, nested in it
  until then). For ``acompletion(stream=True)`` it may come *before* ``log_pre_api_call``.
- Success is reported after the call returned: ``log_success_event`` on LiteLLM's thread pool
  for sync calls (contextvars copied for plain calls, not for streams), ``async_log_success_event``
  as a task on the caller's loop for async ones; a stream's once it is consumed, with the
  assembled response. ``kwargs`` then holds ``custom_llm_provider``, ``model`` (resolved),
  ``response_cost``, ``completion_start_time`` (first chunk), ``standard_logging_object``.
- Failures come as ``log_failure_event``/``async_log_failure_event`` with ``kwargs["exception"]``
  (LiteLLM's mapped class: ``RateLimitError`` with ``status_code`` 429...).
- A stream the caller stops early or drops gets no callback at all: the call is ended when
  LiteLLM's logging object of the call is collected (``stream_end = "abandoned"``).

Nothing here reaches the application: each hook catches its own failures, counted and reported
once through the engine's :func:`~llmlog_engine_genai.problem`.
"""

from __future__ import annotations

import datetime
import sys
import threading
import weakref
from collections.abc import Mapping
from types import FrameType
from typing import Any

from litellm.integrations.custom_logger import CustomLogger

from llmlog_engine_genai import CallData, CallScope, problem, start_call
from llmlog_integration_litellm.options import LiteLLMOptions

__all__ = ["LlmlogLiteLLMLogger"]

#: LiteLLM's call types by the engine's operation names.
_OPERATIONS = {
    "completion": "chat",
    "acompletion": "chat",
    "embedding": "embeddings",
    "aembedding": "embeddings",
    "text_completion": "completion",
    "atext_completion": "completion",
    "responses": "responses",
    "aresponses": "responses",
    "anthropic_messages": "messages",
}

#: Request settings that are not parameters of the answer (left out of ``params``).
_NOT_PARAMS = frozenset(
    {
        "stream",
        "stream_options",
        "extra_body",
        "extra_headers",
        "headers",
        "metadata",
        "max_retries",
        "num_retries",
        "timeout",
        "request_timeout",
        "base_url",
        "organization",
    }
)

#: Calls open at once, at most: past it the oldest is ended as it stands (LiteLLM never reported
#: it), reported once, so a LiteLLM that stopped reporting cannot grow the table without bound.
_MAX_OPEN = 10_000

#: ``log_post_api_call`` seen before ``log_pre_api_call`` (an async stream): at most this many
#: call ids remembered, the oldest dropped first.
_EARLY_POSTS = 1024


class _Open:
    """One call LiteLLM started and has not reported the end of. Holds no reference to
    LiteLLM's objects of the call (its ``kwargs`` reach its logging object, whose release ends
    an abandoned stream): only the times a stream's chunks say."""

    __slots__ = ("first", "scope", "start", "stream")

    def __init__(self, scope: CallScope, start: Any, stream: bool) -> None:
        self.scope = scope
        self.start = start  # when the call was opened, as LiteLLM's datetimes
        self.stream = stream
        self.first: Any = None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _get(obj: Any, name: str) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def _plain(value: Any) -> Any:
    """A pydantic object of LiteLLM's (a message, a tool call) as plain data."""
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            return dump(exclude_none=True)
        except Exception:
            return str(value)
    return value


def _operation(kwargs: Mapping[str, Any]) -> str:
    call_type = str(kwargs.get("call_type") or "completion")
    return _OPERATIONS.get(call_type, call_type)


def _params(kwargs: Mapping[str, Any]) -> dict[str, Any] | None:
    optional = kwargs.get("optional_params")
    if not isinstance(optional, Mapping):
        return None
    params = {
        str(k): v
        for k, v in optional.items()
        if v is not None
        and k not in _NOT_PARAMS
        and not str(k).startswith("api_")
        and not (isinstance(v, dict) and not v)
    }
    return params or None


def _messages(kwargs: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    messages = kwargs.get("messages")
    if not isinstance(messages, list) or not messages:
        return None
    plain = [_plain(m) for m in messages]
    return [dict(m) for m in plain if isinstance(m, Mapping)] or None


def _prompt(kwargs: Mapping[str, Any]) -> str | None:
    """An embedding's or a text completion's input as text."""
    value = kwargs.get("input")
    if value is None:
        value = kwargs.get("prompt")
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "\n".join(value)
    return None if value is None else str(value)


def _ms(later: Any, earlier: Any) -> int | None:
    if isinstance(later, datetime.datetime) and isinstance(earlier, datetime.datetime):
        millis = (later - earlier).total_seconds() * 1000
        return max(0, int(millis))
    return None


def _cost(kwargs: Mapping[str, Any]) -> float | None:
    cost = kwargs.get("response_cost")
    if isinstance(cost, int | float) and not isinstance(cost, bool) and cost >= 0:
        return float(cost)
    return None


def _request_fields(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """What LiteLLM knows about a call before it is made."""
    stream = bool(kwargs.get("stream")) or bool(_get(kwargs.get("optional_params"), "stream"))
    operation = _operation(kwargs)
    # LiteLLM gives an embedding's input as a user message too: the input is the prompt.
    chat = operation not in ("embeddings", "completion")
    return {
        "operation": operation,
        "provider": _str(kwargs.get("custom_llm_provider")),
        "model": _str(kwargs.get("model")),
        "messages": _messages(kwargs) if chat else None,
        "prompt": None if chat and kwargs.get("messages") else _prompt(kwargs),
        "params": _params(kwargs),
        "stream": stream,
    }


def _response_fields(response: Any) -> dict[str, Any]:
    """What LiteLLM's response (a ``ModelResponse``, an ``EmbeddingResponse``...) says."""
    fields: dict[str, Any] = {"response_model": _str(_get(response, "model"))}
    usage = _get(response, "usage")
    if usage is not None:
        fields["usage"] = _plain(usage)
    choices = _get(response, "choices")
    if isinstance(choices, list) and choices:
        first = choices[0]
        fields["finish_reason"] = _str(_get(first, "finish_reason"))
        message = _get(first, "message")
        if message is None:  # a text completion
            fields["response"] = _str(_get(first, "text"))
            return fields
        content = _get(message, "content")
        fields["response"] = content if isinstance(content, str) else None
        calls = _get(message, "tool_calls")
        if isinstance(calls, list) and calls:
            tool_calls = []
            for call in calls:
                function = _get(call, "function")
                tool_calls.append(
                    {
                        "id": _get(call, "id"),
                        "name": _get(function, "name"),
                        "arguments": _get(function, "arguments"),
                    }
                )
            fields["tool_calls"] = tool_calls
            plain = _plain(message)
            if isinstance(plain, Mapping):
                fields["response_messages"] = [dict(plain)]
    return fields


def _logging_object(kwargs: Mapping[str, Any]) -> Any:
    """LiteLLM's ``Logging`` object of the call whose ``model_call_details`` is ``kwargs``: the
    ``self`` of the frame that called the hook (checked by identity, so a LiteLLM that calls the
    hook some other way gives ``None`` and only the early-stop detection is lost)."""
    frame: FrameType | None = sys._getframe(2)
    for _ in range(4):
        if frame is None:
            break
        candidate = frame.f_locals.get("self")
        if getattr(candidate, "model_call_details", None) is kwargs:
            return candidate
        frame = frame.f_back
    return None


class LlmlogLiteLLMLogger(CustomLogger):
    """A LiteLLM ``CustomLogger`` recording each call through the GenAI engine; registered by
    :func:`~llmlog_integration_litellm.instrument`.

    :param options: the engine's session policy (``[integrations.litellm]``).
    """

    def __init__(self, options: LiteLLMOptions | None = None) -> None:
        super().__init__()
        self.options = options or LiteLLMOptions()
        self._open: dict[str, _Open] = {}
        self._posted: dict[str, None] = {}  # ordered: the oldest is dropped first
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._ending = 0  # calls taken to be ended, not written yet

    # -- bookkeeping -------------------------------------------------------------------------

    @property
    def open_calls(self) -> int:
        """Calls started and not reported ended yet."""
        return len(self._open)

    @property
    def open_streams(self) -> int:
        """Streams among :attr:`open_calls` (they may end only when released)."""
        with self._lock:
            return sum(1 for entry in self._open.values() if entry.stream)

    def _take(self, call_id: Any) -> _Open | None:
        """Take the call to end it (once: whoever takes it ends it, then calls :meth:`_done`)."""
        with self._lock:
            entry = self._open.pop(call_id, None) if isinstance(call_id, str) else None
            if entry is not None:
                self._ending += 1
        return entry

    def _done(self) -> None:
        """A call taken by :meth:`_take` is written: :meth:`wait_idle` may return."""
        with self._lock:
            self._ending -= 1
            if not self._open and not self._ending:
                self._idle.notify_all()

    def _idle_now(self) -> bool:
        return not self._open and not self._ending

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every call started has been reported ended and written (or ``timeout``
        seconds); ``True`` if none is open."""
        with self._idle:
            return self._idle.wait_for(self._idle_now, timeout)

    # -- the hooks -----------------------------------------------------------------------------

    def log_pre_api_call(self, model: Any, messages: Any, kwargs: Any) -> None:
        """Open the call, in the caller's context (parent span, an enclosing DSPy claim)."""
        try:
            call_id = kwargs.get("litellm_call_id")
            if not isinstance(call_id, str):
                return
            with self._lock:
                if call_id in self._open:  # called again for the same call (a retry): one call
                    return
            fields = _request_fields(kwargs)
            scope = start_call(CallData("litellm", **fields), options=self.options)
            evicted: _Open | None = None
            with self._lock:
                # The span starts here, not at LiteLLM's own start_time (before it resolved the
                # model): a stream's time to first token is counted from here too, in LiteLLM's
                # clock (naive local datetimes).
                self._open[call_id] = _Open(scope, datetime.datetime.now(), fields["stream"])
                posted = self._posted.pop(call_id, 0) is None
                if len(self._open) > _MAX_OPEN:
                    evicted = self._open.pop(next(iter(self._open)))
                    self._ending += 1
            if evicted is not None:
                try:
                    problem("litellm: too many calls open", "the oldest was ended unreported")
                    evicted.scope.finish()
                finally:
                    self._done()
            if posted:  # the answer is in already: nothing below LiteLLM is left to nest
                scope.detach()
            if fields["stream"]:
                owner = _logging_object(kwargs)
                if owner is not None:
                    weakref.finalize(owner, self._released, call_id)
        except Exception as exc:
            problem("litellm: opening a call", exc)

    def log_post_api_call(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        """The answer (or a stream's head) is in: the call leaves the caller's context."""
        try:
            call_id = kwargs.get("litellm_call_id")
            if not isinstance(call_id, str):
                return
            with self._lock:
                entry = self._open.get(call_id)
                if entry is None:
                    self._posted[call_id] = None
                    while len(self._posted) > _EARLY_POSTS:
                        del self._posted[next(iter(self._posted))]
            if entry is not None:
                entry.scope.detach()
        except Exception as exc:
            problem("litellm: post-call", exc)

    def _success(self, kwargs: Any, response_obj: Any, start_time: Any) -> None:
        entry = self._take(kwargs.get("litellm_call_id"))
        if entry is None:  # started before instrument(), or reported already
            return
        try:
            fields = _request_fields(kwargs)
            response = kwargs.get("complete_streaming_response") or response_obj
            fields.update(_response_fields(response))
            fields["cost"] = _cost(kwargs)
            if fields["stream"]:
                fields["stream_end"] = "completed"
                fields["time_to_first_token_ms"] = _ms(
                    kwargs.get("completion_start_time"), entry.start
                )
            entry.scope.finish(**fields)
        except Exception as exc:
            problem("litellm: success", exc)
        finally:
            self._done()

    def _failure(self, kwargs: Any, response_obj: Any) -> None:
        entry = self._take(kwargs.get("litellm_call_id"))
        if entry is None:
            return
        try:
            fields = _request_fields(kwargs)
            if fields["stream"]:
                fields["stream_end"] = "error"
            exception = kwargs.get("exception")
            if not isinstance(exception, BaseException):
                info = _get(kwargs.get("standard_logging_object"), "error_information") or {}
                message = _str(_get(info, "error_message")) or "LiteLLM reported a failure"
                fields["error_type"] = _str(_get(info, "error_class"))
                code = _str(_get(info, "error_code"))
                if code is not None and code.isdigit():
                    fields["status_code"] = int(code)
                exception = RuntimeError(message)
            entry.scope.fail(exception, **fields)
        except Exception as exc:
            problem("litellm: failure", exc)
        finally:
            self._done()

    def _released(self, call_id: str) -> None:
        # Runs wherever the logging object is collected: possibly in the middle of code holding
        # a lock of ours, the engine's or a session's (a collection can start at any
        # allocation). The call is ended on a thread of its own, which takes those locks freely.
        try:
            threading.Thread(
                target=self._abandoned, args=(call_id,), name="llmlog-litellm-stream", daemon=True
            ).start()
        except Exception as exc:  # no thread at interpreter shutdown: the call stays open
            problem("litellm: an abandoned stream", exc)

    def _abandoned(self, call_id: str) -> None:
        # The call's logging object was collected with no end reported: a stream the caller
        # stopped early, closed or dropped (LiteLLM has no callback for these).
        entry = self._take(call_id)
        if entry is None:  # reported (consumed, failed) before it was released
            return
        try:
            entry.scope.finish(
                stream_end="abandoned", time_to_first_token_ms=_ms(entry.first, entry.start)
            )
        except Exception as exc:
            problem("litellm: an abandoned stream", exc)
        finally:
            self._done()

    def _chunk(self, kwargs: Any) -> None:
        # A stream's chunk was logged (from LiteLLM's thread pool): keep the first chunk's time,
        # for a stream that will never be reported consumed.
        try:
            call_id = kwargs.get("litellm_call_id")
            entry = self._open.get(call_id) if isinstance(call_id, str) else None
            if entry is not None and entry.first is None:
                entry.first = kwargs.get("completion_start_time")
        except Exception as exc:
            problem("litellm: a stream chunk", exc)

    def log_stream_event(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        self._chunk(kwargs)

    async def async_log_stream_event(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        self._chunk(kwargs)

    def log_success_event(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        self._success(kwargs, response_obj, start_time)

    async def async_log_success_event(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        self._success(kwargs, response_obj, start_time)

    def log_failure_event(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        self._failure(kwargs, response_obj)

    async def async_log_failure_event(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        self._failure(kwargs, response_obj)
