"""Switching the LiteLLM integration on and off."""

from __future__ import annotations

import asyncio
import atexit
import gc
import threading
import time

import litellm

from llmlog.ext import Integration
from llmlog_engine_genai import announce_source, problem
from llmlog_integration_litellm.logger import LlmlogLiteLLMLogger
from llmlog_integration_litellm.options import LiteLLMOptions

__all__ = ["LiteLLMIntegration", "aflush", "flush", "instrument", "instrumented", "uninstrument"]

#: LiteLLM's lists a ``CustomLogger`` in ``litellm.callbacks`` is copied into at its first call.
_LISTS = (
    "callbacks",
    "input_callback",
    "success_callback",
    "failure_callback",
    "_async_input_callback",
    "_async_success_callback",
    "_async_failure_callback",
    "service_callback",
)

#: The LiteLLM versions whose callback behaviour this integration was built and tested on.
_KNOWN = (1, 110)

_lock = threading.Lock()
_installed: LlmlogLiteLLMLogger | None = None


def _version() -> tuple[int, ...]:
    from importlib.metadata import version

    try:
        return tuple(int(p) for p in version("litellm").split(".")[:2])
    except Exception:
        return ()


def instrument(options: LiteLLMOptions | None = None) -> LlmlogLiteLLMLogger:
    """Trace every LiteLLM call of the process from now on; returns the callback.

    The callback is added to ``litellm.callbacks`` through LiteLLM's callback manager (no
    patching); LiteLLM copies it into its success, failure and input lists at the next call.
    Calling it again while instrumented returns the same callback. A LiteLLM version other than
    the one the integration knows is reported once (the callback API is LiteLLM's public one, so
    it is installed anyway).
    """
    global _installed
    with _lock:
        if _installed is not None and any(cb is _installed for cb in litellm.callbacks):
            return _installed
        if _version()[:1] != _KNOWN[:1] or _version() < _KNOWN:
            problem(
                "litellm: version check",
                f"LiteLLM {'.'.join(map(str, _version()))} is not one this integration was "
                f"tested with (1.110 and later 1.x); its calls are traced through the public "
                f"callback API anyway",
            )
        logger = LlmlogLiteLLMLogger(options)
        announce_source("litellm")  # DSPy's LM calls are claimed from now on: see the engine
        litellm.logging_callback_manager.add_litellm_callback(logger)
        _installed = logger
        return logger


def uninstrument() -> None:
    """Stop tracing LiteLLM: remove the callback from every LiteLLM list it is in, by identity,
    in place (every other entry, and each list object, left as it was); calls still open are
    ended as LiteLLM reports them. Safe to call when not instrumented."""
    global _installed
    with _lock:
        logger, _installed = _installed, None
    if logger is None:
        return
    for name in _LISTS:
        entries = getattr(litellm, name, None)
        if isinstance(entries, list):
            entries[:] = [cb for cb in entries if cb is not logger]


def instrumented() -> LlmlogLiteLLMLogger | None:
    """The installed callback, or ``None``."""
    return _installed


def flush(timeout: float = 5.0) -> bool:
    """Wait until LiteLLM has reported every call it started (LiteLLM reports successes after
    the call returned, from its thread pool or its logging task): for a program about to read
    its own trace, or to exit. Streams the program still holds unfinished stay open. ``True``
    when none is open, ``False`` at ``timeout`` seconds."""
    logger = _installed
    if logger is None:
        return True
    deadline = time.monotonic() + timeout
    # LiteLLM's reports come within milliseconds; a collection (costly with LiteLLM's heap) only
    # if what is still open after a moment includes a stream, which ends when it is collected.
    if logger.wait_idle(min(timeout, 0.5)):
        return True
    if logger.open_streams:
        gc.collect()  # a dropped stream in a reference cycle ends at collection
    return logger.wait_idle(max(0.0, deadline - time.monotonic()))


async def aflush(timeout: float = 5.0) -> bool:
    """:func:`flush` for async code: lets LiteLLM's logging tasks on this loop run first
    (``acompletion`` reports from a task of the caller's loop)."""
    logger = _installed
    if logger is None:
        return True
    deadline = time.monotonic() + timeout
    while not logger.wait_idle(0):
        if time.monotonic() >= deadline:
            return False
        worker = getattr(getattr(litellm, "litellm_core_utils", None), "logging_worker", None)
        flusher = getattr(getattr(worker, "GLOBAL_LOGGING_WORKER", None), "flush", None)
        try:
            if flusher is not None:
                await asyncio.wait_for(flusher(), max(0.01, deadline - time.monotonic()))
        except Exception:
            pass
        # Let the loop run LiteLLM's tasks, then wait briefly for its thread pool.
        await asyncio.sleep(0)
        await asyncio.to_thread(logger.wait_idle, 0.05)
    return True


def _at_exit() -> None:
    flush(2.0)
    uninstrument()


atexit.register(_at_exit)  # LiteLLM's last reports land before the engine closes its session


class LiteLLMIntegration(Integration):
    """``[integrations.litellm] enabled = true``: :func:`instrument` at ``llmlog.configure()``,
    :func:`uninstrument` when the configuration is replaced or llmlog shuts down."""

    def __init__(self, options: LiteLLMOptions | None) -> None:
        self.options = options or LiteLLMOptions()
        self._logger: LlmlogLiteLLMLogger | None = None

    def start(self) -> None:
        """Instrument LiteLLM with this configuration's options."""
        if _installed is not None and _installed.options != self.options:
            uninstrument()  # options changed: replace the callback
        self._logger = instrument(self.options)

    def stop(self) -> None:
        """Flush LiteLLM's pending reports, then uninstrument, if the callback is still the one
        this integration installed."""
        if self._logger is not None and self._logger is _installed:
            flush(2.0)
            uninstrument()
        self._logger = None
