"""One LLM call is one span, whichever LLM-call integrations are on: a real DSPy program
(``dspy.LM`` calls LiteLLM, which may call the OpenAI SDK) against the loopback fake provider,
with the DSPy, LiteLLM and OpenAI integrations switched on in every combination through the
configuration, and LiteLLM called directly with and without the OpenAI SDK's integration. Each
trace must hold exactly one ``llm_call`` per call, with the richest data any source had."""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network at LiteLLM's import

dspy = pytest.importorskip("dspy")
litellm = pytest.importorskip("litellm")
pytest.importorskip("llmlog_integration_litellm")

import llmlog  # noqa: E402
from llmlog_engine_genai import close_shared_session  # noqa: E402
from llmlog_fake_provider import FakeOpenAI  # noqa: E402

HAS_OPENAI = importlib.util.find_spec("llmlog_integration_openai") is not None
REPLY = "[[ ## answer ## ]]\nParis\n\n[[ ## completed ## ]]"


def records(directory: Path) -> list[dict[str, Any]]:
    (path,) = sorted(directory.glob("*.jsonl"))
    return [json.loads(line) for line in path.read_text().splitlines()]


def fake_lm(server: Any, engine: str) -> Any:
    """A DSPy LM on the fake provider, uncached, calling it through ``engine``."""
    return dspy.LM(
        "openai/gpt-4o-mini", api_base=server.base_url, api_key="k", cache=False, engine=engine
    )


def configure(*names: str) -> None:
    llmlog.configure(
        {
            "outputs": {},
            "trace": {"dir": "traces"},
            "integrations": {name: {"enabled": True} for name in names},
        }
    )


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(lambda request: REPLY, cached_tokens=3, reasoning_tokens=2) as s:
        yield s


def shut_down() -> None:
    import llmlog_integration_litellm

    assert llmlog_integration_litellm.flush(20)
    llmlog.shutdown()  # uninstruments; the DSPy integration closes its shared session
    close_shared_session()


NEEDS_OPENAI = pytest.mark.skipif(not HAS_OPENAI, reason="llmlog-integration-openai")
#: (integrations on, DSPy's engine): DSPy calls LiteLLM with ``engine="litellm"``; its default
#: engine speaks HTTP itself (the DSPy integration alone sees those calls).
COMBINATIONS = [
    (("dspy",), "litellm"),
    (("litellm",), "litellm"),
    (("dspy", "litellm"), "litellm"),
    pytest.param(("dspy", "litellm", "openai"), "litellm", marks=NEEDS_OPENAI),
    pytest.param(("litellm", "openai"), "litellm", marks=NEEDS_OPENAI),
    (("dspy", "litellm"), "auto"),
    pytest.param(("dspy", "litellm", "openai"), "auto", marks=NEEDS_OPENAI),
]


@pytest.mark.parametrize(
    ("names", "engine"),
    COMBINATIONS,
    ids=lambda value: "+".join(value) if isinstance(value, tuple) else f"engine={value}",
)
def test_a_dspy_program_makes_one_llm_call_per_lm_call_with_the_richest_data(
    isolated, server, names, engine
):
    configure(*names)
    try:
        lm = fake_lm(server, engine)
        with dspy.context(lm=lm):
            predict = dspy.Predict("question -> answer")
            assert predict(question="Capital of France?").answer == "Paris"
            assert predict(question="Capital of Italy?").answer == "Paris"
        history = lm.history[-1]
    finally:
        shut_down()
    found = records(isolated / "traces")
    calls = [r for r in found if r["type"] == "llm_call"]
    assert len(calls) == 2, [c["data"].get("source") for c in calls]  # one per LM call
    lm_spans = {
        r["span_id"]
        for r in found
        if r["type"] == "span"
        and r["data"].get("event") == "start"
        and r["data"]["operation"].startswith("LM:")
    }
    assert len(lm_spans) == 2 and {c["span_id"] for c in calls} == lm_spans
    for record in calls:
        call = record["data"]
        assert call["provider"] == "openai" and call["model"] == "gpt-4o-mini"
        assert REPLY in call["response"]
        # what only the response says: DSPy's history or LiteLLM's report
        assert call["finish_reason"] == "stop"
        assert call["response_model"] == "gpt-4o-mini"
        usage = call["usage"]
        assert usage["prompt_tokens"] == history["usage"]["prompt_tokens"]
        assert usage["cache_read_tokens"] == 3 and usage["reasoning_tokens"] == 2
        assert usage["cost"] == pytest.approx(history["cost"]) and usage["cost"] > 0
    spans = {
        r["span_id"]: r for r in found if r["type"] == "span" and r["data"].get("event") == "start"
    }
    for span_id in lm_spans:
        parent = spans[span_id].get("parent_id")
        if "dspy" in names:  # DSPy's own LM span, under its Predict span
            assert spans[parent]["data"]["operation"].startswith("Predict")


@pytest.mark.parametrize(
    "names",
    [
        ("litellm",),
        pytest.param(
            ("litellm", "openai"),
            marks=pytest.mark.skipif(not HAS_OPENAI, reason="llmlog-integration-openai"),
        ),
    ],
    ids=lambda names: "+".join(names),
)
def test_litellm_called_directly_is_one_call_per_completion_and_embedding(isolated, server, names):
    configure(*names)
    try:
        with llmlog.new_trace_session(isolated / "t") as session, llmlog.span("root"):
            litellm.completion(
                model="openai/gpt-4o-mini",
                messages=[{"role": "user", "content": "Capital of France?"}],
                api_base=server.base_url,
                api_key="k",
            )
            litellm.embedding(
                model="openai/text-embedding-3-small",
                input=["Paris"],
                api_base=server.base_url,
                api_key="k",
            )
            import llmlog_integration_litellm

            assert llmlog_integration_litellm.flush(20)
        path = Path(session.writer.path)
    finally:
        shut_down()
    found = [json.loads(line) for line in path.read_text().splitlines()]
    calls = [r["data"] for r in found if r["type"] == "llm_call"]
    assert sorted(c["operation"] for c in calls) == ["chat", "embeddings"]
    chat = next(c for c in calls if c["operation"] == "chat")
    assert chat["usage"]["cache_read_tokens"] == 3 and chat["usage"]["cost_source"] == "reported"
    assert chat["provider"] == "openai" and chat["finish_reason"] == "stop"


@pytest.mark.parametrize(
    "names",
    [
        ("dspy", "litellm"),
        pytest.param(("dspy", "litellm", "openai"), marks=NEEDS_OPENAI),
    ],
    ids=lambda names: "+".join(names),
)
def test_concurrent_async_dspy_calls_are_one_call_each_under_their_own_predict(
    isolated, server, names
):
    import asyncio

    configure(*names)
    try:
        lm = fake_lm(server, "litellm")

        async def main() -> None:
            with dspy.context(lm=lm):
                predict = dspy.Predict("question -> answer")
                await asyncio.gather(*(predict.acall(question=f"q{i}?") for i in range(3)))
            import llmlog_integration_litellm

            assert await llmlog_integration_litellm.aflush(20)

        asyncio.run(main())
    finally:
        shut_down()
    found = records(isolated / "traces")
    calls = [r for r in found if r["type"] == "llm_call"]
    starts = {
        r["span_id"]: r for r in found if r["type"] == "span" and r["data"].get("event") == "start"
    }
    assert len(calls) == 3
    parents = {starts[c["span_id"]]["parent_id"] for c in calls}
    assert len(parents) == 3  # each under its own Predict span
    assert all(starts[p]["data"]["operation"].startswith("Predict") for p in parents)
    assert all(c["data"]["usage"]["cache_read_tokens"] == 3 for c in calls)
