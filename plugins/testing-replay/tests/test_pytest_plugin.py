"""The pytest plugin, run for real: pytest in a subprocess (pytester) on a test file whose DSPy
program calls the loopback fake provider through ``dspy.LM`` (LiteLLM over HTTP); recorded with
``--llmlog-record``, then replayed offline."""

from __future__ import annotations

import json

import pytest

pytest_plugins = ["pytester"]

TEST_FILE = """
import json
import os
import urllib.request

import dspy
import pytest
from llmlog_fake_provider import FakeOpenAI

QUESTION = os.environ.get("QUESTION", "What is 2+2?")


@pytest.fixture(scope="module")
def provider():
    answer = "[[ ## answer ## ]]\\n4\\n\\n[[ ## completed ## ]]"
    with FakeOpenAI(lambda request: answer) as server:
        yield server


def real_lm(provider):
    return lambda: dspy.LM(
        "openai/fake-model", api_base=provider.base_url, api_key="unused", temperature=0,
        cache=False, num_retries=0,
    )


@pytest.mark.llmlog_replay("traces/qa.jsonl")
def test_qa(llmlog_replay, provider):
    llmlog_replay.use(real_lm(provider))
    assert dspy.Predict("question -> answer")(question=QUESTION).answer == "4"
    if not llmlog_replay.recording:
        assert provider.requests == []  # answered from the recording, offline
    print("MODE", llmlog_replay.mode)


@pytest.mark.llmlog_replay("traces/qa.jsonl")
def test_an_lm_left_unreplaced_cannot_reach_the_network(llmlog_replay, provider):
    llmlog_replay.use(real_lm(provider))
    with dspy.context(lm=real_lm(provider)()):  # a second LM the test forgot to replace
        dspy.Predict("question -> answer")(question="leak?")


def test_without_the_fixture_nothing_changes(provider):
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).encode()
    request = urllib.request.Request(
        provider.base_url + "/chat/completions", data=body,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
"""


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    for name in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        monkeypatch.setenv(name, str(pytester.path / name.lower()))
    monkeypatch.delenv("LLMLOG_CONFIG", raising=False)
    pytester.makepyfile(test_program=TEST_FILE)
    return pytester


def run(project: pytest.Pytester, *args: str) -> pytest.RunResult:
    return project.runpytest_subprocess("-p", "no:cacheprovider", "-s", *args, timeout=300)


@pytest.mark.slow
def test_record_then_replay_offline_then_a_changed_prompt_fails_naming_the_difference(
    project, monkeypatch
):
    recorded = run(project, "--llmlog-record", "-k", "test_qa or without")
    recorded.assert_outcomes(passed=2)
    trace = project.path / "traces" / "qa.jsonl"
    calls = [json.loads(x) for x in trace.read_text().splitlines()]
    (call,) = [c["data"] for c in calls if c["type"] == "llm_call"]
    assert call["model"] == "fake-model" and call["params"]["temperature"] == 0
    assert "api_key" not in call["params"] and "api_base" not in call["params"]
    assert not (project.path / "traces" / ".qa.jsonl.recording").exists()

    replayed = run(project)
    replayed.assert_outcomes(passed=2, failed=1)
    assert "MODE replay" in replayed.stdout.str()
    # The forgotten LM reached for the network and was refused; the plain test was untouched.
    replayed.stdout.fnmatch_lines(["*network access in a replayed test*"])

    monkeypatch.setenv("QUESTION", "What is 3+3?")
    changed = run(project, "-k", "test_qa")
    changed.assert_outcomes(failed=1)
    changed.stdout.fnmatch_lines(
        [
            "*NotRecorded: LM request not recorded in*qa.jsonl*",
            "*-    What is 2+2?",
            "*+    What is 3+3?",
        ]
    )


@pytest.mark.slow
def test_a_missing_recording_says_how_to_make_it_and_a_failed_recording_keeps_the_old(
    project, monkeypatch
):
    missing = run(project, "-k", "test_qa")
    missing.assert_outcomes(failed=1)
    missing.stdout.fnmatch_lines(
        ["*llmlog_replay: no recording at *qa.jsonl; run pytest --llmlog-record once*"]
    )
    run(project, "--llmlog-record", "-k", "test_qa").assert_outcomes(passed=1)
    trace = project.path / "traces" / "qa.jsonl"
    before = trace.read_bytes()
    # A recording whose test fails is not kept: the file still holds the last good one.
    monkeypatch.setenv("QUESTION", "What is 3+3?")
    project.makepyfile(
        test_fails=TEST_FILE.replace('== "4"', '== "5"').replace("test_qa", "test_qa_fails")
    )
    run(project, "--llmlog-record", "-k", "test_qa_fails").assert_outcomes(failed=1)
    assert trace.read_bytes() == before
    assert not list((project.path / "traces").glob(".*.recording"))


def test_installed_it_registers_and_stays_out_of_tests_that_do_not_use_it(pytester):
    pytester.makepyfile(
        test_plain="""
        import socket
        import sys


        def test_plain():
            # no DSPy imported by the plugin, and sockets connect as usual
            assert "dspy" not in sys.modules
            server = socket.socket()
            server.bind(("127.0.0.1", 0))
            server.listen(1)
            client = socket.create_connection(server.getsockname(), timeout=10)
            client.close()
            server.close()
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--markers", timeout=120)
    result.stdout.fnmatch_lines(["@pytest.mark.llmlog_replay(path, *, offline=True*"])
    helped = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--help", timeout=120)
    helped.stdout.fnmatch_lines(["*--llmlog-record*"])
    pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=120).assert_outcomes(passed=1)
