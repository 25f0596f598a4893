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
