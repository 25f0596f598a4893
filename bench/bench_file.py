"""File output benchmark: llmlog's ``file`` output against stdlib logging, structlog and loguru.

Every case writes the same JSON record (timestamp, level, message, caller, three fields) to a fresh
file, with the same flushing policy on both sides:

* **one write per entry** (the default, durable mode): llmlog ``buffer_size = 0``; structlog
  ``BytesLogger`` on an unbuffered binary file; stdlib ``FileHandler`` (it flushes every record);
  loguru ``serialize=True`` on a line-buffered file. The floor is a bare ``orjson.dumps`` of a
  prebuilt dict plus ``os.write`` on an ``O_APPEND`` descriptor.
* **buffered**: llmlog ``buffer_size = 65536``; structlog on a default (8 KiB) buffered file; the
  floor is ``orjson.dumps`` + a buffered file's ``write``.
* **rotation on**: llmlog with ``rotation.max_bytes = 10 MiB`` (it rotates during the run) against
  stdlib's ``RotatingFileHandler`` (text, as commonly configured, and JSON).
* **4 threads into one file**: total lines per second for llmlog and structlog; afterwards every
  line of both files is parsed and counted.

Rounds are interleaved; medians are reported with ratios. Run::

    .venv/bin/python bench/bench_file.py            # writes bench/results/file.json
    .venv/bin/python bench/bench_file.py --quick
"""

from __future__ import annotations

import argparse
import json
import logging
import logging.handlers
import os
import platform
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import orjson
from peers import StdlibOrjson, structlog_logger

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


def floor_unbuffered(directory: Path, n: int) -> Callable[[], None]:
    fd = os.open(directory / "floor.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def run() -> None:
        dumps, write = orjson.dumps, os.write
        for _ in range(n):
            write(fd, dumps(RECORD) + b"\n")
        os.close(fd)

    return run


def floor_buffered(directory: Path, n: int) -> Callable[[], None]:
    fh = open(directory / "floor.log", "ab")  # noqa: SIM115

    def run() -> None:
        dumps, write = orjson.dumps, fh.write
        for _ in range(n):
            write(dumps(RECORD) + b"\n")
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
        fh = open(directory / "structlog.log", "ab", buffering=-1 if buffered else 0)  # noqa: SIM115
        logger = structlog_logger(structlog.BytesLogger(fh))

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
    "floor, write per entry": floor_unbuffered,
    "llmlog, write per entry": llmlog_case(),
    "structlog, write per entry": structlog_case(buffered=False),
    "stdlib FileHandler JSON": stdlib_case(rotating=False, json_format=True),
    "loguru serialize=True": loguru_case,
    "llmlog, rotation on": llmlog_case(max_bytes=10 << 20),
    "stdlib RotatingFileHandler text": stdlib_case(rotating=True, json_format=False),
    "stdlib RotatingFileHandler JSON": stdlib_case(rotating=True, json_format=True),
    "floor, buffered": floor_buffered,
    "llmlog, buffered 64 KiB": llmlog_case(buffer_size=65536),
    "structlog, buffered": structlog_case(buffered=True),
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--dir", help="where to write (default: a temporary directory)")
    parser.add_argument("--output", default=str(Path(__file__).parent / "results" / "file.json"))
    args = parser.parse_args()
    if args.quick:
        args.calls, args.rounds = 3_000, 3

    base = Path(args.dir or tempfile.mkdtemp(prefix="llmlog-bench-"))
    samples: dict[str, list[float]] = {name: [] for name in CASES}
    threads: dict[str, list[float]] = {"llmlog": [], "structlog": []}
    try:
        for round_no in range(args.rounds):
            for name, case in CASES.items():
                directory = base / f"r{round_no}-{abs(hash(name))}"
                directory.mkdir(parents=True)
                run = case(directory, args.calls)
                start = time.perf_counter_ns()
                run()
                samples[name].append((time.perf_counter_ns() - start) / args.calls)
                shutil.rmtree(directory)
            for kind in threads:
                directory = base / f"t{round_no}-{kind}"
                directory.mkdir(parents=True)
                rate, path = threaded(kind, directory, args.calls // 4)
                verify_threaded(path, args.calls // 4)
                threads[kind].append(rate)
                shutil.rmtree(directory)
    finally:
        shutil.rmtree(base, ignore_errors=True)

    med = {name: statistics.median(v) for name, v in samples.items()}
    print(
        f"Python {sys.version.split()[0]} on {platform.machine()}; {args.rounds} interleaved rounds x {args.calls} entries; medians\n"
    )
    groups = [
        (
            "One write per entry",
            "floor, write per entry",
            [
                "llmlog, write per entry",
                "structlog, write per entry",
                "stdlib FileHandler JSON",
                "loguru serialize=True",
            ],
        ),
        (
            "Rotation on",
            "floor, write per entry",
            [
                "llmlog, rotation on",
                "stdlib RotatingFileHandler text",
                "stdlib RotatingFileHandler JSON",
            ],
        ),
        ("Buffered", "floor, buffered", ["llmlog, buffered 64 KiB", "structlog, buffered"]),
    ]
    for title, floor, names in groups:
        print(f"{title} (floor: {med[floor]:.0f} ns):")
        for name in names:
            ratio_ll = (
                med[name] / med["llmlog, write per entry"]
                if "buffered" not in title.lower()
                else med[name] / med["llmlog, buffered 64 KiB"]
            )
            print(
                f"  {name:34} {med[name]:8.0f} ns   {med[name] / med[floor]:5.2f}x floor   {ratio_ll:5.2f}x llmlog"
            )
    rates = {k: statistics.median(v) for k, v in threads.items()}
    print("\n4 threads into one file (every line parsed afterwards):")
    for kind, rate in rates.items():
        print(f"  {kind:34} {rate:10.0f} lines/s   {rate / rates['structlog']:5.2f}x structlog")
    results = {
        "python": sys.version.split()[0],
        "calls": args.calls,
        "rounds": args.rounds,
        "ns_per_entry": {k: round(v, 1) for k, v in med.items()},
        "threads_lines_per_s": {k: round(v) for k, v in rates.items()},
        "ratios": {
            "llmlog_vs_floor_write_per_entry": round(
                med["llmlog, write per entry"] / med["floor, write per entry"], 3
            ),
            "structlog_vs_llmlog_write_per_entry": round(
                med["structlog, write per entry"] / med["llmlog, write per entry"], 3
            ),
            "rotation_overhead": round(
                med["llmlog, rotation on"] / med["llmlog, write per entry"], 3
            ),
            "llmlog_vs_floor_buffered": round(
                med["llmlog, buffered 64 KiB"] / med["floor, buffered"], 3
            ),
            "threads_llmlog_vs_structlog": round(rates["llmlog"] / rates["structlog"], 3),
        },
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {args.output}")


if __name__ == "__main__":
    main()
