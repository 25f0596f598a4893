"""llmlog's ``stdlib`` output: entries forwarded into a standard :mod:`logging` logger.

Teams already have handlers on the standard logging tree (Sentry, syslog, a cloud agent); this
output hands them every llmlog entry as a :class:`logging.LogRecord` with the entry's own time,
file, line and function, its traceback as ``exc_text``, and its fields in ``extra``: each field as
a record attribute (unless it would clash with one of the record's own attributes) and all of them
in ``record.llmlog``, with the model id, trace id, span id and token usage.
"""

from llmlog_output_stdlib.output import StdlibOutput, StdlibOutputOptions

__all__ = ["StdlibOutput", "StdlibOutputOptions"]
