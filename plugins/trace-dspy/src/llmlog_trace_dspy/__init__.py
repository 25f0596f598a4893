"""llmlog's ``dspy`` trace format: dspy-go's native TraceEvent JSON Lines, written and read.

Each line is ``{"type", "timestamp", "trace_id", "span_id"?, "parent_id"?, "data"?}`` with the
envelope keys in dspy-go's order, ``span_id``/``parent_id``/``data`` omitted when empty,
``data`` keys sorted as Go's ``encoding/json`` sorts map keys, and timestamps in RFC 3339 with
nanoseconds and the local offset (``Z`` at offset 0, trailing zeros dropped), so files written by
dspy-go and by llmlog read the same in both. Every file a rotation starts begins with the session
line again (dspy-go's rotated files had none).
"""

from llmlog_trace_dspy.format import (
    DspyOptions,
    DspyTraceWriter,
    encode,
    parse_timestamp,
    read_trace,
)

__all__ = ["DspyOptions", "DspyTraceWriter", "encode", "parse_timestamp", "read_trace"]
