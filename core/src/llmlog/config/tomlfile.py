"""Reading one TOML configuration file: every way it can be unreadable is a :class:`ConfigError`.

A configuration file is read once (no check-then-open: a file that vanishes in between is simply
not found), at most :data:`MAX_FILE_BYTES`, decoded as UTF-8 (a bad byte is named by
``file:line:column``), checked for nesting deeper than :data:`MAX_DEPTH` before the parser sees it
(``tomllib`` recurses once per level of arrays and inline tables and would raise
``RecursionError``, and its time and memory grow with the square of a dotted key's parts: a 40 KB
key of 20,000 parts took 5 s and 1.6 GB), then parsed; syntax errors name ``file:line:column``
too, so editors and terminals can jump to them.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import sys
import tomllib
from pathlib import Path
from typing import Any

from llmlog.config.errors import ConfigError

__all__ = ["MAX_DEPTH", "MAX_FILE_BYTES", "parse_toml", "read_toml"]

#: Larger files are refused unread: no real configuration comes near it, and reading (then
#: parsing) a log file or a device given by mistake must not take the process's memory.
MAX_FILE_BYTES = 4 << 20

#: Arrays, inline tables and tables nested deeper than this are refused (configuration and log
#: fields never need more; the sanitizer stops at the same depth).
MAX_DEPTH = 32

# Read-only, not inherited, without blocking where the platform has it (Windows has no FIFOs).
_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)

# Anchored at one place (no leading \s*, which a search retries at every offset) and ASCII digits.
_TOML_WHERE = re.compile(r" ?\((?:at line (\d+), column (\d+)|at end of document)\)$", re.ASCII)

# What matters for nesting outside strings and comments (brackets, and the dots of a dotted key),
# what ends a key between two dots (searched only there: a line end is not a step of the scan),
# and what ends each kind of string.
_STRUCTURE = re.compile(r"[\[\]{}#\"'.]")
_KEY_END = re.compile(r"[=,\n]")
_BASIC_END = re.compile(r'\\.|["\n]', re.DOTALL)
_LITERAL_END = re.compile(r"['\n]")
_MULTI_BASIC_END = re.compile(r'\\.|"""', re.DOTALL)
# Runs of digits, found one after the other (linear), to name the one int() refused.
_DIGITS = re.compile(r"[0-9_]+")


def read_toml(path: Path) -> dict[str, Any]:
    """The table in the TOML file ``path``.

    :raises ConfigError: naming the file (and ``line:column`` where there is one) when the file is
        missing, a directory, unreadable, too large, not UTF-8, nested too deeply or not TOML.
    """
    return parse_toml(_read_bytes(path), str(path))


def _read_bytes(path: Path) -> bytes:
    label = str(path)
    try:
        # Opened without blocking: a FIFO's open waits for a writer (for ever, at an
        # application's start, where llmlog.toml is found by name); a regular file ignores it.
        fd = os.open(path, _OPEN_FLAGS)
        with os.fdopen(fd, "rb") as fh:
            mode = os.fstat(fd).st_mode
            if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
                raise ConfigError(label, ["a named pipe or socket, not a configuration file"])
            data = fh.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(label, ["configuration file not found"]) from None
    except IsADirectoryError:
        raise ConfigError(label, ["is a directory, not a configuration file"]) from None
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if exc.errno == errno.ENOTDIR:
            reason = "a part of the path is not a directory"
        raise ConfigError(label, [f"cannot read the file: {reason}"]) from None
    except ValueError as exc:  # a path with a NUL character
        raise ConfigError(label, [f"cannot read the file: {exc}"]) from None
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError(
            label,
            [f"larger than {MAX_FILE_BYTES >> 20} MiB; not a configuration file (a log file?)"],
        )
    return data


def parse_toml(data: bytes, label: str) -> dict[str, Any]:
    """Decode and parse one TOML document; ``label`` names it in errors (a file path)."""
    text = _decode(data, label)
    deep = _too_deep(text, MAX_DEPTH)
    if deep is not None:
        offset, what = deep
        line, column = _line_column(text, offset)
        raise ConfigError(
            f"{label}:{line}:{column}", [f"{what} nested more than {MAX_DEPTH} levels deep"]
        )
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        match = _TOML_WHERE.search(message)
        if match is None:
            raise ConfigError(label, [f"invalid TOML: {message}"]) from None
        if match.group(1):
            line, column = int(match.group(1)), int(match.group(2))
        else:  # the end of the last line
            lines = text.splitlines() or [""]
            line, column = len(lines), len(lines[-1]) + 1
        raise ConfigError(
            f"{label}:{line}:{column}", [f"invalid TOML: {message[: match.start()]}"]
        ) from None
    except ValueError:  # an integer of more digits than int() converts (4,300)
        long_run = next((m for m in _DIGITS.finditer(text) if m.end() - m.start() > 4000), None)
        where = label
        if long_run is not None:
            where = "{}:{}:{}".format(label, *_line_column(text, long_run.start()))
        raise ConfigError(
            where, [f"invalid TOML: a number of more than {sys.get_int_max_str_digits()} digits"]
        ) from None
    except RecursionError:  # the nesting scan above keeps it out of reach; a deep caller stack
        raise ConfigError(label, ["invalid TOML: nested too deeply to read"]) from None


def _decode(data: bytes, label: str) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ConfigError(
            f"{label}:1:1",
            ["the file is UTF-16 (it starts with a byte-order mark); save it as UTF-8"],
        )
    try:
        # A UTF-8 byte-order mark (some Windows editors write one) is skipped.
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        start = data.rfind(b"\n", 0, exc.start) + 1
        line = data.count(b"\n", 0, exc.start) + 1
        column = len(data[start : exc.start].decode("utf-8-sig", "replace")) + 1
        raise ConfigError(
            f"{label}:{line}:{column}",
            [
                f"not UTF-8 text ({exc.reason}: byte 0x{data[exc.start]:02x}); "
                "a configuration file must be UTF-8"
            ],
        ) from None


def _line_column(text: str, offset: int) -> tuple[int, int]:
    start = text.rfind("\n", 0, offset) + 1
    return text.count("\n", 0, offset) + 1, offset - start + 1


def _too_deep(text: str, limit: int) -> tuple[int, str] | None:
    """The offset of the first ``[`` or ``{`` nested more than ``limit`` deep, or of the dot that
    makes a dotted key (``a.b.c = 1``, ``[a.b.c]``) more than ``limit`` parts long, with what
    it is (for the message); or ``None``.

    One pass over the structure outside comments and strings (as TOML delimits them); linear in
    the length of ``text``. On a document that is not valid TOML it may stop early or late: the
    parser then reports the syntax error. (A value's dots, a float's or a time's, are counted
    too, after its ``=``: one or two, far from the limit.)
    """
    # dots: of the key being read; unchecked: where the text not yet searched for a key's end
    # starts (outside strings, which may hold "=", "," and dots of their own).
    depth, dots, unchecked, position, length = 0, 0, 0, 0, len(text)
    while position < length:
        match = _STRUCTURE.search(text, position)
        if match is None:
            return None
        char, at = match.group(), match.start()
        position = at + 1
        if dots and char in ".\"'" and _KEY_END.search(text, unchecked, at) is not None:
            dots = 0  # the key ended (or its line) since its last dot
        if char == ".":
            dots += 1
            if dots >= limit:
                return at, "dotted keys"
            unchecked = position
            continue
        if char not in "\"'":  # a quoted part of a key is one part: its dots stay counted
            dots = 0
        if char in "[{":
            depth += 1
            if depth > limit:
                return at, "arrays and inline tables"
        elif char in "]}":
            depth = max(depth - 1, 0)
        elif char == "#":
            end = text.find("\n", position)
            position = length if end < 0 else end + 1
        elif text.startswith(char * 3, at):
            position = unchecked = _end_of_multiline(text, at + 3, char)
        else:
            position = unchecked = _end_of_line_string(text, position, char)
    return None


def _end_of_line_string(text: str, position: int, quote: str) -> int:
    pattern = _BASIC_END if quote == '"' else _LITERAL_END
    while True:
        match = pattern.search(text, position)
        if match is None:
            return len(text)
        position = match.end()
        if match.group() in (quote, "\n"):
            return position


def _end_of_multiline(text: str, position: int, quote: str) -> int:
    if quote == "'":
        end = text.find("'''", position)
        position = len(text) if end < 0 else end + 3
    else:
        while True:
            match = _MULTI_BASIC_END.search(text, position)
            if match is None:
                return len(text)
            position = match.end()
            if match.group() == '"""':
                break
    # Up to two more quotes are content just before the closing delimiter (`""""` = `"` + close).
    for _ in range(2):
        if text.startswith(quote, position):
            position += 1
    return position
