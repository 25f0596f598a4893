import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmlog import Severity, TokenUsage
from llmlog.ext import escape
from llmlog.testing import check_formatter, make_entry
from llmlog_formatter_logfmt import LogfmtFormatter, LogfmtOptions, parse_line


def parse(line):
    data = parse_line(line)
    return {**data, "message": data["msg"]}


def test_conformance():
    check_formatter(LogfmtFormatter(), parse, multiline_exceptions=False)


def test_layout():
    entry = make_entry(
        "answer ready",
        Severity.INFO,
        time=1764092405123456789,
        model_id="gpt-4o",
        token_info=TokenUsage(10, 20),
        fields={"user": "alice", "msg": "forged", "note": 'say "hi"'},
    )
    line = LogfmtFormatter().format(entry)
    assert line == (
        'time=2025-11-25T17:40:05.123456Z level=info msg="answer ready" caller=app.py:42 function=main '
        "model=gpt-4o prompt_tokens=10 completion_tokens=20 total_tokens=30 user=alice field.msg=forged "
        'note="say \\"hi\\""'
    )
    assert parse_line(line)["note"] == 'say "hi"'


def test_without_caller():
    line = LogfmtFormatter(LogfmtOptions(include_caller=False)).format(make_entry("m"))
    assert "caller=" not in line and "function=" not in line


@given(
    st.text(),
    st.dictionaries(
        st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True).filter(
            lambda k: k not in {"time", "level", "msg", "caller", "function"}
        ),
        st.text(),
        max_size=4,
    ),
)
def test_round_trip(message, fields):
    line = LogfmtFormatter().format(make_entry(message, fields=fields))
    assert "\n" not in line
    parsed = parse_line(line)
    assert parsed["msg"] == escape(message)
    for k, v in fields.items():
        assert parsed[k] == escape(v)


@pytest.mark.parametrize(
    ("line", "error"),
    [("novalue", "column 1"), ('a=1 b="open', "unterminated"), ("a=1 =2", "column 5")],
)
def test_parse_errors_say_where(line, error):
    with pytest.raises(ValueError, match=error):
        parse_line(line)


def test_token_details_come_after_the_seed_counts():
    usage = TokenUsage(100, 40, cache_read_tokens=60, cache_creation_tokens=5, reasoning_tokens=25)
    line = LogfmtFormatter().format(make_entry(token_info=usage))
    assert (
        "prompt_tokens=100 completion_tokens=40 total_tokens=140 cache_read_tokens=60 "
        "cache_creation_tokens=5 reasoning_tokens=25" in line
    )
    assert "cache_read" not in LogfmtFormatter().format(make_entry(token_info=TokenUsage(1, 2)))
