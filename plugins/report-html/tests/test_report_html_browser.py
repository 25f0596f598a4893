"""The report as a person sees it, in a real headless Chromium opened from ``file://`` with
every request refused: a page fails its test on any console error, dialog or request
(``conftest.Browser``)."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import pytest
from playwright.sync_api import expect

from llmlog_report_html import ReportOptions, diff_runs, load_run, write_report


def report(
    paths: list[Path], out: Path, compare: list[Path] | None = None, **options: object
) -> Path:
    run = load_run(paths)
    diff = diff_runs(run, load_run(compare)).to_json() if compare else None
    write_report(run, out, ReportOptions(**options), diff)  # type: ignore[arg-type]
    return out


def row(page, name: str):
    return page.locator("#tree .row", has=page.locator(".name", has_text=name)).first


def test_the_tree_shows_the_spans_of_a_known_trace(browser, trace_file, tmp_path):
    """The quick smoke test of the default run: the page opens offline and shows the spans."""
    page = browser.open(report([trace_file], tmp_path / "run.html"))
    tree = page.inner_text("#tree")
    for name in ("evaluate", "Predict:qa", "tool:search", "gpt-4o-mini", "claude-3-haiku"):
        assert name in tree
    assert "2 LLM calls" in page.inner_text("header")


@pytest.mark.slow
def test_an_error_span_is_marked_and_counted(browser, trace_file, tmp_path):
    page = browser.open(report([trace_file], tmp_path / "run.html"))
    failed = row(page, "tool:search")
    assert "err" in failed.get_attribute("class")
    assert failed.locator(".errmark").count() == 1
    assert "err" not in row(page, "Predict:qa").get_attribute("class")
    assert "errors" in page.inner_text("#errors-chip")
    page.check("#errors-only")
    shown = page.inner_text("#tree")
    assert "tool:search" in shown and "Predict:qa" not in shown
    failed = row(page, "tool:search")
    failed.click()
    assert "search backend down" in page.inner_text("#detail .error-box")


@pytest.mark.slow
def test_expanding_an_llm_call_shows_its_messages_and_tokens(browser, trace_file, tmp_path):
    page = browser.open(report([trace_file], tmp_path / "run.html"))
    row(page, "gpt-4o-mini").click()
    page.wait_for_selector("#detail .msg")
    detail = page.inner_text("#detail")
    roles = page.locator("#detail .msg .role").all_inner_texts()
    assert roles == ["system", "user"]
    assert "What is the capital of France?" in detail
    assert "Paris" in detail
    assert "input 12, output 3" in detail
    assert "$0.0000100" in detail
    # The other call's cost is unknown, and says so: never $0.
    row(page, "claude-3-haiku").click()
    page.wait_for_selector("#detail pre")
    facts = page.inner_text("#detail table.facts")
    assert "unknown" in facts and "$0" not in facts


@pytest.mark.slow
def test_search_finds_a_prompt_in_the_content(browser, trace_file, tmp_path):
    page = browser.open(report([trace_file], tmp_path / "run.html"))
    page.fill("#search", "capital of france")
    expect(page.locator("#status")).to_contain_text("matches")
    shown = page.inner_text("#tree")
    assert "gpt-4o-mini" in shown and "claude-3-haiku" not in shown
    page.fill("#search", "no such text anywhere")
    expect(page.locator("#status")).to_have_text("0 matches")
    assert page.locator("#tree .row").count() == 0


@pytest.mark.slow
def test_a_deep_link_opens_its_span(browser, trace_file, tmp_path):
    run = load_run([trace_file])
    (call,) = [n for n in run.nodes if n.model == "claude-3-haiku"]
    out = report([trace_file], tmp_path / "run.html")
    page = browser.open(out, f"#span={call.id}")
    page.wait_for_selector("#detail pre")
    assert "summarise the weather" in page.inner_text("#detail")
    assert page.locator("#tree .row.sel .name").inner_text() == "claude-3-haiku"


@pytest.mark.slow
def test_the_compare_view_shows_a_changed_prompt(browser, make_trace, tmp_path):
    old = make_trace(tmp_path / "old.jsonl")
    new = make_trace(tmp_path / "new.jsonl", "What is the capital of Italy?", answer="Rome")
    page = browser.open(report([new], tmp_path / "run.html", compare=[old]))
    page.click("#tab-compare")
    view = page.locator("#view-compare")
    changed = view.locator(".card.diff-changed", has_text="gpt-4o-mini")
    assert changed.count() == 1
    removed = changed.locator(".diffline.del").all_inner_texts()
    added = changed.locator(".diffline.add").all_inner_texts()
    assert "- user: What is the capital of Italy?" in removed
    assert "+ user: What is the capital of France?" in added
    assert "- Rome" in removed and "+ Paris" in added


@pytest.mark.slow
def test_downloads_the_json_and_a_perfetto_trace(browser, trace_file, tmp_path):
    page = browser.open(report([trace_file], tmp_path / "run.html"))
    with page.expect_download() as got:
        page.click("#dl-json")
    data = json.loads(Path(got.value.path()).read_text())
    names = {n["name"] for n in data["nodes"]}
    assert {"evaluate", "Predict:qa", "tool:search"} <= names
    (call,) = [n for n in data["nodes"] if n["model"] == "gpt-4o-mini"]
    assert call["content"]["response"] == "Paris"
    with page.expect_download() as got:
        page.click("#dl-perfetto")
    chrome = json.loads(Path(got.value.path()).read_text())
    complete = [e for e in chrome["traceEvents"] if e["ph"] == "X"]
    assert {"evaluate", "Predict:qa"} <= {e["name"] for e in complete}
    assert all(e["dur"] >= 0 for e in complete)


def _skeleton(html: str) -> dict:
    import base64
    import re

    blob = re.search(r'id="llmlog-skeleton">([^<]*)<', html)
    assert blob is not None
    return json.loads(zlib.decompress(base64.b64decode(blob.group(1))))
