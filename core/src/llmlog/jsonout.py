"""``--json`` of the viewer commands: one envelope, one set of flags, one encoder.

Every command that shows traces (``llmlog view``, ``view --stats``, ``flight list``, ``flight
view``, ``diff``, ``reprice``) prints, with ``--json``, one JSON document of the same shape
(schema ``llmlog.view/1``, documented in ``docs/export.md``)::

    {"schema": "llmlog.view/1", "command": "view", "source": ["trace.jsonl"],
     "total": 120, "offset": 0, "limit": 50, "next_offset": 50,
     "filters": {"search": null, "errors": false},
     "items": [...], "summary": {...}, "problems": []}

``items`` are the command's rows (spans, snapshots, matched spans...), each a JSON object; the
filters apply to them before paging: ``--errors`` keeps the rows whose ``error`` is set (or
``status`` is ``"error"``), ``--search TEXT`` those whose text (keys and values, after
redaction) contains ``TEXT``, case-insensitively. ``total`` counts the rows that passed the
filters; ``next_offset`` is the ``--offset`` of the next page, ``null`` on the last.

Redaction as configured applies to every row and the summary (:func:`configured_sanitizer`); the
text is JSON, whose encoder escapes the C0 control characters; every other character that is
not printable (the C1 controls: ``\\u009b`` starts a terminal sequence on some terminals; the
line and paragraph separators; the bidirectional controls that reorder text on screen;
zero-width and private-use characters) is escaped too, by :func:`llmlog.render.escape_json_bytes`
(the rule of every other place text reaches a terminal), so ``--json`` output never carries a
terminal escape or text that shows other than it reads.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TextIO

import orjson

from llmlog.render import escape_json_bytes
from llmlog.sanitize import Sanitizer
from llmlog.serialize import serializer

__all__ = [
    "JSON_SCHEMA",
    "add_json_flags",
    "configured_sanitizer",
    "dumps_json",
    "json_page",
    "paging",
    "print_json",
    "row_matches",
]

#: The schema name of every ``--json`` document; a new major version changes it.
JSON_SCHEMA = "llmlog.view/1"
#: Rows per page when ``--limit`` is not given.
DEFAULT_LIMIT = 1000
#: The most rows one page holds, whatever ``--limit`` asks.
MAX_LIMIT = 100_000


def add_json_flags(
    parser: argparse.ArgumentParser,
    *,
    filters: bool = True,
    what: str = "rows",
) -> None:
    """``--json``, ``--limit``, ``--offset`` and (with ``filters``, for commands that do not have
    them already) ``--search`` and ``--errors`` on ``parser``."""
    parser.add_argument(
        "--json",
        action="store_true",
        help=f"machine-readable output (schema {JSON_SCHEMA}, docs/export.md)",
    )
    parser.add_argument(
        "--limit",
        type=_count,
        default=None,
        metavar="N",
        help=f"with --json: {what} per page (default {DEFAULT_LIMIT}, at most {MAX_LIMIT})",
    )
    parser.add_argument(
        "--offset",
        type=_count,
        default=0,
        metavar="N",
        help="with --json: skip the first N (the previous page's next_offset)",
    )
    if filters:
        parser.add_argument(
            "-s", "--search", metavar="TEXT", help=f"only the {what} that mention TEXT"
        )
        parser.add_argument("--errors", action="store_true", help=f"only the {what} that failed")


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more, not {value}")
    return value


def configured_sanitizer(*, max_string_length: int = 65_536) -> tuple[Sanitizer, str | None]:
    """The redaction of the configuration in force (``redact``, ``redact_keys``,
    ``redact_values``, ``redact_patterns`` of the usual search: ``llmlog.toml``,
    ``pyproject.toml``, ``LLMLOG_CONFIG``), with strings capped at ``max_string_length``.

    :returns: the sanitizer and, when the configuration cannot be read, the problem (the
        default redaction, which is on, is used then: a broken file never shows secrets).
    """
    from llmlog.config import ConfigError
    from llmlog.runtime import validate

    try:
        config, _ = validate()
    except ConfigError as exc:
        problem = str(exc).splitlines()[0] if str(exc) else "invalid configuration"
        return Sanitizer(max_string_length=max_string_length), problem
    settings = config.settings
    return (
        Sanitizer(
            redact=settings.redact,
            extra_patterns=settings.redact_keys,
            max_string_length=max_string_length,
            redact_values=settings.redact_values,
            value_patterns=settings.redact_patterns,
        ),
        None,
    )


def row_matches(row: Mapping[str, Any], *, search: str | None, errors: bool) -> bool:
    """Whether ``row`` passes ``--errors`` and ``--search`` (see the module docstring)."""
    if errors and not (row.get("error") or row.get("status") == "error"):
        return False
    if search:
        return search.casefold() in dumps_json(row).casefold()
    return True


def paging(args: Any) -> dict[str, Any]:
    """The ``--search``, ``--errors``, ``--limit`` and ``--offset`` of a command's parsed
    arguments (:func:`add_json_flags`), as :func:`json_page`'s keywords:
    ``json_page("view", rows, **paging(args), ...)``."""
    return {
        "search": args.search,
        "errors": args.errors,
        "limit": args.limit,
        "offset": args.offset,
    }


def json_page(
    command: str,
    rows: Iterable[Mapping[str, Any]],
    *,
    source: Sequence[str] = (),
    search: str | None = None,
    errors: bool = False,
    limit: int | None = None,
    offset: int = 0,
    summary: Mapping[str, Any] | None = None,
    problems: Sequence[str] = (),
    sanitizer: Sanitizer | None = None,
    keep: Callable[[Mapping[str, Any]], bool] | None = None,
) -> dict[str, Any]:
    """The ``--json`` document of ``command``: ``rows`` redacted (``sanitizer``, none to keep
    them as they are), filtered (``search``, ``errors``, and ``keep`` when a command knows
    better what "failed" means), then paged (``offset``, ``limit``)."""
    if limit is None:
        limit = DEFAULT_LIMIT
    limit = min(limit, MAX_LIMIT)
    clean: Callable[[Mapping[str, Any]], Mapping[str, Any]] = (
        sanitizer.fields if sanitizer is not None else (lambda row: row)
    )
    matched = 0
    page: list[Mapping[str, Any]] = []
    for row in rows:
        row = clean(row)
        if keep is not None and not keep(row):
            continue
        if not row_matches(row, search=search, errors=errors and keep is None):
            continue
        if offset <= matched < offset + limit:
            page.append(row)
        matched += 1
    shown_problems = [sanitizer.text(p) if sanitizer is not None else p for p in problems]
    end = offset + len(page)
    return {
        "schema": JSON_SCHEMA,
        "command": command,
        "source": [sanitizer.text(s) if sanitizer is not None else s for s in source],
        "total": matched,
        "offset": offset,
        "limit": limit,
        "next_offset": end if end < matched else None,
        "filters": {"search": search or None, "errors": bool(errors)},
        "items": page,
        "summary": dict(clean(summary)) if summary is not None else None,
        "problems": shown_problems,
    }


def dumps_json(document: Any, *, indent: bool = False) -> str:
    """``document`` as JSON text: any value (what orjson cannot encode goes through the
    serializer's safe path), with nothing a terminal acts on (see the module docstring)."""
    option = orjson.OPT_NON_STR_KEYS | (orjson.OPT_INDENT_2 if indent else 0)
    try:
        raw = orjson.dumps(document, option=option, default=serializer.default)
    except (TypeError, orjson.JSONEncodeError):
        raw = serializer.dumps(document)
    # orjson writes lone surrogates as escapes, so the bytes are valid UTF-8.
    return escape_json_bytes(raw).decode("utf-8", "replace")


def print_json(document: Any, out: TextIO | None = None) -> None:
    """Write ``document`` (:func:`dumps_json`, indented) and a newline to ``out`` (stdout)."""
    (out or sys.stdout).write(dumps_json(document, indent=True) + "\n")
