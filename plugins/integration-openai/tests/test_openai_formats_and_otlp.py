"""An OpenAI SDK call traced into both trace formats (read back by their readers and shown by
``llmlog view``) and exported to a real OTLP receiver with the GenAI conventions."""

from __future__ import annotations

import json
from pathlib import Path

import openai
import pytest

import llmlog
import llmlog_integration_openai as integration
from llmlog.cli import main
from llmlog.testing import isolated_environment
from llmlog_fake_provider import Answer, FakeOpenAI, ToolCall

USER = [{"role": "user", "content": "what is the weather"}]


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path):
    with isolated_environment(tmp_path):
        yield tmp_path
        integration.uninstrument()
        llmlog.shutdown()


def _calls(base_url: str) -> None:
    client = openai.OpenAI(base_url=base_url, api_key="sk-test", max_retries=0)
    with llmlog.span("agent"):
        client.chat.completions.create(model="gpt-4o-mini", messages=USER)
        list(client.chat.completions.create(model="gpt-4o-mini", messages=USER, stream=True))
        with pytest.raises(openai.RateLimitError):
            client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "429"}]
            )


def _reply(request: dict) -> object:
    from llmlog_fake_provider import Fault

    if "429" in json.dumps(request.get("messages")):
        return Fault(429, "slow down")
    return Answer("sunny and warm", tool_calls=[ToolCall("get_weather", {"city": "Paris"})])


@pytest.mark.parametrize("fmt", ["dspy", "rlm"])
def test_calls_are_written_in_either_format_and_shown_by_view(isolated, fmt, capsys):
    llmlog.configure({"outputs": {}})
    integration.instrument()
    path = isolated / f"calls.{fmt}.jsonl"
    with (
        FakeOpenAI(_reply, cached_tokens=2, reasoning_tokens=1) as server,
        llmlog.new_trace_session(path, format=fmt),
    ):
        _calls(server.base_url)
    if fmt == "rlm":
        from llmlog_trace_rlm import read_rlm

        first, streamed, failed = read_rlm(path).iterations
        assert first.prompt == USER and first.response == "sunny and warm"
        assert first.root_call is not None and first.root_call.cost
        assert first.root_call.details == {"cache_read_tokens": 2, "reasoning_tokens": 1}
        assert streamed.response == "sunny and warm"
        assert failed.root_call is not None and failed.root_call.error is not None
        assert failed.root_call.error.startswith("RateLimitError: ")
    else:
        records = [json.loads(x) for x in path.read_text().splitlines()]
        calls = [r["data"] for r in records if r["type"] == "llm_call"]
        assert [c.get("stream_end") for c in calls] == [None, "completed", None]
        assert calls[1]["tool_calls"][0]["name"] == "get_weather"
        assert calls[2]["error_type"] == "RateLimitError" and calls[2]["status_code"] == 429
    capsys.readouterr()
    assert main(["view", str(path)]) == 0
    out = capsys.readouterr().out
    assert "gpt-4o-mini" in out and "RateLimitError" in out
    assert main(["view", "--stats", str(path)]) == 0
    stats = capsys.readouterr().out
    assert "cached" in stats or "cache" in stats


def test_calls_reach_a_real_otlp_receiver_with_the_genai_conventions(isolated, receiver):
    llmlog.configure(
        {
            "outputs": {},
            "trace": {"dir": "traces"},
            "integrations": {
                "otlp": receiver.traces_options(),
                "openai": {"enabled": True},
            },
        }
    )
    try:
        with (
            FakeOpenAI(_reply, cached_tokens=2, reasoning_tokens=1) as server,
            llmlog.new_trace_session(),
        ):
            _calls(server.base_url)
    finally:
        llmlog.shutdown()  # flushes the exporter
    chats = [s for s in receiver.spans if s["name"] == "chat gpt-4o-mini"]
    assert len(chats) == 3
    (agent,) = [s for s in receiver.spans if s["name"] == "agent"]
    assert all(s["parentSpanId"] == agent["spanId"] for s in chats)
    first, streamed, failed = (receiver.attributes(s) for s in chats)
    assert first["gen_ai.provider.name"] == "openai"
    assert first["gen_ai.response.model"] == "gpt-4o-mini"
    assert first["gen_ai.response.finish_reasons"] == ["tool_calls"]
    assert first["gen_ai.usage.cache_read.input_tokens"] == 2
    assert first["gen_ai.usage.reasoning.output_tokens"] == 1
    assert first["llmlog.cost.usd"] > 0
    assert streamed["gen_ai.request.stream"] is True
    assert isinstance(streamed["gen_ai.response.time_to_first_chunk"], float)
    assert failed["error.type"] == "RateLimitError"
    assert failed["http.response.status_code"] == 429
    # tokens only on the calls that have them (not the failed one), and no wrapper repeats them
    assert "gen_ai.usage.input_tokens" not in failed
    assert sum("gen_ai.usage.input_tokens" in receiver.attributes(s) for s in receiver.spans) == 2
