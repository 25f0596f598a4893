"""The ``llmlog`` entry point of llmlog-testing-replay: it registers no component (replay is
used from Python and pytest: ``ReplayLM``, the ``llmlog_replay`` marker and fixture); the entry
point lists the distribution among llmlog's installed plugins (``llmlog plugins``)."""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    """``llmlog.replay``'s names (``ReplayLM``...), taken from the package when first asked for:
    the core reaches them through this entry point."""
    import llmlog_testing_replay

    if name in llmlog_testing_replay.__all__:
        return getattr(llmlog_testing_replay, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
