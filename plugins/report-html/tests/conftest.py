"""Fixtures of the report tests: isolation, ``llmlog`` run as a separate process, traces made
with the real tracing API, and a real headless Chromium (Debian's ``/usr/bin/chromium``, driven
by Playwright) that opens reports from ``file://`` with every other request refused.

A page fails its test on any console error, uncaught exception, dialog (``alert``) or attempted
request: :class:`Browser` records them and the fixture asserts there were none.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from llmlog.testing import isolated_environment, run_llmlog
from llmlog_report_html import screenshots

CHROMIUM = Path(screenshots.CHROMIUM)
CHROMIUM_ARGS = screenshots.CHROMIUM_ARGS


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path) -> Iterator[Path]:
    with isolated_environment(tmp_path):
        yield tmp_path


@pytest.fixture
def cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    """:func:`llmlog.testing.run_llmlog`: the installed ``llmlog`` command in its own process."""
    return run_llmlog


def write_trace(path: Path, question: str = "What is the capital of France?", **kw: Any) -> Path:
    """A known run, written with the real tracing API in the ``dspy`` format: ``evaluate`` holding
    ``Predict:qa`` (one LLM call with messages, tokens and cost) and ``tool:search`` (an LLM call
    of unknown cost, then an error)."""
    import llmlog

    llmlog.configure({})
    answer = kw.get("answer", "Paris")
    with (
        llmlog.new_trace_session(path, format="dspy") as session,
        llmlog.span("evaluate", inputs={"examples": 2}) as root,
    ):
        with llmlog.span("Predict:qa", inputs={"question": question}):
            llmlog.record_llm_call(
                model="gpt-4o-mini",
                provider="openai",
                prompt=[
                    {"role": "system", "content": "Answer in one word."},
                    {"role": "user", "content": question},
                ],
                response=answer,
                usage={"prompt_tokens": 12, "completion_tokens": 3, "cost": 0.00001},
                latency_ms=120,
            )
        try:
            with llmlog.span("tool:search", inputs={"q": "weather"}):
                llmlog.record_llm_call(
                    model="selfhosted-qa-7b",
                    prompt="summarise the weather",
                    response="sunny",
                    usage={"input_tokens": 5, "output_tokens": 2},
                    latency_ms=30,
                )
                raise ConnectionError("search backend down")
        except ConnectionError:
            pass
        root.set_outputs(score=0.5)
    assert session.path is not None
    return session.path


@pytest.fixture
def make_trace() -> Callable[..., Path]:
    """:func:`write_trace` (test modules cannot import conftest in importlib mode)."""
    return write_trace


@pytest.fixture
def trace_file(tmp_path: Path) -> Path:
    return write_trace(tmp_path / "run.jsonl")


class Browser:
    """One headless Chromium; :meth:`open` loads a report and waits until it is interactive."""

    def __init__(self, browser: Any) -> None:
        self.browser = browser
        self.problems: list[str] = []
        self.requests: list[str] = []
        self.pages: list[Any] = []

    def open(self, path: Path, fragment: str = "") -> Any:
        context = self.browser.new_context(
            viewport={"width": 1400, "height": 900}, accept_downloads=True
        )
        page = context.new_page()
        page.on("console", lambda m: self.problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.problems.append(f"uncaught: {e}"))

        def dialog(d: Any) -> None:
            self.problems.append(f"dialog: {d.message}")
            d.dismiss()

        page.on("dialog", dialog)

        def route(r: Any) -> None:
            if r.request.url.startswith("file://"):
                r.continue_()
            else:
                self.requests.append(r.request.url)
                r.abort()

        context.route("**/*", route)
        page.on(
            "request",
            lambda r: (
                None
                if r.url.startswith(("file:", "blob:", "data:"))
                else self.requests.append(r.url)
            ),
        )
        page.goto(path.resolve().as_uri() + fragment)
        page.wait_for_selector("body[data-ready='1']", timeout=30_000)
        self.pages.append(page)
        return page


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    # Module scope, not session: Playwright's sync API keeps an asyncio loop running in this
    # thread while it is started, and a test of another module run after it in the same worker
    # (pytest-xdist) would find that loop and fail in asyncio.run().
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing (.ci/run installs Debian's chromium)")
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def browser(chromium: Any) -> Iterator[Browser]:
    """A browser whose pages must show no console error and make no request."""
    b = Browser(chromium)
    yield b
    for page in b.pages:
        page.context.close()
    assert b.problems == [], b.problems
    assert b.requests == [], b.requests
