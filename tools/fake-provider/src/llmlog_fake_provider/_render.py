"""The answers as each API sends them: OpenAI chat completions, Responses and embeddings, and
Anthropic messages; a whole JSON body, or the server-sent events of a stream."""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import time
from dataclasses import dataclass
from typing import Any

from ._answers import ToolCall, split_text, words

__all__ = [
    "Event",
    "Resolved",
    "anthropic_error",
    "anthropic_message",
    "anthropic_stream",
    "chat_completion",
    "chat_stream",
    "embeddings",
    "openai_error",
    "responses_body",
    "responses_stream",
]

#: One server-sent event: the ``event:`` name (None: none sent), its JSON data (a string is sent
#: as it is, e.g. ``[DONE]``), and whether it carries content (counted for the stream faults).
Event = tuple[str | None, Any, bool]


@dataclass
class Resolved:
    """One answer with everything decided: ids, finish reason and usage numbers."""

    number: int
    model: str
    text: str
    tool_calls: list[ToolCall]
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int  # reasoning tokens included, as OpenAI counts them
    cached_tokens: int
    reasoning_tokens: int
    cache_creation_tokens: int

    def call_id(self, index: int, prefix: str) -> str:
        call = self.tool_calls[index]
        return call.id if call.id is not None else f"{prefix}_{self.number}_{index}"


# ---------------------------------------------------------------------------------------------
# OpenAI chat completions


def chat_usage(answer: Resolved) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "prompt_tokens": answer.prompt_tokens,
        "completion_tokens": answer.completion_tokens,
        "total_tokens": answer.prompt_tokens + answer.completion_tokens,
    }
    if answer.cached_tokens:
        usage["prompt_tokens_details"] = {"cached_tokens": answer.cached_tokens}
    if answer.reasoning_tokens:
        usage["completion_tokens_details"] = {"reasoning_tokens": answer.reasoning_tokens}
    return usage


def _chat_tool_calls(answer: Resolved) -> list[dict[str, Any]]:
    return [
        {
            "id": answer.call_id(i, "call"),
            "type": "function",
            "function": {"name": call.name, "arguments": call.arguments_json()},
        }
        for i, call in enumerate(answer.tool_calls)
    ]


def chat_completion(answer: Resolved) -> dict[str, Any]:
    message: dict[str, Any] = {
        "role": "assistant",
        "content": answer.text if answer.text or not answer.tool_calls else None,
    }
    if answer.tool_calls:
        message["tool_calls"] = _chat_tool_calls(answer)
    return {
        "id": f"chatcmpl-{answer.number}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": answer.model,
        "choices": [{"index": 0, "message": message, "finish_reason": answer.finish_reason}],
        "usage": chat_usage(answer),
    }


def chat_stream(answer: Resolved, include_usage: bool) -> list[Event]:
    """Chunks as OpenAI streams them: the role, one chunk per word, each tool call's name then
    its arguments in two pieces, the finish reason, then (``stream_options.include_usage``) a
    chunk with no choices and the usage, and ``[DONE]``."""
    created = int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": f"chatcmpl-{answer.number}",
            "object": "chat.completion.chunk",
            "created": created,
            "model": answer.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        if include_usage:
            data["usage"] = None
        return data

    events: list[Event] = [(None, chunk({"role": "assistant", "content": ""}), False)]
    events += [(None, chunk({"content": piece}), True) for piece in split_text(answer.text)]
    for i, call in enumerate(answer.tool_calls):
        start = {
            "index": i,
            "id": answer.call_id(i, "call"),
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        events.append((None, chunk({"tool_calls": [start]}), True))
        arguments = call.arguments_json()
        half = len(arguments) // 2
        for piece in (arguments[:half], arguments[half:]):
            delta = {"tool_calls": [{"index": i, "function": {"arguments": piece}}]}
            events.append((None, chunk(delta), True))
    events.append((None, chunk({}, answer.finish_reason), False))
    if include_usage:
        last = chunk({})
        last["choices"] = []
        last["usage"] = chat_usage(answer)
        events.append((None, last, False))
    events.append((None, "[DONE]", False))
    return events


def openai_error(
    status: int, message: str | None, type_: str | None, code: str | None = None
) -> dict[str, Any]:
    kinds = {
        400: ("invalid_request_error", None),
        401: ("invalid_request_error", "invalid_api_key"),
        404: ("invalid_request_error", "model_not_found"),
        429: ("requests", "rate_limit_exceeded"),
    }
    kind, code_ = kinds.get(status, ("server_error", None))
    return {
        "error": {
            "message": message or f"fake provider: HTTP {status}",
            "type": type_ or kind,
            "param": None,
            "code": code or code_,
        }
    }


# ---------------------------------------------------------------------------------------------
# OpenAI Responses API


def _responses_usage(answer: Resolved) -> dict[str, Any]:
    return {
        "input_tokens": answer.prompt_tokens,
        "input_tokens_details": {"cached_tokens": answer.cached_tokens},
        "output_tokens": answer.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": answer.reasoning_tokens},
        "total_tokens": answer.prompt_tokens + answer.completion_tokens,
    }


def _message_item(answer: Resolved, text: str, status: str) -> dict[str, Any]:
    content = (
        [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]
        if status == "completed"
        else []
    )
    return {
        "id": f"msg_{answer.number}",
        "type": "message",
        "role": "assistant",
        "status": status,
        "content": content,
    }


def _function_item(answer: Resolved, index: int, arguments: str, status: str) -> dict[str, Any]:
    return {
        "id": f"fc_{answer.number}_{index}",
        "type": "function_call",
        "call_id": answer.call_id(index, "call"),
        "name": answer.tool_calls[index].name,
        "arguments": arguments,
        "status": status,
    }


def responses_body(
    answer: Resolved, request: dict[str, Any], *, status: str | None = None, done: bool = True
) -> dict[str, Any]:
    output: list[dict[str, Any]] = []
    if done:
        if answer.text or not answer.tool_calls:
            output.append(_message_item(answer, answer.text, "completed"))
        output += [
            _function_item(answer, i, call.arguments_json(), "completed")
            for i, call in enumerate(answer.tool_calls)
        ]
    incomplete = answer.finish_reason == "length"
    final = "incomplete" if incomplete else "completed"
    return {
        "id": f"resp_{answer.number}",
        "object": "response",
        "created_at": int(time.time()),
        "status": status or final,
        "model": answer.model,
        "output": output,
        "instructions": request.get("instructions"),
        "incomplete_details": {"reason": "max_output_tokens"} if incomplete and done else None,
        "error": None,
        "parallel_tool_calls": True,
        "tool_choice": request.get("tool_choice", "auto"),
        "tools": request.get("tools", []),
        "temperature": request.get("temperature"),
        "top_p": request.get("top_p"),
        "max_output_tokens": request.get("max_output_tokens"),
        "previous_response_id": request.get("previous_response_id"),
        "usage": _responses_usage(answer) if done else None,
        "metadata": {},
    }


def responses_stream(answer: Resolved, request: dict[str, Any]) -> list[Event]:
    """The Responses API's typed events: created, in_progress, per output item added /
    (content part, text deltas, text done, part done | argument deltas, arguments done) / done,
    then completed (or incomplete) with the usage. Each carries a ``sequence_number``."""
    raw: list[tuple[dict[str, Any], bool]] = []
    raw.append(
        (
            {
                "type": "response.created",
                "response": responses_body(answer, request, status="in_progress", done=False),
            },
            False,
        )
    )
    raw.append(
        (
            {
                "type": "response.in_progress",
                "response": responses_body(answer, request, status="in_progress", done=False),
            },
            False,
        )
    )
    index = 0
    if answer.text or not answer.tool_calls:
        item_id = f"msg_{answer.number}"
        where = {"item_id": item_id, "output_index": index, "content_index": 0}
        raw.append(
            (
                {
                    "type": "response.output_item.added",
                    "output_index": index,
                    "item": _message_item(answer, "", "in_progress"),
                },
                False,
            )
        )
        part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        raw.append(({"type": "response.content_part.added", **where, "part": part}, False))
        for piece in split_text(answer.text):
            raw.append(
                (
                    {"type": "response.output_text.delta", **where, "delta": piece, "logprobs": []},
                    True,
                )
            )
        raw.append(
            (
                {"type": "response.output_text.done", **where, "text": answer.text, "logprobs": []},
                False,
            )
        )
        raw.append(
            (
                {
                    "type": "response.content_part.done",
                    **where,
                    "part": {**part, "text": answer.text},
                },
                False,
            )
        )
        raw.append(
            (
                {
                    "type": "response.output_item.done",
                    "output_index": index,
                    "item": _message_item(answer, answer.text, "completed"),
                },
                False,
            )
        )
        index += 1
    for i, call in enumerate(answer.tool_calls):
        item_id = f"fc_{answer.number}_{i}"
        raw.append(
            (
                {
                    "type": "response.output_item.added",
                    "output_index": index,
                    "item": _function_item(answer, i, "", "in_progress"),
                },
                False,
            )
        )
        arguments = call.arguments_json()
        half = len(arguments) // 2
        for piece in (arguments[:half], arguments[half:]):
            raw.append(
                (
                    {
                        "type": "response.function_call_arguments.delta",
                        "item_id": item_id,
                        "output_index": index,
                        "delta": piece,
                    },
                    True,
                )
            )
        raw.append(
            (
                {
                    "type": "response.function_call_arguments.done",
                    "item_id": item_id,
                    "output_index": index,
                    "name": call.name,
                    "arguments": arguments,
                },
                False,
            )
        )
        raw.append(
            (
                {
                    "type": "response.output_item.done",
                    "output_index": index,
                    "item": _function_item(answer, i, arguments, "completed"),
                },
                False,
            )
        )
        index += 1
    final = responses_body(answer, request)
    kind = "response.incomplete" if final["status"] == "incomplete" else "response.completed"
    raw.append(({"type": kind, "response": final}, False))
    events: list[Event] = []
    for number, (data, is_delta) in enumerate(raw):
        data["sequence_number"] = number
        events.append((data["type"], data, is_delta))
    return events


# ---------------------------------------------------------------------------------------------
# OpenAI embeddings


def _vector(text: str, dimensions: int) -> list[float]:
    """A deterministic unit-free vector for ``text`` (equal texts, equal vectors)."""
    digest = b""
    counter = 0
    while len(digest) < dimensions:
        digest += hashlib.sha256(f"{counter}:{text}".encode()).digest()
        counter += 1
    return [round(b / 255.0 - 0.5, 6) for b in digest[:dimensions]]


def embeddings(request: dict[str, Any], number: int, model: str) -> dict[str, Any]:
    """One vector per input (a string, a list of strings, or token lists); usage counts words
    (tokens for token lists). ``encoding_format: "base64"`` (the openai package's default) sends
    little-endian float32 bytes in base64, as OpenAI does."""
    source = request.get("input")
    inputs = (
        source
        if isinstance(source, list) and source and not isinstance(source[0], int)
        else [source]
    )
    dimensions = int(request.get("dimensions") or 8)
    data, tokens = [], 0
    for i, item in enumerate(inputs):
        if isinstance(item, list):
            text, tokens = " ".join(map(str, item)), tokens + len(item)
        else:
            text = str(item)
            tokens += words(text)
        vector: Any = _vector(text, dimensions)
        if request.get("encoding_format") == "base64":
            vector = base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode()
        data.append({"object": "embedding", "index": i, "embedding": vector})
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


# ---------------------------------------------------------------------------------------------
# Anthropic messages

_STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}


def _anthropic_usage(answer: Resolved) -> dict[str, Any]:
    """Anthropic counts ``input_tokens`` without the cache reads and writes (the prompt's words
    are split between the three)."""
    return {
        "input_tokens": answer.prompt_tokens - answer.cached_tokens - answer.cache_creation_tokens,
        "output_tokens": answer.completion_tokens,
        "cache_read_input_tokens": answer.cached_tokens,
        "cache_creation_input_tokens": answer.cache_creation_tokens,
    }


def anthropic_stop_reason(answer: Resolved) -> str:
    return _STOP_REASONS.get(answer.finish_reason, answer.finish_reason)


def _anthropic_blocks(answer: Resolved) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if answer.text or not answer.tool_calls:
        blocks.append({"type": "text", "text": answer.text})
    blocks += [
        {
            "type": "tool_use",
            "id": answer.call_id(i, "toolu"),
            "name": call.name,
            "input": call.arguments,
        }
        for i, call in enumerate(answer.tool_calls)
    ]
    return blocks


def anthropic_message(answer: Resolved) -> dict[str, Any]:
    return {
        "id": f"msg_{answer.number}",
        "type": "message",
        "role": "assistant",
        "model": answer.model,
        "content": _anthropic_blocks(answer),
        "stop_reason": anthropic_stop_reason(answer),
        "stop_sequence": None,
        "usage": _anthropic_usage(answer),
    }


def anthropic_stream(answer: Resolved) -> list[Event]:
    """Anthropic's stream: message_start (input usage, output 1), a ping, per block
    content_block_start / deltas (text_delta per word, input_json_delta in two pieces) /
    content_block_stop, message_delta (stop_reason, cumulative usage), message_stop."""
    usage = _anthropic_usage(answer)
    start = {**anthropic_message(answer), "content": [], "stop_reason": None}
    start["usage"] = {**usage, "output_tokens": 1}
    events: list[Event] = [("message_start", {"type": "message_start", "message": start}, False)]
    events.append(("ping", {"type": "ping"}, False))
    for index, block in enumerate(_anthropic_blocks(answer)):
        if block["type"] == "text":
            opened: dict[str, Any] = {"type": "text", "text": ""}
            pieces: list[dict[str, Any]] = [
                {"type": "text_delta", "text": p} for p in split_text(block["text"])
            ]
        else:
            opened = {**block, "input": {}}
            arguments = json.dumps(block["input"])
            half = len(arguments) // 2
            pieces = [
                {"type": "input_json_delta", "partial_json": p}
                for p in (arguments[:half], arguments[half:])
            ]
        events.append(
            (
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": opened},
                False,
            )
        )
        events += [
            (
                "content_block_delta",
                {"type": "content_block_delta", "index": index, "delta": d},
                True,
            )
            for d in pieces
        ]
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}, False))
    delta = {"stop_reason": anthropic_stop_reason(answer), "stop_sequence": None}
    events.append(
        ("message_delta", {"type": "message_delta", "delta": delta, "usage": usage}, False)
    )
    events.append(("message_stop", {"type": "message_stop"}, False))
    return events


def anthropic_error(status: int, message: str | None, type_: str | None) -> dict[str, Any]:
    kinds = {
        400: "invalid_request_error",
        401: "authentication_error",
        403: "permission_error",
        404: "not_found_error",
        413: "request_too_large",
        429: "rate_limit_error",
        529: "overloaded_error",
    }
    return {
        "type": "error",
        "error": {
            "type": type_ or kinds.get(status, "api_error"),
            "message": message or f"fake provider: HTTP {status}",
        },
    }
