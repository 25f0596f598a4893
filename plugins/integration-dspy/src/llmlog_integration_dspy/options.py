"""The options of ``[integrations.dspy]``."""

from __future__ import annotations

from typing import Literal

import attrs

__all__ = ["DspyOptions"]


@attrs.frozen(kw_only=True)
class DspyOptions:
    """Options of the DSPy integration (``enabled`` is read by the configuration itself)."""

    #: ``shared``: one trace session (one file) for all DSPy calls of the process, opened at the
    #: first one; ``per_call``: each top-level DSPy call (a module, an ``Evaluate``, a
    #: ``compile``) is a trace of its own in its own file. A session already current in the
    #: context (``with llmlog.new_trace_session():``) is used either way.
    sessions: Literal["shared", "per_call"] = "shared"
    #: ``spans``: each adapter format and parse is a span under its module; ``off``: not recorded.
    adapters: Literal["spans", "off"] = "spans"
    #: Record interpreter startup and shutdown as spans (code executions are always recorded).
    interpreter_lifecycle: bool = False
