"""The ``[mcp]`` table::

    [mcp]
    directories = ["traces", "~/.local/state/llmlog/flight"]  # what `llmlog mcp` serves
    max_output = 100000    # most characters in one answer (rows beyond it are left out, said)
    max_field = 8192       # longest string in an answer (cut with a marker)

Relative directories are taken from the configuration file's directory. ``llmlog mcp DIR...``
serves the directories given instead.
"""

from __future__ import annotations

import attrs

__all__ = ["McpOptions"]


@attrs.frozen(kw_only=True)
class McpOptions:
    """Options of the ``[mcp]`` table."""

    #: The directories the server reads (traces, flight snapshots, JSON logs); nothing else.
    directories: list[str] = attrs.field(factory=list)
    #: The most characters one answer holds; rows past it are left out and the answer says so.
    max_output: int = attrs.field(default=100_000, validator=attrs.validators.ge(1000))
    #: The longest string in an answer; longer ones are cut with a marker.
    max_field: int = attrs.field(default=8192, validator=attrs.validators.ge(100))
