"""The flight-recorder API with no engine (annotations and the no-op recorder) and the
text-rendering helpers every text plugin shares."""

from __future__ import annotations

import asyncio
import io
import time

import pytest

import llmlog
from llmlog.flight import (
    NO_FLIGHT_RECORDER,
    annotations,
    global_flight_recorder,
    running_flight_recorder,
    trace_log,
    trace_region,
    trace_task,
)
from llmlog.flight.annotations import current_task
from llmlog.flight.running import replace_global_flight_recorder
from llmlog.records import TokenUsage
from llmlog.render import (
    continuation_lines,
    escape,
    escape_json_bytes,
    escape_lines,
    format_cost,
    format_fields,
    format_tokens,
    format_value,
    local_timestamp,
    plain_line,
    plural,
    quote_if_needed,
    rfc3339_local,
    rfc3339_nano,
    rfc3339_utc,
    safe_field_items,
)
from llmlog.testing import make_entry


def test_annotations_do_nothing_without_a_recorder():
    assert llmlog.state.annotating_recorder is None
    with trace_region("work") as region:
        assert region is trace_region("work")  # one shared no-op per name
    with trace_task("job") as task:
        assert current_task() is None  # nothing is tracked without a recorder
    assert task is trace_task("other")
    trace_log("category", "message")

    @trace_region("decorated")
    def work(x):
        return x + 1

    @trace_region("decorated-async")
    async def awork(x):
        return x * 2

    assert work(1) == 2
    assert asyncio.run(awork(3)) == 6
    assert work.__name__ == "work" and awork.__name__ == "awork"


class Recorder:
    """What a flight-recorder engine provides to the annotations: plain recording."""

    def __init__(self):
        self.records = []
        self._open_regions = {}

    def record(self, kind, **data):
        self.records.append((kind, data))

    def record_region(self, name, region_id, start, error):
        del self._open_regions[region_id]
        self.records.append(("region", {"name": name, "error": error}))


def test_annotations_reach_a_running_recorder():
    recorder = Recorder()
    assert annotations.take_annotations(recorder) is None
    try:
        _annotated(recorder)
    finally:
        annotations.release_annotations(recorder)


def _annotated(recorder):
    with trace_task("job") as task:
        assert current_task() == (task.id, "job")
        with trace_region("step"):
            assert len(recorder._open_regions) == 1
        trace_log("note", "hello")
    with pytest.raises(ValueError), trace_task("failing"):
        raise ValueError("bad")

    @trace_region("fn")
    def fn():
        raise KeyError("k")

    with pytest.raises(KeyError):
        fn()
    kinds = [(kind, data.get("name"), data.get("error")) for kind, data in recorder.records]
    assert kinds == [
        ("task_begin", "job", None),
        ("region", "step", None),
        ("annotation", None, None),
        ("task_end", "job", None),
        ("task_begin", "failing", None),
        ("task_end", "failing", "ValueError: bad"),
        ("region", "fn", "KeyError: 'k'"),
    ]
    assert current_task() is None
    annotations.release_annotations(recorder)
    trace_log("note", "after release")
    assert len(recorder.records) == len(kinds)
    assert llmlog.state.annotating_recorder is None


def test_the_no_op_recorder_stands_in_for_a_missing_engine():
    recorder = global_flight_recorder()
    assert recorder is NO_FLIGHT_RECORDER and running_flight_recorder() is None
    assert recorder.enabled is False
    recorder.start()
    recorder.record("x", a=1)
    recorder.record_entry(make_entry())
    recorder.record_trace_event(None)  # type: ignore[arg-type]
    recorder.record_exception(ValueError("x"))
    assert recorder.write_to(io.BytesIO()) == 0
    assert recorder.snapshot() is None
    error = ValueError("raised as is")
    assert recorder.snapshot_on_error(error) is error
    assert recorder.stats() == {}
    recorder.stop()
    assert "no flight recorder runs" in repr(recorder)
    assert llmlog.flight.global_flight_recorder() is recorder


def test_replacing_the_global_recorder():
    first, second = Recorder(), Recorder()
    try:
        assert replace_global_flight_recorder(first) is None  # type: ignore[arg-type]
        assert global_flight_recorder() is first
        assert replace_global_flight_recorder(second, only_if_unset=True) is first  # type: ignore[arg-type]
        assert running_flight_recorder() is first
        assert replace_global_flight_recorder(None) is first
    finally:
        replace_global_flight_recorder(None)
    assert global_flight_recorder() is NO_FLIGHT_RECORDER


def test_escape_makes_every_non_printable_character_visible():
    assert escape("plain") == "plain"
    assert escape("a\nb\rc\td\x1b[2J\x7f\u202e\U000e0041") == (
        "a\\nb\\rc\\td\\x1b[2J\\x7f\\u202e\\U000e0041"
    )
    assert escape_lines("one\x1b\ntwo") == "one\\x1b\ntwo"
    assert continuation_lines("Traceback\n  \x1b boom") == "\n  | Traceback\n  |   \\x1b boom"


def test_escape_json_bytes_keeps_the_value():
    assert escape_json_bytes(b'{"a":"b"}') == b'{"a":"b"}'
    assert escape_json_bytes(b'"\x7f"') == b'"\\u007f"'
    assert escape_json_bytes('"héllo"\n'.encode()) == '"héllo"\n'.encode()
    assert escape_json_bytes('"\u202e\U000e0041"\n'.encode()) == b'"\\u202e\\udb40\\udc41"\n'


def test_values_fields_and_quoting():
    assert [format_value(v) for v in ("s\n", None, True, False, 7, 0.5)] == [
        "s\\n",
        "null",
        "true",
        "false",
        "7",
        "0.5",
    ]
    assert format_value({"k": [1]}) == '{"k":[1]}'
    assert format_value(10**400) == "<integer of about 401 digits>"
    assert format_value(2**1000) == str(2**1000)
    assert quote_if_needed("") == '""'
    assert quote_if_needed("a b") == '"a b"'
    assert quote_if_needed('a\\"b') == '"a\\\\\\"b"'
    assert quote_if_needed('a\\"b', strict=False) == '"a\\\\"b"'
    assert format_fields({"user": "a b", "n": 1}) == 'user="a b" n=1'
    assert format_fields([("k", "v")], strict=False) == "k=v"
    assert list(safe_field_items({"message": 1, "x": 2}, frozenset({"message"}))) == [
        ("field.message", 1),
        ("x", 2),
    ]
    assert format_cost(0.00001695) == "$0.00001695"
    assert format_cost(2.0) == "$2" and format_cost(0.0) == "$0" and format_cost(-0.0) == "$0"
    assert format_tokens(TokenUsage(3, 4)) == "tokens=7(3↑4↓)"
    assert plural(1, "call") == "1 call" and plural(0, "call") == "0 calls"
    assert plural(2, "entry", "entries") == "2 entries"


def test_timestamps():
    ns = 1_764_000_000_123_456_789  # 2025-11-24T16:00:00.123456789Z
    assert rfc3339_utc(ns) == "2025-11-24T16:00:00.123456Z"
    assert rfc3339_utc(5_000_001_000) == "1970-01-01T00:00:05.000001Z"
    local = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ns // 10**9))
    assert local_timestamp(ns) == f"{local}.123"
    assert local_timestamp(5_002_000_000).endswith(".002")
    assert rfc3339_local(ns).startswith(local.replace(" ", "T") + ".123")
    nano = rfc3339_nano(ns)
    assert nano.startswith(local.replace(" ", "T") + ".123456789")
    assert nano.endswith("Z") or nano[-6] in "+-"
    assert "." not in rfc3339_nano(ns // 10**9 * 10**9)  # no fraction: no dot
    assert ".5" in rfc3339_nano(1_500_000_000)


def test_timestamps_in_other_time_zones(monkeypatch):
    if not hasattr(time, "tzset"):
        pytest.skip("no tzset")
    ns = 1_764_000_000_123_456_789
    for zone, offset in (("UTC0", "Z"), ("IST-5:30", "+05:30"), ("EST5", "-05:00")):
        monkeypatch.setenv("TZ", zone)
        time.tzset()
        # A different second each time: the caches are per second.
        stamp = rfc3339_local(ns + len(zone) * 10**9)
        assert stamp.endswith(offset), (zone, stamp)
    monkeypatch.delenv("TZ")
    time.tzset()


def test_plain_line_shows_every_part_escaped():
    entry = make_entry(
        "hi\x1b",
        trace_id="t1",
        model_id="m",
        token_info=TokenUsage(1, 2),
        fields={"k": "v w"},
        exception="Traceback\nValueError",
    )
    line = plain_line(entry)
    first, *rest = line.split("\n")
    assert 'INFO  hi\\x1b [app.py:42] [traceId=t1] [model=m] [tokens=3(1↑2↓)] k="v w"' in first
    assert rest == ["  | Traceback", "  | ValueError"]
    assert plain_line(make_entry("x", file="")).endswith("INFO  x")
