"""llmlog's ``file`` output: log files a production team can trust.

The durability, concurrency and fault behaviour is that of :class:`llmlog_engine_files.FileSink`
(``llmlog-engine-files``, one implementation shared with trace files); this package adds the
output, its TOML options and the formatter. See ``docs/file-output.md``.
"""

from llmlog_output_file.output import FileOptions, FileOutput, RotationOptions, default_log_path

__all__ = ["FileOptions", "FileOutput", "RotationOptions", "default_log_path"]
