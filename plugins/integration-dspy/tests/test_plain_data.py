"""``plain_data``: a DSPy result as plain data, the same as ``toDict`` gives, whichever way it
takes (the shortcut for fields that are all strings, numbers or None, or ``toDict`` itself)."""

from __future__ import annotations

from typing import Any

import dspy
from hypothesis import given
from hypothesis import strategies as st

from llmlog_integration_dspy.evaluation import plain_data

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=5), inner, max_size=3)
        | st.builds(lambda d: dspy.Example(**d), st.dictionaries(st.sampled_from("abc"), inner))
    ),
    max_leaves=6,
)
names = st.text("abcdefghij", min_size=1, max_size=6)


@given(st.dictionaries(names, scalars | values, max_size=5), st.booleans())
def test_plain_data_is_what_to_dict_gives(fields: dict[str, Any], prediction: bool) -> None:
    result = (dspy.Prediction if prediction else dspy.Example)(**fields)
    plain = plain_data(result)
    assert plain == result.toDict()
    assert type(plain) is dict and plain is not result._store  # a copy the caller may keep
    assert list(plain) == list(result.toDict())


def test_a_subclass_with_its_own_to_dict_is_asked_for_it() -> None:
    class Custom(dspy.Prediction):
        def toDict(self) -> dict[str, Any]:
            return {"custom": True}

    assert plain_data(Custom(answer="x")) == {"custom": True}
    assert plain_data("text") == "text"
