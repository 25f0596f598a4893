"""The report inline in Jupyter: the whole page in a sandboxed ``iframe`` (``srcdoc``), so its
script and style cannot touch the notebook and its Content-Security-Policy holds."""

from __future__ import annotations

import html
import os
from collections.abc import Mapping
from typing import Any

__all__ = ["notebook_html"]


def _paths(source: Any) -> list[str] | None:
    if isinstance(source, str | os.PathLike):
        return [os.fspath(source)]
    if isinstance(source, list | tuple) and all(isinstance(s, str | os.PathLike) for s in source):
        return [os.fspath(s) for s in source]
    path = getattr(source, "path", None)  # a TraceSession: its file, flushed
    if isinstance(path, str | os.PathLike):
        flush = getattr(source, "flush", None)
        if callable(flush):
            flush()
        return [os.fspath(path)]
    return None


def notebook_html(source: Any, options: Mapping[str, Any] | None = None) -> str | None:
    """``source``'s report as an ``<iframe>`` whose ``srcdoc`` is the page; ``None`` when
    ``source`` is nothing this plugin reads (another plugin may). Options: ``height`` (CSS
    pixels, default 640) and :class:`~llmlog_report_html.page.ReportOptions`' fields."""
    from llmlog_report_html.load import load_run
    from llmlog_report_html.page import ReportOptions, render_html

    paths = _paths(source)
    if paths is None:
        return None
    options = dict(options or {})
    height = int(options.pop("height", 640))
    known = {"title", "no_content", "max_field", "max_size", "redact"}
    report_options = ReportOptions(**{k: v for k, v in options.items() if k in known})
    run = load_run(paths)
    document, _ = render_html(run, report_options)
    return (
        '<iframe sandbox="allow-scripts allow-downloads" style="width:100%;border:1px solid #ccc" '
        f'height="{height}" srcdoc="{html.escape(document, quote=True)}"></iframe>'
    )
