"""The ``rlm`` format with the real world: files from the ``rlms`` package, the one-word swap in
``llmlog.toml``, ``llmlog view`` on RLM files and ``llmlog convert`` both ways."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from llmlog_fake_provider import FakeOpenAI, prompt_text
from llmlog_trace_rlm import read_rlm


def _rlm_reply(request):
    """The root model writes code that calls a sub-LLM, then submits; sub-calls answer."""
    messages = request["messages"]
    text = prompt_text(request)
    if text.startswith("Summarise"):
        return "a short summary"
    turns = sum(1 for m in messages if m["role"] == "assistant")
    if turns == 0:
        return (
            "Let me look.\n```repl\nn = len(context)\nprint(n)\n"
            "s = llm_query('Summarise: ' + context[:20])\nprint(s)\n```"
        )
    return 'Done.\n```repl\nanswer["content"] = "forty two"\nanswer["ready"] = True\n```'


@pytest.fixture
def python_rlm_file(tmp_path: Path) -> Path:
    """A log written by the real ``rlms`` package (RLMLogger) during a real RLM completion."""
    from rlm import RLM
    from rlm.logger import RLMLogger

    with FakeOpenAI(_rlm_reply) as server:
        rlm = RLM(
            backend="openai",
            backend_kwargs={
                "model_name": "fake-gpt",
                "base_url": server.base_url,
                "api_key": "sk-test",
            },
            environment="local",
            logger=RLMLogger(log_dir=str(tmp_path / "pyrlm")),
            max_iterations=5,
        )
        result = rlm.completion("the context is a list of numbers " * 4)
    assert result.response == "forty two"
    (path,) = (tmp_path / "pyrlm").glob("rlm_*.jsonl")
    return path


@pytest.mark.slow
def test_reads_files_of_the_real_rlms_package(python_rlm_file, cli):
    run = read_rlm(python_rlm_file)
    assert run.metadata is not None and run.metadata.root_model == "fake-gpt"
    assert "api_key" not in run.metadata.backend_kwargs  # rlm filters it itself
    first, second = run.iterations
    (block,) = first.code_blocks
    (call,) = block.calls
    # Python rlm keeps tokens only in usage_summary; the Go viewers show 0 for them. We read them.
    assert (call.prompt_tokens, call.completion_tokens) == (6, 3)  # words, as the server counts
    assert call.response == "a short summary" and "a short summary" in block.stdout
    assert second.final_answer == "forty two"
    shown = cli("view", "--no-color", str(python_rlm_file))
    assert shown.returncode == 0, shown.stderr
    assert "Iteration 2" in shown.stdout and "final answer: forty two" in shown.stdout
    assert "(6→3 tokens)" in shown.stdout
    stats = cli("view", "--stats", str(python_rlm_file))
    assert "tokens: prompt 6 · completion 3 · total 9" in stats.stdout
    assert cli("view", "--final", str(python_rlm_file)).stdout == "forty two\n"


def test_convert_python_rlm_to_dspy_and_back(python_rlm_file, cli, tmp_path):
    out = tmp_path / "converted"
    out.mkdir()
    done = cli("convert", str(python_rlm_file), "--to", "dspy", "-o", str(out))
    assert done.returncode == 0, done.stderr
    (dspy_file,) = out.glob("trace_*.jsonl")
    records = [json.loads(x) for x in dspy_file.read_text().splitlines()]
    assert records[0]["type"] == "session" and records[0]["data"]["root_model"] == "fake-gpt"
    # The sub-call is an llm_call in the code block's span (dspy readers count llm_call events).
    spans = {r["span_id"]: r for r in records if r["type"] == "span" and "parent_id" in r}
    calls = [r for r in records if r["type"] == "llm_call"]
    (sub,) = [r for r in calls if spans[r["span_id"]]["data"]["operation"] == "llm_query"]
    assert sub["data"]["usage"]["prompt_tokens"] == 6
    assert spans[spans[sub["span_id"]]["parent_id"]]["data"]["operation"] == "code"
    tree = cli("view", "--no-color", str(dspy_file))
    assert "tokens=9" in tree.stdout, tree.stdout  # the sub-call's tokens roll up into the tree
    back = cli("convert", str(dspy_file), "--to", "rlm", "-o", str(out))
    assert back.returncode == 0, back.stderr
    (rlm_file,) = out.glob("rlm_*.jsonl")
    again, original = read_rlm(rlm_file), read_rlm(python_rlm_file)
    assert [it.final_answer for it in again.iterations] == [
        it.final_answer for it in original.iterations
    ]
    for a, b in zip(again.iterations, original.iterations, strict=True):
        assert [blk.code for blk in a.code_blocks] == [blk.code for blk in b.code_blocks]
        assert [c.total_tokens for c in a.calls] == [c.total_tokens for c in b.calls]
        assert a.prompt == b.prompt and a.response == b.response
    exists = cli("convert", str(dspy_file), "--to", "rlm", "-o", str(rlm_file))
    assert exists.returncode == 1 and "--force" in exists.stderr
    unknown = cli("convert", str(dspy_file), "--to", "parquet")
    assert unknown.returncode == 2 and "installed: dspy, rlm" in unknown.stderr


PROGRAM = textwrap.dedent(
    """
    import llmlog
    from llmlog import TokenUsage
    from llmlog.context import get_current

    llmlog.configure()

    def llm(prompt, response, p, c):
        ctx = get_current()
        ctx.session.emit_llm_call(ctx.span_id, "openai", "gpt-4o-mini", prompt, response,
                                  TokenUsage(p, c, cost=0.002), 15)

    with llmlog.start_trace_session(metadata={"query": "r in strawberry?", "max_iterations": 4}) as s:
        with llmlog.span("solve", inputs={"question": "r in strawberry?"}) as root:
            with llmlog.span("Predict:act"):
                llm([{"role": "user", "content": "count r"}], "```repl\\nprint(3)\\n```", 10, 5)
            with llmlog.span("execute", inputs={"code": "print(3)"}) as ex:
                with llmlog.span("llm_query"):
                    llm("is it 3?", "yes", 4, 1)
                s.emit_code_exec(ex.span_id, 1, "print(3)", "3\\n", "", {"n": 3}, 2)
            with llmlog.span("Predict:act"):
                llm([{"role": "user", "content": "count r"}], "SUBMIT(3)", 12, 2)
            root.set_outputs(answer="3")
    print(s.writer.path)
    """
)


@pytest.mark.parametrize("fmt", ["dspy", "rlm"])
def test_one_program_writes_either_format_by_one_word_in_llmlog_toml(tmp_path, sh, cli, fmt):
    (tmp_path / "program.py").write_text(PROGRAM)
    (tmp_path / "llmlog.toml").write_text(f'[trace]\nformat = "{fmt}"\ndir = "traces"\n')
    done = sh([sys.executable, "program.py"], cwd=tmp_path, check=True)
    path = Path(done.stdout.strip())
    assert path.parent == tmp_path / "traces"
    records = [json.loads(x) for x in path.read_text().splitlines()]
    if fmt == "dspy":
        assert path.name.startswith("trace_")
        types = [r["type"] for r in records]
        assert types.count("llm_call") == 3 and types.count("code_exec") == 1
        spans = {
            r["span_id"]: r
            for r in records
            if r["type"] == "span" and r["data"]["event"] == "start"
        }
        query = next(r for r in spans.values() if r["data"]["operation"] == "llm_query")
        assert spans[query["parent_id"]]["data"]["operation"] == "execute"
    else:
        assert path.name.startswith("rlm_")
        assert [r["type"] for r in records] == ["metadata", "iteration", "iteration"]
        assert records[0]["query"] == "r in strawberry?" and records[0]["max_iterations"] == 4
        first, second = records[1], records[2]
        (block,) = first["code_blocks"]
        assert block["result"]["rlm_calls"][0]["prompt_tokens"] == 4
        assert first["root_call"]["prompt_tokens"] == 10
        assert second["final_answer"] == "3"
    stats = cli("view", "--stats", str(path))
    assert stats.returncode == 0 and "34" in stats.stdout, stats.stdout  # 15 + 5 + 14 tokens


@pytest.mark.slow
def test_view_flags_on_rlm_files(tmp_path, sh, cli):
    (tmp_path / "program.py").write_text(PROGRAM)
    (tmp_path / "llmlog.toml").write_text('[trace]\nformat = "rlm"\ndir = "."\n')
    path = Path(sh([sys.executable, "program.py"], cwd=tmp_path, check=True).stdout.strip())
    one = cli("view", "--iter", "2", "--no-color", str(path))
    assert "Iteration 2" in one.stdout and "Iteration 1" not in one.stdout
    assert "no iteration matches" in cli("view", "--iter", "9", str(path)).stdout
    found = cli("view", "--search", "PRINT(3)", "--no-color", str(path))
    assert "Iteration 1" in found.stdout and "Iteration 2" not in found.stdout
    compact = cli("view", "--compact", "--no-color", str(path))
    assert "is it 3?" not in compact.stdout and "is it 3?" in cli("view", str(path)).stdout
    assert "no iteration matches" in cli("view", "--errors", str(path)).stdout
    export = cli("view", "--export", "run.md", str(path), cwd=tmp_path)
    markdown = (tmp_path / "run.md").read_text()
    assert (
        export.returncode == 0
        and "## Iteration 2" in markdown
        and "```python\nprint(3)" in markdown
    )
    bad = cli("view", "--export", "run.html", str(path))
    assert bad.returncode == 2 and "Markdown" in bad.stderr


def test_watch_prints_iterations_as_they_are_appended(tmp_path):
    path = tmp_path / "live.jsonl"
    meta = {
        "type": "metadata",
        "timestamp": "2026-01-01T00:00:00Z",
        "root_model": "m",
        "max_depth": 1,
        "max_iterations": 3,
        "backend": "b",
        "backend_kwargs": {},
        "environment_type": "local",
        "environment_kwargs": {},
        "other_backends": None,
    }

    def iteration(n: int) -> str:
        return (
            json.dumps(
                {
                    "type": "iteration",
                    "iteration": n,
                    "timestamp": "2026-01-01T00:00:01Z",
                    "prompt": [{"role": "user", "content": "q"}],
                    "response": f"step {n}",
                    "code_blocks": [],
                    "final_answer": None,
                    "iteration_time": 0.5,
                }
            )
            + "\n"
        )

    path.write_text(json.dumps(meta) + "\n" + iteration(1))
    llmlog_bin = str(Path(sys.executable).with_name("llmlog"))
    proc = subprocess.Popen(
        [llmlog_bin, "view", "--watch", "--no-color", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        seen = []
        deadline = time.monotonic() + 20
        appended = False
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            seen.append(line)
            if "step 1" in line and not appended:
                with path.open("a") as fh:  # a half-written line first: not shown until whole
                    text = iteration(2)
                    fh.write(text[:20])
                    fh.flush()
                    time.sleep(1.0)
                    fh.write(text[20:])
                appended = True
            if "step 2" in line:
                break
        assert any("step 2" in x for x in seen), seen
        assert sum("━━ Iteration 1" in x for x in seen) == 1
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", ":1: empty file"),
        (b"\x00\x01\x02binary", ":1: a binary file"),
        (
            b'{"type": "metadata", "root_model": "m"}\n{"type": "iteration", "iteration": 1, "code_bl',
            ":2: not a JSON line",
        ),
        (
            b'{"type": "metadata"}\n{"type": "iteration", "iteration": true, "code_blocks": []}\n',
            ":2: iteration must be an integer, got a boolean",
        ),
    ],
)
def test_bad_rlm_files_name_file_and_line(tmp_path, cli, content, message):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(content)
    result = cli("view", str(path))
    assert result.returncode == 1 and message in result.stderr and "Traceback" not in result.stderr
    if content.startswith(b'{"type": "metadata"'):
        lenient = cli("view", "--lenient", str(path))
        assert lenient.returncode == 0 and "1 unreadable line skipped" in lenient.stdout


def test_trace_table_errors_name_key_and_choices(tmp_path, cli):
    (tmp_path / "llmlog.toml").write_text('[trace]\nformat = "parquet"\ncontent = "yes"\ndir = 3\n')
    result = cli("config", "check", str(tmp_path / "llmlog.toml"))
    assert result.returncode == 1
    assert "unknown trace format 'parquet'; installed: dspy, rlm @ $.trace.format" in result.stderr
    assert "@ $.trace.content" in result.stderr and "@ $.trace.dir" in result.stderr
    (tmp_path / "llmlog.toml").write_text(
        '[trace]\nformat = { type = "rlm", max_line_bytes = 10 }\n'
    )
    result = cli("config", "check", str(tmp_path / "llmlog.toml"))
    assert result.returncode == 1 and "@ $.trace.format.max_line_bytes" in result.stderr
