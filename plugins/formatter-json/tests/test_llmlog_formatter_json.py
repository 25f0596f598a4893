import json
import math

import orjson
from hypothesis import given
from hypothesis import strategies as st

from llmlog import Severity, TokenUsage
from llmlog.testing import check_formatter, make_entry
from llmlog_formatter_json import RESERVED_KEYS, JsonFormatter, JsonOptions


def parse(line):
    data = json.loads(line)
    return {**data, "message": data["message"], "level": data["level"]}


def test_conformance():
    check_formatter(JsonFormatter(), parse)
    check_formatter(
        JsonFormatter(JsonOptions(flat=False)),
        lambda line: {**json.loads(line).get("fields", {}), **json.loads(line)},
    )


def test_seed_keys_and_fixes():
    entry = make_entry(
        "done",
        Severity.WARN,
        time=1764092405123456789,
        trace_id="ab" * 16,
        span_id="cd" * 8,
        model_id="gpt-4o",
        token_info=TokenUsage(10, 20, cost=0.01),
        latency_ms=12,
        cost=0.01,
        fields={"user": "alice", "level": "forged"},
    )
    data = json.loads(JsonFormatter().format(entry))
    assert list(data)[:6] == ["timestamp", "level", "message", "file", "line", "function"]
    assert data["timestamp"] == "2025-11-25T17:40:05.123456Z"
    assert data["level"] == "WARN"
    assert (
        data["traceId"] == "ab" * 16 and data["spanId"] == "cd" * 8 and data["modelId"] == "gpt-4o"
    )
    assert data["tokenInfo"] == {
        "promptTokens": 10,
        "completionTokens": 20,
        "totalTokens": 30,
        "cost": 0.01,
    }
    assert (data["latencyMs"], data["cost"]) == (12, 0.01)
    assert data["user"] == "alice" and data["field.level"] == "forged"


def test_optional_keys_absent_when_empty():
    data = json.loads(JsonFormatter().format(make_entry("m")))
    assert set(data) == {"timestamp", "level", "message", "file", "line", "function"}


def test_format_bytes_is_orjson_bytes():
    out = JsonFormatter().format_bytes(make_entry("m", fields={"n": 2**70}))
    assert isinstance(out, bytes)
    assert orjson.loads(out)["n"] == str(2**70)


keys = st.text(min_size=1, max_size=10).filter(lambda k: k not in RESERVED_KEYS)
values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
    max_leaves=10,
)


@given(st.text(), st.dictionaries(keys, values, max_size=5), st.sampled_from(list(Severity)))
def test_round_trip(message, fields, severity):
    entry = make_entry(message, severity, fields=fields)
    data = json.loads(JsonFormatter().format(entry))
    assert data["message"] == message
    assert data["level"] == severity.name
    for k, v in fields.items():
        assert data[k] == v or (isinstance(v, float) and math.isclose(data[k], v))


def test_token_details_come_beside_the_seed_keys():
    usage = TokenUsage(100, 40, cost=0.01, cache_read_tokens=60, reasoning_tokens=25)
    info = json.loads(JsonFormatter().format(make_entry(token_info=usage)))["tokenInfo"]
    assert info == {
        "promptTokens": 100,
        "completionTokens": 40,
        "totalTokens": 140,
        "cacheReadTokens": 60,
        "reasoningTokens": 25,
        "cost": 0.01,
    }
    plain = json.loads(JsonFormatter().format(make_entry(token_info=TokenUsage(1, 2))))
    assert plain["tokenInfo"] == {"promptTokens": 1, "completionTokens": 2, "totalTokens": 3}
