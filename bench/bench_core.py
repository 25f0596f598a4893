"""Core hot-path benchmark: llmlog against its honest floors and against stdlib logging, structlog
and loguru, in one run.

Three measurements:

1. **Filtered call**, a DEBUG call when the level is INFO, with three values: llmlog, structlog
   (its filtering logger, ``make_filtering_bound_logger``, cached, as structlog's performance docs
   recommend) and loguru with three keyword fields, ``log.debug("cache miss", user=…, attempt=…,
   model=…)``; the standard library with its own idiom, ``logger.debug("cache miss %s %d %s", a,
   b, c)``; and an empty Python function called with the same arguments.
2. **Enabled JSON entry to an in-memory sink**: the same record (timestamp, level, message, caller
   file/line/function, two fields) from every library into a sink that keeps the last line and
   counts bytes, against the honest floor (``floors.json_emitter``: the record built the way
   llmlog builds it, by hand, into the same sink) and, for reference, a bare ``orjson.dumps`` of a
   prebuilt dict.
3. **Enabled entry to a file, against its floor**, for each formatter (``json``, ``text``,
   ``logfmt``) with one write per entry (llmlog's default; the floor's ``os.write`` on an
   ``O_APPEND`` descriptor) and buffered (llmlog ``buffer_size = 65536``; the floor a 64 KiB
   buffered file), ``log.info("answer ready", user=…, attempt=…, model=…)``; a fresh file per
   sample, closed inside the timing. The floors write the same bytes as llmlog (checked at the
   start of every run, see ``floors.check_same_bytes``).

Method: each case runs ``--calls`` calls per sample and ``--samples`` samples per round; rounds
are interleaved across cases (``--rounds``). Figures are medians with p10–p90 over all samples;
ratios are taken per round (both sides measured under the same load) and given as median and
range. The load before and after is in the results file. Timings depend on the machine; compare
ratios. Run::

    .venv/bin/python bench/bench_core.py            # full run, writes bench/results/core.json
    .venv/bin/python bench/bench_core.py --quick    # fewer calls, for a smoke test
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from common import Run, fmt_range
from floors import FORMATS, check_same_bytes, json_emitter
from peers import StdlibOrjson, stdlib_for_speed, structlog_logger

import llmlog
from llmlog import Formatter, Logger, Output, Severity
from llmlog_formatter_json import JsonFormatter
from llmlog_formatter_logfmt import LogfmtFormatter
from llmlog_formatter_text import TextFormatter
from llmlog_output_file import FileOptions, FileOutput

Case = Callable[[int], None]
FileCase = Callable[[Path, int], Callable[[], None]]  # (directory, calls) -> run; setup untimed

USER, MODEL = "alice", "gpt-4o-mini"


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


# -- 1 and 2: filtered calls, enabled JSON entries to memory ----------------------------------------


def llmlog_cases() -> dict[str, Case]:
    sink = MemorySink()
    sink.level = Severity.DEBUG
    log = Logger(level=Severity.INFO, outputs=[sink])

    def filtered(n: int) -> None:
        debug = log.debug
        for i in range(n):
            debug("cache miss", user=USER, attempt=i, model=MODEL)

    def enabled(n: int) -> None:
        info = log.info
        for i in range(n):
            info("answer ready", user=USER, attempt=i)

    return {"filtered": filtered, "json": enabled}


def stdlib_cases() -> dict[str, Case]:
    stdlib_for_speed()
    logger = logging.getLogger("bench.stdlib")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    handler = logging.StreamHandler(Sink())  # type: ignore[arg-type]
    handler.setFormatter(StdlibOrjson())
    logger.addHandler(handler)

    def filtered(n: int) -> None:
        debug = logger.debug
        for i in range(n):
            debug("cache miss %s %d %s", USER, i, MODEL)

    def enabled(n: int) -> None:
        info = logger.info
        for i in range(n):
            info("answer ready", extra={"fields": {"user": USER, "attempt": i}})

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
        for i in range(n):
            debug("cache miss", user=USER, attempt=i, model=MODEL)

    def enabled(n: int) -> None:
        info = logger.info
        for i in range(n):
            info("answer ready", user=USER, attempt=i)

    return {"filtered": filtered, "json": enabled}


def loguru_cases() -> dict[str, Case]:
    from loguru import logger as base

    base.remove()
    sink = Sink()
    base.add(sink.write, level="INFO", serialize=True, enqueue=False, catch=False)
    logger = base.bind()

    def filtered(n: int) -> None:
        debug = logger.debug
        for i in range(n):
            debug("cache miss", user=USER, attempt=i, model=MODEL)

    def enabled(n: int) -> None:
        info = logger.info
        for i in range(n):
            info("answer ready", user=USER, attempt=i)

    return {"filtered": filtered, "json": enabled}


def baseline_cases() -> dict[str, Case]:
    record = {
        "timestamp": "2026-11-25T17:40:05.123456Z",
        "level": "INFO",
        "message": "answer ready",
        "file": "bench_core.py",
        "line": 60,
        "function": "enabled",
        "user": USER,
        "attempt": 1,
    }
    sink = Sink()

    def bare_dumps(n: int) -> None:
        dumps, write = orjson.dumps, sink.write
        for _ in range(n):
            write(dumps(record))

    emit = json_emitter(Sink.write, sink, newline=False)

    def floor(n: int) -> None:
        for i in range(n):
            emit("answer ready", user=USER, attempt=i)

    def empty_call(n: int) -> None:
        def f(msg: str, **kw: object) -> None:
            pass

        for i in range(n):
            f("cache miss", user=USER, attempt=i, model=MODEL)

    return {"json": bare_dumps, "filtered": empty_call, "floor": floor}


# -- 3: an entry to a file, llmlog against its floor, per formatter -------------------------------

FORMATTERS: dict[str, type[Formatter]] = {
    "json": JsonFormatter,
    "text": TextFormatter,
    "logfmt": LogfmtFormatter,
}
BUFFER = 65536


def llmlog_file_case(fmt: str, buffered: bool) -> FileCase:
    def setup(directory: Path, n: int) -> Callable[[], None]:
        options = FileOptions(buffer_size=BUFFER if buffered else 0)
        out = FileOutput(directory / "llmlog.log", FORMATTERS[fmt](), options)
        log = Logger(Severity.INFO, [out])

        def run() -> None:
            info = log.info
            for i in range(n):
                info("answer ready", user=USER, attempt=i, model=MODEL)
            out.close()

        return run

    return setup


def floor_file_case(fmt: str, buffered: bool) -> FileCase:
    def setup(directory: Path, n: int) -> Callable[[], None]:
        path = directory / "floor.log"
        if buffered:
            fh = open(path, "ab", buffering=BUFFER)  # noqa: SIM115
            info = FORMATS[fmt](io.BufferedWriter.write, fh)
            finish: Callable[[], None] = fh.close
        else:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            info = FORMATS[fmt](os.write, fd)

            def finish() -> None:
                os.close(fd)

        def run() -> None:
            for i in range(n):
                info("answer ready", user=USER, attempt=i, model=MODEL)
            finish()

        return run

    return setup


def file_cases() -> dict[str, FileCase]:
    cases: dict[str, FileCase] = {}
    for fmt in FORMATTERS:
        for buffered in (False, True):
            mode = "buffered" if buffered else "write"
            cases[f"file.{fmt}.{mode}.floor"] = floor_file_case(fmt, buffered)
            cases[f"file.{fmt}.{mode}.llmlog"] = llmlog_file_case(fmt, buffered)
    return cases


def timed(fn: Case, calls: int) -> float:
    start = time.perf_counter_ns()
    fn(calls)
    return (time.perf_counter_ns() - start) / calls


def timed_file(case: FileCase, base: Path, calls: int) -> float:
    directory = Path(tempfile.mkdtemp(dir=base))
    try:
        run = case(directory, calls)
        start = time.perf_counter_ns()
        run()
        return (time.perf_counter_ns() - start) / calls
    finally:
        shutil.rmtree(directory)


LIBS = ("llmlog", "stdlib", "structlog", "loguru")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=20_000, help="calls per sample")
    parser.add_argument("--samples", type=int, default=3, help="samples per case and round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--output", default=str(Path(__file__).parent / "results" / "core.json"))
    args = parser.parse_args()
    if args.quick:
        args.calls, args.samples, args.rounds = 2_000, 2, 2

    run = Run("bench_core.py", rounds=args.rounds, samples=args.samples, calls=args.calls)
    base = Path(tempfile.mkdtemp(prefix="llmlog-bench-core-"))
    try:
        check_same_bytes(base)
        libraries = {
            "baseline": baseline_cases(),
            "llmlog": llmlog_cases(),
            "stdlib": stdlib_cases(),
            "structlog": structlog_cases(),
            "loguru": loguru_cases(),
        }
        memory = {
            f"{case}.{lib}": fn for lib, cases in libraries.items() for case, fn in cases.items()
        }
        files = file_cases()
        for fn in memory.values():  # warm-up
            fn(min(args.calls, 2_000))
        for case in files.values():
            timed_file(case, base, min(args.calls, 2_000))
        for round_no in range(args.rounds):
            for name, fn in memory.items():
                for _ in range(args.samples):
                    run.add(name, round_no, timed(fn, args.calls))
            for name, case in files.items():
                for _ in range(args.samples):
                    run.add(name, round_no, timed_file(case, base, args.calls))
    finally:
        shutil.rmtree(base, ignore_errors=True)

    figures = {name: run.figure(name) for name in run.samples}
    ratios: dict[str, Any] = {}
    for lib in LIBS:
        ratios[f"filtered.{lib}/stdlib"] = run.ratio(f"filtered.{lib}", "filtered.stdlib")
        ratios[f"filtered.{lib}/structlog"] = run.ratio(f"filtered.{lib}", "filtered.structlog")
        ratios[f"json.{lib}/floor"] = run.ratio(f"json.{lib}", "floor.baseline")
        ratios[f"json.{lib}/llmlog"] = run.ratio(f"json.{lib}", "json.llmlog")
    ratios["filtered.baseline/stdlib"] = run.ratio("filtered.baseline", "filtered.stdlib")
    ratios["filtered.baseline/structlog"] = run.ratio("filtered.baseline", "filtered.structlog")
    ratios["json.baseline/floor"] = run.ratio("json.baseline", "floor.baseline")
    for fmt in FORMATTERS:
        for mode in ("write", "buffered"):
            key = f"file.{fmt}.{mode}"
            ratios[f"{key}.llmlog/floor"] = run.ratio(f"{key}.llmlog", f"{key}.floor")

    print(run.describe(), "\n")
    print("Filtered call (DEBUG when the level is INFO), ns/call; x stdlib, x structlog:")
    for lib, label in [("baseline", "empty Python call")] + [(lib, lib) for lib in LIBS]:
        f, a, b = (
            figures[f"filtered.{lib}"],
            ratios[f"filtered.{lib}/stdlib"],
            ratios[f"filtered.{lib}/structlog"],
        )
        print(f"  {label:18} {fmt_range(f):>24}   {a['median']:5.2f}x   {b['median']:5.2f}x")
    print("\nEnabled JSON entry to an in-memory sink, ns/entry; x floor:")
    rows = [("bare orjson.dumps", "json.baseline"), ("floor (by hand)", "floor.baseline")]
    rows += [(lib, f"json.{lib}") for lib in LIBS]
    for label, name in rows:
        ratio = (
            "1.00x" if name == "floor.baseline" else f"{ratios[name + '/floor']['median']:5.2f}x"
        )
        print(f"  {label:18} {fmt_range(figures[name]):>24}   {ratio}")
    print("\nEnabled entry to a file, ns/entry; llmlog / floor per round [min–max]:")
    for fmt in FORMATTERS:
        for mode in ("write", "buffered"):
            key = f"file.{fmt}.{mode}"
            r = ratios[f"{key}.llmlog/floor"]
            print(
                f"  {fmt:6} {mode:8} floor {fmt_range(figures[key + '.floor']):>22}"
                f"   llmlog {fmt_range(figures[key + '.llmlog']):>24}"
                f"   {r['median']:.2f}x [{r['min']:.2f}–{r['max']:.2f}]"
            )
    run.write(args.output, ns_per_call=figures, ratios=ratios)


if __name__ == "__main__":
    main()
