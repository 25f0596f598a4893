"""Cost in real trace files: the pricing chain's provenance written by a traced program,
``llmlog view --stats`` showing cost and source per model, ``llmlog reprice`` (what changed, the
lines it keeps byte for byte, the property that the same table changes nothing), and the
``genai-prices`` table against genai-prices' own calculation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import llmlog
from llmlog import TokenUsage, hookimpl
from llmlog.cli import main
from llmlog.default_plugins.pricing import reprice_lines
from llmlog.pricing import Rates


class FixedTable:
    """A price table knowing two models."""

    name = "fixed"
    version = "1"

    def lookup(self, provider: str, model: str) -> Rates:
        if model == "gpt-4o-mini":
            return Rates(0.15, 0.60, cached=0.075)
        if model == "o3":
            return Rates(2.0, 8.0, reasoning=8.0)
        raise LookupError(f"fixed 1 has no price for {provider}/{model}")


class PricingPlugin:
    @hookimpl
    def llmlog_register_pricing(self, register: Any) -> None:
        register("fixed", lambda options, context: FixedTable(), description="test prices")


def _configure(prices: Mapping[str, Any] | None = None) -> None:
    llmlog.configure(
        {"outputs": {}, "prices": {"table": "fixed", **(prices or {})}},
        plugins=[("fixed", PricingPlugin())],
    )


def _calls(path: Path) -> list[dict[str, Any]]:
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    return [r["data"]["usage"] for r in lines if r["type"] == "llm_call"]


def _trace(path: Path, calls: list[tuple[str, TokenUsage]]) -> list[dict[str, Any]]:
    with llmlog.new_trace_session(path) as session, llmlog.span("agent") as span:
        for model, usage in calls:
            session.emit_llm_call(span.span_id, "openai", model, "q", "a", usage, 5)
    return _calls(path)


def test_stats_show_cost_and_its_source_per_model(tmp_path, capsys):
    _configure()
    trace = tmp_path / "t.jsonl"
    _trace(
        trace,
        [
            ("gpt-4o-mini", TokenUsage(1000, 100, cache_read_tokens=200)),
            ("gpt-4o-mini", TokenUsage(10, 10, cost=0.5)),
            ("mystery", TokenUsage(5, 5)),
        ],
    )
    assert main(["view", "--stats", str(trace)]) == 0
    out = capsys.readouterr().out
    assert "openai/gpt-4o-mini: 2 calls, 1120 tokens (input 1010, output 110, cached 200)" in out
    assert "cost $0.500195 from reported 1, table:fixed@1 1" in out
    assert "openai/mystery: 1 call" in out
    assert "price unknown for 1 call: fixed 1 has no price for openai/mystery" in out
    assert "$0 " not in out


def test_reprice_says_what_changed_and_writes_only_with_o(tmp_path, capsys):
    _configure()
    trace = tmp_path / "old.jsonl"
    _trace(
        trace,
        [
            ("gpt-4o-mini", TokenUsage(1_000_000, 0)),  # table: $0.15
            ("gpt-4o-mini", TokenUsage(10, 10, cost=0.5)),  # reported: kept
            ("mystery", TokenUsage(5, 5)),  # unknown
        ],
    )
    llmlog.shutdown()
    config = tmp_path / "llmlog.toml"
    config.write_text('[prices]\ntable = "none"\n[prices."mystery"]\ninput = 2.0\noutput = 2.0\n')
    os.environ["LLMLOG_CONFIG"] = str(config)
    assert main(["reprice", str(trace)]) == 0
    out = capsys.readouterr().out
    assert "2 of 3 LLM calls changed" in out and "nothing written" in out
    assert "unknown price: 1 → 1" in out  # the table's call became unknown, the mystery priced
    out_path = tmp_path / "new.jsonl"
    assert main(["reprice", str(trace), "-o", str(out_path)]) == 0
    usages = _calls(out_path)
    assert "cost" not in usages[0] and "none" in usages[0]["cost_unknown"]
    assert usages[1] == {**usages[1], "cost": 0.5, "cost_source": "reported"}
    assert usages[2]["cost"] == pytest.approx(20 / 1e6) and usages[2]["cost_source"] == "override"
    assert "known cost $0.65 → $0.50002 (-$0.14998)" in capsys.readouterr().out
    # every other line is kept byte for byte
    old_lines, new_lines = trace.read_bytes().splitlines(), out_path.read_bytes().splitlines()
    assert [x for x in old_lines if b'"llm_call"' not in x] == [
        x for x in new_lines if b'"llm_call"' not in x
    ]


def test_reprice_refuses_what_it_cannot_read_without_a_traceback(tmp_path, capsys):
    odd = tmp_path / "odd.jsonl"
    odd.write_text("not a trace\n")
    assert main(["reprice", str(odd)]) == 1
    assert main(["reprice", str(tmp_path / "missing.jsonl")]) == 1
    assert main(["reprice", str(odd), "--table", "nope"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "unknown price table 'nope'" in err


_counts = st.integers(min_value=0, max_value=10**9)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["gpt-4o-mini", "o3", "mystery"]),
            _counts,
            _counts,
            st.none() | st.floats(min_value=0, max_value=100, allow_nan=False),
            st.booleans(),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_repricing_with_the_same_table_is_the_identity(calls):
    with tempfile.TemporaryDirectory() as directory:
        _configure()
        path = Path(directory) / "t.jsonl"
        usages = []
        for model, prompt, completion, cost, cached in calls:
            usages.append(
                (
                    model,
                    TokenUsage(
                        prompt,
                        completion,
                        cost=cost,
                        cache_read_tokens=prompt // 3 if cached else 0,
                    ),
                )
            )
        _trace(path, usages)
        before = path.read_bytes().splitlines(keepends=True)
        _configure()  # the same table, built afresh (an empty cache)
        result = reprice_lines(before)
        assert result.changed == 0 and result.lines == before
        assert result.calls == len(calls)


def test_the_genai_prices_table_agrees_with_genai_prices_own_calculation(tmp_path):
    from genai_prices import Usage, calc_price

    llmlog.configure({"outputs": {}})  # [prices] table defaults to genai-prices when installed
    usages = _trace(
        tmp_path / "t.jsonl",
        [
            ("gpt-4o-mini", TokenUsage(1000, 100, cache_read_tokens=200)),
            ("claude-sonnet-4-5", TokenUsage(5000, 300, cache_read_tokens=3000)),
            ("no-such-model", TokenUsage(1, 1)),
        ],
    )
    expected = calc_price(
        Usage(input_tokens=1000, cache_read_tokens=200, output_tokens=100),
        "gpt-4o-mini",
        provider_id="openai",
    ).total_price
    assert usages[0]["cost"] == pytest.approx(float(expected), rel=1e-12)
    assert usages[0]["cost"] == pytest.approx(0.000195)
    assert usages[0]["cost_source"].startswith("table:genai-prices@")
    assert (
        "cost" not in usages[2] and "no price for openai/no-such-model" in usages[2]["cost_unknown"]
    )


def test_configuring_does_not_import_the_price_data(tmp_path):
    program = (
        "import sys, llmlog\n"
        "llmlog.configure({'outputs': {}})\n"
        "print('genai_prices' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert done.stdout.strip() == "False", done.stderr
