"""A small OpenAI-compatible chat-completions server on 127.0.0.1, for tests with no network
(a test utility of the llmlog workspace, never published).

Real clients (the ``openai`` package, LiteLLM and so DSPy's ``dspy.LM``, the ``rlms`` package)
talk to it over HTTP, so an integration's token and cost paths can be tested for real. Each request
is answered by ``reply(request_json) -> str``; usage is counted as whitespace-separated words so
tests can assert exact token numbers.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["FakeOpenAI", "prompt_text", "words"]

Reply = Callable[[dict[str, Any]], str]


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

    def __init__(self, reply: Reply, *, cached_tokens: int = 0, reasoning_tokens: int = 0) -> None:
        self.reply = reply
        self.cached_tokens = cached_tokens
        self.reasoning_tokens = reasoning_tokens
        self.requests: list[dict[str, Any]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                fake.requests.append(body)
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
                data = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
