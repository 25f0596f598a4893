"""``llmlog.display`` and a session's ``_repr_html_``: the core renders nothing itself; it asks
the ``llmlog_render_html`` hook and, with no plugin answering, says what to install."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

import llmlog
from llmlog import hookimpl
from llmlog.notebook import NoRenderer, render_html
from llmlog.records import TraceEvent


@pytest.fixture(autouse=True)
def no_ipython(monkeypatch: pytest.MonkeyPatch) -> None:
    """Outside IPython, ``display`` returns the fragment (whether IPython is installed or not)."""
    monkeypatch.setitem(sys.modules, "IPython", None)
    monkeypatch.setitem(sys.modules, "IPython.display", None)


class CsvRenderer:
    """A renderer of ``.csv`` paths only; it records the options it was given."""

    def __init__(self) -> None:
        self.options: list[dict[str, Any]] = []

    @hookimpl
    def llmlog_render_html(self, source: Any, options: dict[str, Any]) -> str | None:
        self.options.append(options)
        path = getattr(source, "path", source)
        return f"<pre>{Path(path).name}</pre>" if str(path).endswith(".csv") else None


def test_without_a_renderer_display_says_what_to_install():
    llmlog.configure({}, autoload=False)
    with pytest.raises(NoRenderer, match=r"pip install llmlog-report-html"):
        llmlog.display("run.jsonl")


def test_display_returns_the_first_answer_and_passes_the_options():
    renderer = CsvRenderer()
    llmlog.configure({}, plugins=[("csv", renderer)], autoload=False)
    assert llmlog.display("runs.csv", height=300) == "<pre>runs.csv</pre>"
    assert renderer.options == [{"height": 300}]
    with pytest.raises(NoRenderer, match="no installed plugin renders str as HTML"):
        render_html("run.jsonl")


class FileWriter:
    """A trace writer with a file, as a trace format's writer has."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.flushed = 0

    def write(self, event: TraceEvent) -> None:
        pass

    def flush(self) -> None:
        self.flushed += 1

    def close(self) -> None:
        pass


def test_a_session_shows_its_file_through_the_renderer(tmp_path):
    llmlog.configure({}, plugins=[("csv", CsvRenderer())], autoload=False)
    shown = llmlog.TraceSession(FileWriter(tmp_path / "trace.csv"))
    assert shown._repr_html_() == "<pre>trace.csv</pre>"
    # A session whose file no plugin renders keeps its plain repr (None: Jupyter falls back).
    other = llmlog.TraceSession(FileWriter(tmp_path / "trace.jsonl"))
    assert other._repr_html_() is None
    llmlog.configure({}, autoload=False)
    assert shown._repr_html_() is None
