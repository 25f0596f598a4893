"""Cached, cache-creation and reasoning tokens in OpenTelemetry: a real DSPy program on the
loopback fake provider, its spans received by a real OTLP/HTTP receiver (an HTTP server on
127.0.0.1 decoding ``ExportTraceServiceRequest`` protobuf), a log entry's record likewise, and the
reading side accepting both spellings of the cache-creation attribute."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dspy
import pytest

import llmlog
from llmlog import TokenUsage
from llmlog.testing import isolated_environment
from llmlog_exporter_otlp import usage as genai
from llmlog_fake_provider import FakeOpenAI


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path) -> Iterator[Path]:
    with isolated_environment(tmp_path):
        yield tmp_path


def test_a_dspy_programs_cached_and_reasoning_tokens_reach_a_real_receiver(receiver):
    llmlog.configure(
        {
            "outputs": {},
            "trace": {"dir": "traces"},
            "integrations": {
                "otlp": receiver.traces_options(),
                "dspy": {"enabled": True},
            },
        }
    )
    reply = "[[ ## reasoning ## ]]\nthink\n\n[[ ## answer ## ]]\nParis\n\n[[ ## completed ## ]]"
    try:
        with FakeOpenAI(lambda request: reply, cached_tokens=6, reasoning_tokens=3) as server:
            lm = dspy.LM("openai/gpt-4o-mini", api_base=server.base_url, api_key="k", cache=False)
            with dspy.context(lm=lm):
                dspy.ChainOfThought("question -> answer")(question="Capital of France?")
            usage = lm.history[-1]["usage"]
    finally:
        llmlog.shutdown()  # flushes the exporter
    (chat,) = [s for s in receiver.spans if s["name"] == "chat gpt-4o-mini"]
    attributes = receiver.attributes(chat)
    assert attributes[genai.INPUT] == usage["prompt_tokens"]
    assert attributes[genai.OUTPUT] == usage["completion_tokens"]
    assert attributes[genai.CACHE_READ] == 6 and attributes[genai.REASONING] == 3
    assert genai.CACHE_CREATION not in attributes  # zero is not written
    # no wrapper span repeats the counts
    assert sum(genai.CACHE_READ in receiver.attributes(s) for s in receiver.spans) == 1
    back = genai.usage_of_attributes(attributes)
    assert (back.cache_read_tokens, back.reasoning_tokens) == (6, 3)


def test_a_log_entrys_token_details_reach_a_real_receiver(receiver):
    llmlog.configure(
        {
            "outputs": {
                "otel": {
                    "type": "otlp",
                    "endpoint": f"{receiver.base}/v1/logs",
                    "schedule_delay": "50ms",
                }
            }
        }
    )
    usage = TokenUsage(300, 40, cache_read_tokens=200, cache_creation_tokens=50, reasoning_tokens=9)
    llmlog.get_logger("app").info("answered", token_info=usage)
    llmlog.shutdown()
    ((_, _, record),) = receiver.records()
    attributes = receiver.attributes(record)
    assert attributes[genai.INPUT] == 300 and attributes[genai.OUTPUT] == 40
    assert attributes[genai.CACHE_READ] == 200
    assert attributes[genai.CACHE_CREATION] == 50
    assert attributes[genai.REASONING] == 9
    assert genai.usage_of_attributes(attributes) == TokenUsage(
        300, 40, cache_read_tokens=200, cache_creation_tokens=50, reasoning_tokens=9
    )


def test_the_cache_write_spelling_is_read_and_the_registrys_is_written():
    assert genai.CACHE_CREATION == "gen_ai.usage.cache_creation.input_tokens"
    read = genai.usage_of_attributes(
        {
            "gen_ai.usage.input_tokens": 10,
            "gen_ai.usage.output_tokens": 2,
            "gen_ai.usage.cache_write.input_tokens": 4,
        }
    )
    assert read.cache_creation_tokens == 4 and read.total_tokens == 12
    assert genai.usage_attributes(read) == {
        "gen_ai.usage.input_tokens": 10,
        "gen_ai.usage.output_tokens": 2,
        "gen_ai.usage.cache_creation.input_tokens": 4,
    }
    # bad values never raise and never become a count
    odd = genai.usage_of_attributes({"gen_ai.usage.input_tokens": float("nan")})
    assert odd.prompt_tokens == 0
