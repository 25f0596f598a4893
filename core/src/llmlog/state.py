"""The process-wide state of llmlog, in one module.

Everything llmlog keeps once per process lives here, as structlog keeps its in ``_config``, so
that what a process holds is visible in one place and the modules that act on it import it from
below instead of from each other. This module imports nothing of llmlog at run time: every layer
may reach it, and reaching it never creates an import cycle.

==============================  =====================================================
Attribute                       Kept and replaced by
==============================  =====================================================
``configuration``,              :func:`llmlog.configure` and :func:`llmlog.shutdown`
``plugin_host``,                (``llmlog.runtime``), under ``configure_lock``
``started_tables``,
``integrations``
``dispatcher``, ``logger``      ``llmlog.logger`` at import (the pipeline
                                :func:`llmlog.get_logger` writes into);
                                :func:`llmlog.set_logger`
``dispatchers``                 every live dispatcher (flushed at exit, their locks
                                renewed in a forked child: ``llmlog.dispatch``)
``report_sanitizer``            what cleans llmlog's own messages on stderr
                                (``llmlog.dispatch.set_report_sanitizer``)
``trace_sinks``,                the trace fan-out (``llmlog.tracesinks``)
``sink_failures``
``flight_recorder``,            the running flight recorder, or ``None``
``annotating_recorder``         (``llmlog.flight.running``), and the one that
                                ``trace_region``/``trace_task``/``trace_log`` write
                                to (``llmlog.flight.annotations``)
``price_table``,                the pricing chain in force (``llmlog.pricing``):
``price_overrides``,            the table and the overrides installed by the
``price_unavailable``,          ``[prices]`` table at ``configure()``, and what was
``price_cache``,                looked up per (provider, model), and the last usage
``entry_price_memo``            a log entry had priced
``budget_*``                     the budgets' limits and counters (``llmlog.budgets``)
``sampling_*``                   tail-sampling rules and counts (``llmlog.sampling``)
``number_adjustments``,         counters of what was replaced or failed, for
``record_failures``             :func:`llmlog.stats` and reporting once
==============================  =====================================================

The flush, exit and fork handling of components that keep their own buffers, files or threads
outside the dispatcher (the file sinks of ``llmlog-engine-files``, the flight recorder) is here
too: :func:`register_lifecycle` and :func:`flush_all`. A component registers when it first has
something to look after, not at import, so a program that never writes a file installs no exit or
fork hook.

Caches are not state and stay beside the code they speed up (the timestamp caches of
``llmlog.render``, the logger's file-name cache): dropping one changes no behaviour.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
import weakref
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmlog.config import Configuration
    from llmlog.dispatch import Dispatcher
    from llmlog.flight.running import FlightRecorderAPI
    from llmlog.interfaces import Integration, TraceSink
    from llmlog.logger import Logger
    from llmlog.plugins import PluginHost
    from llmlog.registry import Closeable
    from llmlog.sanitize import Sanitizer

__all__ = ["flush_all", "register_lifecycle"]

# -- configuration in force ----------------------------------------------------------------------

#: The configuration in force, or ``None`` before the first ``configure()`` and after
#: ``shutdown()``; ``plugin_host`` is the host it was built with.
configuration: Configuration | None = None
plugin_host: PluginHost | None = None
#: What the configuration started, stopped in reverse order when it is replaced.
started_tables: list[tuple[str, Closeable]] = []
integrations: list[tuple[str, Integration]] = []
#: Held while a configuration is installed or retired (re-entrant: the first log call of an
#: unconfigured process configures llmlog, and configuring may log).
configure_lock = threading.RLock()

# -- the logging pipeline ------------------------------------------------------------------------

#: The dispatcher behind :func:`llmlog.get_logger` and the logger it returns; ``llmlog.logger``
#: sets both when it is imported (``import llmlog`` imports it).
dispatcher: Dispatcher
logger: Logger
#: Every live dispatcher, global or not.
dispatchers: weakref.WeakSet[Dispatcher] = weakref.WeakSet()
#: Whether the dispatchers' exit flush and fork handling are installed (once, when a dispatcher
#: first gets outputs), and the lock that makes it once.
dispatcher_hooks_installed = False
dispatcher_hooks_lock = threading.Lock()
#: Cleans what ``report_problem`` prints (an error's text can hold a secret); ``None``: the secure
#: defaults, built on first use.
report_sanitizer: Sanitizer | None = None

# -- the trace fan-out ---------------------------------------------------------------------------

#: The sinks every trace event goes to, in the order they were added. Replaced, never changed in
#: place, under ``trace_sinks_lock`` (copy-on-write: delivering reads it without a lock).
trace_sinks: tuple[TraceSink, ...] = ()
trace_sinks_lock = threading.Lock()
#: Failures by sink, dropped when it is removed (or when it fails after being removed, during an
#: event's delivery, kept): by ``id`` (sinks need not be hashable), each count with its sink,
#: held so that its ``id`` is never another's while the count is kept.
sink_failures: dict[int, tuple[TraceSink, int]] = {}
#: Producers holding trace events they have not emitted yet (an integration that handles its
#: hooks in batches): each a callable that emits what its producer holds, called before anything
#: else is emitted, flushed or closed (``llmlog.tracesinks.add_producer``). Replaced, never
#: changed in place, under ``trace_sinks_lock``.
trace_producers: tuple[Callable[[], None], ...] = ()

# -- the flight recorder -------------------------------------------------------------------------

#: The running flight recorder, or ``None``; replaced under ``flight_recorder_lock``.
flight_recorder: FlightRecorderAPI | None = None
flight_recorder_lock = threading.Lock()
#: The recorder annotations go to (the one started last), or ``None``: read by every
#: ``trace_region``, so the no-recorder case is one attribute read.
annotating_recorder: Any = None

# -- pricing ----------------------------------------------------------------------------------

#: The price table in force (a ``pricing`` component), or ``None``; why a call is unknown when
#: there is none; the user's ``[prices]`` overrides by ``"provider/model"``; and, per
#: ``(provider, model)``, what the table answered (``(rates, source)`` or ``(None, reason)``).
#: Replaced under ``pricing_lock``; the cache is read without it (one dict lookup per call).
price_table: Any = None
price_unavailable = "no price table in force (install the llmlog[prices] extra)"
price_overrides: dict[str, Any] = {}
price_cache: dict[tuple[str, str], tuple[Any, str]] = {}
pricing_lock = threading.Lock()
#: The last usage a log entry had priced: ``(usage, (provider, model, reported), price_cache,
#: priced usage)``, so the entries sharing one context's usage price it once (a new
#: ``price_cache`` at ``install`` makes it stale).
entry_price_memo: tuple[Any, tuple[str, str, float | None], Any, Any] | None = None

# -- budgets -------------------------------------------------------------------------------------

#: The ``[budgets]`` limits in force (``llmlog.budgets.install``): ``(limits by scope, warn_at,
#: stop, day file)`` or ``None``; the trace budgets by trace id; the session, process and day
#: budgets; whether any is set (the fast path of every LLM call reads it); how many
#: ``with llmlog.budget()`` blocks are open; and the budgets with ``stop`` that reached their
#: limit, with their trace id (``check_budget`` reads it: empty is the fast path). Counted and
#: replaced under ``budget_lock``.
budget_settings: tuple[Any, float, bool, Any] | None = None
budget_traces: dict[str, Any] = {}
budget_session: Any = None
budget_process: Any = None
budget_day: Any = None
budgets_active = False
budget_blocks_open = 0
budget_stops: tuple[tuple[Any, str | None], ...] = ()
budget_lock = threading.Lock()

# -- tail sampling -------------------------------------------------------------------------------

#: Predicates registered in code that keep a trace (``llmlog.sampling.add_sampling_rule``), by
#: name, replaced (never changed in place) under ``sampling_lock``; every sampler's decisions, by
#: sampler name (``llmlog.sampling.counts``, ``llmlog.stats()``).
sampling_rules: dict[str, Callable[[Any], bool]] = {}
sampling_counts: dict[str, Counter[str]] = {}
#: The samplers running now (their counts are read live), and the trace sessions writing through
#: one (closed at exit, so that traces still open are written marked unfinished).
sampling_live: weakref.WeakSet[Any] = weakref.WeakSet()
sampled_sessions: weakref.WeakSet[Any] = weakref.WeakSet()
sampling_lock = threading.Lock()
#: Spans held now by the samplers entries follow (trace sessions'): span id -> root span id,
#: and the outputs that follow their decisions (``llmlog.sampling.FollowSampling``).
sampling_open_spans: dict[str, str] = {}
sampling_followers: tuple[Any, ...] = ()
#: The samplers' hand-offs (``llmlog.sampling.SamplerHandoff``): the events the application's
#: threads handed over, which the sampling worker thread (started on demand, again after a fork)
#: decides and writes; ``sampling_wake`` wakes it when a hand-off has a batch waiting.
sampling_handoffs: weakref.WeakSet[Any] = weakref.WeakSet()
sampling_wake = threading.Event()
sampling_worker: threading.Thread | None = None

# -- counters ------------------------------------------------------------------------------------

#: Trace numbers replaced, by kind (``llmlog.numbers``).
number_adjustments: Counter[str] = Counter()
#: ``record_llm_call`` calls that failed (reported once).
record_failures = 0
counters_lock = threading.Lock()

# -- flush, exit and fork handling ---------------------------------------------------------------

_lifecycle_lock = threading.Lock()
#: Every (role, callable) ever registered, so that registering one again changes nothing.
_seen: set[tuple[str, Callable[[], None]]] = set()
_flushers: list[Callable[[], None]] = []


def register_lifecycle(
    *,
    flush: Callable[[], None] | None = None,
    at_exit: Callable[[], None] | None = None,
    before_fork: Callable[[], None] | None = None,
    after_fork_in_child: Callable[[], None] | None = None,
) -> None:
    """Register process-wide callbacks; a callable already registered in a role is not registered
    again in it.

    :param flush: write out everything buffered; called by :func:`flush_all`. It should not raise
        (a failure is its own to report); an exception is swallowed so the others still run.
    :param at_exit: interpreter exit. Installed with :func:`atexit.register` now, so it runs
        before the exit handlers installed earlier (core's flush of the loggers' outputs among
        them) and after those installed later.
    :param before_fork: called in the parent before :func:`os.fork`.
    :param after_fork_in_child: called in the child after :func:`os.fork` (locks held by other
        threads at the fork must be replaced there, threads started again on demand).
    """
    with _lifecycle_lock:
        fresh = {
            role: callback
            for role, callback in (
                ("flush", flush),
                ("at_exit", at_exit),
                ("before_fork", before_fork),
                ("after_fork_in_child", after_fork_in_child),
            )
            if callback is not None and (role, callback) not in _seen
        }
        _seen.update(fresh.items())
        if "flush" in fresh:
            _flushers.append(fresh["flush"])
    if "at_exit" in fresh:
        atexit.register(fresh["at_exit"])
    if "before_fork" in fresh or "after_fork_in_child" in fresh:
        os.register_at_fork(
            before=fresh.get("before_fork", _nothing),
            after_in_child=fresh.get("after_fork_in_child", _nothing),
        )


def flush_all() -> None:
    """Call every ``flush`` given to :func:`register_lifecycle`, in the order they were registered;
    never raises.

    The loggers' outputs are not among them: those are the dispatcher's to flush
    (:meth:`llmlog.dispatch.Dispatcher.flush`). The trace producers (``trace_producers``) emit
    what they hold first, so that the files flushed next have it."""
    for drain in trace_producers:
        with contextlib.suppress(Exception):
            drain()
    for flush in tuple(_flushers):
        with contextlib.suppress(Exception):
            flush()


def _nothing() -> None:
    pass
