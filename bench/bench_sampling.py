"""Tail sampling: what it costs the application's thread per event, and what it holds in memory.

**Per event** (``--mode time``, the default). The same program (``llmlog.span`` roots, each with
a child span and one LLM call: 5 events per trace) writing to a trace session's file:

* ``off``: no sampling, every event written (the baseline);
* ``all kept``: sampling on with ``ratio = 1`` (every trace held, then written: the worst case,
  all of the sampler's work and all of the writing);
* ``5% kept``: sampling on with ``ratio = 0.05`` (the usual case: most traces never encoded);
* ``sampler alone``: :class:`llmlog.sampling.TailSampler` fed prepared events into a no-op sink.

Each case runs ``--samples`` times per round, rounds interleaved; medians with p10-p90 and the
load in the results (``common.py``). Two clocks: the wall time (every thread's work, the sampling
worker's included: under the GIL it still takes the process's time) and the application thread's
CPU time (``time.thread_time_ns``: what the issue's figure is about, the cost on the thread that
records; the sampling worker decides and writes off it). The figures the issue asks for are
``all kept - off`` and ``5% kept - off`` per event, taken per round.

**Instructions** (``--mode callgrind``): the same ``off``, ``all kept`` and ``5% kept`` programs
under valgrind's callgrind (``--separate-threads=yes``) with ``N`` and ``2N`` traces, the
instruction difference divided by the events, for the application's (main) thread and for all
threads: per-event figures that do not move with the machine's load.

**Memory** (``--mode memory``): the resident size (``VmRSS``, growth over the warmed-up process)
and peak RSS (``ru_maxrss``, which the price table's loading sets) of a process that opens 10,000 traces
at once in a sampled session (roots that have not ended, each with a child span and an LLM call
carrying a 2 KiB prompt), with the default bounds, with ``max_bytes = 16 MiB``, and 50,000 traces
against ``max_open_traces = 10,000``; and the same process without sampling (every event written
at once) as the baseline.

Run::

    .venv/bin/python bench/bench_sampling.py                  # bench/results/sampling.json
    .venv/bin/python bench/bench_sampling.py --quick
    .venv/bin/python bench/bench_sampling.py --mode callgrind
    .venv/bin/python bench/bench_sampling.py --mode memory
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import Run, fmt_range

import llmlog
from llmlog.records import TraceEvent, TraceEventType
from llmlog.sampling import SamplingOptions, TailSampler

EVENTS_PER_TRACE = 5  # root and child start and end, one LLM call
USAGE = {"prompt_tokens": 12, "completion_tokens": 30}


def traces(path: Path, count: int, sampling: SamplingOptions | None) -> tuple[float, float]:
    """ns per event of ``count`` traces through a session (closing it included): the wall time,
    and the CPU time of the application's thread (``thread_time``: without the sampling
    worker's and the file sink's threads)."""
    with llmlog.new_trace_session(path, sampling=sampling):
        start = time.perf_counter_ns()
        cpu = time.thread_time_ns()
        for i in range(count):
            with llmlog.span("request", inputs={"n": i}), llmlog.span("retrieve") as child:
                child.llm_call(model="gpt-4o-mini", prompt="q", response="a", usage=USAGE)
    events = count * EVENTS_PER_TRACE
    return (time.perf_counter_ns() - start) / events, (time.thread_time_ns() - cpu) / events


def prepared(count: int) -> list[TraceEvent]:
    events = []
    for i in range(count):
        trace, root, kid = f"{i:032x}", f"{2 * i + 1:016x}", f"{2 * i + 2:016x}"
        span = TraceEventType.SPAN
        events += [
            TraceEvent(span, 0, trace, root, None, {"event": "start", "operation": "request"}),
            TraceEvent(span, 0, trace, kid, root, {"event": "start", "operation": "retrieve"}),
            TraceEvent(
                TraceEventType.LLM_CALL,
                0,
                trace,
                kid,
                None,
                {"model": "m", "usage": {"total_tokens": 42}},
            ),
            TraceEvent(span, 0, trace, kid, None, {"event": "end", "duration_ms": 3}),
            TraceEvent(span, 0, trace, root, None, {"event": "end", "duration_ms": 5}),
        ]
    return events


def sampler_alone(count: int) -> float:
    events = prepared(count)
    sampler = TailSampler(SamplingOptions(enabled=True, ratio=0.05), lambda e: None)
    offer = sampler.offer
    start = time.perf_counter_ns()
    for event in events:
        offer(event)
    return (time.perf_counter_ns() - start) / len(events)


def timed(args: argparse.Namespace) -> None:
    cases = {
        "off": None,
        "all kept": SamplingOptions(enabled=True, ratio=1.0),
        "5% kept": SamplingOptions(enabled=True, ratio=0.05),
    }
    run = Run("bench_sampling.py", rounds=args.rounds, samples=args.samples, traces=args.traces)
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for i, (name, options) in enumerate(cases.items()):
                for s in range(args.samples):
                    path = Path(tmp) / f"{r}-{i}-{s}.jsonl"
                    wall, cpu = traces(path, args.traces, options)
                    run.add(name, r, wall)
                    run.add(f"{name} (thread)", r, cpu)
                    path.unlink()
            for _ in range(args.samples):
                run.add("sampler alone", r, sampler_alone(args.traces))
    print(run.describe(), "\n")
    print(f"  {'':14} {'wall (all threads)':>26} {'application thread CPU':>26}")
    for name in cases:
        wall, cpu = run.figure(name, 0), run.figure(f"{name} (thread)", 0)
        print(f"  {name:14} {fmt_range(wall):>26} {fmt_range(cpu):>26} ns/event")
    print(f"  {'sampler alone':14} {fmt_range(run.figure('sampler alone', 0)):>26} ns/event")
    differences = {}
    for clock, suffix in (("wall", ""), ("application thread CPU", " (thread)")):
        for case in ("all kept", "5% kept"):
            per_round = [
                _median(a) - _median(b)
                for a, b in zip(
                    run.samples[case + suffix], run.samples["off" + suffix], strict=True
                )
            ]
            differences[f"{case} - off, {clock}"] = [round(x, 1) for x in per_round]
            print(f"  {case} - off, {clock}, per round: {[round(x) for x in per_round]} ns/event")
    run.write(
        args.output,
        ns_per_event={name: run.figure(name, 0) for name in run.samples},
        minus_off_per_round=differences,
    )


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


CALLGRIND_PROGRAM = r"""
import sys, llmlog
from llmlog.sampling import SamplingOptions
sampling = {
    "on": SamplingOptions(enabled=True, ratio=1.0),
    "typical": SamplingOptions(enabled=True, ratio=0.05),
}.get(sys.argv[2])
USAGE = {"prompt_tokens": 12, "completion_tokens": 30}
with llmlog.new_trace_session(sys.argv[3], sampling=sampling):
    for i in range(int(sys.argv[1])):
        with llmlog.span("request", inputs={"n": i}):
            with llmlog.span("retrieve") as child:
                child.llm_call(model="gpt-4o-mini", prompt="q", response="a", usage=USAGE)
"""


def _instructions(python: str, count: int, mode: str, work: Path) -> tuple[int, int]:
    """The main thread's instructions and all threads' of the program with ``count`` traces."""
    script = work / "program.py"
    script.write_text(CALLGRIND_PROGRAM)
    out = work / f"callgrind.{mode}.{count}"
    subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--separate-threads=yes",
            f"--callgrind-out-file={out}.%p",
            python,
            str(script),
            str(count),
            mode,
            str(work / f"{mode}-{count}.jsonl"),
        ],
        check=True,
        capture_output=True,
    )
    counts = {}
    for part in work.glob(f"callgrind.{mode}.{count}.*-*"):
        found = re.search(r"^summary: (\d+)", part.read_text(errors="replace"), re.MULTILINE)
        if found is None:
            raise SystemExit(f"no summary line in {part}")
        counts[part.name.rsplit("-", 1)[1]] = int(found.group(1))
    # Thread 01 is the application's (main) thread; the others are the file sink's flusher and
    # the sampling worker.
    return counts["01"], sum(counts.values())


def callgrind(args: argparse.Namespace) -> None:
    count = args.traces
    main: dict[str, float] = {}
    total: dict[str, float] = {}
    events = count * EVENTS_PER_TRACE
    with tempfile.TemporaryDirectory() as tmp:
        for mode in ("off", "on", "typical"):
            once = _instructions(sys.executable, count, mode, Path(tmp))
            twice = _instructions(sys.executable, 2 * count, mode, Path(tmp))
            main[mode] = (twice[0] - once[0]) / events
            total[mode] = (twice[1] - once[1]) / events
    print("  instructions/event:   application's thread   all threads")
    for mode, label in (("off", "off"), ("on", "all kept"), ("typical", "5% kept")):
        print(
            f"  {label:9} {main[mode]:>12,.0f} ({main[mode] - main['off']:+8,.0f})"
            f" {total[mode]:>12,.0f} ({total[mode] - total['off']:+8,.0f})"
        )
    out = Path(args.output).with_name("sampling-callgrind.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps({"traces": count, "application_thread": main, "all_threads": total}, indent=2)
        + "\n"
    )


MEMORY_PROGRAM = r"""
import json, resource, sys, llmlog
from llmlog.sampling import SamplingOptions
count, mode = int(sys.argv[1]), sys.argv[2]
options = {
    "off": None,
    "default bounds": SamplingOptions(enabled=True),
    "max_bytes 16 MiB": SamplingOptions(enabled=True, max_bytes=16 << 20),
}.get(mode, SamplingOptions(enabled=True))
prompt = "x" * 2048
# Warm up first (the price table loads on the first priced call), so the baseline is the
# process ready to work and peak - baseline what the open traces cost.
with llmlog.new_trace_session(sys.argv[3] + ".warm") as warm:
    warm.emit_llm_call("", "openai", "gpt-4o-mini", prompt, "a", {"prompt_tokens": 5, "completion_tokens": 2})
import gc
gc.collect()
def rss_kib():
    # the resident size now (VmRSS): the peak (ru_maxrss) was set by loading the price table
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
session = llmlog.new_trace_session(sys.argv[3], sampling=options)
baseline = rss_kib()
for i in range(count):
    root, kid = f"{2 * i + 1:016x}", f"{2 * i + 2:016x}"
    session.emit_span_start(root, None, "request", {"n": i})
    session.emit_span_start(kid, root, "generate", None)
    # a prompt of its own per call, as in a service (one shared string would cost nothing)
    session.emit_llm_call(kid, "openai", "gpt-4o-mini", f"{i:08d}" + prompt, "answer", {"prompt_tokens": 500, "completion_tokens": 20})
    session.emit_span_end(kid, None, None, 3)
session.flush()  # what waits for the sampling worker, held by the sampler
sampler = session.sampler
now = rss_kib()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
result = {
    "mode": mode, "traces": count, "baseline_kib": baseline, "rss_kib": now, "peak_kib": peak,
    "open_traces": sampler.open_traces if sampler else 0,
    "held_bytes": sampler.held_bytes if sampler else 0,
    "decided_early": sampler.counts().get("decided_early", 0) if sampler else 0,
}
session.close()
print(json.dumps(result))
"""


def memory(args: argparse.Namespace) -> None:
    runs = [
        (10_000, "off"),
        (10_000, "default bounds"),
        (10_000, "max_bytes 16 MiB"),
        (50_000, "default bounds"),
    ]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "program.py"
        script.write_text(MEMORY_PROGRAM)
        for count, mode in runs:
            done = subprocess.run(
                [sys.executable, str(script), str(count), mode, str(Path(tmp) / f"{mode}.jsonl")],
                check=True,
                capture_output=True,
                text=True,
            )
            result = json.loads(done.stdout)
            results.append(result)
            print(
                f"  {count:>6} open traces, {mode:17} RSS +{(result['rss_kib'] - result['baseline_kib']) / 1024:5.1f} MiB "
                f"over the warmed-up {result['baseline_kib'] / 1024:5.1f} MiB (peak RSS "
                f"{result['peak_kib'] / 1024:5.1f} MiB); held: "
                f"{result['open_traces']} traces, {result['held_bytes'] / 2**20:5.1f} MiB "
                f"estimated; decided early: {result['decided_early']}"
            )
    out = Path(args.output).with_name("sampling-memory.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mode", choices=("time", "callgrind", "memory"), default="time")
    parser.add_argument("--traces", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--samples", type=int, default=3, help="samples per case and round")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--output", default=str(Path(__file__).parent / "results" / "sampling.json")
    )
    args = parser.parse_args()
    if args.quick:
        args.traces, args.rounds, args.samples = 1_000, 2, 2
    if args.mode == "callgrind":
        if args.traces == 5_000:
            args.traces = 1_000
        callgrind(args)
    elif args.mode == "memory":
        memory(args)
    else:
        timed(args)


if __name__ == "__main__":
    main()
