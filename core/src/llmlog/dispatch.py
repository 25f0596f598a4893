"""Fan-out of entries to outputs, with failure isolation and flushing at exit.

A :class:`Dispatcher` holds the installed outputs and the settings every entry needs (level,
sampling, default fields, sanitizer). Loggers keep a reference to their dispatcher, never to its
outputs, so ``llmlog.configure()`` can swap the outputs under loggers that modules created at
import time.

Failure policy: an output that raises is reported once on stderr, its failures are counted
(:meth:`Dispatcher.stats`), and the remaining outputs still receive the entry.
"""

from __future__ import annotations

import atexit
import os
import random
import sys
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from llmlog import state
from llmlog.fastpath import Method, build_method, retire
from llmlog.interfaces import Output
from llmlog.records import EMPTY_FIELDS, LogEntry
from llmlog.render import escape
from llmlog.sanitize import Sanitizer
from llmlog.severity import Severity

# The logging methods a flat function stands for, by name.
_METHOD_NAMES = (
    ("debug", Severity.DEBUG),
    ("info", Severity.INFO),
    ("warn", Severity.WARN),
    ("warning", Severity.WARN),
    ("error", Severity.ERROR),
)

__all__ = ["Dispatcher", "report_problem"]

_FATAL = Severity.FATAL  # enum member access is slow; the emit path reads a module constant


def set_report_sanitizer(sanitizer: Sanitizer | None) -> None:
    """Redact problem reports with ``sanitizer`` (``None``: the secure defaults): an error's text
    can hold a secret (a URL with a token in it, a header). ``configure()`` installs the
    configuration's."""
    state.report_sanitizer = sanitizer


def report_problem(message: str) -> None:
    """Print an llmlog diagnostic on stderr, its secrets redacted and control characters escaped
    as log entries' are; never raises (stderr may be closed or ``None``)."""
    try:
        sanitizer = state.report_sanitizer
        if sanitizer is None:
            sanitizer = state.report_sanitizer = Sanitizer()
        message = "\n".join(escape(line) for line in sanitizer.text(message).split("\n"))
        stream = sys.__stderr__ if sys.stderr is None else sys.stderr
        if stream is not None:
            stream.write(f"llmlog: {message}\n")
            stream.flush()
    except Exception:
        pass


class Dispatcher:
    """Delivers entries to a set of outputs. Loggers share one; ``configure()`` re-installs it.

    :param outputs: the outputs, each with its ``level`` and ``name`` already set.
    :param level: the lowest severity any entry may have (below it, logging is a no-op).
    :param sample_rate: fraction of entries below ERROR that are kept (ERROR and FATAL always are).
    :param default_fields: fields added to every entry (the call's own fields win).
    :param sanitizer: redaction and size caps applied to every entry.
    :param include_caller: record the caller's file, line and function.
    :param specialise: build the flat per-severity logging methods (see :attr:`emit_info` and
        :meth:`logger_class`).
    """

    def __init__(
        self,
        outputs: Sequence[Output] = (),
        *,
        level: Severity = Severity.INFO,
        sample_rate: float = 1.0,
        default_fields: Mapping[str, Any] | None = None,
        sanitizer: Sanitizer | None = None,
        include_caller: bool = True,
        specialise: bool = True,
    ) -> None:
        #: Build the flat per-severity functions (:mod:`llmlog.fastpath`); ``False`` keeps every
        #: entry on the generic path (the reference the tests compare them with).
        self.specialise = specialise
        # Guards install/close and failure counting, never emit. Re-entrant: a signal handler
        # that logs may interrupt the counting of a failure and fail again itself.
        self._lock = threading.RLock()
        self._failures: Counter[str] = Counter()
        self._reported: set[str] = set()
        self.sampled_out = 0
        #: Called once, on the first entry, if nothing was installed explicitly (lazy configure).
        self.on_first_use: Callable[[], None] | None = None
        # The loggers' classes (False: plain, True: with bound fields), their flat methods by
        # severity, and the outputs' parts they are built from (see logger_class).
        self._classes: dict[bool, type[Any]] = {}
        self._methods: dict[bool, dict[int, Method]] = {False: {}, True: {}}
        self._parts: dict[int, list[tuple[Any, Callable[[Exception], None]]]] = {}
        self._install(
            outputs,
            level=level,
            sample_rate=sample_rate,
            default_fields=default_fields,
            sanitizer=sanitizer,
            include_caller=include_caller,
        )
        state.dispatchers.add(self)

    def install(
        self,
        outputs: Sequence[Output],
        *,
        level: Severity = Severity.INFO,
        sample_rate: float = 1.0,
        default_fields: Mapping[str, Any] | None = None,
        sanitizer: Sanitizer | None = None,
        include_caller: bool = True,
    ) -> list[Output]:
        """Replace the outputs and settings; returns the previous outputs (not closed)."""
        _install_process_hooks()
        return self._install(
            outputs,
            level=level,
            sample_rate=sample_rate,
            default_fields=default_fields,
            sanitizer=sanitizer,
            include_caller=include_caller,
        )

    def _install(
        self,
        outputs: Sequence[Output],
        *,
        level: Severity,
        sample_rate: float,
        default_fields: Mapping[str, Any] | None,
        sanitizer: Sanitizer | None,
        include_caller: bool,
    ) -> list[Output]:
        sanitizer = sanitizer or Sanitizer()
        outputs = list(outputs)
        with self._lock:
            previous = list(getattr(self, "outputs", ()))
            self.outputs = outputs
            self.level = level
            # (level, bound write, output) triples: one tuple unpack per output per entry;
            # the threshold is read by every log call before anything else is done.
            self._reroute()
            self.sanitizer = sanitizer
            self.default_fields = (
                sanitizer.fields(dict(default_fields)) if default_fields else EMPTY_FIELDS
            )
            self.sample_rate = sample_rate
            self.random = random.Random().random
            self.include_caller = include_caller
            self._failures.clear()
            self._reported.clear()
            self.sampled_out = 0
            self.on_first_use = None
            self._specialise()
        return previous

    def ensure_configured(self) -> None:
        """Run a deferred first-use configuration now, if one is pending."""
        callback = self.on_first_use
        if callback is not None:
            callback()

    def add_output(self, output: Output) -> None:
        """Add one output, keeping every other setting (``llmlog.testing.capture`` uses this)."""
        _install_process_hooks()
        with self._lock:
            self.outputs = [*self.outputs, output]
            self._reroute()
            self._specialise()

    def remove_output(self, output: Output) -> None:
        """Remove one output (not closed), keeping every other setting."""
        with self._lock:
            self.outputs = [o for o in self.outputs if o is not output]
            self._reroute()
            self._specialise()

    def _reroute(self) -> None:
        # An output's effective level is at least the dispatcher's, except for outputs marked
        # ``independent`` (the flight recorder), which keep their own: DEBUG entries reach the
        # recorder while every other output shows INFO and up.
        level = self.level
        routes = []
        for o in self.outputs:
            effective = o.level if getattr(o, "independent", False) else max(level, o.level)
            routes.append((effective, o.write, o))
        self._routes = tuple(routes)
        self.threshold = min((r[0] for r in routes), default=Severity.FATAL + 1)
        # An output whose level is below every other output's takes the entries in between
        # alone; if it accepts an entry as its parts, the logger hands them over directly,
        # without a LogEntry (see Output.write_parts). FATAL entries always go through emit(),
        # which flushes. A log call reading ``direct_below`` from one configuration and
        # ``direct`` from the next still delivers correctly: ``direct`` holds LogEntry when
        # there is no direct output, and the logger checks which one it called.
        below = 0
        direct: tuple[Callable[..., Any], Output | None] = (LogEntry, None)
        if routes:
            lowest = min(routes, key=lambda r: r[0])
            above = min((r[0] for r in routes if r is not lowest), default=_FATAL)
            write_parts = getattr(lowest[2], "write_parts", None)
            if lowest[0] < above and write_parts is not None:
                below, direct = min(above, _FATAL), (write_parts, lowest[2])
        #: ``(write_parts, output)`` of the output that alone takes entries below
        #: :attr:`direct_below` (``(LogEntry, None)`` when there is none).
        self.direct = direct
        #: Severities below this (and at or above ``threshold``) go to :attr:`direct` alone.
        self.direct_below = below
        # The route of each named severity below FATAL, read by the logger with one dict lookup:
        # when every output that takes the severity accepts an entry as its parts, the function
        # that hands them over (the output's write_parts, or for several outputs a fan-out that
        # isolates their failures); a severity missing here goes to emit() as a LogEntry. One
        # dict, replaced whole: a log call reads a single configuration's routes.
        makers: dict[int, Callable[..., Any]] = {}
        owners: dict[int, Output] = {}
        for severity in Severity:
            if severity >= _FATAL:
                continue
            takers = [
                (r[2], getattr(r[2], "write_parts", None)) for r in routes if severity >= r[0]
            ]
            if not takers or any(write_parts is None for _, write_parts in takers):
                continue
            if len(takers) == 1:
                owners[severity] = takers[0][0]
                makers[severity] = takers[0][1]  # type: ignore[assignment]
            else:
                makers[severity] = self._fan_out(takers)  # type: ignore[arg-type]
        self.direct_owners = owners
        #: ``{severity: function}``: see above; the logger calls the function with the entry's
        #: parts, positionally in :class:`~llmlog.LogEntry` field order.
        self.makers = makers

    # The flat logging method of each severity for loggers without bound fields (see
    # llmlog.fastpath and logger_class), or None: what _methods holds, by name.
    @property
    def emit_debug(self) -> Method | None:
        """The flat logging method of DEBUG (:mod:`llmlog.fastpath`), or ``None``."""
        return self._methods[False].get(Severity.DEBUG)

    @property
    def emit_info(self) -> Method | None:
        """The flat logging method of INFO (:mod:`llmlog.fastpath`), or ``None``."""
        return self._methods[False].get(Severity.INFO)

    @property
    def emit_warn(self) -> Method | None:
        """The flat logging method of WARN (:mod:`llmlog.fastpath`), or ``None``."""
        return self._methods[False].get(Severity.WARN)

    @property
    def emit_error(self) -> Method | None:
        """The flat logging method of ERROR (:mod:`llmlog.fastpath`), or ``None``."""
        return self._methods[False].get(Severity.ERROR)

    def logger_class(self, base: type[Any], bound: bool = False) -> type[Any]:
        """The class of this dispatcher's loggers with no level of their own (``bound``: with
        bound fields): a subclass of ``base`` (the logger's class; the same slots) whose logging
        methods (``debug``, ``info``, ``warn``, ``warning``, ``error``) are the flat functions of
        :mod:`llmlog.fastpath` where there are some (see :attr:`emit_info`; the bound class's
        methods merge the bound fields first), ``base``'s elsewhere; marked by a class attribute
        ``_flat``. Made at the first call; every configuration installs its methods on it, and
        retires the ones it replaces."""
        return self._classes.get(bound) or self._make_logger_class(base, bound)

    def _make_logger_class(self, base: type[Any], bound: bool) -> type[Any]:
        with self._lock:  # one class, however many threads make their first logger at once
            cls = self._classes.get(bound)
            if cls is None:
                cls = type(
                    base.__name__,
                    (base,),
                    {
                        "__slots__": (),
                        "__module__": base.__module__,
                        "__qualname__": base.__qualname__,
                        "__doc__": base.__doc__,
                        "_flat": True,
                    },
                )
                self._classes[bound] = cls
                if bound:  # built when a bound logger is first made
                    self._use_methods(self._build_bound(), bound=True)
                else:
                    self._put_methods(cls, self._methods[False])
            return cls

    @staticmethod
    def _put_methods(cls: type[Any], methods: dict[int, Method]) -> None:
        for name, severity in _METHOD_NAMES:
            method = methods.get(severity)
            if method is not None:
                setattr(cls, name, method)
            elif name in cls.__dict__:
                delattr(cls, name)

    def _use_methods(self, methods: dict[int, Method], *, bound: bool = False) -> None:
        # Installed on the loggers' class first, then the replaced ones retired: a call holding
        # one (``info = log.info``) takes the generic path from then on.
        replaced = set(self._methods[bound].values()) - set(methods.values())
        self._methods[bound] = methods
        cls = self._classes.get(bound)
        if cls is not None:
            self._put_methods(cls, methods)
        for method in replaced:
            retire(method)

    def _build_bound(self) -> dict[int, Method]:
        # The bound loggers' methods of the outputs' parts the last configuration kept (built
        # when the first bound logger is made, and at each configuration once one was).
        methods = {}
        for severity, parts in self._parts.items():
            try:
                methods[severity] = build_method(
                    parts, self.sanitizer, severity, bound=True, defaults=self.default_fields
                )
            except Exception as exc:  # the generic path still writes its entries
                report_problem(
                    f"the flat logging method of {Severity(severity).name} could not be built "
                    f"({type(exc).__name__}: {exc}); its entries take the generic path"
                )
        return methods

    def _specialise(self) -> None:
        # The flat logging method of each severity whose outputs all offer their common entry as
        # source (entry_code; llmlog.fastpath); None where there is none. Only where the generic
        # path would do nothing more for a common entry: no sampling, the caller recorded, no
        # deferred configuration.
        self._parts = {}
        plain: dict[int, Method] = {}
        if (
            self.specialise
            and self.sample_rate >= 1.0
            and self.include_caller
            and self.on_first_use is None
        ):
            for severity in (Severity.DEBUG, Severity.INFO, Severity.WARN, Severity.ERROR):
                takers = [r[2] for r in self._routes if severity >= r[0]]
                makers = [getattr(output, "entry_code", None) for output in takers]
                if not takers or None in makers:
                    continue
                output = takers[0]
                try:
                    parts = []
                    for output, entry_code in zip(takers, makers, strict=True):
                        code = entry_code(severity)  # type: ignore[misc]
                        if code is None:
                            break
                        parts.append((code, self._failed_by(output)))
                    else:
                        plain[severity] = build_method(
                            parts, self.sanitizer, severity, defaults=self.default_fields
                        )
                        self._parts[severity] = parts
                except Exception as exc:  # the generic path still writes its entries
                    report_problem(
                        f"output {output.name or type(output).__name__!r}: its entry code could "
                        f"not be built ({type(exc).__name__}: {exc}); its entries take the "
                        f"generic path"
                    )
        self._use_methods(plain)
        self._use_methods(self._build_bound() if True in self._classes else {}, bound=True)

    def _failed_by(self, output: Output) -> Callable[[Exception], None]:
        failed = self._output_failed

        def output_failed(exc: Exception) -> None:
            failed(output, exc)

        return output_failed

    def _fan_out(self, takers: list[tuple[Output, Callable[..., None]]]) -> Callable[..., None]:
        """One function handing an entry's parts to several outputs' ``write_parts``; a failing
        output is reported and counted like a failing write, and the others still get it."""
        pairs = tuple((write_parts, output) for output, write_parts in takers)
        failed = self._output_failed

        def write_parts_to_all(*parts: Any) -> None:
            for write_parts, output in pairs:
                try:
                    write_parts(*parts)
                except Exception as exc:
                    failed(output, exc)

        return write_parts_to_all

    def direct_failed(self, exc: Exception, severity: int | None = None) -> None:
        """Report a failure of the output an entry of ``severity`` went to as its parts (see
        :attr:`makers`; without ``severity``, :attr:`direct`'s) like a failing write."""
        output = self.direct[1] if severity is None else self.direct_owners.get(severity)
        if output is not None:
            self._output_failed(output, exc)

    def defer(self, on_first_use: Callable[[], None]) -> None:
        """Run ``on_first_use`` (once) at the first log call, which then sees the result.

        Until then every severity passes the threshold check, so the first call gets that far.
        """
        with self._lock:
            self.on_first_use = on_first_use
            self.threshold = min(Severity)
            self._parts = {}
            self._use_methods({})
            self._use_methods({}, bound=True)

    def emit(self, entry: LogEntry) -> None:
        """Deliver ``entry`` to every output whose level admits it; never raises."""
        severity = entry.severity
        for level, write, output in self._routes:
            if severity >= level:
                try:
                    write(entry)
                except Exception as exc:
                    self._output_failed(output, exc)
        if severity >= _FATAL:
            self.flush()
            state.flush_all()  # what is buffered outside the outputs too (trace files)

    def _output_failed(self, output: Output, exc: Exception) -> None:
        name = output.name or type(output).__name__
        with self._lock:
            self._failures[name] += 1
            first = name not in self._reported
            self._reported.add(name)
        if first:
            report_problem(
                f"output {name!r} failed: {type(exc).__name__}: {exc}; the other outputs go on, "
                f"and further failures of this output are counted (llmlog.stats())"
            )

    def internal_error(self, exc: BaseException) -> None:
        """Report a failure inside llmlog itself (once per kind of error) and count it."""
        key = f"<internal {type(exc).__name__}>"
        with self._lock:
            self._failures[key] += 1
            first = key not in self._reported
            self._reported.add(key)
        if first:
            report_problem(f"internal error while logging: {type(exc).__name__}: {exc}")

    def flush(self) -> None:
        """Flush every output; a failing flush is reported like a failing write."""
        for output in self.outputs:
            try:
                output.flush()
            except Exception as exc:
                self._output_failed(output, exc)

    def close(self) -> None:
        """Flush and close every output, leaving the dispatcher with none."""
        previous = self.install([], level=Severity.FATAL)
        close_outputs(previous, self._output_failed)

    def stats(self) -> dict[str, Any]:
        """Counters: failures per output (and internal errors), entries dropped by sampling, and
        each output's own counters (:meth:`Output.stats`)."""
        with self._lock:
            result: dict[str, Any] = {
                "failures": dict(self._failures),
                "sampled_out": self.sampled_out,
            }
            outputs = list(self.outputs)
        own = {}
        for output in outputs:
            try:
                counters = output.stats()
            except Exception:
                continue
            if counters:
                own[output.name or type(output).__name__] = counters
        if own:
            result["outputs"] = own
        return result


def close_outputs(outputs: Sequence[Output], on_error: Callable[[Output, Exception], None]) -> None:
    """Flush and close each output, reporting failures through ``on_error``."""
    for output in outputs:
        try:
            output.flush()
        except Exception as exc:
            on_error(output, exc)
        try:
            output.close()
        except Exception as exc:
            on_error(output, exc)


def _after_fork_in_child() -> None:
    # A lock another thread held at the fork stays held forever in the child.
    for dispatcher in list(state.dispatchers):
        dispatcher._lock = threading.RLock()


def _flush_all_at_exit() -> None:
    # Nothing written is lost silently: every live dispatcher's outputs are flushed at exit.
    for dispatcher in list(state.dispatchers):
        dispatcher.flush()


def _install_process_hooks() -> None:
    """Register the exit flush and the fork handling, once, when a dispatcher first gets outputs
    (``import llmlog`` alone registers nothing). Called before the dispatcher's lock is taken, so
    a fork can never find that lock held without the handler that replaces it in the child."""
    if state.dispatcher_hooks_installed:
        return
    with state.dispatcher_hooks_lock:
        if not state.dispatcher_hooks_installed:
            os.register_at_fork(after_in_child=_after_fork_in_child)
            atexit.register(_flush_all_at_exit)
            state.dispatcher_hooks_installed = True
