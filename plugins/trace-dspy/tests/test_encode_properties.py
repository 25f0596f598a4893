"""Every line the ``dspy`` writer encodes is JSON for every reader (orjson, Python's json, and so
Go's), with ``data`` keys sorted at every level as dspy-go sorts map keys, whatever the values:
lone surrogates, integers past 64 bits, NaN, control and invisible characters, odd keys."""

from __future__ import annotations

import json
import math
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from llmlog.ext import TraceEvent, TraceEventType, big_int_text, valid_text
from llmlog_trace_dspy import DspyTraceWriter, read_trace

HOSTILE_CHARS = st.sampled_from(
    [
        "\ud800",
        "\udfff",
        "\x1b",
        "\x9b",
        "\x7f",
        "\u202e",
        "\u200b",
        "\U000e0041",
        "\n",
        "\x00",
        "\u2028",
        "é",
        "😀",
        "a",
        "<",
        "&",
    ]
)
texts = st.text(max_size=12) | st.lists(HOSTILE_CHARS, max_size=8).map("".join)
integers = st.integers() | st.sampled_from(
    [2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63) - 1, 10**400, -(10**400)]
)
scalars = st.none() | st.booleans() | integers | st.floats() | texts
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=20,
)


def _expected(value: Any) -> Any:
    """What a reader gets back for ``value``: the serializer's documented rules."""
    if isinstance(value, str):
        return valid_text(value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**64 else big_int_text(value)
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, dict):
        return {valid_text(k): _expected(v) for k, v in value.items()}
    return [_expected(v) for v in value]


def _assert_sorted(pairs_value: Any, where: str = "data") -> None:
    """Keys in the order they appear in the line are sorted, at every level (as Go sorts map
    keys: by their UTF-8 bytes, which for valid text is code point order)."""
    stack = [(pairs_value, where)]
    while stack:
        value, path = stack.pop()
        if isinstance(value, _Pairs):
            keys = [k for k, _ in value]
            assert keys == sorted(keys, key=lambda k: k.encode("utf-8", "surrogatepass")), (
                path,
                keys,
            )
            stack += [(v, f"{path}.{k}") for k, v in value]
        elif isinstance(value, list):
            stack += [(v, f"{path}[{i}]") for i, v in enumerate(value)]


class _Pairs(list):  # type: ignore[type-arg]
    pass


@settings(max_examples=200)
@given(
    kind=st.sampled_from(list(TraceEventType)),
    data=st.dictionaries(texts, values, max_size=6),
    span=texts,
    parent=st.none() | texts,
    trace=texts,
)
def test_every_encoded_line_parses_everywhere_with_sorted_keys_and_keeps_the_event(
    tmp_path_factory, kind, data, span, parent, trace
):
    path = tmp_path_factory.mktemp("enc") / "t.jsonl"
    writer = DspyTraceWriter(path)
    event = TraceEvent(kind, 1_787_000_000_123_456_789, trace, span or None, parent or None, data)
    writer.write(event)
    writer.close()
    raw = path.read_bytes()
    assert raw.endswith(b"\n") and raw.count(b"\n") == 1
    line = raw[:-1]
    by_orjson = orjson.loads(line)
    by_json = json.loads(line.decode("utf-8"))  # strict: no NaN, valid UTF-8 (what Go needs)
    assert by_orjson == by_json
    assert list(by_json)[:3] == ["type", "timestamp", "trace_id"]
    pairs = json.loads(line, object_pairs_hook=_Pairs)
    envelope = dict(pairs)
    if "data" in envelope:
        _assert_sorted(envelope["data"])
    assert by_json.get("data", {}) == _expected(data)
    assert by_json["trace_id"] == valid_text(trace)
    assert by_json.get("span_id") == (valid_text(span) if span else None)
    assert by_json.get("parent_id") == (valid_text(parent) if parent else None)
    assert line.isascii() or all(ch.isprintable() for ch in line.decode("utf-8"))
    (back,) = list(read_trace(path))
    assert back.type is kind and back.time == event.time and back.data == _expected(data)


@settings(max_examples=300)
@given(
    year=st.integers(0, 9999) | st.sampled_from([0, 1, 999, 1000, 9999]),
    month=st.integers(1, 12),
    day=st.integers(1, 28),
    clock=st.tuples(st.integers(0, 23), st.integers(0, 59), st.integers(0, 59)),
    fraction=st.none() | st.from_regex(r"[0-9]{1,9}", fullmatch=True),
    zone=st.sampled_from(["Z", "+23:59", "-23:59", "+05:30", "-00:00"]),
)
def test_every_timestamp_the_reader_accepts_is_written_back_readable(
    tmp_path_factory, year, month, day, clock, fraction, zone
):
    """Years 0000 to 9999 at any offset (what Go's RFC 3339 parser takes): the writer writes a
    timestamp every reader takes again (Python's strftime writes year 999 as "999" and year 0 as
    "0"), the same instant, or the nearest one RFC 3339 can write (years 0000 to 9999 in UTC)."""
    from llmlog_trace_dspy import encode, parse_timestamp

    hour, minute, second = clock
    text = f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}"
    text += (f".{fraction}" if fraction else "") + zone
    ns = parse_timestamp(text)
    line = encode(TraceEvent(TraceEventType.SPAN, ns, "t", "s", None, {"event": "start"}))
    written = orjson.loads(line)["timestamp"]
    back = parse_timestamp(written)  # raises if not RFC 3339
    low, high = (
        parse_timestamp("0000-01-01T00:00:00Z"),
        parse_timestamp("9999-12-31T23:59:59.999999999Z"),
    )
    assert back == min(max(ns, low), high), (text, written)


ids = (
    texts
    | st.text("0123456789abcdefABCDEF", min_size=1, max_size=32)
    | st.sampled_from(["", "a" * 32, "0" * 16, "x-y", 'q"', "\\", "é1", "１２"])
)


@settings(max_examples=400)
@given(
    kind=st.sampled_from(list(TraceEventType)) | st.sampled_from(["span", "other"]),
    data=st.dictionaries(texts, values, max_size=4),
    trace=ids,
    span=st.none() | ids,
    parent=st.none() | ids,
    time=st.integers(10**18 - 5, 10**18 + 5)
    | st.integers(10**19 - 5, 10**19 + 5)
    | st.integers(1_700_000_000_000_000_000, 1_900_000_000_000_000_000)
    | st.integers(1_800_000_000, 1_800_000_010).map(lambda s: s * 1_000_000_000)
    | st.integers(-(10**19), 10**20),
)
def test_the_file_line_is_encode_with_a_newline(kind, data, trace, span, parent, time):
    """The trace file's line, put together from cached pieces for the common event, is the bytes
    ``encode`` (orjson) writes, for any id, type, time and data: the fast line never changes
    the output."""
    from llmlog_trace_dspy.format import _file_line, encode

    def event() -> TraceEvent:
        return TraceEvent(kind, time, trace, span, parent, data)  # type: ignore[arg-type]

    assert _file_line(event()) == encode(event()) + b"\n"
    assert _file_line(event()) == encode(event()) + b"\n"  # with the ids now remembered


def test_the_file_line_takes_what_it_cannot_hash_or_read_the_slow_way():
    """An id that is not a string (a list: unhashable; a number) and a time that is not an
    integer go through orjson as before, never raise."""
    from llmlog_trace_dspy.format import _file_line, encode

    for trace, span, time in [
        (["t"], "s", 1_800_000_000_123_456_789),
        ("t", 12345, 1_800_000_000_123_456_789),
        ("t", "s", 1.8e18),
        ("t", "s", True),
    ]:
        first = TraceEvent(TraceEventType.SPAN, time, trace, span, None, {"a": 1})  # type: ignore[arg-type]
        again = TraceEvent(TraceEventType.SPAN, time, trace, span, None, {"a": 1})  # type: ignore[arg-type]
        assert _file_line(first) == encode(again) + b"\n"
