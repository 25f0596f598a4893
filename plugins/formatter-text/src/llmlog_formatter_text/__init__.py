"""llmlog's text formatter: dspy-go's ``TextFormatter`` layout, escaped so one entry is one line.

``2026-11-25T18:40:05.123+01:00 [INFO] message [file.py:12] [traceId=…] [tokens=10/20] key=value``

A usage's cost is shown with where it came from (``[cost=$0.0012 table:genai-prices@0.0.40]``),
an unknown price as ``[cost=unknown]``, never as $0. A traceback follows on continuation lines that start with ``  | ``.
"""

from llmlog_formatter_text.formatter import TextFormatter, TextOptions

__all__ = ["TextFormatter", "TextOptions"]
