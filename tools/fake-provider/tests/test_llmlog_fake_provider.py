"""The fake server answers as OpenAI's chat completions do, counting words as tokens."""

import json
import urllib.request

import pytest

from llmlog_fake_provider import FakeOpenAI, prompt_text, words


def test_a_request_is_answered_with_word_counts_as_usage():
    with FakeOpenAI(lambda request: f"you said {prompt_text(request)}") as server:
        body = {
            "model": "m",
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": [{"type": "text", "text": "hello there"}]},
            ],
        }
        request = urllib.request.Request(
            f"{server.base_url}/chat/completions",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            reply = json.load(response)
    assert server.requests == [body]
    assert reply["choices"][0]["message"] == {
        "role": "assistant",
        "content": "you said be brief\nhello there",
    }
    assert reply["usage"] == {"prompt_tokens": 4, "completion_tokens": 6, "total_tokens": 10}
    assert reply["model"] == "m" and words(" a  b ") == 2


def _post(server: FakeOpenAI, body: dict) -> tuple[int, dict]:
    import urllib.error

    request = urllib.request.Request(
        f"{server.base_url}/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def test_record_then_replay_serves_the_recorded_answers_and_names_what_was_not_recorded(tmp_path):
    import openai

    from llmlog.testing import isolated_environment

    trace = tmp_path / "calls.jsonl"
    asked = [
        {"model": "m", "messages": [{"role": "user", "content": "one two"}], "temperature": 0},
        {"model": "m", "messages": [{"role": "user", "content": "one two"}], "temperature": 0},
        {"model": "m", "messages": [{"role": "user", "content": "three"}], "max_tokens": 5},
    ]
    answers = iter(["first answer", "second answer here", "third"])
    with isolated_environment(tmp_path):
        with FakeOpenAI(lambda request: next(answers), cached_tokens=1, record=trace) as server:
            recorded = [_post(server, body)[1] for body in asked]
        # A program calling the API directly (the openai client), against the replaying server.
        with FakeOpenAI.replaying(trace) as server:
            client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)
            replayed = [
                client.chat.completions.create(**body).model_dump(exclude_none=True)
                for body in asked
            ]
            with pytest.raises(openai.BadRequestError) as caught:
                client.chat.completions.create(
                    model="m", messages=[{"role": "user", "content": "one two!"}], temperature=0
                )
            status, error = _post(server, {**asked[2], "max_tokens": 6})
    # Same request twice: the recorded answers in recorded order.
    assert [r["choices"][0]["message"]["content"] for r in replayed] == [
        "first answer",
        "second answer here",
        "third",
    ]
    # The recorded usage, cached tokens included.
    assert [r["usage"] for r in replayed] == [r["usage"] for r in recorded]
    assert replayed[0]["usage"]["prompt_tokens_details"] == {"cached_tokens": 1}
    message = caught.value.body["message"]  # type: ignore[index]
    assert "calls.jsonl: call 1" in message and "-    one two" in message
    assert "+    one two!" in message
    assert status == 400 and "max_tokens: recorded 5, asked 6" in error["error"]["message"]
