"""The engine on its own: calls owned and nested, the rank merge, late data, streams ended every
way, threads and tasks kept apart, never raising; asserted from the trace file written."""

from __future__ import annotations

import asyncio
import gc
import json
import threading
from pathlib import Path
from typing import Any

import pytest

import llmlog
import llmlog_engine_genai as engine
from llmlog.ext import TokenUsage
from llmlog.testing import isolated_environment
from llmlog_engine_genai import CallData, claim, current_call, start_call, stream_wrapper

OPENAI_USAGE = {
    "prompt_tokens": 12,
    "completion_tokens": 5,
    "total_tokens": 17,
    "prompt_tokens_details": {"cached_tokens": 4},
    "completion_tokens_details": {"reasoning_tokens": 2},
}


@pytest.fixture(autouse=True)
def traces(tmp_path: Path):
    with isolated_environment(tmp_path):
        llmlog.configure({"trace": {"dir": "traces"}, "outputs": {}})
        yield tmp_path / "traces"
        engine.close_shared_session()


def records(directory: Path) -> list[dict[str, Any]]:
    engine.close_shared_session()
    out = []
    for path in sorted(directory.glob("trace_*.jsonl")):
        out += [json.loads(line) for line in path.read_text().splitlines()]
    return out


def of(recs: list[dict[str, Any]], kind: str, event: str | None = None) -> list[dict[str, Any]]:
    return [
        r for r in recs if r["type"] == kind and (event is None or r["data"].get("event") == event)
    ]


def test_an_owner_call_is_one_span_and_one_event_under_the_current_span(traces):
    with llmlog.new_trace_session(traces / "trace_app.jsonl"), llmlog.span("app") as app:
        scope = start_call(
            CallData(
                "openai",
                provider="openai",
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": "hi"}],
                params={"temperature": 0.2},
            )
        )
        assert scope.owner and current_call() is scope
        # While the SDK call runs, logs and spans inside belong to the LM span.
        assert llmlog.current_context().span_id == scope.span_id
        scope.finish(
            response="hello",
            response_model="gpt-4o-mini-2024-07-18",
            usage=OPENAI_USAGE,
            finish_reason="stop",
        )
        assert current_call() is None
        assert llmlog.current_context().span_id == app.span_id
    recs = records(traces)
    (start,) = [r for r in of(recs, "span", "start") if r["data"]["operation"].startswith("LM:")]
    assert start["data"]["operation"] == "LM:gpt-4o-mini"
    assert start["parent_id"] == app.span_id
    (call,) = of(recs, "llm_call")
    data = call["data"]
    assert call["span_id"] == start["span_id"]
    assert data["model"] == "gpt-4o-mini" and data["provider"] == "openai"
    assert data["response_model"] == "gpt-4o-mini-2024-07-18"
    assert data["prompt"] == "user: hi" and data["response"] == "hello"
    assert data["messages"] == [{"role": "user", "content": "hi"}]
    assert data["params"] == {"temperature": 0.2}
    assert data["finish_reason"] == "stop" and data["source"] == "openai"
    usage = data["usage"]
    assert usage["prompt_tokens"] == 12 and usage["cache_read_tokens"] == 4
    assert usage["reasoning_tokens"] == 2
    assert "cost" in usage or "cost_unknown" in usage  # priced by the chain, either way said
    assert len(of(recs, "span", "end")) == 2


def test_a_nested_source_contributes_by_rank_and_writes_nothing_of_its_own(traces):
    outer = start_call(
        CallData("litellm", provider="openai", model="openai/gpt-4o-mini", response="lite")
    )
    inner = start_call(CallData("openai", model="gpt-4o-mini", provider=None))
    assert not inner.owner and current_call() is inner
    inner.finish(response="from the wire", usage=OPENAI_USAGE)
    assert current_call() is outer
    outer.update(cost=0.5, response="litellm's text", finish_reason="stop")
    outer.finish()
    recs = records(traces)
    assert len(of(recs, "span", "start")) == 1
    (call,) = of(recs, "llm_call")
    data = call["data"]
    assert data["model"] == "gpt-4o-mini"  # the SDK's (rank 3) over LiteLLM's (2)
    assert data["provider"] == "openai"  # None never replaces
    assert data["response"] == "from the wire"  # a lower rank does not replace a higher one
    assert data["finish_reason"] == "stop"  # but fills what is unknown
    assert data["usage"]["cost"] == 0.5 and data["usage"]["cost_source"] == "reported"
    assert data["source"] == "litellm" and data["sources"] == ["litellm", "openai"]


def test_claim_owns_without_a_span_and_reads_the_merged_data(traces):
    owner = claim("dspy")
    assert owner.owner and owner.span_id is None
    inner = start_call(CallData("openai", model="gpt-4o", response_model="gpt-4o-2024"))
    inner.finish(response="ok", usage=OPENAI_USAGE)
    assert owner.data.model == "gpt-4o" and owner.data.response == "ok"
    assert owner.data.usage == OPENAI_USAGE
    owner.finish()
    assert current_call() is None
    assert of(records(traces), "span") == []


def test_data_arriving_after_the_owner_finished_is_dropped_and_counted(traces):
    outer = start_call(CallData("litellm", model="m"))
    inner = start_call(CallData("openai", model="m"))
    outer.finish()  # e.g. a stream LiteLLM ended before the SDK's was read
    before = engine.stats()["late"]
    inner.update(response="late")
    inner.finish(usage=OPENAI_USAGE)
    assert engine.stats()["late"] == before + 2
    recs = records(traces)
    assert len(of(recs, "span", "start")) == 1 and len(of(recs, "llm_call")) == 1
    assert of(recs, "llm_call")[0]["data"]["response"] == ""
    # A finished call is no longer current: the next call is an owner again.
    assert current_call() is None


class ProviderError(Exception):
    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


def test_a_failed_call_records_the_providers_error_type_and_status(traces):
    with pytest.raises(ProviderError), start_call(CallData("openai", model="gpt-4o-mini")):
        raise ProviderError("rate limited", 429)
    recs = records(traces)
    (call,) = of(recs, "llm_call")
    assert call["data"]["error_type"] == "ProviderError" and call["data"]["status_code"] == 429
    (error,) = of(recs, "error")
    assert error["data"]["error_type"] == "ProviderError"
    assert error["data"]["message"] == "rate limited"
    (end,) = of(recs, "span", "end")
    assert end["data"]["error"] == "ProviderError: rate limited"


class Chunks:
    """An SDK-like stream: an iterator with close() and a context manager."""

    def __init__(self, items: list[Any], fail_at: int | None = None) -> None:
        self.items = list(items)
        self.fail_at = fail_at
        self.closed = False
        self.index = 0

    def __iter__(self) -> Chunks:
        return self

    def __next__(self) -> Any:
        if self.closed or self.index >= len(self.items):
            raise StopIteration
        if self.fail_at == self.index:
            raise ConnectionError("stream broke")
        self.index += 1
        return self.items[self.index - 1]

    def close(self) -> None:
        self.closed = True

    def __enter__(self) -> Chunks:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class Texts:
    """A minimal aggregator: joins text chunks, hides "usage" ones."""

    def __init__(self, limit: int | None = None) -> None:
        self.buffer = engine.TextBuffer(limit)
        self.usage: Any = None

    def add(self, chunk: Any) -> bool:
        if isinstance(chunk, dict):
            self.usage = chunk
            return True
        self.buffer.append(chunk)
        return False

    def fields(self) -> dict[str, Any]:
        return {"response": self.buffer.text(), "usage": self.usage}


def streamed(items: list[Any], **kw: Any) -> tuple[Any, Chunks]:
    scope = start_call(CallData("openai", model="m", stream=True))
    source = Chunks(items, **kw)
    proxy = stream_wrapper(source, scope, Texts())
    assert current_call() is None  # detached: the caller's reading is not the call
    return proxy, source


def one_call(traces: Path) -> dict[str, Any]:
    recs = records(traces)
    assert len(of(recs, "span", "start")) == 1 and len(of(recs, "span", "end")) == 1
    (call,) = of(recs, "llm_call")
    return call["data"]


def test_a_stream_consumed_to_its_end_is_aggregated_with_usage_hidden(traces):
    proxy, _source = streamed(["Hel", "lo", {"prompt_tokens": 3, "completion_tokens": 2}])
    assert isinstance(proxy, Chunks)  # transparent: the SDK's type
    assert list(proxy) == ["Hel", "lo"]
    data = one_call(traces)
    assert data["response"] == "Hello" and data["usage"]["total_tokens"] == 5
    assert data["stream"] is True and data["stream_end"] == "completed"
    assert isinstance(data["time_to_first_token_ms"], int)


def test_a_stream_closed_early_ends_the_call_once(traces):
    proxy, source = streamed(["a", "b", "c"])
    assert next(proxy) == "a"
    proxy.close()
    assert source.closed
    proxy.close()
    data = one_call(traces)
    assert data["response"] == "a" and data["stream_end"] == "closed"


def test_a_stream_left_by_break_ends_when_collected(traces):
    proxy, _ = streamed(["a", "b", "c"])
    for chunk in proxy:
        assert chunk == "a"
        break
    del proxy
    gc.collect()
    data = one_call(traces)
    assert data["response"] == "a" and data["stream_end"] == "abandoned"


def test_a_stream_that_raises_fails_the_call(traces):
    proxy, _ = streamed(["a", "b"], fail_at=1)
    with pytest.raises(ConnectionError):
        list(proxy)
    data = one_call(traces)
    assert data["error_type"] == "ConnectionError" and data["stream_end"] == "error"
    assert data["response"] == "a"


def test_a_stream_in_a_with_block_ends_at_the_blocks_end(traces):
    proxy, source = streamed(["a", "b"])
    with proxy as stream:
        assert next(stream) == "a"
    assert source.closed
    assert one_call(traces)["stream_end"] == "closed"


class AsyncChunks:
    def __init__(self, items: list[Any]) -> None:
        self.items = list(items)
        self.closed = False

    def __aiter__(self) -> AsyncChunks:
        return self

    async def __anext__(self) -> Any:
        if self.closed or not self.items:
            raise StopAsyncIteration
        await asyncio.sleep(0)
        return self.items.pop(0)

    async def close(self) -> None:
        self.closed = True


def test_async_streams_end_on_exhaustion_and_on_close(traces):
    async def main() -> None:
        scope = start_call(CallData("openai", model="m"))
        proxy = stream_wrapper(AsyncChunks(["x", "y", {"prompt_tokens": 1}]), scope, Texts())
        assert [c async for c in proxy] == ["x", "y"]
        scope = start_call(CallData("openai", model="m"))
        source = AsyncChunks(["p", "q"])
        proxy = stream_wrapper(source, scope, Texts())
        assert await proxy.__anext__() == "p"
        await proxy.close()
        assert source.closed

    asyncio.run(main())
    recs = records(traces)
    ends = sorted(c["data"]["stream_end"] for c in of(recs, "llm_call"))
    assert ends == ["closed", "completed"]
    assert sorted(c["data"]["response"] for c in of(recs, "llm_call")) == ["p", "xy"]


def test_text_buffer_keeps_no_more_than_the_cap():
    buffer = engine.TextBuffer(100)
    for _ in range(1000):
        buffer.append("0123456789")
    text = buffer.text()
    assert len(text) <= 100 and text.endswith("chars]")
    assert buffer.total == 10_000 and sum(len(p) for p in buffer._parts) == 100
    assert f"truncated {10_000 - text.index('…')} chars" in text
    assert engine.TextBuffer(0).text() == ""
    nothing = engine.TextBuffer(0)
    nothing.append("secret")
    assert nothing.text() == "" and nothing.total == 6


def test_the_no_content_mode_keeps_counts_and_no_text(traces):
    with llmlog.new_trace_session(traces / "trace_nc.jsonl", content=False):
        scope = start_call(
            CallData("openai", model="m", messages=[{"role": "user", "content": "p"}])
        )
        assert scope.content_limit == 0
        proxy = stream_wrapper(Chunks(["secret"]), scope, Texts(scope.content_limit))
        list(proxy)
    (call,) = of(records(traces), "llm_call")
    assert "response" not in call["data"] and "messages" not in call["data"]
    assert call["data"]["latency_ms"] >= 0


def test_a_failing_aggregator_never_reaches_the_caller(traces, capsys):
    class Broken:
        def add(self, chunk: Any) -> bool:
            raise RuntimeError("bad chunk")

        def fields(self) -> dict[str, Any]:
            raise RuntimeError("no fields")

    scope = start_call(CallData("openai", model="m"))
    assert list(stream_wrapper(Chunks(["a", "b"]), scope, Broken())) == ["a", "b"]
    failures = engine.stats()["failures"]
    assert failures["openai: aggregating a stream chunk"] >= 1
    assert failures["openai: reading a stream's aggregate"] >= 1
    assert one_call(traces)["stream_end"] == "completed"
    assert "reported once" in capsys.readouterr().err


def test_a_writer_that_fails_never_reaches_the_caller(traces):
    class Boom:
        def write(self, event: Any) -> None:
            raise OSError("disk full")

        def flush(self) -> None: ...

        def close(self) -> None: ...

    from llmlog.ext import TraceSession

    with TraceSession(Boom()) as session:
        with start_call(CallData("openai", model="m")) as scope:
            scope.update(response="x", nonsense=1)
        assert session.failures >= 1
    assert engine.stats()["failures"]["update"] >= 1


def test_threads_and_tasks_keep_their_calls_apart(traces):
    barrier = threading.Barrier(4)

    def worker(n: int) -> None:
        scope = start_call(CallData("openai", model=f"m{n}"))
        barrier.wait(timeout=30)  # all four open at once
        assert current_call() is scope and scope.owner
        scope.finish(response=f"r{n}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)

    async def task(n: int, started: asyncio.Event, go: asyncio.Event) -> None:
        scope = start_call(CallData("openai", model=f"t{n}"))
        started.set()
        await go.wait()
        assert current_call() is scope and scope.owner
        scope.finish(response=f"a{n}")

    async def main() -> None:
        events = [asyncio.Event() for _ in range(3)]
        go = asyncio.Event()
        tasks = [asyncio.create_task(task(n, events[n], go)) for n in range(3)]
        for e in events:
            await e.wait()
        go.set()
        await asyncio.gather(*tasks)

    asyncio.run(main())
    calls = {c["data"]["model"]: c["data"]["response"] for c in of(records(traces), "llm_call")}
    assert calls == {
        **{f"m{n}": f"r{n}" for n in range(4)},
        **{f"t{n}": f"a{n}" for n in range(3)},
    }


def test_per_call_sessions_write_a_file_per_call(traces):
    for n in range(2):
        start_call(
            CallData("openai", model=f"m{n}"), options=engine.GenAIOptions(sessions="per_call")
        ).finish()
    assert len(list(traces.glob("trace_*.jsonl"))) == 2


def test_a_reported_cost_wins_and_usage_objects_are_read():
    assert (
        engine.prompt_text([{"role": "system", "content": [{"type": "text", "text": "s"}]}], None)
        == "system: s"
    )
    scope = start_call(CallData("anthropic", model="claude", usage=TokenUsage(1, 2)))
    scope.finish(cost=0.25)
    assert scope.finished and scope.data.cost == 0.25
