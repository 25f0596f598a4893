import re

from llmlog import Severity, TokenUsage
from llmlog.testing import check_formatter, make_entry
from llmlog_formatter_text import TextFormatter, TextOptions


def test_conformance():
    check_formatter(TextFormatter())
    check_formatter(
        TextFormatter(TextOptions(include_timestamp=False, include_location=False, utc=True))
    )


def test_seed_layout():
    entry = make_entry(
        "answer ready",
        Severity.INFO,
        trace_id="ab" * 16,
        model_id="gpt-4o",
        token_info=TokenUsage(10, 20),
        latency_ms=12.5,
        cost=0.00001695,
        fields={"user": "alice", "note": "two words"},
    )
    line = TextFormatter().format(entry)
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|[+-]\d\d:\d\d) \[INFO\] answer ready \[app\.py:42\] "
        r"\[traceId=(ab){16}\] \[model=gpt-4o\] \[tokens=10/20\] \[latency=12\.5ms\] \[cost=\$0\.00001695\] "
        r'user=alice note="two words"',
        line,
    ), line


def test_utc_and_options():
    line = TextFormatter(TextOptions(utc=True, include_location=False)).format(
        make_entry("m", time=1764092405123456789)
    )
    assert line == "2025-11-25T17:40:05.123456Z [INFO] m"
    assert (
        TextFormatter(TextOptions(include_timestamp=False)).format(make_entry("m"))
        == "[INFO] m [app.py:42]"
    )


def test_exception_lines_are_marked():
    out = TextFormatter(TextOptions(include_timestamp=False)).format(
        make_entry(
            "failed", Severity.ERROR, exception="Traceback (most recent call last):\nValueError: x"
        )
    )
    assert out.splitlines() == [
        "[ERROR] failed [app.py:42]",
        "  | Traceback (most recent call last):",
        "  | ValueError: x",
    ]


def test_token_details_are_shown_inside_the_tokens_bracket():
    usage = TokenUsage(20, 10, cache_read_tokens=5, reasoning_tokens=4)
    assert "[tokens=20/10 cached=5 reasoning=4]" in TextFormatter().format(
        make_entry(token_info=usage)
    )
    assert "[tokens=1/2]" in TextFormatter().format(make_entry(token_info=TokenUsage(1, 2)))
