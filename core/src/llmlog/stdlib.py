"""Interoperation with the standard :mod:`logging` module, in the capturing direction.

:class:`LlmlogHandler` is a :class:`logging.Handler` that turns standard records into llmlog
entries, so the logs of DSPy, LiteLLM, httpx, openai and every other library flow through llmlog's
outputs (and the flight recorder) with the current model id, trace id and span id attached.

``[stdlib] capture = true`` installs it at ``llmlog.configure()`` and removes it, restoring every
logger it touched, on the next ``configure()`` or at exit. The other direction (llmlog entries into
a standard logger, for handlers a team already has) is the ``stdlib`` output plugin.

Loops are impossible by construction: records that the ``stdlib`` output creates carry the
attribute ``llmlog_forwarded`` and are never captured, and a per-thread guard drops any record
logged while the handler itself is emitting (a failing output that logs, say).
"""

from __future__ import annotations

import logging
import threading
import traceback
import warnings
from collections.abc import Callable
from typing import Any

import attrs

from llmlog import state
from llmlog.logger import get_logger
from llmlog.severity import Severity

__all__ = [
    "FORWARDED_ATTRIBUTE",
    "LlmlogHandler",
    "StdlibCapture",
    "StdlibOptions",
    "severity_for_level",
]

#: Set on records the ``stdlib`` output forwards; the capture handler skips them.
FORWARDED_ATTRIBUTE = "llmlog_forwarded"

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_RECORD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("n", logging.INFO, "p", 1, "m", (), None, "f", None))
) | {"message", "asctime", "taskName"}

_LATE_ATTRIBUTES = frozenset({"message", "asctime"})
_get_ident = threading.get_ident
_INIT_COUNT = len(vars(logging.LogRecord("n", logging.INFO, "p", 1, "m", (), None)))

_STANDARD_NAMES = {logging.getLevelName(n) for n in (10, 20, 30, 40, 50)} | {"WARN", "FATAL"}


_DEBUG, _INFO, _WARN, _ERROR, _FATAL = (
    Severity.DEBUG,
    Severity.INFO,
    Severity.WARN,
    Severity.ERROR,
    Severity.FATAL,
)
# Enum member access costs hundreds of nanoseconds; the standard levels are a dict lookup.
_BY_LEVEL = {int(s): s for s in Severity}


def severity_for_level(levelno: int) -> Severity:
    """The llmlog severity of a standard level number: the nearest named severity at or below it
    (custom levels such as 5 or 25 included; anything below DEBUG is DEBUG)."""
    known = _BY_LEVEL.get(levelno)
    if known is not None:
        return known
    if levelno >= 50:
        return _FATAL
    if levelno >= 40:
        return _ERROR
    if levelno >= 30:
        return _WARN
    if levelno >= 20:
        return _INFO
    return _DEBUG


class LlmlogHandler(logging.Handler):
    """Sends standard :mod:`logging` records through an llmlog logger.

    The entry keeps the record's own time, file, line and function (not the handler's), its logger
    name, its ``extra`` as fields and its traceback (``exc_info``, ``stack_info``). A custom level
    name (``TRACE``, ``SUCCESS``...) is kept in the field ``stdlib_level``.

    :param logger: the llmlog logger to log through; default: the global one (looked up per record,
        so it follows ``llmlog.set_logger``).
    :param level: the handler's level (standard level number or name).
    """

    def __init__(self, logger: Any = None, level: int | str = logging.NOTSET) -> None:
        super().__init__(level)
        self._logger = logger
        # Threads currently inside emit(): a record logged by an output while it writes an entry
        # (which would come straight back here) is dropped instead of recursing.
        self._busy: set[int] = set()

    def handle(self, record: logging.LogRecord) -> Any:
        # logging.Handler.handle takes a per-handler lock around emit(); emit() here is
        # thread-safe on its own (the outputs are), so the lock would only serialise threads.
        if not self.filters:
            self.emit(record)
            return True
        result = self.filter(record)
        if result:
            self.emit(result if isinstance(result, logging.LogRecord) else record)
        return result

    def emit(self, record: logging.LogRecord) -> None:
        attributes = record.__dict__
        thread = _get_ident()
        busy = self._busy
        # Membership tests, not getattr(..., default): a missing attribute makes getattr raise and
        # swallow an AttributeError, which costs more than the rest of this method.
        if FORWARDED_ATTRIBUTE in attributes or thread in busy:
            return
        busy.add(thread)
        try:
            logger = self._logger if self._logger is not None else get_logger()
            try:
                message = record.getMessage()
            except Exception as exc:  # a bad format string in a library must not lose the record
                message = f"{record.msg!r} % {record.args!r} (formatting failed: {exc})"
            fields = {}
            if len(attributes) > _INIT_COUNT:
                # LogRecord.__init__ sets its attributes first and ``extra`` keys come after them,
                # so walk back from the end; ``message``/``asctime`` may follow if another handler
                # formatted the record already.
                for key in reversed(attributes):
                    if key in _LATE_ATTRIBUTES:
                        continue
                    if key in _RECORD_ATTRIBUTES:
                        break
                    fields[key] = attributes[key]
            if record.levelname not in _STANDARD_NAMES:
                fields["stdlib_level"] = record.levelname
            exception = None
            if record.exc_info and record.exc_info[0] is not None:
                exception = "".join(traceback.format_exception(*record.exc_info)).rstrip()
            elif record.exc_text:
                exception = record.exc_text
            if record.stack_info:
                exception = f"{exception}\n{record.stack_info}" if exception else record.stack_info
            logger._record(
                _BY_LEVEL.get(record.levelno) or severity_for_level(record.levelno),
                message,
                int(record.created * 1e9),
                record.filename,
                record.lineno,
                record.funcName,
                fields,
                exception,
                record.name,
            )
            if record.levelno >= logging.ERROR:
                recorder = state.flight_recorder
                if recorder is not None:
                    # The flight recorder's "stdlib_error" trigger (off unless configured).
                    recorder.trigger("stdlib_error", f"{record.name}: {message[:200]}")
        except Exception:
            self.handleError(record)
        finally:
            busy.discard(thread)


@attrs.frozen(kw_only=True)
class StdlibOptions:
    """The ``[stdlib]`` table of ``llmlog.toml``."""

    #: Install the capturing handler at ``llmlog.configure()``.
    capture: bool = False
    #: Lowest level captured; the captured loggers are set to it so such records are created at all.
    level: Severity = Severity.DEBUG
    #: Which standard loggers to capture; ``""`` is the root logger (everything that propagates).
    loggers: list[str] = attrs.Factory(lambda: [""])
    #: Whether captured records also continue to the loggers' ancestors (and their handlers). Applies
    #: to named loggers; the root logger has no ancestors.
    propagate: bool = True
    #: Capture ``warnings.warn`` too (``logging.captureWarnings``), as the ``py.warnings`` logger.
    warnings: bool = False


class StdlibCapture:
    """Installs :class:`LlmlogHandler` as ``[stdlib]`` says, and undoes exactly that."""

    def __init__(
        self, options: StdlibOptions, handler_factory: Callable[[], LlmlogHandler] = LlmlogHandler
    ) -> None:
        self.options = options
        self.handler = handler_factory()
        self.handler.setLevel(int(options.level))
        self._saved: list[tuple[logging.Logger, int, bool]] = []
        self._saved_warnings: bool | None = None

    def install(self) -> None:
        """Attach the handler to each configured logger, lowering its level if needed."""
        names = list(self.options.loggers)
        if self.options.warnings and "" not in names and "py.warnings" not in names:
            names.append("py.warnings")
        for name in names:
            target = logging.getLogger(name or None)
            self._saved.append((target, target.level, target.propagate))
            if target.level == logging.NOTSET or target.level > self.options.level:
                target.setLevel(int(self.options.level))
            if name:
                target.propagate = self.options.propagate
            target.addHandler(self.handler)
        if self.options.warnings:
            self._saved_warnings = _warnings_captured()
            logging.captureWarnings(True)

    def uninstall(self) -> None:
        """Remove the handler and restore levels, propagation and warnings capture."""
        for target, level, propagate in reversed(self._saved):
            target.removeHandler(self.handler)
            target.setLevel(level)
            target.propagate = propagate
        self._saved.clear()
        if self._saved_warnings is not None:
            logging.captureWarnings(self._saved_warnings)
            self._saved_warnings = None

    def close(self) -> None:
        """:meth:`uninstall` (what retiring a configuration calls)."""
        self.uninstall()


def _warnings_captured() -> bool:
    # logging.captureWarnings(True) replaces warnings.showwarning with its own function.
    return getattr(warnings.showwarning, "__module__", "") == "logging"
