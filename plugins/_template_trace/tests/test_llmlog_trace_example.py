import io
import json

import pytest

import llmlog
from llmlog.testing import check_trace_format, isolated_environment, run_cli, view_arguments
from llmlog_trace_example import ExampleTraceWriter, detect, read_trace, view


@pytest.fixture(autouse=True)
def isolated(tmp_path):
    with isolated_environment(tmp_path):
        yield tmp_path


def test_conformance(tmp_path):
    check_trace_format("example", tmp_path)


def write_session(directory):
    session = llmlog.new_trace_session(directory, format="example")
    with session, llmlog.span("answer") as s:
        s.llm_call(
            model="m",
            prompt="2+2?\x1b[2J",
            response="4",
            usage={"prompt_tokens": 2, "completion_tokens": 1},
        )
    return session.path


def test_a_session_reads_back_and_is_recognised(tmp_path):
    path = write_session(tmp_path)
    with path.open("rb") as fh:
        assert detect(fh.readline())
    events = list(read_trace(path))
    assert [e.type for e in events] == ["session", "span", "llm_call", "span"]
    assert events[2].data["usage"]["total_tokens"] == 3
    assert not detect(b'{"type":"session","trace_id":"x"}\n')  # a dspy trace is not ours


def test_a_bad_line_names_file_and_line_or_is_skipped(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b'{"example":1,"event":"nope"}\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:1: \"event\" is not one of"):
        list(read_trace(path))
    skipped: list[str] = []
    assert list(read_trace(path, skipped=skipped)) == []
    assert len(skipped) == 1


def test_the_view_flag_of_its_own_shows_only_the_calls(tmp_path):
    path = write_session(tmp_path)
    out = io.StringIO()
    assert view(path, view_arguments(calls=True, compact=True), out) == 0
    assert out.getvalue() == "  llm_call m 3 tokens\n"


def test_llmlog_view_and_convert_find_the_format(tmp_path, capsys):
    path = write_session(tmp_path)
    assert run_cli(["view", "--stats", str(path)]) == 0
    assert capsys.readouterr().out == "4 events, 1 LLM call, 3 tokens, 0 errors\n"
    assert (
        run_cli(["convert", str(path), "--to", "example", "-o", str(tmp_path / "copy.jsonl")]) == 0
    )
    copy = [json.loads(line) for line in (tmp_path / "copy.jsonl").read_text().splitlines()]
    assert [line["event"] for line in copy] == ["session", "span", "llm_call", "span"]


def test_a_file_is_never_overwritten(tmp_path):
    (tmp_path / "taken.jsonl").write_text("")
    with pytest.raises(FileExistsError):
        ExampleTraceWriter(tmp_path / "taken.jsonl")
