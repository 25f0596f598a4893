"""The options an SDK integration gives the engine (its ``[integrations.NAME]`` table's)."""

from __future__ import annotations

from typing import Literal

import attrs

__all__ = ["GenAIOptions"]


@attrs.frozen(kw_only=True)
class GenAIOptions:
    """How the engine records the calls of one integration.

    An integration's own options class may subclass this one (``enabled`` is read by the
    configuration itself, not here).
    """

    #: ``shared``: calls made where no trace session is current go to one session (one file)
    #: shared by every SDK integration of the process, opened at the first such call;
    #: ``per_call``: each such call is a trace of its own in its own file. A session already
    #: current in the context (``with llmlog.new_trace_session():``) is used either way.
    sessions: Literal["shared", "per_call"] = "shared"
