"""Replay recorded LM calls: traces as test fixtures.

``ReplayLM`` (also ``llmlog.replay.ReplayLM``) is a DSPy LM answering from recorded traces of any
installed format; ``ReplayIndex`` is the index it looks requests up in (usable without DSPy, as
the fake provider's replay mode does); the pytest plugin (``pytest11`` entry point
``llmlog_replay``) gives the ``llmlog_replay`` marker and fixture and ``--llmlog-record``. See
``docs/testing-with-traces.md``.
"""

from llmlog_testing_replay.index import (
    NotRecorded,
    RecordedCall,
    ReplayError,
    ReplayIndex,
    Unreplayable,
)

__all__ = [
    "NotRecorded",
    "RecordedCall",
    "ReplayError",
    "ReplayIndex",
    "ReplayLM",
    "ReplayedResponse",
    "Unreplayable",
]


def __getattr__(name: str) -> object:
    # The index needs no DSPy; ReplayLM imports it (a second) only when asked for.
    if name in ("ReplayLM", "ReplayedResponse"):
        from llmlog_testing_replay import lm

        return getattr(lm, name)
    raise AttributeError(name)
