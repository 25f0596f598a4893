"""File output benchmark: llmlog's ``file`` output against stdlib logging, structlog and loguru.

Every case writes the same JSON record (timestamp, level, message, caller, three fields) to a fresh
file, with the same flushing policy on both sides:

* **one write per entry** (the default, durable mode): llmlog ``buffer_size = 0``; structlog
  ``BytesLogger`` on an unbuffered binary file; stdlib ``FileHandler`` (it flushes every record);
  loguru ``serialize=True`` on a line-buffered file. The floor is the record built by hand the
  way llmlog builds it (``floors.json_emitter``: the same bytes) written with ``os.write`` on an
  ``O_APPEND`` descriptor; for reference, a bare ``orjson.dumps`` of a prebuilt dict plus
  ``os.write`` shows what the I/O and encoding alone cost.
* **buffered**: llmlog ``buffer_size = 65536``; structlog on a 64 KiB buffered file through
  ``peers.NoFlushBytesLogger`` (structlog's own ``BytesLogger`` flushes every line, which would
  make it one write per entry again); the floor is the by-hand record into a 64 KiB buffered
  file (and the bare reference the same).
* **rotation on**: llmlog with ``rotation.max_bytes = 10 MiB`` (it rotates during the run) against
  stdlib's ``RotatingFileHandler`` (text, as commonly configured, and JSON).
* **4 threads into one file**: total lines per second for llmlog and structlog; afterwards every
  line of both files is parsed and counted. It depends most on whether the other cores are idle.

Each case runs ``--samples`` times per round, rounds interleaved; figures are medians with p10–p90
over all samples, ratios per round (median and range), with the load before and after in the
results file (see ``common.py``). Run::

    .venv/bin/python bench/bench_file.py            # writes bench/results/file.json
    .venv/bin/python bench/bench_file.py --quick
"""

from __future__ import annotations

import argparse
import io
import logging
import logging.handlers
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from common import Run, fmt_range
from floors import json_emitter
from peers import NoFlushBytesLogger, StdlibOrjson, stdlib_for_speed, structlog_logger

from llmlog import Logger, Severity
from llmlog_formatter_json import JsonFormatter
from llmlog_output_file import FileOptions, FileOutput, RotationOptions

RECORD = {
    "timestamp": "2026-11-25T17:40:05.123456Z",
    "level": "INFO",
    "message": "answer ready",
    "file": "bench_file.py",
    "line": 60,
    "function": "run",
    "user": "alice",
    "attempt": 1,
    "model": "gpt-4o-mini",
}

Case = Callable[[Path, int], Callable[[], None]]  # (directory, calls) -> run; setup outside timing


BUFFER = 65536


def bare_unbuffered(directory: Path, n: int) -> Callable[[], None]:
    fd = os.open(directory / "bare.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def run() -> None:
        dumps, write, newline = orjson.dumps, os.write, orjson.OPT_APPEND_NEWLINE
        for _ in range(n):
            write(fd, dumps(RECORD, option=newline))
        os.close(fd)

    return run


def bare_buffered(directory: Path, n: int) -> Callable[[], None]:
    fh = open(directory / "bare.log", "ab", buffering=BUFFER)  # noqa: SIM115

    def run() -> None:
        dumps, write, newline = orjson.dumps, fh.write, orjson.OPT_APPEND_NEWLINE
        for _ in range(n):
            write(dumps(RECORD, option=newline))
        fh.close()

    return run


def floor_unbuffered(directory: Path, n: int) -> Callable[[], None]:
    fd = os.open(directory / "floor.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    info = json_emitter(os.write, fd)

    def run() -> None:
        for i in range(n):
            info("answer ready", user="alice", attempt=i, model="gpt-4o-mini")
        os.close(fd)

    return run


def floor_buffered(directory: Path, n: int) -> Callable[[], None]:
    fh = open(directory / "floor.log", "ab", buffering=BUFFER)  # noqa: SIM115
    info = json_emitter(io.BufferedWriter.write, fh)

    def run() -> None:
        for i in range(n):
            info("answer ready", user="alice", attempt=i, model="gpt-4o-mini")
        fh.close()

    return run


def llmlog_case(buffer_size: int = 0, max_bytes: int = 0) -> Case:
    def setup(directory: Path, n: int) -> Callable[[], None]:
        options = FileOptions(
            buffer_size=buffer_size, rotation=RotationOptions(max_bytes=max_bytes)
        )
        out = FileOutput(directory / "llmlog.log", JsonFormatter(), options)
        log = Logger(Severity.INFO, [out])

        def run() -> None:
            info = log.info
            for i in range(n):
                info("answer ready", user="alice", attempt=i, model="gpt-4o-mini")
            out.close()

        return run

    return setup


def structlog_case(buffered: bool) -> Case:
    import structlog

    def setup(directory: Path, n: int) -> Callable[[], None]:
        fh = open(directory / "structlog.log", "ab", buffering=BUFFER if buffered else 0)  # noqa: SIM115
        writer = NoFlushBytesLogger(fh) if buffered else structlog.BytesLogger(fh)
        logger = structlog_logger(writer)

        def run() -> None:
            info = logger.info
            for i in range(n):
                info("answer ready", user="alice", attempt=i, model="gpt-4o-mini")
            fh.close()

        return run

    return setup


_stdlib_counter = iter(range(10**9))


def stdlib_case(rotating: bool, json_format: bool) -> Case:
    def setup(directory: Path, n: int) -> Callable[[], None]:
        stdlib_for_speed()
        logger = logging.getLogger(f"bench.file.{next(_stdlib_counter)}")
        logger.propagate = False
        logger.setLevel(logging.INFO)
        path = directory / "stdlib.log"
        if rotating:
            handler: logging.Handler = logging.handlers.RotatingFileHandler(
                path, maxBytes=10 << 20, backupCount=10
            )
        else:
            handler = logging.FileHandler(path)
        handler.setFormatter(
            StdlibOrjson()
            if json_format
            else logging.Formatter(
                "%(asctime)s %(levelname)s %(filename)s:%(lineno)d %(funcName)s %(message)s"
            )
        )
        logger.addHandler(handler)

        def run() -> None:
            info = logger.info
            for i in range(n):
                info(
                    "answer ready",
                    extra={"fields": {"user": "alice", "attempt": i, "model": "gpt-4o-mini"}},
                )
            handler.close()
            logger.removeHandler(handler)

        return run

    return setup


def loguru_case(directory: Path, n: int) -> Callable[[], None]:
    from loguru import logger as base

    base.remove()
    sink_id = base.add(
        directory / "loguru.log", serialize=True, buffering=1, enqueue=False, catch=False
    )
    logger = base.bind()

    def run() -> None:
        info = logger.info
        for i in range(n):
            info("answer ready", user="alice", attempt=i, model="gpt-4o-mini")
        base.remove(sink_id)

    return run


def threaded(kind: str, directory: Path, per_thread: int) -> tuple[float, Path]:
    """Four threads into one file; returns (lines per second, path)."""
    path = directory / f"{kind}-threads.log"
    if kind == "llmlog":
        out = FileOutput(path, JsonFormatter(), FileOptions())
        log = Logger(Severity.INFO, [out])
        emit = log.info
        finish = out.close
    else:
        import structlog

        fh = open(path, "ab", buffering=0)  # noqa: SIM115
        slog = structlog_logger(structlog.BytesLogger(fh))
        emit = slog.info
        finish = fh.close

    def work(t: int) -> None:
        for i in range(per_thread):
            emit("answer ready", thread=t, i=i, model="gpt-4o-mini")

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    finish()
    return 4 * per_thread / elapsed, path


def verify_threaded(path: Path, per_thread: int) -> None:
    seen = set()
    for line in path.read_bytes().splitlines():
        record = orjson.loads(line)  # raises on a torn line
        seen.add((record["thread"], record["i"]))
    assert len(seen) == 4 * per_thread, (
        f"{path.name}: {len(seen)} distinct lines, expected {4 * per_thread}"
    )


CASES: dict[str, Case] = {
    "bare dumps + os.write": bare_unbuffered,
    "floor, write per entry": floor_unbuffered,
    "llmlog, write per entry": llmlog_case(),
    "structlog, write per entry": structlog_case(buffered=False),
    "stdlib FileHandler JSON": stdlib_case(rotating=False, json_format=True),
    "loguru serialize=True": loguru_case,
    "llmlog, rotation on": llmlog_case(max_bytes=10 << 20),
    "stdlib RotatingFileHandler text": stdlib_case(rotating=True, json_format=False),
    "stdlib RotatingFileHandler JSON": stdlib_case(rotating=True, json_format=True),
    "bare dumps + buffered write": bare_buffered,
    "floor, buffered": floor_buffered,
    "llmlog, buffered 64 KiB": llmlog_case(buffer_size=65536),
    "structlog, buffered": structlog_case(buffered=True),
}


GROUPS: list[tuple[str, str, str, list[str]]] = [
    (
        "write",
        "floor, write per entry",
        "llmlog, write per entry",
        [
            "bare dumps + os.write",
            "llmlog, write per entry",
            "structlog, write per entry",
            "stdlib FileHandler JSON",
            "loguru serialize=True",
        ],
    ),
    (
        "rotation",
        "floor, write per entry",
        "llmlog, write per entry",
        [
            "llmlog, rotation on",
            "stdlib RotatingFileHandler text",
            "stdlib RotatingFileHandler JSON",
        ],
    ),
    (
        "buffered",
        "floor, buffered",
        "llmlog, buffered 64 KiB",
        ["bare dumps + buffered write", "llmlog, buffered 64 KiB", "structlog, buffered"],
    ),
]
THREADS = ("llmlog", "structlog")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=20_000, help="entries per sample")
    parser.add_argument("--samples", type=int, default=3, help="samples per case and round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--dir", help="where to write (default: a temporary directory)")
    parser.add_argument("--output", default=str(Path(__file__).parent / "results" / "file.json"))
    args = parser.parse_args()
    if args.quick:
        args.calls, args.samples, args.rounds = 3_000, 2, 2

    run = Run("bench_file.py", rounds=args.rounds, samples=args.samples, calls=args.calls)
    base = Path(tempfile.mkdtemp(prefix="llmlog-bench-", dir=args.dir))
    sample_no = 0
    try:
        for round_no in range(args.rounds):
            for name, case in CASES.items():
                for _ in range(args.samples):
                    directory = base / f"s{sample_no}"
                    sample_no += 1
                    directory.mkdir(parents=True)
                    go = case(directory, args.calls)
                    start = time.perf_counter_ns()
                    go()
                    run.add(name, round_no, (time.perf_counter_ns() - start) / args.calls)
                    shutil.rmtree(directory)
            for _ in range(args.samples):
                for kind in THREADS:
                    directory = base / f"s{sample_no}"
                    sample_no += 1
                    directory.mkdir(parents=True)
                    rate, path = threaded(kind, directory, args.calls // 4)
                    verify_threaded(path, args.calls // 4)
                    run.add(f"threads.{kind}", round_no, rate)
                    shutil.rmtree(directory)
    finally:
        shutil.rmtree(base, ignore_errors=True)

    figures = {name: run.figure(name) for name in CASES}
    ratios: dict[str, Any] = {}
    print(run.describe(), "\n")
    for group, floor, ours, names in GROUPS:
        print(f"{group}: floor {fmt_range(figures[floor])} ns/entry")
        for name in names:
            r_floor = ratios[f"{group}.{name}/floor"] = run.ratio(name, floor)
            r_ours = ratios[f"{group}.{name}/llmlog"] = run.ratio(name, ours)
            print(
                f"  {name:34} {fmt_range(figures[name]):>24} ns   "
                f"{r_floor['median']:5.2f}x floor [{r_floor['min']:.2f}–{r_floor['max']:.2f}]   "
                f"{r_ours['median']:5.2f}x llmlog"
            )
    threads = {kind: run.figure(f"threads.{kind}", 0) for kind in THREADS}
    ratios["threads.llmlog/structlog"] = run.ratio("threads.llmlog", "threads.structlog")
    print("\n4 threads into one file (every line parsed afterwards), lines/s:")
    for kind, figure in threads.items():
        print(f"  {kind:34} {fmt_range(figure):>28}")
    r = ratios["threads.llmlog/structlog"]
    print(f"  llmlog / structlog per round: {r['median']:.2f}x [{r['min']:.2f}–{r['max']:.2f}]")
    run.write(args.output, ns_per_entry=figures, threads_lines_per_s=threads, ratios=ratios)


if __name__ == "__main__":
    main()
