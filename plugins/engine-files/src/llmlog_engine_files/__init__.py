"""llmlog's file machinery, shared by the ``file`` output and the trace formats: durable,
rotating, multi-process-safe line files.

* :class:`FileSink`: appends whole lines to one file (buffering, fsync, rotation, faults, fork
  and exit handling; see :mod:`llmlog_engine_files.sink`).
* :class:`RotationPolicy`: when to rotate, how many rotated files to keep, how to compress them
  (the retention and compression pass: :mod:`llmlog_engine_files.maintenance`).
* :class:`TraceOutput`: the trace-file sink a trace format writes a session's events through.
* :func:`file_in`, :func:`timestamped_name`, :func:`rotated_files`: file names.
* :func:`check_appendable`: whether a :class:`FileSink` could open a path, found without creating
  anything (for an output's configuration check).
* :func:`flush_all`: write out every open sink's buffer (core calls it through
  :func:`llmlog.ext.flush_all`).

See ``docs/file-output.md``.
"""

from llmlog_engine_files.naming import file_in, rotated_files, timestamped_name
from llmlog_engine_files.pathcheck import check_appendable
from llmlog_engine_files.process import flush_all
from llmlog_engine_files.rotation import RotationPolicy
from llmlog_engine_files.sink import FileSink
from llmlog_engine_files.trace import TraceOutput

__all__ = [
    "FileSink",
    "RotationPolicy",
    "TraceOutput",
    "check_appendable",
    "file_in",
    "flush_all",
    "rotated_files",
    "timestamped_name",
]
