"""The ``rlm`` format: what it writes, how events become iterations, and reading every variant."""

from __future__ import annotations

import io
import json
import os
import re
import stat
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import llmlog
from llmlog import TokenUsage, TraceEvent, TraceEventType
from llmlog.ext import USAGE_DETAIL_FIELDS, ModuleInfo, get_current
from llmlog.testing import isolated_environment
from llmlog_trace_rlm import (
    CodeBlock,
    Iteration,
    RlmOptions,
    RlmReadError,
    RlmTraceSession,
    RlmTraceWriter,
    SubCall,
    read_rlm,
    to_events,
    tracing_interceptor_with_rlm,
)

FILE_NAME = re.compile(r"^rlm_\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d_[0-9a-f]{8}\.jsonl$")
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path):
    with isolated_environment(tmp_path):
        yield tmp_path


# -- what the readers in the wild demand (rlm-format.md §5) ----------------------------------------


def _is_int(value: Any) -> bool:
    """What Go's ``encoding/json`` decodes into an ``int``: an integer literal within 64 bits."""
    return isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def go_viewer_accepts(line: str) -> bool:
    """rlm-go's viewer: ``encoding/json`` into its typed structs drops the line on any wrong type."""
    try:  # Go's decoder refuses the bare NaN/Infinity that Python's json module accepts
        record = json.loads(
            line, parse_constant=lambda name: (_ for _ in ()).throw(ValueError(name))
        )
    except ValueError:
        return False
    if record["type"] == "metadata":
        return (
            isinstance(record.get("root_model"), str)
            and isinstance(record.get("timestamp", ""), str)
            and (record.get("max_iterations") is None or _is_int(record["max_iterations"]))
            and isinstance(record.get("backend"), str)
            and (record.get("backend_kwargs") is None or isinstance(record["backend_kwargs"], dict))
        )
    if record["type"] != "iteration" or not _is_int(record.get("iteration")):
        return False
    prompt = record.get("prompt")
    if prompt is not None and not (
        isinstance(prompt, list)
        and all(isinstance(m, dict) and isinstance(m.get("content"), str) for m in prompt)
    ):
        return False
    if not isinstance(record.get("response"), str) or not isinstance(record.get("timestamp"), str):
        return False
    if record.get("iteration_time") is not None and not _is_number(record["iteration_time"]):
        return False
    for block in record.get("code_blocks") or []:
        result = block["result"]
        if not isinstance(block.get("code"), str) or not isinstance(result.get("stdout"), str):
            return False
        if result.get("locals") is not None and not isinstance(result["locals"], dict):
            return False
        for call in result.get("rlm_calls") or []:
            if not (
                isinstance(call.get("prompt"), str)
                and isinstance(call.get("response"), str)
                and _is_int(call.get("prompt_tokens"))
                and _is_int(call.get("completion_tokens"))
                and _is_number(call.get("execution_time"))
            ):
                return False
    return True


def web_visualizer_accepts(lines: list[str]) -> bool:
    """The rlm web visualizer's ``parseLogFile``: throws when the first iteration's prompt is not a
    list of string-content messages, or when any iteration's ``code_blocks`` is missing."""
    iterations = [json.loads(x) for x in lines if json.loads(x).get("type") != "metadata"]
    if iterations:
        prompt = iterations[0].get("prompt")
        if not isinstance(prompt, list) or not all(
            isinstance(m.get("content"), str) for m in prompt if m.get("role") == "user"
        ):
            return False
    answers_ok = all(
        it.get("final_answer") is None
        or isinstance(it["final_answer"], str)
        or (
            isinstance(it["final_answer"], list)
            and len(it["final_answer"]) == 2
            and all(isinstance(x, str) for x in it["final_answer"])
        )
        for it in iterations
    )
    return answers_ok and all(isinstance(it.get("code_blocks"), list) for it in iterations)


# -- writing -----------------------------------------------------------------------------------------


def test_session_api_file_name_metadata_and_strict_types(tmp_path):
    session = RlmTraceSession(
        tmp_path / "runs",
        {
            "root_model": "gpt-4o",
            "max_iterations": 8,
            "backend": "openai",
            "backend_kwargs": {"model_name": "gpt-4o", "api_key": "sk-live-123"},
            "context": "é" * 600,
            "query": "What is in the context?",
        },
    )
    session.log_iteration(
        [{"role": "user", "content": "look"}],
        "```repl\nprint(len(context))\n```",
        [
            {
                "code": "print(len(context))",
                "result": {
                    "stdout": "600\n",
                    "stderr": "",
                    "locals": {"n": 600},
                    "execution_time": 0.25,
                    "rlm_calls": [
                        {
                            "prompt": "sum it",
                            "response": "ok",
                            "prompt_tokens": 7,
                            "completion_tokens": 2,
                        }
                    ],
                },
            }
        ],
        None,
        1.5,
    )
    session.log_llm_call("final?", "the answer", 11, 3, 0.4, model="gpt-4o")
    session.close()
    path = session.path
    assert FILE_NAME.match(path.name), path.name
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    lines = path.read_text().splitlines()
    meta, first, second = (json.loads(x) for x in lines)
    assert meta["type"] == "metadata" and RFC3339.match(meta["timestamp"])
    assert meta["backend_kwargs"] == {"model_name": "gpt-4o", "api_key": "[REDACTED]"}
    assert meta["context"] == "é" * 500 + "..." and meta["max_depth"] == 1
    assert meta["query"] == "What is in the context?" and meta["max_iterations"] == 8
    assert [first["iteration"], second["iteration"]] == [1, 2]
    assert first["code_blocks"][0]["result"]["rlm_calls"][0]["prompt_tokens"] == 7
    call = first["code_blocks"][0]["result"]["rlm_calls"][0]
    assert call["usage_summary"]["model_usage_summaries"]["unknown"]["total_input_tokens"] == 7
    # dspy-go's LogLLMCall dropped the tokens; here they reach every reader.
    (block,) = second["code_blocks"]
    assert block["result"]["rlm_calls"][0]["prompt_tokens"] == 11
    assert block["result"]["rlm_calls"][0]["completion_tokens"] == 3
    assert all(go_viewer_accepts(x) for x in lines)
    assert web_visualizer_accepts(lines)


def _events_program(session: llmlog.TraceSession) -> None:
    """An RLM-shaped run: two model turns, the first running code that calls a sub-LLM."""

    def llm(prompt: Any, response: str, p: int, c: int, cost: float | None = 0.001) -> None:
        ctx = get_current()
        session.emit_llm_call(
            ctx.span_id or "",
            "openai",
            "gpt-4o-mini",
            prompt,
            response,
            TokenUsage(p, c, cost=cost),
            20,
        )

    with llmlog.span("RLM", inputs={"question": "r in strawberry?"}) as root:
        with llmlog.span("Predict:generate_action"):
            llm([{"role": "user", "content": "count"}], "```repl\nprint(n)\n```", 10, 5)
        with llmlog.span("interpreter", inputs={"code": "print(n)"}) as ex:
            with llmlog.span("tool:llm_query"):
                llm("sub question", "sub answer", 4, 1, None)
            session.emit_code_exec(ex.span_id, 1, "print(n)", "3\n", "", {"n": 3}, 7)
        with llmlog.span("interpreter", inputs={"code": "1/0"}) as ex:
            ex.fail(ZeroDivisionError("division by zero"))
            ex.set_outputs(stdout="")
        with llmlog.span("Predict:generate_action"):
            llm([{"role": "user", "content": "count"}], "SUBMIT(3)", 12, 2)
        root.set_outputs(answer="3")


def test_events_become_iterations_with_blocks_sub_calls_and_final_answer(tmp_path):
    with llmlog.new_trace_session(tmp_path, format="rlm") as session:
        _events_program(session)
        path = session.writer.path
    run = read_rlm(path)
    assert run.metadata is not None
    assert run.metadata.root_model == "gpt-4o-mini" and run.metadata.backend == "openai"
    first, second = run.iterations
    assert first.prompt == [{"role": "user", "content": "count"}]
    assert first.root_call is not None and first.root_call.total_tokens == 15
    assert [b.code for b in first.code_blocks] == ["print(n)", "1/0"]
    ok, failed = first.code_blocks
    assert ok.stdout == "3\n" and ok.locals == {"n": 3} and ok.execution_time == 0.007
    assert [(c.prompt, c.response, c.total_tokens, c.cost) for c in ok.calls] == [
        ("sub question", "sub answer", 5, None)
    ]
    assert "division by zero" in failed.stderr and first.has_error
    assert second.response == "SUBMIT(3)" and second.final_answer == "3"
    assert second.code_blocks == [] and second.root_call is not None
    assert second.root_call.total_tokens == 14
    assert all(go_viewer_accepts(x) for x in path.read_text().splitlines())


def test_dspy_go_code_exec_with_listed_sub_calls(tmp_path):
    writer = RlmTraceWriter(tmp_path / "go.jsonl")
    t = 1_700_000_000_000_000_000
    writer.write(TraceEvent(TraceEventType.SESSION, t, "a" * 32, None, None, {}))
    writer.write(
        TraceEvent(
            TraceEventType.LLM_CALL,
            t + 1,
            "a" * 32,
            "s1",
            None,
            {"model": "m", "prompt": "p", "response": "r", "latency_ms": 5},
        )
    )
    writer.write(
        TraceEvent(
            TraceEventType.CODE_EXEC,
            t + 2,
            "a" * 32,
            "s1",
            None,
            {
                "iteration": 1,
                "code": "x",
                "stdout": "",
                "stderr": "boom",
                "duration_ms": 3,
                "sub_llm_calls": [
                    {"prompt": "q", "response": "a", "prompt_tokens": 2, "completion_tokens": 1}
                ],
                "final_answer": "done",
            },
        )
    )
    writer.close()
    (it,) = read_rlm(tmp_path / "go.jsonl").iterations
    assert it.final_answer == "done" and it.has_error
    assert [c.total_tokens for c in it.code_blocks[0].calls] == [3]


def test_no_content_mode_keeps_tokens_and_drops_text(tmp_path):
    with llmlog.new_trace_session(tmp_path, format="rlm", content=False) as session:
        _events_program(session)
        path = session.writer.path
    text = path.read_text()
    assert "count" not in text and "sub question" not in text and "print(n)" not in text
    first, second = read_rlm(path).iterations
    assert first.root_call is not None and first.root_call.total_tokens == 15
    assert [c.total_tokens for b in first.code_blocks for c in b.calls] == [5]
    assert second.root_call is not None and second.root_call.total_tokens == 14


def test_huge_fields_are_capped_with_a_marker_and_lines_stay_valid(tmp_path):
    writer = RlmTraceWriter(tmp_path / "big.jsonl", RlmOptions(max_line_bytes=64 * 1024))
    blocks = [CodeBlock("x" * 200_000, stdout="y" * 300_000, calls=[SubCall("z" * 100_000, "w")])]
    writer.log_iteration(
        Iteration(prompt=[{"role": "user", "content": "q" * 500_000}], code_blocks=blocks)
    )
    writer.close()
    for line in (tmp_path / "big.jsonl").read_bytes().splitlines():
        assert len(line) <= 64 * 1024
        record = json.loads(line)
    assert "…[truncated" in record["prompt"][0]["content"]
    assert "…[truncated" in record["code_blocks"][0]["result"]["stdout"]


def test_session_caps_and_redacts_like_any_session(tmp_path):
    llmlog.configure({"max_string_length": 100, "redact_keys": ["^internal_"]})
    with llmlog.new_trace_session(tmp_path, format="rlm") as session:
        session.emit_span_start("s", None, "root", {"code": "c" * 1000, "internal_token": "t"})
        session.emit_code_exec("s", 1, "c" * 1000, "o", "", {"api_key": "sk-1", "internal_x": 1}, 1)
        session.emit_span_end("s", None, None, 1)
        path = session.writer.path
    (it,) = read_rlm(path).iterations
    (block,) = it.code_blocks
    assert block.code.startswith("c" * 100 + "…[truncated 900 chars]")
    assert block.locals == {"api_key": "[REDACTED]", "internal_x": "[REDACTED]"}


def test_interceptor_with_rlm_real_parents_and_tokens(tmp_path):
    session = RlmTraceSession(tmp_path, {"root_model": "m"})
    intercept = tracing_interceptor_with_rlm(session)

    def inner_module(inputs):
        ctx = get_current()
        session.emit_llm_call(
            ctx.span_id or "", "p", "m", inputs["query"], "inner out", TokenUsage(5, 6), 2
        )
        return {"answer": "inner out"}

    def outer_module(inputs):
        nested = intercept({"query": "inner q"}, ModuleInfo("inner", "Predict"), inner_module)
        return {"answer": nested["answer"] + "!"}

    def plain_module(inputs):  # traces no LLM call: written as one iteration from its outputs
        return {"answer": "plain out", "usage": {"prompt_tokens": 8, "completion_tokens": 9}}

    intercept({"query": "outer q"}, ModuleInfo("outer", "ChainOfThought"), outer_module)
    intercept({"query": "plain q"}, ModuleInfo("plain", "Predict"), plain_module)
    session.close()
    iterations = read_rlm(session.path).iterations
    assert [it.response for it in iterations] == ["inner out", "plain out"]
    assert [it.root_call.total_tokens for it in iterations if it.root_call] == [11, 17]


def test_a_full_disk_is_reported_once_and_never_raised(tmp_path, capfd):
    writer = RlmTraceWriter("/dev/full")  # every write fails with ENOSPC
    session = llmlog.TraceSession(writer)
    session.emit_session({"root_model": "m"})
    for n in range(5):
        session.emit_llm_call("s", "p", "m", f"prompt {n}", "r", TokenUsage(1, 1), 1)
    session.close()
    err = capfd.readouterr().err
    assert "/dev/full" in err and err.count("No space left") == 1, err


# -- reading -----------------------------------------------------------------------------------------


def _write(path: Path, *records: Any) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


def test_reads_rlm_go_files_with_duplicated_call_lists_once(tmp_path):
    calls = [
        {
            "prompt": "a",
            "response": "1",
            "prompt_tokens": 3,
            "completion_tokens": 1,
            "execution_time": 0.1,
        },
        {
            "prompt": "b",
            "response": "2",
            "prompt_tokens": 4,
            "completion_tokens": 2,
            "execution_time": 0.2,
        },
    ]
    block = {
        "stdout": "",
        "stderr": "",
        "locals": {"x": 1},
        "execution_time": 0.5,
        "rlm_calls": calls,
    }
    path = _write(
        tmp_path / "go.jsonl",
        {
            "type": "metadata",
            "timestamp": "2026-01-02T03:04:05.123456789+01:00",
            "root_model": "m",
            "max_depth": 1,
            "max_iterations": 3,
            "backend": "openai",
            "backend_kwargs": None,
            "environment_type": "local",
            "environment_kwargs": {},
            "other_backends": None,
        },
        {
            "type": "iteration",
            "iteration": 1,
            "timestamp": "2026-01-02T03:04:06+01:00",
            "prompt": [{"role": "user", "content": "q"}],
            "response": "r",
            "code_blocks": [{"code": "one", "result": block}, {"code": "two", "result": block}],
            "final_answer": ["result", "42"],
            "iteration_time": 1.0,
        },
    )
    run = read_rlm(path)
    (it,) = run.iterations
    assert [len(b.calls) for b in it.code_blocks] == [2, 0]
    assert sum(c.total_tokens for c in it.calls) == 10
    assert it.final_answer == ["result", "42"]  # rlm-go's [variable, value], kept as a pair
    events = list(to_events(path))
    assert events[0].type is TraceEventType.SESSION


def test_reads_python_rlm_variants_nan_string_prompt_and_usage_summary(tmp_path):
    path = tmp_path / "py.jsonl"
    path.write_text(
        '{"type": "metadata", "timestamp": "2026-01-02T03:04:05.123456", "root_model": "gpt", "max_depth": 1, '
        '"max_iterations": 30, "backend": "openai", "backend_kwargs": {}, "environment_type": "local", '
        '"environment_kwargs": {}, "other_backends": null}\n'
        '{"type": "iteration", "iteration": 1, "timestamp": "2026-01-02T03:04:06.5", "prompt": "plain string", '
        '"response": "r", "code_blocks": [{"code": "c", "result": {"stdout": "", "stderr": "", "locals": {"v": NaN}, '
        '"execution_time": NaN, "rlm_calls": [{"root_model": "gpt-mini", "prompt": {"role": "user", "content": "sub"}, '
        '"response": "s", "usage_summary": {"model_usage_summaries": {"gpt-mini": {"total_calls": 1, '
        '"total_input_tokens": 9, "total_output_tokens": 4, "total_cost": 0.5}}, "total_cost": 0.5}, '
        '"execution_time": 0.2}], "final_answer": "fa"}}], "final_answer": "fa", "iteration_time": null}\n'
    )
    (it,) = read_rlm(path).iterations
    assert it.prompt == [{"role": "user", "content": "plain string"}]
    (call,) = it.code_blocks[0].calls
    assert (call.prompt, call.prompt_tokens, call.completion_tokens, call.cost, call.model) == (
        "sub",
        9,
        4,
        0.5,
        "gpt-mini",
    )
    assert it.code_blocks[0].locals == {"v": None} and it.iteration_time is None


def test_reads_dspy_go_module_iterations(tmp_path):
    path = _write(
        tmp_path / "dg.jsonl",
        {
            "type": "metadata",
            "timestamp": "2026-01-02T03:04:05Z",
            "root_model": "m",
            "max_depth": 1,
            "max_iterations": 0,
            "backend": "b",
            "backend_kwargs": None,
            "environment_type": "dspy-go",
            "environment_kwargs": {},
            "other_backends": None,
            "context": "ctx",
            "query": "q",
        },
        {
            "type": "iteration",
            "iteration": 1,
            "timestamp": "2026-01-02T03:04:06Z",
            "prompt": [{"role": "user", "content": "q"}],
            "response": "a",
            "code_blocks": [],
            "final_answer": None,
            "iteration_time": 0.3,
        },
    )
    run = read_rlm(path)
    assert run.metadata is not None and run.metadata.environment_type == "dspy-go"
    assert run.iterations[0].calls == []


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "not a JSON line"),
        ('["a"]', "expected a JSON object"),
        ('{"type": "span", "timestamp": "x"}', "not an RLM line"),
        (
            '{"type": "iteration", "iteration": "1", "code_blocks": []}',
            "iteration must be an integer",
        ),
        ('{"type": "iteration", "iteration": 1}', "no code_blocks"),
        (
            '{"type": "iteration", "iteration": 1, "code_blocks": {}}',
            "code_blocks must be an array",
        ),
        (
            '{"type": "iteration", "iteration": 1, "code_blocks": [{"code": "c", "result": {"rlm_calls": '
            '[{"prompt": "p", "prompt_tokens": 1.5}]}}]}',
            "prompt_tokens must be an integer",
        ),
        ('{"type": "metadata", "backend_kwargs": [1]}', "backend_kwargs must be an object"),
        (
            '{"type": "metadata", "timestamp": 1700000000}',
            "timestamp must be a string, got an integer",
        ),
        (
            '{"type": "iteration", "iteration": 1, "timestamp": 1.5, "code_blocks": []}',
            "timestamp must be a string",
        ),
        (
            '{"type": "iteration", "iteration": [1], "code_blocks": []}',
            "iteration must be an integer, got an array",
        ),
        (
            '{"type": "iteration", "iteration": 1e30, "code_blocks": []}',
            "iteration must be an integer",
        ),
        (
            '{"type": "iteration", "iteration": 9223372036854775808, "code_blocks": []}',
            "at most 64 bits",
        ),
        (
            '{"type": "iteration", "iteration": 1, "code_blocks": [], "iteration_time": 1e999}',
            "iteration_time must be a finite number",
        ),
        (
            '{"type": "iteration", "iteration": 1, "code_blocks": ["x"]}',
            "a code block must be an object, got a string",
        ),
        (
            '{"type": "iteration", "iteration": 1, "code_blocks": [{"code": 1}]}',
            "code must be a string, got an integer",
        ),
        (
            '{"type": "iteration", "iteration": 1, "code_blocks": [{"code": "c", "result": {"locals": "x"}}]}',
            "locals must be an object",
        ),
        (
            '{"type": "iteration", "iteration": 1, "code_blocks": [], "root_call": []}',
            "an rlm_calls entry must be an object, got an array",
        ),
        (
            '{"type": {"a": 1}, "code_blocks": []}',
            'type must be "metadata" or "iteration", got an object',
        ),
        (
            '{"type": "iteration", "iteration": 1, "code_blocks": [{"code": "c", "result": {"rlm_calls": '
            '[{"usage_summary": {"model_usage_summaries": {"m": {"total_input_tokens": "9"}}}}]}}]}',
            "total_input_tokens must be an integer, got a string",
        ),
    ],
)
def test_bad_lines_name_file_and_line(tmp_path, line, message):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"type": "metadata"}\n\n' + line + "\n")
    with pytest.raises(RlmReadError) as caught:
        read_rlm(path)
    assert f"{path}:3:" in str(caught.value) and message in str(caught.value)
    skipped: list[str] = []
    read_rlm(path, skipped=skipped)
    assert len(skipped) == 1


# -- properties --------------------------------------------------------------------------------------

text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
calls = st.builds(
    SubCall,
    prompt=text,
    response=text,
    prompt_tokens=st.integers(0, 10**6),
    completion_tokens=st.integers(0, 10**6),
    execution_time=st.floats(0, 1e4, allow_nan=False),
    model=st.none() | st.text("abcdef-", min_size=1, max_size=8),
    cost=st.none() | st.floats(0, 100, allow_nan=False),
)
blocks = st.builds(
    CodeBlock,
    code=text.filter(lambda s: s != "# LLM call (no code executed)"),
    stdout=text,
    stderr=text,
    # (integers beyond 64 bits are written as strings, as no JSON reader in Go or JS keeps them)
    locals=st.dictionaries(
        st.text("xyz", min_size=1, max_size=3), st.integers(-(2**63), 2**63 - 1) | text, max_size=3
    ),
    execution_time=st.floats(0, 1e4, allow_nan=False),
    calls=st.lists(calls, max_size=3, unique_by=lambda c: c.key()),
)
iterations = st.builds(
    Iteration,
    prompt=st.lists(
        st.fixed_dictionaries(
            {"role": st.sampled_from(["system", "user", "assistant"]), "content": text}
        ),
        min_size=1,
        max_size=3,
    ),
    response=text,
    code_blocks=st.lists(blocks, max_size=3),
    final_answer=st.none() | text,
    iteration_time=st.none() | st.floats(0, 1e4, allow_nan=False),
    root_call=st.none() | calls,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(items=st.lists(iterations, min_size=1, max_size=4))
def test_what_is_written_reads_back_and_every_reader_accepts_it(tmp_path, items):
    path = tmp_path / f"prop-{os.urandom(4).hex()}.jsonl"
    writer = RlmTraceWriter(path)
    for item in items:
        writer.log_iteration(item)
    writer.close()
    _check_lines(path)  # valid UTF-8, one record per line, every reader takes every line
    back = read_rlm(path).iterations
    assert len(back) == len(items)
    for wrote, read in zip(items, back, strict=True):
        # (two blocks with the same calls keep them: only rlm-go's files repeat one list)
        assert read.prompt == wrote.prompt and read.response == wrote.response
        assert read.code_blocks == wrote.code_blocks
        assert read.final_answer == wrote.final_answer
        assert read.iteration_time == wrote.iteration_time
        assert read.root_call == wrote.root_call


# -- every line for every reader, whatever the program hands over ----------------------------------

MAX_INT = 2**53 - 1


def written_as_readers_need(line: str) -> bool:
    """What llmlog promises beyond what each reader accepts: every integer field is a JSON
    integer 0..2^53-1 (exact in ``JSON.parse`` too) and every time a number (never ``null``,
    which readers take as no time), ``max_iterations``/``max_depth`` included."""
    record = json.loads(line)

    def count(value: Any) -> bool:
        return _is_int(value) and 0 <= value <= MAX_INT

    def number(value: Any) -> bool:
        return _is_number(value) and value >= 0

    if record["type"] == "metadata":
        return count(record["max_iterations"]) and count(record["max_depth"])
    calls = [c for b in record["code_blocks"] for c in b["result"]["rlm_calls"]]
    calls += [record["root_call"]] if "root_call" in record else []
    return (
        count(record["iteration"])
        and (record["iteration_time"] is None or number(record["iteration_time"]))
        and all(number(b["result"]["execution_time"]) for b in record["code_blocks"])
        and all(
            count(c["prompt_tokens"])
            and count(c["completion_tokens"])
            and number(c["execution_time"])
            and c["usage_summary"].get("total_cost", 0) == c["usage_summary"].get("total_cost", 0)
            for c in calls
        )
    )


def _check_lines(path: Path) -> list[str]:
    lines = path.read_bytes().decode("utf-8").splitlines()  # valid UTF-8
    assert all(go_viewer_accepts(x) for x in lines), lines
    assert web_visualizer_accepts(lines)
    assert all(written_as_readers_need(x) for x in lines), lines
    return lines


BAD = "\ud800"  # a lone surrogate: not encodable as UTF-8


def test_a_lone_surrogate_anywhere_costs_only_itself(tmp_path, capfd):
    session = RlmTraceSession(tmp_path, {"root_model": f"m{BAD}", "query": f"q{BAD}"})
    session.log_iteration(
        [{"role": "user", "content": f"prompt {BAD} text"}],
        f"response {BAD} text",
        [
            {
                "code": f"print({BAD!r})",
                "result": {
                    "stdout": f"out {BAD}",
                    "stderr": f"err {BAD}",
                    "locals": {f"k{BAD}": f"v{BAD}", "n": 3},
                    "execution_time": 0.5,
                    "rlm_calls": [
                        {"prompt": f"sub {BAD}", "response": f"r {BAD}", "prompt_tokens": 2}
                    ],
                },
            }
        ],
        f"answer {BAD}",
        1.0,
    )
    session.log_llm_call(f"p {BAD}", f"r {BAD}", 3, 4, 0.1, model=f"gpt{BAD}")
    with llmlog.span("root", inputs={"code": f"x = {BAD!r}"}) as ex:
        session.emit_code_exec(ex.span_id, 1, f"x {BAD}", "", "", {"v": BAD}, 1)
    session.close()
    lines = _check_lines(session.path)
    assert "unserializable" not in "".join(lines)
    first, second, third = read_rlm(session.path).iterations
    assert first.prompt[0]["content"] == "prompt \\ud800 text"
    assert first.response == "response \\ud800 text" and first.final_answer == "answer \\ud800"
    (block,) = first.code_blocks
    assert (block.stdout, block.stderr) == ("out \\ud800", "err \\ud800")
    assert block.locals == {"k\\ud800": "v\\ud800", "n": 3}
    assert block.calls[0].prompt == "sub \\ud800" and block.calls[0].prompt_tokens == 2
    assert second.root_call is not None and second.root_call.model == "gpt\\ud800"
    assert third.code_blocks[0].code == "x \\ud800"
    assert "llmlog:" not in capfd.readouterr().err
    for flags in ([], ["--stats"], ["--final"], ["--export", str(tmp_path / "x.md")]):
        assert cli_main(["view", str(session.path), *flags]) == 0
    assert cli_main(["convert", str(session.path), "--to", "dspy", "-o", str(tmp_path)]) == 0


def cli_main(argv: list[str]) -> int:
    """``llmlog`` in this process (stdout kept from the test's output)."""
    import contextlib
    import io

    from llmlog.testing import run_cli

    with contextlib.redirect_stdout(io.StringIO()):
        return run_cli(argv)


HUGE = 10**30


def test_numbers_no_reader_decodes_are_written_in_range_and_reported_once(tmp_path, capfd):
    session = RlmTraceSession(tmp_path, {"max_iterations": 2**70})
    session.log_iteration(
        "q",
        "r",
        [
            {
                "code": "c",
                "result": {
                    "execution_time": float("nan"),
                    "rlm_calls": [
                        {
                            "prompt": "p",
                            "prompt_tokens": HUGE,
                            "completion_tokens": -5,
                            "execution_time": float("inf"),
                            "cost": float("nan"),
                        },
                        {"prompt": "p2", "prompt_tokens": 2**60, "completion_tokens": 1.5},
                    ],
                },
            }
        ],
        None,
        float("nan"),
    )
    session.log_llm_call("q", "r", HUGE, float("inf"), 0.5, cost=float("nan"))
    session.emit_llm_call("s", "p", "m", "q", "r", TokenUsage(HUGE, 2**64 + 1), 5)
    session.writer.log_iteration(Iteration(root_call=SubCall(prompt_tokens=float("nan"))))  # type: ignore[arg-type]
    session.close()
    lines = _check_lines(session.path)
    meta, first, second, third, fourth = (json.loads(x) for x in lines)
    assert meta["max_iterations"] == MAX_INT
    result = first["code_blocks"][0]["result"]
    assert result["execution_time"] == 0.0 and first["iteration_time"] == 0.0
    big, sixty = result["rlm_calls"]
    assert (big["prompt_tokens"], big["completion_tokens"], big["execution_time"]) == (
        MAX_INT,
        0,
        0.0,
    )
    assert "total_cost" not in big["usage_summary"]
    assert (sixty["prompt_tokens"], sixty["completion_tokens"]) == (MAX_INT, 1)
    own = second["code_blocks"][0]["result"]["rlm_calls"][0]
    assert (own["prompt_tokens"], own["completion_tokens"]) == (MAX_INT, MAX_INT)
    call = third["code_blocks"][0]["result"]["rlm_calls"][0]
    assert (call["prompt_tokens"], call["completion_tokens"]) == (MAX_INT, MAX_INT)
    assert fourth["code_blocks"][0]["result"]["rlm_calls"][0]["prompt_tokens"] == 0
    err = capfd.readouterr().err
    assert err.count("llmlog: rlm trace") == 1 and "max_iterations=" in err, err
    assert session.writer.clamped >= 12 and session.failures == 0


def test_trace_calls_never_raise_on_odd_numbers_or_types(tmp_path, capfd):
    from datetime import timedelta

    session = RlmTraceSession(tmp_path)
    for latency in (float("nan"), float("inf"), -1.0, 10**400, timedelta(seconds=2), "fast"):
        session.log_llm_call("q", "r", 1, 1, latency)  # type: ignore[arg-type]
    session.log_llm_call("q", "r", "many", None, 0.1)  # type: ignore[arg-type]
    session.log_iteration("q", "r", [{"code": "c", "result": {"execution_time": "slow"}}])
    session.log_iteration("q", "r", ["not a block", 3], iteration_time=float("-inf"))  # type: ignore[list-item]
    session.log_iteration("q", "r", iteration_time=timedelta(seconds=1.5))
    session.close()
    lines = _check_lines(session.path)
    iterations = [json.loads(x) for x in lines[1:]]
    latencies = [it["code_blocks"][0]["result"]["execution_time"] for it in iterations[:7]]
    assert latencies == [0.0, 0.0, 0.0, 0.0, 2.0, 0.0, 0.1]
    assert iterations[6]["code_blocks"][0]["result"]["rlm_calls"][0]["prompt_tokens"] == 0
    assert iterations[7]["code_blocks"][0]["result"]["execution_time"] == 0.0
    assert [b["code"] for b in iterations[8]["code_blocks"]] == ["not a block", "3"]
    assert iterations[9]["iteration_time"] == 1.5
    assert session.failures == 0
    assert capfd.readouterr().err.count("llmlog: rlm trace") == 1


def test_metadata_always_has_integer_max_iterations_and_max_depth(tmp_path):
    files = []
    session = RlmTraceSession(tmp_path / "a")
    session.log_llm_call("q", "r", 1, 1, 0.1)
    session.close()
    files.append(session.path)
    with llmlog.new_trace_session(tmp_path / "b", format="rlm") as traced:
        traced.emit_llm_call("s", "p", "m", "q", "r", TokenUsage(1, 1), 5)
    files.append(traced.writer.path)
    with llmlog.new_trace_session(tmp_path / "c", format="rlm") as empty:
        empty.emit_session({"max_iterations": None, "max_depth": "deep"})
    files.append(empty.writer.path)
    for path in files:
        meta = json.loads(path.read_text().splitlines()[0])
        assert (meta["max_iterations"], meta["max_depth"]) == (0, 1), path


def test_describe_run_fills_what_the_session_did_not_say(tmp_path):
    writer = RlmTraceWriter(tmp_path / "d.jsonl")
    session = llmlog.TraceSession(writer)
    session.emit_session({"query": "from the program"})
    writer.describe_run({"max_iterations": 3, "query": "from the module", "nonsense": 1})
    session.emit_llm_call("s", "p", "m", "q", "r", TokenUsage(1, 1), 5)
    writer.describe_run({"max_iterations": 9})  # the metadata line is written: too late
    session.close()
    meta = json.loads((tmp_path / "d.jsonl").read_text().splitlines()[0])
    assert (meta["max_iterations"], meta["query"]) == (3, "from the program")


def test_a_program_that_makes_no_llm_call_writes_one_iteration_per_root(tmp_path):
    @llmlog.traced()
    def predict(question: str) -> str:
        return "42"

    with llmlog.new_trace_session(tmp_path, format="rlm") as session:
        # The tracing example of docs/tracing.md.
        with llmlog.span("evaluate", inputs={"examples": 20}) as root:
            predict("6 x 7?")
            root.set_outputs(score=0.85)
        with llmlog.span("run code", inputs={"task": "sum"}) as root:
            with llmlog.span("execute", inputs={"code": "print(1 + 2)"}) as ex:
                session.emit_code_exec(ex.span_id, 1, "print(1 + 2)", "3\n", "", {"n": 3}, 4)
            root.set_outputs(answer="3")
        with pytest.raises(ValueError), llmlog.span("failing", inputs={"x": 1}):
            raise ValueError("bad input")
        session.emit_span_start("0000000000000009", None, "never ended", {"y": 2})
        path = session.writer.path
    _check_lines(path)
    evaluate, code, failing, unfinished = read_rlm(path).iterations
    assert evaluate.prompt == [
        {"role": "system", "content": "evaluate"},
        {"role": "user", "content": '{"examples":20}'},
    ]
    assert evaluate.response == '{"score":0.85}' and evaluate.final_answer == "0.85"
    assert evaluate.iteration_time is not None and evaluate.code_blocks == []
    assert code.prompt[0]["content"] == "run code" and code.final_answer == "3"
    assert [(b.code, b.stdout) for b in code.code_blocks] == [("print(1 + 2)", "3\n")]
    assert "error: bad input" in failing.response and failing.final_answer is None
    assert unfinished.prompt[0]["content"] == "never ended" and unfinished.response == ""
    assert [it.iteration for it in (evaluate, code, failing, unfinished)] == [1, 2, 3, 4]
    out = io.StringIO()
    from llmlog.testing import view_arguments
    from llmlog_trace_rlm.view import view

    assert view(path, view_arguments(final=True), out) == 0 and out.getvalue() == "0.85\n"


def test_summaries_count_in_the_singular_and_plural(tmp_path):
    writer = RlmTraceWriter(tmp_path / "one.jsonl")
    priced = SubCall("a", "b", 1, 1, cost=0.5)
    unpriced = SubCall("c", "d", 1, 1)
    writer.log_iteration(
        Iteration(
            prompt=[{"role": "user", "content": "q"}],
            code_blocks=[CodeBlock("x", calls=[priced, unpriced])],
        )
    )
    writer.close()
    from llmlog.testing import view_arguments
    from llmlog_trace_rlm.view import view

    out = io.StringIO()
    view(tmp_path / "one.jsonl", view_arguments(), out)
    assert "1 iteration, 1 code block, 2 LLM calls, 4 tokens" in out.getvalue()
    assert "(+ 1 call of unknown price)" in out.getvalue()
    stats = io.StringIO()
    view(tmp_path / "one.jsonl", view_arguments(stats=True), stats)
    assert "(1 call of unknown price)" in stats.getvalue()


def test_a_line_too_long_even_with_strings_cut_keeps_its_shape(tmp_path, capfd):
    writer = RlmTraceWriter(tmp_path / "wide.jsonl", RlmOptions(max_line_bytes=64 * 1024))
    wide = {f"v{n}": n for n in range(20_000)}  # no long string to cut
    writer.log_iteration(Iteration(code_blocks=[CodeBlock("x", locals=wide)], final_answer="42"))
    writer.log_iteration(Iteration(response="\x9b" * 30_000))  # 2 bytes each, 6 escaped
    writer.close()
    lines = _check_lines(tmp_path / "wide.jsonl")
    assert all(len(x.encode()) <= 64 * 1024 for x in lines)
    first, second = read_rlm(tmp_path / "wide.jsonl").iterations
    assert first.final_answer == "42" and "bytes not written" in first.response
    assert second.response.startswith("\x9b") and "…[truncated" in second.response
    assert writer.oversized == 1 and capfd.readouterr().err.count("passed max_line_bytes") == 1


def test_loose_fields_are_read_leniently(tmp_path):
    """What the format leaves loose (Python rlm's prompt shapes, usage summaries, answers of any
    type, null for any field as Go reads it) is read, not refused."""
    path = _write(
        tmp_path / "loose.jsonl",
        {"type": "metadata", "max_depth": None, "max_iterations": None, "root_model": ["m"]},
        {
            "type": "iteration",
            "iteration": None,
            "prompt": {"messages": [{"role": None, "content": [{"text": "part"}, 3]}]},
            "response": {"text": "r"},
            "code_blocks": [
                {
                    "code": None,
                    "result": {
                        "stdout": 5,
                        "rlm_calls": [
                            {"prompt": ["a", {"content": "b"}], "usage_summary": [1, 2]},
                            {"usage_summary": {"model_usage_summaries": [1]}},
                        ],
                    },
                }
            ],
            "final_answer": {"answer": 42},
        },
    )
    run = read_rlm(path)
    assert run.metadata is not None and run.metadata.max_iterations == 0
    assert run.metadata.max_depth == 1 and run.metadata.root_model == "m"
    (it,) = run.iterations
    assert it.prompt == [{"role": "user", "content": "part\n3"}] and it.final_answer == "42"
    assert it.code_blocks[0].stdout == "5" and it.code_blocks[0].calls[0].prompt == "a\n\nb"


def test_a_sub_call_traced_and_listed_in_sub_llm_calls_counts_once(tmp_path):
    """dspy-go writes a code execution's sub-calls in ``sub_llm_calls`` and may also trace them
    as ``llm_call`` events in its span: one call, counted once."""
    with llmlog.new_trace_session(tmp_path, format="rlm") as session:
        with llmlog.span("RLM"):
            with llmlog.span("Predict"):
                session.emit_llm_call(
                    get_current().span_id or "", "p", "m", "q", "r", TokenUsage(5, 5), 1
                )
            with llmlog.span("execute", inputs={"code": "llm_query('a')"}) as ex:
                with llmlog.span("llm_query"):
                    session.emit_llm_call(
                        get_current().span_id or "", "p", "m", "a", "b", TokenUsage(2, 1), 1
                    )
                listed = [
                    {"prompt": "a", "response": "b", "prompt_tokens": 2, "completion_tokens": 1},
                    {"prompt": "c", "response": "d", "prompt_tokens": 4, "completion_tokens": 4},
                ]
                session.emit_code_exec(ex.span_id, 1, "llm_query('a')", "", "", None, 3, listed)
        path = session.writer.path
    (it,) = read_rlm(path).iterations
    assert [(c.prompt, c.total_tokens) for c in it.code_blocks[0].calls] == [("a", 3), ("c", 8)]
    assert sum(c.total_tokens for c in it.calls) == 21


def test_cached_and_reasoning_tokens_are_written_read_back_and_converted(tmp_path):
    """Detail counts ride beside ``prompt_tokens`` in ``rlm_calls`` (readers that do not know
    them ignore them), come back through ``read_rlm`` and reach the dspy events of a conversion."""
    with llmlog.new_trace_session(tmp_path, format="rlm") as session:
        with llmlog.span("RLM"), llmlog.span("Predict:generate_action") as predict:
            session.emit_llm_call(
                predict.span_id,
                "openai",
                "o3",
                "q",
                "SUBMIT(1)",
                TokenUsage(30, 12, cache_read_tokens=20, reasoning_tokens=8),
                5,
            )
        path = session.writer.path
    lines = path.read_text().splitlines()
    assert all(go_viewer_accepts(x) for x in lines)
    (iteration,) = read_rlm(path).iterations
    assert iteration.root_call is not None
    assert iteration.root_call.details == {"cache_read_tokens": 20, "reasoning_tokens": 8}
    usages = [e.data["usage"] for e in to_events(path) if e.type == "llm_call"]
    counts = {"prompt_tokens", "completion_tokens", "total_tokens"} | set(USAGE_DETAIL_FIELDS)
    assert [{k: v for k, v in u.items() if k in counts} for u in usages] == [
        {
            "prompt_tokens": 30,
            "completion_tokens": 12,
            "total_tokens": 42,
            "cache_read_tokens": 20,
            "reasoning_tokens": 8,
        }
    ]
    # the price's provenance rides along: its source with a cost, or why it is unknown
    (usage,) = usages
    assert ("cost" in usage and usage["cost_source"]) or usage["cost_unknown"]
    # a malformed detail is ignored, as an unknown key is, never a rejected line
    odd = json.loads(lines[-1])
    (written,) = odd["code_blocks"][0]["result"]["rlm_calls"]
    assert (written["cache_read_tokens"], written["reasoning_tokens"]) == (20, 8)
    written["reasoning_tokens"] = "lots"
    bad = tmp_path / "odd.jsonl"
    bad.write_text("\n".join([*lines[:-1], json.dumps(odd)]) + "\n")
    (again,) = read_rlm(bad).iterations
    assert again.root_call is not None
    assert again.root_call.details == {"cache_read_tokens": 20}
