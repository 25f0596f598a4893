"""llmlog.numbers: every value becomes a number every trace reader keeps, and none raises."""

import math
import subprocess
import sys
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmlog.numbers import MAX_SAFE_INT, as_cost, as_count, as_seconds

anything = st.one_of(
    st.integers(-(2**80), 2**80),
    st.integers(MAX_SAFE_INT - 2, MAX_SAFE_INT + 2),
    st.floats(),
    st.booleans(),
    st.none(),
    st.text(max_size=12),
    st.sampled_from(["1e400", "-1e999999999", "nan", "sNaN", "Infinity", "1" * 5000, "٣"]),
    st.decimals(),
    st.fractions(),
    st.builds(list),
    st.builds(object),
    st.complex_numbers(),
)


@given(anything)
def test_every_value_becomes_a_safe_count_a_finite_time_and_a_cost_or_unknown(value):
    count = as_count(value, "n")
    assert type(count) is int and 0 <= count <= MAX_SAFE_INT
    seconds = as_seconds(value, "t")
    assert type(seconds) is float and 0.0 <= seconds <= MAX_SAFE_INT
    cost = as_cost(value, "c")
    assert cost is None or (type(cost) is float and -MAX_SAFE_INT <= cost <= MAX_SAFE_INT)


@pytest.mark.parametrize(
    ("value", "count", "seconds", "cost"),
    [
        (12, 12, 12.0, 12.0),
        (MAX_SAFE_INT, MAX_SAFE_INT, float(MAX_SAFE_INT), float(MAX_SAFE_INT)),
        (2**70, MAX_SAFE_INT, float(MAX_SAFE_INT), None),
        (-3, 0, 0.0, -3.0),  # a negative cost is a credit
        (12.9, 12, 12.9, 12.9),  # truncated toward zero, as Go's Milliseconds()
        (-0.5, 0, 0.0, -0.5),
        (math.nan, 0, 0.0, None),
        (math.inf, 0, 0.0, None),
        (True, 1, 1.0, 1.0),
        (None, 0, 0.0, None),
        (" 7 ", 7, 7.0, 7.0),
        ("12.5", 12, 12.5, 12.5),
        ("1e400", MAX_SAFE_INT, float(MAX_SAFE_INT), None),
        ("lots", 0, 0.0, None),
        ("٣", 0, 0.0, None),  # ASCII digits only
        (Decimal("2.5"), 2, 2.5, 2.5),
        (Fraction(7, 2), 3, 3.5, 3.5),
        ([1], 0, 0.0, None),
    ],
)
def test_the_rule(value, count, seconds, cost):
    assert as_count(value, "n") == count
    assert as_seconds(value, "t") == seconds
    assert as_cost(value, "c") == cost


def test_each_kind_is_reported_once_per_process_and_every_case_counted():
    program = (
        "import math\n"
        "from llmlog.numbers import adjusted, as_count\n"
        "for _ in range(3):\n"
        "    as_count('lots', 'a'); as_count(math.nan, 'b'); as_count(-1, 'c')\n"
        "print(sorted(adjusted().items()))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == str(
        [("NaN or infinite", 3), ("not a number", 3), ("out of range", 3)]
    )
    assert done.stderr.splitlines() == [
        "llmlog: trace field 'a' was given 'lots' (not a number); written as 0 so that every "
        "reader keeps the line (reported once; llmlog.numbers.adjusted() counts them)",
        "llmlog: trace field 'b' was given nan (NaN or infinite); written as 0 so that every "
        "reader keeps the line (reported once; llmlog.numbers.adjusted() counts them)",
        "llmlog: trace field 'c' was given -1 (out of range); written as 0 so that every "
        "reader keeps the line (reported once; llmlog.numbers.adjusted() counts them)",
    ]
