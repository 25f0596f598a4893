"""The screenshots of ``docs/report.md``, regenerated from sample runs::

    .venv/bin/python -m llmlog_report_html.screenshots docs/img      # or: nox -s screenshots

It writes sample runs with the real APIs (a traced question-answering program, a changed prompt
to compare with, an RLM file, a flight-recorder snapshot, a DSPy ``Evaluate`` run on ``DummyLM``
when DSPy and its llmlog integration are installed), renders their reports and photographs
the main views in headless Chromium (``/usr/bin/chromium``, driven by Playwright, which is a
development dependency, not one of this package's).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "main", "sample_runs"]

#: Debian's Chromium, where ``.ci/run`` installs it.
CHROMIUM = "/usr/bin/chromium"
#: How the screenshots, the browser tests and ``bench/bench_report.py`` start it headless: as root
#: without a sandbox, and with none of its background connections, which a closed network refuses
#: (or answers slowly) and which a report opened from ``file://`` must not make anyway.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
_QUESTIONS = [
    ("What is the capital of France?", "Paris"),
    ("Which river flows through Rome?", "The Tiber"),
    ("Who wrote Faust?", "Goethe"),
]


def _qa_run(path: Path, system: str) -> Path:
    import llmlog

    with (
        llmlog.new_trace_session(path, format="dspy") as session,
        llmlog.span("Evaluate", inputs={"examples": len(_QUESTIONS)}) as evaluate,
    ):
        for n, (question, answer) in enumerate(_QUESTIONS):
            with llmlog.span("Example", inputs={"index": n, "question": question}) as ex:
                with llmlog.span("ChainOfThought:qa", inputs={"question": question}):
                    # The calls take the time they report, so spans and calls line up in the
                    # waterfall as in a real run.
                    time.sleep((420 + n * 130) / 1000)
                    llmlog.record_llm_call(
                        model="gpt-4o-mini",
                        provider="openai",
                        prompt=[
                            {"role": "system", "content": system},
                            {"role": "user", "content": f"Question: {question}"},
                        ],
                        response=f"Reasoning: I recall it.\nAnswer: {answer}",
                        usage={
                            "prompt_tokens": 182 + n * 7,
                            "completion_tokens": 21,
                            "cost": 0.0000399 + n * 0.000001,
                        },
                        latency_ms=420 + n * 130,
                    )
                try:
                    with llmlog.span("Tool:search", inputs={"query": question}) as tool:
                        time.sleep(0.18)
                        llmlog.record_llm_call(
                            model="claude-3-haiku",
                            provider="anthropic",
                            prompt=f"Rewrite as a search query: {question}",
                            response=question.lower().rstrip("?"),
                            usage={"input_tokens": 31, "output_tokens": 9},
                            latency_ms=180,
                        )
                        if n == 1:
                            raise TimeoutError("search backend timed out after 30 s")
                        tool.set_outputs(results=[f"{answer} - encyclopedia entry"])
                except TimeoutError:
                    pass
                ex.set_outputs(answer=answer, correct=n != 1)
        evaluate.set_outputs(score=0.67)
    assert session.path is not None
    return session.path


def _rlm_run(directory: Path) -> Path:
    from llmlog_trace_rlm import RlmTraceSession

    s = RlmTraceSession(directory, {"root_model": "gpt-5", "query": "sum of the primes"})
    with s:
        s.log_iteration(
            [{"role": "user", "content": "What is the sum of the primes below 20?"}],
            "I will compute it in the REPL.",
            [
                {
                    "code": "primes = [n for n in range(2, 20) if all(n % d for d in range(2, n))]\n"
                    "print(sum(primes))",
                    "stdout": "77\n",
                    "stderr": "",
                    "locals": {"primes": [2, 3, 5, 7, 11, 13, 17, 19]},
                    "execution_time": 0.004,
                    "rlm_calls": [
                        {
                            "prompt": "Is 77 the sum of 2, 3, 5, 7, 11, 13, 17, 19?",
                            "response": "Yes.",
                            "prompt_tokens": 30,
                            "completion_tokens": 2,
                            "execution_time": 0.3,
                        }
                    ],
                }
            ],
            None,
            1.2,
        )
        s.log_iteration(
            [{"role": "user", "content": "Give the final answer."}], "FINAL(77)", [], "77", 0.4
        )
    (path,) = directory.glob("rlm_*.jsonl")
    return path


def _flight_run(directory: Path) -> Path:
    import llmlog
    from llmlog.ext import trace_region, trace_task
    from llmlog_engine_flight import FlightRecorder, RecorderOutput

    recorder = FlightRecorder(snapshot_dir=directory, min_snapshot_interval=0)
    recorder.start()
    try:
        llmlog.get_logger().dispatcher.add_output(RecorderOutput(recorder))
        log = llmlog.get_logger("app")
        with trace_task("request 42"):
            with trace_region("retrieve"):
                log.info("retrieved 5 passages", docs=5)
            with trace_region("generate"):
                log.warn("rate limited; retrying", attempt=2)
        try:
            raise TimeoutError("the model did not answer in 30 s")
        except TimeoutError as exc:
            recorder.snapshot_on_error(exc)
    finally:
        recorder.stop()
    (path,) = directory.glob("flight-*.jsonl")
    return path


def _evaluate_run(directory: Path) -> Path | None:
    """A real ``dspy.Evaluate`` (2 threads, ``DummyLM``) traced by the DSPy integration: passing,
    failing and raising examples, a metric with feedback. ``None`` without DSPy."""
    try:
        import dspy
        from dspy.utils import DummyLM

        from llmlog_integration_dspy import integration
    except ImportError:
        return None
    import llmlog

    class Answer(dspy.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.qa = dspy.ChainOfThought("question -> answer")

        def forward(self, question: str) -> Any:
            if "Atlantis" in question:
                raise LookupError("no source mentions Atlantis\n(searched 3 indexes)")
            return self.qa(question=question)

    def judged(example: Any, prediction: Any, trace: Any = None) -> Any:
        right = example.answer.lower() in prediction.answer.lower()
        return dspy.Prediction(
            score=1.0 if right else 0.0,
            feedback="matches the reference" if right else f"expected {example.answer}",
        )

    rows = [*_QUESTIONS, ("What is the capital of Australia?", "Canberra")]
    rows += [("Where is Atlantis?", "nowhere")]
    answers = {q.split()[-1].rstrip("?"): a for q, a in _QUESTIONS}
    answers["Australia"] = "Sydney"
    llmlog.configure({"outputs": {}, "trace": {"dir": str(directory)}})
    integration.instrument()
    try:
        lm = DummyLM({k: {"reasoning": "I recall it.", "answer": v} for k, v in answers.items()})
        devset = [dspy.Example(question=q, answer=a).with_inputs("question") for q, a in rows]
        with dspy.context(lm=lm):
            dspy.Evaluate(devset=devset, metric=judged, num_threads=2)(Answer())
    finally:
        integration.uninstrument()
        llmlog.configure({"outputs": {}, "level": "info"})
    (path,) = directory.glob("*.jsonl")
    return path


def sample_runs(directory: Path) -> dict[str, Path]:
    """The sample runs' files: ``qa``, ``qa_before`` (another system prompt), ``rlm``,
    ``flight``, and ``evaluate`` when DSPy is installed."""
    import llmlog

    llmlog.configure({"outputs": {}, "level": "info"})
    runs = {
        "qa": _qa_run(directory / "qa.jsonl", "Answer with one short phrase. Think step by step."),
        "qa_before": _qa_run(directory / "qa-before.jsonl", "Answer with one short phrase."),
        "rlm": _rlm_run(directory / "rlm"),
        "flight": _flight_run(directory / "flight"),
    }
    evaluate = _evaluate_run(directory / "evaluate")
    if evaluate is not None:
        runs["evaluate"] = evaluate
    return runs


def _shoot(page: Any, path: Path) -> None:
    page.screenshot(path=str(path))
    print(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", help="where the PNG files go (docs/img)")
    parser.add_argument("--chromium", default=CHROMIUM)
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    from llmlog_report_html.diff import diff_runs
    from llmlog_report_html.load import load_run
    from llmlog_report_html.page import write_report

    out = Path(args.directory)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        runs = sample_runs(work)
        qa = load_run([runs["qa"]])
        compare = diff_runs(load_run([runs["qa_before"]]), qa, "before.jsonl", "after.jsonl")
        pages = {
            "qa": write_report(qa, work / "qa.html", compare=compare.to_json()).path,
            "rlm": write_report(load_run([runs["rlm"]]), work / "rlm.html").path,
            "flight": write_report(load_run([runs["flight"]]), work / "flight.html").path,
        }
        if "evaluate" in runs:
            pages["evaluate"] = write_report(
                load_run([runs["evaluate"]]), work / "evaluate.html"
            ).path
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1360, "height": 760})
            page.route(
                "**/*", lambda r: r.continue_() if r.request.url.startswith("file:") else r.abort()
            )

            def open_(name: str) -> None:
                path = pages[name]
                assert path is not None
                page.goto(path.as_uri())
                page.wait_for_selector("body[data-ready='1']")

            open_("qa")
            page.click("#expand")
            page.locator("#tree .row", has=page.locator(".name", has_text="gpt-4o-mini")).nth(
                1
            ).click()
            page.wait_for_selector("#detail .msg")
            _shoot(page, out / "report-tree.png")
            page.check("#errors-only")
            page.locator("#tree .row.err").last.click()
            _shoot(page, out / "report-errors.png")
            page.uncheck("#errors-only")
            page.click("#tab-stats")
            _shoot(page, out / "report-stats.png")
            page.click("#tab-compare")
            _shoot(page, out / "report-compare.png")
            open_("rlm")
            page.locator("#tree .row", has=page.locator(".name", has_text="iteration 1")).click()
            page.wait_for_selector("#detail .block")
            _shoot(page, out / "report-rlm.png")
            open_("flight")
            page.click("#expand")
            _shoot(page, out / "report-flight.png")
            if "evaluate" in pages:
                open_("evaluate")
                page.click("#tab-eval")
                _shoot(page, out / "report-evaluation.png")
            browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
