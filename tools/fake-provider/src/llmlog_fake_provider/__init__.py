"""A small OpenAI-compatible chat-completions server on 127.0.0.1, for tests with no network
(a test utility of the llmlog workspace, never published).

Real clients (the ``openai`` package, LiteLLM and so DSPy's ``dspy.LM``, the ``rlms`` package)
talk to it over HTTP, so an integration's token and cost paths can be tested for real. Each request
is answered by ``reply(request_json) -> str``; usage is counted as whitespace-separated words so
tests can assert exact token numbers.

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
import time
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["FakeOpenAI", "prompt_text", "request_params", "words"]

Reply = Callable[[dict[str, Any]], str]

#: Body fields that are not parameters of the answer: the key's own parts, and how it is sent.
_NOT_PARAMS = frozenset({"model", "messages", "stream", "stream_options"})


def request_params(body: dict[str, Any]) -> dict[str, Any]:
    """The parameters of a chat-completions request (every body field but the model, the
    messages and the streaming switches), as recorded and as the replay keys them."""
    return {k: v for k, v in body.items() if k not in _NOT_PARAMS and v is not None}


def _openai_usage(recorded: dict[str, Any]) -> dict[str, Any]:
    """A recorded trace ``usage`` as OpenAI reports it (detail counts in the details objects)."""
    prompt = int(recorded.get("prompt_tokens") or 0)
    completion = int(recorded.get("completion_tokens") or 0)
    usage: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": int(recorded.get("total_tokens") or prompt + completion),
    }
    if recorded.get("cache_read_tokens"):
        usage["prompt_tokens_details"] = {"cached_tokens": recorded["cache_read_tokens"]}
    if recorded.get("reasoning_tokens"):
        usage["completion_tokens_details"] = {"reasoning_tokens": recorded["reasoning_tokens"]}
    return usage


def words(text: str) -> int:
    """The server's token count: whitespace-separated words."""
    return len(text.split())


def prompt_text(request: dict[str, Any]) -> str:
    """The request's messages as one string (content parts flattened)."""
    parts = []
    for message in request.get("messages", []):
        content = message.get("content")
        if isinstance(content, list):
            content = " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
        parts.append(str(content or ""))
    return "\n".join(parts)


class FakeOpenAI:
    """``with FakeOpenAI(reply) as server: server.base_url`` (ends in ``/v1``).

    ``cached_tokens``: that many of each request's prompt tokens (at most all of them) are
    reported as read from the prompt cache (``prompt_tokens_details.cached_tokens``, included in
    ``prompt_tokens`` as OpenAI counts them). ``reasoning_tokens``: that many reasoning tokens are
    added to each completion (``completion_tokens_details.reasoning_tokens``, included in
    ``completion_tokens``)."""

    def __init__(
        self,
        reply: Reply | None,
        *,
        cached_tokens: int = 0,
        reasoning_tokens: int = 0,
        record: str | os.PathLike[str] | None = None,
        replay: Any = None,
    ) -> None:
        if (reply is None) == (replay is None):
            raise ValueError("give reply (answer requests) or replay (a recorded trace), one")
        self.reply = reply
        self.cached_tokens = cached_tokens
        self.reasoning_tokens = reasoning_tokens
        self.requests: list[dict[str, Any]] = []
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

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                fake.requests.append(body)
                if fake._index is not None:
                    status, payload = fake._replayed(body)
                    self._send(status, payload)
                    return
                assert fake.reply is not None
                text = fake.reply(body)
                prompt_tokens, completion_tokens = words(prompt_text(body)), words(text)
                completion_tokens += fake.reasoning_tokens
                usage: dict[str, Any] = {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                }
                if fake.cached_tokens:
                    usage["prompt_tokens_details"] = {
                        "cached_tokens": min(fake.cached_tokens, prompt_tokens)
                    }
                if fake.reasoning_tokens:
                    usage["completion_tokens_details"] = {"reasoning_tokens": fake.reasoning_tokens}
                payload = {
                    "id": f"chatcmpl-{len(fake.requests)}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": body.get("model", "fake-model"),
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": text},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": usage,
                }
                fake._record(body, text, usage)
                self._send(200, payload)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @classmethod
    def replaying(cls, trace: str | os.PathLike[str] | Sequence[Any] | Any) -> FakeOpenAI:
        """A server answering from recorded traces (paths, or a ``ReplayIndex``): each request
        gets its recorded response and usage; one that was not recorded gets HTTP 400 naming the
        closest recorded request and the difference."""
        return cls(None, replay=trace)

    def _replayed(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
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
            error = {"message": str(exc), "type": "invalid_request_error", "code": "not_recorded"}
            return 400, {"error": error}
        return 200, {
            "id": f"chatcmpl-replayed-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", call.model),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": call.response},
                    "finish_reason": "stop",
                }
            ],
            "usage": _openai_usage(call.usage),
        }

    def _record(self, body: dict[str, Any], text: str, usage: dict[str, Any]) -> None:
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
                text,
                usage,  # OpenAI's shape, read as any provider's usage
                0,
                messages=messages,
                params=request_params(body),
            )
            session.emit_span_end(span, None, None, 0)

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._recorder is not None:
            self._recorder.close()
