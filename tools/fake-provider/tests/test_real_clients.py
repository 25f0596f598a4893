"""The fake provider against the real clients (openai, anthropic, LiteLLM): each API's sync and
streaming answers, tool calls, usage details, and injected errors parse as the SDKs expect."""

from __future__ import annotations

import asyncio
import base64
import json
import struct
from collections.abc import Callable
from typing import Any

import anthropic
import openai
import pytest

from llmlog_fake_provider import Answer, FakeOpenAI, Fault, ToolCall, prompt_text, split_text

WEATHER = ToolCall("get_weather", {"city": "Paris", "days": 2})


def _openai(server: FakeOpenAI, **kwargs: object) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0, **kwargs)  # type: ignore[arg-type]


def _anthropic(server: FakeOpenAI, **kwargs: object) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url=server.anthropic_base_url,
        api_key="unused",
        max_retries=0,
        **kwargs,  # type: ignore[arg-type]
    )


USER = [{"role": "user", "content": "what is the weather"}]  # 4 words


def _drain(stream: Any, into: list[str], take: Callable[[Any], str]) -> None:
    """Read a stream to its end (or its error), keeping ``take(item)`` of each item."""
    for item in stream:
        into.append(take(item))


def test_split_text_keeps_every_character():
    assert split_text("  a b\n c ") == ["  a ", "b\n ", "c "]
    assert "".join(split_text("one  two three")) == "one  two three"
    assert split_text("") == []


# -- OpenAI chat completions -------------------------------------------------------------------


def test_chat_stream_sends_words_then_a_usage_only_chunk_when_asked():
    with FakeOpenAI(lambda r: "sunny and warm", cached_tokens=2, reasoning_tokens=3) as server:
        client = _openai(server)
        chunks = list(
            client.chat.completions.create(
                model="m",
                messages=USER,
                stream=True,
                stream_options={"include_usage": True},
            )
        )
        without = list(client.chat.completions.create(model="m", messages=USER, stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "sunny and warm"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert last.usage.prompt_tokens == 4 and last.usage.completion_tokens == 3 + 3
    assert last.usage.prompt_tokens_details.cached_tokens == 2  # type: ignore[union-attr]
    assert last.usage.completion_tokens_details.reasoning_tokens == 3  # type: ignore[union-attr]
    assert all(c.usage is None for c in chunks[:-1])
    # Without stream_options: no usage chunk at all, as OpenAI does.
    assert all(c.usage is None and c.choices for c in without)


def test_chat_tool_calls_sync_and_streamed_and_through_the_stream_helper():
    answer = Answer(tool_calls=[WEATHER])
    with FakeOpenAI(lambda r: answer) as server:
        client = _openai(server)
        completion = client.chat.completions.create(model="m", messages=USER)
        chunks = list(client.chat.completions.create(model="m", messages=USER, stream=True))
        with client.chat.completions.stream(model="m", messages=USER) as stream:
            final = stream.get_final_completion()
    message = completion.choices[0].message
    assert completion.choices[0].finish_reason == "tool_calls" and message.content is None
    call = message.tool_calls[0]  # type: ignore[index]
    assert call.function.name == "get_weather"  # type: ignore[union-attr]
    assert json.loads(call.function.arguments) == WEATHER.arguments  # type: ignore[union-attr]
    # Streamed: the name in the first delta, the arguments in pieces that join to the JSON.
    deltas = [c.choices[0].delta.tool_calls[0] for c in chunks if c.choices[0].delta.tool_calls]
    assert deltas[0].function.name == "get_weather" and deltas[0].id == "call_2_0"  # type: ignore[union-attr]
    joined = "".join(d.function.arguments or "" for d in deltas)  # type: ignore[union-attr]
    assert json.loads(joined) == WEATHER.arguments and len(deltas) == 3
    assert (
        json.loads(final.choices[0].message.tool_calls[0].function.arguments) == WEATHER.arguments
    )  # type: ignore[index,union-attr]
    assert completion.usage.completion_tokens == 4  # type: ignore[union-attr]  # words of the JSON


def test_async_chat_stream():
    async def run(server: FakeOpenAI) -> list[str]:
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="unused", max_retries=0)
        stream = await client.chat.completions.create(model="m", messages=USER, stream=True)
        return [c.choices[0].delta.content or "" async for c in stream]

    with FakeOpenAI(lambda r: "a b c") as server:
        pieces = asyncio.run(run(server))
    assert "".join(pieces) == "a b c" and len([p for p in pieces if p]) == 3


def test_the_reply_sees_the_request_and_its_path():
    seen = []
    with FakeOpenAI(lambda r: seen.append(prompt_text(r)) or "ok") as server:
        _openai(server).chat.completions.create(model="m", messages=USER, temperature=0.5)
    assert seen == ["what is the weather"] and server.paths == ["/v1/chat/completions"]
    assert server.requests[0]["temperature"] == 0.5
    assert server.headers[0]["authorization"] == "Bearer unused"


# -- OpenAI Responses --------------------------------------------------------------------------


def test_responses_sync_with_usage_details_and_a_function_call():
    answer = Answer(text="let me check", tool_calls=[WEATHER], reasoning_tokens=4)
    with FakeOpenAI(lambda r: answer, cached_tokens=1) as server:
        response = _openai(server).responses.create(
            model="m", instructions="be brief", input="what is the weather"
        )
    assert response.output_text == "let me check"
    call = response.output[1]
    assert call.type == "function_call" and call.name == "get_weather"
    assert json.loads(call.arguments) == WEATHER.arguments
    usage = response.usage
    assert usage is not None and usage.input_tokens == 6 and usage.output_tokens == 3 + 4 + 4
    assert usage.input_tokens_details.cached_tokens == 1
    assert usage.output_tokens_details.reasoning_tokens == 4
    assert response.status == "completed"


def test_responses_stream_raw_events_and_the_stream_helper():
    answer = Answer(text="it is sunny", tool_calls=[WEATHER])
    with FakeOpenAI(lambda r: answer) as server:
        client = _openai(server)
        events = list(client.responses.create(model="m", input=USER, stream=True))
        with client.responses.stream(model="m", input="weather?") as stream:
            helper_deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
            final = stream.get_final_response()
    kinds = [e.type for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    arguments = "".join(
        e.delta for e in events if e.type == "response.function_call_arguments.delta"
    )
    assert text == "it is sunny" and json.loads(arguments) == WEATHER.arguments
    completed = events[-1].response  # type: ignore[union-attr]
    assert completed.usage.input_tokens == 4 and completed.output_text == "it is sunny"
    assert "".join(helper_deltas) == "it is sunny" and final.output_text == "it is sunny"
    assert final.output[1].type == "function_call"


def test_responses_cut_by_length_are_incomplete():
    with FakeOpenAI(lambda r: Answer(text="cut", finish_reason="length")) as server:
        client = _openai(server)
        response = client.responses.create(model="m", input="x")
        events = list(client.responses.create(model="m", input="x", stream=True))
    assert response.status == "incomplete"
    assert response.incomplete_details.reason == "max_output_tokens"  # type: ignore[union-attr]
    assert events[-1].type == "response.incomplete"


# -- OpenAI embeddings -------------------------------------------------------------------------


def test_embeddings_base64_by_default_floats_when_asked_and_word_usage():
    with FakeOpenAI(lambda r: "") as server:
        client = _openai(server)
        default = client.embeddings.create(model="e", input=["one two", "three"])
        floats = client.embeddings.create(
            model="e", input="one two", encoding_format="float", dimensions=4
        )
        raw = base64.b64decode(_raw_embedding(server))
    assert server.requests[0]["encoding_format"] == "base64"  # the client asks for base64
    assert [len(d.embedding) for d in default.data] == [8, 8]
    assert default.usage.prompt_tokens == 3 and floats.usage.total_tokens == 2
    assert len(floats.data[0].embedding) == 4
    # The same text gives the same vector in both encodings (float32 rounding aside).
    assert floats.data[0].embedding == pytest.approx(default.data[0].embedding[:4], abs=1e-6)
    assert default.data[0].embedding != default.data[1].embedding
    assert len(raw) == 8 * 4 and all(-0.5 <= x <= 0.5 for x in struct.unpack("<8f", raw))


def _raw_embedding(server: FakeOpenAI) -> str:
    import urllib.request

    body = {"model": "e", "input": "x", "encoding_format": "base64"}
    request = urllib.request.Request(
        f"{server.base_url}/embeddings",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return str(json.load(response)["data"][0]["embedding"])


# -- OpenAI errors -----------------------------------------------------------------------------


def test_openai_429_with_retry_after_is_retried_then_answered():
    with FakeOpenAI(lambda r: "fine") as server:
        server.enqueue(Fault(429, "slow down", retry_after=0))
        client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=1)
        completion = client.chat.completions.create(model="m", messages=USER)
        server.enqueue(Fault(429, "slow down", retry_after=0))
        with pytest.raises(openai.RateLimitError) as caught:
            _openai(server).chat.completions.create(model="m", messages=USER)
    assert completion.choices[0].message.content == "fine" and len(server.requests) == 3
    assert caught.value.status_code == 429
    assert caught.value.body == {  # type: ignore[comparison-overlap]
        "message": "slow down",
        "type": "requests",
        "param": None,
        "code": "rate_limit_exceeded",
    }
    assert caught.value.response.headers["retry-after"] == "0"


def test_openai_500_and_a_failing_reply_raise_internal_server_error():
    def reply(request: dict) -> str:
        raise KeyError("boom")

    with FakeOpenAI(lambda r: Fault(500)) as server, pytest.raises(openai.InternalServerError):
        _openai(server).responses.create(model="m", input="x")
    with (
        FakeOpenAI(reply) as server,
        pytest.raises(openai.InternalServerError, match="reply raised KeyError"),
    ):
        _openai(server).chat.completions.create(model="m", messages=USER)


def test_a_slow_answer_times_the_client_out_and_the_server_still_closes_at_once():
    with (
        FakeOpenAI(lambda r: Answer(text="late", delay=60)) as server,
        pytest.raises(openai.APITimeoutError),
    ):
        _openai(server, timeout=0.3).chat.completions.create(model="m", messages=USER)
    # Leaving the block did not wait the 60 s (the hang guard would fail the test run).


def test_a_stream_that_breaks_raises_after_its_first_deltas():
    with FakeOpenAI(lambda r: Answer(text="a b c d", stream_error_after=2)) as server:
        got = []
        stream = _openai(server).chat.completions.create(model="m", messages=USER, stream=True)
        with pytest.raises(openai.APIError, match="HTTP 500"):
            _drain(stream, got, lambda chunk: chunk.choices[0].delta.content or "")
        with pytest.raises(openai.APIError):
            list(_openai(server).responses.create(model="m", input="x", stream=True))
    assert "".join(got) == "a b "


def test_a_stalled_stream_times_the_reader_out():
    with FakeOpenAI(lambda r: Answer(text="a b c", stall_after=1)) as server:
        # The timeout also covers the answer's headers, which come before the stall: 2 s is
        # far past them even on a loaded machine, and far short of the stall (30 s).
        stream = _openai(server, timeout=2.0).chat.completions.create(
            model="m", messages=USER, stream=True
        )
        with pytest.raises(openai.APITimeoutError):
            list(stream)


# -- Anthropic messages ------------------------------------------------------------------------

TOOLS = [{"name": "get_weather", "description": "w", "input_schema": {"type": "object"}}]


def test_anthropic_message_with_system_tool_use_and_cache_usage():
    answer = Answer(text="checking", tool_calls=[WEATHER])
    with FakeOpenAI(lambda r: answer, cached_tokens=3, cache_creation_tokens=2) as server:
        message = _anthropic(server).messages.create(
            model="claude-x",
            max_tokens=100,
            system="you are a weather bot",  # 5 words
            messages=USER,
            tools=TOOLS,  # type: ignore[arg-type]
        )
    assert server.paths == ["/v1/messages"] and "anthropic-version" in server.headers[0]
    assert message.stop_reason == "tool_use" and message.model == "claude-x"
    text, tool = message.content
    assert text.type == "text" and text.text == "checking"
    assert (
        tool.type == "tool_use" and tool.name == "get_weather" and tool.input == WEATHER.arguments
    )
    assert tool.id.startswith("toolu_")
    usage = message.usage
    # 9 prompt words: 3 read from the cache, 2 written to it, 4 plain input.
    assert (usage.input_tokens, usage.cache_read_input_tokens) == (4, 3)
    assert usage.cache_creation_input_tokens == 2 and usage.output_tokens == 1 + 4


def test_anthropic_tool_results_count_in_the_prompt():
    messages = [
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "t1", "name": "get_weather", "input": {}}],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "sunny 20C"}],
        },
    ]
    with FakeOpenAI(lambda r: "sunny") as server:
        message = _anthropic(server).messages.create(
            model="claude-x",
            max_tokens=10,
            messages=messages,  # type: ignore[arg-type]
        )
    assert message.usage.input_tokens == 3 and message.stop_reason == "end_turn"


def test_anthropic_raw_stream_events_in_order():
    answer = Answer(text="it is sunny", tool_calls=[WEATHER], cache_creation_tokens=1)
    with FakeOpenAI(lambda r: answer, cached_tokens=1) as server:
        events = list(
            _anthropic(server).messages.create(
                model="claude-x", max_tokens=100, messages=USER, stream=True
            )
        )
    kinds = [e.type for e in events]
    assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"]
    assert kinds.count("content_block_start") == 2 == kinds.count("content_block_stop")
    start = events[0].message  # type: ignore[union-attr]
    assert start.usage.input_tokens == 2 and start.usage.cache_read_input_tokens == 1
    assert start.usage.cache_creation_input_tokens == 1
    text = "".join(
        e.delta.text
        for e in events
        if e.type == "content_block_delta" and e.delta.type == "text_delta"
    )
    partial = "".join(
        e.delta.partial_json
        for e in events
        if e.type == "content_block_delta" and e.delta.type == "input_json_delta"
    )
    assert text == "it is sunny" and json.loads(partial) == WEATHER.arguments
    delta = events[-2]
    assert delta.delta.stop_reason == "tool_use" and delta.usage.output_tokens == 3 + 4  # type: ignore[union-attr]


def test_anthropic_stream_helper_and_async_client():
    answer = Answer(text="it is sunny", tool_calls=[WEATHER])

    async def run(server: FakeOpenAI) -> tuple[str, object]:
        client = anthropic.AsyncAnthropic(
            base_url=server.anthropic_base_url, api_key="unused", max_retries=0
        )
        created = await client.messages.create(model="claude-x", max_tokens=5, messages=USER)
        async with client.messages.stream(model="claude-x", max_tokens=5, messages=USER) as stream:
            pieces = [t async for t in stream.text_stream]
            final = await stream.get_final_message()
        return "".join(pieces) + "|" + created.content[0].text, final  # type: ignore[union-attr]

    with FakeOpenAI(lambda r: answer) as server:
        with _anthropic(server).messages.stream(
            model="claude-x", max_tokens=5, messages=USER
        ) as stream:
            text = "".join(stream.text_stream)
            message = stream.get_final_message()
        joined, final = asyncio.run(run(server))
    assert text == "it is sunny" and message.content[1].input == WEATHER.arguments  # type: ignore[union-attr]
    assert message.stop_reason == "tool_use" and message.usage.output_tokens == 7
    assert joined == "it is sunny|it is sunny" and final.usage.input_tokens == 4  # type: ignore[attr-defined]


def test_anthropic_errors_carry_anthropic_bodies():
    with FakeOpenAI(lambda r: "ok") as server:
        server.enqueue(Fault(429, "slow down", retry_after=0), Fault(529), Fault(500))
        client = _anthropic(server)
        with pytest.raises(anthropic.RateLimitError) as limited:
            client.messages.create(model="c", max_tokens=5, messages=USER)
        with pytest.raises(anthropic.APIStatusError) as overloaded:
            client.messages.create(model="c", max_tokens=5, messages=USER)
        with pytest.raises(anthropic.InternalServerError):
            client.messages.create(model="c", max_tokens=5, messages=USER)
        server.enqueue(Fault(429, retry_after=0))
        retried = anthropic.Anthropic(
            base_url=server.anthropic_base_url, api_key="unused", max_retries=1
        ).messages.create(model="c", max_tokens=5, messages=USER)
    assert limited.value.body == {  # type: ignore[comparison-overlap]
        "type": "error",
        "error": {"type": "rate_limit_error", "message": "slow down"},
    }
    assert limited.value.response.headers["retry-after"] == "0"
    assert overloaded.value.status_code == 529
    assert overloaded.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
    assert retried.content[0].text == "ok"  # type: ignore[union-attr]


def test_anthropic_timeout_and_a_broken_stream():
    with (
        FakeOpenAI(lambda r: Answer(text="late", delay=60)) as server,
        pytest.raises(anthropic.APITimeoutError),
    ):
        _anthropic(server, timeout=0.3).messages.create(model="c", max_tokens=5, messages=USER)
    with FakeOpenAI(
        lambda r: Answer(text="a b c", stream_error_after=1, error_status=529)
    ) as server:
        got = []
        events = _anthropic(server).messages.create(
            model="c", max_tokens=5, messages=USER, stream=True
        )
        with pytest.raises(anthropic.APIStatusError) as caught:
            _drain(events, got, lambda event: event.type)
    assert got.count("content_block_delta") == 1
    assert caught.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]


def test_anthropic_count_tokens():
    with FakeOpenAI(lambda r: "unused") as server:
        counted = _anthropic(server).messages.count_tokens(model="c", messages=USER)
    assert counted.input_tokens == 4


# -- LiteLLM -----------------------------------------------------------------------------------


def test_litellm_streams_with_usage_from_both_apis():
    import litellm

    with FakeOpenAI(lambda r: "one two three", cached_tokens=1) as server:
        chunks = list(
            litellm.completion(
                model="openai/m",
                api_base=server.base_url,
                api_key="unused",
                messages=USER,
                stream=True,
                stream_options={"include_usage": True},
            )
        )
        claude = litellm.completion(
            model="anthropic/claude-x",
            api_base=server.anthropic_base_url,
            api_key="unused",
            messages=USER,
            max_tokens=5,
        )
        embedded = litellm.embedding(
            model="openai/e", api_base=server.base_url, api_key="unused", input=["a b"]
        )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    usage = [c.usage for c in chunks if getattr(c, "usage", None)][-1]
    assert text == "one two three" and usage.prompt_tokens == 4 and usage.completion_tokens == 3
    assert claude.choices[0].message.content == "one two three"  # type: ignore[union-attr]
    assert claude.usage.prompt_tokens == 4  # type: ignore[attr-defined]
    assert "/v1/messages" in server.paths[1]
    assert embedded.usage.prompt_tokens == 2
