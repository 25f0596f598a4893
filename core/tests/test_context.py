import asyncio
import contextvars
import threading
from concurrent.futures import ThreadPoolExecutor

import llmlog
from llmlog import TokenUsage


def test_context_managers_set_and_restore():
    assert llmlog.get_model_id() is None
    with llmlog.with_model_id("gpt-4o") as ctx:
        assert ctx.model_id == "gpt-4o"
        assert llmlog.get_model_id() == "gpt-4o"
        with llmlog.with_model_id("claude"):
            assert llmlog.get_model_id() == "claude"
        assert llmlog.get_model_id() == "gpt-4o"
    assert llmlog.get_model_id() is None


def test_token_info_trace_span_and_session():
    class Session:
        trace_id = "ab" * 16

    usage = TokenUsage(3, 4)
    with llmlog.with_token_info(usage), llmlog.with_trace_session(Session()) as ctx:
        with llmlog.with_span_id("cd" * 8):
            assert llmlog.get_token_info() is usage
            assert llmlog.get_trace_id() == "ab" * 16
            assert llmlog.get_span_id() == "cd" * 8
            assert isinstance(llmlog.get_trace_session(), Session)
        assert ctx.span_id is None
    assert llmlog.get_trace_id() is None


def test_with_fields_merges_with_the_fields_in_force_on_entry():
    outer = llmlog.with_fields(a=1)
    inner = llmlog.with_fields(b=2)  # created before outer is entered
    with outer, inner:
        assert dict(llmlog.current_context().fields) == {"a": 1, "b": 2}
    assert dict(llmlog.current_context().fields) == {}


def test_same_manager_can_be_entered_again():
    cm = llmlog.with_model_id("m")
    with cm:
        with cm:
            assert llmlog.get_model_id() == "m"
        assert llmlog.get_model_id() == "m"
    assert llmlog.get_model_id() is None


def test_threads_do_not_inherit_but_bind_current_hands_the_context_over():
    seen = {}
    with llmlog.with_model_id("parent-model"):
        plain = threading.Thread(target=lambda: seen.__setitem__("plain", llmlog.get_model_id()))
        plain.start()
        plain.join()
        with ThreadPoolExecutor(4) as pool:
            bound = list(pool.map(llmlog.bind_current(lambda _: llmlog.get_model_id()), range(8)))
    assert seen["plain"] is None
    assert bound == ["parent-model"] * 8


def test_bind_current_runs_each_call_in_its_own_copy():
    def change_and_report(name):
        with llmlog.with_model_id(name):
            return llmlog.get_model_id()

    wrapped = llmlog.bind_current(change_and_report)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(wrapped, [f"m{i}" for i in range(20)]))
    assert results == [f"m{i}" for i in range(20)]
    assert llmlog.get_model_id() is None


def test_asyncio_tasks_copy_the_context_and_stay_isolated():
    async def worker(name):
        before = llmlog.get_model_id()
        with llmlog.with_model_id(name):
            await asyncio.sleep(0)
            return before, llmlog.get_model_id()

    async def main():
        with llmlog.with_model_id("parent"):
            results = await asyncio.gather(*(worker(f"task{i}") for i in range(10)))
        return results, llmlog.get_model_id()

    results, after = asyncio.run(main())
    assert results == [("parent", f"task{i}") for i in range(10)]
    assert after is None


def test_context_is_a_single_contextvar_copyable_with_copy_context():
    with llmlog.with_model_id("x"):
        ctx = contextvars.copy_context()
    assert ctx.run(llmlog.get_model_id) == "x"


def test_a_context_built_on_the_fast_way_is_the_one_the_constructor_builds():
    """enter_context and the with_* helpers build the context without LogContext's keyword
    constructor: what they build is a LogContext equal to the constructor's, read by name,
    immutable, and left as it was for the names not given."""
    import pytest

    from llmlog.context import LogContext, enter_context, exit_context

    class Session:
        trace_id = "ab" * 16

    usage = TokenUsage(1, 2)
    session = Session()
    with llmlog.with_fields(user="u"), llmlog.with_token_info(usage):
        token = enter_context(span_id="cd" * 8, trace_id=session.trace_id, session=session)
        try:
            ctx = llmlog.current_context()
            assert type(ctx) is LogContext
            expected = LogContext(
                token_info=usage,
                trace_id="ab" * 16,
                span_id="cd" * 8,
                session=session,
                fields=ctx.fields,
            )
            assert ctx == expected
            assert (ctx.model_id, ctx.token_info, ctx.span_id) == (None, usage, "cd" * 8)
            assert dict(ctx.fields) == {"user": "u"}
            with pytest.raises(AttributeError):
                ctx.span_id = "other"  # type: ignore[misc]
            with llmlog.with_model_id("m") as inner:
                assert type(inner) is LogContext
                assert inner == expected._replace(model_id="m")
        finally:
            exit_context(token)
    assert llmlog.current_context() == LogContext()
