"""Jupyter: a run shown inline, rendered by whichever plugin implements ``llmlog_render_html``
(``llmlog-report-html``). The core renders nothing itself and imports no plugin; IPython is
imported only inside :func:`display`."""

from __future__ import annotations

from typing import Any

__all__ = ["NoRenderer", "display", "render_html"]

#: What to install when no plugin renders HTML.
RENDERER_DISTRIBUTION = "llmlog-report-html"


class NoRenderer(RuntimeError):
    """No installed plugin renders this source as HTML."""


def render_html(source: Any, **options: Any) -> str:
    """``source`` (a path, a list of paths, or a :class:`llmlog.TraceSession`) as an HTML
    fragment, from the first plugin that renders it.

    :raises NoRenderer: saying what to install when no plugin does.
    :raises ValueError: when a file cannot be read (the message names ``file:line``).
    """
    from llmlog import state
    from llmlog.plugins import PluginHost

    # The host of the configuration in force (llmlog.state: no import of llmlog.runtime, which
    # sits above the tracing API whose sessions call this), or a fresh one if unconfigured.
    host = state.plugin_host if state.plugin_host is not None else PluginHost()
    html = host.pm.hook.llmlog_render_html(source=source, options=options)
    if html is None:
        raise NoRenderer(
            f"no installed plugin renders {type(source).__name__} as HTML; install "
            f'{RENDERER_DISTRIBUTION} (pip install {RENDERER_DISTRIBUTION}, or "llmlog[standard]")'
        )
    return str(html)


def display(source: Any, **options: Any) -> Any:
    """Show a run inline in Jupyter: ``llmlog.display("traces/")``, ``llmlog.display(session)``.

    The page is the one ``llmlog report`` writes, in a sandboxed frame: no server, no kernel
    extension, and it works in an exported notebook. Options go to the renderer (``height`` in
    pixels, ``no_content=True``, ``max_field``, ``title``). Outside IPython, returns the HTML
    fragment instead of showing it.

    :raises NoRenderer: saying what to install when no plugin renders HTML.
    """
    html = render_html(source, **options)
    import importlib

    try:  # IPython only here: importing llmlog never pays for it
        shown = importlib.import_module("IPython.display")
    except ImportError:
        return html
    shown.display(shown.HTML(html))
    return None
