"""Record and replay end to end: a real DSPy ReAct program with tools calls the loopback fake
provider through ``dspy.LM`` (LiteLLM over HTTP) while the DSPy integration records the run;
then the same program runs on a ``ReplayLM`` of that trace with every socket connection refused,
and gives the same outputs, spans, tool calls, tokens and costs. Threads (``Evaluate``), ``dspy.Parallel``
and ``acall`` included; a changed prompt is refused, naming the difference."""

from __future__ import annotations

import asyncio
import json
import re
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dspy
import pytest

import llmlog
import llmlog_integration_dspy as integration
from llmlog.ext import enter_context, exit_context
from llmlog.testing import isolated_environment
from llmlog_fake_provider import FakeOpenAI
from llmlog_testing_replay import NotRecorded, ReplayLM

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:Implementing custom LMs through BaseLM:DeprecationWarning"),
]

CITIES = ["Paris", "Rome", "Oslo", "Lima", "Cairo", "Quito", "Hanoi", "Dakar"]


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path) -> Iterator[Path]:
    with isolated_environment(tmp_path):
        llmlog.configure({"outputs": {}})
        yield tmp_path
        integration.uninstrument()


def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"Sunny in {city}"


def reply(request: dict[str, Any]) -> str:
    """The model: ReAct's step asks for the weather, then finishes; its extract answers."""
    system = request["messages"][0]["content"]
    last = request["messages"][-1]["content"]
    city = re.search(r"Weather in (\w+)\?", last)
    name = city.group(1) if city else "nowhere"
    if "next_tool_name" in system:
        if "observation_0" not in last:
            args = json.dumps({"city": name})
            return (
                f"[[ ## next_thought ## ]]\nI should look up {name}.\n\n"
                f"[[ ## next_tool_name ## ]]\nget_weather\n\n"
                f"[[ ## next_tool_args ## ]]\n{args}\n\n[[ ## completed ## ]]"
            )
        return (
            "[[ ## next_thought ## ]]\nI know it.\n\n[[ ## next_tool_name ## ]]\nfinish\n\n"
            "[[ ## next_tool_args ## ]]\n{}\n\n[[ ## completed ## ]]"
        )
    return (
        f"[[ ## reasoning ## ]]\nThe tool said so.\n\n[[ ## answer ## ]]\nSunny in {name}\n\n"
        "[[ ## completed ## ]]"
    )


def agent(instructions: str = "Answer questions about the weather.") -> dspy.ReAct:
    return dspy.ReAct(dspy.Signature("question -> answer", instructions), tools=[get_weather])


def traced(path: Path, lm: Any, run: Callable[[], Any]) -> Any:
    session = llmlog.new_trace_session(path, format="dspy")
    token = enter_context(session=session, trace_id=session.trace_id)
    integration.instrument().swap_shared_session(session)
    try:
        with dspy.context(lm=lm):
            return run()
    finally:
        integration.uninstrument()
        exit_context(token)
        session.close()


class _Refused(OSError):
    pass


@contextmanager
def no_network() -> Iterator[list[Any]]:
    """Every socket connection fails (and is counted) inside the block."""
    attempts: list[Any] = []
    saved = socket.socket.connect, socket.socket.connect_ex

    def refuse(self: socket.socket, address: Any) -> Any:
        attempts.append(address)
        raise _Refused(f"network blocked: connect to {address}")

    socket.socket.connect = refuse  # type: ignore[method-assign]
    socket.socket.connect_ex = refuse  # type: ignore[method-assign]
    try:
        yield attempts
    finally:
        socket.socket.connect, socket.socket.connect_ex = saved  # type: ignore[method-assign]


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def shape(path: Path) -> list[tuple[Any, ...]]:
    """The trace without ids, times and the replay's own marks: each span as its operation, its
    parent's operation, its inputs and outputs; each event as its type and data."""
    events = records(path)
    names = {
        e["span_id"]: e["data"]["operation"]
        for e in events
        if e["type"] == "span" and e["data"]["event"] == "start"
    }
    out: list[tuple[Any, ...]] = []
    for e in events:
        data = dict(e["data"])
        if e["type"] == "session":
            continue
        for key in ("duration_ms", "latency_ms", "replayed", "start_time"):
            data.pop(key, None)
        if e["type"] == "llm_call":
            data["usage"] = {k: v for k, v in data["usage"].items() if k != "cost_source"}
            data.pop("params", None)  # the replaying LM's own (ReplayLM.like copies them)
        if e["type"] == "span" and data["event"] == "start":
            inputs = data.get("inputs") or {}
            if "kwargs" in inputs:  # the LM's settings: the replaying LM has no api_base
                inputs = {k: v for k, v in inputs.items() if k != "kwargs"}
            data["inputs"] = inputs
            out.append(("start", data["operation"], names.get(e.get("parent_id")), data))
        else:
            out.append((e["type"], names.get(e["span_id"]), json.dumps(data, sort_keys=True)))
    return out


def test_react_with_tools_recorded_then_replayed_offline_gives_the_same_run(tmp_path):
    def run() -> str:
        return str(agent()(question="Weather in Paris?").answer)

    with FakeOpenAI(reply) as server:
        real = dspy.LM(
            "openai/gpt-4o-mini", api_base=server.base_url, api_key="unused", cache=False
        )
        assert traced(tmp_path / "rec.jsonl", real, run) == "Sunny in Paris"
        sent = len(server.requests)
    assert sent == 3  # two ReAct steps and the extract

    replay = ReplayLM.like(real, tmp_path / "rec.jsonl")
    with no_network() as attempts:
        assert traced(tmp_path / "rep.jsonl", replay, run) == "Sunny in Paris"
    assert attempts == []  # nothing even tried the network
    assert len(shape(tmp_path / "rec.jsonl")) > 30
    assert shape(tmp_path / "rep.jsonl") == shape(tmp_path / "rec.jsonl")
    recorded = [e["data"] for e in records(tmp_path / "rec.jsonl") if e["type"] == "llm_call"]
    replayed = [e["data"] for e in records(tmp_path / "rep.jsonl") if e["type"] == "llm_call"]
    assert [c["usage"]["total_tokens"] for c in replayed] == [
        c["usage"]["total_tokens"] for c in recorded
    ]
    assert all(c["usage"]["total_tokens"] > 0 for c in recorded)
    assert [c["usage"]["cost"] for c in replayed] == [c["usage"]["cost"] for c in recorded]
    assert {c["usage"]["cost_source"] for c in replayed} == {"replayed"}
    assert all(c["replayed"] is True for c in replayed)
    tools = [e["data"] for e in records(tmp_path / "rep.jsonl") if e["type"] == "tool_call"]
    assert [(t["tool_name"], t["output"]) for t in tools if t["tool_name"] != "finish"] == [
        ("get_weather", "Sunny in Paris")
    ]

    # A changed prompt (the signature's instructions) was not recorded: refused, with the diff.
    replay.index.reset()
    with no_network(), pytest.raises(NotRecorded) as caught, dspy.context(lm=replay):
        agent("Answer questions about the weather, politely.")(question="Weather in Paris?")
    message = str(caught.value)
    assert "rec.jsonl: call 1" in message
    assert re.search(r"^-\s+Answer questions about the weather\.$", message, re.M)
    assert re.search(r"^\+\s+Answer questions about the weather, politely\.$", message, re.M)


def test_threads_parallel_and_acall_replay_each_request_its_own_answers(tmp_path):
    devset = [dspy.Example(question=f"Weather in {c}?", answer=f"Sunny in {c}") for c in CITIES]
    devset = [e.with_inputs("question") for e in devset]

    def metric(example: Any, prediction: Any, trace: Any = None) -> bool:
        return bool(example.answer == prediction.answer)

    def run() -> tuple[float, list[str], list[str]]:
        program = agent()
        score = dspy.Evaluate(devset=devset, metric=metric, num_threads=4)(program).score
        parallel = dspy.Parallel(num_threads=4)(
            [(program, {"question": f"Weather in {c}?"}) for c in CITIES[:4]]
        )

        async def gathered() -> list[str]:
            done = await asyncio.gather(
                *(program.acall(question=f"Weather in {c}?") for c in CITIES[4:])
            )
            return [d.answer for d in done]

        return score, [p.answer for p in parallel], asyncio.run(gathered())

    with FakeOpenAI(reply) as server:
        real = dspy.LM(
            "openai/gpt-4o-mini", api_base=server.base_url, api_key="unused", cache=False
        )
        recorded = traced(tmp_path / "rec.jsonl", real, run)
    expected = [f"Sunny in {c}" for c in CITIES]
    assert recorded == (100.0, expected[:4], expected[4:])
    with no_network() as attempts:
        replayed = traced(tmp_path / "rep.jsonl", ReplayLM.like(real, tmp_path / "rec.jsonl"), run)
    assert replayed == recorded and attempts == []
    calls = [e["data"] for e in records(tmp_path / "rep.jsonl") if e["type"] == "llm_call"]
    assert len(calls) == 3 * (len(CITIES) + 8) and all(c["replayed"] for c in calls)
    tokens = sorted(
        e["data"]["usage"]["total_tokens"]
        for e in records(tmp_path / "rec.jsonl")
        if e["type"] == "llm_call"
    )
    assert sorted(c["usage"]["total_tokens"] for c in calls) == tokens
