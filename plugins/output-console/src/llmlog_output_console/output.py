"""The console output."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any, Literal, TextIO

import attrs

from llmlog import Formatter, LogEntry, Output
from llmlog.ext import (
    Severity,
    StreamLines,
    continuation_lines,
    escape,
    format_cost,
    format_tokens,
    format_value,
    local_timestamp,
    quote_if_needed,
)

__all__ = ["ConsoleOptions", "ConsoleOutput", "use_color"]

_RESET = "\033[0m"
_DIM = "\033[2m"
_CYAN = "\033[36m"
_LEVEL_COLORS = {
    Severity.DEBUG: "\033[37m",
    Severity.INFO: "\033[32m",
    Severity.WARN: "\033[33m",
    Severity.ERROR: "\033[31m",
    Severity.FATAL: "\033[35m",
}
_COLOR_ARROWS = ("\033[32m↑\033[0m", "\033[34m↓\033[0m")
_PLAIN_ARROWS = ("↑", "↓")


@attrs.frozen(kw_only=True)
class ConsoleOptions:
    """Options of the ``console`` output."""

    #: Which standard stream to write to.
    stream: Literal["stderr", "stdout"] = "stderr"
    #: ``auto``: colours on a terminal (``FORCE_COLOR`` / ``NO_COLOR`` respected); ``always``; ``never``.
    color: Literal["auto", "always", "never"] = "auto"
    #: Show ``[file:line]`` of the logging call.
    show_location: bool = True
    #: Show the entry's fields as ``key=value`` (dspy-go's console dropped them).
    show_fields: bool = True
    #: Cut field values longer than this for display (``…`` marks the cut); 0 shows them whole.
    max_value_length: int = attrs.field(default=200)

    @max_value_length.validator
    def _check(self, attribute: Any, value: int) -> None:
        if value < 0:
            raise ValueError(f"must be 0 or more, got {value}")


def use_color(setting: str, stream: TextIO | None, environ: Mapping[str, str] = os.environ) -> bool:
    """Decide whether to colour: an explicit setting wins, then ``FORCE_COLOR``, then ``NO_COLOR``,
    then whether ``stream`` is a terminal."""
    if setting == "always":
        return True
    if setting == "never":
        return False
    force = environ.get("FORCE_COLOR")
    if force is not None and force not in ("", "0", "false"):
        return True
    if environ.get("NO_COLOR"):
        return False
    try:
        return bool(stream is not None and stream.isatty())
    except Exception:
        return False


class ConsoleOutput(Output):
    """Writes entries for people to read; see the package docstring for the layout.

    :param options: the output's options.
    :param formatter: if given, lines come from it (uncoloured) instead of the console layout.
    """

    def __init__(
        self, options: ConsoleOptions | None = None, formatter: Formatter | None = None
    ) -> None:
        opts = options or ConsoleOptions()
        self._stream_name = opts.stream
        self._formatter = formatter
        self._color = formatter is None and use_color(opts.color, self._stream())
        self._location = opts.show_location
        self._fields = opts.show_fields
        self._max_value = opts.max_value_length
        self._lines = StreamLines()

    def _stream(self) -> TextIO | None:
        # Looked up on every write so redirect_stdout, pytest's capture and the like are honoured.
        return sys.stderr if self._stream_name == "stderr" else sys.stdout

    def render(self, entry: LogEntry) -> str:
        """The text written for ``entry`` (without the newline)."""
        if self._formatter is not None:
            return self._formatter.format(entry)
        color = self._color
        level = f"{entry.severity.name:<5}"
        timestamp = local_timestamp(entry.time)
        if color:
            level = f"{_LEVEL_COLORS.get(entry.severity, '')}{level}{_RESET}"
            timestamp = f"{_DIM}{timestamp}{_RESET}"
        parts = [timestamp, level]
        if entry.trace_id:
            parts.append(f"[traceId={escape(entry.trace_id[:8])}]")
        if self._location and entry.file:
            parts.append(f"[{escape(entry.file)}:{entry.line}]")
        if entry.logger:
            parts.append(f"[{escape(entry.logger)}]")
        parts.append(escape(entry.message))
        if entry.model_id:
            parts.append(f"[model={escape(entry.model_id)}]")
        if entry.token_info is not None:
            arrows = _COLOR_ARROWS if color else _PLAIN_ARROWS
            parts.append(f"[{format_tokens(entry.token_info, arrows)}]")
        if entry.latency_ms is not None:
            parts.append(f"[{entry.latency_ms}ms]")
        usage = entry.token_info
        if entry.cost is not None:
            parts.append(f"[{format_cost(entry.cost)}]")
        elif usage is not None and usage.cost is not None:
            parts.append(f"[{format_cost(usage.cost)}]")  # its source: in the file formatters
        elif usage is not None and usage.cost_unknown:
            parts.append("[cost unknown]")  # never $0 for a price nobody knows
        if self._fields and entry.fields:
            parts.append(self._render_fields(entry.fields))
        line = " ".join(parts)
        if entry.exception:
            line += continuation_lines(entry.exception, f"{_DIM}  |{_RESET} " if color else "  | ")
        return line

    def _render_fields(self, fields: Mapping[str, Any]) -> str:
        limit = self._max_value
        out = []
        for key, value in fields.items():
            text = format_value(value)
            if limit and len(text) > limit:
                text = text[: limit - 1] + "…"
            key_text = quote_if_needed(escape(str(key)), strict=False)
            if self._color:
                key_text = f"{_CYAN}{key_text}{_RESET}"
            out.append(f"{key_text}={quote_if_needed(text, strict=False)}")
        return " ".join(out)

    def write(self, entry: LogEntry) -> None:
        stream = self._stream()
        if stream is not None:
            # One write call per entry: lines from concurrent threads do not interleave.
            self._lines.write(stream, self.render(entry) + "\n")

    def flush(self) -> None:
        stream = self._stream()
        if stream is not None:
            stream.flush()

    def close(self) -> None:
        # The process's standard streams are not ours to close.
        self.flush()
