"""Budgets: WARN at a fraction and ERROR at the limit (once each), counting exact under threads,
asyncio and several processes (the rolling day, with file locking), BudgetExceeded at the next
LLM call boundary only when asked for (a real DSPy program stops before its next LM call), and
bad limits as clear messages."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading

import dspy
import pytest

import llmlog
from llmlog import BudgetExceeded, Severity, TokenUsage
from llmlog.config import ConfigError
from llmlog.testing import capture
from llmlog_fake_provider import FakeOpenAI


def _call(usage: TokenUsage) -> None:
    llmlog.record_llm_call(model="m", provider="p", prompt="q", response="a", usage=usage)


def _budget_entries(entries: list[llmlog.LogEntry]) -> list[tuple[Severity, str]]:
    return [(e.severity, e.fields["budget"]) for e in entries if e.logger == "llmlog.budget"]


def test_a_block_warns_at_the_fraction_and_errs_at_the_limit_once_each():
    llmlog.configure({"outputs": {}, "prices": {"table": "none"}})
    with capture() as entries, llmlog.budget(usd=1.0, tokens=1000, warn_at=0.5) as spent:
        _call(TokenUsage(100, 100, cost=0.3))
        _call(TokenUsage(100, 100, cost=0.3))  # usd 0.6: WARN
        _call(TokenUsage(100, 100))  # unknown price: counts tokens only
        _call(TokenUsage(300, 0, cost=0.5))  # usd 1.1: ERROR
        _call(TokenUsage(300, 0, cost=0.5))  # nothing new to say
    assert _budget_entries(entries) == [(Severity.WARN, "block"), (Severity.ERROR, "block")]
    error = next(e for e in entries if e.severity is Severity.ERROR)
    assert error.fields["unit"] == "USD" and error.fields["unpriced_calls"] == 1
    assert spent.spent_usd == pytest.approx(1.6) and spent.spent_tokens == 1200
    assert (spent.calls, spent.unpriced_calls) == (5, 1)
    # without stop, nothing is raised: the program goes on
    llmlog.check_budget()


def test_stop_raises_at_the_next_boundary_only_inside_the_budget():
    llmlog.configure({"outputs": {}})
    with llmlog.budget(tokens=10, stop=True):
        _call(TokenUsage(8, 4))  # recording never raises
        with pytest.raises(BudgetExceeded) as caught:
            llmlog.check_budget()
    assert (caught.value.budget, caught.value.what, caught.value.spent) == ("block", "tokens", 12)
    assert not isinstance(caught.value, Exception)  # `except Exception` in agent loops lets it by
    llmlog.check_budget()  # outside the block: nothing to stop

    @llmlog.budget(tokens=5, stop=True)
    def agent() -> int:
        for step in range(10):
            llmlog.check_budget()
            _call(TokenUsage(2, 1))
            if step > 5:
                return step
        return -1

    with pytest.raises(BudgetExceeded):
        agent()


def test_counting_is_exact_under_threads_and_asyncio():
    llmlog.configure({"outputs": {}, "prices": {"table": "none"}})
    with llmlog.budget(usd=1e9) as spent:

        def work() -> None:
            for _ in range(250):
                _call(TokenUsage(2, 1, cost=0.001))

        threads = [threading.Thread(target=llmlog.bind_current(work)) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

        async def task() -> None:
            for _ in range(50):
                _call(TokenUsage(1, 1, cost=0.5))
                await asyncio.sleep(0)

        async def main() -> None:
            await asyncio.gather(*(task() for _ in range(20)))

        asyncio.run(main())
    assert spent.calls == 8 * 250 + 20 * 50
    assert spent.spent_tokens == 8 * 250 * 3 + 20 * 50 * 2
    assert spent.spent_usd == pytest.approx(8 * 250 * 0.001 + 20 * 50 * 0.5)


def test_trace_budgets_count_each_trace_apart(tmp_path):
    llmlog.configure({"outputs": {}, "budgets": {"trace": {"tokens": 10}, "stop": True}})
    with capture() as entries:
        with llmlog.new_trace_session(tmp_path / "a.jsonl"), llmlog.span("a"):
            _call(TokenUsage(9, 0))  # 90%: WARN
            llmlog.check_budget()
            _call(TokenUsage(3, 0))  # this trace reaches 12: ERROR
            with pytest.raises(BudgetExceeded):
                llmlog.check_budget()
        with llmlog.new_trace_session(tmp_path / "b.jsonl"), llmlog.span("b"):
            _call(TokenUsage(9, 0))
            llmlog.check_budget()  # another trace: its own count
    assert _budget_entries(entries) == [
        (Severity.WARN, "trace"),
        (Severity.ERROR, "trace"),
        (Severity.WARN, "trace"),
    ]


def test_a_session_budget_and_a_flight_snapshot_at_the_limit(tmp_path):
    llmlog.configure(
        {
            "outputs": {},
            "budgets": {"session": {"usd": 0.01}},
            "flight_recorder": {"enabled": True, "snapshot_dir": str(tmp_path / "snaps")},
        }
    )
    with capture() as entries:
        _call(TokenUsage(1, 1, cost=0.02))
    assert _budget_entries(entries) == [(Severity.ERROR, "session")]
    from llmlog.ext import global_flight_recorder

    # The "budget" trigger writes on a thread of its own: the application never waits for it.
    assert global_flight_recorder().wait_for_triggers(30)  # type: ignore[attr-defined]
    snaps = list((tmp_path / "snaps").glob("*"))
    assert len(snaps) == 1, "no flight-recorder snapshot at the limit"
    header = json.loads(snaps[0].read_text().splitlines()[0])
    assert header["reason"] == "budget"
    assert header["trigger_detail"].startswith("budget session exceeded: 0.02 of 0.01 USD")


CHILD = """
import sys, llmlog
from llmlog import TokenUsage
llmlog.configure({"outputs": {}, "budgets": {"day": {"tokens": 10**9}}})
for _ in range(int(sys.argv[1])):
    llmlog.record_llm_call(model="m", prompt="q", response="a", usage=TokenUsage(2, 1, cost=0.01))
llmlog.shutdown()
"""


def test_the_rolling_day_is_shared_and_exact_across_processes(tmp_path):
    env = {**os.environ}
    children = [
        subprocess.Popen([sys.executable, "-c", CHILD, "40"], env=env, cwd=tmp_path)
        for _ in range(4)
    ]
    assert all(child.wait(timeout=120) == 0 for child in children)
    from llmlog.budgets import day_file

    buckets = json.loads(day_file().read_text())
    totals = [sum(b[i] for b in buckets.values()) for i in range(4)]
    assert totals[1:] == [4 * 40 * 3, 4 * 40, 0]
    assert totals[0] == pytest.approx(4 * 40 * 0.01)
    assert oct(day_file().stat().st_mode & 0o777) == "0o600"


def test_dspy_stops_before_the_next_lm_call(tmp_path):
    llmlog.configure(
        {
            "outputs": {},
            "trace": {"dir": "traces"},
            "integrations": {"dspy": {"enabled": True}},
        }
    )
    reply = "[[ ## answer ## ]]\nok\n\n[[ ## completed ## ]]"
    with FakeOpenAI(lambda request: reply) as server:
        lm = dspy.LM("openai/gpt-4o-mini", api_base=server.base_url, api_key="k", cache=False)
        predict = dspy.Predict("question -> answer")

        @llmlog.budget(tokens=1, stop=True)
        def agent() -> None:
            for step in range(5):
                predict(question=f"step {step}?")

        with dspy.context(lm=lm), pytest.raises(BudgetExceeded):
            agent()
        assert len(server.requests) == 1  # the second LM call was never made


@pytest.mark.parametrize(
    ("table", "where"),
    [
        ({"trace": {"usd": -1}}, "$.budgets.trace.usd"),
        ({"day": {"tokens": 2**60}}, "$.budgets.day.tokens"),
        ({"warn_at": 1.5}, "$.budgets.warn_at"),
        ({"session": {"usd": "lots"}}, "$.budgets.session.usd"),
    ],
)
def test_bad_limits_are_clear_messages(tmp_path, table, where):
    with pytest.raises(ConfigError) as caught:
        llmlog.configure({"outputs": {}, "budgets": table})
    assert f"@ {where}" in str(caught.value) and "Traceback" not in str(caught.value)


@pytest.mark.parametrize("bad", [{"usd": -1}, {"tokens": float("nan")}, {"usd": "x"}])
def test_bad_limits_in_code_raise_at_once(bad):
    with pytest.raises(ValueError, match="budget"):
        llmlog.budget(**bad)


def test_one_budget_object_entered_by_several_threads_gives_each_its_own_budget():
    llmlog.configure({"outputs": {}})
    shared = llmlog.budget(tokens=10**9)
    found: list[llmlog.Budget] = []
    lock = threading.Lock()

    def work(n: int) -> None:
        with shared as mine:
            for _ in range(n):
                _call(TokenUsage(1, 0))
            assert shared.current is mine
        with lock:
            found.append(mine)
        assert shared.current is None

    threads = [threading.Thread(target=work, args=(n,)) for n in (10, 20, 30, 40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(b.spent_tokens for b in found) == [10, 20, 30, 40]


def test_prompt_completion_outside_any_span_still_counts():
    llmlog.configure({"outputs": {}, "prices": {"openai/gpt-4o-mini": {"input": 1, "output": 1}}})
    log = llmlog.get_logger()
    with llmlog.budget(usd=1.0) as spent:
        log.prompt_completion(
            "q", "a", TokenUsage(1000, 0), model_id="gpt-4o-mini", provider="openai"
        )
        log.prompt_completion("q", "a", TokenUsage(5, 5, cost=0.25))
    assert spent.calls == 2 and spent.spent_tokens == 1010
    assert spent.spent_usd == pytest.approx(0.001 + 0.25)
