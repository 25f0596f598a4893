"""Switching the DSPy integration on and off."""

from __future__ import annotations

import atexit
import threading

import dspy

from llmlog.ext import Integration
from llmlog_integration_dspy.callback import LlmlogCallback
from llmlog_integration_dspy.options import DspyOptions

__all__ = ["DspyIntegration", "instrument", "instrumented", "uninstrument"]

_lock = threading.Lock()
_installed: LlmlogCallback | None = None


def instrument(options: DspyOptions | None = None) -> LlmlogCallback:
    """Trace every DSPy call of the process from now on; returns the callback.

    The callback is appended in place to DSPy's global callback list rather than set with
    ``dspy.configure``, so it works whichever thread owns DSPy's settings and does not make this
    thread their owner. Calling it again while instrumented returns the same callback. Two things
    hide it, as they hide any global callback: a ``with dspy.context(callbacks=[...])`` block
    (its list replaces the global one) and a later ``dspy.configure(callbacks=[...])`` (call
    ``instrument()`` again after it).
    """
    global _installed
    with _lock:
        callbacks = dspy.settings.callbacks
        if _installed is not None and any(cb is _installed for cb in callbacks):
            return _installed
        callback = LlmlogCallback(options)
        callbacks.append(callback)
        _installed = callback
        return callback


def uninstrument() -> None:
    """Stop tracing DSPy: remove the callback (leaving DSPy's list as it was otherwise) and close
    the shared trace session. Safe to call when not instrumented."""
    global _installed
    with _lock:
        callback, _installed = _installed, None
    if callback is None:
        return
    callbacks = dspy.settings.callbacks
    while any(cb is callback for cb in callbacks):
        callbacks.remove(callback)
    callback.close()


def instrumented() -> LlmlogCallback | None:
    """The installed callback, or ``None``."""
    return _installed


atexit.register(uninstrument)  # the shared session is flushed and closed at exit


class DspyIntegration(Integration):
    """``[integrations.dspy] enabled = true``: :func:`instrument` at ``llmlog.configure()``,
    :func:`uninstrument` when the configuration is replaced or llmlog shuts down."""

    def __init__(self, options: DspyOptions | None) -> None:
        self.options = options or DspyOptions()
        self._callback: LlmlogCallback | None = None

    def start(self) -> None:
        """Instrument DSPy with this configuration's options."""
        if _installed is not None and _installed.options != self.options:
            uninstrument()  # options changed: replace the callback
        self._callback = instrument(self.options)

    def stop(self) -> None:
        """Uninstrument, if the callback is still the one this integration installed."""
        if self._callback is not None and self._callback is _installed:
            uninstrument()
        self._callback = None
