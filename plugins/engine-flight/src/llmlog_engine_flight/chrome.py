"""Flight-recorder snapshot → Chrome Trace Event JSON (opened by ui.perfetto.dev, chrome://tracing).

Mapping, chosen so concurrent and async work survives:

* spans (``span`` start/end from trace sessions) and LLM/tool calls with a duration become
  **async slices** (``b``/``e``) keyed by span id: thread-scoped slices would drop overlapping calls;
* ``trace_task`` tasks become async slices keyed by task id (they may end on another thread);
* ``trace_region`` regions become complete slices (``X``) on their thread, where they nest; a
  region still running at the snapshot becomes a ``B`` that never ends;
* log entries, annotations, exceptions and GC pauses become instant events (``i``) with their data;
* token counts become a counter track (``C``), cumulative over the window;
* threads are numbered 1, 2, ... in the order the recorder first saw them (Python's thread ids,
  around 1.4e14, are past what trace readers keep: Perfetto merged every thread into one) and
  named from the header, as ``M`` metadata (``thread_name``, ``thread_sort_index``); the Python
  thread ids are kept in ``otherData.threads``.

Times are microseconds relative to the first event (floats keep nanosecond precision).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from llmlog.ext import escape_json_bytes, serializer
from llmlog_engine_flight.snapshot import Snapshot

__all__ = ["thread_numbers", "to_chrome", "write_chrome"]


def _start_ns(event: dict[str, Any]) -> int:
    ts: int = event["ts"]
    if event["kind"] in ("llm_call", "tool_call"):
        data = event.get("data") or {}
        ts -= int(float(data.get("latency_ms") or data.get("duration_ms") or 0) * 1e6)
    return ts


def _async(
    ph: str,
    cat: str,
    slice_id: str,
    name: str,
    ts: float,
    pid: int,
    tid: int,
    args: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One end (``b`` or ``e``) of an async slice keyed by ``slice_id``."""
    event = {"ph": ph, "cat": cat, "id": slice_id, "name": name, "ts": ts, "pid": pid, "tid": tid}
    if args is not None:
        event["args"] = args
    return event


def thread_numbers(snapshot: Snapshot) -> dict[Any, int]:
    """Each Python thread id of the snapshot → its small number (1, 2, ...): the header's
    threads first, in the order the recorder first saw them, then any other thread of an event."""
    numbers: dict[Any, int] = {}
    for ident in snapshot.header.get("threads") or {}:
        numbers.setdefault(int(ident), len(numbers) + 1)
    for event in snapshot.events:
        ident = event.get("tid")
        if ident is not None and ident not in numbers:
            numbers[ident] = len(numbers) + 1
    return numbers


def _events(snapshot: Snapshot) -> Iterator[dict[str, Any]]:
    header = snapshot.header
    pid = header.get("pid") or 1
    if not 0 < pid < 1 << 31:  # readers keep 32 bits
        pid = 1
    events = snapshot.events
    # Calls are recorded when they finish; their slices start `latency` earlier, which must not
    # fall before the time origin (readers drop events at negative times).
    t0 = min((_start_ns(e) for e in events), default=0)

    def us(ts: int) -> float:
        return (ts - t0) / 1000.0

    yield {
        "ph": "M",
        "name": "process_name",
        "pid": pid,
        "tid": 0,
        "args": {"name": f"llmlog flight recorder (pid {pid})"},
    }
    numbers = thread_numbers(snapshot)
    names = header.get("threads") or {}
    for ident, number in numbers.items():
        name = names.get(str(ident)) or f"thread {ident}"
        yield {"ph": "M", "name": "thread_name", "pid": pid, "tid": number, "args": {"name": name}}
        yield {
            "ph": "M",
            "name": "thread_sort_index",
            "pid": pid,
            "tid": number,
            "args": {"sort_index": number},
        }
    tokens = 0
    span_names: dict[str, str] = {}
    for event in events:
        kind = event["kind"]
        ts = us(event["ts"])
        tid = numbers.get(event.get("tid"), 0)
        if kind == "span":
            data = event.get("data") or {}
            phase = data.get("event")
            slice_id = event.get("span_id") or ""
            # An end must repeat its begin's name, or readers leave the slice open.
            name = span_names.setdefault(slice_id, data.get("operation") or slice_id or "span")
            if phase in ("start", "end"):
                if phase == "start":
                    args = {
                        "inputs": data.get("inputs"),
                        "parent_id": event.get("parent_id"),
                        "trace_id": event.get("trace_id"),
                        "started_before_window": event.get("started_before_window"),
                    }
                else:
                    args = {
                        "outputs": data.get("outputs"),
                        "error": data.get("error"),
                        "duration_ms": data.get("duration_ms"),
                    }
                present = {k: v for k, v in args.items() if v is not None}
                ph = "b" if phase == "start" else "e"
                yield _async(ph, "span", slice_id, name, ts, pid, tid, present)
        elif kind in ("llm_call", "tool_call"):
            data = event.get("data") or {}
            duration = float(data.get("latency_ms") or data.get("duration_ms") or 0) * 1000.0
            name = data.get("model") or data.get("tool_name") or kind
            slice_id = f"{event.get('span_id') or ''}:{kind}:{event['ts']}"
            yield _async("b", kind, slice_id, name, ts - duration, pid, tid, data)
            yield _async("e", kind, slice_id, name, ts, pid, tid)
            usage = data.get("usage") or {}
            if usage.get("total_tokens"):
                tokens += int(usage["total_tokens"])
                yield {
                    "ph": "C",
                    "name": "tokens",
                    "ts": ts,
                    "pid": pid,
                    "tid": tid,
                    "args": {"total": tokens},
                }
        elif kind in ("task_begin", "task_end"):
            ph = "b" if kind == "task_begin" else "e"
            task = f"task-{event.get('task_id')}"
            yield _async(ph, "task", task, event.get("name") or "task", ts, pid, tid)
        elif kind == "region":  # one complete slice: regions nest on their thread
            slice_: dict[str, Any] = {
                "ph": "X",
                "name": event.get("name") or "region",
                "ts": ts,
                # A wall clock stepped back during the region gives a negative duration.
                "dur": max(event.get("dur") or 0, 0) / 1000,
                "pid": pid,
                "tid": tid,
            }
            if event.get("error"):
                slice_["args"] = {"error": event["error"]}
            yield slice_
        elif kind in ("region_begin", "region_end"):  # a region still running at the snapshot
            yield {
                "ph": "B" if kind == "region_begin" else "E",
                "name": event.get("name") or "region",
                "ts": ts,
                "pid": pid,
                "tid": tid,
            }
        else:
            args = {k: v for k, v in event.items() if k not in ("ts", "tid", "kind")}
            name = event.get("msg") or event.get("message")
            if not isinstance(name, str):  # another kind's fields hold any JSON
                name = kind
            if kind == "log":
                name = f"{event.get('level') or ''} {name}"
                usage = event.get("tokens") or {}
                if usage.get("total"):
                    tokens += int(usage["total"])
                    yield {
                        "ph": "C",
                        "name": "tokens",
                        "ts": ts,
                        "pid": pid,
                        "tid": tid,
                        "args": {"total": tokens},
                    }
            yield {
                "ph": "i",
                "s": "t",
                "cat": kind,
                "name": name[:200],
                "ts": ts,
                "pid": pid,
                "tid": tid,
                "args": args,
            }


def _json(value: Any) -> bytes:
    """``value`` as JSON with every non-printable character escaped: whoever opens the file in
    a pager or a terminal sees the snapshot's text, and nothing in it acts on the terminal."""
    data = serializer.dumps(value)
    return data if data.isascii() and 0x7F not in data else escape_json_bytes(data)


def _other_data(snapshot: Snapshot) -> dict[str, Any]:
    threads = {str(number): ident for ident, number in thread_numbers(snapshot).items()}
    return {"source": "llmlog flight recorder", "header": snapshot.header, "threads": threads}


def to_chrome(snapshot: Snapshot) -> dict[str, Any]:
    """The Chrome Trace Event document for ``snapshot``."""
    return {
        "traceEvents": list(_events(snapshot)),
        "displayTimeUnit": "ms",
        "otherData": _other_data(snapshot),
    }


def write_chrome(snapshot: Snapshot, fileobj: Any) -> int:
    """Stream the Chrome JSON to a binary file object, one event at a time; returns bytes written."""
    written = fileobj.write(b'{"displayTimeUnit":"ms","otherData":')
    written += fileobj.write(_json(_other_data(snapshot)))
    written += fileobj.write(b',"traceEvents":[\n')
    first = True
    for event in _events(snapshot):
        if not first:
            written += fileobj.write(b",\n")
        written += fileobj.write(_json(event))
        first = False
    written += fileobj.write(b"\n]}\n")
    return int(written)
