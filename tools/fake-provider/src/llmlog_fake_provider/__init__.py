"""A small fake LLM provider on 127.0.0.1 speaking OpenAI's and Anthropic's HTTP APIs, for
tests with no network (a test utility of the llmlog workspace, never published).

Real clients (the ``openai`` and ``anthropic`` packages, LiteLLM and so DSPy's ``dspy.LM``, the
``rlms`` package) talk to it over HTTP, so an integration's token, cost, streaming and error paths
can be tested for real. It serves:

- ``POST /v1/chat/completions``: a completion, or with ``"stream": true`` the chunks (a usage-only
  last chunk when ``stream_options.include_usage`` is set), tool calls as ``tool_calls`` deltas;
- ``POST /v1/responses``: a Response, or its typed stream events (``response.created`` ...
  ``response.completed``);
- ``POST /v1/embeddings``: deterministic vectors (floats, or base64 as the openai package asks);
- ``POST /v1/messages`` (Anthropic; the client's ``base_url`` is :attr:`FakeOpenAI.root_url`): a
  message, or the SSE stream ``message_start`` / ``content_block_*`` / ``message_delta`` /
  ``message_stop``, ``tool_use`` blocks, the cache read/creation usage; and
  ``/v1/messages/count_tokens``.

Any other path is answered as chat completions. Each request is answered by
``reply(request_json)``, which returns the text, an :class:`Answer` (tool calls, finish reason,
usage numbers, a slow answer, a stream that breaks or stalls) or a :class:`Fault` (HTTP 429 with
``retry-after``, 500, 529... with the API's own error body); :meth:`FakeOpenAI.enqueue` puts
answers before the reply's (e.g. one 429, then the normal answer). Usage is counted as
whitespace-separated words so tests can assert exact token numbers.

Record and replay, for programs that call an OpenAI-compatible API directly (no DSPy):
``FakeOpenAI(reply, record="calls.jsonl")`` writes every request and its answer as an ``llm_call``
of a ``dspy``-format trace (redacted as configured); ``FakeOpenAI.replaying("calls.jsonl")``
answers each request with the recorded response and usage, looked up by
``llmlog-testing-replay``'s index (the model, the messages, and the body's other fields as the
parameters, ``stream`` and ``stream_options`` left out). A request that was not recorded gets
HTTP 400 whose ``error.message`` names the closest recorded request and the difference (OpenAI
clients raise it as ``BadRequestError``; they do not retry a 400).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from . import _render
from ._answers import Answer, Fault, ToolCall, prompt_text, split_text, words

__all__ = [
    "Answer",
    "FakeOpenAI",
    "Fault",
    "ToolCall",
    "prompt_text",
    "request_params",
    "split_text",
    "words",
]

Outcome = str | Answer | Fault
Reply = Callable[[dict[str, Any]], Outcome]

#: Body fields that are not parameters of the answer: the key's own parts, and how it is sent.
_NOT_PARAMS = frozenset({"model", "messages", "stream", "stream_options"})


def request_params(body: dict[str, Any]) -> dict[str, Any]:
    """The parameters of a chat-completions request (every body field but the model, the
    messages and the streaming switches), as recorded and as the replay keys them."""
    return {k: v for k, v in body.items() if k not in _NOT_PARAMS and v is not None}


def _api(path: str) -> str:
    """Which API a request path belongs to (anything unknown is chat completions, as before)."""
    path = path.split("?", 1)[0].rstrip("/")
    if path.endswith("/messages/count_tokens"):
        return "count_tokens"
    for suffix in ("messages", "responses", "embeddings"):
        if path.endswith("/" + suffix):
            return suffix
    return "chat"


class FakeOpenAI:
    """``with FakeOpenAI(reply) as server: server.base_url`` (ends in ``/v1``, for OpenAI
    clients); :attr:`root_url` for Anthropic clients (they add ``/v1/messages`` themselves).

    ``cached_tokens``: that many of each request's prompt tokens (at most all of them) are
    reported as read from the prompt cache (``prompt_tokens_details.cached_tokens``, included in
    ``prompt_tokens`` as OpenAI counts them; Anthropic's ``cache_read_input_tokens``, not in its
    ``input_tokens``). ``cache_creation_tokens``: that many of the rest are reported as written
    to the cache (Anthropic's ``cache_creation_input_tokens``). ``reasoning_tokens``: that many
    reasoning tokens are added to each completion (``completion_tokens_details.reasoning_tokens``,
    included in ``completion_tokens``). An :class:`Answer` overrides each for one request.

    What was asked: :attr:`requests` (the JSON bodies), :attr:`paths` and :attr:`headers`, in
    arrival order."""

    def __init__(
        self,
        reply: Reply | None,
        *,
        cached_tokens: int = 0,
        reasoning_tokens: int = 0,
        cache_creation_tokens: int = 0,
        record: str | os.PathLike[str] | None = None,
        replay: Any = None,
    ) -> None:
        if (reply is None) == (replay is None):
            raise ValueError("give reply (answer requests) or replay (a recorded trace), one")
        self.reply = reply
        self.cached_tokens = cached_tokens
        self.reasoning_tokens = reasoning_tokens
        self.cache_creation_tokens = cache_creation_tokens
        self.requests: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.headers: list[dict[str, str]] = []
        self._queued: list[Outcome] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._index = None
        if replay is not None:
            from llmlog_testing_replay import ReplayIndex

            self._index = replay if isinstance(replay, ReplayIndex) else ReplayIndex.load(replay)
        self._recorder = None
        if record is not None:
            import llmlog

            self._recorder = llmlog.new_trace_session(record, format="dspy")
        self._record_lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:
                try:
                    fake._answer(self)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client went away (an early close, a timeout): nothing to answer

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.root_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.base_url = f"{self.root_url}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def anthropic_base_url(self) -> str:
        """The ``base_url`` for ``anthropic.Anthropic`` (the server's root)."""
        return self.root_url

    @classmethod
    def replaying(cls, trace: str | os.PathLike[str] | Sequence[Any] | Any) -> FakeOpenAI:
        """A server answering from recorded traces (paths, or a ``ReplayIndex``): each request
        gets its recorded response and usage; one that was not recorded gets HTTP 400 naming the
        closest recorded request and the difference."""
        return cls(None, replay=trace)

    def enqueue(self, *outcomes: Outcome) -> None:
        """Answer the next requests with these (texts, :class:`Answer`, :class:`Fault`), in
        order, before ``reply`` is asked again: e.g. ``enqueue(Fault(429, retry_after=0))`` for
        a client's retry."""
        with self._lock:
            self._queued.extend(outcomes)

    # -- answering ------------------------------------------------------------------------------

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length", 0))
        body = json.loads(handler.rfile.read(length) or b"{}")
        api = _api(handler.path)
        with self._lock:
            self.requests.append(body)
            self.paths.append(handler.path)
            self.headers.append({k.lower(): v for k, v in handler.headers.items()})
            number = len(self.requests)
            queued = self._queued.pop(0) if self._queued else None
        if api == "count_tokens":
            _send_json(handler, 200, {"input_tokens": words(prompt_text(body))})
            return
        usage_override: dict[str, Any] | None = None
        if queued is not None:
            outcome: Outcome = queued
        elif self._index is not None:
            replayed = self._replayed(body)
            if isinstance(replayed, Fault):
                outcome = replayed
            else:
                outcome, usage_override = replayed
        else:
            assert self.reply is not None
            try:
                outcome = self.reply(body)
            except Exception as exc:  # a test's reply failed: say so in the answer, do not hang
                outcome = Fault(500, f"fake provider: reply raised {exc!r}")
        if isinstance(outcome, Fault):
            self._wait(outcome.delay)
            self._send_fault(handler, api, outcome)
            return
        answer = outcome if isinstance(outcome, Answer) else Answer(text=str(outcome))
        self._wait(answer.delay)
        model = answer.model or str(body.get("model") or "fake-model")
        if api == "embeddings":
            _send_json(handler, 200, _render.embeddings(body, number, model))
            return
        resolved = self._resolve(answer, body, number, model, usage_override)
        if api == "chat":
            self._record(body, resolved)
        if not body.get("stream"):
            if api == "messages":
                payload = _render.anthropic_message(resolved)
            elif api == "responses":
                payload = _render.responses_body(resolved, body)
            else:
                payload = _render.chat_completion(resolved)
            _send_json(handler, 200, payload)
            return
        if api == "messages":
            events = _render.anthropic_stream(resolved)
        elif api == "responses":
            events = _render.responses_stream(resolved, body)
        else:
            options = body.get("stream_options") or {}
            events = _render.chat_stream(resolved, bool(options.get("include_usage")))
        self._stream(handler, api, events, answer)

    def _resolve(
        self,
        answer: Answer,
        body: dict[str, Any],
        number: int,
        model: str,
        usage: dict[str, Any] | None,
    ) -> _render.Resolved:
        tool_calls = list(answer.tool_calls)
        finish = answer.finish_reason or ("tool_calls" if tool_calls else "stop")
        if usage is not None:  # replayed: the recorded numbers
            prompt = int(usage.get("prompt_tokens") or 0)
            completion = int(usage.get("completion_tokens") or 0)
            cached = int(usage.get("cache_read_tokens") or 0)
            reasoning = int(usage.get("reasoning_tokens") or 0)
            created = int(usage.get("cache_creation_tokens") or 0)
        else:
            reasoning = _pick(answer.reasoning_tokens, self.reasoning_tokens)
            prompt = _pick(answer.prompt_tokens, words(prompt_text(body)))
            if answer.completion_tokens is not None:
                completion = answer.completion_tokens
            else:
                completion = words(answer.text) + reasoning
                completion += sum(words(call.arguments_json()) for call in tool_calls)
            cached = min(_pick(answer.cached_tokens, self.cached_tokens), prompt)
            created = min(
                _pick(answer.cache_creation_tokens, self.cache_creation_tokens), prompt - cached
            )
        return _render.Resolved(
            number=number,
            model=model,
            text=answer.text,
            tool_calls=tool_calls,
            finish_reason=finish,
            prompt_tokens=prompt,
            completion_tokens=completion,
            cached_tokens=cached,
            reasoning_tokens=reasoning,
            cache_creation_tokens=created,
        )

    def _wait(self, seconds: float) -> None:
        """A slow answer: wait, but never past the server's close (a test's end)."""
        if seconds > 0:
            self._closing.wait(seconds)

    def _send_fault(self, handler: BaseHTTPRequestHandler, api: str, fault: Fault) -> None:
        if api == "messages" or api == "count_tokens":
            payload = _render.anthropic_error(fault.status, fault.message, fault.type)
        else:
            payload = _render.openai_error(fault.status, fault.message, fault.type, fault.code)
        extra = {}
        if fault.retry_after is not None:
            extra["retry-after"] = f"{fault.retry_after:g}"
            extra["retry-after-ms"] = str(int(fault.retry_after * 1000))
        _send_json(handler, fault.status, payload, extra)

    def _stream(
        self,
        handler: BaseHTTPRequestHandler,
        api: str,
        events: list[_render.Event],
        answer: Answer,
    ) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Cache-Control", "no-cache")
        handler.send_header("request-id", "req_fake")
        handler.send_header("x-request-id", "req_fake")
        handler.end_headers()
        deltas = 0
        stalled = False
        for name, data, is_delta in events:
            if is_delta:
                if answer.stream_error_after is not None and deltas >= answer.stream_error_after:
                    if api == "messages":
                        error = _render.anthropic_error(answer.error_status, None, None)
                        _write_event(handler, "error", error)
                    else:
                        error = _render.openai_error(answer.error_status, None, None)
                        _write_event(handler, "error" if api == "responses" else None, error)
                    return
                if answer.stall_after is not None and deltas >= answer.stall_after and not stalled:
                    stalled = True
                    self._wait(answer.stall_seconds)
                deltas += 1
            _write_event(handler, name, data)

    def _replayed(self, body: dict[str, Any]) -> Fault | tuple[Answer, dict[str, Any]]:
        from llmlog_testing_replay import ReplayError

        assert self._index is not None
        messages = body.get("messages")
        try:
            call = self._index.take(
                str(body.get("model", "")),
                messages if isinstance(messages, list) else [],
                request_params(body),
            )
        except ReplayError as exc:
            return Fault(400, str(exc), code="not_recorded")
        model = str(body.get("model") or call.model)
        return Answer(text=call.response, model=model), dict(call.usage)

    def _record(self, body: dict[str, Any], answer: _render.Resolved) -> None:
        session = self._recorder
        if session is None:
            return
        from llmlog.ext import new_span_id

        model = str(body.get("model", ""))
        messages = body.get("messages") if isinstance(body.get("messages"), list) else None
        with self._record_lock:
            span = new_span_id()
            session.emit_span_start(span, None, f"LM:{model}", {"model": model})
            session.emit_llm_call(
                span,
                "openai",
                model,
                prompt_text(body),
                answer.text,
                _render.chat_usage(answer),  # OpenAI's shape, read as any provider's usage
                0,
                messages=messages,
                params=request_params(body),
            )
            session.emit_span_end(span, None, None, 0)

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing.set()  # slow answers and stalled streams end now
        self._server.shutdown()
        self._server.server_close()
        if self._recorder is not None:
            self._recorder.close()


def _pick(value: int | None, default: int) -> int:
    return default if value is None else value


def _send_json(
    handler: BaseHTTPRequestHandler,
    status: int,
    payload: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> None:
    data = json.dumps(payload).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.send_header("request-id", "req_fake")
    handler.send_header("x-request-id", "req_fake")
    for key, value in (headers or {}).items():
        handler.send_header(key, value)
    handler.end_headers()
    handler.wfile.write(data)


def _write_event(handler: BaseHTTPRequestHandler, name: str | None, data: Any) -> None:
    text = data if isinstance(data, str) else json.dumps(data)
    line = (f"event: {name}\n" if name else "") + f"data: {text}\n\n"
    handler.wfile.write(line.encode())
    handler.wfile.flush()
