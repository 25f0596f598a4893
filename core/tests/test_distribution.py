"""``llmlog.viewing.Distribution``: exact quantiles for short runs, within 1% past the bound, and
memory that stops growing with the number of values (what keeps ``view --stats`` flat)."""

from __future__ import annotations

import math
import random
import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmlog.viewing import Distribution

_durations = st.floats(min_value=0, max_value=1e9, allow_nan=False, allow_infinity=False)


@settings(max_examples=200, deadline=None)
@given(st.lists(_durations, min_size=1, max_size=300))
def test_while_exact_it_agrees_with_the_statistics_module(values):
    seen = Distribution()
    for value in values:
        seen.add(value)
    assert not seen.approximate
    assert seen.count == len(values) and seen.total == pytest.approx(math.fsum(values))
    assert (seen.minimum, seen.maximum) == (min(values), max(values))
    assert seen.median == pytest.approx(statistics.median(values))
    assert seen.mean == pytest.approx(statistics.fmean(values))


@pytest.mark.parametrize("shape", ["lognormal", "uniform", "two peaks", "with zeros"])
def test_past_the_bound_quantiles_stay_within_one_percent_and_memory_stops_growing(shape):
    rng = random.Random(shape)
    draw = {
        "lognormal": lambda: rng.lognormvariate(5, 1.5),
        "uniform": lambda: rng.uniform(1, 5000),
        "two peaks": lambda: rng.choice([rng.gauss(90, 5), rng.gauss(900, 50)]),
        "with zeros": lambda: 0.0 if rng.random() < 0.3 else rng.expovariate(1 / 300),
    }[shape]
    values = [abs(draw()) for _ in range(3 * Distribution.EXACT)]
    seen = Distribution()
    for value in values:
        seen.add(value)
    assert seen.approximate and seen.count == len(values)
    ordered = sorted(values)
    for q in (0.01, 0.25, 0.5, 0.9, 0.95, 0.99):
        true = ordered[round(q * (len(ordered) - 1))]
        got = seen.quantile(q)
        assert got is not None
        assert got == pytest.approx(true, rel=0.011, abs=1e-9), q
    # the histogram holds a bucket per 2% of range, not a slot per value
    assert len(seen._buckets) < 1500 and seen._values is None


def test_values_that_are_no_duration_are_ignored():
    seen = Distribution()
    for value in (float("nan"), -1.0, math.inf, 5.0):
        seen.add(value)
    assert (seen.count, seen.median, seen.minimum, seen.maximum) == (1, 5.0, 5.0, 5.0)
    assert Distribution().median is None and Distribution().mean is None
