"""What each line of a flight-recorder snapshot may hold: the types the readers rely on.

The snapshot reader checks every line against these tables, so ``flight view``, ``flight
convert``, ``flight list`` and the demo can use the values without guarding each one: a line
that does not fit is reported as ``file:line: what was expected`` (or skipped and counted).

* Every event has ``ts`` (an integer: nanoseconds since the epoch, 0 to 2**63 - 1) and ``kind``
  (a string); ``tid`` and ``task``, when present, are integers.
* The fields of the kinds the recorder writes have fixed types (:data:`EVENT_FIELDS`); trace
  events (``span``, ``llm_call``, ...) carry ``data``, an object whose fields the viewers read
  are typed too (:data:`TRACE_DATA`). Any other field, and every field of another kind (what
  ``FlightRecorder.record(kind, ...)`` was given), may hold any JSON value.
* ``null`` counts as absent for every field but ``ts`` and ``kind``.
* Numbers are integers within 64 bits or finite floats within the same range: past that, no
  reader can compute with them (a time or a duration of 10**30).
* The header (the first line) has the shape :data:`HEADER`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from llmlog.ext import USAGE_DETAIL_FIELDS

__all__ = [
    "EVENT_FIELDS",
    "HEADER",
    "KNOWN_KINDS",
    "TRACE_DATA",
    "TRACE_KINDS",
    "check_event",
    "check_header",
    "describe",
    "is_header",
]

_INT64 = 1 << 63
#: The ``format`` of every snapshot header.
FORMAT = "llmlog-flight"


class Expect(NamedTuple):
    """A field's type: the check and the words of the error message."""

    check: Callable[[Any], bool]
    words: str


def _is_int(value: Any) -> bool:
    return type(value) is int and -_INT64 <= value < _INT64


def _is_time(value: Any) -> bool:
    return type(value) is int and 0 <= value < _INT64


def _is_number(value: Any) -> bool:
    if type(value) is int:
        return -_INT64 <= value < _INT64
    return type(value) is float and math.isfinite(value) and abs(value) < _INT64


def _is_digits(value: Any) -> bool:
    return type(value) is str and value.isascii() and value.isdigit() and len(value) <= 20


INT = Expect(_is_int, "an integer")
TIME = Expect(_is_time, "an integer of nanoseconds since the epoch (0 to 2**63-1)")
NUMBER = Expect(_is_number, "a number")
TEXT = Expect(lambda v: type(v) is str, "a string")
BOOL = Expect(lambda v: type(v) is bool, "true or false")
OBJECT = Expect(lambda v: type(v) is dict, "an object")

#: A field's schema: a type, or a table of an object's fields (the object's other fields free).
Schema = Expect | Mapping[str, Any]

#: Trace-event kinds (the dspy-go trace format's event types), whose payload is in ``data``.
TRACE_KINDS = ("session", "span", "llm_call", "module", "code_exec", "tool_call", "error")

#: The fields of ``data`` in a trace event that the viewers read.
TRACE_DATA: dict[str, Schema] = {
    "event": TEXT,
    "operation": TEXT,
    "duration_ms": NUMBER,
    "latency_ms": NUMBER,
    "provider": TEXT,
    "model": TEXT,
    "usage": {
        "prompt_tokens": INT,
        "completion_tokens": INT,
        "total_tokens": INT,
        "cost": NUMBER,
        **dict.fromkeys(USAGE_DETAIL_FIELDS, INT),
    },
    "tool_name": TEXT,
    "success": BOOL,
    "error_type": TEXT,
    "message": TEXT,
    "module_type": TEXT,
    "module_name": TEXT,
    "llm_calls": INT,
    "total_tokens": INT,
    "iteration": INT,
}

_TRACE_EVENT: dict[str, Schema] = {
    "trace_id": TEXT,
    "span_id": TEXT,
    "parent_id": TEXT,
    "data": TRACE_DATA,
    "started_before_window": BOOL,
}

#: The fields of each kind the recorder writes, beyond ``ts``, ``kind``, ``tid`` and ``task``.
EVENT_FIELDS: dict[str, dict[str, Schema]] = {
    **dict.fromkeys(TRACE_KINDS, _TRACE_EVENT),
    "log": {
        "level": TEXT,
        "msg": TEXT,
        "logger": TEXT,
        "file": TEXT,
        "line": INT,
        "fn": TEXT,
        "trace_id": TEXT,
        "span_id": TEXT,
        "model": TEXT,
        "tokens": {
            "prompt": INT,
            "completion": INT,
            "total": INT,
            "cost": NUMBER,
            "cost_source": TEXT,
            "cost_unknown": TEXT,
            **dict.fromkeys(USAGE_DETAIL_FIELDS, INT),
        },
        "latency_ms": NUMBER,
        "cost": NUMBER,
        "fields": OBJECT,
        "exception": TEXT,
    },
    "region": {"name": TEXT, "region": INT, "dur": INT, "error": TEXT},
    "region_begin": {"name": TEXT, "region": INT, "open": BOOL},
    "region_end": {"name": TEXT, "region": INT},
    "task_begin": {"name": TEXT, "task_id": INT},
    "task_end": {"name": TEXT, "task_id": INT, "error": TEXT},
    "annotation": {"category": TEXT, "message": TEXT},
    "exception": {"type": TEXT, "message": TEXT, "traceback": TEXT, "where": TEXT},
    "snapshot": {"path": TEXT, "reason": TEXT},
    "snapshot_skipped": {"reason": TEXT, "why": TEXT},
    "trigger": {"name": TEXT, "detail": TEXT},
    "recorder_start": {"min_age": NUMBER, "max_bytes": INT, "backend": TEXT},
    "gc": {"generation": INT, "collected": INT, "dur_ns": INT},
}

#: Every kind the recorder itself writes (``record(kind, ...)`` may add others).
KNOWN_KINDS = tuple(EVENT_FIELDS)

_ENVELOPE: dict[str, Schema] = {"tid": INT, "task": INT}

_COUNTS = Expect(
    lambda v: type(v) is dict and all(_is_int(n) for n in v.values()),
    "an object of integers",
)

#: The header line.
HEADER: dict[str, Schema] = {
    "format": TEXT,
    "version": INT,
    "reason": TEXT,
    "trigger_detail": TEXT,
    "pid": INT,
    "host": TEXT,
    "created_ns": TIME,
    "clock": {"wall_ns": TIME, "monotonic_ns": INT},
    "config": {
        "backend": TEXT,
        "min_age": NUMBER,
        "max_bytes": INT,
        "level": TEXT,
        "chunk_events": INT,
        "chunk_bytes": INT,
        "chunk_period": NUMBER,
    },
    "window": {
        "chunks": INT,
        "events": INT,
        "raw_bytes": INT,
        "stored_bytes": INT,
        "oldest_ns": TIME,
        "newest_ns": TIME,
        "open_spans_before_window": INT,
        "open_regions": INT,
    },
    "drops": _COUNTS,
    "skipped_snapshots": _COUNTS,
    "threads": Expect(
        lambda v: (
            type(v) is dict and all(_is_digits(k) and type(name) is str for k, name in v.items())
        ),
        "an object of thread names by thread id",
    ),
}


def describe(value: Any) -> str:
    """What a JSON value is, in the words of an error message (never the value itself: it may
    be long or hostile)."""
    if value is None:
        return "null"
    if type(value) is bool:
        return "a boolean"
    if type(value) is int:
        return "an integer" if -_INT64 <= value < _INT64 else "an integer out of range"
    if type(value) is float:
        return "a number" if abs(value) < _INT64 else "a number out of range"
    if type(value) is str:
        return "a string"
    if type(value) is list:
        return "a list"
    return "an object"


def _check(fields: Mapping[str, Schema], record: Mapping[str, Any], where: str) -> str | None:
    # Walks the record's own keys (a handful) rather than the table (up to 16 names): this runs
    # for every line of a snapshot.
    for name, value in record.items():
        schema = fields.get(name)
        if schema is None or value is None:
            continue
        if isinstance(schema, Expect):
            if not schema.check(value):
                return f"{where}{name!r}: expected {schema.words}, got {describe(value)}"
        elif type(value) is not dict:
            return f"{where}{name!r}: expected an object, got {describe(value)}"
        else:
            problem = _check(schema, value, f"{where}{name!r} > ")
            if problem is not None:
                return problem
    return None


def check_event(event: Any) -> str | None:
    """Why ``event`` (a decoded line) is not a snapshot event, or ``None`` when it is one."""
    if type(event) is not dict:
        return f"expected a JSON object, got {describe(event)}"
    ts = event.get("ts")
    if not _is_time(ts):
        got = "no ts" if ts is None else describe(ts)
        return f"'ts': expected {TIME.words}, got {got}"
    kind = event.get("kind")
    if type(kind) is not str:
        got = "no kind" if kind is None else describe(kind)
        return f"'kind': expected a string, got {got}"
    problem = _check(_ENVELOPE, event, "")
    if problem is None and kind in EVENT_FIELDS:
        problem = _check(EVENT_FIELDS[kind], event, f"{kind} event: ")
    return problem


def is_header(line: Any) -> bool:
    """Whether ``line`` (a decoded first line) claims to be a snapshot header."""
    return type(line) is dict and line.get("kind") == "header" and line.get("format") == FORMAT


def check_header(header: Any) -> str | None:
    """Why ``header`` (the decoded first line) is not a valid snapshot header, or ``None``."""
    if not is_header(header):
        return "expected the header line of an llmlog flight-recorder snapshot"
    return _check(HEADER, header, "header: ")
