"""Standard logging capture: a stdlib ``logger.info(..., extra=...)`` record through llmlog's
handler into an llmlog JSON file, against stdlib's own ``FileHandler`` with a JSON formatter: one
using the standard library's ``json`` (all stdlib, the usual hand-written formatter) and one
accelerated with orjson (the fastest way to get JSON out of a stdlib handler).

Both write one record per ``write()`` to a fresh file (stdlib's handler flushes every record;
llmlog's file output is unbuffered by default), in interleaved rounds; medians and the ratio are
reported. Run::

    .venv/bin/python bench/bench_stdlib.py          # writes bench/results/stdlib.json
    .venv/bin/python bench/bench_stdlib.py --quick
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from peers import StdlibJson, StdlibOrjson

from llmlog import Logger, Severity
from llmlog.stdlib import LlmlogHandler
from llmlog_formatter_json import JsonFormatter
from llmlog_output_file import FileOutput

_names = iter(range(10**9))


def run_case(kind: str, directory: Path, calls: int) -> float:
    logger = logging.getLogger(f"bench.stdlib.{next(_names)}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    if kind == "llmlog":
        output = FileOutput(directory / "llmlog.log", JsonFormatter())
        handler: logging.Handler = LlmlogHandler(Logger(Severity.INFO, [output]))
        close = output.close
    else:
        handler = logging.FileHandler(directory / "stdlib.log")
        handler.setFormatter(StdlibOrjson() if kind == "stdlib-orjson" else StdlibJson())
        close = handler.close
    logger.addHandler(handler)
    info = logger.info
    start = time.perf_counter_ns()
    for i in range(calls):
        info("answer ready", extra={"user": "alice", "attempt": i})
    elapsed = (time.perf_counter_ns() - start) / calls
    close()
    logger.removeHandler(handler)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--output", default=str(Path(__file__).parent / "results" / "stdlib.json"))
    args = parser.parse_args()
    if args.quick:
        args.calls, args.rounds = 3_000, 3
    base = Path(tempfile.mkdtemp(prefix="llmlog-bench-"))
    kinds = {
        "stdlib FileHandler + json": "stdlib",
        "stdlib FileHandler + orjson": "stdlib-orjson",
        "llmlog handler -> JSON file": "llmlog",
    }
    samples: dict[str, list[float]] = {name: [] for name in kinds}
    try:
        for r in range(args.rounds):
            for name in samples:
                directory = base / f"{r}-{len(name)}"
                directory.mkdir()
                samples[name].append(run_case(kinds[name], directory, args.calls))
                shutil.rmtree(directory)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in samples.items()}
    ours = med["llmlog handler -> JSON file"]
    print(
        f"Python {sys.version.split()[0]}; {args.rounds} interleaved rounds x {args.calls} records; medians\n"
    )
    for name, ns in med.items():
        print(f"  {name:30} {ns:8.0f} ns   {ns / ours:5.2f}x llmlog")
    ratios = {
        "llmlog_vs_stdlib_json": ours / med["stdlib FileHandler + json"],
        "llmlog_vs_stdlib_orjson": ours / med["stdlib FileHandler + orjson"],
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(
        json.dumps({"ns_per_record": med, "ratios": ratios}, indent=2) + "\n"
    )


if __name__ == "__main__":
    main()
