"""The :class:`FlightRecorder`: an always-on ring of recent activity, dumped when something breaks.

What it records (each as one JSON line with ``ts`` in nanoseconds, ``kind`` and ``tid``):

* log entries at or above its own ``level`` (default DEBUG), whatever the outputs' levels: it is
  attached to the logging dispatcher as an output that ignores the global level;
* trace events (``record_trace_event``): span starts and ends, LLM calls, tool calls, errors; spans
  still open are kept in a bounded table so a snapshot can re-emit the ones whose start was evicted.
  A running recorder is a ``TraceSink`` of the trace fan-out (``llmlog.ext.add_trace_sink``), as the recorder started last: it gets the trace events and the
  annotations;
* annotations: ``trace_region``, ``trace_task``, ``trace_log``;
* unhandled exceptions, and optionally garbage-collector pauses.

Snapshots (``snapshot``, ``write_to``) hold a header line, the re-emitted open spans and the sealed
chunks, oldest first. With the ``memory`` backend the file is JSON Lines; with ``zstd`` it is
concatenated zstd frames that ``zstd -dc`` turns into the same JSON Lines. Files are created with
mode 0600 under a temporary name and renamed (:mod:`llmlog.safefiles`), so a failure never
leaves half a snapshot. Automatic snapshots are rate-limited per trigger; the skipped ones are
counted and reported in the next snapshot's header. :mod:`llmlog_engine_flight.snapshot` reads them back.
"""

from __future__ import annotations

import atexit
import contextlib
import fnmatch
import gc
import logging
import os
import re
import signal
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import IO, Any, cast

import orjson
import platformdirs

from llmlog.ext import (
    LEVEL_NAMES,
    NO_FLIGHT_RECORDER,
    EntryCode,
    LogEntry,
    NoFlightRecorder,
    Output,
    Severity,
    TokenUsage,
    TraceEvent,
    TraceEventType,
    TraceSink,
    add_trace_sink,
    current_task,
    encoded_event_data,
    escape_json_bytes,
    event_line_tail,
    flush_all,
    global_flight_recorder,
    release_annotations,
    remove_trace_sink,
    replace_global_flight_recorder,
    report_problem,
    retainable,
    running_flight_recorder,
    serializer,
    take_annotations,
    usage_details,
    written_atomically,
)
from llmlog_engine_flight.options import THRESHOLD_TRIGGERS, TRIGGERS, describe_triggers
from llmlog_engine_flight.ring import GIL, ChunkRing, RecorderBackend

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "NO_FLIGHT_RECORDER",
    "TRIGGERS",
    "FlightRecorder",
    "NoFlightRecorder",
    "RecorderOutput",
    "SnapshotInProgress",
    "add_trigger",
    "attach_to_logging",
    "code_triggers",
    "default_snapshot_dir",
    "global_flight_recorder",
    "init_global_flight_recorder",
    "remove_trigger",
    "running_flight_recorder",
    "set_global_flight_recorder",
]

FORMAT = "llmlog-flight"
FORMAT_VERSION = 1

#: Threads whose names a recorder keeps for snapshot headers (the ones seen last).
MAX_THREADS = 1024

#: How long a trigger other than ``signal`` waits for a snapshot being written before its own.
_WAIT_FOR_SNAPSHOT = 10.0

_FATAL = Severity.FATAL
_current_task = current_task
_SPAN = TraceEventType.SPAN  # enum member access is slow; compare with a module constant
#: Each event type's name in a ring line.
_KIND_NAMES = {t: t.value for t in TraceEventType}
_LLM_CALL = TraceEventType.LLM_CALL
_ERROR_EVENT = TraceEventType.ERROR
_get_ident = threading.get_ident
_time_ns = time.time_ns
_dumps = orjson.dumps
_Fragment = orjson.Fragment
_NEWLINE = orjson.OPT_APPEND_NEWLINE  # ring lines end with their newline
_default = serializer.default


class SnapshotInProgress(RuntimeError):
    """Another snapshot of this recorder is being written; use its result (Go's fail-fast rule)."""


def default_snapshot_dir() -> Path:
    """Where snapshots go by default: ``flight`` in the platformdirs user state directory."""
    return platformdirs.user_state_path("llmlog", appauthor=False) / "flight"


def _line(event: dict[str, Any]) -> bytes:
    """One ring line: the event as JSON with its newline, line separators escaped."""
    try:
        line = _dumps(event, default=_default, option=_NEWLINE)
    except Exception:  # what orjson refuses (a lone surrogate, a huge int): the slow encoder
        line = serializer.dumps(event) + b"\n"
    return line if line.isascii() and 0x7F not in line else escape_json_bytes(line)


class FlightRecorder(TraceSink):
    """An always-on ring of recent events; see the module docstring.

    :param min_age: seconds of history to keep at least (unless ``max_bytes`` is exceeded).
    :param max_bytes: bytes of stored (for ``zstd``, compressed) history to keep at most; it wins.
    :param backend: a backend object, or the name of one registered through
        ``llmlog_register_recorders`` (``memory``, ``zstd``).
    :param level: lowest severity of log entries recorded.
    :param snapshot_dir: where ``snapshot()`` without a path writes.
    :param triggers: which of :data:`TRIGGERS` snapshot automatically.
    :param signal_name: the signal of the ``signal`` trigger.
    :param min_snapshot_interval: ``snapshot_on_error`` and automatic triggers snapshot at most
        this often (seconds) for each trigger; the skipped ones are counted.
    :param gc_pauses: record garbage-collector pauses.
    :param slow_spans: the ``slow_span`` trigger: span name pattern -> milliseconds.
    :param call_cost: the ``costly_call`` trigger: one LLM call's cost in USD (0: off),
    :param call_tokens: or its tokens (0: off).
    :param error_burst: the ``error_burst`` trigger: this many errors (0: off)
    :param error_window: within this many seconds.
    :param chunk_events: the open chunk is sealed at this many events,
    :param chunk_bytes: at this many raw bytes,
    :param chunk_period: or after this many seconds.
    :param max_open_spans: bound of the open-span table.
    """

    def __init__(
        self,
        min_age: float = 10.0,
        max_bytes: int = 10 << 20,
        backend: RecorderBackend | str = "memory",
        *,
        level: Severity = Severity.DEBUG,
        snapshot_dir: str | os.PathLike[str] | None = None,
        triggers: Iterable[str] = ("fatal", "budget"),
        signal_name: str = "SIGUSR1",
        min_snapshot_interval: float = 30.0,
        gc_pauses: bool = False,
        slow_spans: Mapping[str, int] | None = None,
        call_cost: float = 0.0,
        call_tokens: int = 0,
        error_burst: int = 0,
        error_window: float = 60.0,
        chunk_events: int = 1024,
        chunk_bytes: int = 1 << 20,
        chunk_period: float = 1.0,
        max_open_spans: int = 10_000,
    ) -> None:
        if isinstance(backend, str):
            backend = _backend_by_name(backend)
        self.backend = backend
        self.level = level
        self.min_age = min_age
        self.max_bytes = max_bytes
        self.snapshot_dir = Path(snapshot_dir) if snapshot_dir else default_snapshot_dir()
        unknown = set(triggers) - set(TRIGGERS)
        if unknown:
            raise ValueError(
                f"unknown trigger(s) {sorted(unknown)}; expected some of {list(TRIGGERS)}"
            )
        self.triggers = frozenset(triggers)
        self.signal_name = signal_name
        self.min_snapshot_interval = min_snapshot_interval
        self.gc_pauses = gc_pauses
        self.max_open_spans = max_open_spans
        self.ring = ChunkRing(
            backend,
            min_age=min_age,
            max_bytes=max_bytes,
            chunk_events=chunk_events,
            chunk_bytes=chunk_bytes,
            chunk_period=chunk_period,
        )
        self._append = self.ring.append
        self._enabled = False
        self._writing = threading.Lock()
        self._open_spans: dict[str, tuple[int, bytes]] = {}
        #: Regions entered and not yet left: id -> (start ns, name, thread id, trace task).
        self._open_regions: dict[int, tuple[int, str, int, tuple[int, str] | None]] = {}
        self._threads: dict[int, str] = {}
        #: The threads in ``_threads`` seen since the recorder started, while it runs (emptied
        #: by ``stop``): the entry code's one test for both (see :meth:`entry_code`).
        self._recording_threads: set[int] = set()
        #: The entry code's cache of its gate: the id of the thread that passed it last (one
        #: comparison instead of a set lookup while one thread logs). Only ever a member of
        #: ``_recording_threads`` or ``None``: :meth:`stop` and :meth:`_note_thread` empty it
        #: after taking a thread out of the set, and the entry code looks at the set again after
        #: filling it (see :meth:`entry_code`).
        self._last_thread: list[int | None] = [None]
        #: When each trigger kind last snapshotted (monotonic seconds): rate limits are per kind.
        self._last_auto_snapshot: dict[str, float] = {}
        #: Snapshots skipped since the last one written, by reason (for the next header).
        self._skipped: dict[str, int] = {}
        #: The thread writing a snapshot, while one is written.
        self._writer: int | None = None
        self.counters = {
            "snapshots": 0,
            "snapshots_skipped": 0,
            "open_spans_dropped": 0,
            "record_errors": 0,
        }
        self._hooks: list[Any] = []
        # The watching triggers (thresholds on trace events): each compiled once.
        self.slow_spans = dict(slow_spans or {})
        self._slow = [(re.compile(fnmatch.translate(p)), ms) for p, ms in self.slow_spans.items()]
        self.call_cost = call_cost
        self.call_tokens = call_tokens
        self.error_burst = error_burst
        self.error_window = error_window
        self._span_names: dict[str, str] = {}
        self._errors: deque[float] = deque()
        self._last_error: tuple[str, str] | None = None
        self._trigger_threads: list[threading.Thread] = []
        self._trigger_lock = threading.Lock()

    def active_triggers(self) -> list[str]:
        """The triggers that snapshot automatically, each with its threshold where it has one."""
        return describe_triggers(
            self.triggers,
            self.slow_spans,
            self.call_cost,
            self.call_tokens,
            self.error_burst,
            self.error_window,
            _code_triggers,
        )

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def enabled(self) -> bool:
        """Whether the recorder is running."""
        return self._enabled

    def start(self) -> None:
        """Start recording (idempotent). Annotations and trace events now reach this recorder,
        and no longer one started before it."""
        if self._enabled:
            return
        self.ring.start()
        self._enabled = True
        previous = take_annotations(self)
        self._choose_on_event()
        # Added before the exit trigger is installed: the fan-out's exit hook (registered on its
        # first sink) then runs after this recorder's exit snapshot.
        add_trace_sink(self)
        if previous is not None and previous is not self:
            remove_trace_sink(previous)
        self._install_triggers()
        self.record(
            "recorder_start",
            min_age=self.min_age,
            max_bytes=self.max_bytes,
            backend=self.backend.name,
        )

    def stop(self) -> None:
        """Stop recording (idempotent); what was recorded stays until the recorder is dropped."""
        if not self._enabled:
            return
        self._enabled = False
        self._recording_threads.clear()
        self._last_thread[0] = None  # after the set: see _last_thread
        release_annotations(self)
        remove_trace_sink(self)
        self._uninstall_triggers()
        self.ring.seal_now(wait=2.0)
        self.ring.stop()

    # -- recording -------------------------------------------------------------------------------

    # The record methods below run for every event: each builds its event dict and appends its
    # one encoded line to the ring. Each reads the thread id inline (``_note_thread`` only the
    # first time a thread is seen): a method call per event would cost more than the lookup.

    def _note_thread(self, tid: int, other: bool = False) -> None:
        """Note the current thread's name under its id (for snapshot headers); ``other``: of the
        thread ``tid``, which is not this one (an event emitted later than it happened), looked
        up among the threads alive. The table keeps the :data:`MAX_THREADS` threads seen last,
        names cut to 200 characters: it goes into every header, which readers cap."""
        threads = self._threads
        if len(threads) >= MAX_THREADS:
            # Another thread may add one at the same time; forgetting none this time is fine.
            with contextlib.suppress(RuntimeError, StopIteration, KeyError):
                oldest = next(iter(threads))
                del threads[oldest]
                self._recording_threads.discard(oldest)
                if self._last_thread[0] == oldest:
                    self._last_thread[0] = None
        if other:
            found = next((t for t in threading.enumerate() if t.ident == tid), None)
            threads[tid] = found.name[:200] if found is not None else f"thread {tid}"
        else:
            threads[tid] = threading.current_thread().name[:200]
        recording = self._recording_threads
        recording.add(tid)
        if not self._enabled:
            # stop() ran since this thread's caller looked: it empties the set after clearing
            # _enabled, so either it or this takes the thread out again.
            recording.discard(tid)

    def record(self, kind: str, **data: Any) -> None:
        """Record one event of ``kind`` with ``data``, redacted and capped as log entries are (by
        the configured sanitizer). Never raises."""
        if not self._enabled:
            return
        try:
            from llmlog.ext import global_dispatcher

            data = dict(global_dispatcher().sanitizer.fields(data))
            tid = _get_ident()
            if tid not in self._threads:
                self._note_thread(tid)
            task = _current_task()
            if task is None:
                event = {"ts": _time_ns(), "kind": kind, "tid": tid, **data}
            else:
                event = {"ts": _time_ns(), "kind": kind, "tid": tid, "task": task[0], **data}
            self._append(_line(event))
        except Exception:
            self.counters["record_errors"] += 1

    def record_region(self, name: str, region: int, start: int, error: str | None) -> None:
        """Record a finished ``trace_region``: one ``region`` event stamped with its start and
        carrying ``dur`` (ns). Called by the region's ``__exit__``. Never raises."""
        self._open_regions.pop(region, None)
        if not self._enabled:
            return
        try:
            tid = _get_ident()
            if tid not in self._threads:
                self._note_thread(tid)
            event = {
                "ts": start,
                "kind": "region",
                "tid": tid,
                "name": name,
                "region": region,
                "dur": _time_ns() - start,
            }
            task = _current_task()
            if task is not None:
                event["task"] = task[0]
            if error is not None:
                event["error"] = error
            self._append(_line(event))
        except Exception:
            self.counters["record_errors"] += 1

    def record_entry(self, entry: LogEntry) -> None:
        """Record a log entry (the dispatcher calls this through :class:`RecorderOutput`)."""
        self.record_log(
            entry.time,
            entry.severity,
            entry.message,
            entry.file,
            entry.line,
            entry.function,
            entry.trace_id,
            entry.span_id,
            entry.model_id,
            entry.token_info,
            entry.latency_ms,
            entry.cost,
            entry.fields,
            entry.logger,
            entry.exception,
        )

    def record_log(
        self,
        time_ns: int,
        severity: Severity,
        message: str,
        file: str,
        line: int,
        function: str,
        trace_id: str | None,
        span_id: str | None,
        model_id: str | None,
        token_info: TokenUsage | None,
        latency_ms: float | None,
        cost: float | None,
        fields: Mapping[str, Any],
        logger: str,
        exception: str | None,
    ) -> None:
        """Record a log entry given as its parts, in :class:`~llmlog.LogEntry` field order.

        The logger calls this directly, without building a ``LogEntry``, for an entry only the
        recorder takes (a DEBUG entry while every output shows INFO and up). Never raises.
        """
        if not self._enabled:
            return
        try:
            tid = _get_ident()
            if tid not in self._recording_threads:  # the entry code's gate (see _note_thread)
                self._note_thread(tid)
            if (
                file
                and not (logger or trace_id or span_id or model_id or exception)
                and (token_info is None and latency_ms is None and cost is None)
            ):
                # The common entry (a caller, no optional attribute) as one dict display, encoded
                # here (_line inline): the same keys in the same order as below.
                event: dict[str, Any] = {
                    "ts": time_ns,
                    "kind": "log",
                    "tid": tid,
                    "level": LEVEL_NAMES.get(severity) or str(severity),
                    "msg": message,
                    "file": file,
                    "line": line,
                    "fn": function,
                }
                if fields:
                    event["fields"] = fields
                task = _current_task()
                if task is not None:
                    event["task"] = task[0]
                try:
                    data = _dumps(event, default=_default, option=_NEWLINE)
                except Exception:  # what orjson refuses: the slow encoder (as _line)
                    data = serializer.dumps(event) + b"\n"
                self._append(
                    data if data.isascii() and 0x7F not in data else escape_json_bytes(data)
                )
                if severity >= _FATAL and "fatal" in self.triggers:
                    self._auto_snapshot("fatal")
                return
            event = {
                "ts": time_ns,
                "kind": "log",
                "tid": tid,
                "level": LEVEL_NAMES.get(severity) or str(severity),
                "msg": message,
            }
            if logger:
                event["logger"] = logger
            if file:
                event["file"] = file
                event["line"] = line
                event["fn"] = function
            if trace_id:
                event["trace_id"] = trace_id
            if span_id:
                event["span_id"] = span_id
            if model_id:
                event["model"] = model_id
            if token_info is not None:
                event["tokens"] = {
                    "prompt": token_info.prompt_tokens,
                    "completion": token_info.completion_tokens,
                    "total": token_info.total_tokens,
                    "cost": token_info.cost,
                }
                if token_info.has_details:
                    event["tokens"].update(usage_details(token_info))
                if token_info.cost_source:
                    event["tokens"]["cost_source"] = token_info.cost_source
                elif token_info.cost_unknown:
                    event["tokens"]["cost_unknown"] = token_info.cost_unknown
            if latency_ms is not None:
                event["latency_ms"] = latency_ms
            if cost is not None:
                event["cost"] = cost
            if fields:
                event["fields"] = fields
            if exception:
                event["exception"] = exception
            task = _current_task()
            if task is not None:
                event["task"] = task[0]
            self._append(_line(event))
        except Exception:
            self.counters["record_errors"] += 1
        if severity >= _FATAL and "fatal" in self.triggers:
            self._auto_snapshot("fatal")

    def entry_code(self, severity: Severity) -> EntryCode:
        """:attr:`~llmlog.ext.Output.entry_code`: :meth:`record_log`'s common entry (a caller, no
        optional attribute but the logger's name; inside a trace, its ids) inline, for the flat
        function of a severity the recorder takes (alone, as its DEBUG entries while every other
        output shows INFO, or with other outputs), and the ring's
        :meth:`~llmlog_engine_flight.ring.ChunkRing.append` inline after it (the same
        statements; no lock to take; a call where the GIL does not run). A thread not seen yet,
        a recorder not started and what orjson refuses (a 65-bit integer, and with
        ``OPT_PASSTHROUGH_SUBCLASS`` a subclass of str or int: ``types_checked``) take the
        generic path; the line needs no escape check (its strings are printable ASCII: see
        EntryCode)."""
        ring = self.ring
        head = """
            "ts": ns,
            "kind": "log",
            "tid": r_tid,
            "level": r_level,
            "msg": message,
        """
        caller = """
            "file": file,
            "line": line,
            "fn": function,
        """
        named = f'{head}"logger": logger,{caller}'  # record_log's order: the name after msg
        event = f"{head}{caller}"
        # The thread that passed last passes on one comparison; another is looked up in the set
        # and cached, then looked up again: stop() (or the thread table's eviction) may have
        # taken it out between the two steps, and empties the cache only after the set.
        gate = """
        r_tid = r_get_ident()
        if r_tid != r_last[0]:
            if r_tid not in r_recording:
                return True
            r_last[0] = r_tid
            if r_tid not in r_recording:
                r_last[0] = None
                return True
        """
        end = """
        r_task = r_current_task()
        if r_task is not None:
            r_event["task"] = r_task[0]
        data = r_dumps(r_event, option=r_option)
        """
        inline = """
        if not r_active:
            r_ring._active_t0 = r_clock()
        r_active += data
        if r_next(r_count) >= r_ring._seal_at or len(r_active) >= r_chunk_bytes:
            r_full()
        """
        return EntryCode(
            line=f"""{gate}
        if logger:
            if fields:
                r_event = {{{named}"fields": fields}}
            else:
                r_event = {{{named}}}
        elif fields:
            r_event = {{{event}"fields": fields}}
        else:
            r_event = {{{event}}}
        {end}""",
            # In record_log's order: the ids after the caller, then the fields.
            line_traced=f"""{gate}
        if logger:
            r_event = {{{named}}}
        else:
            r_event = {{{event}}}
        if trace_id:
            r_event["trace_id"] = trace_id
        if span_id:
            r_event["span_id"] = span_id
        if fields:
            r_event["fields"] = fields
        {end}""",
            write=inline if GIL else "r_ring.append(data)",
            setup="r_active = r_ring._active",
            state=("r_active",),
            namespace={
                "r_get_ident": _get_ident,
                "r_recording": self._recording_threads,
                "r_last": self._last_thread,
                "r_level": LEVEL_NAMES.get(severity) or str(severity),
                "r_current_task": _current_task,
                "r_dumps": _dumps,
                "r_option": _NEWLINE | orjson.OPT_PASSTHROUGH_SUBCLASS,
                "r_ring": ring,
                "r_clock": ring._clock,
                "r_chunk_bytes": ring.chunk_bytes,
                "r_next": next,
                "r_count": ring._count,
                "r_full": ring.full,
            },
            types_checked=True,
        )

    def record_trace_event(self, event: TraceEvent) -> None:
        """Record a trace-session event (span start/end, LLM call, tool call, module, error).

        Span starts are also kept in the open-span table until their end is recorded.
        """
        if not self._enabled:
            return
        try:
            origin = event.origin  # an event emitted later than it happened: where it happened
            if origin is None:
                tid, task = _get_ident(), _current_task()
            else:
                tid, task = origin.thread, origin.task
            if tid not in self._threads:
                self._note_thread(tid, origin is not None)
            ts = event.time
            kind = _KIND_NAMES.get(event.type)
            # The common event: its own members, then the line's end from the trace id on, made
            # once and shared with the trace file (event_line_tail). Else orjson, the same bytes.
            tail = event.encoded_tail or event_line_tail(event)
            if tail is not None and kind is not None and type(ts) is int and type(tid) is int:
                if task is None:
                    line = f'{{"ts":{ts},"kind":"{kind}","tid":{tid},'.encode() + tail
                elif type(task[0]) is int:
                    line = (
                        f'{{"ts":{ts},"kind":"{kind}","tid":{tid},"task":{task[0]},'.encode() + tail
                    )
                else:
                    line = self._trace_line(event, tid, task)
            else:
                line = self._trace_line(event, tid, task)
            span_id = event.span_id
            if span_id and event.type is _SPAN:
                phase = event.data.get("event")
                if phase == "start":
                    if len(self._open_spans) < self.max_open_spans:
                        # retainable: an orjson line holds the 4 KiB block it was written into.
                        self._open_spans[span_id] = (self.ring._seq + 1, retainable(line))
                    else:
                        self.counters["open_spans_dropped"] += 1
                elif phase == "end":
                    self._open_spans.pop(span_id, None)
            self._append(line)
        except Exception:
            self.counters["record_errors"] += 1

    def _trace_line(self, event: TraceEvent, tid: Any, task: tuple[int, str] | None) -> bytes:
        """A trace event's ring line through orjson: :meth:`record_trace_event`'s way for an
        event with an id that is not plain (or anything else unusual)."""
        payload: dict[str, Any] = {"ts": event.time, "kind": event.type, "tid": tid}
        if task is not None:
            payload["task"] = task[0]
        payload["trace_id"] = event.trace_id
        if event.span_id:
            payload["span_id"] = event.span_id
        if event.parent_id:
            payload["parent_id"] = event.parent_id
        if event.data:
            payload["data"] = _Fragment(encoded_event_data(event))
        return _line(payload)

    # -- as a trace sink ------------------------------------------------------------------------

    #: For diagnostics of the trace fan-out.
    name = "flight recorder"

    #: The trace fan-out's entry point: :meth:`record_trace_event` itself (no call in between),
    #: or :meth:`_record_and_watch` while a watching trigger is on.
    on_event = record_trace_event

    def _choose_on_event(self) -> None:
        """Watch trace events only when a trigger needs them: otherwise not one call more."""
        if self._slow or self.call_cost or self.call_tokens or self.error_burst or _code_triggers:
            self.on_event = self._record_and_watch  # type: ignore[method-assign]
        else:
            self.__dict__.pop("on_event", None)

    def _record_and_watch(self, event: TraceEvent) -> None:
        self.record_trace_event(event)
        if not self._enabled:
            return
        try:
            self._watch(event)
        except Exception:
            self.counters["record_errors"] += 1

    def _watch(self, event: TraceEvent) -> None:
        """The watching triggers: slow span, costly call, error burst, code predicates."""
        kind = event.type
        data = event.data
        if kind is _SPAN:
            phase = data.get("event")
            if self._slow and event.span_id:
                if phase == "start":
                    if len(self._span_names) < self.max_open_spans:
                        self._span_names[event.span_id] = str(data.get("operation", ""))
                elif phase == "end":
                    name = self._span_names.pop(event.span_id, None)
                    duration = data.get("duration_ms", 0)
                    if name is not None and isinstance(duration, int | float):
                        for pattern, limit in self._slow:
                            if duration >= limit and pattern.match(name):
                                self.trigger(
                                    "slow_span",
                                    f"span {name!r} took {duration:g} ms (>= {limit} ms)",
                                )
                                break
            if phase == "end" and data.get("error") is not None:
                self._error(event.trace_id, str(data.get("error")))
        elif kind is _LLM_CALL and (self.call_cost or self.call_tokens):
            usage = data.get("usage")
            if isinstance(usage, Mapping):
                cost = usage.get("cost")
                tokens = usage.get("total_tokens", 0)
                model = data.get("model", "")
                if self.call_cost and isinstance(cost, int | float) and cost >= self.call_cost:
                    self.trigger(
                        "costly_call",
                        f"LLM call to {model!r} cost {cost:g} USD (>= {self.call_cost:g})",
                    )
                elif self.call_tokens and isinstance(tokens, int) and tokens >= self.call_tokens:
                    self.trigger(
                        "costly_call",
                        f"LLM call to {model!r} used {tokens} tokens (>= {self.call_tokens})",
                    )
        elif kind is _ERROR_EVENT:
            self._error(event.trace_id, str(data.get("message", "")))
        for name, predicate in list(_code_triggers.items()):
            try:
                hit = predicate(event)
            except Exception as exc:
                key = f"trigger_{name}_failed"
                self.counters[key] = self.counters.get(key, 0) + 1
                if self.counters[key] == 1:
                    report_problem(
                        f"flight recorder: the trigger {name!r} failed (reported once): "
                        f"{type(exc).__name__}: {exc}"
                    )
                continue
            if hit:
                self.trigger(name, f"{name} matched a {kind} event")

    def _error(self, trace_id: str, message: str) -> None:
        """One error for ``error_burst``: an exception unwinding through nested spans (the same
        trace and message as the error just counted) counts once."""
        if not self.error_burst:
            return
        seen = (trace_id, message)
        if seen == self._last_error:
            return
        self._last_error = seen
        now = time.monotonic()
        errors = self._errors
        errors.append(now)
        while errors and now - errors[0] > self.error_window:
            errors.popleft()
        if len(errors) >= self.error_burst:
            count = len(errors)
            errors.clear()
            self.trigger(
                "error_burst",
                f"{count} errors within {self.error_window:g} s (>= {self.error_burst})",
            )

    def trigger(self, name: str, detail: str = "") -> bool:
        """Fire the trigger ``name``: a snapshot named after it (its header's ``reason``, with
        ``detail`` as ``trigger_detail``), written on a thread of its own so the application
        never waits for it. Rate-limited per trigger (``min_snapshot_interval``; a skip is
        counted). ``budget`` and ``stdlib_error`` fire only when listed in ``triggers``; the
        others when their threshold or predicate is set. Returns whether a snapshot was started.
        Never raises."""
        if not self._enabled:
            return False
        if name in TRIGGERS and name not in self.triggers:
            return False
        with self._trigger_lock:
            now = time.monotonic()
            last = self._last_auto_snapshot.get(name)
            if last is not None and now - last < self.min_snapshot_interval:
                self._skip(name, "rate limit")
                return False
            self._last_auto_snapshot[name] = now
            thread = threading.Thread(
                target=self._auto_snapshot,
                args=(name, None, 0.0, detail),
                name=f"llmlog-flight-{name}",
                daemon=True,
            )
            self._trigger_threads = [t for t in self._trigger_threads if t.is_alive()]
            self._trigger_threads.append(thread)
        self.record("trigger", name=name, detail=detail)
        thread.start()
        return True

    def wait_for_triggers(self, timeout: float | None = None) -> bool:
        """Wait until the snapshots triggers started are written; ``False`` if ``timeout``
        seconds were not enough."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._trigger_lock:
            threads = list(self._trigger_threads)
        for thread in threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                return False
        return True

    def flush(self, timeout: float | None = None) -> bool:
        """Nothing to push out: the ring is the recorder's store and snapshots its output."""
        return True

    def shutdown(self) -> None:
        """Stop recording (:meth:`stop`): ``llmlog.shutdown()`` and exit retire the trace sinks."""
        self.stop()

    def record_exception(self, exc: BaseException, where: str = "") -> None:
        """Record an exception (type, message, traceback) as an ``exception`` event."""
        import traceback

        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip()
        self.record(
            "exception", type=type(exc).__qualname__, message=str(exc), traceback=text, where=where
        )

    # -- snapshots -------------------------------------------------------------------------------

    def write_to(self, fileobj: IO[bytes], *, reason: str = "manual", detail: str = "") -> int:
        """Write a snapshot to ``fileobj``; returns the bytes written. ``reason`` names what took
        it (a trigger's name), ``detail`` says why (``trigger_detail`` in the header).

        :raises SnapshotInProgress: at once if another snapshot is being written (no waiting).
        :raises RuntimeError: if the recorder is not running.
        """
        if not self._enabled:
            raise RuntimeError("cannot snapshot a flight recorder that is not running")
        if not self._writing.acquire(blocking=False):
            raise SnapshotInProgress("a snapshot of this flight recorder is already being written")
        self._writer = _get_ident()
        try:
            flush_all()  # what the snapshot shows is in the trace and log files too
            ring = self.ring
            ring.seal_now(wait=2.0)
            chunks = ring.chunks  # an immutable tuple: copying the reference is the whole copy
            oldest = chunks[0].seq if chunks else ring._seq + 1
            open_spans = [line for seq, line in list(self._open_spans.values()) if seq < oldest]
            header = self._header(chunks, len(open_spans), reason)
            if detail:
                header["trigger_detail"] = detail[:500]
            seal = self.backend.seal
            written = fileobj.write(seal(_line(header)))
            if open_spans:
                marked = [line[:-2] + b',"started_before_window":true}\n' for line in open_spans]
                written += fileobj.write(seal(b"".join(marked)))
            for chunk in chunks:
                written += fileobj.write(chunk.data)
            # Regions still running (recorded only when they end): last, as open begins.
            running = []
            for region, (start, name, tid, task) in list(self._open_regions.items()):
                begin: dict[str, Any] = {"ts": start, "kind": "region_begin", "tid": tid}
                if task is not None:
                    begin["task"] = task[0]
                begin.update(name=name, region=region, open=True)
                running.append(_line(begin))
            if running:
                written += fileobj.write(seal(b"".join(running)))
            self.counters["snapshots"] += 1
            for skipped_reason, count in header["skipped_snapshots"].items():
                self._skipped[skipped_reason] -= count  # reported now; later skips stay counted
            return written
        finally:
            self._writer = None
            self._writing.release()

    def snapshot(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        reason: str = "manual",
        detail: str = "",
    ) -> Path:
        """Write a snapshot file and return its path: created with mode 0600 under a temporary
        name and renamed when complete (missing directories are created with mode 0700).

        Without ``path`` the file goes to ``snapshot_dir`` as
        ``flight-<pid>-<time>-<reason><suffix>`` (characters of ``reason`` other than ASCII
        letters, digits, ``_`` and ``-`` written as ``_``).
        """
        if path is None:
            stamp = time.strftime("%Y%m%dT%H%M%S")
            # The reason is the caller's text: only its safe characters go into a file name.
            label = "".join(
                c if c.isascii() and (c.isalnum() or c in "_-") else "_" for c in reason[:40]
            )
            target = (
                self.snapshot_dir
                / f"flight-{os.getpid()}-{stamp}-{time.time_ns() % 1_000_000_000:09d}-{label}{self.backend.suffix}"
            )
        else:
            target = Path(path)
        with written_atomically(target) as fh:
            # detail only when there is one: a subclass's write_to may predate it
            self.write_to(fh, reason=reason, **({"detail": detail} if detail else {}))
        self.record("snapshot", path=str(target), reason=reason)
        return target

    def snapshot_on_error(
        self,
        exc: BaseException,
        path: str | os.PathLike[str] | None = None,
        *,
        min_interval: float | None = None,
    ) -> BaseException:
        """Record ``exc`` and take a snapshot (at most once per ``min_interval`` seconds, default
        ``min_snapshot_interval``); return ``exc`` so the caller can ``raise`` it. Never raises."""
        try:
            self.record_exception(exc, where="snapshot_on_error")
            self._auto_snapshot("error", path, min_interval)
        except Exception as problem:
            report_problem(f"flight recorder: snapshot on error failed: {problem}")
        return exc

    def _auto_snapshot(
        self,
        reason: str,
        path: str | os.PathLike[str] | None = None,
        min_interval: float | None = None,
        detail: str = "",
    ) -> Path | None:
        """Snapshot for a trigger (``reason``: ``fatal``, ``unhandled``, ``signal``, ``exit`` or
        ``error``), at most once per ``min_interval`` seconds *per reason*: a storm of one kind
        is limited, but a crash right after a signal snapshot still gets its own. A skipped
        snapshot is counted (``stats()``, the next snapshot's header) and recorded as a
        ``snapshot_skipped`` event. Never raises."""
        interval = self.min_snapshot_interval if min_interval is None else min_interval
        now = time.monotonic()
        last = self._last_auto_snapshot.get(reason)
        if last is not None and now - last < interval:
            self._skip(reason, "rate limit")
            return None
        self._last_auto_snapshot[reason] = now
        try:
            try:
                target = self.snapshot(path, reason=reason, detail=detail)
            except SnapshotInProgress:
                # Another snapshot is being written. A signal storm takes its result (Go's rule);
                # anything else carries an event that one lacks: wait for it, then take our own.
                if reason == "signal" or self._writer == _get_ident():
                    raise
                if self._writing.acquire(timeout=_WAIT_FOR_SNAPSHOT):
                    self._writing.release()
                target = self.snapshot(path, reason=reason, detail=detail)
        except SnapshotInProgress:
            self._skip(reason, "another snapshot was being written")
            return None
        except Exception as problem:
            report_problem(f"flight recorder: {reason} snapshot failed: {problem}")
            return None
        report_problem(f"flight recorder: {reason} snapshot written to {target}")
        return target

    def _skip(self, reason: str, why: str) -> None:
        counters = self.counters
        counters["snapshots_skipped"] += 1
        key = f"snapshots_skipped_{reason}"
        counters[key] = counters.get(key, 0) + 1
        self._skipped[reason] = self._skipped.get(reason, 0) + 1
        self.record("snapshot_skipped", reason=reason, why=why)

    def _header(self, chunks: tuple[Any, ...], open_spans: int, reason: str) -> dict[str, Any]:
        ring = self.ring
        threads = self._threads
        for thread in threading.enumerate():
            # A thread id is reused once its thread ends, and a thread may be renamed: the name
            # it has now is the better one for a thread still running.
            if thread.ident in threads:
                threads[thread.ident] = thread.name[:200]
        return {
            "kind": "header",
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "reason": reason[:200],
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "created_ns": time.time_ns(),
            "clock": {"wall_ns": time.time_ns(), "monotonic_ns": time.monotonic_ns()},
            "config": {
                "backend": self.backend.name,
                "min_age": self.min_age,
                "max_bytes": self.max_bytes,
                "level": LEVEL_NAMES.get(self.level, str(self.level)),
                "chunk_events": ring.chunk_events,
                "chunk_bytes": ring.chunk_bytes,
                "chunk_period": ring.chunk_period,
            },
            "window": {
                "chunks": len(chunks),
                "events": sum(c.events for c in chunks),
                "raw_bytes": sum(c.raw_bytes for c in chunks),
                "stored_bytes": sum(len(c.data) for c in chunks),
                "oldest_ns": chunks[0].t_min if chunks else None,
                "newest_ns": chunks[-1].t_max if chunks else None,
                "open_spans_before_window": open_spans,
                "open_regions": len(self._open_regions),
            },
            "drops": {
                "events": ring.dropped_events,
                "chunks": ring.dropped_chunks,
                "evicted_events": ring.evicted_events,
                "open_spans": self.counters["open_spans_dropped"],
                "record_errors": self.counters["record_errors"],
            },
            "threads": {str(k): v for k, v in list(self._threads.items())},
            # Automatic snapshots skipped since the previous one (rate limit, or another being
            # written), by trigger: what happened in between may be missing from both.
            "skipped_snapshots": {k: v for k, v in list(self._skipped.items()) if v},
        }

    def stats(self) -> dict[str, int]:
        """Counters: snapshots, skipped snapshots, drops, stored bytes, events in the window."""
        ring = self.ring
        return {
            **self.counters,
            "stored_bytes": ring.stored_bytes,
            "window_events": sum(c.events for c in ring.chunks),
            "dropped_events": ring.dropped_events,
            "evicted_events": ring.evicted_events,
        }

    # -- triggers --------------------------------------------------------------------------------

    def _install_triggers(self) -> None:
        if "unhandled" in self.triggers:
            previous_hook = sys.excepthook

            def excepthook(exc_type: Any, exc: BaseException, tb: Any) -> None:
                self.record_exception(exc, where="main thread")
                self._auto_snapshot("unhandled")
                previous_hook(exc_type, exc, tb)

            previous_thread_hook = threading.excepthook

            def thread_hook(args: Any) -> None:
                if args.exc_value is not None:
                    self.record_exception(
                        args.exc_value, where=f"thread {getattr(args.thread, 'name', '?')}"
                    )
                    self._auto_snapshot("unhandled")
                previous_thread_hook(args)

            sys.excepthook = excepthook
            threading.excepthook = thread_hook
            # asyncio reports exceptions of tasks nobody awaited through its "asyncio" logger.
            asyncio_handler = _AsyncioErrors(self)
            logging.getLogger("asyncio").addHandler(asyncio_handler)
            self._hooks.append(
                (
                    "unhandled",
                    previous_hook,
                    previous_thread_hook,
                    asyncio_handler,
                    excepthook,
                    thread_hook,
                )
            )
        if "signal" in self.triggers and threading.current_thread() is threading.main_thread():
            number = getattr(signal, self.signal_name, None)
            if number is None:
                raise ValueError(f"unknown signal {self.signal_name!r}")

            def on_signal(signum: int, frame: Any) -> None:
                threading.Thread(
                    target=self._auto_snapshot,
                    args=("signal", None, 0.0),
                    name="llmlog-flight-signal",
                    daemon=True,
                ).start()

            previous = signal.signal(number, on_signal)
            self._hooks.append(("signal", number, previous))
        if "exit" in self.triggers:

            def at_exit() -> None:
                if self._enabled:
                    self._auto_snapshot("exit", None, 0.0)

            atexit.register(at_exit)
            self._hooks.append(("exit", at_exit))
        if self.gc_pauses:
            started: dict[int, int] = {}

            def on_gc(phase: str, info: dict[str, int]) -> None:
                if phase == "start":
                    started[_get_ident()] = time.perf_counter_ns()
                else:
                    t0 = started.pop(_get_ident(), None)
                    if t0 is not None:
                        self.record(
                            "gc",
                            generation=info.get("generation"),
                            collected=info.get("collected"),
                            dur_ns=time.perf_counter_ns() - t0,
                        )

            gc.callbacks.append(on_gc)
            self._hooks.append(("gc", on_gc))

    def _uninstall_triggers(self) -> None:
        for hook in reversed(self._hooks):
            kind = hook[0]
            if kind == "unhandled":
                _, previous_hook, previous_thread_hook, asyncio_handler, mine, mine_thread = hook
                if sys.excepthook is mine:
                    sys.excepthook = previous_hook
                if threading.excepthook is mine_thread:
                    threading.excepthook = previous_thread_hook
                logging.getLogger("asyncio").removeHandler(asyncio_handler)
            elif kind == "signal":
                with contextlib.suppress(ValueError):
                    signal.signal(hook[1], hook[2])
            elif kind == "exit":
                atexit.unregister(hook[1])
            elif kind == "gc":
                with contextlib.suppress(ValueError):
                    gc.callbacks.remove(hook[1])
        self._hooks.clear()


class _AsyncioErrors(logging.Handler):
    """Turns asyncio's "Task exception was never retrieved" reports into recorder snapshots."""

    def __init__(self, recorder: FlightRecorder) -> None:
        super().__init__(logging.ERROR)
        self._recorder = recorder

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[1] is not None:
            self._recorder.record_exception(
                record.exc_info[1], where=f"asyncio: {record.getMessage()}"
            )
            self._recorder._auto_snapshot("unhandled")


class RecorderOutput(Output):
    """The recorder as a dispatcher output with its own level, exempt from the global level."""

    #: The dispatcher does not raise this output's level to the global ``level``.
    independent = True

    def __init__(self, recorder: FlightRecorder) -> None:
        self.recorder = recorder
        self.level = recorder.level
        self.write = recorder.record_entry  # type: ignore[method-assign]
        #: Takes an entry as its parts (see :attr:`llmlog.interfaces.Output.write_parts`).
        self.write_parts = recorder.record_log
        #: Its common entry as code (see :attr:`llmlog.interfaces.Output.entry_code`).
        self.entry_code = recorder.entry_code

    def write(self, entry: LogEntry) -> None:  # replaced per instance in __init__
        self.recorder.record_entry(entry)

    def stats(self) -> dict[str, int]:
        return self.recorder.stats()


def _backend_by_name(name: str) -> RecorderBackend:
    from llmlog.ext import BuildContext, ComponentKind, plugin_host

    components = plugin_host().components(ComponentKind.RECORDER)
    component = components.get(name)
    if component is None and name == "memory":
        # The engine's own backend, even in a configuration that did not load the engine.
        from llmlog_engine_flight.memory import MemoryBackend

        return MemoryBackend()
    if component is None:
        raise ValueError(
            f"unknown flight-recorder backend {name!r}; installed: {', '.join(sorted(components)) or '(none)'}"
        )
    backend: RecorderBackend = component.factory(
        None if component.options is None else component.options(), BuildContext(name)
    )
    return backend


# -- triggers registered in code -------------------------------------------------------------------

#: Predicates on trace events that take a snapshot, by name (every recorder watches them).
_code_triggers: dict[str, Callable[[TraceEvent], bool]] = {}


def add_trigger(name: str, predicate: Callable[[TraceEvent], bool]) -> None:
    """Snapshot when ``predicate(event)`` is true for a trace event, named ``name`` in the
    snapshot header, rate-limited as every trigger, listed by ``llmlog flight list``. A predicate
    that raises is reported once and counted (``trigger_<name>_failed``). Registering a name
    again replaces its predicate."""
    if name in TRIGGERS or name in THRESHOLD_TRIGGERS:
        raise ValueError(f"{name!r} is a built-in trigger's name")
    _code_triggers[name] = predicate
    _rewatch()


def remove_trigger(name: str) -> bool:
    """Forget the trigger ``name``; whether there was one."""
    found = _code_triggers.pop(name, None) is not None
    _rewatch()
    return found


def code_triggers() -> list[str]:
    """The names of the triggers registered in code."""
    return list(_code_triggers)


def _rewatch() -> None:
    running = running_flight_recorder()
    if isinstance(running, FlightRecorder):
        running._choose_on_event()


# -- the global recorder -------------------------------------------------------------------------

_init_lock = threading.Lock()


def init_global_flight_recorder(*args: Any, **kwargs: Any) -> FlightRecorder | None:
    """Create and start the global recorder with these arguments; only the first call has effect
    (a recorder already global, started by configuration too, is returned as it is).

    A failure to start is reported on stderr and the program goes on without a recorder.
    """
    with _init_lock:
        current = running_flight_recorder()
        if current is not None:
            return cast(FlightRecorder, current)
        try:
            recorder = FlightRecorder(*args, **kwargs)
            recorder.start()
        except Exception as exc:
            report_problem(f"flight recorder could not start, continuing without it: {exc}")
            return None
        previous = replace_global_flight_recorder(recorder, only_if_unset=True)
        if previous is not None:  # configuration made one meanwhile: it wins
            recorder.stop()
            return cast(FlightRecorder, previous)
        attach_to_logging(recorder)
        return recorder


def set_global_flight_recorder(recorder: FlightRecorder | None) -> None:
    """Replace the global recorder (configuration does this); the previous one is stopped."""
    previous = replace_global_flight_recorder(recorder)
    if previous is not None and previous is not recorder:
        previous.stop()


def attach_to_logging(recorder: FlightRecorder) -> None:
    """Add the recorder's :class:`RecorderOutput` to the global dispatcher, replacing any other
    recorder's."""
    from llmlog.ext import global_dispatcher

    dispatcher = global_dispatcher()
    dispatcher.ensure_configured()
    for output in dispatcher.outputs:
        if isinstance(output, RecorderOutput):
            dispatcher.remove_output(output)
    output = RecorderOutput(recorder)
    output.name = "flight_recorder"
    dispatcher.add_output(output)


#: record_trace_event's option for the event's data (encoded_event_data's: keys sorted).
_SORT_KEYS = orjson.OPT_SORT_KEYS
