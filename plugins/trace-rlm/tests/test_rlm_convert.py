"""``llmlog convert`` between the ``rlm`` and ``dspy`` formats keeps what both formats can hold.

Each direction is checked on generated traces, through the real writers and readers (``llmlog
convert`` in this process: the source format's ``read``, the target format's writer):

- rlm → dspy → rlm: the metadata (model, backend and its kwargs, environment, other backends,
  ``max_iterations``, ``max_depth``, context, query, start time, trace id when the file has one)
  and every iteration: its timestamp and prompt messages, response, final answer (a
  ``[variable, value]`` pair kept as a pair), its own call (text prompt, model, tokens, cost,
  latency, error) and each code block (code, stdout, stderr, locals, time, final answer, and its
  sub-calls with text prompt, response, model, tokens, cost, latency and error). Iteration times
  come back to the nanosecond (the dspy format keeps nanosecond timestamps); the durations of
  blocks and calls to the millisecond (dspy-go's ``duration_ms``/``latency_ms`` are integer
  milliseconds). Not kept: iteration numbers (renumbered from 1, as a session numbers them) and
  an ``iteration_time`` of ``null`` (it comes back as the time the iteration's events span).
- dspy → rlm → dspy, for an RLM-shaped run (one root span; LLM calls, code executions with
  sub-calls inside, a final answer): the trace id, the run's ``query`` and ``max_iterations``,
  and in order every LLM call (text prompt, messages, response, model, tokens, cost, latency, the
  error of the span that holds it; a sub-call's prompt as text only) and every code execution
  (code, stdout, stderr, locals, duration, final answer as RLM holds it), and the final answer.
  Not kept: span names, ids and parents other than this shape, other spans' inputs, outputs and
  errors, providers (RLM keeps the first as the run's backend), tool calls, module summaries and
  error events (RLM has no place for them).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import llmlog
from llmlog import TokenUsage
from llmlog.testing import isolated_environment
from llmlog_trace_dspy import read_trace
from llmlog_trace_dspy.format import DspyTraceWriter
from llmlog_trace_rlm import CodeBlock, Iteration, Metadata, RlmTraceWriter, SubCall, read_rlm
from llmlog_trace_rlm.model import LLM_CALL_BLOCK, MAX_INT, answer_of, messages_of
from llmlog_trace_rlm.reader import parse_time


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path):
    with isolated_environment(tmp_path):
        yield tmp_path


def convert(source: Path, to: str, directory: Path) -> Path:
    """``llmlog convert SOURCE --to FORMAT -o DIRECTORY``, in this process; the new file."""
    from llmlog.testing import run_cli

    directory.mkdir(parents=True, exist_ok=True)
    before = set(directory.iterdir())
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        status = run_cli(["convert", str(source), "--to", to, "-o", str(directory)])
    assert status == 0, err.getvalue()
    (made,) = set(directory.iterdir()) - before
    return made


def dspy_go_accepts(record: dict[str, Any]) -> bool:
    """dspy-go's event types (``dspy-go-trace-format.md`` §1-2): an RFC 3339 timestamp, and the
    data keys with the Go types its readers assert (strings, integer milliseconds, objects)."""

    def integer(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_INT

    try:
        parse_time(record["timestamp"], -1)
    except Exception:
        return False
    data = record.get("data", {})
    kind = record["type"]
    if kind == "llm_call":
        usage = data.get("usage", {})
        return (
            all(isinstance(data[k], str) for k in ("provider", "model", "prompt", "response"))
            and integer(data["latency_ms"])
            and isinstance(usage, dict)
            and all(integer(usage.get(k, 0)) for k in ("prompt_tokens", "completion_tokens"))
            and isinstance(data.get("messages", []), list)
        )
    if kind == "code_exec":
        return (
            all(isinstance(data[k], str) for k in ("code", "stdout", "stderr"))
            and integer(data["iteration"])
            and integer(data["duration_ms"])
            and isinstance(data.get("locals", {}), dict)
        )
    if kind == "span" and data["event"] == "end":
        return integer(data["duration_ms"])
    return True


# -- strategies --------------------------------------------------------------------------------------

text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20)
millis = st.integers(0, 10**7).map(lambda ms: ms / 1000)  # what integer milliseconds hold
tokens = st.integers(0, MAX_INT)
costs = st.none() | st.floats(0, 1000, allow_nan=False)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)
answers = st.none() | text | st.tuples(text, text).map(list)
models = st.none() | st.text("abcdefgh-.", min_size=1, max_size=8)
errors = st.none() | text.filter(bool)

sub_calls = st.builds(
    SubCall,
    prompt=text,
    response=text,
    prompt_tokens=tokens,
    completion_tokens=tokens,
    execution_time=millis,
    model=models,
    cost=costs,
    error=errors,
)
blocks = st.builds(
    CodeBlock,
    code=text.filter(lambda s: s != LLM_CALL_BLOCK),
    stdout=text,
    stderr=text,
    locals=st.dictionaries(text, json_values, max_size=3),
    execution_time=millis,
    calls=st.lists(sub_calls, max_size=2),
    final_answer=answers,
)
messages = st.lists(
    st.fixed_dictionaries(
        {"role": st.sampled_from(["system", "user", "assistant"]), "content": text}
    ),
    max_size=3,
)


def _rfc3339(ns: int) -> str:
    return f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(ns // 10**9))}.{ns % 10**9:09d}Z"


timestamps = st.integers(946_684_800 * 10**9, 4_102_444_800 * 10**9).map(_rfc3339)


@st.composite
def iterations(draw: st.DrawFn) -> Iteration:
    code_blocks = draw(st.lists(blocks, max_size=3))
    # Python rlm's rule, which the format keeps: the iteration's answer is its first block's.
    given = [b.final_answer for b in code_blocks if b.final_answer is not None]
    response = draw(text)
    own = draw(st.none() | sub_calls)
    if own is not None:
        own.response = response  # the iteration's own call gave its response
    return Iteration(
        timestamp=draw(timestamps),
        prompt=draw(messages),
        response=response,
        code_blocks=code_blocks,
        final_answer=given[0] if given else draw(answers),
        iteration_time=draw(st.integers(0, 10**13)) / 1e9,  # nanoseconds
        root_call=own,
    )


metadata = st.builds(
    Metadata,
    root_model=st.text("abcdef-", min_size=1, max_size=8),
    max_depth=st.integers(0, MAX_INT),
    max_iterations=st.integers(0, MAX_INT),
    backend=st.text("abcdef", min_size=1, max_size=8),
    backend_kwargs=st.dictionaries(st.text("xyz", min_size=1), json_values, max_size=2),
    environment_type=text,
    environment_kwargs=st.dictionaries(st.text("xyz", min_size=1), json_values, max_size=2),
    other_backends=st.none() | st.lists(text, max_size=2),
    context=st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=500),
    query=text,
    timestamp=timestamps,
    trace_id=st.just("") | st.text("0123456789abcdef", min_size=32, max_size=32),
)


# -- rlm -> dspy -> rlm ------------------------------------------------------------------------------


@pytest.mark.slow
@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(meta=metadata, items=st.lists(iterations(), min_size=1, max_size=4))
def test_rlm_to_dspy_to_rlm_keeps_what_both_formats_hold(tmp_path, meta, items):
    work = tmp_path / f"case-{os.urandom(4).hex()}"
    work.mkdir()
    source = work / "source.jsonl"
    writer = RlmTraceWriter(source)
    writer.metadata = meta
    for item in items:
        writer.log_iteration(item)
    writer.close()
    original = read_rlm(source)

    dspy_file = convert(source, "dspy", work / "dspy")
    records = [json.loads(x) for x in dspy_file.read_text("utf-8").splitlines()]
    assert all(dspy_go_accepts(r) for r in records)
    back = read_rlm(convert(dspy_file, "rlm", work / "rlm"))

    assert original.metadata is not None and back.metadata is not None
    kept, came = original.metadata, back.metadata
    assert parse_time(came.timestamp, 0) == parse_time(kept.timestamp, 1)
    if kept.trace_id:
        assert came.trace_id == kept.trace_id
    for field in ("timestamp", "trace_id", "line"):
        setattr(came, field, getattr(kept, field))
    assert came == kept
    assert len(back.iterations) == len(original.iterations)
    for number, (was, now) in enumerate(
        zip(original.iterations, back.iterations, strict=True), start=1
    ):
        assert now.iteration == number
        assert parse_time(now.timestamp, 0) == parse_time(was.timestamp, 1)
        assert now.iteration_time == was.iteration_time
        was.iteration = now.iteration
        was.timestamp, was.line = now.timestamp, now.line
        assert now == was


def test_rlm_to_dspy_writes_the_prompt_as_text_and_keeps_tokens_errors_and_trace_id(tmp_path):
    """The defects the outside check found, one example each."""
    source = tmp_path / "source.jsonl"
    writer = RlmTraceWriter(source)
    writer.metadata = Metadata(root_model="m", trace_id="ab" * 16)
    writer.log_iteration(
        Iteration(
            timestamp="2026-01-02T03:04:05Z",
            prompt=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "q"}],
            response="r",
            code_blocks=[
                CodeBlock("1/0", stderr="Traceback...\nZeroDivisionError: division by zero"),
                CodeBlock("llm_query('x')", calls=[SubCall("x", "y", 7, 3, 0.25, model="small")]),
            ],
            final_answer=["result", "42"],
            iteration_time=1.5,
            root_call=SubCall("be brief\n\nq", "r", 11, 5, 0.5, model="big", cost=0.01),
        )
    )
    writer.close()
    records = [
        json.loads(x) for x in convert(source, "dspy", tmp_path / "d").read_text().splitlines()
    ]
    assert {r["trace_id"] for r in records} == {"ab" * 16}
    own, sub = (r["data"] for r in records if r["type"] == "llm_call")
    assert own["prompt"] == "be brief\n\nq" and own["messages"][0]["content"] == "be brief"
    assert own["usage"]["prompt_tokens"] == 11 and sub["usage"]["prompt_tokens"] == 7
    errors = [r["data"].get("error") for r in records if r["type"] == "span"]
    assert "ZeroDivisionError: division by zero" in errors
    back = read_rlm(
        convert(tmp_path / "d" / next((tmp_path / "d").iterdir()).name, "rlm", tmp_path / "r")
    )
    (it,) = back.iterations
    assert it.iteration_time == 1.5 and it.final_answer == ["result", "42"]
    assert it.root_call is not None and it.root_call.total_tokens == 16


# -- dspy -> rlm -> dspy ------------------------------------------------------------------------------


@st.composite
def dspy_runs(draw: st.DrawFn) -> dict[str, Any]:
    """An RLM-shaped run: turns (an LLM call in a step span), each followed by code executions
    with sub-calls in llm_query spans; a final answer from code or from what the root returned."""

    def call() -> dict[str, Any]:
        usage = draw(st.none() | st.tuples(tokens, tokens, costs))
        return {
            "model": draw(st.just("") | st.text("abc-", min_size=1, max_size=6)),
            "provider": draw(st.sampled_from(["", "openai"])),
            "prompt": draw(text),
            "response": draw(text),
            "usage": None if usage is None else TokenUsage(usage[0], usage[1], cost=usage[2]),
            "latency_ms": draw(st.integers(0, 10**6)),
            "error": draw(errors),
        }

    turns = []
    for _ in range(draw(st.integers(1, 3))):
        turn = call()
        turn["messages"] = draw(st.none() | messages)
        execs = []
        for _ in range(draw(st.integers(0, 2))):
            execs.append(
                {
                    "code": draw(text),
                    "stdout": draw(text),
                    "stderr": draw(text),
                    "locals": draw(st.none() | st.dictionaries(text, json_values, max_size=2)),
                    "duration_ms": draw(st.integers(0, 10**6)),
                    "subs": [call() for _ in range(draw(st.integers(0, 2)))],
                    "final": draw(st.none() | text | st.fixed_dictionaries({"answer": text})),
                }
            )
        turns.append((turn, execs))
    return {
        "query": draw(text),
        "max_iterations": draw(st.integers(0, 50)),
        "turns": turns,
        "outputs": draw(st.none() | st.fixed_dictionaries({"answer": text})),
    }


def _write_dspy(path: Path, run: dict[str, Any]) -> None:
    ids = iter(f"{n:016x}" for n in range(1, 10_000))
    session = llmlog.TraceSession(DspyTraceWriter(path), "cd" * 16)
    session.emit_session({"query": run["query"], "max_iterations": run["max_iterations"]})
    root = next(ids)
    session.emit_span_start(root, None, "RLM", {"query": run["query"]})

    def llm(span: str, parent: str, name: str, c: dict[str, Any], messages: Any = None) -> None:
        session.emit_span_start(span, parent, name, None)
        session.emit_llm_call(
            span,
            c["provider"],
            c["model"],
            c["prompt"],
            c["response"],
            c["usage"],
            c["latency_ms"],
            messages=messages,
        )
        session.emit_span_end(span, None, c["error"], c["latency_ms"])

    for turn, execs in run["turns"]:
        llm(next(ids), root, "Predict:generate_action", turn, turn["messages"])
        for ex in execs:
            code_span = next(ids)
            session.emit_span_start(code_span, root, "Interpreter.execute", {"code": ex["code"]})
            for sub in ex["subs"]:
                llm(next(ids), code_span, "Tool:llm_query", sub)
            session.emit_code_exec(
                code_span,
                1,
                ex["code"],
                ex["stdout"],
                ex["stderr"],
                ex["locals"],
                ex["duration_ms"],
                final_answer=ex["final"],
            )
            session.emit_span_end(code_span, None, None, ex["duration_ms"])
    session.emit_span_end(root, run["outputs"], None, 1)
    session.close()


def essence(path: Path) -> dict[str, Any]:
    """What an RLM-shaped dspy trace says that the RLM format can hold (see the module doc)."""
    events = list(read_trace(path))
    parents: dict[str, str | None] = {}
    code_spans: set[str] = set()
    ended_with: dict[str, Any] = {}
    for e in events:
        if e.type == "span" and e.data["event"] == "start":
            parents[e.span_id or ""] = e.parent_id
            if "code" in (e.data.get("inputs") or {}):
                code_spans.add(e.span_id or "")
        elif e.type == "span":
            ended_with[e.span_id or ""] = e.data

    def in_code(span: str | None) -> bool:
        while span is not None:
            if span in code_spans:
                return True
            span = parents.get(span)
        return False

    steps: list[tuple[Any, ...]] = []
    finals: list[Any] = []
    root_answer = None
    session = {}
    for e in events:
        d = e.data
        if e.type == "session":
            # (RLM omits an empty query, as Go does)
            session = {
                "trace_id": e.trace_id,
                "query": d.get("query", ""),
                "max_iterations": d.get("max_iterations", 0),
            }
        elif e.type == "llm_call":
            usage = d.get("usage") or {}
            sub = in_code(e.span_id)
            shown = None if sub else messages_of(d["messages"] if "messages" in d else d["prompt"])
            steps.append(
                (
                    "sub" if sub else "call",
                    d["prompt"],
                    shown,
                    d["response"],
                    d["model"],
                    usage.get("prompt_tokens", 0),
                    usage.get("completion_tokens", 0),
                    usage.get("cost"),
                    d["latency_ms"],
                    ended_with.get(e.span_id or "", {}).get("error"),
                )
            )
        elif e.type == "code_exec":
            final = answer_of(d.get("final_answer"))
            finals += [final] if final is not None else []
            steps.append(
                (
                    "exec",
                    d["code"],
                    d["stdout"],
                    d["stderr"],
                    d.get("locals") or {},
                    d["duration_ms"],
                    final,
                )
            )
        elif e.type == "span" and d["event"] == "end" and parents.get(e.span_id or "", "") is None:
            root_answer = answer_of(d.get("outputs")) if d.get("outputs") else None
    return {**session, "steps": steps, "final": finals[0] if finals else root_answer}


@pytest.mark.slow
@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(run=dspy_runs())
def test_dspy_to_rlm_to_dspy_keeps_what_both_formats_hold(tmp_path, run):
    work = tmp_path / f"case-{os.urandom(4).hex()}"
    work.mkdir()
    source = work / "source.jsonl"
    _write_dspy(source, run)
    rlm_file = convert(source, "rlm", work / "rlm")
    back = convert(rlm_file, "dspy", work / "dspy")
    assert all(dspy_go_accepts(json.loads(x)) for x in back.read_text("utf-8").splitlines())
    assert essence(back) == essence(source)
