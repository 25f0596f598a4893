"""Instructions per DSPy LM call, llmlog against OpenInference, counted by valgrind's callgrind: the
issue's DSPy figure without the machine's noise (the timed figures are ``bench_dspy.py``'s).

Usage::

    .venv/bin/uv sync --all-packages --group bench     # the peers
    .venv/bin/python bench/count_dspy.py [--passes 40] [--without flight] [--base DIR]

Each variant runs in its own process under callgrind (OpenInference's uninstrument strips DSPy's
own wrappers, so no variant may follow it in a process): the process installs the variant as
``bench_dspy.py`` does (the same DSPy programs on ``DummyLM``: a Predict, a ChainOfThought and a
ReAct agent with a tool, 5 LM calls per pass; llmlog with the ``dspy`` format, flight recorder on,
context and redaction on), warms up, then runs ``passes`` passes inside a ``functools.reduce``
call, the only code collected (``--toggle-collect``), dumped when that call returns
(``--dump-after``): imports, setup, warm-up and closing are not counted. Collection follows the
calling thread only, so background threads (the flight recorder's compressor, OpenTelemetry's
batch exporter) are not counted on either side.

The issue's figure: (llmlog − empty callback) / (OpenInference − empty callback), target ≤ 1/3.
``--without PARTS`` adds llmlog variants with parts off (``bench_dspy.py``'s ``--without``: flight,
file, context, redaction) to see where its instructions go; ``--base DIR`` adds llmlog on another
source tree (``git archive BASE core/src plugins | tar -x -C DIR``) as ``llmlog-dspy@base``.

``--simulate`` turns on callgrind's cache and branch-prediction simulation and prints the misses
per LM call beyond the empty callback, against OpenInference's: where the time goes that the
instruction count does not show (``docs/performance.md``, "DSPy in time").

Needs valgrind (Debian's ``valgrind``).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from common import SIMULATED, callgrind_events, callgrind_reduce

BENCH = Path(__file__).resolve().parent

#: What runs under callgrind; argv: bench directory, work directory, variant, passes.
PROGRAM = r"""
import functools, os, sys
sys.path.insert(0, sys.argv[1])
work, variant, passes = sys.argv[2], sys.argv[3], int(sys.argv[4])
from pathlib import Path
import bench_dspy
bench_dspy._turn_off(os.environ.get("BENCH_DSPY_WITHOUT", "").split(","))
os.chdir(work)
one_pass = bench_dspy._programs()
finish, count = bench_dspy._setup(variant, Path(work))
for _ in range(10):  # warm-up, not counted
    one_pass()
def loop(_a, _b):
    for _ in range(passes):
        one_pass()
functools.reduce(loop, [0, 0])  # collected: this call only, dumped when it returns
finish()
print(count())
"""


def count(
    python: str,
    variant: str,
    passes: int,
    work: Path,
    without: str = "",
    base: str | None = None,
    simulate: bool = False,
) -> dict[str, float]:
    """Events per LM call of ``variant``: instructions (``Ir``), and with ``simulate`` callgrind's
    cache and branch-prediction misses (``common.SIMULATED``)."""
    work.mkdir(parents=True, exist_ok=True)
    script = work / "program.py"
    script.write_text(PROGRAM)
    out = work / "callgrind.out"
    # One hash seed, as count_entry.py: set lookups (and so the count) then cost the same from
    # one run to the next; a run with another seed moves by some 30,000 instructions per call.
    env = dict(
        os.environ, BENCH_DSPY_WITHOUT=without, PYTHONHASHSEED=os.environ.get("PYTHONHASHSEED", "0")
    )
    if base:
        root = Path(base)
        paths = [str(root / "core" / "src")] + [
            str(d / "src") for d in (root / "plugins").iterdir()
        ]
        env["PYTHONPATH"] = os.pathsep.join(paths)
    done = subprocess.run(
        [
            *callgrind_reduce(out, simulate),
            python,
            str(script),
            str(BENCH),
            str(work),
            variant,
            str(passes),
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    if done.returncode != 0:
        raise SystemExit(f"{variant} failed:\n{done.stderr[-3000:]}")
    # Libraries call functools.reduce too (at import, at setup): those calls are short.
    dump = max(callgrind_events(out), key=lambda d: d["Ir"])
    return {event: value / (passes * 5) for event, value in dump.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--passes", type=int, default=40, help="program passes counted")
    parser.add_argument("--jobs", type=int, default=2, help="callgrind processes at once")
    parser.add_argument("--without", action="append", default=[], help="llmlog parts off")
    parser.add_argument("--base", help="a source tree: also llmlog-dspy on it (@base)")
    parser.add_argument(
        "--variants", default="none,empty,llmlog-dspy,openinference", help="comma-separated"
    )
    parser.add_argument(
        "--simulate",
        action="store_true",
        help="also callgrind's cache and branch-prediction misses per LM call (slower)",
    )
    args = parser.parse_args()
    cases: list[tuple[str, str, str, str | None]] = [
        (v, v, "", None) for v in args.variants.split(",")
    ]
    cases += [(f"llmlog-dspy without {w}", "llmlog-dspy", w, None) for w in args.without]
    if args.base:
        cases.append(("llmlog-dspy@base", "llmlog-dspy", "", args.base))
    with (
        tempfile.TemporaryDirectory() as tmp,
        concurrent.futures.ThreadPoolExecutor(args.jobs) as pool,
    ):
        futures = {
            label: pool.submit(
                count,
                args.python,
                variant,
                args.passes,
                Path(tmp) / str(i),
                without,
                base,
                args.simulate,
            )
            for i, (label, variant, without, base) in enumerate(cases)
        }
        events = {label: f.result() for label, f in futures.items()}
    result = {label: found["Ir"] for label, found in events.items()}
    empty = result.get("empty")
    oi = result.get("openinference")
    print(f"instructions per LM call ({args.passes} passes, 5 LM calls each, callgrind)")
    print(f"  {'variant':40} {'per LM call':>12} {'beyond empty':>13} {'/ OpenInference':>16}")
    for label, value in result.items():
        line = f"  {label:40} {value:12,.0f}"
        if empty is not None:
            line += f" {value - empty:13,.0f}"
            if oi is not None and oi != empty and label != "none":
                line += f" {(value - empty) / (oi - empty):16.3f}"
        print(line)
    if args.simulate and "empty" in events:
        # Where time goes beside the instructions: a first-level miss costs some ten cycles, a
        # mispredicted branch some fifteen, an instruction about a third of one. Code that runs
        # once per LM call, between long stretches of DSPy's, finds little of itself in cache.
        print("\nsimulated misses per LM call beyond the empty callback (callgrind's model of a")
        print(
            "32 KiB L1, the machine's last level and a simple branch predictor); / OpenInference's"
        )
        print(f"  {'variant':40} " + " ".join(f"{event:>16}" for event in SIMULATED))
        base_events = events["empty"]
        oi_events = events.get("openinference")
        for label, found in events.items():
            if label in ("none", "empty"):
                continue
            cells = []
            for event in SIMULATED:
                beyond = found[event] - base_events[event]
                cell = f"{beyond:,.0f}"
                if oi_events is not None and label != "openinference":
                    oi_beyond = oi_events[event] - base_events[event]
                    if oi_beyond > 0:
                        cell += f" ({beyond / oi_beyond:.2f})"
                cells.append(cell)
            print(f"  {label:40} " + " ".join(f"{cell:>16}" for cell in cells))


if __name__ == "__main__":
    main()
