"""``llmlog report`` and ``llmlog diff`` as a user runs them (a separate process), and
``llmlog.display`` / a session's ``_repr_html_`` through the ``llmlog_render_html`` hook. The
tests that run ``llmlog`` as a process are slow (the project's rule for end-to-end CLI runs)."""

from __future__ import annotations

import html as html_module
import re
import sys

import pytest

import llmlog


@pytest.mark.slow
def test_report_writes_one_file_and_says_what_it_holds(cli, trace_file, tmp_path):
    out = tmp_path / "run.html"
    done = cli("report", str(trace_file), "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{out}: ")
    assert "3 spans, 2 LLM calls" in done.stdout
    assert out.read_text().startswith("<!DOCTYPE html>")
    assert out.stat().st_mode & 0o077 == 0  # the owner's only, like every file llmlog writes
    again = cli("report", str(trace_file), "-o", str(out))
    assert again.returncode == 1 and "exists; pass --force" in again.stderr
    assert cli("report", str(trace_file), "-o", str(out), "--force").returncode == 0


@pytest.mark.slow
def test_report_of_a_bad_file_names_file_and_line(cli, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json at all\n")
    done = cli("report", str(bad), "-o", str(tmp_path / "x.html"))
    assert done.returncode == 1
    assert done.stderr.startswith(f"llmlog: {bad}:1: not a trace")
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "x.html").exists()
    wrong = cli("report", str(bad), "--max-size", "lots")
    assert wrong.returncode == 2 and wrong.stderr.startswith("llmlog: --max-size:")


@pytest.mark.slow
def test_diff_shows_a_changed_prompt_and_the_deltas(cli, make_trace, tmp_path):
    old = make_trace(tmp_path / "old.jsonl")
    new = make_trace(tmp_path / "new.jsonl", "What is the capital of Italy?", answer="Rome")
    done = cli("diff", str(old), str(new))
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "~ evaluate / Predict:qa / gpt-4o-mini  [llm]" in out
    assert "    - user: What is the capital of France?" in out
    assert "    + user: What is the capital of Italy?" in out
    assert "    - Paris" in out and "    + Rome" in out
    assert "  LLM calls  2 → 2 (+0)" in out
    # The unchanged call is not listed; one that differs makes --exit-code say so.
    assert "selfhosted-qa-7b" not in out
    assert cli("diff", "--exit-code", str(old), str(new)).returncode == 3
    assert cli("diff", "--exit-code", str(old), str(old)).returncode == 0


def test_diff_matches_by_path_and_order_and_shows_added_and_removed(make_trace, tmp_path):
    from llmlog_report_html import diff_runs, load_run

    old = load_run([make_trace(tmp_path / "old.jsonl")])
    llmlog.configure({})
    with llmlog.new_trace_session(tmp_path / "new.jsonl", format="dspy"), llmlog.span("evaluate"):
        with llmlog.span("Predict:qa"):
            llmlog.record_llm_call(
                model="gpt-4o", prompt="q", response="a", usage={"prompt_tokens": 40, "cost": 0.01}
            )
        with llmlog.span("rerank"):
            pass
    new = load_run([tmp_path / "new.jsonl"])
    diff = diff_runs(old, new)
    status = {" / ".join(n.path[1:]): n.status for n in diff.nodes}
    assert status["evaluate / rerank"] == "added"
    assert status["evaluate / tool:search"] == "removed"
    (call,) = [n for n in diff.nodes if n.kind == "llm" and n.status == "changed"]
    assert call.model == ("gpt-4o-mini", "gpt-4o")
    assert call.a is not None and call.b is not None
    assert (call.a.tokens, call.b.tokens) == (15, 40)
    assert (call.a.cost, call.b.cost) == (0.00001, 0.01)
    assert diff.a_totals.unknown_cost == 1 and diff.b_totals.unknown_cost == 0


def test_display_renders_through_the_plugin_in_a_sandboxed_frame(trace_file, monkeypatch):
    monkeypatch.setitem(sys.modules, "IPython", None)  # outside IPython: the HTML comes back
    monkeypatch.setitem(sys.modules, "IPython.display", None)
    fragment = llmlog.display(trace_file, height=500)
    assert fragment.startswith('<iframe sandbox="allow-scripts allow-downloads"')
    assert 'height="500"' in fragment
    page = html_module.unescape(re.search(r'srcdoc="([^"]*)"', fragment).group(1))  # type: ignore[union-attr]
    assert page.startswith("<!DOCTYPE html>") and "default-src 'none'" in page


def test_a_session_shows_itself_in_a_notebook(tmp_path):
    llmlog.configure({})
    with llmlog.new_trace_session(tmp_path / "t.jsonl", format="dspy") as session:
        with llmlog.span("step"):
            llmlog.record_llm_call(model="m", prompt="p", response="r")
        shown = session._repr_html_()
    assert shown is not None and shown.startswith("<iframe")


def test_without_a_renderer_display_says_what_to_install(trace_file, monkeypatch):
    monkeypatch.setitem(sys.modules, "IPython", None)

    from llmlog.ext import plugin_host

    host = plugin_host()
    plugin = host.pm.get_plugin("report_html")
    assert plugin is not None
    host.pm.unregister(plugin)
    try:
        with pytest.raises(RuntimeError, match="install llmlog-report-html"):
            llmlog.display(trace_file)
    finally:
        host.pm.register(plugin, "report_html")


@pytest.mark.slow
def test_report_with_compare_no_content_and_max_size(cli, make_trace, tmp_path):
    import base64
    import json
    import zlib

    old = make_trace(tmp_path / "old.jsonl")
    new = make_trace(tmp_path / "new.jsonl", "What is the capital of Italy?", answer="Rome")
    out = tmp_path / "ci.html"
    done = cli(
        "report",
        str(new),
        "--compare",
        str(old),
        "--no-content",
        "--max-size",
        "1MB",
        "-o",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    page = out.read_text()
    blob = re.search(r'id="llmlog-skeleton">([^<]*)<', page)
    assert blob is not None
    skeleton = json.loads(zlib.decompress(base64.b64decode(blob.group(1))))
    assert skeleton["noContent"] is True
    assert skeleton["compare"]["totals"]["a"]["calls"] == 2
    # The diffs of prompts and outputs are content too: left out, the deltas kept.
    (call,) = [n for n in skeleton["compare"]["nodes"] if n["kind"] == "llm"]
    assert call["prompt"] == [] and call["output"] == [] and call["a"]["tokens"] == 15
    assert "Italy" not in json.dumps(skeleton)
    tiny = cli("report", str(new), "--max-size", "1KB", "-o", str(tmp_path / "tiny.html"))
    assert tiny.returncode == 0
    assert "over --max-size even with every content left out" in tiny.stderr
