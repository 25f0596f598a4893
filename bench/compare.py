"""The same benchmark on two checkouts, alternately, in one session: did a change make it slower?

Each checkout runs its own copy of the script with its own environment (``CHECKOUT/.venv``), so a
change that moved modules is measured as each side has it. The runs alternate (before, after,
before, ...) so that the machine's load falls on both sides alike. Every number in the result
JSON the script writes (``--output``) is a figure; for each one this prints the median of each
side over the runs and the ratio after / before, with "higher is better" for rates (names with
``per_second``, ``/s`` or ``throughput``) and "lower is better" for the rest (times, sizes)::

    .venv/bin/python bench/compare.py --before ../old-checkout --after . \\
        --times 3 bench_core.py -- --quick

A ratio is worse-by when the after side is slower than the before side by that fraction.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HIGHER_IS_BETTER = ("per_second", "per second", "_per_s", "/s", "throughput", "speedup")


#: Top-level keys of a results file that describe the run, not what it measured.
NOT_FIGURES = frozenset({"environment", "config", "benchmark"})


def numbers(value: Any, path: str = "") -> Iterator[tuple[str, float]]:
    """Every number in a JSON document, with its path (``a.b[2]``); lists of numbers (samples)
    give their median, and a figure summarised as median and range (``common.summary``) its
    median. The run's description (environment and load, configuration) is left out."""
    if isinstance(value, bool):
        return
    if isinstance(value, int | float):
        yield path, float(value)
    elif isinstance(value, dict):
        if "median" in value and "samples" in value:
            yield path, float(value["median"])
            return
        for key, item in value.items():
            if not path and key in NOT_FIGURES:
                continue
            yield from numbers(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        if value and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
            yield path, float(statistics.median(value))
        else:
            for i, item in enumerate(value):
                yield from numbers(item, f"{path}[{i}]")


def run(checkout: Path, script: str, extra: list[str]) -> dict[str, float]:
    python = checkout / ".venv" / "bin" / "python"
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "result.json"
        subprocess.run(
            [str(python), str(checkout / "bench" / script), *extra, "--output", str(out)],
            cwd=checkout,
            check=True,
            stdout=subprocess.DEVNULL,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )
        return dict(numbers(json.loads(out.read_text())))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, required=True, help="the checkout before")
    parser.add_argument("--after", type=Path, default=Path("."), help="the checkout after")
    parser.add_argument("--times", type=int, default=3, help="runs of each side")
    parser.add_argument("script", help="a script of bench/, e.g. bench_core.py")
    parser.add_argument("extra", nargs="*", help="its arguments (after --)")
    args = parser.parse_args()
    sides: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
    for _ in range(args.times):
        for side in ("before", "after"):
            sides[side].append(run(getattr(args, side).resolve(), args.script, args.extra))
    try:
        load = f"{os.getloadavg()[0]:.2f}"
    except OSError:
        load = "?"
    print(
        f"{args.script} {' '.join(args.extra)}: {args.times} alternating runs a side; load {load}"
    )
    print(f"{'figure':70s} {'before':>12s} {'after':>12s}  after/before")
    for key in sides["before"][0]:
        before = [r[key] for r in sides["before"] if key in r]
        after = [r[key] for r in sides["after"] if key in r]
        if not after:
            continue
        b, a = statistics.median(before), statistics.median(after)
        ratio = a / b if b else float("nan")
        higher = any(word in key.lower() for word in HIGHER_IS_BETTER)
        worse = (1 / ratio if ratio else float("inf")) if higher else ratio
        note = f"  ({'higher' if higher else 'lower'} is better; worse by {worse - 1:+.1%})"
        print(f"{key[:70]:70s} {b:12.4g} {a:12.4g}  {ratio:6.3f}{note}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
