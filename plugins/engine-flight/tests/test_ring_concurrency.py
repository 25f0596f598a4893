"""The ring's writer takes no lock (see ``llmlog_engine_flight.ring``): attacks on that claim with
real threads and real signals. Every line written must be in the ring exactly once, whole and in
its writer's order, while chunks are sealed by full appends, the period ticker and ``seal_now``
at the same time; a signal handler that writes while its thread is sealing must not wait."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator

import pytest

from llmlog import LogEntry, Logger, Output, Severity
from llmlog_engine_flight import FlightRecorder
from llmlog_engine_flight.memory import MemoryBackend
from llmlog_engine_flight.recorder import RecorderOutput
from llmlog_engine_flight.ring import ChunkRing
from llmlog_engine_flight.snapshot import read_snapshot

WRITERS = 4


@pytest.fixture
def switch_often() -> Iterator[None]:
    """Threads switch every microsecond instead of every 5 ms: any window between two steps of
    an append or a seal is hit thousands of times a run."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


def by_writer(lines: list[bytes]) -> dict[int, list[int]]:
    """Each writer's ``i`` values in the order their lines are in the ring; every line must be
    whole JSON."""
    seen: dict[int, list[int]] = {}
    for line in lines:
        record = json.loads(line)
        seen.setdefault(record["w"], []).append(record["i"])
    return seen


def race(
    writer: Callable[[int], None], background: Callable[[], None], writing: threading.Event
) -> None:
    """WRITERS threads running ``writer(w)`` and one running ``background`` (until ``writing`` is
    cleared, once the writers are done), all started together."""
    threads = [threading.Thread(target=writer, args=(w,)) for w in range(WRITERS)]
    other = threading.Thread(target=background)
    for thread in [*threads, other]:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    writing.clear()
    other.join(timeout=30)


class Kept(MemoryBackend):
    """``memory``, keeping every chunk it seals (the ring itself keeps the last few)."""

    def __init__(self) -> None:
        self.sealed: list[bytes] = []

    def seal(self, raw: bytes | bytearray) -> bytes | bytearray:
        self.sealed.append(bytes(raw))
        return raw


# append_locked is what a build without the GIL appends with (ring.GIL): attacked here the same way.
@pytest.mark.parametrize("method", ["append", "append_locked"])
def test_threads_appending_while_chunks_are_sealed_lose_no_line_and_tear_none(
    switch_often: None, method: str
) -> None:
    count = 50_000
    chunk_bytes = 1_000
    backend = Kept()
    ring = ChunkRing(
        backend,
        min_age=3600,
        max_bytes=20_000,
        chunk_events=3,
        chunk_bytes=chunk_bytes,
        chunk_period=0.001,  # the ticker seals too, every quarter of a millisecond
    )
    ring.start()
    start = threading.Barrier(WRITERS + 1)
    writing = threading.Event()
    writing.set()

    append = getattr(ring, method)

    def writer(w: int) -> None:
        start.wait()
        for i in range(count):
            # Lengths vary so that a seal by size falls anywhere in a line.
            append(b'{"w":%d,"i":%d,"pad":"%s"}\n' % (w, i, b"x" * (i % 97)))

    def sealer() -> None:
        start.wait()
        while writing.is_set():
            ring.seal_now(wait=5.0)

    race(writer, sealer, writing)
    assert ring.seal_now(wait=5.0)
    ring.stop()

    assert not ring._active  # everything sealed
    lines = b"".join(backend.sealed).splitlines()
    assert by_writer(lines) == {w: list(range(count)) for w in range(WRITERS)}
    # A chunk's count may be off by a line appended between two steps of its seal; the sum not.
    assert sum(c.events for c in ring.chunks) + ring.evicted_events == WRITERS * count
    assert ring.dropped_events == 0
    assert len(backend.sealed) > 500  # sealed by count, size, ticker and hand, many times
    # A writer waits for another thread's seal once the open chunk is twice chunk_bytes; the
    # other writers may each have appended a line by then.
    assert max(map(len, backend.sealed)) <= 2 * chunk_bytes + WRITERS * 130


class InfoOnly(Output):
    """An output showing INFO and up: DEBUG entries go to the flight recorder alone."""

    def __init__(self) -> None:
        self.level = Severity.INFO

    def write(self, entry: LogEntry) -> None:
        pass


def test_the_flat_function_from_many_threads_while_snapshots_are_taken_loses_nothing(
    switch_often,
):
    count = 5_000
    fr = FlightRecorder(
        min_age=3600,
        max_bytes=1 << 30,
        backend="zstd",
        chunk_events=5,
        chunk_bytes=1_500,
        chunk_period=0.001,
    )
    fr.start()
    log = Logger(Severity.INFO, [InfoOnly(), RecorderOutput(fr)])
    assert log.dispatcher.emit_debug is not None  # the recorder's entry code is in use
    start = threading.Barrier(WRITERS + 1)
    writing = threading.Event()
    writing.set()
    snapshots = [0]

    def writer(w: int) -> None:
        start.wait()
        for i in range(count):
            log.debug("step", w=w, i=i)

    def snapshotter() -> None:
        start.wait()
        while writing.is_set():
            fr.write_to(io.BytesIO(), reason="attack")
            snapshots[0] += 1

    race(writer, snapshotter, writing)
    # The sealer may be seconds behind (a chunk every five events, threads switching every
    # microsecond); a snapshot waits for it two seconds only.
    assert fr.ring.seal_now(wait=60)
    path = fr.snapshot(reason="end")
    fr.stop()

    events = [e for e in read_snapshot(path).events if e.get("msg") == "step"]
    seen: dict[int, list[int]] = {}
    for event in events:
        seen.setdefault(event["fields"]["w"], []).append(event["fields"]["i"])
    assert seen == {w: list(range(count)) for w in range(WRITERS)}
    assert snapshots[0] > 0


SIGNALLED = textwrap.dedent(
    """
    import json, signal, sys
    from llmlog_engine_flight.memory import MemoryBackend
    from llmlog_engine_flight.ring import ChunkRing

    # Two events a chunk: the main thread is inside a seal much of the time, and the handler,
    # run at any point of it (between copying the chunk and cutting it too), appends and fills
    # the chunk and tries to seal it.
    ring = ChunkRing(MemoryBackend(), min_age=3600, max_bytes=1 << 30, chunk_events=2)
    ticks = 0
    def handler(signum, frame):  # a handler can interrupt another one: each takes its number
        global ticks
        n, ticks = ticks, ticks + 1
        ring.append(b'{"w":1,"i":%d}\\n' % n)
    signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, 0.00005, 0.00005)
    i = 0
    while ticks < 5000 and i < 10_000_000:
        ring.append(b'{"w":0,"i":%d}\\n' % i)
        i += 1
    signal.setitimer(signal.ITIMER_REAL, 0, 0)
    assert ring.seal_now(wait=5.0)
    seen = {}
    for line in b"".join(c.data for c in ring.chunks).splitlines():
        record = json.loads(line)
        seen.setdefault(str(record["w"]), []).append(record["i"])
    print(json.dumps({"main": seen["0"] == list(range(i)), "tick": sorted(seen["1"]) == list(range(ticks)),
                      "ticks": ticks, "events": sum(c.events for c in ring.chunks) == i + ticks}))
    """
)


def test_a_signal_handler_appending_while_its_thread_seals_never_waits_nor_loses():
    # Before, the writer's lock made the handler leave its line for later; now no writer waits
    # for anything. A handler that waited for its own thread's seal would hang here, one whose
    # line fell between a seal's copy and its cut would be lost.
    done = subprocess.run(
        [sys.executable, "-c", SIGNALLED], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result == {"main": True, "tick": True, "ticks": result["ticks"], "events": True}
    assert result["ticks"] >= 5000


def test_the_entry_codes_gate_follows_stop_and_start():
    # The flat function's one test for "running, and this thread noted" is a set that stop()
    # empties: nothing is recorded while stopped, and a restart records again.
    fr = FlightRecorder(min_age=3600, max_bytes=1 << 30)
    log = Logger(Severity.INFO, [InfoOnly(), RecorderOutput(fr)])
    assert log.dispatcher.emit_debug is not None

    def steps() -> list[int]:
        fr.ring.seal_now()
        lines = b"".join(chunk.data for chunk in fr.ring.chunks).splitlines()
        return [e["fields"]["i"] for e in map(json.loads, lines) if e.get("msg") == "step"]

    log.debug("step", i=0)  # not started
    fr.start()
    for i in range(1, 4):
        log.debug("step", i=i)  # the first one notes the thread, the others take the flat path
    fr.stop()
    for i in range(4, 6):
        log.debug("step", i=i)
    assert steps() == [1, 2, 3]
    fr.start()
    for i in range(6, 9):
        log.debug("step", i=i)
    assert steps() == [1, 2, 3, 6, 7, 8]
    fr.stop()


GC_DURING_SEALS = textwrap.dedent(
    """
    import gc, json, threading
    from llmlog_engine_flight import FlightRecorder

    # A chunk an event and a collection at almost every allocation: the collector runs inside
    # seals (which allocate), and the recorder's gc callback records, on the sealing thread.
    fr = FlightRecorder(min_age=3600, max_bytes=1 << 30, gc_pauses=True, chunk_events=1)
    fr.start()
    def work():
        gc.set_threshold(1)
        for i in range(1_000):
            fr.record("step", i=i)
        gc.set_threshold(700)
    worker = threading.Thread(target=work)  # not the main thread
    worker.start()
    worker.join()
    assert fr.ring.seal_now(wait=5.0)
    fr.stop()
    events = [json.loads(line) for c in fr.ring.chunks for line in c.data.splitlines()]
    print(json.dumps({"steps": [e["i"] for e in events if e["kind"] == "step"] == list(range(1_000)),
                      "gc": sum(e["kind"] == "gc" for e in events)}))
    """
)


def test_a_gc_callback_that_records_during_a_seal_on_another_thread_never_waits():
    # Before, a garbage-collector callback recording while its thread held the ring's lock (in a
    # seal) waited for that lock on any thread but the main one: forever.
    done = subprocess.run(
        [sys.executable, "-c", GC_DURING_SEALS], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["steps"] and result["gc"] > 50
