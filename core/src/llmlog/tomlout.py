"""A small TOML writer, enough for ``llmlog config show`` to print a configuration that reads back."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["Octal", "dumps_toml", "toml_key", "toml_value"]

_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


class Octal(int):
    """An integer written in octal (permission bits: ``0o600``, which TOML reads back). JSON
    writes it as the plain number it is."""


def toml_key(key: str) -> str:
    """A key, quoted unless it is a bare key."""
    return key if _BARE.match(key) else json.dumps(key, ensure_ascii=False)


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
        return json.dumps(value, ensure_ascii=False)  # JSON escapes are valid TOML basic strings
    if isinstance(value, Mapping):
        return (
            "{" + ", ".join(f"{toml_key(str(k))} = {toml_value(v)}" for k, v in value.items()) + "}"
        )
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)


def dumps_toml(
    data: Mapping[str, Any], comments: Mapping[str, str] | None = None, _prefix: str = ""
) -> str:
    """Render ``data``: scalars first, then one ``[table]`` per nested mapping of mappings.

    :param comments: an end-of-line comment per dotted key path (``"level"``, ``"outputs.console"``).
    """
    comments = comments or {}
    lines: list[str] = []
    tables: list[tuple[str, Mapping[str, Any]]] = []
    for key, value in data.items():
        path = f"{_prefix}{key}"
        if (
            isinstance(value, Mapping)
            and value
            and all(isinstance(v, Mapping) for v in value.values())
        ):
            tables.extend((f"{path}.{k}", v) for k, v in value.items())
        elif isinstance(value, Mapping) and _prefix == "" and key in comments:
            tables.append((path, value))
        else:
            note = f"  # {comments[path]}" if path in comments else ""
            lines.append(f"{toml_key(str(key))} = {toml_value(value)}{note}")
    for path, table in tables:
        note = f"  # {comments[path]}" if path in comments else ""
        header = ".".join(toml_key(part) for part in path.split("."))
        lines.append(f"\n[{header}]{note}")
        body = dumps_toml(table, comments, f"{path}.")
        if body:
            lines.append(body)
    return "\n".join(lines)
