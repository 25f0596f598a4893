"""The report as a person sees it, in a real headless Chromium opened from ``file://`` with
every request refused: a page fails its test on any console error, dialog or request
(``conftest.Browser``)."""

from __future__ import annotations

import json
import re
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
    """The first row of the tree whose name is exactly ``name``."""
    exact = re.compile("^" + re.escape(name) + "$")
    return page.locator("#tree .row", has=page.locator(".name", has_text=exact)).first


def test_the_tree_shows_the_spans_of_a_known_trace(browser, trace_file, tmp_path):
    """The quick smoke test of the default run: the page opens offline and shows the spans."""
    page = browser.open(report([trace_file], tmp_path / "run.html"))
    tree = page.inner_text("#tree")
    for name in ("evaluate", "Predict:qa", "tool:search", "gpt-4o-mini", "selfhosted-qa-7b"):
        assert name in tree
    assert "2 LLM calls" in page.inner_text("header")


@pytest.mark.slow
def test_an_error_span_is_marked_and_counted(browser, trace_file, tmp_path):
    page = browser.open(report([trace_file], tmp_path / "run.html"))
    failed = row(page, "tool:search")
    assert "err" in failed.get_attribute("class")
    assert failed.locator(".errmark").count() == 1
    assert "err" not in row(page, "Predict:qa").get_attribute("class")
    # One failure, counted once: the error event inside the span is the span's failure.
    assert page.inner_text("#errors-chip") == "1 error"
    # The errors are listed first, each a way to its row.
    listed = page.locator("#error-list .errlink")
    assert listed.count() == 1
    assert "search backend down" in listed.first.inner_text()
    listed.first.click()
    assert "search backend down" in page.inner_text("#detail .error-box")
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
    row(page, "selfhosted-qa-7b").click()
    page.wait_for_selector("#detail pre")
    facts = page.inner_text("#detail table.facts")
    assert "unknown" in facts and "$0" not in facts


@pytest.mark.slow
def test_search_finds_a_prompt_in_the_content(browser, trace_file, tmp_path):
    page = browser.open(report([trace_file], tmp_path / "run.html"))
    page.fill("#search", "capital of france")
    expect(page.locator("#status")).to_contain_text("matches")
    shown = page.inner_text("#tree")
    assert "gpt-4o-mini" in shown and "selfhosted-qa-7b" not in shown
    page.fill("#search", "no such text anywhere")
    expect(page.locator("#status")).to_have_text("0 matches")
    assert page.locator("#tree .row").count() == 0


@pytest.mark.slow
def test_a_deep_link_opens_its_span(browser, trace_file, tmp_path):
    run = load_run([trace_file])
    (call,) = [n for n in run.nodes if n.model == "selfhosted-qa-7b"]
    out = report([trace_file], tmp_path / "run.html")
    page = browser.open(out, f"#span={call.id}")
    page.wait_for_selector("#detail pre")
    assert "summarise the weather" in page.inner_text("#detail")
    assert page.locator("#tree .row.sel .name").inner_text() == "selfhosted-qa-7b"


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


@pytest.mark.slow
def test_an_rlm_file_shows_its_iterations_and_final_answer(browser, tmp_path):
    import llmlog
    from llmlog_trace_rlm import RlmTraceSession

    llmlog.configure({})
    with RlmTraceSession(tmp_path / "rlm", {"root_model": "gpt-5", "query": "sum 1..4"}) as s:
        s.log_iteration(
            [{"role": "user", "content": "sum the numbers 1..4"}],
            "Let me compute it.",
            [
                {
                    "code": "total = sum(range(5))\nprint(total)",
                    "stdout": "10\n",
                    "stderr": "",
                    "locals": {"total": 10},
                    "execution_time": 0.01,
                    "rlm_calls": [
                        {
                            "prompt": "is 10 right?",
                            "response": "yes, ten",
                            "prompt_tokens": 4,
                            "completion_tokens": 2,
                            "execution_time": 0.2,
                        }
                    ],
                }
            ],
            None,
            0.5,
        )
        s.log_iteration([{"role": "user", "content": "answer now"}], "FINAL(10)", [], "10", 0.1)
    page = browser.open(report([tmp_path / "rlm"], tmp_path / "rlm.html"))
    assert page.inner_text("#final-answer") == "Final answer: 10"
    tree = page.inner_text("#tree")
    assert "iteration 1" in tree and "iteration 2" in tree
    row(page, "iteration 1").click()
    page.wait_for_selector("#detail .block")
    detail = page.inner_text("#detail")
    assert "Let me compute it." in detail
    assert "sum the numbers 1..4" in detail  # the iteration's prompt, as messages
    assert "total = sum(range(5))" in detail and "10" in detail
    assert '"total": 10' in detail  # its locals
    assert "is 10 right?" in detail and "yes, ten" in detail  # the sub-LM call
    row(page, "iteration 2").click()
    page.wait_for_selector("#detail h3")
    assert "FINAL ANSWER" in page.inner_text("#detail").upper()


@pytest.mark.slow
def test_a_flight_snapshot_shows_its_trigger_and_timeline(browser, tmp_path):
    import llmlog
    from llmlog.ext import trace_region, trace_task
    from llmlog_engine_flight import FlightRecorder, RecorderOutput

    llmlog.configure({"level": "info", "outputs": {}})
    fr = FlightRecorder(snapshot_dir=tmp_path, min_snapshot_interval=0)
    fr.start()
    try:
        llmlog.get_logger().dispatcher.add_output(RecorderOutput(fr))
        log = llmlog.get_logger("app")
        with trace_task("request"), trace_region("retrieve"):
            log.warn("retrying the retriever", attempt=2)
        try:
            raise TimeoutError("the model timed out")
        except TimeoutError as exc:
            fr.snapshot_on_error(exc)
    finally:
        fr.stop()
    (snapshot,) = tmp_path.glob("flight-*.jsonl")
    page = browser.open(report([snapshot], tmp_path / "flight.html"))
    trigger = page.inner_text("#trigger")
    assert trigger.startswith("Flight snapshot trigger: error")
    page.click("#expand")
    tree = page.inner_text("#tree")
    assert "retrieve" in tree and "request" in tree
    assert "retrying the retriever" in tree
    assert "TimeoutError: the model timed out" in tree
    with page.expect_download() as got:
        page.click("#dl-perfetto")
    chrome = json.loads(Path(got.value.path()).read_text())
    assert any(e.get("name") == "retrieve" for e in chrome["traceEvents"])


HOSTILE = [
    "</script><script>alert('script')</script>",
    "<img src=x onerror=alert('img')>",
    "<a href=\"javascript:alert('link')\">click me</a>",
    "javascript:alert('url')",
    "left \u202eright-to-left override\u202c end",
    "lone \udcff surrogate",
    "zero\u200bwidth and \x1b[31mterminal escape",
]


@pytest.mark.slow
def test_hostile_content_renders_as_text_and_never_executes(browser, tmp_path):
    import llmlog

    llmlog.configure({})
    with (
        llmlog.new_trace_session(tmp_path / "hostile.jsonl", format="dspy"),
        llmlog.span("<b>span</b></script>", inputs={"q": HOSTILE}),
    ):
        for n, text in enumerate(HOSTILE):
            llmlog.record_llm_call(
                model=f"m{n}<i>",
                prompt=[{"role": "user</script>", "content": text}],
                response=text,
                usage={"prompt_tokens": 1, "completion_tokens": 1},
            )
    out = report([tmp_path / "hostile.jsonl"], tmp_path / "hostile.html")
    page = browser.open(out)
    page.click("#expand")
    # Nothing ran: no dialog (the fixture fails on one), no element the data could have made.
    assert page.locator("#app img, #app a[href], #app b, #app i").count() == 0
    assert page.locator("#tree .name", has_text="<b>span</b></script>").count() == 1
    for n in range(len(HOSTILE)):
        row(page, f"m{n}<i>").click()
        page.wait_for_selector("#detail .msg")
        assert page.locator("#app img, #app a[href], #app b, #app i").count() == 0
    row(page, "m4<i>").click()
    page.wait_for_selector("#detail .msg")
    # The override is shown as its code, not obeyed; so are the other invisible characters.
    escapes = page.locator("#detail .esc").all_inner_texts()
    assert "\\u202e" in escapes and "\\u202c" in escapes
    row(page, "m6<i>").click()
    page.wait_for_selector("#detail .msg")
    escapes = page.locator("#detail .esc").all_inner_texts()
    assert "\\u200b" in escapes and "\\u001b" in escapes
    row(page, "m5<i>").click()
    page.wait_for_selector("#detail .msg")
    assert "lone \\udcff surrogate" in page.inner_text("#detail .msg pre")
    row(page, "m0<i>").click()
    page.wait_for_selector("#detail .msg")
    assert "</script><script>alert('script')</script>" in page.inner_text("#detail")
    assert page.evaluate("document.scripts.length") == len(page.locator("script").all())
    # The role is text too.
    assert "user</script>" in page.locator("#detail .msg .role").first.inner_text()


@pytest.mark.slow
def test_a_real_dspy_program_on_dummylm(browser, tmp_path):
    import dspy
    from dspy.utils import DummyLM

    import llmlog
    import llmlog_integration_dspy as integration

    llmlog.configure({"trace": {"dir": str(tmp_path / "traces")}, "outputs": {}})
    integration.instrument()
    try:
        dspy.configure(lm=DummyLM([{"reasoning": "Paris is the capital", "answer": "Paris"}]))
        program = dspy.ChainOfThought("question -> answer")
        assert program(question="What is the capital of France?").answer == "Paris"
    finally:
        integration.uninstrument()
    (trace,) = (tmp_path / "traces").glob("*.jsonl")
    page = browser.open(report([trace], tmp_path / "dspy.html"))
    page.click("#expand")
    tree = page.inner_text("#tree")
    assert "ChainOfThought" in tree and "Predict:predict" in tree and "LM:dummy" in tree
    row(page, "dummy").click()
    page.wait_for_selector("#detail .msg")
    detail = page.inner_text("#detail")
    assert "What is the capital of France?" in detail
    assert "cost\tunknown" in page.inner_text("#detail table.facts")


@pytest.mark.slow
def test_the_notebook_frame_shows_the_report(chromium, trace_file, tmp_path, monkeypatch):
    """``llmlog.display``'s fragment in a page as Jupyter inserts it: the sandboxed frame
    (scripts allowed, no same-origin) decodes and draws the run."""
    import sys

    import llmlog

    monkeypatch.setitem(sys.modules, "IPython", None)
    monkeypatch.setitem(sys.modules, "IPython.display", None)
    fragment = llmlog.display(trace_file, height=600)
    notebook = tmp_path / "notebook.html"
    notebook.write_text(f"<!DOCTYPE html><html><body><h1>cell</h1>{fragment}</body></html>")
    page = chromium.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.goto(notebook.as_uri())
    frame = page.frame_locator("iframe")
    expect(frame.locator("body[data-ready='1']")).to_have_count(1)
    frame.locator("#tree .row", has=frame.locator(".name", has_text="gpt-4o-mini")).click()
    expect(frame.locator("#detail .msg .role")).to_have_count(2)
    page.close()
    assert problems == []


@pytest.mark.slow
def test_grouping_by_model_and_by_evaluate_example(browser, trace_file, tmp_path):
    page = browser.open(report([trace_file], tmp_path / "run.html"))
    page.select_option("#group", "model")
    heads = page.locator("#tree .grouphead").all_inner_texts()
    assert len(heads) == 2
    assert any("gpt-4o-mini" in h and "1 calls" in h and "$0.0000100" in h for h in heads)
    assert any("selfhosted-qa-7b" in h and "cost unknown" in h for h in heads)
    page.select_option("#group", "example")
    heads = page.locator("#tree .grouphead").all_inner_texts()
    assert [h.split("\n")[0] for h in heads] == ["example 1: Predict:qa", "example 2: tool:search"]
    assert "errors" in heads[1] and "errors" not in heads[0]
    page.select_option("#group", "trace")
    assert page.locator("#tree .grouphead").count() == 0


def _nested(events: list[dict]) -> bool:
    """Whether the complete events of each thread nest (what Perfetto needs of them)."""
    by_thread: dict[tuple, list[dict]] = {}
    for e in events:
        if e["ph"] == "X":
            by_thread.setdefault((e["pid"], e["tid"]), []).append(e)
    for slices in by_thread.values():
        open_ends: list[float] = []
        for e in sorted(slices, key=lambda e: (e["ts"], -e["dur"])):
            while open_ends and open_ends[-1] <= e["ts"] + 1e-6:
                open_ends.pop()
            if open_ends and e["ts"] + e["dur"] > open_ends[-1] + 1e-6:
                return False
            open_ends.append(e["ts"] + e["dur"])
    return True


@pytest.mark.slow
def test_the_perfetto_export_of_overlapping_spans_nests_per_thread(browser, tmp_path):
    import threading
    import time

    import llmlog

    llmlog.configure({})

    # Every thread is inside both of its spans before any leaves them: they overlap whatever the
    # machine's load (a sleep alone did not guarantee it on a busy machine).
    all_inside = threading.Barrier(3, timeout=60)

    def work(name: str) -> None:
        with llmlog.span(name), llmlog.span(f"{name}.inner"):
            all_inside.wait()
            time.sleep(0.01)

    with (
        llmlog.new_trace_session(tmp_path / "threads.jsonl", format="dspy"),
        llmlog.span("root"),
    ):
        threads = [
            threading.Thread(target=llmlog.bind_current(work), args=(f"w{n}",)) for n in range(3)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    page = browser.open(report([tmp_path / "threads.jsonl"], tmp_path / "threads.html"))
    with page.expect_download() as got:
        page.click("#dl-perfetto")
    events = json.loads(Path(got.value.path()).read_text())["traceEvents"]
    workers = [e for e in events if e.get("name") in ("w0", "w1", "w2")]
    assert len(workers) == 3
    assert len({e["tid"] for e in workers}) == 3  # they overlap: one lane each
    assert _nested(events)


def _evaluate_trace(tmp_path: Path, content: bool = True) -> Path:
    """A real ``dspy.Evaluate`` (2 threads, DummyLM) traced by the integration: a passing, a
    failing and a raising example, and one whose input is hostile text."""
    import dspy
    from dspy.utils import DummyLM

    import llmlog
    import llmlog_integration_dspy as integration

    class Program(dspy.Module):
        def __init__(self) -> None:
            super().__init__()
            self.answer = dspy.Predict("question -> answer")

        def forward(self, question: str) -> dspy.Prediction:
            if question == "boom":
                raise ValueError("the program failed\nsecond line")
            return self.answer(question=question)

    def metric(example: dspy.Example, prediction: dspy.Prediction, trace: object = None) -> bool:
        return bool(example.answer == prediction.answer)

    hostile = "<img src=x onerror=alert(1)> \x1b[31m \u202e bidi"
    devset = [
        dspy.Example(question=q, answer=a).with_inputs("question")
        for q, a in [("one", "1"), ("three", "3"), ("boom", "0"), (hostile, "2")]
    ]
    traces = tmp_path / "traces"
    llmlog.configure({"trace": {"dir": str(traces), "content": content}, "outputs": {}})
    integration.instrument()
    try:
        # The first key found in the prompt answers ("onerror" holds "one"): "img" first.
        answers = {"img": {"answer": "2"}, "one": {"answer": "1"}, "three": {"answer": "x"}}
        dspy.configure(lm=DummyLM(answers))
        dspy.Evaluate(devset=devset, metric=metric, num_threads=2)(Program())
    finally:
        integration.uninstrument()
    (trace,) = traces.glob("*.jsonl")
    return trace


@pytest.mark.slow
def test_the_evaluation_table_links_each_example_to_its_tree(browser, tmp_path):
    trace = _evaluate_trace(tmp_path)
    page = browser.open(report([trace], tmp_path / "eval.html"))
    # The score and counts at the top.
    banner = page.inner_text("#eval-banner-0")
    assert "Evaluate (metric)" in banner
    assert "score 50 · 4 examples · 2 passed · 1 failed · 1 error" in banner
    page.click("#tab-eval")
    table = page.locator("#view-eval table.evaltable")
    rows = table.locator("tr.evalrow")
    assert rows.count() == 4
    cells = [rows.nth(i).locator("td").all_inner_texts() for i in range(4)]
    assert [c[:3] for c in cells] == [
        ["#0", "pass", "true"],
        ["#1", "fail", "false"],
        ["#2", "error", "0"],
        ["#3", "pass", "true"],
    ]
    assert cells[1][3:6] == ["question: three", "answer: x", "answer: 3"]
    assert cells[2][6] == "ValueError: the program failed\nsecond line" or cells[2][6].startswith(
        "ValueError: the program failed"
    )
    # Hostile input is text: control and bidi characters shown as their codes, no markup made.
    assert page.locator("#view-eval img").count() == 0
    escapes = rows.nth(3).locator(".esc").all_inner_texts()
    assert "\\u001b" in escapes and "\\u202e" in escapes
    assert "<img src=x onerror=alert(1)>" in cells[3][3]
    # A row is a link to its example's span: the tree opens there, the example selected.
    run = load_run([trace])
    (example,) = [n for n in run.nodes if n.name == "Example #1"]
    rows.nth(1).click()
    expect(page.locator("#tree .row.sel .name")).to_have_text("Example #1")
    assert page.evaluate("location.hash") == f"#span={example.id}"
    assert "example #1: fail, metric false" in page.inner_text("#detail table.facts")
    assert page.is_visible("#tree") and not page.is_visible("#view-eval")
    # Its program's tree is open beneath it.
    assert row(page, "Program").is_visible()
    # The same row clicked again (the hash unchanged) still lands there.
    page.click("#tab-eval")
    rows.nth(1).click()
    expect(page.locator("#tree .row.sel .name")).to_have_text("Example #1")


@pytest.mark.slow
def test_the_evaluation_table_without_content_keeps_the_results(browser, tmp_path):
    trace = _evaluate_trace(tmp_path, content=False)
    out = report([trace], tmp_path / "eval.html", no_content=True)
    skeleton = _skeleton(out.read_text())
    (evaluation,) = skeleton["evals"]
    assert [r["passed"] for r in evaluation["rows"]] == [True, False, False, True]
    assert {r["input"] for r in evaluation["rows"]} == {None}
    page = browser.open(out)
    page.click("#tab-eval")
    first = page.locator("#view-eval tr.evalrow").first.locator("td").all_inner_texts()
    assert first[:4] == ["#0", "pass", "true", "(left out)"]
