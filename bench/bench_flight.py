"""Flight recorder costs, with the reference points the targets were set against, in one run.

Cases (ns per event unless stated; each measured ``--samples`` times per round, rounds
interleaved; medians with p10–p90, ratios per round, the load before and after in the results):

* writer-visible cost of an ordinary event (a ~300-700 B mix of span starts, span ends and log
  records), ``zstd`` backend with background sealing, and ``memory`` backend, with the ring full
  and evicting (``max_bytes`` 4 MiB, ``--ring-mib``; 1 MiB with ``--quick``); reference points:
  ``orjson.dumps`` of the same event, and appending a tuple to a deque;
* stored bytes per ordinary event with ``zstd``;
* ``trace_region`` with no recorder running, against an empty ``with`` block, and with one running;
* a DEBUG log call while the recorder records DEBUG and every output is at INFO, against its
  floor: the same event (time, kind, thread, level, message, caller, fields) built by hand,
  encoded as the recorder encodes it and appended to an open chunk (``floors.flight_emitter``;
  the bytes are checked to be the recorder's, time and caller aside); with the ``zstd`` backend
  (its sealer thread compresses each full chunk and takes the GIL from the writer to start and to
  store it) and with ``memory``, the default, which seals on the writer's thread; the ring full
  and evicting, as in the writer cases, and both sides calling from the same loop;
* a native snapshot of about 100 MB of raw history with each backend, and the same bytes written,
  synced and renamed by hand (milliseconds).

Run::

    .venv/bin/python bench/bench_flight.py          # writes bench/results/flight.json
    .venv/bin/python bench/bench_flight.py --quick
    .venv/bin/python bench/bench_flight.py --distinct 600   # the same events, cache-warm
"""

from __future__ import annotations

import argparse
import collections
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
from common import Run, fmt_range, summary
from floors import flight_emitter

from llmlog import Logger, Output, Severity, TraceEvent, TraceEventType, state
from llmlog.flight import trace_region
from llmlog_engine_flight import FlightRecorder, RecorderOutput

TEXT = "The quick brown fox answers questions about retrieval-augmented generation. " * 3


def mix(n: int) -> list[tuple[str, dict]]:
    """An ordinary-event mix: span start (~300 B), span end (~160 B), log record (~330 B)."""
    out = []
    for i in range(n):
        k = i % 3
        if k == 0:
            out.append(
                (
                    "span",
                    {
                        "event": "start",
                        "operation": f"Predict:qa{i % 7}",
                        "inputs": {"question": TEXT[:150]},
                    },
                )
            )
        elif k == 1:
            out.append(
                ("span", {"event": "end", "duration_ms": i % 900, "outputs": {"answer": "Paris."}})
            )
        else:
            out.append(
                (
                    "log",
                    {
                        "level": "DEBUG",
                        "msg": TEXT[: 120 + i % 80],
                        "logger": "app.pipeline",
                        "fields": {"attempt": i % 4},
                    },
                )
            )
    return out


def writer_cost(
    backend: str, events: list[tuple[str, dict]], distinct: int = 0, ring_bytes: int = 4 << 20
) -> tuple[float, float]:
    """What recording adds on the writer's thread, per event, with the ring full and evicting (an
    always-on recorder's steady state: a growing ring also pays the kernel for fresh pages). The
    span events are built before the timed loop: a trace session builds its ``TraceEvent`` for
    its own file whether or not a recorder runs, so the recorder's cost starts where it is handed
    one. With ``distinct``, the first ``distinct`` events are repeated: they stay in the CPU's
    caches, as an event just built by a program does, instead of being read back from memory."""
    fr = FlightRecorder(min_age=3600, max_bytes=ring_bytes, backend=backend)
    fr.start()
    ts = time.time_ns()
    prepared = [
        TraceEvent(TraceEventType.SPAN, ts, "ab" * 16, f"{i // 3:016x}", None, data)
        if kind == "span"
        else data
        for i, (kind, data) in enumerate(events)
    ]
    if distinct:
        prepared = (prepared[:distinct] * (len(prepared) // distinct + 1))[: len(prepared)]
    record, record_trace = fr.record, fr.record_trace_event

    def write_all() -> None:
        for event in prepared:
            if type(event) is TraceEvent:
                record_trace(event)
            else:
                record("log", **event)

    for _ in range(1000):  # fill the ring (bounded: 4 MiB of zstd frames is ~650k events)
        if fr.ring.evicted_events:
            break
        write_all()
        fr.ring.seal_now(wait=30)
    start = time.perf_counter_ns()
    write_all()
    elapsed = (time.perf_counter_ns() - start) / len(events)
    fr.ring.seal_now(wait=30)
    stored = fr.ring.stored_bytes / max(1, sum(c.events for c in fr.ring.chunks))
    fr.stop()
    return elapsed, stored


def reference_costs(events: list[tuple[str, dict]]) -> tuple[float, float]:
    dumps = orjson.dumps
    start = time.perf_counter_ns()
    for _kind, data in events:
        dumps(data)
    t_dumps = (time.perf_counter_ns() - start) / len(events)
    ring: collections.deque = collections.deque(maxlen=10_000)
    start = time.perf_counter_ns()
    for kind, data in events:
        ring.append((time.time_ns(), kind, data))
    t_deque = (time.perf_counter_ns() - start) / len(events)
    return t_dumps, t_deque


class _Null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def region_costs(n: int) -> tuple[float, float, float]:
    null = _Null()
    assert state.annotating_recorder is None
    start = time.perf_counter_ns()
    for _ in range(n):
        with null:
            pass
    t_empty = (time.perf_counter_ns() - start) / n
    start = time.perf_counter_ns()
    for _ in range(n):
        with trace_region("step"):
            pass
    t_off = (time.perf_counter_ns() - start) / n
    fr = FlightRecorder(min_age=3600, max_bytes=1 << 30, backend="zstd")
    fr.start()
    start = time.perf_counter_ns()
    for _ in range(n):
        with trace_region("step"):
            pass
    t_on = (time.perf_counter_ns() - start) / n
    fr.stop()
    return t_empty, t_off, t_on


class InfoOnly(Output):
    def write(self, entry) -> None:
        pass


def debug_logger(backend: str, ring_bytes: int = 1 << 30) -> tuple[Logger, FlightRecorder]:
    fr = FlightRecorder(min_age=3600, max_bytes=ring_bytes, backend=backend, level=Severity.DEBUG)
    fr.start()
    info = InfoOnly()
    info.level = Severity.INFO
    return Logger(Severity.INFO, [info, RecorderOutput(fr)]), fr


def _calls(debug: Any, n: int) -> float:
    """ns per ``debug("cache lookup", item=i)``: the one loop both sides run. Each call reads its
    caller's line, found by walking the caller's line table up to the call, so the same call
    placed further into a function costs more: the same loop, in the same place, for both."""
    start = time.perf_counter_ns()
    for i in range(n):
        debug("cache lookup", item=i)
    return (time.perf_counter_ns() - start) / n


def debug_log_cost(n: int, backend: str = "zstd", ring_bytes: int = 4 << 20) -> float:
    """With the ring full and evicting, as in :func:`writer_cost`: a growing ring also pays the
    kernel for fresh pages, which the floor's chunk, dropped when full, never does."""
    log, fr = debug_logger(backend, ring_bytes)
    debug = log.debug
    for _ in range(1000):  # fill the ring (bounded: 4 MiB of zstd frames is ~650k events)
        if fr.ring.evicted_events:
            break
        _calls(debug, n)
        fr.ring.seal_now(wait=30)
    elapsed = _calls(debug, n)
    fr.stop()
    return elapsed


def debug_floor_cost(n: int) -> float:
    return _calls(flight_emitter(), n)


def check_debug_floor() -> None:
    """The floor's event line is the recorder's, its time, thread and caller aside."""
    log, fr = debug_logger("zstd")
    log.debug("cache lookup", item=7)
    ours = bytes(fr.ring._active).splitlines()[-1]
    fr.stop()
    debug = flight_emitter()
    debug("cache lookup", item=7)
    floor = bytes(debug.chunk()).splitlines()[-1]  # type: ignore[attr-defined]
    pattern = re.compile(rb'"(ts|tid|line)":\d+|"fn":"[^"]*"')
    a, b = pattern.sub(b"_", ours), pattern.sub(b"_", floor)
    assert a == b, f"the flight floor writes other bytes than the recorder:\n{a!r}\n{b!r}"


def snapshot_cost(raw_mb: int, backend: str, samples: int) -> dict[str, Any]:
    """A native snapshot of about ``raw_mb`` MB of raw history with ``backend``, ``samples``
    times (ms, each a new file: created under a temporary name, written, synced and renamed), and
    its floor: the same bytes written by hand the same way (``llmlog.ext.written_atomically``:
    create, write each chunk, ``fsync``, rename), so the disk's own cost is apart."""
    from llmlog.ext import written_atomically

    fr = FlightRecorder(min_age=3600, max_bytes=1 << 30, backend=backend)
    fr.start()
    events = mix(3000)
    ts = time.time_ns()
    while sum(c.raw_bytes for c in fr.ring.chunks) < raw_mb << 20:
        for i, (kind, data) in enumerate(events):
            if kind == "span":
                fr.record_trace_event(
                    TraceEvent(TraceEventType.SPAN, ts, "ab" * 16, f"{i:016x}", None, data)
                )
            else:
                fr.record("log", **data)
        fr.ring.seal_now(wait=60)
    raw = sum(c.raw_bytes for c in fr.ring.chunks)
    taken: list[float] = []
    floor: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(samples):
            start = time.perf_counter()
            path = fr.snapshot(Path(tmp) / f"s{n}{fr.backend.suffix}")
            taken.append((time.perf_counter() - start) * 1000)
            size = path.stat().st_size
            path.unlink()
            chunks = [c.data for c in fr.ring.chunks]
            start = time.perf_counter()
            with written_atomically(Path(tmp) / f"floor{n}") as fh:
                for data in chunks:
                    fh.write(data)
            floor.append((time.perf_counter() - start) * 1000)
            (Path(tmp) / f"floor{n}").unlink()
    fr.stop()
    return {"raw_bytes": raw, "file_bytes": size, "ms": summary(taken), "floor_ms": summary(floor)}


CASES = {
    "zstd writer ns/event": "zstd",
    "memory writer ns/event": "memory",
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--samples", type=int, default=3, help="samples per case and round")
    parser.add_argument("--snapshot-mb", type=int, default=100)
    parser.add_argument("--snapshot-samples", type=int, default=5)
    parser.add_argument(
        "--ring-mib", type=int, default=4, help="the ring's max_bytes in the writer cases (MiB)"
    )
    parser.add_argument(
        "--distinct",
        type=int,
        default=0,
        help="repeat this many distinct events (cache-warm) instead of --events distinct ones",
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--output", default=str(Path(__file__).parent / "results" / "flight.json"))
    args = parser.parse_args()
    if args.quick:
        args.events, args.rounds, args.samples, args.snapshot_mb = 6_000, 2, 2, 10
        args.snapshot_samples = 2
        args.ring_mib = 1
    run = Run(
        "bench_flight.py",
        rounds=args.rounds,
        samples=args.samples,
        events=args.events,
        distinct=args.distinct,
        ring_mib=args.ring_mib,
    )
    check_debug_floor()
    events = mix(args.events)
    stored: dict[str, list[float]] = collections.defaultdict(list)
    for r in range(args.rounds):
        for _ in range(args.samples):
            for name, backend in CASES.items():
                t, per_event = writer_cost(backend, events, args.distinct, args.ring_mib << 20)
                run.add(name, r, t)
                stored[backend].append(per_event)
            t_dumps, t_deque = reference_costs(events)
            run.add("orjson.dumps ns/event", r, t_dumps)
            run.add("deque.append tuple ns/event", r, t_deque)
            t_empty, t_off, t_on = region_costs(args.events)
            run.add("empty with ns", r, t_empty)
            run.add("trace_region off ns", r, t_off)
            run.add("trace_region off minus empty with ns", r, t_off - t_empty)
            run.add("trace_region on ns", r, t_on)
            run.add(
                "DEBUG log to recorder, outputs INFO ns",
                r,
                debug_log_cost(args.events, "zstd", args.ring_mib << 20),
            )
            run.add("DEBUG floor: event by hand ns", r, debug_floor_cost(args.events))
            run.add(
                "DEBUG log to recorder (memory), outputs INFO ns",
                r,
                debug_log_cost(args.events, "memory", args.ring_mib << 20),
            )
    snapshots = {
        backend: snapshot_cost(args.snapshot_mb, backend, args.snapshot_samples)
        for backend in ("memory", "zstd")
    }
    figures = {name: run.figure(name) for name in run.samples}
    ratios: dict[str, Any] = {
        "DEBUG to recorder/floor": run.ratio(
            "DEBUG log to recorder, outputs INFO ns", "DEBUG floor: event by hand ns"
        ),
        "DEBUG to recorder (memory)/floor": run.ratio(
            "DEBUG log to recorder (memory), outputs INFO ns", "DEBUG floor: event by hand ns"
        ),
        "memory writer/orjson.dumps": run.ratio("memory writer ns/event", "orjson.dumps ns/event"),
    }
    print(run.describe(), "\n")
    for name, figure in figures.items():
        print(f"  {name:42} {fmt_range(figure):>26}")
    for backend, key in (
        ("zstd", "DEBUG to recorder/floor"),
        ("memory", "DEBUG to recorder (memory)/floor"),
    ):
        r = ratios[key]
        print(
            f"  DEBUG to recorder ({backend}) / floor per round: "
            f"{r['median']:.2f}x [{r['min']:.2f}–{r['max']:.2f}]"
        )
    print(f"  zstd stored B/event: {min(stored['zstd']):.1f}–{max(stored['zstd']):.1f}")
    for backend, snap in snapshots.items():
        print(
            f"  {backend} snapshot of {snap['raw_bytes'] / 1e6:.0f} MB raw "
            f"({snap['file_bytes'] / 1e6:.1f} MB file): {fmt_range(snap['ms'], 1)} ms, "
            f"the same bytes written by hand {fmt_range(snap['floor_ms'], 1)} ms"
        )
    run.write(
        args.output,
        figures=figures,
        ratios=ratios,
        stored_bytes_per_event={k: summary(v) for k, v in stored.items()},
        snapshots=snapshots,
    )


if __name__ == "__main__":
    main()
