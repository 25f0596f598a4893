"""Core hot-path benchmark: llmlog against stdlib logging, structlog and loguru, in one run.

Two measurements, as the foundation issue defines them:

1. **Filtered call**: ``log.debug("...", x=1)`` when the level is INFO.
2. **Enabled JSON entry to an in-memory sink**: a timestamped JSON record with level, message,
   caller (file, line, function) and two fields, handed to a sink that keeps the last line and
   counts bytes (keeping every line would measure page faults, not logging). Every library is set
   up to produce that same record. Two baselines: a bare ``orjson.dumps`` of an equivalent prebuilt
   dict (pure encoding), and "by hand": a function that builds the same record inline (``datetime``
   timestamp, ``sys._getframe`` caller, dict, ``orjson.dumps``) with no logging library.

Method: each case runs ``--calls`` calls per round; rounds are interleaved across libraries
(``--rounds``), and the median per-call time is reported, with ratios to the baselines. Timings are
machine-dependent; ratios are what to compare. Run::

    .venv/bin/python bench/bench_core.py            # full run, writes bench/results/core.json
    .venv/bin/python bench/bench_core.py --quick    # fewer calls, for a smoke test
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import orjson
from peers import StdlibOrjson, structlog_logger

import llmlog
from llmlog import Logger, Output, Severity
from llmlog_formatter_json import JsonFormatter

Case = Callable[[int], None]


class Sink:
    """The in-memory sink every library writes to: keeps the last line, counts bytes."""

    def __init__(self) -> None:
        self.last: object = None
        self.size = 0

    def write(self, data: str | bytes) -> None:
        self.last = data
        self.size += len(data)

    def flush(self) -> None:
        pass


class MemorySink(Output):
    """llmlog output rendering JSON into a :class:`Sink`."""

    def __init__(self) -> None:
        self.sink = Sink()
        self._format = JsonFormatter().format_bytes

    def write(self, entry: llmlog.LogEntry) -> None:
        self.sink.write(self._format(entry))


def llmlog_cases() -> dict[str, Case]:
    sink = MemorySink()
    sink.level = Severity.DEBUG
    log = Logger(level=Severity.INFO, outputs=[sink])

    def filtered(n: int) -> None:
        debug = log.debug
        for _ in range(n):
            debug("cache miss", key=1)

    def enabled(n: int) -> None:
        info = log.info
        for i in range(n):
            info("answer ready", user="alice", attempt=i)

    return {"filtered": filtered, "json": enabled}


def stdlib_cases() -> dict[str, Case]:
    logger = logging.getLogger("bench.stdlib")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    handler = logging.StreamHandler(Sink())  # type: ignore[arg-type]
    handler.setFormatter(StdlibOrjson())
    logger.addHandler(handler)

    def filtered(n: int) -> None:
        debug = logger.debug
        for _ in range(n):
            debug("cache miss", extra={"fields": {"key": 1}})

    def enabled(n: int) -> None:
        info = logger.info
        for i in range(n):
            info("answer ready", extra={"fields": {"user": "alice", "attempt": i}})

    return {"filtered": filtered, "json": enabled}


def structlog_cases() -> dict[str, Case]:
    sink = Sink()

    class SinkLogger:
        def msg(self, message: bytes) -> None:
            sink.write(message)

        info = debug = msg

    logger = structlog_logger(SinkLogger())

    def filtered(n: int) -> None:
        debug = logger.debug
        for _ in range(n):
            debug("cache miss", key=1)

    def enabled(n: int) -> None:
        info = logger.info
        for i in range(n):
            info("answer ready", user="alice", attempt=i)

    return {"filtered": filtered, "json": enabled}


def loguru_cases() -> dict[str, Case]:
    from loguru import logger as base

    base.remove()
    sink = Sink()
    base.add(sink.write, level="INFO", serialize=True, enqueue=False, catch=False)
    logger = base.bind()

    def filtered(n: int) -> None:
        debug = logger.debug
        for _ in range(n):
            debug("cache miss", key=1)

    def enabled(n: int) -> None:
        info = logger.info
        for i in range(n):
            info("answer ready", user="alice", attempt=i)

    return {"filtered": filtered, "json": enabled}


def baseline_cases() -> dict[str, Case]:
    record = {
        "timestamp": "2026-11-25T17:40:05.123456Z",
        "level": "INFO",
        "message": "answer ready",
        "file": "bench_core.py",
        "line": 60,
        "function": "enabled",
        "user": "alice",
        "attempt": 1,
    }
    sink = Sink()

    def bare_dumps(n: int) -> None:
        dumps, write = orjson.dumps, sink.write
        for _ in range(n):
            write(dumps(record))

    def emit(message: str, **fields: object) -> None:
        frame = sys._getframe(1)
        code = frame.f_code
        sink.write(
            orjson.dumps(
                {
                    "timestamp": datetime.now(UTC).isoformat(),
                    "level": "INFO",
                    "message": message,
                    "file": os.path.basename(code.co_filename),
                    "line": frame.f_lineno,
                    "function": code.co_qualname,
                    **fields,
                }
            )
        )

    def by_hand(n: int) -> None:
        for i in range(n):
            emit("answer ready", user="alice", attempt=i)

    def empty_call(n: int) -> None:
        def f(msg: str, **kw: object) -> None:
            pass

        for _ in range(n):
            f("cache miss", key=1)

    return {"json": bare_dumps, "filtered": empty_call, "by_hand": by_hand}


def measure(fn: Case, calls: int) -> float:
    start = time.perf_counter_ns()
    fn(calls)
    return (time.perf_counter_ns() - start) / calls


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--output", default=str(Path(__file__).parent / "results" / "core.json"))
    args = parser.parse_args()
    if args.quick:
        args.calls, args.rounds = 5_000, 3

    libraries = {
        "baseline": baseline_cases(),
        "llmlog": llmlog_cases(),
        "stdlib": stdlib_cases(),
        "structlog": structlog_cases(),
        "loguru": loguru_cases(),
    }
    samples: dict[tuple[str, str], list[float]] = {}
    for cases in libraries.values():  # warm-up
        for fn in cases.values():
            fn(min(args.calls, 2_000))
    for _ in range(args.rounds):
        for lib, cases in libraries.items():
            for case, fn in cases.items():
                samples.setdefault((lib, case), []).append(measure(fn, args.calls))

    medians = {k: statistics.median(v) for k, v in samples.items()}
    results = {
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "calls": args.calls,
        "rounds": args.rounds,
        "ns_per_call": {f"{lib}.{case}": round(v, 1) for (lib, case), v in medians.items()},
    }
    print(
        f"Python {results['python']} on {results['machine']}; {args.rounds} interleaved rounds x {args.calls} calls; medians\n"
    )
    print("Filtered call (DEBUG when the level is INFO):")
    std = medians[("stdlib", "filtered")]
    for lib in ("baseline", "llmlog", "stdlib", "structlog", "loguru"):
        ns = medians[(lib, "filtered")]
        label = "empty Python call" if lib == "baseline" else lib
        print(f"  {label:18} {ns:8.1f} ns   {ns / std:5.2f}x stdlib")
    print("\nEnabled JSON entry to an in-memory sink:")
    bare = medians[("baseline", "json")]
    hand = medians[("baseline", "by_hand")]
    ours = medians[("llmlog", "json")]
    rows = [("bare orjson.dumps", bare), ("by hand", hand)]
    rows += [(lib, medians[(lib, "json")]) for lib in ("llmlog", "stdlib", "structlog", "loguru")]
    for label, ns in rows:
        print(
            f"  {label:18} {ns:8.1f} ns   {ns / bare:5.2f}x bare   {ns / hand:5.2f}x by hand   {ns / ours:5.2f}x llmlog"
        )
    results["ratios"] = {
        "llmlog_filtered_vs_stdlib": round(medians[("llmlog", "filtered")] / std, 3),
        "llmlog_json_vs_bare_orjson": round(ours / bare, 3),
        "llmlog_json_vs_by_hand": round(ours / hand, 3),
        "stdlib_json_vs_llmlog": round(medians[("stdlib", "json")] / ours, 3),
        "structlog_json_vs_llmlog": round(medians[("structlog", "json")] / ours, 3),
        "loguru_json_vs_llmlog": round(medians[("loguru", "json")] / ours, 3),
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {args.output}")


if __name__ == "__main__":
    main()
