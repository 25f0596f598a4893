"""``llmlog view`` on dspy traces: every event in the tree, each LLM call counted once, parent
cycles and deep chains, ``--search`` over every text of a span, lenient data values, plurals, and
what to install when no format reads a file."""

from __future__ import annotations

import io
import re

import pytest

from llmlog.testing import view_arguments
from llmlog_trace_dspy.view import view

FLAGS = [
    [],
    ["--stats"],
    ["--errors"],
    ["-s", "x"],
    ["--compact"],
    ["--final"],
    ["--lenient"],
]


def _usage(p, c, cost=None):
    usage = {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}
    if cost is not None:
        usage["cost"] = cost
    return usage


def test_an_event_whose_span_never_started_is_a_node_under_its_parent(tmp_path, helpers):
    ln = helpers.line
    path = helpers.write_jsonl(
        tmp_path / "tool.jsonl",
        [
            helpers.session_line(),
            ln("span", "root", {"event": "start", "operation": "agent"}),
            # dspy-go can write a tool call with its own span id (and a parent) and no span start
            ln(
                "tool_call",
                "tool1",
                {
                    "tool_name": "search",
                    "input": {"q": "x"},
                    "output": "found",
                    "duration_ms": 7,
                    "success": True,
                },
                parent="root",
            ),
            ln(
                "error",
                "lost",
                {"error_type": "KeyError", "message": "orphan", "recoverable": False},
            ),
            ln("span", "root", {"event": "end", "duration_ms": 20}),
        ],
    )
    done = helpers.run_main("view", "--no-color", str(path))
    assert done.status == 0, done.err
    lines = done.out.splitlines()
    root = next(i for i, text in enumerate(lines) if text.startswith("agent "))
    assert lines[root + 1].startswith("└── span tool1") or lines[root + 1].startswith(
        "├── span tool1"
    ), done.out
    assert any("tool search ok 7ms" in text for text in lines[root + 1 :]), done.out
    # a span with no start and no known parent is a root of its own
    assert any(text.startswith("✗ span lost") and "orphan" in text for text in lines), done.out
    assert lines[-1].startswith("3 spans, 0 LLM calls"), lines[-1]
    found = helpers.run_main("view", "--no-color", "-s", "found", str(path))
    assert found.status == 0 and "tool search" in found.out


def _sub_call_trace(tmp_path, helpers, listed_extra=False):
    """Three llm_call events (27 tokens); a code_exec lists one of them again (8 tokens) in
    sub_llm_calls, as a program that traces its sub-calls both ways writes it."""
    ln = helpers.line
    records = [
        helpers.session_line(),
        ln("span", "root", {"event": "start", "operation": "rlm"}),
        ln("span", "it1", {"event": "start", "operation": "iteration 1"}, parent="root"),
        ln(
            "llm_call",
            "it1",
            {
                "provider": "openai",
                "model": "gpt",
                "prompt": "p1",
                "response": "```repl\nllm_query('q')\n```",
                "latency_ms": 10,
                "usage": _usage(7, 3, 0.001),
            },
        ),
        ln(
            "span",
            "code",
            {"event": "start", "operation": "execute", "inputs": {"code": "llm_query('q')"}},
            parent="it1",
        ),
        ln("span", "q", {"event": "start", "operation": "llm_query"}, parent="code"),
        ln(
            "llm_call",
            "q",
            {
                "provider": "openai",
                "model": "gpt",
                "prompt": [{"role": "user", "content": "q"}],
                "response": "a",
                "latency_ms": 5,
                "usage": _usage(5, 3, 0.0005),
            },
        ),
        ln("span", "q", {"event": "end", "duration_ms": 5}),
    ]
    subs = [
        {
            "model": "gpt",
            "prompt": "q",
            "response": "a",
            "prompt_tokens": 5,
            "completion_tokens": 3,
            "execution_time": 0.005,
        }
    ]
    if listed_extra:  # a call known only from the list
        subs.append(
            {
                "model": "gpt",
                "prompt": "q2",
                "response": "b",
                "prompt_tokens": 2,
                "completion_tokens": 2,
                "execution_time": 0.002,
            }
        )
    records += [
        ln(
            "code_exec",
            "code",
            {
                "iteration": 1,
                "code": "llm_query('q')",
                "stdout": "a\n",
                "stderr": "",
                "duration_ms": 6,
                "sub_llm_calls": subs,
            },
        ),
        ln("span", "code", {"event": "end", "duration_ms": 6}),
        ln(
            "llm_call",
            "it1",
            {
                "provider": "openai",
                "model": "gpt",
                "prompt": "p2",
                "response": "done",
                "latency_ms": 9,
                "usage": _usage(6, 3, 0.001),
            },
        ),
        ln("span", "it1", {"event": "end", "duration_ms": 30}),
        ln("span", "root", {"event": "end", "duration_ms": 31, "outputs": {"answer": "a"}}),
    ]
    return helpers.write_jsonl(tmp_path / "subs.jsonl", records)


def test_a_sub_call_also_traced_as_an_llm_call_event_is_counted_once(tmp_path, helpers):
    path = _sub_call_trace(tmp_path, helpers)
    tree = helpers.run_main("view", "--no-color", str(path))
    assert tree.status == 0, tree.err
    # dspy-cli counts the llm_call events: 3 calls, 27 tokens
    assert tree.out.splitlines()[-1].startswith("4 spans, 3 LLM calls, 27 tokens"), tree.out
    assert tree.out.count("llm gpt") == 3
    assert "rlm 31ms tokens=27" in tree.out
    stats = helpers.run_main("view", "--stats", str(path))
    assert "LLM calls: 3; tokens: 27" in stats.out, stats.out
    assert "openai/gpt: 3 calls, 27 tokens" in stats.out


def test_a_sub_call_known_only_from_the_list_is_counted(tmp_path, helpers):
    path = _sub_call_trace(tmp_path, helpers, listed_extra=True)
    tree = helpers.run_main("view", "--no-color", str(path))
    assert tree.out.splitlines()[-1].startswith("4 spans, 4 LLM calls, 31 tokens"), tree.out
    assert "llm gpt 2ms tokens=4(2↑2↓) cost unknown (sub-call)" in tree.out
    stats = helpers.run_main("view", "--stats", str(path))
    assert "LLM calls: 4; tokens: 31" in stats.out, stats.out


def test_a_parent_cycle_ends_and_shows_every_span(tmp_path, helpers):
    ln = helpers.line
    path = helpers.write_jsonl(
        tmp_path / "cycle.jsonl",
        [
            helpers.session_line(),
            ln("span", "aa", {"event": "start", "operation": "A"}, parent="bb"),
            ln("span", "bb", {"event": "start", "operation": "B"}, parent="aa"),
            ln("span", "aa", {"event": "start", "operation": "A again"}, parent="bb"),
            ln("span", "cc", {"event": "start", "operation": "C"}, parent="cc"),
            ln("error", "bb", {"error_type": "E", "message": "boom"}),
        ],
    )
    for flags in FLAGS:
        with helpers.hang_guard(60):
            done = helpers.run_main("view", "--no-color", *flags, str(path))
        assert "Traceback" not in done.err and done.status in (0, 1), (flags, done)
    tree = helpers.run_main("view", "--no-color", str(path)).out
    assert re.search(
        r"^A .*\n  parent cycle aa → bb → aa: drawn here as a root\n└── ✗ B ", tree, re.M
    )
    assert re.search(r"^C ", tree, re.M), tree
    assert "parent cycle" in tree
    assert tree.splitlines()[-1].startswith("3 spans")


@pytest.mark.slow
def test_a_ten_thousand_deep_chain_and_deep_data_do_not_overflow_the_stack(tmp_path, helpers):
    ln = helpers.line
    depth = 10_000
    records = [helpers.session_line()]
    records += [
        ln(
            "span",
            f"s{i}",
            {"event": "start", "operation": f"op{i}"},
            parent=f"s{i - 1}" if i else None,
        )
        for i in range(depth)
    ]
    records.append(ln("span", "s0", {"event": "end", "duration_ms": 1, "outputs": {"deep": "@"}}))
    records.append(
        ln(
            "code_exec",
            f"s{depth - 1}",
            {"iteration": 1, "code": "c", "locals": "@", "stderr": "err"},
        )
    )
    path = helpers.write_jsonl(tmp_path / "deep.jsonl", records)
    # Nested 1,000 deep: within every JSON reader's limit (orjson's is 1,024), past Python's
    # recursion limit; written by hand, as Python's json encoder would recurse.
    nested = '{"k":[' * 500 + '"x-deepest"' + "]}" * 500
    path.write_text(path.read_text().replace('"@"', nested))
    for flags in [*FLAGS, ["-s", "x-deepest"], ["--export", str(tmp_path / "deep.md")]]:
        with helpers.hang_guard(120):
            done = helpers.run_main("view", "--no-color", *flags, str(path))
        assert done.status in (0, 1) and "Traceback" not in done.err, (flags, done.err)
        # every span is shown, and the indentation stops growing: the output stays linear
        assert len(done.out) < 200 * depth, (flags, len(done.out))
    tree = helpers.run_main("view", "--no-color", str(path)).out
    assert "op9999 " in tree and tree.splitlines()[-1].startswith(f"{depth} spans")
    final = helpers.run_main("view", "--final", str(path))
    assert final.status == 0 and '"deep"' in final.out and len(final.out) < 200 * depth
    found = helpers.run_main("view", "--no-color", "-s", "X-DEEPEST", str(path))
    assert found.status == 0 and "op9999" in found.out


@pytest.mark.parametrize(
    ("where", "needle"),
    [
        ("span start inputs", "needle-input"),
        ("span end error", "needle-end-error"),
        ("span end outputs", "needle-output"),
        ("error event", "needle-error-event"),
        ("tool input", "needle-tool-in"),
        ("tool output", "needle-tool-out"),
        ("tool error", "needle-tool-err"),
        ("llm prompt", "needle-prompt"),
        ("llm response", "needle-response"),
        ("llm model", "needle-model"),
        ("code", "needle-code"),
        ("stdout", "needle-stdout"),
        ("stderr", "needle-stderr"),
        ("sub-call prompt", "needle-sub"),
        ("module signature", "needle-signature"),
    ],
)
def test_search_finds_every_text_of_a_span(tmp_path, helpers, where, needle):
    ln = helpers.line
    texts = dict.fromkeys(
        (
            "in",
            "err",
            "out",
            "ev",
            "tin",
            "tout",
            "terr",
            "pr",
            "re",
            "mo",
            "code",
            "so",
            "se",
            "sub",
            "sig",
        ),
        "plain",
    )
    key = {
        "span start inputs": "in",
        "span end error": "err",
        "span end outputs": "out",
        "error event": "ev",
        "tool input": "tin",
        "tool output": "tout",
        "tool error": "terr",
        "llm prompt": "pr",
        "llm response": "re",
        "llm model": "mo",
        "code": "code",
        "stdout": "so",
        "stderr": "se",
        "sub-call prompt": "sub",
        "module signature": "sig",
    }[where]
    texts[key] = f"some {needle.upper()} here"
    t = texts
    path = helpers.write_jsonl(
        tmp_path / "s.jsonl",
        [
            helpers.session_line(),
            ln("span", "other", {"event": "start", "operation": "unrelated"}),
            ln("span", "other", {"event": "end", "duration_ms": 1}),
            ln(
                "span", "hit", {"event": "start", "operation": "target", "inputs": {"q": [t["in"]]}}
            ),
            ln(
                "llm_call",
                "hit",
                {
                    "provider": "p",
                    "model": t["mo"],
                    "prompt": t["pr"],
                    "response": t["re"],
                    "latency_ms": 1,
                },
            ),
            ln(
                "tool_call",
                "hit",
                {
                    "tool_name": "tool",
                    "input": {"a": t["tin"]},
                    "output": [t["tout"]],
                    "success": False,
                    "error": t["terr"],
                },
            ),
            ln(
                "code_exec",
                "hit",
                {
                    "code": t["code"],
                    "stdout": t["so"],
                    "stderr": t["se"],
                    "sub_llm_calls": [{"prompt": t["sub"], "response": "r"}],
                },
            ),
            ln(
                "module",
                "hit",
                {
                    "module_type": "Predict",
                    "module_name": "m",
                    "signature": t["sig"],
                    "success": True,
                },
            ),
            ln("error", "hit", {"error_type": "E", "message": t["ev"]}),
            ln(
                "span",
                "hit",
                {"event": "end", "duration_ms": 2, "error": t["err"], "outputs": {"o": t["out"]}},
            ),
        ],
    )
    done = helpers.run_main("view", "--no-color", "-s", needle, str(path))
    assert done.status == 0, (done.out, done.err)
    assert "target" in done.out and "unrelated" not in done.out


def test_search_with_no_match_says_so_and_exits_1(tmp_path, helpers):
    ln = helpers.line
    path = helpers.write_jsonl(
        tmp_path / "s.jsonl",
        [helpers.session_line(), ln("span", "a", {"event": "start", "operation": "only"})],
    )
    done = helpers.run_main("view", "--no-color", "-s", "absent text", str(path))
    assert done.status == 1
    assert "no span matches 'absent text'" in done.out


def test_data_values_of_any_type_are_shown_leniently(tmp_path, helpers):
    ln = helpers.line
    odd = [[1], {"a": 1}, "text", 10**30, 1.5e308, -1, True, None, "12"]
    records = [helpers.session_line()]
    for i, value in enumerate(odd):
        s = f"s{i}"
        records += [
            ln("span", s, {"event": "start", "operation": value, "inputs": value}),
            ln(
                "llm_call",
                s,
                {
                    "provider": value,
                    "model": value,
                    "prompt": value,
                    "response": value,
                    "latency_ms": value,
                    "usage": value,
                },
            ),
            ln(
                "llm_call",
                s,
                {
                    "model": "m",
                    "usage": {
                        "prompt_tokens": value,
                        "completion_tokens": value,
                        "total_tokens": value,
                        "cost": value,
                    },
                },
            ),
            ln(
                "module",
                s,
                {
                    "module_type": value,
                    "module_name": value,
                    "llm_calls": value,
                    "total_tokens": value,
                    "success": value,
                    "duration_ms": value,
                },
            ),
            ln(
                "tool_call",
                s,
                {"tool_name": value, "success": value, "duration_ms": value, "error": value},
            ),
            ln(
                "code_exec",
                s,
                {
                    "iteration": value,
                    "code": value,
                    "stderr": value,
                    "duration_ms": value,
                    "sub_llm_calls": value,
                },
            ),
            ln(
                "code_exec",
                s,
                {
                    "sub_llm_calls": [
                        value,
                        {
                            "usage": value,
                            "prompt_tokens": value,
                            "execution_time": value,
                            "latency_ms": value,
                            "cost": value,
                        },
                    ]
                },
            ),
            ln("error", s, {"error_type": value, "message": value}),
            ln("span", s, {"event": value, "duration_ms": value, "error": value, "outputs": value}),
            ln("span", s, {"event": "end", "duration_ms": value, "error": value, "outputs": value}),
        ]
    path = helpers.write_jsonl(tmp_path / "odd.jsonl", records)
    for flags in [*FLAGS, ["--export", str(tmp_path / "odd.md")]]:
        done = helpers.run_main("view", "--no-color", *flags, str(path))
        assert done.status in (0, 1) and "Traceback" not in done.err, (flags, done.err)
        assert done.err == "", (flags, done.err)


def test_plurals(tmp_path, helpers):
    ln = helpers.line
    path = helpers.write_jsonl(
        tmp_path / "one.jsonl",
        [
            helpers.session_line(),
            ln("span", "a", {"event": "start", "operation": "only"}),
            ln(
                "llm_call",
                "a",
                {
                    "provider": "p",
                    "model": "m",
                    "latency_ms": 1,
                    "usage": {"prompt_tokens": 1, "completion_tokens": 0, "total_tokens": 1},
                },
            ),
            ln(
                "module",
                "a",
                {
                    "module_type": "Predict",
                    "module_name": "qa",
                    "llm_calls": 1,
                    "total_tokens": 1,
                    "success": True,
                },
            ),
            ln("span", "a", {"event": "end", "duration_ms": 1, "error": "x"}),
        ],
    )
    tree = helpers.run_main("view", "--no-color", str(path)).out
    stats = helpers.run_main("view", "--stats", str(path)).out
    for text in (tree, stats):
        assert not re.search(r"\b1 (calls|tokens|spans|errors|lines)\b", text), text
    assert (
        tree.splitlines()[-1]
        == "1 span, 1 LLM call, 1 token (1 call with unknown price), 1 with errors"
    )
    assert "1 LLM call, 1 token" in tree


def test_view_from_code_gives_the_same_as_the_command(tmp_path, helpers):
    path = _sub_call_trace(tmp_path, helpers)
    out = io.StringIO()
    assert view(path, view_arguments(no_color=True), out) == 0
    assert out.getvalue() == helpers.run_main("view", "--no-color", str(path)).out


def test_no_format_installed_names_the_packages(tmp_path, helpers, monkeypatch):
    path = tmp_path / "t.jsonl"
    path.write_text('{"type":"session","timestamp":"2026-08-20T10:15:02Z","trace_id":"t"}\n')
    monkeypatch.setenv("LLMLOG_DISABLE_PLUGIN_AUTOLOAD", "1")
    for args in (["view", str(path)], ["convert", str(path), "--to", "rlm"]):
        done = helpers.run_main(*args)
        assert done.status in (1, 2)
        assert "pip install llmlog-trace-dspy llmlog-trace-rlm" in done.err, done.err
        assert "llmlog[standard]" in done.err
    monkeypatch.setenv("LLMLOG_DISABLE_PLUGIN_AUTOLOAD", "")
    monkeypatch.setenv("LLMLOG_DISABLED_PLUGINS", "trace_rlm")
    other = tmp_path / "rlm.jsonl"
    other.write_text('{"type":"metadata","timestamp":"2026-08-20T10:15:02Z"}\n')
    done = helpers.run_main("view", str(other))
    assert done.status == 1 and "(dspy)" in done.err
    assert "pip install llmlog-trace-rlm" in done.err and "llmlog-trace-dspy" not in done.err, (
        done.err
    )


def test_files_that_cannot_be_read_or_written_are_named(tmp_path, helpers):
    ln = helpers.line
    path = helpers.write_jsonl(
        tmp_path / "t.jsonl",
        [helpers.session_line(), ln("span", "a", {"event": "start", "operation": "x"})],
    )
    directory = helpers.run_main("view", str(tmp_path))
    assert directory.status == 1
    assert directory.err == f"llmlog: {tmp_path}: cannot read: Is a directory\n"
    # Missing directories are made (owner-only, as every directory llmlog makes); a file in
    # the way is named.
    missing = tmp_path / "no" / "such" / "dir" / "x.md"
    assert helpers.run_main("view", "--export", str(missing), str(path)).status == 0
    assert missing.is_file()
    under_a_file = path / "x.md"
    export = helpers.run_main("view", "--export", str(under_a_file), str(path))
    assert export.status == 1
    assert export.err.endswith(f"cannot create directory {path}: a file is in the way\n")
    written = tmp_path / "x.md"
    assert helpers.run_main("view", "--export", str(written), str(path)).status == 0
    assert written.stat().st_mode & 0o777 == 0o600


def test_an_error_event_other_than_its_spans_own_error_is_still_shown(tmp_path, helpers):
    # A span that ended with the error "x" and also recorded a different error event whose text
    # happens to contain "x": each is shown, the event as a note under the span.
    ln = helpers.line
    path = helpers.write_jsonl(
        tmp_path / "two.jsonl",
        [
            helpers.session_line(),
            ln("span", "root", {"event": "start", "operation": "agent"}),
            ln("error", "root", {"error_type": "KeyError", "message": "box", "recoverable": True}),
            ln("error", "root", {"error_type": "ValueError", "message": "x", "recoverable": False}),
            ln("span", "root", {"event": "end", "duration_ms": 3, "error": "x"}),
        ],
    )
    out = io.StringIO()
    assert view(path, view_arguments(no_color=True), out) == 0
    text = out.getvalue()
    assert "E1 ValueError: x" in text  # the span's own error, with its type from the event
    assert "error KeyError: box" in text  # the other one, once, as a note
    assert text.count("ValueError") == 1
