"""A large trace file is read in two processes (a forked child reads the part after a root
span's start past the middle): the page is the same bytes as one process reading it, the
problems and errors name the same lines, and when the two parts share a span (one begun before
the split and ended after it) the first process reads on itself.

The size from which a file is split is lowered here so that small traces take that path;
``LLMLOG_REPORT_PROCESSES=1`` reads in one process, ``=2`` in two however busy the machine."""

from __future__ import annotations

import base64
import contextvars
import os
import random
import re
import threading
import zlib
from pathlib import Path
from typing import Any

import pytest

import llmlog
from llmlog_report_html import ReportInputError, ReportOptions, load_run, render_html
from llmlog_report_html import load as load_module
from llmlog_report_html import page as page_module
from llmlog_report_html.model import RunBuilder
from llmlog_report_html.processes import parallel_ok


def _can_fork() -> bool:
    with pytest.MonkeyPatch.context() as m:
        m.setenv("LLMLOG_REPORT_PROCESSES", "2")
        return parallel_ok()


pytestmark = pytest.mark.skipif(not _can_fork(), reason="needs fork and 2 CPUs")

WORDS = [
    "the",
    "model",
    "answer",
    "question",
    "context",
    "paris",
    "rome",
    "tool",
    "search",
    "user",
    "system",
    "value",
]


def _text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def examples(
    path: Path, count: int, *, seed: int = 3, secret: bool = False, loose: bool = False
) -> Path:
    """``count`` examples one after the other, as bench/bench_report.py's typical run;
    ``loose``: an LLM call outside any span before them and after them."""
    rng = random.Random(seed)
    llmlog.configure({"outputs": {}})
    with llmlog.new_trace_session(path, format="dspy") as session:
        if loose:
            llmlog.record_llm_call(model="m", prompt="before", response="r", latency_ms=1)
        for n in range(count):
            with llmlog.span("evaluate", inputs={"example": n}) as root:
                with llmlog.span("Predict:qa", inputs={"question": _text(rng, 8)}):
                    llmlog.record_llm_call(
                        model=rng.choice(["gpt-4o-mini", "gpt-4o"]),
                        provider="openai",
                        prompt=[
                            {"role": "system", "content": "Answer briefly."},
                            {"role": "user", "content": _text(rng, 30)},
                        ],
                        response=_text(rng, 6)
                        + (" key sk-proj-abcdefghijklmnopqrstuvwxyz012345" if secret else ""),
                        usage={"prompt_tokens": rng.randint(5, 50), "completion_tokens": 3},
                        latency_ms=rng.randint(1, 90),
                    )
                if n % 7 == 3:
                    try:
                        with llmlog.span("Tool:search", inputs={"q": _text(rng, 3)}):
                            raise ConnectionError("backend down")
                    except ConnectionError:
                        pass
                root.set_outputs(score=rng.random())
        if loose:
            llmlog.record_llm_call(model="m", prompt="after", response="r", latency_ms=1)
    assert session.path is not None
    return session.path


@pytest.fixture
def absorbed(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Every file is split; what each :meth:`RunBuilder.absorb` answered, in order."""
    monkeypatch.setattr(load_module, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setenv("LLMLOG_REPORT_PROCESSES", "2")  # however busy the machine
    answers: list[bool] = []
    absorb = RunBuilder.absorb

    def recorded(self: RunBuilder, state: tuple[Any, ...]) -> bool:
        answers.append(absorb(self, state))
        return answers[-1]

    monkeypatch.setattr(RunBuilder, "absorb", recorded)
    return answers


def one_process(monkeypatch: pytest.MonkeyPatch, paths: list[Path], **kw: Any) -> Any:
    with monkeypatch.context() as m:
        m.setenv("LLMLOG_REPORT_PROCESSES", "1")
        return load_run(paths, **kw)


OPTIONS = [ReportOptions(), ReportOptions(no_content=True), ReportOptions(max_field=40)]


def same_pages(a: Any, b: Any) -> None:
    for options in OPTIONS:
        assert render_html(a, options)[0] == render_html(b, options)[0]


def test_two_processes_write_the_bytes_of_one(tmp_path, absorbed, monkeypatch):
    path = examples(tmp_path / "run.jsonl", 300, secret=True)
    split = load_run([path])
    assert absorbed == [True]
    alone = one_process(monkeypatch, [path])
    assert len(split.nodes) == len(alone.nodes) > 900
    same_pages(split, alone)
    html = render_html(split)[0]
    assert "sk-proj-abcdefghijklmnopqrstuvwxyz012345" not in html
    # Twice the same bytes.
    assert render_html(load_run([path]))[0] == html


def test_several_files_and_traces_split_alike(tmp_path, absorbed, monkeypatch):
    a = examples(tmp_path / "a.jsonl", 120, seed=1)
    b = examples(tmp_path / "b.jsonl", 150, seed=2)
    split = load_run([a, b, a])  # the same trace read twice: its spans are shared
    assert absorbed[:2] == [True, True]
    same_pages(split, one_process(monkeypatch, [a, b, a]))


def test_a_span_open_across_the_split_is_read_by_the_first_process(tmp_path, absorbed, monkeypatch):
    """A root span of another thread is open while the examples run: the child's part ends
    it, so the parts share it and cannot be joined."""
    llmlog.configure({"outputs": {}})
    path = tmp_path / "run.jsonl"
    started, done = threading.Event(), threading.Event()

    def background() -> None:
        with llmlog.span("background job", inputs={"n": 1}):
            started.set()
            done.wait(30)

    with llmlog.new_trace_session(path, format="dspy"):
        # In the session's context (a new thread's own has none), as a root span.
        worker = threading.Thread(target=contextvars.copy_context().run, args=(background,))
        worker.start()
        assert started.wait(30)
        for n in range(200):
            with llmlog.span("evaluate", inputs={"example": n}):
                llmlog.record_llm_call(model="m", prompt=f"p{n}", response="r", latency_ms=1)
        done.set()
        worker.join(30)
    split = load_run([path])
    assert absorbed == [False]
    alone = one_process(monkeypatch, [path])
    same_pages(split, alone)
    assert any(n.name == "background job" and n.duration_ms is not None for n in split.nodes)


def test_calls_of_no_span_in_both_parts_are_read_by_the_first_process(
    tmp_path, absorbed, monkeypatch
):
    """Each is a node under the trace itself, numbered in the trace: the child's part changes a
    node the first part has."""
    path = examples(tmp_path / "run.jsonl", 200, loose=True)
    split = load_run([path])
    assert absorbed == [False]
    same_pages(split, one_process(monkeypatch, [path]))
    ids = [n.id for n in split.nodes if n.kind == "llm" and n.content.get("prompt") != ""]
    assert len(ids) == len(set(ids))


def _with_bad_line(path: Path, fraction: float) -> tuple[Path, int]:
    lines = path.read_bytes().splitlines(keepends=True)
    at = int(len(lines) * fraction)
    lines.insert(at, b'{"type": "span", "timestamp": 12}\n')
    path.write_bytes(b"".join(lines))
    return path, at + 1


@pytest.mark.parametrize("fraction", [0.2, 0.9])
def test_a_bad_line_in_either_part_is_named_as_one_process_names_it(
    tmp_path, absorbed, monkeypatch, fraction
):
    path, number = _with_bad_line(examples(tmp_path / "run.jsonl", 200), fraction)
    with pytest.raises(ReportInputError) as split_error:
        load_run([path])
    with pytest.raises(ReportInputError) as alone_error:
        one_process(monkeypatch, [path])
    assert str(split_error.value) == str(alone_error.value)
    assert f"run.jsonl:{number}: " in str(split_error.value)
    lenient = load_run([path], lenient=True)
    alone = one_process(monkeypatch, [path], lenient=True)
    assert lenient.problems == alone.problems and len(lenient.problems) == 1
    assert f":{number}: " in lenient.problems[0]
    same_pages(lenient, alone)


def test_no_process_to_be_had_reads_in_one(tmp_path, absorbed, monkeypatch):
    """``fork`` failing (out of processes or memory) is no error: one process reads it all."""
    path = examples(tmp_path / "run.jsonl", 100)

    def no_fork() -> int:
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", no_fork)
    split = load_run([path])
    assert absorbed == []
    same_pages(split, one_process(monkeypatch, [path]))


# -- the contents cleaned in two processes ------------------------------------------------------


@pytest.fixture
def small_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs of a few hundred nodes have their contents cleaned in two parts."""
    monkeypatch.setattr(page_module, "PARALLEL_MIN_NODES", 50)


def assert_clean(html: str) -> None:
    """No secret of :func:`_evaluated`'s anywhere in the page's data, decoded."""
    blobs = re.findall(r'(?:id="llmlog-skeleton"|class="llmlog-chunk" data-n="\d+")>([^<]*)<', html)
    text = "".join(zlib.decompress(base64.b64decode(b)).decode("utf-8") for b in blobs)
    assert "question 59 token=" in text  # the child's part is there
    assert "sk-proj-abcdefghijklmnopqrstuvwxyz" not in text and "hunter2" not in text


def pages_of(monkeypatch: pytest.MonkeyPatch, run: Any, processes: str, **kw: Any) -> str:
    with monkeypatch.context() as m:
        m.setenv("LLMLOG_REPORT_PROCESSES", processes)
        return render_html(run, ReportOptions(**kw))[0]


def _evaluated(path: Path, count: int) -> Path:
    """An evaluation run of ``count`` examples, each an example span with its result, and a
    prompt and a prediction holding secrets (the file keeps them: redaction off)."""
    llmlog.configure({"outputs": {}, "redact": False})
    with llmlog.new_trace_session(path, format="dspy") as session:
        session.emit_span_start("run", None, "Evaluate")
        for n in range(count):
            span = f"ex{n}"
            session.emit_span_start(span, "run", f"Example #{n}", inputs={"question": f"q{n}"})
            llmlog.record_llm_call(
                model="m",
                prompt=f"question {n} token=sk-proj-abcdefghijklmnopqrstuvwxyz{n:06d}",
                response="r",
                latency_ms=1,
            )
            session.emit_span_end(
                span,
                outputs={"prediction": f"answer {n} password=hunter2hunter2"},
                evaluation={"index": n, "passed": n % 3 != 0, "score": float(n % 3 != 0)},
            )
        session.emit_span_end(
            "run",
            evaluation={"metric": "m", "score": 66.7, "examples": count, "passed": 2, "failed": 1},
        )
    assert session.path is not None
    return session.path


def test_contents_cleaned_by_a_child_make_the_bytes_of_one_process(
    tmp_path, small_parts, monkeypatch
):
    path = _evaluated(tmp_path / "run.jsonl", 60)
    assert b"sk-proj-abcdefghijklmnopqrstuvwxyz000059" in path.read_bytes()
    run = one_process(monkeypatch, [path])
    assert len(run.nodes) > 2 * page_module.PARALLEL_MIN_NODES
    forks = []
    real_fork = os.fork

    def fork() -> int:
        forks.append(1)
        return real_fork()

    monkeypatch.setattr(os, "fork", fork)
    for options in ({}, {"max_field": 40}, {"redact": False}):
        alone = pages_of(monkeypatch, run, "1", **options)
        assert not forks
        assert pages_of(monkeypatch, run, "2", **options) == alone
        assert forks, "the second part was cleaned by a child"
        forks.clear()
    assert_clean(pages_of(monkeypatch, run, "2"))
    forks.clear()
    # Without content, or with max_size (any content may be cut afterwards), no child.
    pages_of(monkeypatch, run, "2", no_content=True)
    pages_of(monkeypatch, run, "2", max_size=50_000)
    assert not forks


def test_the_evaluation_table_of_examples_a_child_cleaned_is_cleaned(
    tmp_path, small_parts, monkeypatch
):
    run = one_process(monkeypatch, [_evaluated(tmp_path / "run.jsonl", 60)])
    (evaluation,) = run.evaluations()
    assert len(evaluation.examples) == 60
    split = page_module.content_split(len(run.nodes))
    assert split is not None and evaluation.examples[-1] > split
    skeleton = page_module.report_data(run)[0]
    rows = skeleton["evals"][0]["rows"]
    assert rows[-1]["prediction"] == "answer 59 password=[REDACTED:secret]"
    html = pages_of(monkeypatch, run, "2")
    assert html == pages_of(monkeypatch, run, "1")
    assert_clean(html)


def test_a_child_that_fails_or_is_not_to_be_had_changes_nothing(tmp_path, small_parts, monkeypatch):
    run = one_process(monkeypatch, [examples(tmp_path / "run.jsonl", 80)])
    alone = pages_of(monkeypatch, run, "1")

    def failing(*_: Any) -> Any:
        os._exit(1)  # the child dies without sending anything

    with monkeypatch.context() as m:
        m.setattr(page_module, "_second_part", failing)
        assert pages_of(monkeypatch, run, "2") == alone

    def no_fork() -> int:
        raise BlockingIOError(11, "Resource temporarily unavailable")

    with monkeypatch.context() as m:
        m.setattr(os, "fork", no_fork)
        assert pages_of(monkeypatch, run, "2") == alone


def test_the_page_data_has_a_chunk_starting_at_the_split(tmp_path, small_parts, monkeypatch):
    run = one_process(monkeypatch, [examples(tmp_path / "run.jsonl", 80)])
    split = page_module.content_split(len(run.nodes))
    skeleton, _, starts = page_module.report_data(run)
    assert split in starts and starts[0] == 0
    assert skeleton["nodes"]["has"] == [1 if n.content else 0 for n in run.nodes]
