"""The :class:`Logger`: the API applications call, and the per-entry hot path.

Cost model, in call order: a level check against the dispatcher's threshold (one attribute read,
before any argument is looked at); then, only for enabled entries, sampling, one ``ContextVar.get``,
printf interpolation, field merging and sanitising, the caller's frame, one :class:`LogEntry`, and a
plain method call per output. An entry that one output alone takes (the flight recorder's DEBUG
entries while the other outputs show INFO) goes to it as its parts, without a ``LogEntry``. No
pluggy and no locks on this path.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
import traceback
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NoReturn

import attrs

from llmlog import state as _state
from llmlog import tracing as _tracing
from llmlog.context import LogContext, get_current
from llmlog.dispatch import Dispatcher, report_problem
from llmlog.fastpath import SPECIAL_KEYWORDS, basename, basenames
from llmlog.interfaces import Output
from llmlog.pricing import price_token_usage
from llmlog.records import EMPTY_FIELDS, LogEntry, TokenUsage
from llmlog.sanitize import Sanitizer
from llmlog.serialize import safe_repr
from llmlog.severity import Severity

__all__ = ["Logger", "get_logger", "set_logger"]

_DEBUG, _INFO, _WARN, _ERROR, _FATAL = (
    Severity.DEBUG,
    Severity.INFO,
    Severity.WARN,
    Severity.ERROR,
    Severity.FATAL,
)
# Keyword arguments that set entry attributes instead of becoming fields.
_SPECIAL = SPECIAL_KEYWORDS
_time_ns = time.time_ns
_getframe = sys._getframe
_basenames = basenames
_basename = basename


def _interpolate(msg: object, args: tuple[Any, ...]) -> str:
    try:
        return str(msg) % args
    except Exception as exc:
        # A wrong format string must not cost the entry: keep both parts, say what went wrong.
        shown = ", ".join(safe_repr(arg) for arg in args)
        return f"{safe_repr(msg)} % ({shown}) (formatting failed: {safe_str(exc)})"


def _message_text(msg: object) -> str:
    """``str(msg)``, or a marker saying why it has none: an entry is never lost to its message."""
    try:
        return str(msg)
    except Exception as exc:
        return f"<unprintable {type(msg).__qualname__}: {type(exc).__name__}: {safe_str(exc)}>"


def safe_str(value: object) -> str:
    """``str(value)``, or its :func:`~llmlog.serialize.safe_repr` when ``__str__`` fails."""
    try:
        return str(value)
    except Exception:
        return safe_repr(value)


def _format_exception(exc_info: Any) -> str | None:
    if exc_info is None or exc_info is False:
        return None
    if isinstance(exc_info, BaseException):
        exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
    elif not isinstance(exc_info, tuple):
        exc_info = sys.exc_info()
    if not exc_info or exc_info[0] is None:
        return None
    try:
        return "".join(traceback.format_exception(*exc_info)).rstrip()
    except Exception:
        # Not an exception or an exc_info triple (exc_info=(1, 2)): shown as given.
        return f"exc_info={safe_repr(exc_info)} (not an exception)"


def _special_keywords(
    kw: dict[str, Any], model_id: Any, token_info: Any
) -> tuple[str | None, int, str | None, TokenUsage | None, float | None, float | None]:
    """Take the keywords that set entry attributes out of ``kw``. A value of the wrong type
    (``cost="free"``, ``token_info="lots"``, ``stacklevel="x"``) does not cost the entry: it
    stays in ``kw`` as an ordinary field, shown as given, and the attribute keeps its default;
    a model id is a name, so ``model_id=123`` becomes ``"123"``."""
    exception = _format_exception(kw.pop("exc_info", None))
    if kw.pop("stack_info", False):
        stack = "".join(traceback.format_stack(_getframe(3))).rstrip()
        exception = f"{exception}\n{stack}" if exception else f"Stack:\n{stack}"
    stacklevel = kw.pop("stacklevel", 1)
    if type(stacklevel) is not int or stacklevel < 1:
        kw["stacklevel"] = stacklevel
        stacklevel = 1
    if "model_id" in kw:
        model = kw.pop("model_id")
        model_id = model if model is None or isinstance(model, str) else safe_str(model)
    if "token_info" in kw:
        tokens = kw.pop("token_info")
        if tokens is None or isinstance(tokens, TokenUsage):
            token_info = tokens
        else:
            kw["token_info"] = tokens
    latency_ms = _number(kw, "latency_ms")
    cost = _number(kw, "cost")
    return exception, stacklevel, model_id, token_info, latency_ms, cost


def _priced(
    usage: TokenUsage,
    fields: Mapping[str, Any],
    ctx: LogContext,
    model_id: Any,
    cost: float | None,
) -> TokenUsage:
    """The entry's usage priced by the chain (:func:`llmlog.pricing.price_token_usage`), the
    provider from the call's or the context's ``provider`` field."""
    if usage.cost_source is not None or usage.cost_unknown is not None:
        return usage
    provider = fields.get("provider") or ctx.fields.get("provider")
    return price_token_usage(
        usage,
        provider if isinstance(provider, str) else "",
        model_id if isinstance(model_id, str) else "",
        cost,
    )


def _number(kw: dict[str, Any], key: str) -> float | None:
    if key not in kw:
        return None
    value = kw[key]
    if value is None or (
        isinstance(value, int | float) and not isinstance(value, bool) and _finite(value)
    ):
        del kw[key]
        return value
    return None  # stays a field, shown as given


def _finite(value: float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer past any float (cost=2**1100): a field, as given
        return False


class Logger:
    """Logs entries through a :class:`~llmlog.dispatch.Dispatcher`.

    Most code calls :func:`get_logger` and never builds one. A standalone logger, as dspy-go's
    ``NewLogger(Config{...})`` builds, takes its own outputs::

        log = Logger(level=Severity.DEBUG, outputs=[my_output], default_fields={"service": "qa"})

    :param level: the lowest severity this logger emits.
    :param outputs: where entries go; ``None`` means plain text on stderr.
    :param sample_rate: fraction (0 to 1) of entries below ERROR to keep; ERROR and FATAL always are.
    :param default_fields: fields added to every entry.
    :param name: the logger's name, carried in :attr:`LogEntry.logger`.
    :param dispatcher: share an existing dispatcher instead (outputs and settings come from it).

    Every logging method takes a printf-style message with its ``args`` and keyword fields. Some
    keywords set entry attributes instead of fields: ``exc_info`` (``True``, an exception or an
    ``exc_info`` tuple), ``stack_info``, ``stacklevel`` (frames to skip for the caller, as in
    :mod:`logging`), ``model_id``, ``token_info``, ``latency_ms`` and ``cost``.

    Logging never raises: a bad format string, a value that cannot be serialised or a failing output
    is reported on stderr once and counted.

    A logger with no level of its own is an instance of a subclass its dispatcher makes (named
    ``Logger`` too; :meth:`~llmlog.dispatch.Dispatcher.logger_class`), whose logging methods are
    generated for the outputs configured (:mod:`llmlog.fastpath`): test it with ``isinstance``.
    A subclass of ``Logger`` of your own keeps its class and takes the generic path.
    """

    __slots__ = ("_bound", "_dispatcher", "_level", "name")

    def __init__(
        self,
        level: Severity = Severity.INFO,
        outputs: list[Output] | None = None,
        *,
        sample_rate: float = 1.0,
        default_fields: Mapping[str, Any] | None = None,
        name: str = "",
        dispatcher: Dispatcher | None = None,
    ) -> None:
        if dispatcher is None:
            if outputs is None:
                from llmlog.default_plugins.stderr_output import StderrOutput

                outputs = [StderrOutput()]
            dispatcher = Dispatcher(
                outputs,
                level=level,
                sample_rate=sample_rate,
                default_fields=default_fields,
                sanitizer=Sanitizer(),
            )
            level = Severity.DEBUG  # the dispatcher enforces it
        self.name = name
        self._dispatcher = dispatcher
        self._level = level
        self._bound: Mapping[str, Any] = EMPTY_FIELDS  # sets the class (_fit)

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)
        if name in ("_bound", "_level", "_dispatcher"):
            self._fit()

    def _fit(self) -> None:
        # A Logger (not a subclass) with no level of its own takes its dispatcher's class for
        # loggers with or without bound fields, whose logging methods are the flat functions of
        # llmlog.fastpath (they write the common entry in one frame); any other, Logger's
        # generic methods. Once the three are set (in __init__, or by copy and pickle, in any
        # order).
        cls = type(self)
        if cls is Logger or "_flat" in cls.__dict__:
            try:
                level, bound, dispatcher = self._level, self._bound, self._dispatcher
            except AttributeError:
                return
            fit = Logger
            if level <= Severity.DEBUG:
                fit = dispatcher.logger_class(Logger, bool(bound))
            if cls is not fit:
                object.__setattr__(self, "__class__", fit)

    # -- children --------------------------------------------------------------------------------

    def bind(self, **fields: Any) -> Logger:
        """Return a child logger that adds ``fields`` to every entry (on top of this one's)."""
        child = Logger(self._level, name=self.name, dispatcher=self._dispatcher)
        child._bound = MappingProxyType({**self._bound, **fields})
        return child

    def named(self, name: str) -> Logger:
        """Return a child logger with the given name and this logger's bound fields."""
        child = Logger(self._level, name=name, dispatcher=self._dispatcher)
        child._bound = self._bound
        return child

    def with_level(self, level: Severity) -> Logger:
        """Return a child logger that drops entries below ``level``."""
        child = Logger(level, name=self.name, dispatcher=self._dispatcher)
        child._bound = self._bound
        return child

    @property
    def dispatcher(self) -> Dispatcher:
        """The dispatcher (outputs and settings) this logger writes through."""
        return self._dispatcher

    def is_enabled_for(self, severity: Severity) -> bool:
        """Whether an entry of ``severity`` would be emitted (ignoring sampling)."""
        d = self._dispatcher
        return severity >= d.threshold and severity >= self._level

    # -- logging methods -------------------------------------------------------------------------

    def debug(self, msg: object, /, *args: Any, **fields: Any) -> None:
        """Log at DEBUG."""
        if self._dispatcher.threshold <= _DEBUG:
            self._log(_DEBUG, msg, args, fields)

    def info(self, msg: object, /, *args: Any, **fields: Any) -> None:
        """Log at INFO."""
        if self._dispatcher.threshold <= _INFO:
            self._log(_INFO, msg, args, fields)

    def warn(self, msg: object, /, *args: Any, **fields: Any) -> None:
        """Log at WARN."""
        if self._dispatcher.threshold <= _WARN:
            self._log(_WARN, msg, args, fields)

    warning = warn

    def error(self, msg: object, /, *args: Any, **fields: Any) -> None:
        """Log at ERROR."""
        if self._dispatcher.threshold <= _ERROR:
            self._log(_ERROR, msg, args, fields)

    def exception(self, msg: object, /, *args: Any, **fields: Any) -> None:
        """Log at ERROR with the exception being handled (``exc_info=True``)."""
        fields.setdefault("exc_info", True)
        if self._dispatcher.threshold <= _ERROR:
            self._log(_ERROR, msg, args, fields)

    def log(self, severity: Severity, msg: object, /, *args: Any, **fields: Any) -> None:
        """Log at ``severity``."""
        if severity >= self._dispatcher.threshold:
            self._log(severity, msg, args, fields)

    def prompt_completion(
        self,
        prompt: str,
        completion: str,
        /,
        token_info: TokenUsage | None = None,
        **fields: Any,
    ) -> None:
        """Log one LLM interaction at DEBUG, with the prompt and completion as fields (a field
        of the call named ``prompt`` or ``completion`` is kept as ``field.prompt`` or
        ``field.completion``).

        The entry carries ``token_info`` (or the context's) so formatters show the usage; long
        prompts are capped like any other string. Outside a span, the call still counts against
        the budgets in force (:func:`llmlog.budget`, ``[budgets]``), priced as a traced call is.

        Inside a span (``llmlog.span``, ``@llmlog.traced``) it also records the call in the
        trace, once, whatever the log level: an ``llm_call`` event with the model (``model_id=``
        or the context's), the tokens and cost of ``token_info`` (or the context's; ``cost=``
        fills an unknown cost), ``latency_ms=`` if given and ``provider=`` if given (also kept as
        a field). With no trace session the event goes to the trace sinks (the flight recorder, the
        OTLP exporter), when any is added. See :func:`llmlog.record_llm_call`.
        """
        ctx = get_current()
        if ctx.span_id is not None and (ctx.session is not None or _state.trace_sinks):
            self._trace_call(ctx, prompt, completion, token_info, fields)
        elif _state.budgets_active or _state.budget_blocks_open:
            # traced nowhere, but it still spends: the budgets count it
            usage = token_info if token_info is not None else ctx.token_info
            cost = fields.get("cost")
            if usage is not None and usage.cost is None and isinstance(cost, int | float):
                usage = attrs.evolve(usage, cost=float(cost))
            model, provider = fields.get("model_id"), fields.get("provider")
            _tracing._charge_untraced(
                provider if isinstance(provider, str) else "",
                model if isinstance(model, str) else ctx.model_id or "",
                usage,
                ctx.trace_id,
            )
        if self._dispatcher.threshold <= _DEBUG:
            for name in ("prompt", "completion"):
                if name in fields:
                    fields[f"field.{name}"] = fields.pop(name)
            fields["prompt"] = prompt
            fields["completion"] = completion
            if token_info is not None:
                fields["token_info"] = token_info
            self._log(_DEBUG, "LLM interaction", (), fields)

    @staticmethod
    def _trace_call(
        ctx: LogContext,
        prompt: str,
        completion: str,
        token_info: TokenUsage | None,
        fields: Mapping[str, Any],
    ) -> None:
        """``prompt_completion``'s call, as an ``llm_call`` event of the current span."""
        try:
            usage = token_info if token_info is not None else ctx.token_info
            cost = fields.get("cost")
            if usage is not None and usage.cost is None and isinstance(cost, int | float):
                usage = attrs.evolve(usage, cost=float(cost))
            model = fields.get("model_id")
            provider = fields.get("provider")
            _tracing._record_llm_call(
                ctx.session,
                ctx.trace_id,
                ctx.span_id,
                model=model if isinstance(model, str) else ctx.model_id or "",
                prompt=prompt,
                response=completion,
                usage=usage,
                latency_ms=fields.get("latency_ms"),
                provider=provider if isinstance(provider, str) else "",
                messages=None,
            )
        except Exception as exc:  # logging never raises
            report_problem(f"recording an LLM call failed: {type(exc).__name__}: {exc}")

    def fatal(self, msg: object, /, *args: Any, **fields: Any) -> NoReturn:
        """Log at FATAL, flush and close every output, then exit with status 1.

        From the main thread this raises :class:`SystemExit` (so ``finally`` blocks and ``atexit``
        handlers run); from another thread, where ``SystemExit`` would only end that thread, the
        process exits with ``os._exit(1)``.
        """
        self._log(_FATAL, msg, args, fields)
        self._dispatcher.close()
        if threading.current_thread() is threading.main_thread():
            raise SystemExit(1)
        for stream in (sys.stdout, sys.stderr):
            try:
                if stream is not None:
                    stream.flush()
            except Exception:
                pass
        os._exit(1)

    def log_record(
        self,
        severity: Severity,
        message: str,
        *,
        time_ns: int,
        file: str = "",
        line: int = 0,
        function: str = "",
        fields: dict[str, Any] | None = None,
        exception: str | None = None,
        logger: str | None = None,
    ) -> None:
        """Log an entry whose time, caller and message are already known.

        For integrations that turn another system's records into llmlog entries (the standard
        ``logging`` handler does): the level check, sampling, context, default and bound fields,
        redaction and size caps apply as for any call, but the caller is not looked up.
        """
        self._record(
            severity,
            message,
            time_ns,
            file,
            line,
            function,
            fields or {},
            exception,
            self.name if logger is None else logger,
        )

    def _record(
        self,
        severity: Severity,
        message: str,
        time_ns: int,
        file: str,
        line: int,
        function: str,
        fields: dict[str, Any],
        exception: str | None,
        logger: str,
    ) -> None:
        # log_record with positional arguments, for integrations on a hot path.
        d = self._dispatcher
        try:
            if d.on_first_use is not None:
                d.on_first_use()
            if severity < d.threshold or severity < self._level:
                return
            if severity < _ERROR and d.sample_rate < 1.0 and d.random() >= d.sample_rate:
                d.sampled_out += 1
                return
            ctx = get_current()
            sanitizer = d.sanitizer
            message = sanitizer.text(message)
            merged = self._fields(d, ctx.fields, fields)
            if exception:
                exception = sanitizer.text(exception)
            # To the outputs as a LogEntry, or, when every output that takes this severity takes
            # an entry as its parts (Output.write_parts), to them as the parts: no LogEntry.
            make = d.makers.get(severity, LogEntry)
            try:
                entry = make(
                    time_ns,
                    severity,
                    message,
                    file,
                    line,
                    function,
                    ctx.trace_id,
                    ctx.span_id,
                    ctx.model_id,
                    ctx.token_info
                    if ctx.token_info is None
                    else _priced(ctx.token_info, fields, ctx, ctx.model_id, None),
                    None,
                    None,
                    merged,
                    logger,
                    exception or None,
                )
            except Exception as exc:  # only a single direct output can fail here
                d.direct_failed(exc, severity)
                return
            if make is LogEntry:
                d.emit(entry)
        except Exception as exc:
            d.internal_error(exc)

    # -- the hot path ----------------------------------------------------------------------------

    def _fields(
        self, d: Dispatcher, context_fields: Mapping[str, Any], call: dict[str, Any]
    ) -> Mapping[str, Any]:
        """Default < bound < context < call fields; what is added is redacted and capped once."""
        fields = d.default_fields
        extra = self._bound
        if context_fields:
            extra = {**extra, **context_fields} if extra else context_fields
        if call:
            extra = {**extra, **call} if extra else call
        if extra:
            extra = d.sanitizer.fields(extra)
            fields = {**fields, **extra} if fields else extra
        return fields

    def _log(self, severity: Severity, msg: Any, args: tuple[Any, ...], kw: dict[str, Any]) -> None:
        d = self._dispatcher
        try:
            if d.on_first_use is not None:
                d.on_first_use()
                if severity < d.threshold:
                    return
            if severity < self._level:
                return
            if severity < _ERROR and d.sample_rate < 1.0 and d.random() >= d.sample_rate:
                d.sampled_out += 1
                return
            ctx = get_current()
            model_id = ctx.model_id
            token_info = ctx.token_info
            latency_ms = cost = exception = None
            stacklevel = 1
            if kw and not _SPECIAL.isdisjoint(kw):
                exception, stacklevel, model_id, token_info, latency_ms, cost = _special_keywords(
                    kw, model_id, token_info
                )
            if token_info is not None:
                token_info = _priced(token_info, kw, ctx, model_id, cost)
            sanitizer = d.sanitizer
            # self._fields, inline: default < bound < context < call fields; what is added is
            # redacted and capped once.
            fields = d.default_fields
            extra = self._bound
            context_fields = ctx.fields
            if context_fields:
                extra = {**extra, **context_fields} if extra else context_fields
            if kw:
                extra = {**extra, **kw} if extra else kw
            if extra:
                extra = sanitizer.fields(extra)
                fields = {**fields, **extra} if fields else extra
            if args:
                msg = _interpolate(msg, args)
            elif type(msg) is not str:
                msg = _message_text(msg)
            if msg not in sanitizer._clean:  # a message seen clean before needs no call
                msg = sanitizer.text(msg)
            if exception is not None:
                exception = sanitizer.text(exception)
            if d.include_caller:
                # Frame 0 is _log, 1 the logging method, 2 its caller.
                try:
                    frame = _getframe(1 + stacklevel)
                except ValueError:
                    frame = _getframe(1)
                code = frame.f_code
                path = code.co_filename
                file = _basenames.get(path) or _basename(path)
                line, function = frame.f_lineno, code.co_qualname
            else:
                file, line, function = "", 0, ""
            # As in _record: a LogEntry for the outputs, or the parts for a direct output.
            make = d.makers.get(severity, LogEntry)
            try:
                entry = make(
                    _time_ns(),
                    severity,
                    msg,
                    file,
                    line,
                    function,
                    ctx.trace_id,
                    ctx.span_id,
                    model_id,
                    token_info,
                    latency_ms,
                    cost,
                    fields,
                    self.name,
                    exception,
                )
            except Exception as exc:  # only a single direct output can fail here
                d.direct_failed(exc, severity)
                return
            if make is LogEntry:
                d.emit(entry)
        except Exception as exc:
            d.internal_error(exc)


# -- the global logger ---------------------------------------------------------------------------

# The pipeline get_logger() writes into, kept in llmlog.state with the rest of the process-wide
# state. Until configure() runs, the dispatcher defers: the first entry configures llmlog from the
# usual places (llmlog/__init__.py installs that step, from the layer that may import
# llmlog.runtime).
_state.dispatcher = Dispatcher(level=Severity.DEBUG)
_state.logger = Logger(Severity.DEBUG, dispatcher=_state.dispatcher)


def global_dispatcher() -> Dispatcher:
    """The dispatcher behind :func:`get_logger`; ``llmlog.configure()`` installs into it."""
    return _state.dispatcher


def get_logger(name: str | None = None) -> Logger:
    """Return the global logger, or a child of it carrying ``name``.

    Safe to call at import time: the logger follows later ``llmlog.configure()`` calls.
    """
    logger = _state.logger
    return logger.named(name) if name else logger


def set_logger(logger: Logger) -> None:
    """Make ``logger`` the one :func:`get_logger` returns from now on."""
    if not isinstance(logger, Logger):
        raise TypeError(f"set_logger() needs a llmlog.Logger, not {type(logger).__name__}")
    _state.logger = logger
