"""``llmlog.tomlout``: what ``llmlog config show`` writes reads back as the same data, and is
safe to print."""

from __future__ import annotations

import datetime
import math
import tomllib

from hypothesis import given, settings
from hypothesis import strategies as st

from llmlog.tomlout import Octal, dumps_toml, toml_key

KEYS = st.text(max_size=12) | st.sampled_from(["a.b", "a\nb", "", " ", "é", "a\x7fb", "ok"])
SCALARS = (
    st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(st.characters(exclude_categories=["Cs"]), max_size=30)
    | st.dates()
    | st.datetimes(timezones=st.none() | st.just(datetime.UTC))
    | st.times()
    | st.integers(min_value=0, max_value=0o777).map(Octal)
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=150)
@given(st.dictionaries(KEYS, VALUES, max_size=6), st.dictionaries(KEYS, st.text(max_size=20)))
def test_what_is_written_reads_back_and_prints_safely(data, comments):
    text = dumps_toml(data, comments)
    assert tomllib.loads(text) == data, text
    for line in text.split("\n"):
        assert line.isprintable(), line


def test_special_values():
    assert dumps_toml({"mode": Octal(0o600), "n": math.inf, "m": -math.inf}) == (
        "mode = 0o600\nn = inf\nm = -inf"
    )
    assert math.isnan(tomllib.loads(dumps_toml({"x": math.nan}))["x"])
    assert toml_key("a\n") == '"a\\n"' and toml_key("a-b_1") == "a-b_1"
    assert dumps_toml({"d": datetime.date(2020, 1, 2)}) == "d = 2020-01-02"
    assert dumps_toml({"s": "\ud800"}) == 's = "\\ufffd"'  # no lone surrogate in TOML
    assert dumps_toml({"t": {"a": 1}}, {"t": "from x\n[evil]"}) == (
        "\n[t]  # from x\\n[evil]\na = 1"
    )
