"""Streams handed back to the caller: proxies that aggregate chunks and end the call however the
caller stops.

:func:`stream_wrapper` wraps an SDK's stream (sync or async) in a transparent proxy
(``wrapt.ObjectProxy``: ``isinstance``, attributes, ``with`` and the SDK's own methods are the
stream's). Each chunk goes to the SDK integration's aggregator, the first marks the time to first
token, and the call ends once, at the first of: the stream consumed to its end, ``close()``, the
``with`` block's end, an exception from the stream, or the proxy collected unfinished (a caller
that broke out of its loop and dropped it). Nothing is kept beyond the session's string cap
(:class:`TextBuffer`).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any, Protocol

import wrapt

from llmlog_engine_genai.scope import CallScope, problem

__all__ = ["AsyncStream", "StreamAggregator", "SyncStream", "TextBuffer", "stream_wrapper"]


class StreamAggregator(Protocol):
    """What an SDK integration gives :func:`stream_wrapper`: it reads the chunks."""

    def add(self, chunk: Any) -> bool:
        """Take one chunk; return ``True`` to hide it from the caller (a chunk llmlog asked for
        that the caller did not: OpenAI's usage-only last chunk)."""
        ...

    def fields(self) -> dict[str, Any]:
        """What the chunks said, as :class:`~llmlog_engine_genai.CallData` fields (``response``,
        ``tool_calls``, ``finish_reason``, ``usage``, ``response_model``...)."""
        ...


class TextBuffer:
    """Streamed text kept up to a cap: the parts are joined at the end; past the cap only their
    length is counted, and the text ends with the sanitizer's marker
    (``…[truncated N chars]``), so a long stream costs no more memory than the cap.

    :param limit: characters to keep; ``None`` keeps everything, ``0`` nothing (the no-content
        mode: the text is then ``""``).
    """

    __slots__ = ("_kept", "_limit", "_parts", "total")

    def __init__(self, limit: int | None) -> None:
        self._limit = limit
        self._parts: list[str] = []
        self._kept = 0
        #: Characters seen.
        self.total = 0

    def append(self, text: str) -> None:
        """Add one piece of text."""
        if not text:
            return
        self.total += len(text)
        limit = self._limit
        if limit is None:
            self._parts.append(text)
            return
        room = limit - self._kept
        if room > 0:
            piece = text if len(text) <= room else text[:room]
            self._parts.append(piece)
            self._kept += len(piece)

    def __bool__(self) -> bool:
        return self.total > 0

    def text(self) -> str:
        """The text, cut at the cap with a marker saying how much was left out."""
        joined = "".join(self._parts)
        limit = self._limit
        if limit is None or self.total <= limit:
            return joined
        if limit == 0:
            return ""
        marker = f"…[truncated {self.total - limit} chars]"
        # Cut so that the whole stays within the cap: the session's sanitizer keeps it as is
        # (and still redacts it) rather than cutting our marker and miscounting.
        cut = max(0, limit - len(marker))
        return f"{joined[:cut]}…[truncated {self.total - cut} chars]"


class _State:
    """What a stream proxy shares with its finaliser (which must not hold the proxy)."""

    __slots__ = ("aggregator", "done", "failed_aggregating", "first", "iterator", "scope")

    def __init__(self, scope: CallScope, aggregator: StreamAggregator) -> None:
        self.scope = scope
        self.aggregator = aggregator
        self.done = False
        self.first = True
        self.failed_aggregating = False
        self.iterator: Any = None

    def take(self, chunk: Any) -> bool:
        """One chunk: first-token mark, aggregation; ``True``: hide it. Never raises."""
        if self.first:
            self.first = False
            self.scope.first_token()
        if self.failed_aggregating:
            return False
        try:
            return self.aggregator.add(chunk) is True
        except Exception as exc:
            # One bad chunk stops the aggregation (what follows would be wrong), not the stream.
            self.failed_aggregating = True
            problem(f"{self.scope.source}: aggregating a stream chunk", exc)
            return False

    def end(self, how: str, exc: BaseException | None = None) -> None:
        """End the call once: ``how`` is the :attr:`CallData.stream_end`. Never raises."""
        if self.done:
            return
        self.done = True
        fields: dict[str, Any] = {}
        try:
            fields = self.aggregator.fields()
        except Exception as failure:
            problem(f"{self.scope.source}: reading a stream's aggregate", failure)
        fields["stream"] = True
        fields["stream_end"] = how
        if exc is None:
            self.scope.finish(**fields)
        else:
            self.scope.fail(exc, **fields)

    def collected(self) -> None:
        """The proxy was collected: a stream left unfinished ends as abandoned."""
        self.end("abandoned")


def _start(proxy: Any, scope: CallScope, aggregator: StreamAggregator) -> _State:
    state = _State(scope, aggregator)
    proxy._self_state = state
    weakref.finalize(proxy, state.collected)
    return state


class SyncStream(wrapt.ObjectProxy[Any]):
    """A sync stream proxy (see :func:`stream_wrapper`)."""

    _self_state: _State

    def __init__(self, wrapped: Any, scope: CallScope, aggregator: StreamAggregator) -> None:
        super().__init__(wrapped)
        state = _start(self, scope, aggregator)
        # An iterator is read directly (its own methods stay the caller's); an iterable through
        # the iterator it gives.
        state.iterator = wrapped if hasattr(wrapped, "__next__") else iter(wrapped)

    def __iter__(self) -> SyncStream:
        return self

    def __next__(self) -> Any:
        state = self._self_state
        iterator = state.iterator
        while True:
            try:
                chunk = next(iterator)
            except StopIteration:
                state.end("completed")
                raise
            except BaseException as exc:
                state.end("error", exc)
                raise
            if not state.take(chunk):
                return chunk

    def close(self) -> Any:
        """Close the stream (the SDK's ``close``), ending the call as ``closed`` if it was not
        consumed to its end."""
        state = self._self_state
        try:
            close = getattr(self.__wrapped__, "close", None)
            return close() if callable(close) else None
        finally:
            state.end("closed")

    def __enter__(self) -> SyncStream:
        enter = getattr(self.__wrapped__, "__enter__", None)
        if callable(enter):
            enter()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        state = self._self_state
        try:
            exit_ = getattr(self.__wrapped__, "__exit__", None)
            return exit_(exc_type, exc, tb) if callable(exit_) else None
        finally:
            if exc is not None and not isinstance(exc, GeneratorExit):
                state.end("error", exc)
            else:
                state.end("closed")


class AsyncStream(wrapt.ObjectProxy[Any]):
    """An async stream proxy (see :func:`stream_wrapper`)."""

    _self_state: _State

    def __init__(self, wrapped: Any, scope: CallScope, aggregator: StreamAggregator) -> None:
        super().__init__(wrapped)
        state = _start(self, scope, aggregator)
        state.iterator = wrapped if hasattr(wrapped, "__anext__") else wrapped.__aiter__()

    def __aiter__(self) -> AsyncStream:
        return self

    async def __anext__(self) -> Any:
        state = self._self_state
        iterator = state.iterator
        while True:
            try:
                chunk = await iterator.__anext__()
            except StopAsyncIteration:
                state.end("completed")
                raise
            except BaseException as exc:
                state.end("error", exc)
                raise
            if not state.take(chunk):
                return chunk

    async def _close_with(self, name: str) -> Any:
        state = self._self_state
        try:
            close = getattr(self.__wrapped__, name, None)
            return (await close()) if callable(close) else None
        finally:
            state.end("closed")

    async def close(self) -> Any:
        """Close the stream (the SDK's async ``close``), ending the call as ``closed``."""
        return await self._close_with("close")

    async def aclose(self) -> Any:
        """``aclose`` of an async generator stream, ending the call as ``closed``."""
        return await self._close_with("aclose")

    async def __aenter__(self) -> AsyncStream:
        enter = getattr(self.__wrapped__, "__aenter__", None)
        if callable(enter):
            await enter()
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        state = self._self_state
        try:
            exit_ = getattr(self.__wrapped__, "__aexit__", None)
            return (await exit_(exc_type, exc, tb)) if callable(exit_) else None
        finally:
            if exc is not None:
                state.end("error", exc)
            else:
                state.end("closed")


def stream_wrapper(
    stream: Any,
    scope: CallScope,
    aggregator: StreamAggregator,
    *,
    is_async: bool | None = None,
) -> Any:
    """Hand ``stream`` back to the caller through a proxy that records it into ``scope``'s call
    (see the module). ``scope`` is detached from the context first: what the caller does while
    reading is not part of the call. ``is_async`` is found from the stream (``__anext__``) when
    not given. If the proxy cannot be made, the call is ended and the stream returned as is."""
    scope.detach()
    try:
        if is_async is None:
            is_async = hasattr(stream, "__anext__") or hasattr(stream, "__aiter__")
        if is_async:
            return AsyncStream(stream, scope, aggregator)
        return SyncStream(stream, scope, aggregator)
    except Exception as exc:
        problem(f"{scope.source}: wrapping a stream", exc)
        scope.finish(stream=True)
        return stream


#: What :func:`stream_wrapper` is, for annotations of integrations.
StreamWrapper = Callable[[Any, CallScope, StreamAggregator], Any]
