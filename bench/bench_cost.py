"""What pricing and budgets add to an LLM call (issue 19's bounds: the cost lookup at most 2 µs per
call after the first for a model, the budget check at most 1 µs).

Cases, each timed as CPU nanoseconds per operation (``time.process_time_ns`` around a batch):

1. **price, table (cached)**: ``llmlog.pricing.price_usage(usage, "openai", "gpt-4o-mini")`` on
   a fresh ``usage`` object of a call (1,000 input tokens, 200 of them cached, 100 output) with
   the genai-prices table in force, after the model's first lookup: what every recorded
   ``llm_call`` pays for its cost and provenance.
2. **price, override**: the same with a ``[prices."openai/gpt-4o-mini"]`` override in force.
3. **price, reported**: a usage that carries a reported cost (only the provenance is added).
4. **genai-prices calc_price** (reference): the table's own calculation per call, which the cache
   avoids.
5. **budget check**: ``llmlog.check_budget()``, the LLM call boundary, with ``[budgets]`` limits
   in force and none reached (what the DSPy integration calls before every LM call).
6. **budget charge** (informative): counting one call against a ``with llmlog.budget()`` block
   and the session and process budgets.
7. **price, log entry's usage**: ``llmlog.pricing.price_token_usage`` on a fresh
   ``TokenUsage`` (what a log entry that carries its own usage pays: the chain, then a priced
   copy), and **the same, shared context usage**: the entries of one
   ``with llmlog.with_token_info(usage)`` block, priced once and then answered from the memo.

Method: ``--rounds`` rounds, the cases interleaved in each; per round and case ``--samples``
batches of ``--calls`` operations; a figure is the median of all batches with its p10–p90 and
min–max range, and the machine's load before and after goes into the results (bench/common.py).
Usage objects are built before each batch, outside the timing. Run::

    .venv/bin/python bench/bench_cost.py            # writes bench/results/cost.json
    .venv/bin/python bench/bench_cost.py --quick
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import Run, fmt_range

import llmlog
from llmlog import TokenUsage, pricing
from llmlog.budgets import _blocks, charge, check_budget

USAGE = {
    "prompt_tokens": 1000,
    "completion_tokens": 100,
    "total_tokens": 1100,
    "cache_read_tokens": 200,
}


def _batch(make: Callable[[], Any], op: Callable[[Any], Any], calls: int) -> float:
    items = [make() for _ in range(calls)]
    start = time.process_time_ns()
    for item in items:
        op(item)
    return (time.process_time_ns() - start) / calls


def _configure(prices: dict[str, Any] | None = None, budgets: bool = False) -> None:
    config: dict[str, Any] = {"outputs": {}, "prices": {"table": "genai-prices", **(prices or {})}}
    if budgets:
        config["budgets"] = {"session": {"usd": 1e9}, "process": {"tokens": 2**52}}
    llmlog.configure(config)
    pricing.price_usage(dict(USAGE), "openai", "gpt-4o-mini")  # the first call: the lookup


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--quick", action="store_true", help="2 rounds, 3 samples, 5,000 calls")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "cost.json"))
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.samples, args.calls = 2, 3, 5_000
    run = Run("bench_cost.py", rounds=args.rounds, samples=args.samples, calls=args.calls)

    from genai_prices import Usage, calc_price

    def genai(_: Any) -> Any:
        return calc_price(
            Usage(input_tokens=1000, cache_read_tokens=200, output_tokens=100),
            "gpt-4o-mini",
            provider_id="openai",
        )

    override = {"openai/gpt-4o-mini": {"input": 0.15, "output": 0.6, "cached": 0.075}}
    with tempfile.TemporaryDirectory() as state:
        import os

        os.environ["XDG_STATE_HOME"] = state
        for round_no in range(args.rounds):
            _configure()
            for _ in range(args.samples):
                run.add(
                    "price, table (cached)",
                    round_no,
                    _batch(lambda: dict(USAGE), _price, args.calls),
                )
                run.add(
                    "price, reported",
                    round_no,
                    _batch(lambda: {**USAGE, "cost": 0.0002}, _price, args.calls),
                )
                run.add(
                    "price, log entry's usage",
                    round_no,
                    _batch(
                        lambda: TokenUsage(1000, 100, cache_read_tokens=200), _entry, args.calls
                    ),
                )
                shared = TokenUsage(1000, 100, cache_read_tokens=200)
                run.add(
                    "price, shared context usage",
                    round_no,
                    _batch(lambda u=shared: u, _entry, args.calls),
                )
                run.add(
                    "genai-prices calc_price (reference)",
                    round_no,
                    _batch(lambda: None, genai, max(args.calls // 100, 50)),
                )
            _configure(override)
            for _ in range(args.samples):
                run.add(
                    "price, override", round_no, _batch(lambda: dict(USAGE), _price, args.calls)
                )
            _configure(budgets=True)
            block = llmlog.budget(usd=1e9, tokens=2**52)
            with block:
                for _ in range(args.samples):
                    run.add("budget check", round_no, _batch(lambda: None, _check, args.calls))
                    priced = {**USAGE, "cost": 0.0002, "cost_source": "reported"}
                    run.add(
                        "budget charge (block, session, process)",
                        round_no,
                        _batch(lambda p=priced: p, _charge, args.calls),
                    )
                assert _blocks.get()
            llmlog.shutdown()

    print(run.describe())
    figures = {}
    for case in run.samples:
        figures[case] = run.figure(case, 1)
        print(f"  {case:42} {fmt_range(figures[case], 1)} ns")
    table = figures["price, table (cached)"]["median"]
    check = figures["budget check"]["median"]
    print(
        f"  targets: cost lookup {table / 1000:.2f} µs (≤ 2 µs), budget check {check / 1000:.3f} µs (≤ 1 µs)"
    )
    run.write(args.out, figures_ns=figures)


def _price(usage: dict[str, Any]) -> None:
    pricing.price_usage(usage, "openai", "gpt-4o-mini")


def _entry(usage: TokenUsage) -> None:
    pricing.price_token_usage(usage, "openai", "gpt-4o-mini")


def _check(_: Any) -> None:
    check_budget()


def _charge(usage: dict[str, Any]) -> None:
    charge("0" * 32, usage)


if __name__ == "__main__":
    main()
