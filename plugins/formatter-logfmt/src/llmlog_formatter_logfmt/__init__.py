"""llmlog's logfmt formatter: ``key=value`` pairs, one entry per line.

``time=2026-11-25T17:40:05.123456Z level=info msg="answer ready" caller=app.py:12 model=gpt-4o
prompt_tokens=10 completion_tokens=20 total_tokens=30 user=alice``

A usage's known cost is ``token_cost`` with ``cost_source``; an unknown one is ``cost_unknown``
(the reason), never 0.

Values with spaces, ``=``, quotes or backslashes are double-quoted with ``\\"`` and ``\\\\``
escapes; control characters are escaped (``\\n``, ``\\x1b``); nested values are written as JSON. A
field whose name collides with a reserved key is written as ``field.<key>``.
"""

from llmlog_formatter_logfmt.formatter import (
    RESERVED_KEYS,
    LogfmtFormatter,
    LogfmtOptions,
    parse_line,
)

__all__ = ["RESERVED_KEYS", "LogfmtFormatter", "LogfmtOptions", "parse_line"]
