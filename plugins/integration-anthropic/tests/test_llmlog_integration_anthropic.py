"""The Anthropic SDK integration with the real ``anthropic`` client against the loopback fake
provider: every way of calling messages, tools, errors, streams ended every way, the trace in
both formats and at a real OTLP receiver, cost, redaction and the no-content mode."""

from __future__ import annotations

import asyncio
import gc
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest

import llmlog
import llmlog_engine_genai as engine
import llmlog_integration_anthropic as integration
from llmlog.testing import isolated_environment
from llmlog_fake_provider import Answer, FakeOpenAI, Fault, ToolCall
from llmlog_integration_anthropic.extract import MessageAggregator
from llmlog_integration_anthropic.integration import _TARGETS

WEATHER = ToolCall("get_weather", {"city": "Paris"}, id="toolu_w")
TOOLS = [{"name": "get_weather", "description": "w", "input_schema": {"type": "object"}}]
USER = [{"role": "user", "content": "weather in paris"}]  # 3 words


@pytest.fixture
def traces(tmp_path: Path) -> Iterator[Path]:
    with isolated_environment(tmp_path):
        llmlog.configure({"trace": {"dir": "traces"}, "outputs": {}})
        assert integration.instrument()
        try:
            yield tmp_path / "traces"
        finally:
            integration.uninstrument()
            engine.close_shared_session()


def records(directory: Path) -> list[dict[str, Any]]:
    engine.close_shared_session()
    out = []
    for path in sorted(directory.glob("*.jsonl")):
        out += [json.loads(line) for line in path.read_text().splitlines()]
    return out


def calls(directory: Path) -> list[dict[str, Any]]:
    return [r["data"] for r in records(directory) if r["type"] == "llm_call"]


def lm_spans(recs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        r
        for r in recs
        if r["type"] == "span"
        and r["data"]["event"] == "start"
        and r["data"]["operation"].startswith("LM:")
    ]


def client(server: FakeOpenAI, **kwargs: Any) -> anthropic.Anthropic:
    kwargs.setdefault("max_retries", 0)
    return anthropic.Anthropic(base_url=server.anthropic_base_url, api_key="unused", **kwargs)


def aclient(server: FakeOpenAI) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(
        base_url=server.anthropic_base_url, api_key="unused", max_retries=0
    )


# -- switching on and off ------------------------------------------------------------------------


def _originals() -> dict[tuple[str, str, str], Any]:
    import importlib

    return {
        (m, c, name): importlib.import_module(m).__dict__[c].__dict__[name]
        for m, c, name, _ in _TARGETS
    }


def test_uninstrument_puts_back_the_very_original_functions(tmp_path):
    before = _originals()
    with isolated_environment(tmp_path):
        assert integration.instrument() and integration.instrument()  # twice: wrapped once
        during = _originals()
        assert all(during[k] is not before[k] for k in before)
        assert all(during[k].__wrapped__ is before[k] for k in before)
        assert integration.instrumented()
        integration.uninstrument()
        integration.uninstrument()  # safe when not instrumented
    assert _originals() == before and all(_originals()[k] is before[k] for k in before)
    assert not integration.instrumented()


def test_the_toml_switch_instruments_and_a_new_configuration_restores(tmp_path):
    before = _originals()
    with isolated_environment(tmp_path):
        llmlog.configure({"outputs": {}, "integrations": {"anthropic": {"enabled": True}}})
        assert integration.instrumented()
        assert anthropic.resources.messages.Messages.create is not before[_TARGETS[0][:3]]
        llmlog.configure({"outputs": {}})
        assert not integration.instrumented()
    assert all(_originals()[k] is before[k] for k in before)


def test_an_unknown_sdk_version_is_reported_once_and_left_alone(tmp_path, monkeypatch, capfd):
    before = _originals()
    monkeypatch.setattr(anthropic, "__version__", "7.1.0")
    with isolated_environment(tmp_path):
        assert integration.instrument() is False
        assert integration.instrument() is False
    assert all(_originals()[k] is before[k] for k in before)
    err = capfd.readouterr().err
    assert err.count("anthropic 7.1.0 is not a version this integration knows") == 1
    assert "left alone" in err


def test_someone_elses_wrapper_on_top_is_kept_and_ours_switched_off(traces):
    cls = anthropic.resources.messages.Messages
    ours = cls.__dict__["create"]

    def theirs(self: Any, *args: Any, **kwargs: Any) -> Any:
        return ours(self, *args, **kwargs)

    cls.create = theirs  # type: ignore[method-assign]
    try:
        integration.uninstrument()
        assert cls.__dict__["create"] is theirs
        with FakeOpenAI(lambda r: "hi") as server:
            answer = client(server).messages.create(model="m", max_tokens=5, messages=USER)
        assert answer.content[0].text == "hi"  # type: ignore[union-attr]
        assert calls(traces) == []  # ours passes the call straight through now
    finally:
        cls.create = ours.__wrapped__  # type: ignore[method-assign]


# -- one call, everything in it -------------------------------------------------------------------


def test_a_call_with_system_tools_and_tool_results_is_one_span_with_everything(traces):
    history = [
        *USER,
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "t1", "name": "get_weather", "input": {}}],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "sunny"}],
        },
    ]
    answer = Answer(text="let me look", tool_calls=[WEATHER])
    with (
        FakeOpenAI(lambda r: answer, cached_tokens=2, cache_creation_tokens=1) as server,
        llmlog.new_trace_session(traces / "trace_app.jsonl"),
        llmlog.span("app") as app,
    ):
        message = client(server).messages.create(
            model="claude-x",
            max_tokens=100,
            stop_sequences=["END"],
            system="you are brief",
            messages=history,  # type: ignore[arg-type]
            tools=TOOLS,  # type: ignore[arg-type]
        )
    assert message.stop_reason == "tool_use"
    recs = records(traces)
    (span,) = lm_spans(recs)
    assert span["parent_id"] == app.span_id and span["data"]["operation"] == "LM:claude-x"
    (call,) = [r["data"] for r in recs if r["type"] == "llm_call"]
    assert call["provider"] == "anthropic" and call["model"] == "claude-x"
    assert call["source"] == "anthropic" and call["operation"] == "messages"
    assert call["messages"][0] == {"role": "system", "content": "you are brief"}
    assert call["messages"][1:] == history  # tool use and tool result kept as sent
    assert call["response"] == "let me look" and call["finish_reason"] == "tool_use"
    assert call["tool_calls"] == [
        {"id": "toolu_w", "name": "get_weather", "arguments": '{"city": "Paris"}'}
    ]
    assert "response_messages" not in call  # it would restate the response and tool calls
    assert call["params"]["stop_sequences"] == ["END"] and call["params"]["tools"] == TOOLS
    assert call["params"]["max_tokens"] == 100 and "stream" not in call
    usage = call["usage"]
    # 7 prompt words ("you are brief" + "weather in paris" + "sunny"): 2 read, 1 written.
    assert (usage["prompt_tokens"], usage["cache_read_tokens"]) == (7, 2)
    assert usage["cache_creation_tokens"] == 1 and usage["completion_tokens"] == 3 + 2


def test_messages_given_as_a_generator_reach_both_the_sdk_and_the_trace(traces):
    with FakeOpenAI(lambda r: "ok") as server:
        client(server).messages.create(model="m", max_tokens=5, messages=(m for m in USER))
    assert server.requests[0]["messages"] == USER
    assert calls(traces)[0]["messages"] == USER


def test_async_create(traces):
    async def run(server: FakeOpenAI) -> str:
        message = await aclient(server).messages.create(model="m", max_tokens=5, messages=USER)
        return message.content[0].text  # type: ignore[union-attr]

    with FakeOpenAI(lambda r: "async answer") as server:
        assert asyncio.run(run(server)) == "async answer"
    (call,) = calls(traces)
    assert call["response"] == "async answer" and call["usage"]["prompt_tokens"] == 3


def test_beta_messages_parse_and_raw_responses_are_traced_too(traces):
    with FakeOpenAI(lambda r: "beta answer") as server:
        c = client(server)
        c.beta.messages.create(model="m", max_tokens=5, messages=USER)  # type: ignore[arg-type]
        raw = c.messages.with_raw_response.create(model="m", max_tokens=5, messages=USER)
        assert raw.parse().content[0].text == "beta answer"  # type: ignore[union-attr]
        parsed = c.messages.parse(model="m", max_tokens=5, messages=USER)
        assert parsed.content[0].text == "beta answer"  # type: ignore[union-attr]
        with c.messages.with_streaming_response.create(
            model="m", max_tokens=5, messages=USER
        ) as streaming:
            assert streaming.parse().content[0].text == "beta answer"  # type: ignore[union-attr]
    found = calls(traces)
    assert [c["response"] for c in found[:3]] == ["beta answer"] * 3
    # The streaming response's body is the caller's: its call has the request side only.
    assert "response" not in found[3] or found[3]["response"] == ""
    assert found[3]["messages"] == USER and len(found) == 4


# -- streams --------------------------------------------------------------------------------------


def test_stream_true_is_aggregated_with_usage_and_time_to_first_token(traces):
    answer = Answer(text="it is sunny today", tool_calls=[WEATHER])
    with FakeOpenAI(lambda r: answer, cached_tokens=1) as server:
        events = list(
            client(server).messages.create(model="m", max_tokens=5, messages=USER, stream=True)
        )
    assert events[0].type == "message_start"  # the caller sees every event
    (call,) = calls(traces)
    assert call["stream"] is True and call["stream_end"] == "completed"
    assert call["response"] == "it is sunny today" and call["finish_reason"] == "tool_use"
    assert call["tool_calls"] == [
        {"id": "toolu_w", "name": "get_weather", "arguments": '{"city": "Paris"}'}
    ]
    assert isinstance(call["time_to_first_token_ms"], int)
    assert call["usage"]["prompt_tokens"] == 3 and call["usage"]["cache_read_tokens"] == 1
    assert call["usage"]["completion_tokens"] == 4 + 2


def test_the_stream_helper_sync_and_async(traces):
    async def run(server: FakeOpenAI) -> str:
        async with aclient(server).messages.stream(
            model="m", max_tokens=5, messages=USER
        ) as stream:
            return "".join([t async for t in stream.text_stream])

    with FakeOpenAI(lambda r: "streamed words here") as server:
        with client(server).messages.stream(model="m", max_tokens=5, messages=USER) as stream:
            final = stream.get_final_message()
        assert final.content[0].text == "streamed words here"  # type: ignore[union-attr]
        assert asyncio.run(run(server)) == "streamed words here"
    found = calls(traces)
    assert [c["response"] for c in found] == ["streamed words here"] * 2
    assert [c["stream_end"] for c in found] == ["completed", "completed"]
    assert all(
        c["finish_reason"] == "end_turn" and c["usage"]["completion_tokens"] == 3 for c in found
    )


def test_async_stream_true(traces):
    async def run(server: FakeOpenAI) -> list[str]:
        stream = await aclient(server).messages.create(
            model="m", max_tokens=5, messages=USER, stream=True
        )
        return [e.type async for e in stream]

    with FakeOpenAI(lambda r: "a b") as server:
        kinds = asyncio.run(run(server))
    assert kinds[-1] == "message_stop"
    (call,) = calls(traces)
    assert call["response"] == "a b" and call["stream_end"] == "completed"


def test_a_stream_closed_early_ends_the_call_with_what_came(traces):
    with FakeOpenAI(lambda r: "one two three four five") as server:
        stream = client(server).messages.create(model="m", max_tokens=5, messages=USER, stream=True)
        for event in stream:
            if event.type == "content_block_delta":
                break
        stream.close()
        # The helper left before the end: the with block closes it.
        with client(server).messages.stream(model="m", max_tokens=5, messages=USER) as helper:
            next(iter(helper.text_stream))
    first, second = calls(traces)
    assert first["stream_end"] == "closed" and first["response"] == "one "
    assert second["stream_end"] == "closed" and second["response"].startswith("one ")
    assert "finish_reason" not in first  # the message_delta never came


def test_a_stream_dropped_unfinished_ends_as_abandoned(traces):
    with FakeOpenAI(lambda r: "one two three") as server:
        stream = client(server).messages.create(model="m", max_tokens=5, messages=USER, stream=True)
        next(iter(stream))
        del stream
        gc.collect()
    (call,) = calls(traces)
    assert call["stream_end"] == "abandoned"


def test_a_stream_that_breaks_records_the_error(traces):
    answer = Answer(text="a b c", stream_error_after=1, error_status=529)
    with FakeOpenAI(lambda r: answer) as server:
        stream = client(server).messages.create(model="m", max_tokens=5, messages=USER, stream=True)
        with pytest.raises(anthropic.APIStatusError) as caught:
            list(stream)
    (call,) = calls(traces)
    assert call["stream_end"] == "error" and call["response"] == "a "
    assert call["error_type"] == type(caught.value).__name__
    assert "overloaded" in json.dumps(records(traces))


# -- errors ---------------------------------------------------------------------------------------


def test_errors_carry_the_providers_type_and_status(traces):
    with FakeOpenAI(lambda r: "fine") as server:
        server.enqueue(Fault(429, "slow down", retry_after=0), Fault(500, "broken"))
        with pytest.raises(anthropic.RateLimitError):
            client(server).messages.create(model="m", max_tokens=5, messages=USER)
        with pytest.raises(anthropic.InternalServerError):
            client(server).messages.create(model="m", max_tokens=5, messages=USER)
        # The SDK's own retry is inside one call: one span, answered.
        server.enqueue(Fault(429, retry_after=0))
        client(server, max_retries=1).messages.create(model="m", max_tokens=5, messages=USER)
    recs = records(traces)
    limited, broken, retried = [r["data"] for r in recs if r["type"] == "llm_call"]
    assert (limited["error_type"], limited["status_code"]) == ("RateLimitError", 429)
    assert (broken["error_type"], broken["status_code"]) == ("InternalServerError", 500)
    assert "error_type" not in retried and retried["response"] == "fine"
    errors = [r["data"] for r in recs if r["type"] == "error"]
    assert [e["error_type"] for e in errors] == ["RateLimitError", "InternalServerError"]
    ends = [r["data"] for r in recs if r["type"] == "span" and r["data"]["event"] == "end"]
    assert "RateLimitError" in ends[0]["error"] and "slow down" in ends[0]["error"]
    assert len(lm_spans(recs)) == 3


def test_a_timeout_is_an_error_of_its_own_type(traces):
    with (
        FakeOpenAI(lambda r: Answer(text="late", delay=60)) as server,
        pytest.raises(anthropic.APITimeoutError),
    ):
        client(server, timeout=0.3).messages.create(model="m", max_tokens=5, messages=USER)
    (call,) = calls(traces)
    assert call["error_type"] == "APITimeoutError" and "status_code" not in call


# -- what the trace keeps -------------------------------------------------------------------------


def test_cost_through_the_cost_chain_with_cache_tokens(tmp_path):
    prices = {"input": 3, "output": 15, "cached": 0.3, "cache_write": 3.75}
    with isolated_environment(tmp_path):
        llmlog.configure(
            {
                "trace": {"dir": "traces"},
                "outputs": {},
                "prices": {"anthropic/claude-x": prices},
            }
        )
        integration.instrument()
        try:
            with FakeOpenAI(lambda r: "one two three four five", cached_tokens=1) as server:
                server.enqueue(Answer(text="one two three four five", cache_creation_tokens=1))
                client(server).messages.create(model="claude-x", max_tokens=5, messages=USER)
        finally:
            integration.uninstrument()
        (call,) = calls(tmp_path / "traces")
    usage = call["usage"]
    assert (usage["cache_read_tokens"], usage["cache_creation_tokens"]) == (1, 1)
    # 1 plain input token, 1 read, 1 written, 5 output; USD per million tokens.
    assert usage["cost"] == pytest.approx((1 * 3 + 1 * 0.3 + 1 * 3.75 + 5 * 15) / 1e6)
    assert usage["cost_source"] == "override"


def test_redaction_applies_to_messages_tool_calls_and_responses(traces):
    secret = "sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789"
    answer = Answer(
        text=f"your key is {secret}", tool_calls=[ToolCall("login", {"api_key": "hunter2"})]
    )
    with FakeOpenAI(lambda r: answer) as server:
        client(server).messages.create(
            model="m", max_tokens=5, messages=[{"role": "user", "content": f"use {secret}"}]
        )
        list(client(server).messages.create(model="m", max_tokens=5, messages=USER, stream=True))
    text = json.dumps(records(traces))
    assert secret not in text and "hunter2" not in text
    first, second = calls(traces)
    assert "[REDACTED" in first["tool_calls"][0]["arguments"]
    assert "[REDACTED" in second["tool_calls"][0]["arguments"]


def test_no_content_mode_keeps_tokens_and_drops_text(tmp_path):
    with isolated_environment(tmp_path):
        llmlog.configure({"trace": {"dir": "traces", "content": False}, "outputs": {}})
        integration.instrument()
        try:
            answer = Answer(text="private answer words", tool_calls=[WEATHER])
            with FakeOpenAI(lambda r: answer) as server:
                c = client(server)
                c.messages.create(model="m", max_tokens=5, system="secret", messages=USER)
                list(c.messages.create(model="m", max_tokens=5, messages=USER, stream=True))
        finally:
            integration.uninstrument()
        recs = records(tmp_path / "traces")
    text = json.dumps(recs)
    assert "private" not in text and "paris" not in text and "secret" not in text
    assert "Paris" not in text  # the tool call's arguments are content too
    found = [r["data"] for r in recs if r["type"] == "llm_call"]
    assert [c["usage"]["completion_tokens"] for c in found] == [5, 5]
    assert all(c["finish_reason"] == "tool_use" for c in found)


def test_a_stream_keeps_no_more_than_the_content_cap(tmp_path):
    long_text = " ".join(f"w{i}" for i in range(2000))
    with isolated_environment(tmp_path):
        llmlog.configure({"trace": {"dir": "traces"}, "outputs": {}, "max_string_length": 200})
        integration.instrument()
        try:
            with FakeOpenAI(lambda r: long_text) as server:
                list(
                    client(server).messages.create(
                        model="m", max_tokens=5, messages=USER, stream=True
                    )
                )
        finally:
            integration.uninstrument()
        (call,) = calls(tmp_path / "traces")
    assert len(call["response"]) <= 200 and "truncated" in call["response"]
    assert call["response"].startswith("w0 w1 w2")


def test_the_aggregator_buffers_nothing_past_its_limit():
    # Real events of a real stream (uninstrumented), fed to an aggregator with a small cap.
    long_text = " ".join(f"w{i}" for i in range(500))
    with FakeOpenAI(
        lambda r: Answer(text=long_text, tool_calls=[ToolCall("t", {"q": "x" * 500})])
    ) as server:
        events = list(
            client(server).messages.create(model="m", max_tokens=5, messages=USER, stream=True)
        )
    aggregator = MessageAggregator(50)
    for event in events:
        assert aggregator.add(event) is False
    kept = sum(len(p) for p in aggregator._text._parts)
    (tool,) = aggregator._tools.values()
    assert kept == 50 and sum(len(p) for p in tool.arguments._parts) == 50
    assert aggregator._text.total == len(long_text)
    fields = aggregator.fields()
    assert len(fields["response"]) <= 50 and fields["tool_calls"][0]["name"] == "t"


def test_the_rlm_format_holds_the_call(tmp_path):
    with isolated_environment(tmp_path):
        llmlog.configure({"trace": {"dir": "traces", "format": "rlm"}, "outputs": {}})
        integration.instrument()
        try:
            with FakeOpenAI(lambda r: "rlm answer", cached_tokens=1) as server:
                with llmlog.new_trace_session(format="rlm") as session, llmlog.span("app"):
                    client(server).messages.create(model="claude-x", max_tokens=5, messages=USER)
                path = Path(session.writer.path).resolve()
        finally:
            integration.uninstrument()
        lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines[0]["type"] == "metadata" and lines[0]["root_model"] == "claude-x"
    assert lines[0]["backend"] == "anthropic"
    (iteration,) = lines[1:]
    assert iteration["prompt"] == USER and iteration["response"] == "rlm answer"
    (call,) = iteration["code_blocks"][0]["result"]["rlm_calls"]
    assert (call["prompt_tokens"], call["completion_tokens"]) == (3, 2)
    assert call["cache_read_tokens"] == 1 and call["root_model"] == "claude-x"


def test_spans_reach_a_real_otlp_receiver_with_genai_attributes(tmp_path, receiver):
    with isolated_environment(tmp_path):
        llmlog.configure(
            {
                "outputs": {},
                "trace": {"dir": "traces"},
                "integrations": {
                    "otlp": receiver.traces_options(capture_content=True),
                    "anthropic": {"enabled": True},
                },
            }
        )
        try:
            answer = Answer(text="otlp answer", tool_calls=[WEATHER])
            with FakeOpenAI(lambda r: answer, cached_tokens=1, cache_creation_tokens=1) as server:
                c = client(server)
                c.messages.create(model="claude-x", max_tokens=5, messages=USER)
                list(c.messages.create(model="claude-y", max_tokens=5, messages=USER, stream=True))
                server.enqueue(Fault(429, "slow down"))
                with pytest.raises(anthropic.RateLimitError):
                    c.messages.create(model="claude-z", max_tokens=5, messages=USER)
        finally:
            engine.close_shared_session()
            llmlog.shutdown()  # flushes the exporter, uninstruments
    assert not integration.instrumented()
    by_model = {s["name"]: receiver.attributes(s) for s in receiver.spans if "claude" in s["name"]}
    assert set(by_model) == {"chat claude-x", "chat claude-y", "chat claude-z"}
    sync, streamed, failed = (by_model[f"chat claude-{m}"] for m in "xyz")
    assert sync["gen_ai.provider.name"] == "anthropic"
    assert sync["gen_ai.usage.input_tokens"] == 3 and sync["gen_ai.usage.output_tokens"] == 4
    assert sync["gen_ai.usage.cache_read.input_tokens"] == 1
    assert sync["gen_ai.usage.cache_creation.input_tokens"] == 1
    assert sync["gen_ai.response.finish_reasons"] == ["tool_use"]
    output = json.loads(sync["gen_ai.output.messages"])
    assert {"type": "tool_call", "id": "toolu_w", "name": "get_weather"}.items() <= (
        output[0]["parts"][1].items()
    )
    assert json.loads(output[0]["parts"][1]["arguments"]) == {"city": "Paris"}
    assert streamed["gen_ai.request.stream"] is True
    assert "gen_ai.response.time_to_first_chunk" in streamed
    assert failed["error.type"] == "RateLimitError"
    assert failed["http.response.status_code"] == 429


# -- with the engine's other sources, threads, budgets ------------------------------------------


def test_inside_another_sources_call_it_contributes_without_a_span(traces):
    with (
        FakeOpenAI(lambda r: "nested answer", cached_tokens=1) as server,
        llmlog.new_trace_session(traces / "trace_app.jsonl"),
    ):
        scope = engine.claim("dspy")  # as the DSPy integration does around an LM call
        client(server).messages.create(model="claude-x", max_tokens=5, messages=USER)
        merged = scope.data
        scope.finish()
    assert merged.source == "dspy" and merged.response == "nested answer"
    assert merged.finish_reason == "end_turn" and merged.response_model == "claude-x"
    assert merged.usage == llmlog.TokenUsage(3, 2, 5, cache_read_tokens=1)
    recs = records(traces)
    assert lm_spans(recs) == [] and [r for r in recs if r["type"] == "llm_call"] == []


def test_calls_from_threads_are_each_their_own_span(traces):
    import threading

    with FakeOpenAI(lambda r: f"answer to {r['messages'][0]['content']}") as server:
        c = client(server)

        def ask(i: int) -> None:
            c.messages.create(
                model="m", max_tokens=5, messages=[{"role": "user", "content": f"q{i}"}]
            )

        threads = [threading.Thread(target=ask, args=(i,)) for i in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    found = calls(traces)
    assert sorted(c["response"] for c in found) == [f"answer to q{i}" for i in range(6)]
    assert all(c["messages"][0]["content"] == c["response"][10:] for c in found)
    assert len(lm_spans(records(traces))) == 6


def test_a_spent_budget_with_stop_raises_before_the_request(traces):
    with FakeOpenAI(lambda r: "one two three") as server, llmlog.budget(tokens=4, stop=True):
        c = client(server)
        c.messages.create(model="m", max_tokens=5, messages=USER)  # 3 + 3 tokens: spent
        with pytest.raises(llmlog.BudgetExceeded):
            c.messages.create(model="m", max_tokens=5, messages=USER)
    assert len(server.requests) == 1  # the second call never reached the provider


def test_async_streams_closed_early_or_broken(traces):
    async def run(server: FakeOpenAI) -> None:
        c = aclient(server)
        async with c.messages.stream(model="m", max_tokens=5, messages=USER) as stream:
            async for _ in stream.text_stream:
                break
        raw = await c.messages.create(model="m", max_tokens=5, messages=USER, stream=True)
        with pytest.raises(anthropic.APIStatusError):
            async for _ in raw:
                pass

    answers = iter(["one two three four", Answer(text="a b c", stream_error_after=2)])
    with FakeOpenAI(lambda r: next(answers)) as server:
        asyncio.run(run(server))
    closed, broken = calls(traces)
    assert closed["stream_end"] == "closed" and closed["response"].startswith("one ")
    assert broken["stream_end"] == "error" and broken["response"] == "a b "
    assert broken["error_type"] == "APIStatusError"


def test_the_stream_helper_failing_at_its_request_records_the_error(traces):
    with FakeOpenAI(lambda r: "unused") as server:
        server.enqueue(Fault(429, "slow down", retry_after=0))
        manager = client(server).messages.stream(model="m", max_tokens=5, messages=USER)
        with pytest.raises(anthropic.RateLimitError):
            manager.__enter__()
    (call,) = calls(traces)
    assert (call["error_type"], call["status_code"]) == ("RateLimitError", 429)
    assert call["stream"] is True and call["messages"] == USER


def test_a_tool_loop_passing_the_sdks_own_blocks_back_is_recorded_as_plain_data(traces):
    answers = iter([Answer(tool_calls=[WEATHER]), "it is sunny"])
    with FakeOpenAI(lambda r: next(answers)) as server:
        c = client(server)
        first = c.messages.create(model="m", max_tokens=50, messages=USER, tools=TOOLS)  # type: ignore[arg-type]
        (use,) = first.content
        history = [
            *USER,
            {"role": "assistant", "content": first.content},  # the SDK's ToolUseBlock objects
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "sunny"}],
            },
        ]
        c.messages.create(model="m", max_tokens=50, messages=history, tools=TOOLS)  # type: ignore[arg-type]
    _, second = calls(traces)
    assert second["messages"][1] == {
        "role": "assistant",
        "content": [
            {"type": "tool_use", "id": "toolu_w", "name": "get_weather", "input": {"city": "Paris"}}
        ],
    }
    assert second["messages"][2]["content"][0]["tool_use_id"] == "toolu_w"
    assert second["response"] == "it is sunny" and second["finish_reason"] == "end_turn"


@pytest.mark.parametrize("fmt", ["dspy", "rlm"])
def test_both_formats_read_back_and_shown_by_view(tmp_path, fmt, capsys):
    from llmlog.cli import main

    def reply(request: dict[str, Any]) -> Any:
        if "429" in json.dumps(request["messages"]):
            return Fault(429, "slow down")
        return Answer(text="sunny and warm", tool_calls=[WEATHER])

    with isolated_environment(tmp_path):
        llmlog.configure({"outputs": {}})
        integration.instrument()
        path = tmp_path / f"calls.{fmt}.jsonl"
        try:
            with (
                FakeOpenAI(reply, cached_tokens=2, cache_creation_tokens=1) as server,
                llmlog.new_trace_session(path, format=fmt),
                llmlog.span("agent"),
            ):
                c = client(server)
                c.messages.create(model="claude-haiku-4-5", max_tokens=9, messages=USER)
                list(
                    c.messages.create(
                        model="claude-haiku-4-5", max_tokens=9, messages=USER, stream=True
                    )
                )
                with pytest.raises(anthropic.RateLimitError):
                    c.messages.create(
                        model="claude-haiku-4-5",
                        max_tokens=9,
                        messages=[{"role": "user", "content": "429"}],
                    )
        finally:
            integration.uninstrument()
        if fmt == "rlm":
            from llmlog_trace_rlm import read_rlm

            first, streamed, failed = read_rlm(path).iterations
            assert first.prompt == USER and first.response == "sunny and warm"
            assert first.root_call is not None and first.root_call.cost  # priced by the table
            assert first.root_call.details == {"cache_read_tokens": 2, "cache_creation_tokens": 1}
            assert streamed.response == "sunny and warm"
            assert failed.root_call is not None and failed.root_call.error is not None
            assert failed.root_call.error.startswith("RateLimitError: ")
        capsys.readouterr()
        assert main(["view", str(path)]) == 0
        out = capsys.readouterr().out
        assert "claude-haiku-4-5" in out and "RateLimitError" in out
        assert main(["view", "--stats", str(path)]) == 0
        assert "cache" in capsys.readouterr().out
