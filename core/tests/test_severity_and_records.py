import logging

import pytest

from llmlog import Severity, TokenUsage, parse_severity
from llmlog.severity import severity_from_name


def test_values_match_stdlib_logging():
    assert Severity.DEBUG == logging.DEBUG
    assert Severity.INFO == logging.INFO
    assert Severity.WARN == logging.WARNING
    assert Severity.ERROR == logging.ERROR
    assert Severity.FATAL == logging.CRITICAL
    assert sorted(Severity) == [
        Severity.DEBUG,
        Severity.INFO,
        Severity.WARN,
        Severity.ERROR,
        Severity.FATAL,
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("debug", Severity.DEBUG),
        ("INFO", Severity.INFO),
        ("Warn", Severity.WARN),
        ("warning", Severity.WARN),
        ("error", Severity.ERROR),
        ("FATAL", Severity.FATAL),
        ("critical", Severity.FATAL),
        (" error ", Severity.ERROR),
    ],
)
def test_parse_severity_known(text, expected):
    assert parse_severity(text) is expected


@pytest.mark.parametrize("text", ["verbose", "", "trace", "42"])
def test_parse_severity_unknown_is_info_like_the_seed(text):
    assert parse_severity(text) is Severity.INFO
    assert severity_from_name(text) is None


def test_str_is_the_name():
    assert str(Severity.WARN) == "WARN"


def test_token_usage_total_defaults_to_sum():
    usage = TokenUsage(10, 20)
    assert usage.total_tokens == 30
    assert usage.cost is None
    assert TokenUsage(1, 2, total_tokens=5).total_tokens == 5


def test_token_usage_addition_keeps_unknown_cost_unknown():
    known = TokenUsage(10, 5, cost=0.5)
    assert (known + TokenUsage(1, 1, cost=0.25)) == TokenUsage(11, 6, 17, 0.75)
    assert (known + TokenUsage(1, 1)).cost is None  # unknown price is not zero


def test_an_events_encoded_data_kept_with_it_costs_about_its_size():
    # orjson writes into a 4 KiB block and returns it as is; the cached encoding of a small
    # event must not keep that block (an exporter's queue holds thousands of events).
    import time
    import tracemalloc

    from llmlog import TraceEvent, TraceEventType
    from llmlog.serialize import encoded_event_data

    events = [
        TraceEvent(TraceEventType.SPAN, time.time_ns(), "ab" * 16, f"{n:016x}", None, {"n": n})
        for n in range(2000)
    ]
    tracemalloc.start()
    for event in events:
        encoded_event_data(event)
    kept, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert all(event.encoded_data == b'{"n":%d}' % n for n, event in enumerate(events))
    assert kept / len(events) < 200, f"{kept / len(events):.0f} bytes kept per event"


def test_plain_id_takes_only_what_json_writes_as_it_is():
    from llmlog.serialize import PLAIN_IDS, plain_id

    for value in ["0123456789abcdef", "a" * 32, "Z9"]:
        assert plain_id(value) and value in PLAIN_IDS
    for value in ["", "a-b", 'a"', "a\\b", "é", "１", "a b", "a\n", None, 12, b"ab", ["ab"]]:
        assert not plain_id(value)
        assert not isinstance(value, str) or value not in PLAIN_IDS
    PLAIN_IDS.clear()
    for n in range(5000):  # bounded
        plain_id(f"id{n}")
    assert 0 < len(PLAIN_IDS) <= 4096
