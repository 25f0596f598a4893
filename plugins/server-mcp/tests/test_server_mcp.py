"""``llmlog mcp`` run as a real process and driven by the MCP SDK's own stdio client
(``mcp.client.stdio``): the tools list runs, show a trace and a span, search, give stats, errors
and a diff, all as ``llmlog.view/1`` documents agreeing with the CLI's ``--json``; paths outside
the configured directories (``..``, absolute, a symbolic link pointing out) are refused; content
is redacted; long answers are cut with an explicit marker."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import strategies as st

import llmlog
from llmlog.testing import run_llmlog

SECRET = "sk-proj-" + "M1n2B3v4C5x6Z7l8K9j0H1g2F3d4S5a6P7o8"
TOOLS = {"list_runs", "show_trace", "show_span", "search", "stats", "errors", "diff"}


def write_run(path: Path, *, answer: str = "Paris", calls: int = 4) -> Path:
    llmlog.configure({})
    with (
        llmlog.new_trace_session(path, format="dspy"),
        llmlog.span("evaluate", inputs={"n": calls}),
    ):
        for n in range(calls):
            question = f"question {n}" + (f" key={SECRET}" if n == 1 else "")
            try:
                with llmlog.span(f"Predict:q{n}", inputs={"question": question}):
                    llmlog.record_llm_call(
                        model="gpt-4o-mini",
                        provider="openai",
                        prompt=[{"role": "user", "content": question}],
                        response=f"{answer} {n}",
                        usage={"prompt_tokens": 10, "completion_tokens": 2, "cost": 0.001},
                        latency_ms=5,
                    )
                    if n == 2:
                        raise RuntimeError("the model timed out")
            except RuntimeError:
                pass
    # The session redacted the secret as it wrote; put it back, as a tool that does not redact
    # would have written it, so that what is checked is the redaction of the reader.
    path.write_text(path.read_text().replace("[REDACTED:openai-key]", SECRET))
    assert SECRET in path.read_text()
    return path


@pytest.fixture
def served(tmp_path: Path) -> dict[str, Path]:
    """The served directory (two runs, one in a sub-directory, a README, a link pointing out)
    and a run outside it."""
    root = tmp_path / "served"
    (root / "nightly").mkdir(parents=True)
    a = write_run(root / "a.jsonl")
    b = write_run(root / "nightly" / "b.jsonl", answer="Lyon")
    (root / "README.md").write_text("# runs\n")
    outside = write_run(tmp_path / "private.jsonl", answer="secret plans")
    (root / "escape.jsonl").symlink_to(outside)
    return {"root": root, "a": a, "b": b, "outside": outside}


async def _session(root: Path, calls: list[tuple[str, dict[str, Any]]], cwd: Path) -> Any:
    from mcp import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    llmlog_command = str(Path(sys.executable).with_name("llmlog"))
    params = StdioServerParameters(
        command=llmlog_command, args=["mcp", str(root)], env=dict(os.environ), cwd=str(cwd)
    )
    results = []
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        tools = await session.list_tools()
        for name, arguments in calls:
            results.append(await session.call_tool(name, arguments))
    return tools, results


def call(root: Path, cwd: Path, *calls: tuple[str, dict[str, Any]]) -> tuple[Any, list[Any]]:
    async def bounded() -> Any:
        return await asyncio.wait_for(_session(root, list(calls), cwd), timeout=90)

    return asyncio.run(bounded())


def _read_only(tool: Any) -> bool:
    # mcp 2 names the fields in snake case, mcp 1 as the protocol does.
    notes = tool.annotations
    return bool(getattr(notes, "read_only_hint", None) or getattr(notes, "readOnlyHint", None))


def _failed(result: Any) -> bool:
    return bool(getattr(result, "is_error", None) or getattr(result, "isError", None))


def _text(result: Any) -> str:
    return "".join(getattr(part, "text", "") for part in result.content)


def _doc(result: Any) -> dict[str, Any]:
    assert not _failed(result), _text(result)
    document = json.loads(_text(result))
    assert document["schema"] == "llmlog.view/1"
    return document


@pytest.mark.slow
def test_the_tools_over_stdio(served: dict[str, Path], tmp_path: Path) -> None:
    root, a, b = served["root"], served["a"], served["b"]
    tools, results = call(
        root,
        tmp_path,
        ("list_runs", {}),
        ("show_trace", {"path": "a.jsonl"}),
        ("show_trace", {"path": str(b), "limit": 2}),
        ("stats", {"path": "a.jsonl"}),
        ("errors", {"path": "a.jsonl"}),
        ("search", {"text": "question 3"}),
        ("diff", {"a": "a.jsonl", "b": "nightly/b.jsonl"}),
    )
    assert {tool.name for tool in tools.tools} == TOOLS
    assert all(_read_only(tool) for tool in tools.tools)
    listing, trace, page, stats, errors, found, diff = (_doc(r) for r in results)

    paths = {item["path"] for item in listing["items"]}
    assert paths == {str(a), str(b)}  # not the README, not the link pointing out
    assert {item["kind"] for item in listing["items"]} == {"dspy"}

    # The same document the CLI prints for `llmlog view a.jsonl --json`.
    cli = json.loads(run_llmlog("view", str(a), "--json", cwd=tmp_path).stdout)
    assert trace["items"] == cli["items"] and trace["summary"] == cli["summary"]
    assert SECRET not in json.dumps(trace) and "[REDACTED:openai-key]" in json.dumps(trace)
    assert len(page["items"]) == 2 and page["next_offset"] == 2

    assert {row["model"] for row in stats["items"]} == {"gpt-4o-mini", "*"}
    assert errors["items"] and all(row["error"] for row in errors["items"])
    assert {row["run"] for row in found["items"]} == {str(a), str(b)}
    assert str(served["outside"]) not in json.dumps(found)
    assert diff["summary"]["changed"] >= 4

    span_id = next(r["span_id"] for r in trace["items"] if r["kind"] == "llm")
    _, (span,) = call(root, tmp_path, ("show_span", {"path": "a.jsonl", "span_id": span_id}))
    (row,) = _doc(span)["items"]
    assert row["content"]["messages"][0]["content"] == "question 0"
    assert row["children"] == []


@pytest.mark.slow
def test_paths_outside_the_served_directories_are_refused(
    served: dict[str, Path], tmp_path: Path
) -> None:
    root, outside = served["root"], served["outside"]
    attempts = [
        ("show_trace", {"path": "../private.jsonl"}),
        ("show_trace", {"path": "nightly/../../private.jsonl"}),
        ("show_trace", {"path": str(outside)}),
        ("show_trace", {"path": "escape.jsonl"}),
        ("stats", {"path": "/etc/passwd"}),
        ("diff", {"a": "a.jsonl", "b": str(outside)}),
        ("show_span", {"path": "escape.jsonl", "span_id": "x"}),
        ("search", {"text": "x", "path": "../private.jsonl"}),
        ("show_trace", {"path": "missing.jsonl"}),
    ]
    _, results = call(root, tmp_path, *attempts)
    for (tool, arguments), result in zip(attempts, results, strict=True):
        assert _failed(result), (tool, arguments, _text(result))
        assert "secret plans" not in _text(result)
    messages = [_text(r) for r in results]
    assert "'..' is not allowed" in messages[0]
    assert "outside the configured directories" in messages[2]
    assert "a link out of the configured directories" in messages[3]
    assert "no such file" in messages[-1]


@pytest.mark.slow
def test_long_answers_are_cut_with_a_marker(served: dict[str, Path], tmp_path: Path) -> None:
    (tmp_path / "llmlog.toml").write_text("[mcp]\nmax_output = 3000\nmax_field = 100\n")
    _, (result,) = call(served["root"], tmp_path, ("show_trace", {"path": "a.jsonl"}))
    text = _text(result)
    assert len(text) <= 3000
    document = _doc(result)
    assert document["truncated"]["rows_left_out"] > 0
    assert document["next_offset"] == len(document["items"])
    assert document["total"] > len(document["items"])


def test_a_directory_that_is_not_one_is_refused(tmp_path: Path) -> None:
    done = run_llmlog("mcp", str(tmp_path / "nope"))
    assert done.returncode == 2 and "not a directory" in done.stderr
    none = run_llmlog("mcp", cwd=tmp_path)
    assert none.returncode == 2 and "[mcp] directories" in none.stderr


_hostile = st.one_of(
    st.sampled_from(
        [
            "..",
            "../x",
            "a/../../x",
            "/",
            "/etc/passwd",
            "//etc",
            "\x00",
            "",
            "~",
            "~/x",
            "./..",
            "a\x00b",
        ]
    ),
    st.lists(
        st.sampled_from(["..", ".", "a.jsonl", "nightly", "escape.jsonl", "x", ""]), max_size=5
    ).map("/".join),
    st.text(max_size=30),
)


def test_resolve_never_leaves_the_served_directories(served: dict[str, Path]) -> None:
    from hypothesis import given, settings

    from llmlog.ext import PluginHost, Sanitizer
    from llmlog_server_mcp.runs import Library, OutsideError

    library = Library.of([served["root"]], sanitizer=Sanitizer(), host=PluginHost())
    root = served["root"].resolve()

    @settings(max_examples=300, deadline=None)
    @given(_hostile)
    def check(raw: str) -> None:
        try:
            found = library.resolve(raw)
        except OutsideError:
            return
        assert found == root or found.is_relative_to(root)
        assert ".." not in Path(raw).parts

    check()
    assert library.resolve("a.jsonl") == served["a"].resolve()
    assert library.resolve(str(served["b"])) == served["b"].resolve()
    with pytest.raises(OutsideError, match="a link out"):
        library.resolve("escape.jsonl")


def test_a_run_that_changed_is_read_again(served: dict[str, Path]) -> None:
    from llmlog.ext import PluginHost, Sanitizer
    from llmlog_server_mcp.runs import Library

    library = Library.of([served["root"]], sanitizer=Sanitizer(), host=PluginHost())
    before = json.loads(library.show_trace("a.jsonl"))["total"]
    assert json.loads(library.stats("a.jsonl"))["summary"]["llm_calls"] == 4  # from the cache
    os.replace(write_run(served["root"] / "new.jsonl", calls=6), served["a"])
    assert json.loads(library.show_trace("a.jsonl"))["total"] > before
    assert json.loads(library.stats("a.jsonl"))["summary"]["llm_calls"] == 6
