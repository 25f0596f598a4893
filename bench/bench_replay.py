"""Replay lookup cost on a 10,000-call trace: per LM call, and the one-time load.

Writes a dspy-format trace of ``--calls`` LLM calls through a real trace session (each with a
system message of ~1.5 KB, the same in every call as a DSPy signature's is, a distinct user
message and the LM's parameters), loads it once into a ``ReplayIndex`` (timed), then answers
every recorded request again, in a shuffled order, measuring per call:

* ``take``: ``ReplayIndex.take`` (the live request's messages and parameters normalised to the
  key, the lookup, the per-key queue under its lock);
* ``forward``: ``ReplayLM.forward`` (the same plus the parameters read from the LM and the
  OpenAI-shaped response built), what DSPy calls for each LM call; DSPy's own work around it
  (callbacks, adapters, history) is not replay's and is left out.

Each figure is the mean per call over one full pass of all calls; ``--rounds`` passes each
(the index reset between them), reported as median, p10–p90 and min–max with the load before
and after. The bound the issue sets is 50 µs per call. ``--count`` instead counts the
instructions of one ``take`` with valgrind's callgrind (a figure the machine's load does not
move): two runs that load the same trace and make ``N`` and ``2N`` lookups, their difference
divided by ``N``. Run::

    .venv/bin/python bench/bench_replay.py                # 10,000 calls, 7 rounds
    .venv/bin/python bench/bench_replay.py --quick        # 2,000 calls, 3 rounds
    .venv/bin/python bench/bench_replay.py --count        # instructions per take (valgrind)
"""

from __future__ import annotations

import argparse
import random
import re
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from common import Run, fmt_range

import llmlog

SYSTEM = "Your input fields are: `question` (str). Your output fields are: `answer` (str). " * 18
PARAMS = {"temperature": 0.0, "max_tokens": 4000}


def messages(n: int) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": f"[[ ## question ## ]]\nQuestion number {n}: what is {n}+{n}?"},
    ]


def write_trace(path: Path, calls: int) -> None:
    session = llmlog.new_trace_session(path, format="dspy")
    with session:
        for n in range(calls):
            span = f"{n + 1:016x}"
            session.emit_span_start(span, None, "LM:gpt-4o-mini", None)
            session.emit_llm_call(
                span,
                "openai",
                "gpt-4o-mini",
                "",
                f"[[ ## answer ## ]]\n{2 * n}\n\n[[ ## completed ## ]]",
                llmlog.TokenUsage(420, 12, cost=0.0001),
                300,
                messages=messages(n),
                params=PARAMS,
            )
            session.emit_span_end(span, None, None, 300)


#: What runs under callgrind: load the trace in argv[1], then make argv[2] lookups.
COUNTED = r"""
import random, sys, warnings
sys.path.insert(0, sys.argv[3])
warnings.filterwarnings("ignore")
import llmlog
from bench_replay import PARAMS, messages
from llmlog_testing_replay import ReplayIndex
llmlog.configure({"outputs": {}})
index = ReplayIndex.load(sys.argv[1])
order = list(range(len(index.calls)))
random.Random(7).shuffle(order)
requests = [messages(n) for n in order[: int(sys.argv[2])]]
for request in requests:
    index.take("openai/gpt-4o-mini", request, PARAMS)
"""


def instructions(trace: Path, lookups: int, work: Path) -> int:
    """The instruction count of one run loading ``trace`` and making ``lookups`` lookups."""
    script = work / "counted.py"
    script.write_text(COUNTED)
    out = work / f"callgrind.{lookups}"
    subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            sys.executable,
            str(script),
            str(trace),
            str(lookups),
            str(Path(__file__).parent),
        ],
        check=True,
        capture_output=True,
    )
    found = re.search(r"^summary: (\d+)", out.read_text(errors="replace"), re.MULTILINE)
    if found is None:
        raise SystemExit(f"no summary line in {out}")
    return int(found.group(1))


def count(calls: int) -> None:
    llmlog.configure({"outputs": {}})
    lookups = min(2_000, calls // 2)
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        trace = work / "trace.jsonl"
        write_trace(trace, calls)
        once = instructions(trace, lookups, work)
        twice = instructions(trace, 2 * lookups, work)
    print(
        f"ReplayIndex.take on a {calls:,}-call trace: {(twice - once) / lookups:,.0f} "
        "instructions per lookup (callgrind)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default="bench/results/replay.json")
    parser.add_argument("--count", action="store_true", help="count instructions (valgrind)")
    args = parser.parse_args()
    if args.count:
        count(args.calls)
        return
    if args.quick:
        args.calls, args.rounds = 2_000, 3
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    llmlog.configure({"outputs": {}})

    from llmlog_testing_replay import ReplayIndex, ReplayLM

    run = Run("replay", calls=args.calls, rounds=args.rounds)
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "trace.jsonl"
        write_trace(path, args.calls)
        size = path.stat().st_size
        loads = []
        for _ in range(3):
            start = time.perf_counter()
            index = ReplayIndex.load(path)
            loads.append(time.perf_counter() - start)
        assert len(index.calls) == args.calls
        lm = ReplayLM(index, temperature=0.0, max_tokens=4000)
        requests = [messages(n) for n in range(args.calls)]
        order = list(range(args.calls))
        random.Random(7).shuffle(order)
        for round_no in range(args.rounds):
            index.reset()
            start = time.perf_counter_ns()
            for n in order:
                index.take("openai/gpt-4o-mini", requests[n], PARAMS)
            run.add("take", round_no, (time.perf_counter_ns() - start) / args.calls / 1000)
            index.reset()
            start = time.perf_counter_ns()
            for n in order:
                lm.forward(messages=requests[n])
            run.add("forward", round_no, (time.perf_counter_ns() - start) / args.calls / 1000)
    load = {"seconds": [round(x, 3) for x in loads], "trace_bytes": size}
    print(run.describe())
    print(
        f"  load (index {args.calls:,} calls, {size / 1e6:.1f} MB): {min(loads):.2f}–{max(loads):.2f} s"
    )
    for case in ("take", "forward"):
        figure = run.figure(case, 2)
        print(
            f"  {case:<8} {fmt_range(figure, 1)} µs per call "
            f"(min–max {figure['min']:.1f}–{figure['max']:.1f}; bound 50)"
        )
    run.write(args.out, take=run.figure("take", 2), forward=run.figure("forward", 2), load=load)


if __name__ == "__main__":
    main()
