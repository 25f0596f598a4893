"""The fake server answers as OpenAI's chat completions do, counting words as tokens."""

import json
import urllib.request

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
