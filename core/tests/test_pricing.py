"""The pricing chain (override → reported → table), its provenance on every priced call, unknown
kept unknown with its reason, bad overrides and tables as clear messages. ``llmlog reprice`` on
real trace files: ``tests/test_cost.py``."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import llmlog
from llmlog import TokenUsage, hookimpl
from llmlog.config import ConfigError
from llmlog.pricing import UNPRICEABLE, Rates, price_token_usage, price_usage
from llmlog.testing import isolated_environment
from llmlog.tracing import _llm_call_data

MINI = Rates(input=0.15, output=0.60, cached=0.075)


class FixedTable:
    """A price table knowing two models; ``version`` says which edition of the prices."""

    name = "fixed"

    def __init__(self, version: str = "1", factor: float = 1.0, fail: bool = False) -> None:
        self.version = version
        self.factor = factor
        self.fail = fail
        self.lookups: list[tuple[str, str]] = []

    def lookup(self, provider: str, model: str) -> Rates:
        self.lookups.append((provider, model))
        if self.fail:
            raise RuntimeError("the data file is corrupt")
        if model == "gpt-4o-mini":
            return Rates(0.15 * self.factor, 0.60 * self.factor, cached=0.075 * self.factor)
        if model == "o3":
            return Rates(2.0, 8.0, reasoning=8.0)
        raise LookupError(f"fixed {self.version} has no price for {provider}/{model}")


class PricingPlugin:
    def __init__(self, table: FixedTable) -> None:
        self.table = table

    @hookimpl
    def llmlog_register_pricing(self, register: Any) -> None:
        register("fixed", lambda options, context: self.table, description="test prices")


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path) -> Iterator[Path]:
    with isolated_environment(tmp_path):
        yield tmp_path


def _configure(table: FixedTable, prices: Mapping[str, Any] | None = None) -> None:
    llmlog.configure(
        {"outputs": {}, "prices": {"table": "fixed", **(prices or {})}},
        plugins=[("fixed", PricingPlugin(table))],
        autoload=False,
    )


def _calls(path: Path) -> list[dict[str, Any]]:
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    return [r["data"]["usage"] for r in lines if r["type"] == "llm_call"]


def _trace(path: Path, calls: list[tuple[str, TokenUsage]]) -> list[dict[str, Any]]:
    """The ``usage`` objects the tracing API writes for these calls (the core has no trace
    format of its own; ``tests/test_cost.py`` checks the same through real trace files)."""
    found = []
    for model, usage in calls:
        data = _llm_call_data("openai", model, "q", "a", usage, 5, None)
        found.append(data["usage"])
    return found


def test_the_chain_and_the_provenance_of_every_call(tmp_path):
    table = FixedTable()
    _configure(table, {"openai/o3": {"input": 1.0, "output": 4.0, "reasoning": 5.0}})
    usages = _trace(
        tmp_path / "t.jsonl",
        [
            ("gpt-4o-mini", TokenUsage(1000, 100, cache_read_tokens=200)),  # table
            ("gpt-4o-mini", TokenUsage(10, 10, cost=0.5)),  # reported
            ("o3", TokenUsage(100, 50, cost=9.0, reasoning_tokens=30)),  # override wins
            ("mystery", TokenUsage(5, 5)),  # unknown
            ("gpt-4o-mini", TokenUsage(1, 1)),  # table, from the cache
        ],
    )
    table_cost = (800 * 0.15 + 200 * 0.075 + 100 * 0.60) / 1e6
    assert usages[0]["cost"] == pytest.approx(table_cost)
    assert usages[0]["cost_source"] == "table:fixed@1"
    assert (usages[1]["cost"], usages[1]["cost_source"]) == (0.5, "reported")
    assert usages[2]["cost"] == pytest.approx((100 * 1.0 + 20 * 4.0 + 30 * 5.0) / 1e6)
    assert usages[2]["cost_source"] == "override"
    assert "cost" not in usages[3] and "cost_source" not in usages[3]
    assert usages[3]["cost_unknown"] == "fixed 1 has no price for openai/mystery"
    # looked up once per (provider, model)
    assert sorted(table.lookups) == [("openai", "gpt-4o-mini"), ("openai", "mystery")]


def test_an_override_counts_from_its_valid_from_date(tmp_path):
    _configure(
        FixedTable(),
        {
            "openai/gpt-4o-mini": {"input": 1, "output": 1, "valid_from": "2100-01-01"},
            "o3": {"input": 1, "output": 1, "valid_from": "2000-01-01"},
        },
    )
    usages = _trace(
        tmp_path / "t.jsonl", [("gpt-4o-mini", TokenUsage(1, 1)), ("o3", TokenUsage(1, 1))]
    )
    assert usages[0]["cost_source"] == "table:fixed@1"  # not valid yet: the table's price
    assert usages[1]["cost_source"] == "override"  # a key without provider matches any


def test_without_a_table_the_price_is_unknown_never_zero(tmp_path):
    llmlog.configure({"outputs": {}}, autoload=False)
    (usage,) = _trace(tmp_path / "t.jsonl", [("gpt-4o-mini", TokenUsage(10, 10))])
    assert "cost" not in usage and "llmlog[prices]" in usage["cost_unknown"]


def test_a_failing_table_is_reported_once_and_never_raises(tmp_path, capfd):
    _configure(FixedTable(fail=True))
    usages = _trace(
        tmp_path / "t.jsonl", [("gpt-4o-mini", TokenUsage(1, 1)), ("o3", TokenUsage(1, 1))]
    )
    assert all("cost" not in u for u in usages)
    assert "the data file is corrupt" in usages[0]["cost_unknown"]
    assert capfd.readouterr().err.count("price table fixed failed") == 1


@pytest.mark.parametrize(
    "usage",
    [
        {"prompt_tokens": 10, "completion_tokens": 1, "cache_read_tokens": 11},  # details > total
        {"prompt_tokens": 10, "completion_tokens": 1, "reasoning_tokens": 2},
        {"prompt_tokens": -1, "completion_tokens": 1},
        {"prompt_tokens": 2**60, "completion_tokens": 1},
        {"prompt_tokens": float("nan"), "completion_tokens": 1},
        {"prompt_tokens": "12", "completion_tokens": 1},
    ],
)
def test_counts_that_cannot_be_priced_give_no_price_not_a_wrong_one(usage):
    _configure(FixedTable())
    price_usage(usage, "openai", "gpt-4o-mini")
    assert "cost" not in usage and usage["cost_unknown"] == UNPRICEABLE


@pytest.mark.parametrize(
    ("entry", "where", "says"),
    [
        ({"input": "cheap", "output": 1}, '"openai/x".input', "a number"),
        ({"input": -1, "output": 1}, '"openai/x".input', "0 or more"),
        ({"input": 1, "output": float("inf")}, '"openai/x".output', "finite"),
        ({"input": 1e9, "output": 1}, '"openai/x".input', "per million tokens"),
        ({"input": 1}, '"openai/x".output', "required"),
        ({"input": 1, "output": 1, "cahced": 1}, '"openai/x".cahced', "unknown key"),
        ({"input": 1, "output": 1, "valid_from": "soon"}, '"openai/x".valid_from', "a date"),
        ("cheap", '"openai/x"', "a table of prices"),
    ],
)
def test_a_malformed_override_is_a_clear_message_at_its_key(tmp_path, entry, where, says):
    path = tmp_path / "llmlog.toml"
    value = json.dumps(entry) if isinstance(entry, str) else _inline(entry)
    path.write_text(f'outputs = {{}}\n[prices]\n"openai/x" = {value}\n')
    with pytest.raises(ConfigError) as caught:
        llmlog.configure(path, autoload=False)
    text = str(caught.value)
    assert f"@ $.prices.{where}" in text and says in text and str(path) in text
    assert "Traceback" not in text


def _inline(entry: Mapping[str, Any]) -> str:
    def value(v: Any) -> str:
        if isinstance(v, float) and v == float("inf"):
            return "inf"
        return json.dumps(v)

    return "{ " + ", ".join(f"{k} = {value(v)}" for k, v in entry.items()) + " }"


# -- a log entry's usage ---------------------------------------------------------------------

_hostile_counts = (
    st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=5)
    | st.none()
)


@settings(max_examples=150, deadline=None)
@given(
    st.tuples(*[_hostile_counts] * 5),
    st.none() | st.floats(allow_nan=True, allow_infinity=True) | st.integers(-5, 5),
    st.sampled_from(["gpt-4o-mini", "o3", "mystery", "", "\x1b[2J"]),
)
# a reported NaN was kept as a "reported" price (found by hypothesis, at random)
@example((10, 5, 0, 0, 0), float("nan"), "gpt-4o-mini")
@example((10, 5, 0, 0, 0), float("inf"), "mystery")
def test_a_log_entrys_usage_of_any_values_gets_a_true_price_or_unknown(counts, cost, model):
    """Whatever a caller puts in a ``TokenUsage`` (NaN, text, negative, past 2^53), pricing an
    entry never raises and never invents a price: a cost comes out only as the caller's own or
    as the rates applied to counts that are honest integers; otherwise unknown, with a reason."""
    _configure(FixedTable())
    prompt, completion, read, write, reasoning = counts
    usage = TokenUsage(
        prompt,  # type: ignore[arg-type]
        completion,  # type: ignore[arg-type]
        0,
        cost,  # type: ignore[arg-type]
        cache_read_tokens=read,  # type: ignore[arg-type]
        cache_creation_tokens=write,  # type: ignore[arg-type]
        reasoning_tokens=reasoning,  # type: ignore[arg-type]
    )
    priced = price_token_usage(usage, "openai", model)
    if priced.cost is None:
        assert priced.cost_unknown and priced.cost_source is None
        return
    assert priced.cost_unknown is None
    assert math.isfinite(priced.cost)
    if priced.cost_source == "reported":
        assert priced.cost == cost
        return
    assert priced.cost_source == "table:fixed@1" and model in ("gpt-4o-mini", "o3")
    honest = [c if type(c) is int else 0 for c in (prompt, completion, read, write, reasoning)]
    assert all(type(c) is int and 0 <= c < 2**53 for c in (prompt, completion))
    assert priced.cost == pytest.approx(
        MINI.cost(dict(zip(_COUNT_KEYS, honest, strict=True)))
        if model == "gpt-4o-mini"
        else Rates(2.0, 8.0, reasoning=8.0).cost(dict(zip(_COUNT_KEYS, honest, strict=True)))
    )


_COUNT_KEYS = (
    "prompt_tokens",
    "completion_tokens",
    "cache_read_tokens",
    "cache_creation_tokens",
    "reasoning_tokens",
)


def test_pricing_a_log_entrys_usage_keeps_every_other_field():
    """The priced copy is built field by field: a field added to ``TokenUsage`` must be copied
    too (this test names the ones the pricing sets)."""
    _configure(FixedTable())
    values: dict[str, Any] = {}
    for number, field in enumerate(attrs.fields(TokenUsage), start=1):
        if field.name not in ("cost", "cost_source", "cost_unknown"):
            values[field.name] = number
    usage = TokenUsage(**values)
    priced = price_token_usage(usage, "openai", "mystery")
    assert {k: getattr(priced, k) for k in values} == values
    assert priced.cost is None and priced.cost_unknown == "fixed 1 has no price for openai/mystery"


def test_a_replayed_call_keeps_its_recorded_cost_and_no_table_or_override_reprices_it():
    table = FixedTable()
    _configure(table, {"openai/gpt-4o-mini": {"input": 9.0, "output": 9.0}})
    params = {"temperature": 0.0}
    known = _llm_call_data(
        "openai", "gpt-4o-mini", "q", "a", TokenUsage(10, 5, cost=0.25), 5, None, params, True
    )
    assert known["replayed"] is True and known["params"] == params
    assert (known["usage"]["cost"], known["usage"]["cost_source"]) == (0.25, "replayed")
    unknown = _llm_call_data(
        "openai", "gpt-4o-mini", "q", "a", TokenUsage(10, 5), 5, None, None, True
    )
    assert "cost" not in unknown["usage"] and "params" not in unknown
    assert unknown["usage"]["cost_unknown"] == "unknown when recorded"
    assert table.lookups == []
    # Priced again (llmlog reprice) it stays the replayed cost.
    usage = dict(known["usage"])
    price_usage(usage, "openai", "mystery")
    assert (usage["cost"], usage["cost_source"]) == (0.25, "replayed")
