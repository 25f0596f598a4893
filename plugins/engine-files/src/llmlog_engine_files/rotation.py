"""When a file rotates: the policy, and the clock period that rotation by time compares."""

from __future__ import annotations

import time
from typing import Literal

import attrs

from llmlog_engine_files.compression import Compression

__all__ = ["RotationPolicy"]


@attrs.frozen(kw_only=True)
class RotationPolicy:
    """When to start a new file and how many old ones to keep.

    :param max_bytes: rotate when the file would grow past this size; 0: no size limit.
    :param when: also rotate when the local hour or day changes: ``"never"``, ``"hourly"``, ``"daily"``.
    :param max_files: rotated files to keep, newest first; 0 keeps all.
    :param compress: compress rotated files: ``"none"``, ``"gzip"`` or ``"zstd"`` (needs the
        ``zstandard`` package, which the zstd plugin installs).
    """

    max_bytes: int = 0
    when: Literal["never", "hourly", "daily"] = "never"
    max_files: int = 0
    compress: Compression = "none"

    def period(self, seconds: float) -> str:
        """The clock period (local hour or day) ``seconds`` falls in; ``""`` without time rotation."""
        return _period(self.when, seconds)

    def due(self, size: int, incoming: int, period: str) -> bool:
        """Whether a file of ``size`` bytes, started in clock ``period``, must rotate before
        ``incoming`` more bytes are written to it. A file never rotates empty, however large
        the line."""
        if self.max_bytes and size > 0 and size + incoming > self.max_bytes:
            return True
        return self.when != "never" and _period(self.when, time.time()) != period


def _period(when: str, seconds: float) -> str:
    # A module function, so that tests can swap the clock's notion of an hour.
    fmt = {"hourly": "%Y%m%d%H", "daily": "%Y%m%d"}.get(when)
    return time.strftime(fmt, time.localtime(seconds)) if fmt else ""
