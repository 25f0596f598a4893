"""The ``--json`` envelope (:mod:`llmlog.jsonout`): text that reads back as it was with nothing a
terminal acts on, paging that loses and repeats nothing, filters applied before paging,
redaction before searching."""

from __future__ import annotations

import json
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from llmlog.jsonout import JSON_SCHEMA, dumps_json, json_page
from llmlog.sanitize import Sanitizer

_RAW_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _shown_as_read(text: str) -> bool:
    """Nothing a terminal acts on or that shows other than it reads: every character printable
    (no controls, bidi overrides, zero-width or private-use characters)."""
    return text.isprintable()


@settings(max_examples=200)
@given(
    st.recursive(
        st.text() | st.integers(-(2**63), 2**63 - 1) | st.none(),
        lambda v: st.lists(v) | st.dictionaries(st.text(), v),
        max_leaves=8,
    )
)
def test_any_value_reads_back_with_no_raw_control_character(value):
    text = dumps_json({"value": value})
    assert not _RAW_CONTROL.search(text)
    assert _shown_as_read(text)
    assert json.loads(text) == {"value": value}
    indented = dumps_json({"value": value}, indent=True)
    assert _shown_as_read(indented.replace("\n", ""))
    assert json.loads(indented) == {"value": value}


def test_bidi_and_zero_width_characters_are_escaped():
    hostile = "admin\u202egnp.exe\u200b\u2066x\u2069\ue000"
    text = dumps_json({"name": hostile}, indent=True)
    for raw in ("\u202e", "\u200b", "\u2066", "\u2069", "\ue000"):
        assert raw not in text
    assert "\\u202e" in text
    assert json.loads(text) == {"name": hostile}


_rows = st.lists(
    st.fixed_dictionaries(
        {
            "name": st.sampled_from(["alpha", "Beta", "gamma"]),
            "error": st.sampled_from([None, "", "boom"]),
        }
    ),
    max_size=30,
)


@settings(max_examples=100)
@given(_rows, st.integers(1, 7), st.sampled_from([None, "BETA", "a"]), st.booleans())
def test_pages_put_together_are_the_filtered_rows(rows, limit, search, errors):
    wanted = [
        r
        for r in rows
        if (not errors or r["error"])
        and (search is None or search.casefold() in json.dumps(r).casefold())
    ]
    got, offset = [], 0
    while offset is not None:
        page = json_page("t", rows, search=search, errors=errors, limit=limit, offset=offset)
        assert page["schema"] == JSON_SCHEMA and page["total"] == len(wanted)
        assert len(page["items"]) <= limit
        got += page["items"]
        offset = page["next_offset"]
    assert got == wanted


def test_redaction_comes_before_search():
    secret = "sk-proj-" + "Q1w2E3r4T5y6U7i8O9p0A1s2D3f4G5h6J7k8"
    rows = [{"prompt": f"the key is {secret}"}, {"api_key": "hunter2"}]
    page = json_page("t", rows, sanitizer=Sanitizer())
    assert secret not in dumps_json(page) and "hunter2" not in dumps_json(page)
    assert json_page("t", rows, search=secret[:16], sanitizer=Sanitizer())["total"] == 0
    assert json_page("t", rows, search="hunter2", sanitizer=Sanitizer())["total"] == 0
