"""Reading bad input: every envelope value of the wrong JSON type names ``file:line`` and what was
expected; values inside ``data`` are read as leniently as dspy-go's viewer reads them; ``detect``
never raises; text Go's decoder reads (invalid UTF-8, lone surrogate escapes) is read too."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmlog_trace_dspy import parse_timestamp, read_trace
from llmlog_trace_dspy.format import TraceReadError
from llmlog_trace_dspy.view import detect

WRONG = {
    "an array": [],
    "an object": {},
    "a number": 1,
    "a fraction": 1.5,
    "a boolean": True,
    "a string": "x",
    "null": None,
    "a nested array": [["span"]],
}
ALLOWED = {
    "type": {"a string"},
    "timestamp": {"a string"},
    # Go decodes null into a string or map as "not set".
    "trace_id": {"a string", "null"},
    "span_id": {"a string", "null"},
    "parent_id": {"a string", "null"},
    "data": {"an object", "null"},
}
CASES = [
    (key, name) for key in ALLOWED for name in WRONG if name not in ALLOWED[key] or key == "type"
]


@pytest.mark.parametrize(("key", "name"), CASES)
def test_an_envelope_value_of_the_wrong_type_names_file_line_and_what_was_expected(
    tmp_path, helpers, key, name
):
    record = helpers.line("span", "s1", {"event": "start", "operation": "op"})
    record[key] = WRONG[name]
    path = helpers.write_jsonl(tmp_path / "bad.jsonl", [helpers.session_line(), record])
    with pytest.raises(TraceReadError) as caught:
        list(read_trace(path))
    message = str(caught.value)
    assert message.startswith(f"{path}:2: "), message
    assert f'"{key}"' in message, message
    done = helpers.run_main("view", str(path))
    assert done.status == 1 and done.out == ""
    assert done.err.startswith(f"llmlog: {path}:2: ") and done.err.count("\n") == 1, done.err
    lenient = helpers.run_main("view", "--lenient", "--no-color", str(path))
    assert lenient.status == 0 and "1 unreadable line skipped" in lenient.out


def test_missing_type_or_timestamp_and_unknown_types_and_non_objects(tmp_path, helpers):
    lines = [
        {"timestamp": helpers.TS, "trace_id": "t"},
        {"type": "span", "trace_id": "t"},
        {"type": "sessionx", "timestamp": helpers.TS},
        ["type", "span"],
        "span",
    ]
    for number, record in enumerate(lines, start=2):
        path = helpers.write_jsonl(
            tmp_path / f"b{number}.jsonl", [helpers.session_line()] * (number - 1) + [record]
        )
        with pytest.raises(TraceReadError, match=rf"b{number}\.jsonl:{number}: "):
            list(read_trace(path))


@pytest.mark.parametrize(
    "text",
    [
        "2026-13-01T00:00:00Z",
        "2026-02-30T00:00:00Z",
        "2026-08-20T24:00:00Z",
        "2026-08-20T10:60:00Z",
        "2026-08-20T10:15:60Z",
        "2026-08-20T10:15:02+24:00",
        "2026-08-20T10:15:02+02:60",
        "2026-08-20T10:15:02.123456",
        "٢٠٢٦-08-20T10:15:02Z",
    ],
)
def test_impossible_timestamps_are_refused_as_go_refuses_them(text):
    with pytest.raises(ValueError, match="RFC 3339"):
        parse_timestamp(text)


def test_timestamps_go_accepts():
    assert parse_timestamp("2024-02-29T23:59:59.999999999-05:30") == parse_timestamp(
        "2024-03-01T05:29:59.999999999Z"
    )
    assert parse_timestamp("0001-01-01T00:00:00Z") < 0
    assert parse_timestamp("9999-12-31T23:59:59Z") > 0


@settings(max_examples=300)
@given(st.binary(max_size=200) | st.from_regex(rb'\{"type": ?[^,]{0,20},.{0,40}\}', fullmatch=True))
def test_detect_never_raises(first_line):
    assert detect(first_line) in (True, False)


@pytest.mark.parametrize(
    "first",
    [
        b'{"type":["span"],"timestamp":"2026-08-20T10:15:02Z","trace_id":"t"}\n',
        b'{"type":{"a":1},"trace_id":"t"}\n',
        b'{"type":null,"trace_id":"t"}\n',
        b'{"type":"metadata","timestamp":"2026-08-20T10:15:02Z"}\n',
        b"[1, 2]\n",
        b'"\\ud800"\n',
        b"\xff\xfe{}\n",
    ],
)
def test_detect_says_no_to_what_is_not_a_dspy_first_line(first):
    assert detect(first) is False


def test_a_type_list_on_the_first_line_does_not_crash_the_rlm_detection_either(tmp_path, helpers):
    path = tmp_path / "odd.jsonl"
    path.write_text('{"type":["span"],"timestamp":"2026-08-20T10:15:02Z","trace_id":"t"}\n')
    for args in (["view", str(path)], ["convert", str(path), "--to", "rlm"]):
        done = helpers.run_main(*args)
        assert done.status == 1 and "not a trace in any installed format" in done.err, done


def test_text_go_decodes_is_read_lone_surrogate_escapes_and_invalid_utf8(tmp_path, helpers):
    # Go's encoding/json reads both (as U+FFFD); orjson refuses them. The line is read, the text
    # kept as close to what was written as Python allows.
    path = tmp_path / "odd-text.jsonl"
    session = json.dumps(helpers.session_line()).encode()
    surrogate = b'{"type":"span","timestamp":"2026-08-20T10:15:02Z","trace_id":"t","span_id":"s","data":{"event":"start","operation":"a\\ud800b"}}'
    invalid = b'{"type":"span","timestamp":"2026-08-20T10:15:03Z","trace_id":"t","span_id":"s","data":{"event":"end","duration_ms":5,"error":"bad \xff byte"}}'
    path.write_bytes(session + b"\n" + surrogate + b"\n" + invalid + b"\n")
    _, start, end = list(read_trace(path))
    assert start.data["operation"] == "a\ud800b"
    assert end.data["error"] == "bad \ufffd byte"
    shown = helpers.run_main("view", "--no-color", str(path))
    assert shown.status == 0, shown.err
    assert "a\\ud800b" in shown.out and "bad \ufffd byte" in shown.out


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"1e400", "not a JSON line"),
        (b"NaN", "not a JSON line"),
        (b"[" * 3000 + b"]" * 3000, "not a JSON line"),
        (b'{"type": "span", "type": 5}', '"type"'),
    ],
)
def test_what_no_json_reader_takes_names_file_and_line(tmp_path, raw, expected):
    path = tmp_path / "x.jsonl"
    path.write_bytes(
        b'{"type":"session","timestamp":"2026-08-20T10:15:02Z","trace_id":"t"}\n' + raw + b"\n"
    )
    with pytest.raises(TraceReadError, match=rf"x\.jsonl:2: .*{expected}"):
        list(read_trace(path))
