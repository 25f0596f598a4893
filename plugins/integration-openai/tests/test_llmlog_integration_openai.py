"""The real OpenAI SDK against the loopback fake provider, traced through the integration: chat
completions, the Responses API and embeddings, sync, async and streaming, tool calls, errors,
early close; asserted from the trace file written."""

from __future__ import annotations

import asyncio
import gc
import json
import socket
from pathlib import Path
from typing import Any

import openai
import pytest
from openai.resources.chat.completions import AsyncCompletions, Completions
from openai.resources.embeddings import AsyncEmbeddings, Embeddings
from openai.resources.responses import AsyncResponses, Responses

import llmlog
import llmlog_engine_genai as engine
import llmlog_integration_openai as integration
from llmlog.testing import isolated_environment
from llmlog_fake_provider import Answer, FakeOpenAI, Fault, ToolCall

USER = [{"role": "user", "content": "what is the weather"}]  # 4 words
WEATHER = ToolCall("get_weather", {"city": "Paris"}, id="call_1")
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]


@pytest.fixture(autouse=True)
def traces(tmp_path: Path):
    with isolated_environment(tmp_path):
        llmlog.configure({"trace": {"dir": "traces"}, "outputs": {}})
        integration.instrument()
        yield tmp_path / "traces"
        integration.uninstrument()
        llmlog.shutdown()


@pytest.fixture
def server():
    with FakeOpenAI(lambda request: "sunny and warm", cached_tokens=2, reasoning_tokens=3) as fake:
        yield fake


def client(fake: FakeOpenAI, **kwargs: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=fake.base_url, api_key="sk-test", max_retries=0, **kwargs)


def aclient(fake: FakeOpenAI, **kwargs: Any) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=fake.base_url, api_key="sk-test", max_retries=0, **kwargs)


class Trace:
    """The events of the trace files of a directory (the shared session closed first)."""

    def __init__(self, directory: Path) -> None:
        engine.close_shared_session()
        self.records = []
        for path in sorted(directory.glob("trace_*.jsonl")):
            self.records += [json.loads(x) for x in path.read_text().splitlines()]

    def of(self, kind: str, event: str | None = None) -> list[dict[str, Any]]:
        return [
            r
            for r in self.records
            if r["type"] == kind and (event is None or r["data"].get("event") == event)
        ]

    def call(self) -> dict[str, Any]:
        """The one LLM call: one span start, one end, one llm_call event."""
        assert len(self.of("span", "start")) == 1 and len(self.of("span", "end")) == 1
        (call,) = self.of("llm_call")
        return call["data"]


def test_a_chat_completion_is_one_span_with_tokens_cost_and_messages(traces, server):
    with llmlog.span("app"):
        answer = client(server).chat.completions.create(
            model="gpt-4o-mini", messages=USER, temperature=0.5
        )
    assert answer.choices[0].message.content == "sunny and warm"
    data = Trace(traces).call()
    assert data["model"] == "gpt-4o-mini" and data["provider"] == "openai"
    assert data["operation"] == "chat" and data["response_model"] == "gpt-4o-mini"
    assert data["messages"] == USER and data["prompt"] == "user: what is the weather"
    assert data["response"] == "sunny and warm" and data["finish_reason"] == "stop"
    assert data["params"] == {"temperature": 0.5}
    usage = data["usage"]
    # 4 prompt words, 3 answer words + 3 reasoning tokens; 2 of the prompt read from the cache
    assert (usage["prompt_tokens"], usage["completion_tokens"]) == (4, 6)
    assert usage["cache_read_tokens"] == 2 and usage["reasoning_tokens"] == 3
    # priced through the cost chain (the genai-prices table knows gpt-4o-mini)
    assert usage["cost"] > 0 and usage["cost_source"].startswith("table:")


def test_async_calls_of_concurrent_tasks_are_separate_spans(traces, server):
    async def main() -> list[str]:
        async_client = aclient(server)
        answers = await asyncio.gather(
            *(
                async_client.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": f"q{n}"}]
                )
                for n in range(3)
            )
        )
        return [a.choices[0].message.content or "" for a in answers]

    assert asyncio.run(main()) == ["sunny and warm"] * 3
    trace = Trace(traces)
    calls = trace.of("llm_call")
    assert sorted(c["data"]["prompt"] for c in calls) == ["user: q0", "user: q1", "user: q2"]
    assert len({c["span_id"] for c in calls}) == 3 and len(trace.of("span", "start")) == 3


def test_a_stream_without_include_usage_gets_usage_and_the_caller_sees_no_extra_chunk(
    traces, server
):
    c = client(server)
    integration.uninstrument()
    plain = list(c.chat.completions.create(model="gpt-4o-mini", messages=USER, stream=True))
    integration.instrument()
    traced = list(c.chat.completions.create(model="gpt-4o-mini", messages=USER, stream=True))
    # the caller's code sees what it would have seen: the same chunks, no usage-only one
    assert [ch.model_dump(exclude={"id", "created"}) for ch in traced] == [
        ch.model_dump(exclude={"id", "created"}) for ch in plain
    ]
    assert all(ch.usage is None for ch in traced)
    assert server.requests[-1]["stream_options"] == {"include_usage": True}
    data = Trace(traces).call()
    assert data["response"] == "sunny and warm" and data["stream"] is True
    assert data["stream_end"] == "completed" and data["finish_reason"] == "stop"
    assert data["usage"]["prompt_tokens"] == 4 and data["usage"]["reasoning_tokens"] == 3
    assert isinstance(data["time_to_first_token_ms"], int)
    assert "stream_options" not in data.get("params", {})


def test_a_stream_that_asked_for_usage_keeps_its_usage_chunk(traces, server):
    chunks = list(
        client(server).chat.completions.create(
            model="gpt-4o-mini",
            messages=USER,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert Trace(traces).call()["usage"]["completion_tokens"] == 6


def test_tool_calls_are_kept_from_answers_and_from_streamed_deltas(traces):
    reply = Answer(tool_calls=[WEATHER])
    with FakeOpenAI(lambda request: reply) as fake:
        c = client(fake)
        whole = c.chat.completions.create(model="gpt-4o-mini", messages=USER, tools=TOOLS)
        assert whole.choices[0].message.tool_calls[0].function.name == "get_weather"
        list(
            c.chat.completions.create(model="gpt-4o-mini", messages=USER, tools=TOOLS, stream=True)
        )
    calls = [c["data"] for c in Trace(traces).of("llm_call")]
    assert len(calls) == 2
    for data in calls:
        assert data["finish_reason"] == "tool_calls"
        (call,) = data["tool_calls"]
        assert call["id"] == "call_1" and call["name"] == "get_weather"
        assert json.loads(call["arguments"]) == {"city": "Paris"}
        assert data["params"]["tools"][0]["function"]["name"] == "get_weather"


def test_tool_results_sent_back_are_kept_in_the_messages(traces, server):
    messages = [
        *USER,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "Sunny"},
    ]
    client(server).chat.completions.create(model="gpt-4o-mini", messages=messages, tools=TOOLS)
    data = Trace(traces).call()
    assert [m["role"] for m in data["messages"]] == ["user", "assistant", "tool"]
    assert data["messages"][1]["tool_calls"][0]["id"] == "call_1"
    assert data["messages"][2] == {"role": "tool", "tool_call_id": "call_1", "content": "Sunny"}


@pytest.mark.parametrize(
    ("fault", "error", "status"),
    [
        (Fault(429, "slow down"), openai.RateLimitError, 429),
        (Fault(500, "boom"), openai.InternalServerError, 500),
    ],
)
def test_provider_errors_are_recorded_with_their_type_and_status(traces, fault, error, status):
    with FakeOpenAI(lambda request: fault) as fake, pytest.raises(error):
        client(fake).chat.completions.create(model="gpt-4o-mini", messages=USER)
    trace = Trace(traces)
    data = trace.call()
    assert data["error_type"] == error.__name__ and data["status_code"] == status
    (event,) = trace.of("error")
    assert event["data"]["error_type"] == error.__name__
    assert trace.of("span", "end")[0]["data"]["error"].startswith(error.__name__)


def test_a_timeout_is_recorded_as_the_sdks_timeout_error(traces):
    with (
        FakeOpenAI(lambda request: Answer("late", delay=5)) as fake,
        pytest.raises(openai.APITimeoutError),
    ):
        client(fake, timeout=0.2).chat.completions.create(model="gpt-4o-mini", messages=USER)
    data = Trace(traces).call()
    assert data["error_type"] == "APITimeoutError" and "status_code" not in data


def test_a_stream_closed_early_or_dropped_ends_its_span(traces):
    text = " ".join(f"w{n}" for n in range(50))
    with FakeOpenAI(lambda request: text) as fake:
        c = client(fake)
        stream = c.chat.completions.create(model="gpt-4o-mini", messages=USER, stream=True)
        for _ in range(3):
            next(stream)
        stream.close()
        dropped = c.chat.completions.create(model="gpt-4o-mini", messages=USER, stream=True)
        for _chunk in dropped:
            break
        del dropped
        gc.collect()
        with c.chat.completions.create(model="gpt-4o-mini", messages=USER, stream=True) as s:
            next(s)
    calls = [c["data"] for c in Trace(traces).of("llm_call")]
    assert [c["stream_end"] for c in calls] == ["closed", "abandoned", "closed"]
    assert calls[0]["response"].startswith("w0 w1") and "usage" not in calls[0]
    assert all(c["response"] != text for c in calls)


def test_a_stream_that_breaks_fails_its_span(traces):
    with FakeOpenAI(lambda request: Answer("a b c d", stream_error_after=2)) as fake:
        stream = client(fake).chat.completions.create(
            model="gpt-4o-mini", messages=USER, stream=True
        )
        with pytest.raises(openai.APIError):
            list(stream)
    data = Trace(traces).call()
    assert data["stream_end"] == "error" and data["error_type"] == "APIError"
    assert data["response"] == "a b "


def test_async_streams_are_aggregated_and_end_when_closed(traces, server):
    async def main() -> tuple[list[str], str]:
        c = aclient(server)
        stream = await c.chat.completions.create(model="gpt-4o-mini", messages=USER, stream=True)
        texts = [ch.choices[0].delta.content or "" async for ch in stream if ch.choices]
        early = await c.chat.completions.create(model="gpt-4o-mini", messages=USER, stream=True)
        first = await early.__anext__()
        await early.close()
        return texts, first.model

    texts, model = asyncio.run(main())
    assert "".join(texts) == "sunny and warm" and model == "gpt-4o-mini"
    calls = [c["data"] for c in Trace(traces).of("llm_call")]
    assert [c["stream_end"] for c in calls] == ["completed", "closed"]
    assert calls[0]["usage"]["total_tokens"] == 10


def test_the_responses_api_sync_streamed_and_with_tools(traces):
    replies = iter([Answer("sunny"), Answer("warm and dry"), Answer(tool_calls=[WEATHER])])
    with FakeOpenAI(lambda request: next(replies), cached_tokens=1, reasoning_tokens=2) as fake:
        c = client(fake)
        response = c.responses.create(
            model="gpt-4o-mini", input="weather?", instructions="be brief"
        )
        assert response.output_text == "sunny"
        events = list(c.responses.create(model="gpt-4o-mini", input="weather?", stream=True))
        assert events[-1].type == "response.completed"
        c.responses.create(
            model="gpt-4o-mini",
            input=[{"role": "user", "content": "weather?"}],
            tools=[{"type": "function", "name": "get_weather", "parameters": {}}],
        )
    calls = [c["data"] for c in Trace(traces).of("llm_call")]
    assert [c["operation"] for c in calls] == ["responses"] * 3
    first, streamed, tools = calls
    assert first["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "weather?"},
    ]
    assert first["response"] == "sunny" and first["usage"]["cache_read_tokens"] == 1
    assert first["usage"]["reasoning_tokens"] == 2 and first["usage"]["cost"] > 0
    assert streamed["response"] == "warm and dry" and streamed["stream_end"] == "completed"
    assert streamed["usage"]["completion_tokens"] == 3 + 2
    assert tools["tool_calls"][0]["name"] == "get_weather"
    assert tools["finish_reason"] == "tool_calls"


def test_embeddings_sync_and_async(traces, server):
    c = client(server)
    vectors = c.embeddings.create(model="text-embedding-3-small", input=["a b", "c"])
    assert len(vectors.data) == 2

    async def main() -> None:
        await aclient(server).embeddings.create(model="text-embedding-3-small", input="x y z")

    asyncio.run(main())
    calls = [c["data"] for c in Trace(traces).of("llm_call")]
    assert [c["operation"] for c in calls] == ["embeddings", "embeddings"]
    assert calls[0]["prompt"] == "a b\nc" and calls[0]["response"].startswith("2 embeddings of")
    assert calls[0]["usage"]["prompt_tokens"] == 3 and calls[1]["prompt"] == "x y z"


def test_redaction_and_the_no_content_mode_apply(traces, server):
    secret = "sk-proj-" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8S9t0"
    c = client(server)
    c.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": f"my key is {secret}"}]
    )
    with llmlog.new_trace_session(traces / "nocontent.jsonl", content=False):
        c.chat.completions.create(model="gpt-4o-mini", messages=USER, stream=True).close()
        list(c.chat.completions.create(model="gpt-4o-mini", messages=USER, stream=True))
    text = json.dumps(Trace(traces).records)
    assert secret not in text and "[REDACTED" in text
    lines = [json.loads(x) for x in (traces / "nocontent.jsonl").read_text().splitlines()]
    no_content = [r["data"] for r in lines if r["type"] == "llm_call"]
    assert len(no_content) == 2
    for data in no_content:
        assert not {"messages", "response", "prompt", "tool_calls"} & set(data)
    assert no_content[1]["usage"]["total_tokens"] == 10


def test_uninstrument_restores_the_exact_originals():
    integration.uninstrument()
    targets = [
        (Completions, "create"),
        (Completions, "parse"),
        (AsyncCompletions, "create"),
        (Responses, "create"),
        (AsyncResponses, "create"),
        (Embeddings, "create"),
        (AsyncEmbeddings, "create"),
    ]
    originals = {key: key[0].__dict__[key[1]] for key in targets}
    assert integration.instrument()
    assert all(key[0].__dict__[key[1]] is not originals[key] for key in targets)
    assert all(key[0].__dict__[key[1]].__wrapped__ is originals[key] for key in targets)
    assert integration.instrument()  # again: nothing wrapped twice
    assert all(key[0].__dict__[key[1]].__wrapped__ is originals[key] for key in targets)
    integration.uninstrument()
    assert all(key[0].__dict__[key[1]] is originals[key] for key in targets)
    assert integration.instrumented() is None
    integration.uninstrument()  # idempotent


def test_an_unknown_sdk_version_is_reported_once_and_left_alone(monkeypatch, capsys):
    integration.uninstrument()
    original = Completions.__dict__["create"]
    monkeypatch.setattr(openai, "__version__", "99.0.0")
    assert integration.instrument() is False
    assert integration.instrument() is False
    assert Completions.__dict__["create"] is original
    err = capsys.readouterr().err
    assert err.count("openai 99.0.0 is not a version this integration knows") == 1


def test_the_integrations_table_switches_it_on_and_off(tmp_path, server):
    integration.uninstrument()
    original = Completions.__dict__["create"]
    llmlog.configure(
        {
            "trace": {"dir": "traces"},
            "outputs": {},
            "integrations": {"openai": {"enabled": True, "sessions": "per_call"}},
        }
    )
    assert Completions.__dict__["create"].__wrapped__ is original
    assert integration.instrumented().sessions == "per_call"
    client(server).chat.completions.create(model="gpt-4o-mini", messages=USER)
    client(server).chat.completions.create(model="gpt-4o-mini", messages=USER)
    llmlog.configure({"trace": {"dir": "traces"}, "outputs": {}})
    assert Completions.__dict__["create"] is original
    assert len(list((tmp_path / "traces").glob("trace_*.jsonl"))) == 2


def test_a_call_inside_a_claimed_call_is_not_counted_twice(traces, server):
    owner = engine.claim("dspy")
    client(server).chat.completions.create(model="gpt-4o-mini", messages=USER)
    assert owner.data.response == "sunny and warm" and owner.data.usage is not None
    owner.finish()
    assert Trace(traces).of("llm_call") == []


def test_an_sdk_call_never_breaks_when_llmlog_fails(traces, server, monkeypatch):
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("tracing is broken")

    monkeypatch.setattr(llmlog.ext.TraceSession, "emit_span_start", broken)
    answer = client(server).chat.completions.create(model="gpt-4o-mini", messages=USER)
    assert answer.choices[0].message.content == "sunny and warm"
    assert engine.stats()["failures"]["start"] >= 1


def test_raw_responses_are_recorded_without_reading_their_body(traces, server):
    raw = client(server).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=USER
    )
    assert raw.parse().choices[0].message.content == "sunny and warm"
    data = Trace(traces).call()
    assert data["status_code"] == 200 and data["model"] == "gpt-4o-mini"


def test_a_refused_connection_is_an_error_of_the_call(traces):
    with socket.socket() as sock:  # a port nobody listens on any more
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    c = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="k", max_retries=0)
    with pytest.raises(openai.APIConnectionError):
        c.chat.completions.create(model="gpt-4o-mini", messages=USER)
    assert Trace(traces).call()["error_type"] == "APIConnectionError"
