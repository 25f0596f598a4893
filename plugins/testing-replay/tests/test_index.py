"""The replay index on real trace files (written by llmlog's trace sessions in the dspy and rlm
formats, read back through the installed formats' readers): keys, parameters, queues, threads,
what cannot be replayed and the errors' wording."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import llmlog
from llmlog.testing import fed_pipe, isolated_environment
from llmlog_testing_replay import NotRecorded, ReplayError, ReplayIndex, Unreplayable


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path) -> Iterator[Path]:
    with isolated_environment(tmp_path):
        llmlog.configure({"outputs": {}})
        yield tmp_path


Call = tuple[list[dict[str, Any]] | str, dict[str, Any], str, int]


def write_trace(
    path: Path,
    calls: Sequence[Call],
    *,
    fmt: str = "dspy",
    model: str = "gpt-4o-mini",
    content: bool | None = None,
) -> Path:
    """One root span with one ``llm_call`` per ``(messages or prompt, params, response,
    prompt_tokens)``, written by a real trace session."""
    session = llmlog.new_trace_session(path, format=fmt, content=content)
    session.emit_span_start("a" * 16, None, "Predict", {"question": "q"})
    for number, (request, params, response, tokens) in enumerate(calls):
        span = f"{number + 1:016x}"
        session.emit_span_start(span, "a" * 16, f"LM:{model}", None)
        messages = request if isinstance(request, list) else None
        prompt = request if isinstance(request, str) else ""
        session.emit_llm_call(
            span,
            "openai",
            model,
            prompt,
            response,
            llmlog.TokenUsage(tokens, 2, cost=0.001 * (number + 1)),
            5,
            messages=messages,
            params=params,
        )
        session.emit_span_end(span, None, None, 5)
    session.emit_span_end("a" * 16, {"answer": "x"}, None, 10)
    session.close()
    return path


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": text}]


@pytest.mark.parametrize("fmt", ["dspy", "rlm"])
def test_each_recorded_call_answers_its_own_request_in_either_format(tmp_path, fmt):
    trace = write_trace(
        tmp_path / f"t.{fmt}.jsonl",
        [
            (user("2+2?"), {"temperature": 0.0}, "4", 11),
            (user("capital of France?"), {"temperature": 0.0}, "Paris", 12),
        ],
        fmt=fmt,
    )
    index = ReplayIndex.load(trace)
    assert index.models() == ["gpt-4o-mini"]
    found = index.take("openai/gpt-4o-mini", user("capital of France?"), {"temperature": 0.0})
    assert found.response == "Paris" and found.usage["prompt_tokens"] == 12
    assert found.cost == pytest.approx(0.002)
    assert index.take("gpt-4o-mini", user("2+2?"), {}).response == "4"


@pytest.mark.parametrize("kind", ["gzip", "zstd"])
def test_a_compressed_rotated_part_replays_as_the_plain_file(tmp_path, kind):
    import gzip

    import zstandard

    trace = write_trace(tmp_path / "t.jsonl", [(user("2+2?"), {}, "4", 11)])
    data = trace.read_bytes()
    part = tmp_path / "t.jsonl.1"
    part.write_bytes(
        gzip.compress(data) if kind == "gzip" else zstandard.ZstdCompressor().compress(data)
    )
    assert ReplayIndex.load(part).take("gpt-4o-mini", user("2+2?"), {}).response == "4"
    pipe = fed_pipe(tmp_path / "pipe", part.read_bytes())  # `<(cat t.jsonl.1)`
    assert ReplayIndex.load(pipe).take("gpt-4o-mini", user("2+2?"), {}).response == "4"
    part.write_bytes(part.read_bytes()[: len(part.read_bytes()) * 3 // 4])
    with pytest.raises(ReplayError, match=rf"^{part}: cannot decompress: "):
        ReplayIndex.load(part)


def test_a_plain_prompt_is_the_one_user_message(tmp_path):
    index = ReplayIndex.load(write_trace(tmp_path / "t.jsonl", [("say hi", {}, "hi", 2)]))
    assert index.take("gpt-4o-mini", [{"role": "user", "content": "say hi"}], {}).response == "hi"


def test_parameters_set_must_match_and_unset_ones_take_the_recorded_value(tmp_path):
    params = {"temperature": 0.7, "max_tokens": 100}
    trace = write_trace(tmp_path / "t.jsonl", [(user("q"), params, "a", 3)] * 3)
    index = ReplayIndex.load(trace)
    assert index.take("gpt-4o-mini", user("q"), {}).response == "a"
    assert index.take("gpt-4o-mini", user("q"), {"temperature": 0.7}).response == "a"
    with pytest.raises(NotRecorded, match=r"temperature: recorded 0\.7, asked 1\.0"):
        index.take("gpt-4o-mini", user("q"), {"temperature": 1.0})
    with pytest.raises(NotRecorded, match=r"max_tokens: recorded 100, asked \(not set\)"):
        index.take("gpt-4o-mini", user("q"), {"temperature": 0.7}, exact_params=True)


def test_the_same_request_recorded_several_times_is_a_queue_in_recorded_order(tmp_path):
    calls: list[Call] = [(user("roll"), {}, f"answer {i}", 1) for i in range(3)]
    index = ReplayIndex.load(write_trace(tmp_path / "t.jsonl", calls))
    assert [index.take("gpt-4o-mini", user("roll"), {}).response for _ in range(3)] == [
        "answer 0",
        "answer 1",
        "answer 2",
    ]
    with pytest.raises(NotRecorded, match="recorded 3 times .* asked once more"):
        index.take("gpt-4o-mini", user("roll"), {})
    assert index.take("gpt-4o-mini", user("roll"), {}, exhausted="repeat").response == "answer 2"
    index.reset()
    assert index.take("gpt-4o-mini", user("roll"), {}).response == "answer 0"
    assert [c.response for c in index.remaining()] == ["answer 1", "answer 2"]


def test_threads_taking_one_key_get_each_recorded_answer_once(tmp_path):
    calls: list[Call] = [(user("same"), {}, f"answer {i}", 1) for i in range(64)]
    calls += [(user(f"other {i}"), {}, f"other {i}", 1) for i in range(64)]
    index = ReplayIndex.load(write_trace(tmp_path / "t.jsonl", calls))
    got: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def worker(n: int) -> None:
        start.wait(timeout=30)
        for i in range(8):
            same = index.take("gpt-4o-mini", user("same"), {}).response
            other = index.take("gpt-4o-mini", user(f"other {n * 8 + i}"), {}).response
            with lock:
                got.extend([same, other])

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(got) == sorted(c[2] for c in calls)
    assert not index.remaining()


def test_a_request_not_recorded_names_the_closest_call_and_shows_the_difference(tmp_path):
    trace = write_trace(
        tmp_path / "t.jsonl",
        [
            (user("What is the capital of France?"), {}, "Paris", 1),
            (user("Completely unrelated text about cooking pasta."), {}, "Boil", 1),
        ],
    )
    index = ReplayIndex.load(trace)
    with pytest.raises(NotRecorded) as caught:
        index.take("gpt-4o-mini", user("What is the capital of Spain?"), {})
    message = str(caught.value)
    assert f"the closest recorded call is {trace}: call 1" in message
    assert "-    What is the capital of France?" in message
    assert "+    What is the capital of Spain?" in message
    assert "cooking" not in message and caught.value.closest is not None
    with pytest.raises(NotRecorded, match="model 'gpt-4o-mini', asked 'gpt-4o'"):
        index.take("gpt-4o", user("What is the capital of France?"), {})


def test_a_redacted_call_is_refused_not_answered(tmp_path):
    secret = "sk-proj-" + "A1b2C3d4E5f6G7h8I9j0" * 3
    trace = write_trace(
        tmp_path / "t.jsonl", [(user(f"use key {secret}"), {}, "ok", 1), (user("hi"), {}, "hi", 1)]
    )
    assert secret not in trace.read_text()  # redacted by default when written
    index = ReplayIndex.load(trace)
    with pytest.raises(Unreplayable, match=r"call 1: this request was recorded with its messa"):
        index.take("gpt-4o-mini", user(f"use key {secret}"), {})
    # Another secret of the same kind redacts alike: refused too, never answered "ok".
    with pytest.raises(Unreplayable, match=r"messages were redacted when recorded"):
        index.take("gpt-4o-mini", user(f"use key {secret.replace('A', 'B')}"), {})
    assert index.take("gpt-4o-mini", user("hi"), {}).response == "hi"


def test_a_capped_response_is_refused_even_when_the_request_matches(tmp_path):
    llmlog.configure({"outputs": {}, "max_string_length": 50})
    trace = write_trace(tmp_path / "t.jsonl", [(user("short"), {}, "long answer " * 20, 1)])
    index = ReplayIndex.load(trace)
    with pytest.raises(Unreplayable, match=r"response were capped \(max_string_length\)"):
        index.take("gpt-4o-mini", user("short"), {})


def test_a_trace_without_content_cannot_be_replayed(tmp_path):
    trace = write_trace(tmp_path / "t.jsonl", [(user("q"), {}, "a", 1)], content=False)
    index = ReplayIndex.load(trace)
    with pytest.raises(Unreplayable, match=r"without content \(\[trace\] content = false\)"):
        index.take("gpt-4o-mini", user("q"), {})


def test_files_that_are_no_trace_are_named(tmp_path):
    (tmp_path / "empty.jsonl").write_text("")
    (tmp_path / "notes.txt").write_text("hello\n")
    with pytest.raises(ReplayError, match=r"empty\.jsonl:1: empty file"):
        ReplayIndex.load(tmp_path / "empty.jsonl")
    with pytest.raises(ReplayError, match=r"notes\.txt:1: not a trace in any installed format"):
        ReplayIndex.load(tmp_path / "notes.txt")
    with pytest.raises(ReplayError, match=r"missing\.jsonl: cannot read"):
        ReplayIndex.load(tmp_path / "missing.jsonl")


_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | _text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=8,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    contents=st.lists(_text, min_size=1, max_size=3),
    extra=st.dictionaries(st.sampled_from(["name", "tool_call_id"]), _text, max_size=1),
    params=st.dictionaries(st.sampled_from(["temperature", "stop", "seed", "tools"]), _json),
)
def test_any_request_written_to_a_trace_is_found_again(tmp_path, contents, extra, params):
    # Whatever messages and parameters a trace file holds (no secret-shaped text: redaction
    # would refuse them), the live request that made them finds the recorded call.
    messages = [{"role": "user", "content": c, **extra} for c in contents]
    path = tmp_path / "prop.jsonl"
    path.unlink(missing_ok=True)
    write_trace(path, [(messages, params, "answer", 1)])
    index = ReplayIndex.load(path)
    call = index.calls[0]
    if call.unusable is not None:  # the sanitizer found a secret-shaped text: refused, named
        with pytest.raises(Unreplayable):
            index.take("gpt-4o-mini", messages, params)
        return
    assert index.take("gpt-4o-mini", messages, params).response == "answer"


def test_a_call_that_failed_when_recorded_is_left_out_and_its_retry_answers(tmp_path):
    session = llmlog.new_trace_session(tmp_path / "t.jsonl", format="dspy")
    for number, (response, error) in enumerate([("", "RateLimitError: slow down"), ("ok", None)]):
        span = f"{number + 1:016x}"
        session.emit_span_start(span, None, "LM:gpt-4o-mini", None)
        session.emit_llm_call(
            span, "openai", "gpt-4o-mini", "", response, None, 1, messages=user("q")
        )
        session.emit_span_end(span, None, error, 1)
    session.close()
    index = ReplayIndex.load(tmp_path / "t.jsonl")
    assert index.failed == 1 and len(index.calls) == 1
    assert index.take("gpt-4o-mini", user("q"), {}).response == "ok"
