"""A small TOML writer, enough for ``llmlog config show`` to print a configuration that reads back.

What it writes is read back by any TOML parser as the same data, and is safe to print: every
character that is not printable (control characters, bidi overrides, zero-width ones) is written
as an escape, in strings, quoted keys and comments alike.
"""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["Octal", "dumps_toml", "toml_key", "toml_value"]

_BARE = re.compile(r"[A-Za-z0-9_-]+")
_SHORT_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}


class Octal(int):
    """An integer written in octal (permission bits: ``0o600``, which TOML reads back). JSON
    writes it as the plain number it is."""


def _escaped(char: str) -> str:
    short = _SHORT_ESCAPES.get(char)
    if short is not None:
        return short
    code = ord(char)
    if 0xD800 <= code <= 0xDFFF:  # a lone surrogate is no Unicode scalar value: TOML has none
        return "\\ufffd"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def _basic_string(text: str) -> str:
    """``text`` as a TOML basic string, every non-printable character escaped."""
    if text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'
    return (
        '"' + "".join(c if c.isprintable() and c not in '"\\' else _escaped(c) for c in text) + '"'
    )


def toml_key(key: str) -> str:
    """A key, quoted unless it is a bare key."""
    return key if _BARE.fullmatch(key) else _basic_string(key)


def toml_value(value: Any) -> str:
    """An inline TOML value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Octal) and value >= 0:
        return f"0o{int(value):03o}"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _basic_string(value)
    if isinstance(value, datetime.date | datetime.time):  # datetime is a date
        return value.isoformat()
    if isinstance(value, Mapping):
        return (
            "{" + ", ".join(f"{toml_key(str(k))} = {toml_value(v)}" for k, v in value.items()) + "}"
        )
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return _basic_string(str(value))


def _comment(text: str) -> str:
    # A comment ends at the line's end: a newline in it (a file name can hold one) is escaped.
    return "  # " + "".join(c if c.isprintable() else _escaped(c) for c in text)


def dumps_toml(
    data: Mapping[str, Any],
    comments: Mapping[str, str] | None = None,
    _prefix: tuple[str, ...] = (),
) -> str:
    """Render ``data``: scalars first, then one ``[table]`` per nested mapping of mappings.

    :param comments: an end-of-line comment per dotted key path (``"level"``, ``"outputs.console"``).
    """
    comments = comments or {}
    lines: list[str] = []
    tables: list[tuple[tuple[str, ...], Mapping[str, Any]]] = []
    for key, value in data.items():
        path = (*_prefix, str(key))
        if (
            isinstance(value, Mapping)
            and value
            and all(isinstance(v, Mapping) for v in value.values())
        ):
            tables.extend(((*path, str(k)), v) for k, v in value.items())
        elif isinstance(value, Mapping) and not _prefix and ".".join(path) in comments:
            tables.append((path, value))
        else:
            note = comments.get(".".join(path))
            lines.append(
                f"{toml_key(str(key))} = {toml_value(value)}{_comment(note) if note else ''}"
            )
    for path, table in tables:
        note = comments.get(".".join(path))
        header = ".".join(toml_key(part) for part in path)
        lines.append(f"\n[{header}]{_comment(note) if note else ''}")
        body = dumps_toml(table, comments, path)
        if body:
            lines.append(body)
    return "\n".join(lines)
