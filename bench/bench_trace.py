"""Trace session throughput: span start/end pairs through a session to a dspy-format JSONL file.

Two ways of producing the same events on one thread: ``with llmlog.span(...)`` (ids, parents and
context handled by llmlog) and direct ``emit_span_start``/``emit_span_end`` calls (the dspy-go
API), with the format's default write buffer, and the direct calls again with ``buffer_size=0``
(one ``write()`` per event, as dspy-go). Events per second, medians of interleaved rounds; every
line is parsed afterwards. Run::

    .venv/bin/python bench/bench_trace.py          # writes bench/results/trace.json
    .venv/bin/python bench/bench_trace.py --quick
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import orjson

import llmlog

# The timed part ends after the session is closed, so buffered events that are written at close
# count too.


def with_spans(path: Path, pairs: int, **options: object) -> float:
    with llmlog.new_trace_session(path, **options):
        start = time.perf_counter()
        for i in range(pairs):
            with llmlog.span("Predict:qa", inputs={"question": "What is 2+2?", "n": i}):
                pass
    return 2 * pairs / (time.perf_counter() - start)


def with_emit(path: Path, pairs: int, **options: object) -> float:
    with llmlog.new_trace_session(path, **options) as session:
        start_span, end_span = session.emit_span_start, session.emit_span_end
        start = time.perf_counter()
        for i in range(pairs):
            span_id = f"{i:016x}"
            start_span(span_id, None, "Predict:qa", {"question": "What is 2+2?", "n": i})
            end_span(span_id, {"answer": "4"}, None, 1)
    return 2 * pairs / (time.perf_counter() - start)


def with_emit_unbuffered(path: Path, pairs: int) -> float:
    return with_emit(path, pairs, buffer_size=0)


def verify(path: Path, pairs: int) -> None:
    count = sum(
        1 for line in path.read_bytes().splitlines() if orjson.loads(line)["type"] == "span"
    )
    assert count == 2 * pairs, f"{path.name}: {count} span lines, expected {2 * pairs}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pairs", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--output", default=str(Path(__file__).parent / "results" / "trace.json"))
    args = parser.parse_args()
    if args.quick:
        args.pairs, args.rounds = 5_000, 2
    runs = {
        "llmlog.span": with_spans,
        "emit_span_start/end": with_emit,
        "emit, buffer_size=0": with_emit_unbuffered,
    }
    rates: dict[str, list[float]] = {name: [] for name in runs}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for name, run in runs.items():
                path = Path(tmp) / f"{r}-{len(name)}.jsonl"
                rates[name].append(run(path, args.pairs))
                verify(path, args.pairs)
                path.unlink()
    med = {k: statistics.median(v) for k, v in rates.items()}
    print(
        f"Python {sys.version.split()[0]}; {args.rounds} rounds x {args.pairs} span pairs, one thread; medians\n"
    )
    for name, rate in med.items():
        print(f"  {name:22} {rate:10.0f} events/s   {1e9 / rate:7.0f} ns/event")
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps({"events_per_second": med}, indent=2) + "\n")


if __name__ == "__main__":
    main()
