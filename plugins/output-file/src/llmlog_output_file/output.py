"""The ``file`` output and its options."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import attrs
import platformdirs

from llmlog import Formatter, LogEntry, Output, Severity
from llmlog.ext import Bytes, EntryCode, FileMode, Seconds, config_relative
from llmlog_engine_files import FileSink, RotationPolicy

__all__ = ["FileOptions", "FileOutput", "RotationOptions", "default_log_path"]

_ERROR = Severity.ERROR  # a module constant: enum member access is slow on the write path


def default_log_path() -> Path:
    """``llmlog.log`` in the platform's user log directory (``~/.local/state/llmlog/log`` on Linux)."""
    return platformdirs.user_log_path("llmlog", appauthor=False) / "llmlog.log"


def _non_negative(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 0:
        raise ValueError(f"must be 0 or more, got {value}")


def _positive(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if value <= 0:
        raise ValueError(f"must be more than 0, got {value}")


def _file_mode(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if not 0 <= value <= 0o777:
        raise ValueError(
            f"must be permission bits between 0o000 and 0o777 (write 0o600 in TOML), got {value}"
        )


@attrs.frozen(kw_only=True)
class RotationOptions:
    """The ``[outputs.NAME.rotation]`` table."""

    #: Rotate before the file would grow past this many bytes; 0: no size limit.
    max_bytes: Bytes = attrs.field(default=0, validator=_non_negative)
    #: Rotated files to keep, newest first; 0 keeps all.
    max_files: int = attrs.field(default=0, validator=_non_negative)
    #: Also rotate when the local hour or day changes.
    when: Literal["never", "hourly", "daily"] = "never"
    #: Compress rotated files, off the writer's path.
    compress: Literal["none", "gzip", "zstd"] = "none"


@attrs.frozen(kw_only=True)
class FileOptions:
    """Options of the ``file`` output."""

    #: The log file; relative paths are resolved against the configuration file's directory.
    #: Default: ``llmlog.log`` in the platformdirs user log directory.
    path: str = ""
    #: Bytes to buffer before writing; 0 (default) hands every entry to the OS before the call returns.
    buffer_size: Bytes = attrs.field(default=0, validator=_non_negative)
    #: Buffered mode: the longest an entry waits before it is written, in seconds.
    flush_interval: Seconds = attrs.field(default=1.0, validator=_positive)
    #: ``never`` (default), ``flush`` (after each buffer write, flush and close) or ``always``.
    fsync: Literal["never", "flush", "always"] = "never"
    #: Permission bits for files llmlog creates; prompts are sensitive, so owner-only by default.
    mode: FileMode = attrs.field(default=0o600, validator=_file_mode)
    #: When to rotate and what to keep.
    rotation: RotationOptions = attrs.Factory(RotationOptions)


def resolve_path(raw: str, config_path: Path | None) -> Path:
    """The file an output writes: the default, or ``raw`` resolved against the config's directory."""
    return config_relative(raw, config_path, default_log_path())


class FileOutput(Output):
    """Writes formatted entries to a file through a :class:`~llmlog_engine_files.FileSink`.

    :param path: the log file.
    :param formatter: renders each entry (its ``format_bytes`` is used).
    :param options: the output's options (``path`` in them is ignored in favour of ``path``).
    """

    def __init__(
        self, path: str | Path, formatter: Formatter, options: FileOptions | None = None
    ) -> None:
        opts = options or FileOptions()
        rotation = opts.rotation
        self.sink = FileSink(
            path,
            mode=opts.mode,
            buffer_size=opts.buffer_size,
            flush_interval=opts.flush_interval,
            fsync=opts.fsync,
            rotation=RotationPolicy(
                max_bytes=rotation.max_bytes,
                max_files=rotation.max_files,
                when=rotation.when,
                compress=rotation.compress,
            ),
            name=self.name or str(path),
        )
        fmt, sink_write = formatter.format_bytes, self.sink.write
        if opts.buffer_size == 0:
            # One call layer less on the durable default path: the instance attribute shadows the
            # method, and the dispatcher binds it once at configure time.
            def write_unbuffered(entry: LogEntry) -> None:
                sink_write(fmt(entry))

            self.write = write_unbuffered  # type: ignore[method-assign]
        self._format, self._sink_write = fmt, sink_write
        line_of = getattr(formatter, "line_from_parts", None)
        if line_of is not None and type(self).write is FileOutput.write:
            # The per-entry function built once: the formatter's line from the entry's parts,
            # written by the sink's fast path. The logger calls it without making a LogEntry
            # when this output is the only one that takes the entry (Output.write_parts).
            self.write_parts = self.sink.entry_writer(line_of, _ERROR)
            line_code = getattr(formatter, "line_code", None)
            if line_code is not None:
                # The same, as source: the core compiles it into one flat function per
                # severity with the logger's work inline (Output.entry_code).
                sink = self.sink

                def entry_code(severity: Severity) -> EntryCode | None:
                    code = line_code(severity)
                    return (
                        None
                        if code is None
                        else code.then(sink.entry_write_code(severity >= _ERROR))
                    )

                self.entry_code = entry_code

    def write(self, entry: LogEntry) -> None:
        self._sink_write(self._format(entry), urgent=entry.severity >= _ERROR)

    def flush(self) -> None:
        self.sink.flush()

    def close(self) -> None:
        self.sink.close()

    def stats(self) -> dict[str, int]:
        return self.sink.stats()
