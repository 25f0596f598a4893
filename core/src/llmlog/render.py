"""Building blocks for human-readable output: escaping, field values and timestamps.

Shared by the built-in stderr output and the text, logfmt and console plugins so that every text
rendering escapes the same way. Escaping matters for security: a prompt or a tool result can hold
terminal escape sequences or newlines followed by a fake log line. Every character that is not
printable (``str.isprintable``: control characters, line and paragraph separators, bidi overrides)
is written as a backslash escape, so one entry is always exactly one line of visible text.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from llmlog.records import LogEntry, TokenUsage, detail_text
from llmlog.serialize import PLAIN_IDS, big_int_text, encoded_event_data, plain_id, serializer

__all__ = [
    "continuation_lines",
    "escape",
    "escape_json_bytes",
    "escape_lines",
    "event_line_tail",
    "format_cost",
    "format_fields",
    "format_tokens",
    "format_value",
    "local_timestamp",
    "plain_line",
    "plural",
    "quote_if_needed",
    "rfc3339_local",
    "rfc3339_nano",
    "rfc3339_utc",
    "safe_field_items",
]

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


class _EscapeTable(dict[int, str]):
    """``str.translate`` table that computes (and caches) the escape of each character it meets."""

    def __missing__(self, code: int) -> str:
        ch = chr(code)
        if ch.isprintable():
            out = ch
        elif ch in _NAMED:
            out = _NAMED[ch]
        elif code < 0x100:
            out = f"\\x{code:02x}"
        elif code < 0x10000:
            out = f"\\u{code:04x}"
        else:
            out = f"\\U{code:08x}"
        self[code] = out
        return out


_ESCAPES = _EscapeTable()


def escape(text: str) -> str:
    """Return ``text`` with every non-printable character replaced by a backslash escape."""
    if text.isprintable():
        return text
    return text.translate(_ESCAPES)


def escape_lines(text: str) -> str:
    """:func:`escape` each line of ``text``, keeping its newlines (for text shown as a block)."""
    return "\n".join(escape(line) for line in text.split("\n"))


class _JsonEscapeTable(dict[int, str]):
    """``str.translate`` table for encoded JSON: every character that is not printable becomes a
    ``\\uXXXX`` escape (a surrogate pair past U+FFFF), every other stays as it is."""

    def __missing__(self, code: int) -> str:
        ch = chr(code)
        if ch.isprintable() or ch == "\n":  # a raw newline in encoded JSON ends the line
            out = ch
        elif code < 0x10000:
            out = f"\\u{code:04x}"
        else:
            high, low = divmod(code - 0x10000, 0x400)
            out = f"\\u{0xD800 + high:04x}\\u{0xDC00 + low:04x}"
        self[code] = out
        return out


_JSON_ESCAPES = _JsonEscapeTable()


def escape_json_bytes(data: bytes) -> bytes:
    """Escape, in encoded JSON, every character that is not printable: what JSON allows raw
    inside strings but a terminal acts on or hides (DEL and the C1 controls, NEL, LINE and
    PARAGRAPH SEPARATOR, the bidirectional controls that reorder text on screen, zero-width and
    tag characters, private-use characters), by the same rule as :func:`escape`.

    The result is the same JSON value: such characters can only occur inside strings (an
    encoder escapes the controls below U+0020 itself), where a ``\\uXXXX`` escape means the same
    thing. ``data`` must be UTF-8, as every JSON encoder writes. Callers on a hot path skip the
    call for ASCII without DEL (``line.isascii() and 0x7F not in line``), which never changes;
    DEL tested as an integer (``memchr``): ``b"\\x7f" in line`` first fails to read the bytes
    as an index, raising and clearing an error, some 2,000 instructions per line.
    """
    if data.isascii():
        return data.replace(b"\x7f", b"\\u007f") if 0x7F in data else data
    text = data.decode("utf-8", "surrogateescape")
    body = text[:-1] if text.endswith("\n") else text
    if body.isprintable():
        return data
    return text.translate(_JSON_ESCAPES).encode("utf-8", "surrogateescape")


#: What :func:`event_line_tail` caches for an event whose ids are not all plain.
_NO_TAIL = b""


def event_line_tail(event: Any) -> bytes | None:
    """The end of a trace event's JSON line from its trace id on, as every encoder that writes
    the ids and the data last writes it: ``"trace_id":"…","span_id":"…","parent_id":"…",
    "data":{…}}`` and a newline (an empty id left out, and the data when there is none; the
    data as :func:`~llmlog.serialize.encoded_event_data`), escaped as
    :func:`escape_json_bytes` escapes. An encoder puts its own members before it: the trace
    file and the flight recorder share it, computed once per event and cached on it
    (``event.encoded_tail``). ``None`` when an id is not plain (:func:`~llmlog.serialize.
    plain_id`): the encoder's own way with orjson then."""
    tail = event.encoded_tail
    if tail is None:
        trace_id, span_id, parent_id = event.trace_id, event.span_id, event.parent_id
        plain = PLAIN_IDS
        try:
            common = not (
                (trace_id not in plain and not plain_id(trace_id))
                or (span_id and span_id not in plain and not plain_id(span_id))
                or (parent_id and parent_id not in plain and not plain_id(parent_id))
            )
        except TypeError:  # an id of the caller's that cannot be hashed
            common = False
        if not common:
            event.encoded_tail = _NO_TAIL
            return None
        text = f'"trace_id":"{trace_id}"'
        if span_id:
            text = f'{text},"span_id":"{span_id}"'
        if parent_id:
            text = f'{text},"parent_id":"{parent_id}"'
        if event.data:
            tail = b"".join((text.encode(), b',"data":', encoded_event_data(event), b"}\n"))
            if not tail.isascii() or 0x7F in tail:
                tail = escape_json_bytes(tail)
        else:
            tail = text.encode() + b"}\n"
        event.encoded_tail = tail
        return tail
    return tail or None


def format_value(value: Any) -> str:
    """Render a field value for text output (escaped, not quoted)."""
    if isinstance(value, str):
        return escape(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        # repr() raises past 4,300 digits: such a number is written as a size marker.
        return repr(value) if value.bit_length() <= 1024 else big_int_text(value)
    if isinstance(value, float):
        return repr(value)
    return escape(serializer.dumps(value).decode("utf-8"))


_NEEDS_QUOTES = frozenset(' ="\\')


_NEEDS_DISPLAY_QUOTES = frozenset(' ="')


def quote_if_needed(text: str, *, strict: bool = True) -> str:
    """Quote ``text`` if it is empty or holds a space, ``=`` or quote (or, when ``strict``, a
    backslash).

    ``strict`` is logfmt's rule: backslashes are doubled so a parser can undo the quoting exactly.
    For people (console, text) only quotes are escaped, so an escaped ``\\x1b`` stays readable.
    """
    special = _NEEDS_QUOTES if strict else _NEEDS_DISPLAY_QUOTES
    if text and special.isdisjoint(text):
        return text
    if strict:
        text = text.replace("\\", "\\\\")
    return '"' + text.replace('"', '\\"') + '"'


def format_fields(
    fields: Mapping[str, Any] | Iterable[tuple[str, Any]], *, strict: bool = True
) -> str:
    """Render fields as ``key=value`` pairs separated by spaces, quoting values where needed."""
    items = fields.items() if isinstance(fields, Mapping) else fields
    return " ".join(
        f"{quote_if_needed(escape(str(k)), strict=strict)}="
        f"{quote_if_needed(format_value(v), strict=strict)}"
        for k, v in items
    )


def format_cost(cost: float) -> str:
    """``$0.00001695``: dollars with up to 8 decimals, no exponent, no trailing zeros."""
    text = f"{cost:.8f}".rstrip("0").rstrip(".")
    return f"${text if text not in ('', '-0') else '0'}"


def safe_field_items(
    fields: Mapping[str, Any], reserved: frozenset[str]
) -> Iterable[tuple[str, Any]]:
    """Fields as ``(key, value)`` pairs, a key that collides with a ``reserved`` one renamed
    ``field.<key>``: a field can never overwrite the record's own ``level`` or ``message``."""
    if reserved.isdisjoint(fields):
        return fields.items()
    return [(f"field.{k}" if k in reserved else k, v) for k, v in fields.items()]


def format_tokens(usage: TokenUsage, arrows: tuple[str, str] = ("↑", "↓")) -> str:
    """``tokens=N(p↑c↓)`` as dspy-go's console shows usage (arrows replaceable, e.g. coloured),
    with the detail counts that are not zero inside the brackets:
    ``tokens=30(20↑10↓ cached=5 reasoning=4)`` (cached and reasoning are part of p and c)."""
    up, down = arrows
    details = detail_text(usage) if usage.has_details else ""
    return (
        f"tokens={usage.total_tokens}"
        f"({usage.prompt_tokens}{up}{usage.completion_tokens}{down}{details})"
    )


# Formatting a time is the costliest part of a cheap log line; the second-resolution part is
# cached and only the fraction is formatted per call. A tuple swap is atomic under the GIL.
_utc_cache: tuple[int, str] = (-1, "")
# Nanosecond times with 19 digits (years 2001 to 2286): digits 10.. are the fraction of a second.
_NS_LOW, _NS_HIGH = 10**18, 10**19
_local_cache: tuple[int, str] = (-1, "")
_local_rfc_cache: tuple[int, str, str] = (-1, "", "")


def rfc3339_utc(ns: int) -> str:
    """``2026-11-25T17:40:05.123456Z``: UTC, microsecond precision."""
    global _utc_cache
    sec = ns // 1_000_000_000
    cached = _utc_cache
    if cached[0] != sec:
        cached = _utc_cache = (sec, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)))
    if _NS_LOW <= ns < _NS_HIGH:
        return f"{cached[1]}.{str(ns)[10:16]}Z"  # 3x cheaper than a :06d format spec
    return f"{cached[1]}.{ns // 1000 % 1_000_000:06d}Z"


def local_timestamp(ns: int) -> str:
    """``2026-11-25 18:40:05.123``: local time, millisecond precision, for people."""
    global _local_cache
    sec = ns // 1_000_000_000
    cached = _local_cache
    if cached[0] != sec:
        cached = _local_cache = (sec, time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(sec)))
    if _NS_LOW <= ns < _NS_HIGH:
        return f"{cached[1]}.{str(ns)[10:13]}"
    return f"{cached[1]}.{ns // 1_000_000 % 1000:03d}"


def _utc_offset(tm: time.struct_time) -> str:
    """``Z`` at offset 0, else ``+01:00``/``-05:30``: RFC 3339's form of a local time's offset."""
    minutes = (tm.tm_gmtoff or 0) // 60
    if minutes == 0:
        return "Z"
    sign = "+" if minutes > 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def rfc3339_local(ns: int) -> str:
    """``2026-11-25T18:40:05.123+01:00``: local time with its offset, millisecond precision."""
    global _local_rfc_cache
    sec, frac = divmod(ns, 1_000_000_000)
    cached_sec, prefix, offset = _local_rfc_cache
    if sec != cached_sec:
        tm = time.localtime(sec)
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", tm)
        offset = _utc_offset(tm)
        _local_rfc_cache = (sec, prefix, offset)
    return f"{prefix}.{frac // 1_000_000:03d}{offset}"


_nano_cache: tuple[int, str, str] = (-1, "", "")


def rfc3339_nano(ns: int) -> str:
    """RFC 3339 with nanoseconds and the local offset, trailing zeros dropped (Go's RFC3339Nano)."""
    global _nano_cache
    seconds = ns // 1_000_000_000
    cached = _nano_cache
    if cached[0] != seconds:
        tm = time.localtime(seconds)
        cached = _nano_cache = (seconds, time.strftime("%Y-%m-%dT%H:%M:%S", tm), _utc_offset(tm))
    # The fraction's digits, without a format spec (slow) for 19-digit times (2001 to 2286).
    digits = str(ns)[10:] if 10**18 <= ns < 10**19 else f"{ns % 1_000_000_000:09d}"
    digits = digits.rstrip("0")
    return f"{cached[1]}.{digits}{cached[2]}" if digits else f"{cached[1]}{cached[2]}"


def continuation_lines(text: str, marker: str = "  | ") -> str:
    """``text`` (a traceback) as escaped lines, each after a newline and ``marker``.

    The marker makes continuation lines impossible to mistake for log lines of their own.
    """
    return "".join(f"\n{marker}{escape(line)}" for line in text.splitlines())


def plain_line(entry: LogEntry) -> str:
    """``2026-11-25 18:40:05.123 INFO  message [file:line] [model=m] [tokens=…] key=value``."""
    parts = [local_timestamp(entry.time), f"{entry.severity.name:<5}", escape(entry.message)]
    if entry.file:
        parts.append(f"[{escape(entry.file)}:{entry.line}]")
    if entry.trace_id:
        parts.append(f"[traceId={escape(entry.trace_id)}]")
    if entry.model_id:
        parts.append(f"[model={escape(entry.model_id)}]")
    if entry.token_info is not None:
        parts.append(f"[{format_tokens(entry.token_info)}]")
    if entry.fields:
        parts.append(format_fields(entry.fields, strict=False))
    line = " ".join(parts)
    return line + continuation_lines(entry.exception) if entry.exception else line


def plural(count: int, noun: str, plural_form: str | None = None) -> str:
    """``count`` and ``noun`` agreeing in number: ``1 call``, ``2 calls``, ``0 calls``
    (``plural_form`` for a noun that does not just take an ``s``: ``plural(n, "entry",
    "entries")``)."""
    return f"{count} {noun if count == 1 else (plural_form or noun + 's')}"
