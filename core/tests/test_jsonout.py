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
    assert json.loads(text) == {"value": value}
    assert not _RAW_CONTROL.search(dumps_json({"value": value}, indent=True).replace("\n", ""))


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
