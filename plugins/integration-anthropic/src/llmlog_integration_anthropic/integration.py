"""Switching the Anthropic SDK integration on and off: reversible wrappers on the SDK's resource
classes, as OpenTelemetry's contrib instrumentors do.

Wrapped (on the classes, so every client, existing or future, is traced): ``create``, ``stream``
and ``parse`` of ``anthropic.resources.messages.Messages`` and ``AsyncMessages``, and of their
beta twins (``anthropic.resources.beta.messages``). Each wrapper is a plain function whose
``__wrapped__`` is the original; :func:`uninstrument` puts the originals back (the same
objects). A wrapper never raises into the application on its own account: what fails in
recording is counted and reported once (the engine's ``problem``), and the SDK's call goes on.
"""

from __future__ import annotations

import atexit
import functools
import importlib
import re
import threading
from collections.abc import Callable
from typing import Any

from llmlog.ext import Integration
from llmlog_engine_genai import CallScope, announce_source, problem, start_call, stream_wrapper
from llmlog_integration_anthropic.extract import (
    MessageAggregator,
    call_data,
    message_fields,
    provider_of,
)
from llmlog_integration_anthropic.options import AnthropicOptions

__all__ = [
    "KNOWN_VERSIONS",
    "AnthropicIntegration",
    "instrument",
    "instrumented",
    "uninstrument",
]

#: The SDK versions this integration knows (their resource classes and stream helpers are the
#: ones wrapped): 0.40 up to the last 2.x. Any other is reported once and left alone.
KNOWN_VERSIONS = ((0, 40), (3, 0))

#: The header the SDK's ``with_raw_response`` / ``with_streaming_response`` set on a call.
_RAW_HEADER = "X-Stainless-Raw-Response"

#: (module, class, method, kind) of every wrapped function. A kind is how the call is made.
_TARGETS = (
    ("anthropic.resources.messages", "Messages", "create", "sync"),
    ("anthropic.resources.messages", "Messages", "parse", "sync"),
    ("anthropic.resources.messages", "Messages", "stream", "stream"),
    ("anthropic.resources.messages", "AsyncMessages", "create", "async"),
    ("anthropic.resources.messages", "AsyncMessages", "parse", "async"),
    ("anthropic.resources.messages", "AsyncMessages", "stream", "astream"),
    ("anthropic.resources.beta.messages", "Messages", "create", "sync"),
    ("anthropic.resources.beta.messages", "Messages", "parse", "sync"),
    ("anthropic.resources.beta.messages", "Messages", "stream", "stream"),
    ("anthropic.resources.beta.messages", "AsyncMessages", "create", "async"),
    ("anthropic.resources.beta.messages", "AsyncMessages", "parse", "async"),
    ("anthropic.resources.beta.messages", "AsyncMessages", "stream", "astream"),
)

_lock = threading.Lock()
#: What instrument() replaced: (class, name, original, wrapper).
_patched: list[tuple[type, str, Any, Any]] = []
_options: list[AnthropicOptions] = []
#: Wrappers left in place under someone else's (see uninstrument): switched off, not removed.
#: (Held, not their ids: an id could be reused by a later wrapper.)
_disabled: set[Any] = set()
_warned: set[str] = set()


def _version(text: str) -> tuple[int, int]:
    numbers = [int(n) for n in re.findall(r"\d+", text)[:2]]
    return ([*numbers, 0, 0])[0], ([*numbers, 0, 0])[1]


def _report_once(key: str, message: str) -> None:
    with _lock:
        if key in _warned:
            return
        _warned.add(key)
    problem(f"anthropic: {key}", message)


def _known(version: str) -> bool:
    low, high = KNOWN_VERSIONS
    return low <= _version(version) < high


# -- the wrappers --------------------------------------------------------------------------------


def _begin(resource: Any, kwargs: dict[str, Any], stream: bool) -> CallScope | None:
    """Start the call (the budget check's ``BudgetExceeded`` is the one exception let through,
    as at every LLM call boundary); ``None`` if recording it failed."""
    try:
        data = call_data(kwargs, provider=provider_of(resource), stream=stream)
    except Exception as exc:
        problem("anthropic: reading a request", exc)
        return None
    options = _options[0] if _options else None
    return start_call(data, options=options)


def _raw_mode(kwargs: dict[str, Any]) -> str | None:
    """``"raw"`` for ``.with_raw_response`` (the answer read, parsed on demand), ``"stream"``
    for ``.with_streaming_response`` (the body not read yet), else ``None``."""
    headers = kwargs.get("extra_headers")
    if isinstance(headers, dict):
        mode = headers.get(_RAW_HEADER)
        return mode if isinstance(mode, str) else None
    return None


def _finish(scope: CallScope, message: Any) -> None:
    """End a non-streamed call with what its ``Message`` says (``None``: the request side
    only, for a raw response whose body is the caller's to read)."""
    try:
        if message is not None and hasattr(message, "content") and hasattr(message, "usage"):
            scope.finish(**message_fields(message))
            return
    except Exception as exc:
        problem("anthropic: reading an answer", exc)
    scope.finish()


def _is_stream(result: Any) -> bool:
    return hasattr(result, "__iter__") or hasattr(result, "__aiter__")


def _wrap_sync(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def create(self: Any, *args: Any, **kwargs: Any) -> Any:
        if create in _disabled:
            return original(self, *args, **kwargs)
        stream = kwargs.get("stream") is True
        scope = _begin(self, kwargs, stream)
        if scope is None:
            return original(self, *args, **kwargs)
        try:
            result = original(self, *args, **kwargs)
        except BaseException as exc:
            scope.fail(exc)
            raise
        raw = _raw_mode(kwargs)
        if raw is None:
            if stream and _is_stream(result):
                limit = scope.content_limit
                return stream_wrapper(result, scope, MessageAggregator(limit), is_async=False)
            _finish(scope, result)
            return result
        message = None
        if raw == "raw" and not stream:
            try:
                message = result.parse()  # cached: the caller's parse() gets the same object
            except Exception as exc:
                problem("anthropic: reading a raw response", exc)
        _finish(scope, message)
        return result

    return create


def _wrap_async(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    async def create(self: Any, *args: Any, **kwargs: Any) -> Any:
        if create in _disabled:
            return await original(self, *args, **kwargs)
        stream = kwargs.get("stream") is True
        scope = _begin(self, kwargs, stream)
        if scope is None:
            return await original(self, *args, **kwargs)
        try:
            result = await original(self, *args, **kwargs)
        except BaseException as exc:
            scope.fail(exc)
            raise
        raw = _raw_mode(kwargs)
        if raw is None:
            if stream and _is_stream(result):
                limit = scope.content_limit
                return stream_wrapper(result, scope, MessageAggregator(limit), is_async=True)
            _finish(scope, result)
            return result
        message = None
        if raw == "raw" and not stream:
            try:
                message = await result.parse()  # cached: the caller's parse() gets it too
            except Exception as exc:
                problem("anthropic: reading a raw response", exc)
        _finish(scope, message)
        return result

    return create


def _request_attribute(manager: Any) -> str | None:
    """The stream manager's private request attribute (``_MessageStreamManager__api_request``,
    the beta and async managers' likewise): what its ``__enter__`` calls or awaits."""
    for name in vars(manager):
        if isinstance(name, str) and name.endswith("__api_request"):
            return str(name)
    return None


def _wrap_stream(original: Callable[..., Any], *, is_async: bool = False) -> Callable[..., Any]:
    """``messages.stream(...)`` returns a manager that makes the request when entered: its
    request is replaced by one that starts the call then and hands the SDK's ``MessageStream``
    the engine's proxy of the raw event stream, so ``text_stream``, ``get_final_message()``,
    iteration and ``close()`` all go through it. ``is_async``: the async manager, which awaits a
    request coroutine made at the call; it is replaced by one that starts the call when awaited
    (at ``async with``)."""

    @functools.wraps(original)
    def stream(self: Any, *args: Any, **kwargs: Any) -> Any:
        manager = original(self, *args, **kwargs)
        if stream in _disabled:
            return manager
        try:
            name = _request_attribute(manager)
            if name is None:
                _report_once(
                    "stream manager",
                    "the stream helper's request was not found: its calls are not traced",
                )
                return manager
            request = getattr(manager, name)
            call_kwargs = dict(kwargs)
            call_kwargs["stream"] = True
            traced = _traced_arequest if is_async else _traced_request
            setattr(manager, name, traced(self, call_kwargs, request))
        except Exception as exc:
            problem("anthropic: wrapping a stream helper", exc)
        return manager

    return stream


def _traced_request(resource: Any, call_kwargs: dict[str, Any], request: Any) -> Any:
    """The sync stream manager's request, starting the call when the manager calls it."""

    def traced_request() -> Any:
        scope = _begin(resource, call_kwargs, True)
        if scope is None:
            return request()
        try:
            raw = request()
        except BaseException as exc:
            scope.fail(exc)
            raise
        return stream_wrapper(raw, scope, MessageAggregator(scope.content_limit), is_async=False)

    return traced_request


async def _traced_arequest(resource: Any, call_kwargs: dict[str, Any], request: Any) -> Any:
    """The async stream manager's request coroutine, starting the call when awaited."""
    scope = _begin(resource, call_kwargs, True)
    if scope is None:
        return await request
    try:
        raw = await request
    except BaseException as exc:
        scope.fail(exc)
        raise
    return stream_wrapper(raw, scope, MessageAggregator(scope.content_limit), is_async=True)


def _wrap_astream(original: Callable[..., Any]) -> Callable[..., Any]:
    """The async ``messages.stream(...)``: :func:`_wrap_stream` with ``is_async``."""
    return _wrap_stream(original, is_async=True)


_WRAPPERS = {
    "sync": _wrap_sync,
    "async": _wrap_async,
    "stream": _wrap_stream,
    "astream": _wrap_astream,
}


# -- switching on and off ------------------------------------------------------------------------


def instrument(options: AnthropicOptions | None = None) -> bool:
    """Trace every Anthropic messages call of the process from now on (every client, existing
    or future). Returns ``True`` if the SDK is wrapped (also when it already was: the options
    are then replaced), ``False`` if it is missing or of a version this integration does not
    know (reported once, and left alone)."""
    try:
        import anthropic
    except ImportError:
        _report_once("import", "the anthropic package is not installed: nothing to trace")
        return False
    version = str(getattr(anthropic, "__version__", "0"))
    if not _known(version):
        _report_once(
            f"version {version}",
            f"anthropic {version} is not a version this integration knows "
            f"({KNOWN_VERSIONS[0][0]}.{KNOWN_VERSIONS[0][1]} to {KNOWN_VERSIONS[1][0] - 1}.x): "
            "left alone, its calls are not traced",
        )
        return False
    announce_source("anthropic")  # DSPy's LM calls are claimed from now on: see the engine
    with _lock:
        _options[:] = [options or AnthropicOptions()]
        if _patched:
            return True
        for module_name, class_name, method, kind in _TARGETS:
            try:
                module = importlib.import_module(module_name)
                cls = getattr(module, class_name)
                original = cls.__dict__[method]
            except (ImportError, AttributeError, KeyError) as exc:
                # A part of the SDK that moved: the rest is still traced.
                problem(
                    "anthropic: finding what to wrap",
                    f"{module_name}.{class_name}.{method}: {exc!r}",
                )
                continue
            wrapper = _WRAPPERS[kind](original)
            setattr(cls, method, wrapper)
            _patched.append((cls, method, original, wrapper))
    return True


def uninstrument() -> None:
    """Put every original function back (the very objects :func:`instrument` found). A wrapper
    that someone else wrapped in turn since (another instrumentor) cannot be taken out from
    under theirs: it is switched off instead (it calls the original straight away) and this is
    reported once. Safe to call when not instrumented."""
    with _lock:
        patched, _patched[:] = list(_patched), []
        _options[:] = []
    for cls, method, original, wrapper in patched:
        if cls.__dict__.get(method) is wrapper:
            setattr(cls, method, original)
        else:
            _disabled.add(wrapper)
            _report_once(
                f"uninstrument {cls.__name__}.{method}",
                f"{cls.__qualname__}.{method} was wrapped again by someone else: llmlog's "
                "wrapper is switched off under it, not removed",
            )


def instrumented() -> bool:
    """Whether the SDK is wrapped now."""
    return bool(_patched)


atexit.register(uninstrument)


class AnthropicIntegration(Integration):
    """``[integrations.anthropic] enabled = true``: :func:`instrument` at ``llmlog.configure()``,
    :func:`uninstrument` when the configuration is replaced or llmlog shuts down."""

    def __init__(self, options: AnthropicOptions | None) -> None:
        self.options = options or AnthropicOptions()
        self._started = False

    def start(self) -> None:
        """Wrap the SDK with this configuration's options."""
        self._started = instrument(self.options)

    def stop(self) -> None:
        """Unwrap the SDK, if this integration wrapped it."""
        if self._started:
            self._started = False
            uninstrument()
