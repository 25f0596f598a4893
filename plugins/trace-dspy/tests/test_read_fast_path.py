"""``read_trace``'s fast path (a well-formed line of a second already read strictly) reads every
line as :func:`parse_line` does, and hands anything else to it: the same events, the same
``file:line`` errors, whatever came before in the same second."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmlog_trace_dspy import read_trace
from llmlog_trace_dspy.format import TraceReadError, parse_line

SECOND = "2026-08-20T10:15:02"
# Lines of the fast path's shape but not its content, each after a good line of the same second.
BAD = [
    {"type": "span", "timestamp": SECOND + ".12a4Z"},
    {"type": "span", "timestamp": SECOND + ".1234567890Z"},
    {"type": "span", "timestamp": SECOND + ".١٢Z"},
    {"type": "span", "timestamp": SECOND + ".5z"},
    {"type": "span", "timestamp": SECOND + ".Z"},
    {"type": "spanx", "timestamp": SECOND + ".5Z"},
    {"type": 1, "timestamp": SECOND + ".5Z"},
    {"type": "span", "timestamp": SECOND + ".5Z", "trace_id": 1},
    {"type": "span", "timestamp": SECOND + ".5Z", "span_id": ["a"]},
    {"type": "span", "timestamp": SECOND + ".5Z", "parent_id": {}},
    {"type": "span", "timestamp": SECOND + ".5Z", "data": []},
    {"type": "span", "timestamp": SECOND + ".5Z", "data": "x"},
    ["span"],
]


@pytest.mark.parametrize("record", BAD, ids=range(len(BAD)))
def test_a_bad_line_after_a_good_one_of_the_same_second_names_its_line(tmp_path, helpers, record):
    good = {"type": "session", "timestamp": SECOND + ".25Z", "trace_id": "t", "data": {}}
    path = helpers.write_jsonl(tmp_path / "bad.jsonl", [good, good, record], ascii_only=False)
    with pytest.raises(TraceReadError, match=r"bad\.jsonl:3: "):
        list(read_trace(path))
    skipped: list[str] = []
    assert len(list(read_trace(path, skipped=skipped))) == 2
    assert len(skipped) == 1 and ":3: " in skipped[0]


_ids = st.one_of(st.none(), st.text(max_size=4))
_lines = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["session", "span", "llm_call", "module", "error", "x"]),
        "timestamp": st.builds(
            lambda s, f, z: f"2026-08-20T10:15:{s:02d}" + (f".{f}" if f else "") + z,
            st.sampled_from([2, 2, 2, 61, 7]),
            st.text("0123456789", max_size=10),
            st.sampled_from(["Z", "Z", "+01:00", "z"]),
        ),
    },
    optional={
        "trace_id": _ids,
        "span_id": _ids,
        "parent_id": st.one_of(_ids, st.integers()),
        "data": st.one_of(
            st.none(), st.dictionaries(st.text(max_size=3), st.integers()), st.text()
        ),
    },
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_lines, max_size=12))
def test_the_fast_path_reads_as_the_strict_reader(tmp_path_factory, records):
    path = tmp_path_factory.mktemp("fast") / "t.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    expected, errors = [], []
    for number, raw in enumerate(path.read_bytes().splitlines(keepends=True), start=1):
        try:
            expected.append(parse_line(raw, f"{path}:{number}"))
        except TraceReadError as exc:
            errors.append(str(exc))
    skipped: list[str] = []
    assert list(read_trace(path, skipped=skipped)) == expected
    assert skipped == errors
