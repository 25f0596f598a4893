"""Switching the OpenAI integration on and off: the SDK's resource methods wrapped, reversibly.

What is wrapped (on the classes, so every client, existing or future, is traced):

========================================================  =====================================
``openai.resources.chat.completions.Completions``         ``create``, ``parse`` (sync)
``openai.resources.chat.completions.AsyncCompletions``    ``create``, ``parse`` (async)
``openai.resources.responses.Responses``                  ``create``, ``parse``
``openai.resources.responses.AsyncResponses``             ``create``, ``parse``
``openai.resources.embeddings.Embeddings``                ``create``
``openai.resources.embeddings.AsyncEmbeddings``           ``create``
========================================================  =====================================

The SDK's helpers go through these: ``chat.completions.stream()`` calls ``create``; a
``with_raw_response`` or ``with_streaming_response`` call is recorded with its request, status
and latency (its body is the caller's to read). Each wrapper is a plain function with
``__wrapped__`` set (as :func:`functools.wraps` does); :func:`uninstrument` puts back the very
functions it found.
"""

from __future__ import annotations

import atexit
import functools
import threading
from collections.abc import Callable
from typing import Any

from llmlog.ext import Integration
from llmlog_engine_genai import (
    CallData,
    CallScope,
    announce_source,
    close_shared_session,
    problem,
    start_call,
    stream_wrapper,
)
from llmlog_integration_openai.extract import (
    ChatStream,
    ResponsesStream,
    chat_fields,
    embedding_fields,
    request_data,
    responses_fields,
)
from llmlog_integration_openai.options import OpenAIOptions

__all__ = ["KNOWN_MAJORS", "OpenAIIntegration", "instrument", "instrumented", "uninstrument"]

#: The SDK's major versions whose classes and methods this integration knows. Another one is
#: reported once and left alone.
KNOWN_MAJORS = frozenset({1, 2, 3})

#: (module, class, method, operation, async)
_TARGETS: tuple[tuple[str, str, str, str, bool], ...] = (
    ("openai.resources.chat.completions", "Completions", "create", "chat", False),
    ("openai.resources.chat.completions", "Completions", "parse", "chat", False),
    ("openai.resources.chat.completions", "AsyncCompletions", "create", "chat", True),
    ("openai.resources.chat.completions", "AsyncCompletions", "parse", "chat", True),
    ("openai.resources.responses", "Responses", "create", "responses", False),
    ("openai.resources.responses", "Responses", "parse", "responses", False),
    ("openai.resources.responses", "AsyncResponses", "create", "responses", True),
    ("openai.resources.responses", "AsyncResponses", "parse", "responses", True),
    ("openai.resources.embeddings", "Embeddings", "create", "embeddings", False),
    ("openai.resources.embeddings", "AsyncEmbeddings", "create", "embeddings", True),
)

_lock = threading.Lock()
#: What instrument() replaced: (class, name) -> (original function, wrapper).
_patched: dict[tuple[type, str], tuple[Any, Any]] = {}
_options: OpenAIOptions | None = None
_refused: set[str] = set()


def _provider(resource: Any) -> str:
    """``azure`` for an Azure client, ``openai`` otherwise (an OpenAI-compatible server is
    priced by the model's name either way)."""
    client = getattr(resource, "_client", None)
    return (
        "azure"
        if type(client).__name__.startswith("AsyncAzure")
        or type(client).__name__.startswith("Azure")
        else "openai"
    )


def _finish(scope: CallScope, operation: str, result: Any) -> Any:
    """Record a returned (non-stream) result."""
    if hasattr(result, "http_response") and hasattr(result, "parse"):
        # with_raw_response / with_streaming_response: the body is the caller's to read.
        status = getattr(result, "status_code", None)
        scope.finish(status_code=status if isinstance(status, int) else None)
        return result
    try:
        if operation == "chat":
            fields = chat_fields(result)
        elif operation == "responses":
            fields = responses_fields(result)
        else:
            fields = embedding_fields(result)
    except Exception as exc:
        problem(f"openai: reading a {operation} response", exc)
        fields = {}
    scope.finish(**fields)
    return result


def _is_stream(result: Any) -> bool:
    name = type(result).__name__
    return name in ("Stream", "AsyncStream") or (
        hasattr(result, "response")
        and (hasattr(result, "__next__") or hasattr(result, "__anext__"))
    )


def _prepare(
    resource: Any, operation: str, kwargs: dict[str, Any], options: OpenAIOptions
) -> tuple[CallData, dict[str, Any], bool]:
    """The call's data, the keyword arguments to send (with ``include_usage`` added to a chat
    stream that lacks it), and whether the added usage chunk must be hidden."""
    data = request_data(operation, _provider(resource), kwargs)
    hide = False
    if operation == "chat" and data.stream and options.stream_usage:
        stream_options = kwargs.get("stream_options")
        asked = isinstance(stream_options, dict) and stream_options.get("include_usage") is True
        if not asked:
            given = stream_options if isinstance(stream_options, dict) else {}
            kwargs = {**kwargs, "stream_options": {**given, "include_usage": True}}
            hide = True
    return data, kwargs, hide


def _aggregator(operation: str, scope: CallScope, hide: bool) -> Any:
    limit = scope.content_limit
    if operation == "responses":
        return ResponsesStream(limit)
    return ChatStream(limit, hide)


def _sync_wrapper(original: Callable[..., Any], operation: str) -> Callable[..., Any]:
    @functools.wraps(original)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        options = _options
        if options is None:  # uninstrumented, but a reference to the wrapper was kept
            return original(self, *args, **kwargs)
        try:
            data, send, hide = _prepare(self, operation, kwargs, options)
        except Exception as exc:
            problem("openai: reading a request", exc)
            return original(self, *args, **kwargs)
        scope = start_call(data, options=options)
        try:
            result = original(self, *args, **send)
        except BaseException as exc:
            scope.fail(exc)
            raise
        if data.stream and _is_stream(result):
            return stream_wrapper(
                result, scope, _aggregator(operation, scope, hide), is_async=False
            )
        return _finish(scope, operation, result)

    return wrapper


def _async_wrapper(original: Callable[..., Any], operation: str) -> Callable[..., Any]:
    @functools.wraps(original)
    async def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        options = _options
        if options is None:
            return await original(self, *args, **kwargs)
        try:
            data, send, hide = _prepare(self, operation, kwargs, options)
        except Exception as exc:
            problem("openai: reading a request", exc)
            return await original(self, *args, **kwargs)
        scope = start_call(data, options=options)
        try:
            result = await original(self, *args, **send)
        except BaseException as exc:
            scope.fail(exc)
            raise
        if data.stream and _is_stream(result):
            return stream_wrapper(result, scope, _aggregator(operation, scope, hide), is_async=True)
        return _finish(scope, operation, result)

    return wrapper


def _sdk_major() -> int | None:
    import openai

    try:
        return int(str(openai.__version__).split(".")[0])
    except (AttributeError, ValueError):
        return None


def instrument(options: OpenAIOptions | None = None) -> bool:
    """Trace every OpenAI SDK call of the process from now on. Returns ``False`` (and reports
    once) when the installed SDK's major version is not one this integration knows
    (:data:`KNOWN_MAJORS`): the SDK is then left as it is. Calling it again while instrumented
    only changes the options."""
    global _options
    import importlib

    with _lock:
        major = _sdk_major()
        if major not in KNOWN_MAJORS:
            import openai

            version = str(getattr(openai, "__version__", "?"))
            if version not in _refused:
                _refused.add(version)
                problem(
                    "openai: instrumenting",
                    f"openai {version} is not a version this integration knows "
                    f"(majors {sorted(KNOWN_MAJORS)}); the SDK is left alone",
                )
            return False
        _options = options or OpenAIOptions()
        announce_source("openai")  # DSPy's LM calls are claimed from now on: see the engine
        if _patched:
            return True
        for module_name, class_name, method, operation, is_async in _TARGETS:
            try:
                cls = getattr(importlib.import_module(module_name), class_name)
                original = cls.__dict__[method]
            except (ImportError, AttributeError, KeyError):
                # A method this SDK version does not have (parse in an old one): not wrapped.
                continue
            make = _async_wrapper if is_async else _sync_wrapper
            wrapper = make(original, operation)
            setattr(cls, method, wrapper)
            _patched[(cls, method)] = (original, wrapper)
        return True


def uninstrument() -> None:
    """Stop tracing the SDK: every wrapped method is put back as it was (the same function
    object), and the engine's shared session is closed. Where another library wrapped a method
    over llmlog's since, its wrapper is left in place and llmlog's passes calls straight
    through. Safe to call when not instrumented."""
    global _options
    with _lock:
        _options = None
        patched = dict(_patched)
        _patched.clear()
    for (cls, method), (original, wrapper) in patched.items():
        if cls.__dict__.get(method) is wrapper:
            setattr(cls, method, original)
    if patched:
        close_shared_session()


def instrumented() -> OpenAIOptions | None:
    """The options in force, or ``None`` when not instrumented."""
    return _options if _patched else None


atexit.register(uninstrument)


class OpenAIIntegration(Integration):
    """``[integrations.openai] enabled = true``: :func:`instrument` at ``llmlog.configure()``,
    :func:`uninstrument` when the configuration is replaced or llmlog shuts down."""

    def __init__(self, options: OpenAIOptions | None) -> None:
        self.options = options or OpenAIOptions()
        self._started = False

    def start(self) -> None:
        """Instrument the SDK with this configuration's options."""
        self._started = instrument(self.options)

    def stop(self) -> None:
        """Uninstrument, if this integration instrumented."""
        if self._started:
            uninstrument()
        self._started = False
