"""Secrets caught by key name and by value, and a walk that always ends (issue 15).

The corpus (``data/secrets_corpus.json``) holds realistic but fake secrets of every shape the
scanner knows, secrets that are secrets by where they stand (URL passwords, ``password=...``),
look-alikes that must stay as they are (token counts, commit hashes, UUIDs, base64 image data,
"skeleton"), field names in both directions, and ordinary LLM-app text for the false-positive
rate.
"""

from __future__ import annotations

import dataclasses
import json
import signal
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import llmlog
from llmlog import sanitize as sanitize_module
from llmlog.detect import PLAIN, SECRET, SHAPED, SecretScanner, name_class
from llmlog.logger import global_dispatcher
from llmlog.sanitize import CYCLE, REDACTED, Sanitizer
from llmlog.serialize import serializer
from llmlog.testing import ListOutput

CORPUS = json.loads((Path(__file__).parent / "data" / "secrets_corpus.json").read_text())
SECRETS: list[dict[str, str]] = CORPUS["secrets"]
CONTEXTUAL: list[dict[str, str]] = CORPUS["contextual"]
CONTEXTS = ("{s}", "using {s} for the call", '"{s}"', "({s})", "line one\n{s}\nline three")


@contextmanager
def guarded() -> Iterator[None]:
    """Fail (instead of hanging the run) when the block takes more than 30 s."""

    def expired(signum: int, frame: Any) -> None:
        raise TimeoutError("did not return within 30 s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(30)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def hang_guard() -> Iterator[None]:
    with guarded():
        yield


# -- names ---------------------------------------------------------------------------------------


def test_the_corpus_is_big_enough():
    assert len(SECRETS) + len(CONTEXTUAL) >= 60
    assert len({s["kind"] for s in SECRETS}) >= 25


@pytest.mark.parametrize("name", CORPUS["names"]["secret"])
def test_secret_names_are_secret(name):
    assert name_class(name) == SECRET
    assert Sanitizer().fields({name: "value"}) == {name: REDACTED}


@pytest.mark.parametrize("name", CORPUS["names"]["plain"])
def test_plain_names_stay_visible(name):
    assert name_class(name) == PLAIN
    assert Sanitizer().fields({name: 12}) == {name: 12}


def test_signature_is_a_secret_only_when_its_value_looks_like_one():
    # An HMAC is a secret; a DSPy signature is the program's structure.
    assert name_class("signature") == name_class("sig") == SHAPED
    hmac = "sha256=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    cleaned = Sanitizer().fields({"signature": "question -> answer", "x_signature": hmac})
    assert cleaned == {"signature": "question -> answer", "x_signature": REDACTED}
    assert Sanitizer().text(f"?sig={hmac[7:]}&a=1") == "?sig=[REDACTED:secret]&a=1"


def test_redact_keys_are_compiled_one_by_one():
    # "(?i)ssn" is a valid pattern alone, and not inside an alternation (global flags): it made
    # configure() raise re.error.
    s = Sanitizer(extra_patterns=["(?i)ssn", "^internal_"])
    assert s.fields({"SSN": "1", "internal_x": "2", "x": "3"}) == {
        "SSN": REDACTED,
        "internal_x": REDACTED,
        "x": "3",
    }


# -- values --------------------------------------------------------------------------------------


@pytest.mark.parametrize("context", CONTEXTS)
@pytest.mark.parametrize("secret", SECRETS, ids=lambda s: s["kind"])
def test_every_secret_shape_is_redacted_with_its_kind(secret, context):
    text = context.format(s=secret["value"])
    out = Sanitizer().text(text)
    assert secret["value"] not in out
    assert out == context.format(s=f"[REDACTED:{secret['kind']}]")


@pytest.mark.parametrize("secret", SECRETS, ids=lambda s: s["kind"])
def test_a_secret_under_a_plain_name_is_redacted_at_any_depth(secret):
    fields = {"note": {"items": [("x", f"key {secret['value']} here")]}, "n": 1}
    out = Sanitizer().fields(fields)
    assert secret["value"] not in orjson.dumps(out).decode()
    assert out["note"]["items"][0][1] == f"key [REDACTED:{secret['kind']}] here"


@pytest.mark.parametrize("case", CONTEXTUAL, ids=lambda c: c["template"][:30])
def test_a_secret_by_where_it_stands_is_replaced_and_the_rest_kept(case):
    text = case["template"].format(s=case["value"])
    out = Sanitizer().text(text)
    assert out == case["template"].format(s=f"[REDACTED:{case['kind']}]")


def test_url_credentials_keep_user_and_host():
    out = Sanitizer().text("db at postgres://app:s3cr3t-pw@db.internal:5432/prod ready")
    assert out == "db at postgres://app:[REDACTED:url-password]@db.internal:5432/prod ready"


@pytest.mark.parametrize("text", CORPUS["lookalikes"], ids=lambda t: t[:30])
def test_look_alikes_are_not_redacted(text):
    assert Sanitizer().text(text) == text


def test_ordinary_text_is_not_redacted():
    # The false-positive rate on ordinary LLM-app text (prompts, answers, code, JSON, logs,
    # prose about keys, tokens and passwords): none of the corpus is changed.
    changed = [t for t in CORPUS["ordinary"] if Sanitizer().text(t) != t]
    assert changed == []
    assert len(CORPUS["ordinary"]) >= 80


corpus_texts = st.lists(
    st.sampled_from(
        [s["value"] for s in SECRETS]
        + [c["template"].format(s=c["value"]) for c in CONTEXTUAL]
        + CORPUS["lookalikes"]
        + CORPUS["ordinary"]
    )
    | st.text(max_size=20),
    max_size=6,
).map(" ".join)


@settings(max_examples=200)
@given(corpus_texts)
def test_redaction_is_idempotent_and_leaves_no_secret(text):
    once = Sanitizer().text(text)
    assert Sanitizer().text(once) == once
    for secret in SECRETS:
        assert secret["value"] not in once


class _CountingScanner:
    """The sanitizer's own scanner, counting the texts it scans (a spy, not a stand-in)."""

    def __init__(self, scanner: SecretScanner) -> None:
        self.scanner = scanner
        self.scanned: list[str] = []

    def redact(self, text: str) -> str:
        self.scanned.append(text)
        return self.scanner.redact(text)


def test_long_text_found_clean_is_scanned_once():
    # A system prompt or a signature's instructions comes back at every LLM call: scanned the
    # first time, remembered as clean after (an equal string, not only the same object).
    sanitizer = Sanitizer()
    spy = sanitizer._scanner = _CountingScanner(sanitizer._scanner)
    prompt = "Your input fields are:\n1. `question` (str)\n" * 20
    for _ in range(3):
        again = "".join(list(prompt))  # equal, not the same object
        assert sanitizer.text(again) is again
        assert sanitizer.fields({"content": again}) == {"content": prompt}
    assert spy.scanned == [prompt]


@pytest.mark.parametrize("secret", SECRETS[:5], ids=lambda s: s["kind"])
def test_long_text_with_a_secret_is_redacted_every_time(secret):
    sanitizer = Sanitizer()
    text = "some long context around the value. " * 4 + secret["value"] + " and after it." * 4
    for _ in range(3):
        out = sanitizer.text(text)
        assert secret["value"] not in out
        assert f"[REDACTED:{secret['kind']}]" in out
    # The clean texts around it are remembered; the secret's never.
    assert all(secret["value"] not in kept for kept in sanitizer._clean_long)


def test_long_clean_texts_kept_are_bounded():
    from llmlog.sanitize import _LONG_CLEAN_CHARS

    sanitizer = Sanitizer()
    for i in range(300):
        sanitizer.text(f"{i:05d} " + "plain words of a long answer " * 400)  # ~12 KB each
        assert sum(map(len, sanitizer._clean_long)) <= _LONG_CLEAN_CHARS
    assert sanitizer._clean_long  # still remembering the recent ones


# Pieces that could join with the text around a message's edge into a secret's shape.
_EDGES = ["Bearer", "Bearer ", "api_key:", "password=", "token: ", "-----BEGIN PRIVATE KEY-----",
          "sk-", "ghp_", "AKIA", "eyJ", "x://u:", "@host", "12345678:", "\n", ": ", "1234abcd"]  # fmt: skip
message_texts = st.lists(
    st.sampled_from(_EDGES) | corpus_texts | st.text(max_size=12), max_size=5
).map("".join)


class _Events:
    def __init__(self) -> None:
        self.events: list[Any] = []

    def write(self, event: Any) -> None:
        self.events.append(event)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["system", "user", "assistant", "tool", "Bearer", "api_key"]),
            message_texts,
        ),
        min_size=1,
        max_size=4,
    ),
    st.sampled_from([{}, {"max_string_length": 40}, {"value_patterns": [r"user: \w+"]}]),
)
def test_an_llm_calls_prompt_joined_from_its_messages_is_redacted_as_any_text(pairs, options):
    # The session scans the prompt only when it is not the messages' own text (see
    # TraceSession._clean_joined_prompt): what it writes is what a scan of the prompt gives.
    from llmlog.tracing import TraceSession

    messages = [{"role": role, "content": content} for role, content in pairs]
    prompt = "\n\n".join(f"{role}: {content}" for role, content in pairs)
    writer = _Events()
    session = TraceSession(writer, sanitizer=Sanitizer(**options))
    session.emit_llm_call("s1", "openai", "gpt-4o", prompt, "ok", messages=messages)
    (event,) = writer.events
    reference = Sanitizer(**options)
    assert event.data["prompt"] == reference.text(prompt)
    assert event.data["messages"] == reference.value(messages)


def test_value_scanning_can_be_turned_off_and_extended():
    key = SECRETS[0]["value"]
    assert Sanitizer(redact_values=False).text(f"k {key}") == f"k {key}"
    assert Sanitizer(redact_values=False).fields({"api_key": key}) == {"api_key": REDACTED}
    assert Sanitizer(redact=False).text(f"k {key}") == f"k {key}"
    extended = Sanitizer(value_patterns=[r"\bEMP-\d{6}\b", r"acct=(\d+)"])
    assert extended.text("EMP-123456 acct=42 x") == "[REDACTED:pattern] acct=[REDACTED:pattern] x"
    only_patterns = Sanitizer(redact_values=False, value_patterns=[r"\bEMP-\d{6}\b"])
    assert only_patterns.text(f"EMP-123456 {key}") == f"[REDACTED:pattern] {key}"


def test_scanner_alone():
    scanner = SecretScanner()
    assert scanner.redact("nothing here") == "nothing here"
    assert scanner.redact("Authorization: Bearer abc123def456") == (
        "Authorization: Bearer [REDACTED:bearer-token]"
    )


# -- pairs, objects, bytes -----------------------------------------------------------------------


def test_headers_as_pairs():
    headers = [("Authorization", "Bearer abc123def456"), ("Accept", "json"), ["X-Api-Key", "k"]]
    out = Sanitizer().fields({"headers": headers, "pair": ("password", "hunter2")})
    assert out == {
        "headers": [["Authorization", REDACTED], ("Accept", "json"), ["X-Api-Key", REDACTED]],
        "pair": ["password", REDACTED],
    }


@dataclasses.dataclass
class ClientConfig:
    api_key: str
    model: str
    notes: str


@attrs.define
class AttrsConfig:
    password: str
    host: str


def test_objects_are_walked_for_secrets():
    token = SECRETS[0]["value"]
    out = Sanitizer().fields(
        {
            "dc": ClientConfig("k-1", "gpt-4o", f"uses {token}"),
            "at": AttrsConfig("hunter2", "db"),
            "exc": ValueError(f"bad key {token}"),
        }
    )
    assert out == {
        "dc": {"api_key": REDACTED, "model": "gpt-4o", "notes": "uses [REDACTED:openai-key]"},
        "at": {"password": REDACTED, "host": "db"},
        "exc": "ValueError: bad key [REDACTED:openai-key]",
    }


def test_pydantic_models_are_walked_for_secrets():
    # pydantic comes with the workspace's test stack (DSPy needs it), not with the core alone.
    pydantic = pytest.importorskip("pydantic")

    class PydanticConfig(pydantic.BaseModel):  # type: ignore[misc,name-defined]
        openai_key: str
        base_url: str

    out = Sanitizer().fields(
        {"pd": PydanticConfig(openai_key="k-2", base_url="https://u:pw123@api.example.com/v1")}
    )
    assert out == {
        "pd": {
            "openai_key": REDACTED,
            "base_url": "https://u:[REDACTED:url-password]@api.example.com/v1",
        }
    }


def test_bytes_and_repr_are_capped():
    class Huge:
        def __repr__(self) -> str:
            return "y" * 5_000_000

    s = Sanitizer(max_string_length=100)
    out = s.fields({"b": b"x" * 10_000_000, "ba": bytearray(b"\xff" * 1000), "r": Huge()})
    assert out["b"] == "x" * 100 + "…[truncated 9999900 bytes]"
    assert out["ba"].startswith("\\xff") and out["ba"].endswith("…[truncated 900 bytes]")
    assert out["r"] == "y" * 100 + "…[truncated 4999900 chars]"
    assert s.fields({"b": b"ok " + SECRETS[1]["value"].encode()}) == {
        "b": f"ok [REDACTED:{SECRETS[1]['kind']}]"
    }


def test_an_object_that_cannot_be_read_is_marked():
    class Broken(dict[str, int]):
        def items(self) -> Any:
            raise RuntimeError("no")

    out = Sanitizer().fields({"m": Broken(a=1), "ok": 1})
    assert out["ok"] == 1
    assert out["m"].startswith("<unrepresentable ") and "Broken: RuntimeError('no')>" in out["m"]


# -- bounds --------------------------------------------------------------------------------------


def test_a_dict_holding_itself_twice_is_logged_at_once(hang_guard):
    d: dict[str, Any] = {}
    d["a"] = d
    d["b"] = d
    items: list[Any] = []
    items.append(items)
    items.append(items)
    out = ListOutput()
    llmlog.configure({"outputs": {}}, autoload=False)
    global_dispatcher().add_output(out)
    llmlog.get_logger().info("state", state=d, items=items)
    (entry,) = out.entries
    assert entry.fields["state"] == {"a": CYCLE, "b": CYCLE}
    assert entry.fields["items"] == [CYCLE, CYCLE]


def test_shared_references_cost_at_most_the_budget(hang_guard):
    # No cycle, but 2**40 paths: the walk stops after its budget, with a marker.
    node: Any = "leaf"
    for _ in range(40):
        node = [node, node]
    out = Sanitizer(max_values=1000).fields({"tree": node})
    text = orjson.dumps(out).decode()
    assert "<truncated: " in text and text.count("leaf") < 1000


def _count(value: Any) -> int:
    if isinstance(value, dict):
        return sum(1 + _count(v) for v in value.values())
    if isinstance(value, list):
        return sum(1 + _count(v) for v in value)
    return 0


secret_key = st.sampled_from(["api_key", "password", "Authorization", "github_token", "dsn"])
plain_key = st.sampled_from(["model", "max_tokens", "content", "user", "n"])
leaf = st.one_of(
    st.integers(),
    st.text(max_size=10),
    st.sampled_from([s["value"] for s in SECRETS]),
    st.none(),
)


@st.composite
def shared_structures(draw: st.DrawFn) -> Any:
    """Nested dicts and lists whose nodes are reused anywhere, including inside themselves."""
    nodes: list[Any] = []
    for _ in range(draw(st.integers(1, 12))):
        if draw(st.booleans()):
            nodes.append({})
        else:
            nodes.append([])
    for node in nodes:
        for _ in range(draw(st.integers(0, 4))):
            child = draw(st.sampled_from(nodes) | leaf)
            if isinstance(node, dict):
                node[draw(secret_key | plain_key)] = child
            else:
                node.append(child)
    return nodes[0]


@settings(max_examples=150)
@given(shared_structures(), st.sampled_from([50, 1000, 10_000]))
def test_any_structure_ends_within_the_budget_valid_and_redacted(value, budget):
    with guarded():
        out = Sanitizer(max_values=budget).fields({"value": value})
    assert _count(out) <= budget + 40  # markers included
    text = serializer.dumps(out).decode()
    json.loads(text)  # valid JSON
    for secret in SECRETS:
        assert secret["value"] not in text
    _assert_secret_keys_redacted(out)


def _assert_secret_keys_redacted(value: Any) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("api_key", "password", "Authorization", "github_token", "dsn"):
                assert item == REDACTED
            else:
                _assert_secret_keys_redacted(item)
    elif isinstance(value, list):
        for item in value:
            _assert_secret_keys_redacted(item)


# -- through the logger and the trace session ----------------------------------------------------


def test_messages_printf_arguments_and_exceptions_are_scanned(configured):
    token = SECRETS[0]["value"]
    log = llmlog.get_logger()
    log.info("calling with Authorization: Bearer abc123def456")
    log.info("key is %s", token)
    try:
        raise ValueError(f"rejected {token}")
    except ValueError:
        log.error("failed", exc_info=True)
    messages = [e.message for e in configured.entries]
    assert messages[:2] == [
        "calling with Authorization: Bearer [REDACTED:bearer-token]",
        "key is [REDACTED:openai-key]",
    ]
    exception = configured.entries[2].exception
    assert exception is not None and "rejected [REDACTED:openai-key]" in exception
    assert token not in exception


def test_span_inputs_outputs_and_errors_are_scanned(tmp_path):
    pytest.importorskip("llmlog_trace_dspy")  # a trace format: not in the core alone
    from llmlog.tracing import TraceSession
    from llmlog_trace_dspy import DspyTraceWriter

    token = SECRETS[0]["value"]
    path = tmp_path / "t.jsonl"
    session = TraceSession(DspyTraceWriter(path))
    session.emit_span_start("s1", None, "op", {"url": "https://x?api_key=abc123456", "k": token})
    session.emit_span_end("s1", {"answer": f"the key {token}"}, error=ValueError(f"no {token}"))
    session.close()
    text = path.read_text()
    assert token not in text and "abc123456" not in text
    assert "[REDACTED:openai-key]" in text and "api_key=[REDACTED:secret]" in text


# -- configuration -------------------------------------------------------------------------------


def test_configured_patterns_are_checked_one_by_one_at_their_path():
    with pytest.raises(llmlog.ConfigError) as raised:
        llmlog.configure({"redact_patterns": ["ok", "("], "redact_keys": [3]}, autoload=False)
    text = str(raised.value)
    assert "invalid regular expression '(':" in text and "@ $.redact_patterns[1]" in text
    assert "expected a string, got integer 3 @ $.redact_keys[0]" in text


def test_configured_settings_reach_entries_and_trace_sessions(tmp_path):
    pytest.importorskip("llmlog_trace_dspy")  # a trace format: not in the core alone
    # "(?i)ssn" made configure() raise re.error (every output lost); patterns and the switch
    # apply to log entries and to trace sessions alike.
    llmlog.configure(
        {
            "outputs": {},
            "redact_keys": ["(?i)ssn"],
            "redact_values": False,
            "redact_patterns": [r"\bEMP-\d+\b"],
        }
    )
    token = SECRETS[0]["value"]
    out = ListOutput()
    global_dispatcher().add_output(out)
    llmlog.get_logger().info(f"EMP-42 {token}", SSN="1")
    (entry,) = out.entries
    assert entry.message == f"[REDACTED:pattern] {token}" and entry.fields["SSN"] == REDACTED
    with (
        llmlog.start_trace_session(tmp_path / "t.jsonl", format="dspy"),
        llmlog.span("s", {"note": "EMP-7", "SSN": "2"}),
    ):
        pass
    text = (tmp_path / "t.jsonl").read_text()
    assert "EMP-7" not in text and '"2"' not in text and "[REDACTED:pattern]" in text


def test_a_pair_whose_first_item_is_unhashable_is_walked_not_unrepresentable():
    # [[], ""] looks like a (name, value) pair; its "name" cannot be a dict key (found by the
    # replay plugin's property test: a request parameter such as stop=[[...], "x"]).
    sanitizer = Sanitizer()
    assert sanitizer.value([[], ""]) == [[], ""]
    assert sanitizer.value([{"a": 1}, "b"]) == [{"a": 1}, "b"]
    assert sanitizer.key_class(["api_key"]) == PLAIN


# -- the walk's plain-key branch -----------------------------------------------------------------


class _FormerSanitizer(Sanitizer):
    """The sanitizer with ``fields`` as it was before a key known plain took one set test (the
    oracle of the test below)."""

    def fields(
        self, mapping: Mapping[Any, Any], depth: int = 0, walk: sanitize_module._Walk | None = None
    ) -> Mapping[Any, Any]:
        """Return ``mapping`` cleaned; the same object when nothing had to change. (``walk`` is
        the walk's own: callers leave it out.)"""
        # One call on the per-entry path: the walk's recursion calls this same function.
        if depth >= sanitize_module._MAX_DEPTH:
            return {sanitize_module.MAX_DEPTH: True}
        known = self._is_secret
        clean = self._clean
        if walk is None:
            if len(mapping) >= self._max_values:
                walk = sanitize_module._Walk(self._max_values, mapping)
            elif self._plain_keys.issuperset(mapping):
                # The per-entry common case first: every key known plain (one set test), every
                # value a string seen clean or a number. Anything else takes the full walk below.
                for value in mapping.values():
                    kind = type(value)
                    if kind is str:
                        if value not in clean:
                            break
                    elif kind not in sanitize_module._SCALARS:
                        break
                else:
                    return mapping
        changed: dict[Any, Any] | None = None
        done = 0
        # Per-entry path: the common cases (known key, short clean string, number) are inline.
        for key, value in mapping.items():
            if walk is not None:
                walk.budget -= 1
                if walk.budget < 0:
                    return self._cut(mapping, changed, done)
            done += 1
            secret = known.get(key)
            if secret is None:
                secret = self.key_class(key)
            if secret and (secret != SHAPED or sanitize_module.is_credential_shaped(value)):
                new: Any = REDACTED
            else:
                kind = type(value)
                if kind is str:
                    if len(value) <= sanitize_module._CLEAN_CACHE_LENGTH and value in clean:
                        continue
                    new = self.text(value)
                elif kind in sanitize_module._SCALARS:
                    continue
                else:
                    if walk is None:
                        walk = sanitize_module._Walk(self._max_values - done, mapping)
                    new = self._value(value, depth, walk)
            if new is not value:
                if changed is None:
                    changed = dict(mapping)
                changed[key] = new
        return mapping if changed is None else changed

    _fields = fields


@settings(max_examples=150)
@given(shared_structures(), st.sampled_from([5, 50, 1000]))
def test_the_walk_cleans_as_it_did_before_the_plain_key_branch(value, budget):
    """Sanitizer.fields gives the bytes the former walk gave, and the same object when nothing
    changed, for any structure (secret and plain keys, shared and cyclic nodes, any budget), on
    a first walk and on a second one with the keys' classes and the clean texts remembered."""
    new, former = Sanitizer(max_values=budget), _FormerSanitizer(max_values=budget)
    for _ in range(2):
        with guarded():
            got = new.fields({"value": value, "api_key": "k", "note": "n"})
            expected = former.fields({"value": value, "api_key": "k", "note": "n"})
        assert serializer.dumps(got) == serializer.dumps(expected)
        for mapping in (value if isinstance(value, dict) else {"v": value},):
            with guarded():
                same_new = new.fields(mapping) is mapping
                same_former = former.fields(mapping) is mapping
            assert same_new == same_former
