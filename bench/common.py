"""What every benchmark of ``bench/`` shares: the machine and its load, samples summarised as
ranges, and the results file.

A figure is never one number: each case is measured several times per round (``samples``), rounds
are interleaved across cases, and a figure is reported as its median with the p10–p90 and
min–max range of all its samples. A ratio between two cases is taken per round (the median of
each side's samples in that round), so both sides of a ratio were measured under the same load,
and reported as the median and range of those per-round ratios. The load (``os.getloadavg``)
before and after the run and the CPU count go into every results file: on a shared machine a
figure means little without them.
"""

from __future__ import annotations

import json
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["Run", "quantile", "summary"]


def _load() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # not on this platform
        return []


def quantile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values``, linear between the closest ranks."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    pos = q * (len(ordered) - 1)
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def summary(values: Sequence[float], digits: int = 1) -> dict[str, Any]:
    """Median, p10, p90, min and max of ``values``, and the values themselves."""
    return {
        "median": round(statistics.median(values), digits),
        "p10": round(quantile(values, 0.1), digits),
        "p90": round(quantile(values, 0.9), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
        "n": len(values),
        "samples": [round(v, digits) for v in values],
    }


class Run:
    """One benchmark run: samples per case and round, the environment, the results file.

    ``add(case, round_no, value)`` records one sample; ``figure(case)`` summarises all samples of
    a case; ``ratio(a, b)`` summarises the per-round ratios of ``a``'s median to ``b``'s.
    """

    def __init__(self, benchmark: str, **config: Any) -> None:
        self.benchmark = benchmark
        self.config = config
        self.started = datetime.now(UTC)
        self.load_before = _load()
        self.start_clock = time.monotonic()
        self.samples: dict[str, list[list[float]]] = {}

    def add(self, case: str, round_no: int, value: float) -> None:
        rounds = self.samples.setdefault(case, [])
        while len(rounds) <= round_no:
            rounds.append([])
        rounds[round_no].append(value)

    def values(self, case: str) -> list[float]:
        return [v for r in self.samples[case] for v in r]

    def median(self, case: str) -> float:
        return statistics.median(self.values(case))

    def figure(self, case: str, digits: int = 1) -> dict[str, Any]:
        return summary(self.values(case), digits)

    def ratio(self, numerator: str, denominator: str) -> dict[str, Any]:
        per_round = [
            statistics.median(a) / statistics.median(b)
            for a, b in zip(self.samples[numerator], self.samples[denominator], strict=False)
            if a and b
        ]
        return summary(per_round, 3)

    def environment(self) -> dict[str, Any]:
        try:
            usable = len(os.sched_getaffinity(0))
        except AttributeError:  # not on this platform
            usable = os.cpu_count() or 0
        return {
            "date": self.started.strftime("%Y-%m-%d %H:%M UTC"),
            "python": sys.version.split()[0],
            "implementation": platform.python_implementation(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "cpus_usable": usable,
            "load_before": self.load_before,
            "load_after": _load(),
            "seconds": round(time.monotonic() - self.start_clock, 1),
        }

    def describe(self) -> str:
        env = self.environment()
        load = "/".join(f"{x:.2f}" for x in env["load_before"][:1] + env["load_after"][:1])
        config = ", ".join(f"{k} {v}" for k, v in self.config.items())
        return (
            f"{self.benchmark}: Python {env['python']} on {env['machine']}, {env['cpus']} CPUs, "
            f"load {load} (1-min, before/after); {config}; medians [p10–p90]"
        )

    def write(self, path: str | Path, **results: Any) -> None:
        document = {
            "benchmark": self.benchmark,
            "environment": self.environment(),
            "config": self.config,
            **results,
        }
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
        print(f"\nwrote {out}")


def fmt_range(figure: dict[str, Any], digits: int = 0) -> str:
    """``1,234 [1,100–1,400]``: a figure's median and p10–p90 for a console line."""
    return (
        f"{figure['median']:,.{digits}f} [{figure['p10']:,.{digits}f}–{figure['p90']:,.{digits}f}]"
    )


def callgrind_reduce(out: Path, simulate: bool = False) -> list[str]:
    """valgrind's command line (the program's follows) that counts instructions only inside
    ``functools.reduce`` calls, dumping a count to ``out.N`` when each returns: a benchmark wraps
    the code it measures in ``functools.reduce`` so that setup and imports are not counted.
    ``simulate``: callgrind's cache and branch-prediction simulation too (:data:`SIMULATED`)."""
    return [
        "valgrind",
        "--tool=callgrind",
        *(["--cache-sim=yes", "--branch-sim=yes"] if simulate else []),
        "--collect-atstart=no",
        "--toggle-collect=functools_reduce",
        "--dump-after=functools_reduce",
        f"--callgrind-out-file={out}",
    ]


#: What :func:`callgrind_events` reads with the simulation on (callgrind's event names): level-1
#: instruction and data read misses, last-level misses, and conditional and indirect branches
#: mispredicted. Where an instruction costs the same, these are where the time goes.
SIMULATED = ("I1mr", "D1mr", "ILmr", "DLmr", "DLmw", "Bcm", "Bim")


def callgrind_events(out: Path) -> list[dict[str, int]]:
    """Every event of each of :func:`callgrind_reduce`'s dumps (``Ir``, the instructions, always;
    :data:`SIMULATED` with the simulation on), in the order they were made (libraries call
    ``functools.reduce`` too, at import and setup: the caller tells those short ones from its
    own)."""
    dumps = []
    for path in sorted(out.parent.glob(out.name + ".*"), key=lambda p: int(p.suffix[1:])):
        text = path.read_text(errors="replace")
        names = re.search(r"^events: (.+)$", text, re.MULTILINE)
        found = re.search(r"^summary: ([\d ]+)$", text, re.MULTILINE)
        if names is None or found is None:
            raise SystemExit(f"no events or summary line in {path}")
        events, values = names.group(1).split(), [int(v) for v in found.group(1).split()]
        values += [0] * (len(events) - len(values))  # callgrind leaves trailing zeros out
        dumps.append(dict(zip(events, values, strict=True)))
    return dumps


def callgrind_counts(out: Path) -> list[int]:
    """The instruction counts of :func:`callgrind_events`' dumps."""
    return [dump["Ir"] for dump in callgrind_events(out)]
