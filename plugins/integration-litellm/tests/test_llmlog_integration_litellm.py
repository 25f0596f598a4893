"""Real LiteLLM calls against the loopback fake provider, traced through the integration's
``CustomLogger``: one span and one ``llm_call`` per call, parented to the caller's span, with what
LiteLLM resolved and reported, read back from the trace file."""

from __future__ import annotations

import asyncio
import gc
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import litellm
import pytest
from litellm.integrations.custom_logger import CustomLogger

import llmlog
import llmlog_integration_litellm as integration
from llmlog.ext import get_current
from llmlog.testing import isolated_environment
from llmlog_engine_genai import close_shared_session, current_call, stats
from llmlog_fake_provider import Answer, FakeOpenAI, Fault, ToolCall, words

MESSAGES = [
    {"role": "system", "content": "answer briefly"},
    {"role": "user", "content": "what is the capital of France"},
]
PROMPT_WORDS = 2 + 6  # the fake provider counts the messages' words


@pytest.fixture(autouse=True)
def traced(tmp_path: Path) -> Iterator[Path]:
    with isolated_environment(tmp_path):
        llmlog.configure({"trace": {"dir": "traces"}, "outputs": {}})
        integration.instrument()
        yield tmp_path
        integration.uninstrument()
        close_shared_session()  # a call made outside any session opened it in this test's dir


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(
        lambda request: "Paris is the capital", cached_tokens=3, reasoning_tokens=2
    ) as s:
        yield s


def ask(server: FakeOpenAI, **kwargs: Any) -> dict[str, Any]:
    """LiteLLM's arguments for the fake provider (no retries: a fault stays a fault)."""
    return {
        "model": "openai/gpt-4o-mini",
        "messages": MESSAGES,
        "api_base": server.base_url,
        "api_key": "unused",
        "num_retries": 0,
        "max_retries": 0,
        **kwargs,
    }


def trace_of(session: Any, read_trace: Any) -> Any:
    assert integration.flush(20), "LiteLLM did not report every call"
    session.close()
    return read_trace(Path(session.writer.path))


def test_completion_is_one_span_under_the_callers_span_with_what_litellm_resolved(
    tmp_path, server, read_trace
):
    with llmlog.new_trace_session(tmp_path / "t") as session, llmlog.span("root"):
        response = litellm.completion(**ask(server, temperature=0.2, max_tokens=50))
        trace = trace_of(session, read_trace)
    assert response.choices[0].message.content == "Paris is the capital"
    (root,) = trace.spans("root")
    (lm,) = trace.lm_spans()
    assert trace.name(lm) == "LM:gpt-4o-mini" and trace.parent(lm) == root
    call = trace.call(lm)
    assert (call["provider"], call["model"], call["source"]) == ("openai", "gpt-4o-mini", "litellm")
    assert call["operation"] == "chat" and call["finish_reason"] == "stop"
    assert call["response"] == "Paris is the capital"
    assert call["response_model"] == "gpt-4o-mini"
    assert call["messages"] == MESSAGES
    assert call["params"] == {"temperature": 0.2, "max_tokens": 50}
    usage = call["usage"]
    assert usage["prompt_tokens"] == PROMPT_WORDS
    assert usage["completion_tokens"] == words("Paris is the capital") + 2
    assert usage["cache_read_tokens"] == 3 and usage["reasoning_tokens"] == 2
    # LiteLLM's response_cost, as the reported cost
    assert usage["cost_source"] == "reported"
    assert usage["cost"] == pytest.approx(response._hidden_params["response_cost"])
    assert usage["cost"] > 0
    assert len(trace.calls) == 1 and trace.ends[lm]["data"].get("error") is None


def test_the_call_leaves_the_callers_context(tmp_path, server, read_trace):
    with llmlog.new_trace_session(tmp_path / "t") as session, llmlog.span("root") as root:
        litellm.completion(**ask(server))
        assert current_call() is None
        assert get_current().span_id == root.span_id
        with llmlog.span("after"):
            pass
        trace = trace_of(session, read_trace)
    (after,) = trace.spans("after")
    assert trace.name(trace.parent(after)) == "root"


def test_acompletion_calls_in_concurrent_tasks_each_hang_under_their_own_span(
    tmp_path, server, read_trace
):
    async def one(name: str) -> None:
        with llmlog.span(name):
            await litellm.acompletion(**ask(server))
            assert current_call() is None

    async def main() -> None:
        await asyncio.gather(one("a"), one("b"), one("c"))
        assert await integration.aflush(20)

    with llmlog.new_trace_session(tmp_path / "t") as session:
        asyncio.run(main())
        trace = trace_of(session, read_trace)
    lms = trace.lm_spans()
    assert len(lms) == 3 and len(trace.calls) == 3
    assert sorted(trace.name(trace.parent(s)) for s in lms) == ["a", "b", "c"]
    assert all(trace.call(s)["usage"]["cost_source"] == "reported" for s in lms)


def test_a_consumed_stream_is_one_call_with_the_assembled_answer_and_time_to_first_token(
    tmp_path, server, read_trace
):
    with llmlog.new_trace_session(tmp_path / "t") as session, llmlog.span("root"):
        stream = litellm.completion(
            **ask(server, stream=True, stream_options={"include_usage": True})
        )
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        trace = trace_of(session, read_trace)
    assert text == "Paris is the capital"
    (lm,) = trace.lm_spans()
    call = trace.call(lm)
    assert call["stream"] is True and call["stream_end"] == "completed"
    assert call["response"] == "Paris is the capital" and call["finish_reason"] == "stop"
    assert isinstance(call["time_to_first_token_ms"], int)
    assert 0 <= call["time_to_first_token_ms"] <= call["latency_ms"]
    assert call["usage"]["prompt_tokens"] == PROMPT_WORDS
    assert call["usage"]["cache_read_tokens"] == 3 and call["usage"]["reasoning_tokens"] == 2
    assert trace.name(trace.parent(lm)) == "root"


def test_an_async_stream_consumed(tmp_path, server, read_trace):
    async def main() -> str:
        with llmlog.span("root") as root:
            stream = await litellm.acompletion(
                **ask(server, stream=True, stream_options={"include_usage": True})
            )
            # the stream is the caller's now: its call left the caller's context
            assert current_call() is None and get_current().span_id == root.span_id
            parts = [c.choices[0].delta.content or "" async for c in stream if c.choices]
            assert await integration.aflush(20)
        return "".join(parts)

    with llmlog.new_trace_session(tmp_path / "t") as session:
        assert asyncio.run(main()) == "Paris is the capital"
        trace = trace_of(session, read_trace)
    (lm,) = trace.lm_spans()
    call = trace.call(lm)
    assert call["stream_end"] == "completed" and call["response"] == "Paris is the capital"
    assert call["usage"]["completion_tokens"] == 4 + 2
    assert trace.name(trace.parent(lm)) == "root"


def test_a_stream_stopped_early_ends_its_call_when_released_and_leaks_no_context(
    tmp_path, server, read_trace
):
    with llmlog.new_trace_session(tmp_path / "t") as session, llmlog.span("root") as root:
        stream = litellm.completion(**ask(server, stream=True))
        for _chunk in stream:
            break
        stream.close()
        del stream, _chunk
        gc.collect()
        assert get_current().span_id == root.span_id and current_call() is None
        litellm.completion(**ask(server))  # the next call is a call of its own
        trace = trace_of(session, read_trace)
    first, second = sorted(trace.lm_spans(), key=lambda s: trace.starts[s]["timestamp"])
    assert trace.parent(first) == trace.parent(second) == root.span_id
    early = trace.call(first)
    assert early["stream"] is True and early["stream_end"] == "abandoned"
    assert first in trace.ends
    assert trace.call(second)["response"] == "Paris is the capital"
    assert "stream" not in trace.call(second)


@pytest.mark.parametrize("is_async", [False, True], ids=["embedding", "aembedding"])
def test_embeddings(tmp_path, server, read_trace, is_async):
    arguments = {
        "model": "openai/text-embedding-3-small",
        "input": ["the quick brown fox"],
        "api_base": server.base_url,
        "api_key": "unused",
    }

    async def embed() -> Any:
        result = await litellm.aembedding(**arguments)
        assert await integration.aflush(20)
        return result

    with llmlog.new_trace_session(tmp_path / "t") as session, llmlog.span("root"):
        result = asyncio.run(embed()) if is_async else litellm.embedding(**arguments)
        trace = trace_of(session, read_trace)
    assert len(result.data[0]["embedding"]) == 8
    (lm,) = trace.lm_spans()
    call = trace.call(lm)
    assert call["operation"] == "embeddings" and call["model"] == "text-embedding-3-small"
    assert call["provider"] == "openai" and call["prompt"] == "the quick brown fox"
    assert call["usage"]["prompt_tokens"] == 4
    assert call["usage"]["cost_source"] == "reported" and call["usage"]["cost"] > 0
    assert trace.name(trace.parent(lm)) == "root"


@pytest.mark.parametrize(
    ("status", "error_type"), [(429, "RateLimitError"), (500, "InternalServerError")]
)
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_an_error_ends_the_span_failed_with_litellms_class_and_the_status(
    tmp_path, server, read_trace, status, error_type, is_async
):
    server.enqueue(Fault(status, "slow down"))

    async def acall() -> None:
        try:
            await litellm.acompletion(**ask(server))
        finally:
            assert await integration.aflush(20)

    with llmlog.new_trace_session(tmp_path / "t") as session, llmlog.span("root") as root:
        call = (
            (lambda: asyncio.run(acall()))
            if is_async
            else lambda: litellm.completion(**ask(server))
        )
        with pytest.raises(Exception) as raised:
            call()
        assert type(raised.value).__name__ == error_type  # the application's own exception
        assert get_current().span_id == root.span_id and current_call() is None
        trace = trace_of(session, read_trace)
    (lm,) = trace.lm_spans()
    call = trace.call(lm)
    assert call["error_type"] == error_type and call["status_code"] == status
    (error,) = trace.errors(lm)
    assert error["error_type"] == error_type and "slow down" in error["message"]
    assert trace.ends[lm]["data"]["error"].startswith(error_type)


def test_tool_calls_are_recorded(tmp_path, server, read_trace):
    server.enqueue(Answer("", tool_calls=[ToolCall("lookup", {"city": "Paris"})]))
    tools = [
        {
            "type": "function",
            "function": {
                "name": "lookup",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    with llmlog.new_trace_session(tmp_path / "t") as session:
        litellm.completion(**ask(server, tools=tools))
        trace = trace_of(session, read_trace)
    call = trace.call(trace.lm_spans()[0])
    assert call["finish_reason"] == "tool_calls"
    ((tool_call),) = call["tool_calls"]
    assert tool_call["name"] == "lookup" and json.loads(tool_call["arguments"]) == {"city": "Paris"}
    assert call["params"]["tools"] == tools


def test_the_rlm_format_gets_the_call(tmp_path, server):
    from llmlog_trace_rlm.reader import read_rlm

    with llmlog.new_trace_session(tmp_path / "t", format="rlm") as session:
        with llmlog.span("root"):
            litellm.completion(**ask(server))
            # LiteLLM reports a call just after it returned: wait for it inside the root span,
            # so that the rlm format sees the call as the root's (its iterations follow spans)
            assert integration.flush(20)
        path = session.writer.path
    run = read_rlm(path)
    (iteration,) = run.iterations
    assert iteration.response == "Paris is the capital"
    assert iteration.root_call is not None
    assert iteration.root_call.prompt_tokens == PROMPT_WORDS
    assert iteration.root_call.cost is not None and iteration.root_call.cost > 0


def test_uninstrument_removes_exactly_its_callback_from_litellms_lists(server):
    integration.uninstrument()

    class Other(CustomLogger):
        pass

    other = Other()
    litellm.callbacks.append(other)
    try:
        litellm.completion(**ask(server))  # LiteLLM copies `other` into its lists here
        names = [
            n for n in dir(litellm) if "callback" in n and isinstance(getattr(litellm, n), list)
        ]
        before = {n: (getattr(litellm, n), list(getattr(litellm, n))) for n in names}
        logger = integration.instrument()
        assert integration.instrument() is logger  # once
        litellm.completion(**ask(server))
        assert integration.flush(20)
        assert any(logger in getattr(litellm, n) for n in names if n != "callbacks")
        integration.uninstrument()
        for name, (the_list, entries) in before.items():
            assert getattr(litellm, name) is the_list
            assert [id(x) for x in the_list] == [id(x) for x in entries], name
        assert integration.instrumented() is None
    finally:
        for name in dir(litellm):
            entries = getattr(litellm, name)
            if "callback" in name and isinstance(entries, list):
                entries[:] = [x for x in entries if x is not other]


def test_a_call_after_uninstrument_is_not_traced(tmp_path, server, read_trace):
    integration.uninstrument()
    with llmlog.new_trace_session(tmp_path / "t") as session:
        litellm.completion(**ask(server))
        session.close()
        trace = read_trace(Path(session.writer.path))
    assert trace.lm_spans() == [] and trace.calls == []


def test_the_configuration_switch(tmp_path, server):
    integration.uninstrument()
    llmlog.configure(
        {"trace": {"dir": "traces"}, "outputs": {}, "integrations": {"litellm": {"enabled": True}}}
    )
    assert integration.instrumented() is not None
    assert integration.instrumented() in litellm.callbacks
    llmlog.configure({"trace": {"dir": "traces"}, "outputs": {}})
    assert integration.instrumented() is None
    assert not any(isinstance(cb, integration.LlmlogLiteLLMLogger) for cb in litellm.callbacks)


def test_a_call_outside_any_session_goes_to_the_shared_one(tmp_path, server, read_trace):
    litellm.completion(**ask(server))
    assert integration.flush(20)
    close_shared_session()
    (path,) = (tmp_path / "traces").glob("*.jsonl")
    trace = read_trace(path)
    (lm,) = trace.lm_spans()
    assert trace.parent(lm) is None and trace.call(lm)["provider"] == "openai"


def test_nothing_is_counted_as_failed(tmp_path, server, read_trace):
    before = stats()["failures"]
    with llmlog.new_trace_session(tmp_path / "t") as session:
        litellm.completion(**ask(server))
        trace_of(session, read_trace)
    assert stats()["failures"] == before


def test_the_calls_reach_a_real_otlp_receiver_as_genai_spans(tmp_path, server, receiver):
    from llmlog_exporter_otlp import usage as genai

    integration.uninstrument()
    llmlog.configure(
        {
            "outputs": {},
            "trace": {"dir": "traces"},
            "integrations": {
                "otlp": receiver.traces_options(),
                "litellm": {"enabled": True},
            },
        }
    )
    try:
        with llmlog.new_trace_session(tmp_path / "t"), llmlog.span("root"):
            litellm.completion(**ask(server))
            server.enqueue(Fault(429, "slow down"))
            with pytest.raises(litellm.RateLimitError):
                litellm.completion(**ask(server))
            assert integration.flush(20)
    finally:
        llmlog.shutdown()  # flushes the exporter
    root = next(s for s in receiver.spans if s["name"] == "root")
    chats = [s for s in receiver.spans if s["name"] == "chat gpt-4o-mini"]
    assert len(chats) == 2 and all(s["parentSpanId"] == root["spanId"] for s in chats)
    ok, failed = sorted(chats, key=lambda s: int(s["startTimeUnixNano"]))
    attributes = receiver.attributes(ok)
    assert attributes[genai.INPUT] == PROMPT_WORDS
    assert attributes[genai.CACHE_READ] == 3 and attributes[genai.REASONING] == 2
    assert attributes["gen_ai.provider.name"] == "openai"
    assert attributes["gen_ai.request.model"] == "gpt-4o-mini"
    assert failed.get("status", {}).get("code") == "STATUS_CODE_ERROR"


def test_the_call_is_open_in_the_callers_context_while_the_request_is_made(tmp_path, server):
    # What an SDK integration below LiteLLM sees: the LiteLLM call as the open one, so that its
    # own scope is nested (contributes) instead of opening a second span.
    import httpx
    import openai

    seen: list[Any] = []

    def on_request(request: httpx.Request) -> None:
        scope = current_call()
        seen.append((scope.source, scope.owner) if scope is not None else None)

    client = openai.OpenAI(
        base_url=server.base_url,
        api_key="unused",
        http_client=httpx.Client(event_hooks={"request": [on_request]}),
    )
    with llmlog.new_trace_session(tmp_path / "t"):
        litellm.completion(**ask(server), client=client)
        litellm.embedding(
            model="openai/text-embedding-3-small", input=["x"], client=client, api_key="unused"
        )
        assert current_call() is None
        assert integration.flush(20)
    assert seen == [("litellm", True), ("litellm", True)]


def test_a_spent_budget_with_stop_raises_before_the_next_request(tmp_path, server, read_trace):
    with (
        llmlog.new_trace_session(tmp_path / "t") as session,
        llmlog.budget(tokens=5, stop=True),
    ):
        litellm.completion(**ask(server))  # 8 + 6 tokens: over the budget once LiteLLM reports
        assert integration.flush(20)
        asked = len(server.requests)
        with pytest.raises(llmlog.BudgetExceeded):
            litellm.completion(**ask(server))
        assert len(server.requests) == asked  # stopped before the request
        trace = trace_of(session, read_trace)
    assert len(trace.calls) == 1


def test_a_timeout_ends_the_span_failed(tmp_path, server, read_trace):
    server.enqueue(Answer("late", delay=30))  # the server's wait ends when it closes
    with llmlog.new_trace_session(tmp_path / "t") as session:
        with pytest.raises(litellm.Timeout):
            litellm.completion(**ask(server, timeout=0.5))
        trace = trace_of(session, read_trace)
    (lm,) = trace.lm_spans()
    assert trace.call(lm)["error_type"] == "Timeout"
    assert trace.ends[lm]["data"]["error"].startswith("Timeout")


def test_a_stream_that_breaks_ends_its_call_failed(tmp_path, server, read_trace):
    server.enqueue(Answer("one two three four", stream_error_after=2))
    with llmlog.new_trace_session(tmp_path / "t") as session, llmlog.span("root") as root:
        stream = litellm.completion(**ask(server, stream=True))
        with pytest.raises(Exception):  # noqa: B017 - whatever LiteLLM maps it to
            for _chunk in stream:
                pass
        assert get_current().span_id == root.span_id and current_call() is None
        trace = trace_of(session, read_trace)
    (lm,) = trace.lm_spans()
    call = trace.call(lm)
    assert call["stream"] is True and call["stream_end"] == "error"
    assert call["error_type"] and trace.ends[lm]["data"]["error"]


def test_the_no_content_mode_keeps_no_prompt_or_answer(tmp_path, server, read_trace):
    with llmlog.new_trace_session(tmp_path / "t", content=False) as session:
        litellm.completion(**ask(server))
        for _chunk in litellm.completion(
            **ask(server, stream=True, stream_options={"include_usage": True})
        ):
            pass
        trace = trace_of(session, read_trace)
    text = trace.path.read_text()
    assert "Paris" not in text and "capital of France" not in text
    assert all(c["data"]["usage"]["prompt_tokens"] == PROMPT_WORDS for c in trace.calls)
