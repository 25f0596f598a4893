"""The options of ``[integrations.dspy]``."""

from __future__ import annotations

from typing import Literal

import attrs

from llmlog.ext import Seconds

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
    #: Hooks held and handled together (about 100 LM calls' worth), their events written in
    #: order, each with the time, thread and trace task it happened at: handled in one go,
    #: away from the program's own code, they cost about half as much. A call that raises, a
    #: span of the program's own, a flush, a budget that can stop and a snapshot have the held
    #: hooks handled at once. 0 handles every hook at once.
    batch: int = attrs.field(default=1024, validator=attrs.validators.ge(0))
    #: Seconds a held hook waits at most before it is handled (by the integration's thread).
    batch_delay: Seconds = attrs.field(default=0.5, validator=attrs.validators.gt(0))
