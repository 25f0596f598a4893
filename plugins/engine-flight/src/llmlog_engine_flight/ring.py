"""The chunked ring behind the flight recorder.

Events arrive as serialised JSON lines (``bytes``, each ending with its newline) and are appended
to the *active chunk*, one ``bytearray``. The chunk is sealed when it holds ``chunk_events``
events or ``chunk_bytes`` raw bytes, or when it is ``chunk_period`` seconds old. Sealing hands the
bytes to the backend (the ``zstd`` backend compresses; ``memory`` keeps them as they are), on a
background thread when the backend asks for it, and appends the sealed chunk to the ring.

Retention is Go's ``FlightRecorder`` rule at chunk granularity, run after every seal: keep the
newest chunk; walking back, keep older chunks until their stored size passes ``max_bytes`` or the
window reaches back further than ``min_age``; drop the rest. The chunk that crosses a threshold is
kept, so memory stays within ``max_bytes`` plus one chunk plus the open chunk. ``max_bytes`` wins
over ``min_age``.

The writer never blocks on I/O or compression, takes no lock (it waits for another thread's seal
only in the rare case :meth:`ChunkRing.full` describes) and never raises. Why one
``bytearray`` rather than a list of lines: thousands of small ``bytes`` objects held until a seal
cost the writer more in allocation than the encoding itself, and joining them needs the GIL on the
sealer thread.

How the writer goes without a lock: the active chunk is one ``bytearray`` for the ring's life,
never swapped. An append is one ``active += line``, which CPython runs without releasing the GIL
(``bytearray_iconcat`` calls no Python code), so no other thread and no signal handler sees half a
line. A seal copies the chunk (``bytes(active)``, also one step under the GIL) and deletes exactly
the copied bytes from its front (``del active[:n]``, which moves only what remains): a line
appended between the two steps stays for the next chunk, none is lost or taken twice. Sealers (a
full chunk's writer, the period ticker, ``seal_now``) take a seal lock among themselves; a writer
only tries it and, when another thread holds it, leaves the seal to the next append or the ticker
(it waits only when the open chunk has grown to twice ``chunk_bytes`` meanwhile, see
:meth:`ChunkRing.full`). It never waits for its own thread: a signal handler (or a
garbage-collector callback) that logs while its thread is sealing leaves the seal to that thread.
Every append takes a number from an ``itertools.count`` (one C call, atomic under the GIL) after
its line is in: the open chunk is full at a number, and a chunk's event count is the numbers
taken since the chunk before.

All this relies on the GIL. On a free-threaded build running without it (3.13t and later,
:data:`GIL` false) the single steps above are not atomic: there every append takes the seal lock
(:meth:`ChunkRing.append_locked`; reentrant, so a handler interrupting its own thread's seal
appends between two of the seal's steps, as above) and the recorder's flat function calls it
instead of appending inline.

When a full chunk goes to a background sealer that is waiting for the GIL, the writer yields it
once: a sealer starved by a busy writer would otherwise run only once per switch interval (5 ms)
and fall behind. If the sealer still falls behind by more than ``max_bytes`` of raw data, whole
pending chunks are dropped and counted.
"""

from __future__ import annotations

import itertools
import os
import queue
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from typing import BinaryIO, Protocol

import attrs

__all__ = ["ChunkRing", "RecorderBackend", "SealedChunk"]


class RecorderBackend(Protocol):
    """What a flight-recorder backend provides (registered through ``llmlog_register_recorders``).

    :attr name: the backend name.
    :attr suffix: the snapshot file suffix (``.jsonl`` or ``.jsonl.zst``).
    :attr background: seal on a background thread (for backends whose sealing costs CPU).
    :attr magic: the bytes every snapshot this backend writes starts with (``b""`` for plain
        JSON Lines): the snapshot reader picks the backend to :meth:`decode` a file with by it.
    """

    name: str
    suffix: str
    background: bool
    magic: bytes

    def seal(self, raw: bytes | bytearray) -> bytes | bytearray:
        """Turn the raw JSON lines of one chunk (ending with a newline) into stored bytes. The
        stored chunks of a ring, concatenated, must form a valid snapshot body. ``raw`` is not
        used by anyone else afterwards: a backend that keeps it as it is may return it (the ring
        stores a ``bytearray`` as an immutable ``bytes``)."""

    def decode(self, stream: BinaryIO, skipped: list[str] | None = None) -> Iterator[bytes]:
        """Undo :meth:`seal` for a snapshot file (concatenated chunks) open in ``stream``
        (seekable): its JSON lines, in pieces. Each piece must be small (64 KiB is the rule)
        and memory bounded independently of the file: a small compressed file may decode to
        gigabytes. A damaged part raises ``ValueError`` naming where it is, or, given
        ``skipped``, has that message appended there and is passed over."""


@attrs.frozen
class SealedChunk:
    """One immutable chunk of the ring."""

    seq: int
    t_min: int
    t_max: int
    events: int
    raw_bytes: int
    data: bytes


def _now_ns() -> int:
    return time.time_ns()


#: Whether the GIL runs (the writer's lock-free append relies on it; see the module docstring).
GIL: bool = getattr(sys, "_is_gil_enabled", lambda: True)()

_RINGS: weakref.WeakSet[ChunkRing] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    # A lock another thread held at the fork stays held in the child.
    for ring in list(_RINGS):
        ring._seal_lock = threading.RLock()


_fork_hook: list[bool] = []


class ChunkRing:
    """Chunks of recent events with Go's MinAge/MaxBytes retention; see the module docstring."""

    # Slots: the append path reads several attributes per event, at fixed offsets rather than
    # through an instance dict (fewer cache lines touched between a program's own work).
    __slots__ = (
        "__weakref__",
        "_active",
        "_active_t0",
        "_chunks_bytes",
        "_clock",
        "_count",
        "_counted",
        "_empty_seals",
        "_pending",
        "_pending_bytes",
        "_seal_at",
        "_seal_lock",
        "_sealer",
        "_sealer_idle",
        "_seq",
        "_stop",
        "_ticker",
        "backend",
        "chunk_bytes",
        "chunk_events",
        "chunk_period",
        "chunks",
        "dropped_chunks",
        "dropped_events",
        "evicted_events",
        "max_bytes",
        "min_age_ns",
    )

    def __init__(
        self,
        backend: RecorderBackend,
        *,
        min_age: float = 10.0,
        max_bytes: int = 10 << 20,
        chunk_events: int = 1024,
        chunk_bytes: int = 1 << 20,
        chunk_period: float = 1.0,
        clock: Callable[[], int] = _now_ns,
    ) -> None:
        self.backend = backend
        self.min_age_ns = int(min_age * 1e9)
        self.max_bytes = max_bytes
        self.chunk_events = chunk_events
        self.chunk_bytes = chunk_bytes
        self.chunk_period = chunk_period
        self._clock = clock
        #: Taken by sealers only (a writer waits for it only when the open chunk is twice full).
        # Reentrant only to know its owner (``_is_owned``, set in the same C call as the
        # lock): no seal runs inside another.
        self._seal_lock = threading.RLock()
        _RINGS.add(self)
        if not _fork_hook:  # registered with the first ring, not at import
            _fork_hook.append(True)
            os.register_at_fork(after_in_child=_after_fork_in_child)
        #: The open chunk: one bytearray for the ring's life (see the module docstring).
        self._active = bytearray()
        self._active_t0 = 0
        #: One number per append (and per seal); the open chunk is full at ``_seal_at``.
        self._count = itertools.count(1)
        self._seal_at = chunk_events
        self._counted = 0  # the number the last seal of a chunk took
        self._empty_seals = 0  # seals since then that found nothing
        self._seq = 0
        #: The sealed chunks, oldest first; replaced (never mutated) on every seal.
        self.chunks: tuple[SealedChunk, ...] = ()
        self._chunks_bytes = 0  # their stored size, kept by _retain
        self.dropped_events = 0
        self.dropped_chunks = 0
        self.evicted_events = 0
        self._pending: queue.SimpleQueue[tuple[bytes, int, int, int, threading.Event | None]] = (
            queue.SimpleQueue()
        )
        self._sealer_idle = False  # the sealer is waiting for work (not compressing)
        self._pending_bytes = 0
        self._stop = threading.Event()
        self._sealer: threading.Thread | None = None
        self._ticker: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the background threads (sealer if the backend wants one, and the period ticker)."""
        self._stop.clear()
        if self.backend.background:
            self._sealer = threading.Thread(
                target=self._seal_loop, name="llmlog-flight-sealer", daemon=True
            )
            self._sealer.start()
        self._ticker = threading.Thread(
            target=self._tick_loop, name="llmlog-flight-ticker", daemon=True
        )
        self._ticker.start()

    def stop(self) -> None:
        """Stop the threads; the ring keeps what it holds."""
        self._stop.set()
        self._pending.put((b"", 0, 0, 0, None))  # wake the sealer
        for thread in (self._sealer, self._ticker):
            if thread is not None:
                thread.join(timeout=5)
        self._sealer = self._ticker = None

    # -- writing ---------------------------------------------------------------------------------

    def append(self, line: bytes | bytearray) -> None:
        """Add one serialised event (a JSON line ending with its newline, and holding no other);
        seals the chunk when it is full (:meth:`full`). Takes no lock, never raises (but
        ``MemoryError``); safe from any thread and from a signal handler (see the module
        docstring). ``FlightRecorder.entry_code`` writes the same statements inline. Without
        the GIL, this is :meth:`append_locked`."""
        active = self._active
        if not active:
            self._active_t0 = self._clock()
        active += line
        if next(self._count) >= self._seal_at or len(active) >= self.chunk_bytes:
            self.full()

    def append_locked(self, line: bytes | bytearray) -> None:
        """:meth:`append` holding the seal lock, for a build without the GIL (:data:`GIL`)."""
        with self._seal_lock:
            active = self._active
            if not active:
                self._active_t0 = self._clock()
            active += line
            full = next(self._count) >= self._seal_at or len(active) >= self.chunk_bytes
        if full:
            self.full()

    if not GIL:  # pragma: no cover - a free-threaded build
        append = append_locked

    def full(self) -> None:
        """The open chunk holds ``chunk_bytes`` bytes or ``chunk_events`` events: seal it.

        When another sealer is at work, the next append (or the ticker) tries again; a seal is
        short, but a sealer thread can lose the GIL in the middle of one for a switch interval,
        during which writers go on: once the open chunk holds twice ``chunk_bytes``, a writer
        waits for that seal (up to a second), as every writer waited for the lock before. Never
        for a seal of its own thread (a signal handler or a garbage-collector callback that logs
        while its thread seals): that one could not end while it waits."""
        lock = self._seal_lock
        if lock._is_owned():  # type: ignore[attr-defined]  # this thread is in a seal (a handler)
            return
        if not lock.acquire(False) and (
            len(self._active) < 2 * self.chunk_bytes or not lock.acquire(timeout=1.0)
        ):
            return
        try:
            handed = self._seal_locked(None)
        finally:
            lock.release()
        if handed and self._sealer_idle:
            time.sleep(0)  # let the waiting sealer take the GIL and start compressing

    def seal_now(self, wait: float = 2.0) -> bool:
        """Seal the active chunk and wait (up to ``wait`` seconds) until every pending chunk is in
        the ring. Returns whether it finished in time (``False`` also when another sealer held
        the seal lock all that time, or this thread holds it: a signal handler calling this)."""
        deadline = time.monotonic() + wait
        lock = self._seal_lock
        if lock._is_owned() or not lock.acquire(timeout=wait):  # type: ignore[attr-defined]
            return False
        done = threading.Event()
        try:
            self._seal_locked(done)
        finally:
            lock.release()
        return done.wait(max(0.0, deadline - time.monotonic()))

    def _seal_locked(self, done: threading.Event | None) -> bool:
        """Seal what the open chunk holds (the seal lock held); whether it went to the sealer."""
        active = self._active
        # Each step is one under the GIL: whole lines only. A writer may append (and count) a
        # line between two of them: it stays for the next chunk and is counted in this one (a
        # chunk's count is then off by it, the sum over chunks never).
        count = next(self._count)
        raw = bytes(active)
        del active[: len(raw)]  # exactly those: what was appended since stays, in order
        t0 = self._active_t0
        # The next chunk's first append (which sees it empty) sets its own; this one stands for
        # a line appended between the steps above.
        self._active_t0 = self._clock()
        self._seal_at = count + self.chunk_events
        # Every append takes one number after its line is in, every seal one: the appends since
        # the last chunk sealed. An empty seal leaves its numbers to the next chunk.
        if raw:
            events = count - self._counted - self._empty_seals - 1
            self._counted, self._empty_seals = count, 0
        else:
            events = 0
            self._empty_seals += 1
        self._seq += 1
        seq = self._seq
        raw_bytes = len(raw)
        if self.backend.background and self._sealer is not None:
            if raw and self._pending_bytes + raw_bytes > max(self.max_bytes, self.chunk_bytes) * 2:
                # The sealer is far behind: drop this chunk (counted) rather than grow or block.
                self.dropped_chunks += 1
                self.dropped_events += events
                raw, events, raw_bytes = b"", 0, 0
            self._pending_bytes += raw_bytes
            self._pending.put((raw, seq, t0, events, done))
            return True
        self._store(raw, seq, t0, events)
        if done is not None:
            done.set()
        return False

    # -- sealing and retention -------------------------------------------------------------------

    def _seal_loop(self) -> None:
        get = self._pending.get
        while True:
            self._sealer_idle = True
            raw, seq, t0, events, done = get()
            self._sealer_idle = False
            if raw:
                self._store(raw, seq, t0, events)
                with self._seal_lock:  # a sealer thread: never interrupted by a handler
                    self._pending_bytes -= len(raw)
            if done is not None:
                done.set()
            if self._stop.is_set() and self._pending.empty():
                return

    def _tick_loop(self) -> None:
        period_ns = int(self.chunk_period * 1e9)
        while not self._stop.wait(self.chunk_period / 4):
            with self._seal_lock:
                if self._active and self._clock() - self._active_t0 >= period_ns:
                    self._seal_locked(None)

    def _store(self, raw: bytes | bytearray, seq: int, t0: int, events: int) -> None:
        if not raw:
            return
        try:
            data = self.backend.seal(raw)
        except Exception:
            self.dropped_chunks += 1
            self.dropped_events += events
            return
        if type(data) is not bytes:
            data = bytes(data)  # a backend returned the bytearray itself: keep an immutable copy
        chunk = SealedChunk(seq, t0, self._clock(), events, len(raw), data)
        self._retain(chunk)

    def _retain(self, newest: SealedChunk) -> None:
        # Go's endGeneration rule over whole chunks (the module docstring): walking back from the
        # newest, an older chunk is kept while the younger ones kept hold at most max_bytes and
        # its younger neighbour starts within min_age. Both only tighten as a chunk is older,
        # and a new chunk only tightens them for the chunks already kept, so the rule drops
        # chunks from the oldest end only. Tested there, a seal no longer walks every chunk kept
        # (in Python, as it did: its cost grew with the history kept); the new tuple's copy is C.
        # The tuple is replaced, never mutated, so a snapshot can copy the reference without a
        # lock.
        chunks = (*self.chunks, newest)
        size = self._chunks_bytes + len(newest.data)
        now = newest.t_max
        first = 0
        evicted_events = 0
        while first < len(chunks) - 1:
            oldest = chunks[first]
            if (
                size - len(oldest.data) <= self.max_bytes
                and now - chunks[first + 1].t_min <= self.min_age_ns
            ):
                break
            size -= len(oldest.data)
            evicted_events += oldest.events
            first += 1
        if first:
            chunks = chunks[first:]
            self.evicted_events += evicted_events
        self._chunks_bytes = size
        self.chunks = chunks

    # -- reading ---------------------------------------------------------------------------------

    @property
    def stored_bytes(self) -> int:
        """Bytes held by sealed chunks."""
        return sum(len(c.data) for c in self.chunks)
