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

The writer never blocks on I/O or compression and never raises. Why one ``bytearray`` rather than
a list of lines: thousands of small ``bytes`` objects held until a seal cost the writer more in
allocation than the encoding itself, and joining them needs the GIL on the sealer thread. A small
lock guards the append and the swap of a full chunk for an empty one. When it hands a chunk to a
background sealer that is waiting for the GIL, the writer yields it once: a sealer starved by a
busy writer would otherwise run only once per switch interval (5 ms) and fall behind. If the
sealer still falls behind by more than ``max_bytes`` of raw data, whole pending chunks are dropped
and counted.
"""

from __future__ import annotations

import collections
import os
import queue
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


#: Signal handlers run on the main thread only (see ChunkRing._acquire_or_defer).
_MAIN_THREAD = threading.main_thread().ident
_RINGS: weakref.WeakSet[ChunkRing] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    # A lock another thread held at the fork stays held in the child; the forking thread is
    # the child's main thread.
    global _MAIN_THREAD
    _MAIN_THREAD = threading.get_ident()
    for ring in list(_RINGS):
        ring._lock = threading.Lock()


_fork_hook: list[bool] = []


class ChunkRing:
    """Chunks of recent events with Go's MinAge/MaxBytes retention; see the module docstring."""

    # Slots: the append path reads several attributes per event, at fixed offsets rather than
    # through an instance dict (fewer cache lines touched between a program's own work).
    __slots__ = (
        "__weakref__",
        "_active",
        "_active_events",
        "_active_t0",
        "_clock",
        "_deferred",
        "_lock",
        "_pending",
        "_pending_bytes",
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
        self._lock = threading.Lock()
        self._deferred: collections.deque[bytes] = collections.deque()
        _RINGS.add(self)
        if not _fork_hook:  # registered with the first ring, not at import
            _fork_hook.append(True)
            os.register_at_fork(after_in_child=_after_fork_in_child)
        self._active = bytearray()
        self._active_events = 0
        self._active_t0 = 0
        self._seq = 0
        #: The sealed chunks, oldest first; replaced (never mutated) on every seal.
        self.chunks: tuple[SealedChunk, ...] = ()
        self.dropped_events = 0
        self.dropped_chunks = 0
        self.evicted_events = 0
        self._pending: queue.SimpleQueue[
            tuple[bytes | bytearray, int, int, int, threading.Event | None]
        ] = queue.SimpleQueue()
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

    def append(self, line: bytes) -> None:
        """Add one serialised event (a JSON line ending with its newline); seals the chunk when it
        is full. Never raises, never blocks for longer than the append lock, never deadlocks
        with a signal handler that logs (see :meth:`_acquire_or_defer`)."""
        # acquire/release costs half of ``with lock:`` here, and this runs for every event.
        lock = self._lock
        if not lock.acquire(False) and not self._acquire_or_defer(line):
            return
        try:
            if self._deferred:
                self._take_deferred()  # older than this line
            active = self._active
            if not active:
                self._active_t0 = self._clock()
            active += line
            self._active_events += 1
            if len(active) < self.chunk_bytes and self._active_events < self.chunk_events:
                return
            handed = self._seal_locked(None)
        finally:
            lock.release()
        if handed and self._sealer_idle:
            time.sleep(0)  # let the waiting sealer take the GIL and start compressing

    def _acquire_or_defer(self, line: bytes) -> bool:
        """The append lock is held. Another thread holds it only briefly: wait for it. But a
        signal handler runs on the main thread, possibly while the main thread itself holds the
        lock in the middle of an append, and waiting would wait forever. So the main thread
        never waits: it leaves its line for the next append, the ticker or a snapshot to take,
        in order, before anything else. Returns whether the lock is now held."""
        if threading.get_ident() != _MAIN_THREAD:
            self._lock.acquire()
            return True
        self._deferred.append(line)
        return False

    def _take_deferred(self) -> None:
        # With the lock held: lines a signal handler left while the lock was held.
        active, deferred = self._active, self._deferred
        if not active:
            self._active_t0 = self._clock()
        while deferred:
            active += deferred.popleft()
            self._active_events += 1

    def seal_now(self, wait: float = 2.0) -> bool:
        """Seal the active chunk and wait (up to ``wait`` seconds) until every pending chunk is in
        the ring. Returns whether it finished in time."""
        done = threading.Event()
        with self._lock:
            if self._deferred:
                self._take_deferred()
            self._seal_locked(done)
        return done.wait(wait)

    def _seal_locked(self, done: threading.Event | None) -> bool:
        """Swap the active chunk for an empty one and seal it; whether it went to the sealer."""
        raw, self._active = self._active, bytearray()
        events, self._active_events = self._active_events, 0
        t0 = self._active_t0
        self._seq += 1
        seq = self._seq
        raw_bytes = len(raw)
        if self.backend.background and self._sealer is not None:
            if raw and self._pending_bytes + raw_bytes > max(self.max_bytes, self.chunk_bytes) * 2:
                # The sealer is far behind: drop this chunk (counted) rather than grow or block.
                self.dropped_chunks += 1
                self.dropped_events += events
                raw, events, raw_bytes = bytearray(), 0, 0
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
                with self._lock:
                    self._pending_bytes -= len(raw)
            if done is not None:
                done.set()
            if self._stop.is_set() and self._pending.empty():
                return

    def _tick_loop(self) -> None:
        period_ns = int(self.chunk_period * 1e9)
        while not self._stop.wait(self.chunk_period / 4):
            with self._lock:
                if self._deferred:
                    self._take_deferred()
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
        # Go's endGeneration rule over whole chunks; the tuple is replaced, never mutated, so a
        # snapshot can copy the reference without a lock.
        previous = self.chunks
        keep = [newest]
        size = len(newest.data)
        now = newest.t_max
        for chunk in reversed(previous):
            if size > self.max_bytes or now - keep[-1].t_min > self.min_age_ns:
                break
            keep.append(chunk)
            size += len(chunk.data)
        kept = tuple(reversed(keep))
        evicted = len(previous) + 1 - len(kept)
        if evicted:
            self.evicted_events += sum(c.events for c in previous[:evicted])
        self.chunks = kept

    # -- reading ---------------------------------------------------------------------------------

    @property
    def stored_bytes(self) -> int:
        """Bytes held by sealed chunks."""
        return sum(len(c.data) for c in self.chunks)
