"""Trace session throughput: span start/end pairs through a session to a dspy-format JSONL file.

Two ways of producing the same events on one thread: ``with llmlog.span(...)`` (ids, parents and
context handled by llmlog) and direct ``emit_span_start``/``emit_span_end`` calls (the dspy-go
API), with the format's default write buffer, and the direct calls again with ``buffer_size=0``
(one ``write()`` per event, as dspy-go). Events per second; each case runs ``--samples`` times
per round, rounds interleaved; medians with p10–p90 and the load before and after in the results
(``common.py``). Every line is parsed afterwards. Run::

    .venv/bin/python bench/bench_trace.py          # writes bench/results/trace.json
    .venv/bin/python bench/bench_trace.py --quick
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import orjson
from common import Run, fmt_range

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
    parser.add_argument("--samples", type=int, default=3, help="samples per case and round")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--output", default=str(Path(__file__).parent / "results" / "trace.json"))
    args = parser.parse_args()
    if args.quick:
        args.pairs, args.rounds, args.samples = 5_000, 2, 2
    runs = {
        "llmlog.span": with_spans,
        "emit_span_start/end": with_emit,
        "emit, buffer_size=0": with_emit_unbuffered,
    }
    run = Run("bench_trace.py", rounds=args.rounds, samples=args.samples, pairs=args.pairs)
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for i, (name, case) in enumerate(runs.items()):
                for s in range(args.samples):
                    path = Path(tmp) / f"{r}-{i}-{s}.jsonl"
                    rate = case(path, args.pairs)
                    verify(path, args.pairs)
                    path.unlink()
                    run.add(name, r, rate)
                    run.add(f"{name} ns/event", r, 1e9 / rate)
    print(run.describe(), "\n")
    for name in runs:
        rate, ns = run.figure(name, 0), run.figure(f"{name} ns/event", 0)
        print(f"  {name:22} {fmt_range(rate):>28} events/s   {fmt_range(ns):>22} ns/event")
    run.write(
        args.output,
        events_per_second={name: run.figure(name, 0) for name in runs},
        ns_per_event={name: run.figure(f"{name} ns/event", 0) for name in runs},
    )


if __name__ == "__main__":
    main()
