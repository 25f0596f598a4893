"""``read_trace`` over byte ranges (``start``, ``stop``): two ranges split at a line's start read
every event once, in order, with the messages of a whole read (lines numbered from the file's
first), whatever the lines hold; ``llmlog report`` reads a large file in two processes so."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmlog_trace_dspy import read_trace
from llmlog_trace_dspy.format import TraceReadError

_ids = st.one_of(st.none(), st.text(max_size=4))
_lines = st.one_of(
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(["session", "span", "llm_call", "error", "x"]),
            "timestamp": st.builds(
                lambda s, f: f"2026-08-20T10:15:{s:02d}" + (f".{f}" if f else "") + "Z",
                st.sampled_from([2, 2, 3, 61]),
                st.text("0123456789", max_size=10),
            ),
        },
        optional={
            "trace_id": _ids,
            "span_id": _ids,
            "data": st.one_of(st.none(), st.dictionaries(st.text(max_size=3), st.integers())),
        },
    ),
    st.just("not json"),
    st.just(""),
)


def _write(path, records):
    path.write_text(
        "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records),
        encoding="utf-8",
    )
    return path


@settings(max_examples=150, deadline=None)
@given(st.lists(_lines, max_size=12), st.data())
def test_two_ranges_read_what_the_whole_file_holds(tmp_path_factory, records, data):
    path = _write(tmp_path_factory.mktemp("ranges") / "t.jsonl", records)
    raw = path.read_bytes()
    starts = [0] + [i + 1 for i, byte in enumerate(raw) if byte == ord("\n")]
    split = data.draw(st.sampled_from(starts))
    whole_skipped: list[str] = []
    whole = list(read_trace(path, skipped=whole_skipped))
    first_skipped: list[str] = []
    second_skipped: list[str] = []
    first = list(read_trace(path, stop=split, skipped=first_skipped))
    second = list(read_trace(path, start=split, skipped=second_skipped))
    assert first + second == whole
    assert first_skipped + second_skipped == whole_skipped


def test_an_error_in_a_range_names_its_line_in_the_file(tmp_path):
    good = {"type": "session", "timestamp": "2026-08-20T10:15:02.5Z", "trace_id": "t"}
    path = _write(tmp_path / "t.jsonl", [good, good, good, "not json", good])
    raw = path.read_bytes()
    third = raw.index(b"\n", raw.index(b"\n") + 1) + 1  # the third line's start
    assert len(list(read_trace(path, stop=third))) == 2
    with pytest.raises(TraceReadError, match=r"t\.jsonl:4: not a JSON line"):
        list(read_trace(path, start=third))
    fourth = raw.index(b"not json")
    assert len(list(read_trace(path, start=third, stop=fourth))) == 1
    assert len(list(read_trace(path, start=fourth + len(b"not json\n")))) == 1
