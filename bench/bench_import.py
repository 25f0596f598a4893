"""What ``import llmlog`` costs a program, against the peers, in one run.

A program that only logs pays for what ``import llmlog`` loads, before any configuration. This
measures it the way ``python -X importtime`` does, in a fresh interpreter each time:

* the import's cumulative time (the ``-X importtime`` line of the top-level module), for llmlog,
  structlog, loguru and the standard library's ``logging`` (which they all load);
* which heavier modules the import pulls in (``gzip``, ``fcntl``, ``signal``, ``gc``,
  ``threading``, ``tomllib``...), and whether it registers ``atexit`` or fork handlers, which a
  program that never writes a file should not pay for.

``--python`` adds interpreters to compare (for example the ``.venv`` of another checkout, to
measure a change: ``--python ../before/.venv/bin/python``); every interpreter and module is
measured in interleaved rounds, and the median and range over rounds are reported. Run::

    .venv/bin/python bench/bench_import.py                # writes bench/results/import.json
    .venv/bin/python bench/bench_import.py --rounds 5     # quicker
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODULES = ("llmlog", "structlog", "loguru", "logging")
#: Modules a logging import should not need to load.
WATCHED = ("gzip", "zlib", "fcntl", "signal", "gc", "threading", "tomllib", "pluggy", "cattrs")
_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)")

PROBE = """
import sys, atexit, os
before = set(sys.modules)
import {module}
loaded = sorted(set(sys.modules) - before)
print("LOADED", " ".join(loaded))
print("ATEXIT", atexit._ncallbacks())
"""


def measure(python: str, module: str) -> tuple[int, list[str], int]:
    """One fresh interpreter: the module's cumulative import time (µs), what it loaded, and the
    number of atexit callbacks registered after the import."""
    result = subprocess.run(
        [python, "-X", "importtime", "-c", PROBE.format(module=module)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    cumulative = 0
    for line in result.stderr.splitlines():
        found = _LINE.match(line)
        if found and found.group(4) == module and not found.group(3).strip(" "):
            cumulative = int(found.group(2))
    loaded: list[str] = []
    callbacks = 0
    for line in result.stdout.splitlines():
        if line.startswith("LOADED"):
            loaded = line.split()[1:]
        elif line.startswith("ATEXIT"):
            callbacks = int(line.split()[1])
    return cumulative, loaded, callbacks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--python", action="append", default=[], help="another interpreter")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "import.json")
    args = parser.parse_args()
    pythons = [sys.executable, *args.python]
    cases = [(p, m) for p in pythons for m in MODULES if m == "llmlog" or p == sys.executable]
    times: dict[tuple[str, str], list[int]] = {case: [] for case in cases}
    seen: dict[tuple[str, str], tuple[list[str], int]] = {}
    for _ in range(args.rounds):
        for case in cases:
            cumulative, loaded, callbacks = measure(*case)
            times[case].append(cumulative)
            seen[case] = (loaded, callbacks)
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = float("nan")
    print(
        f"Python {platform.python_version()}; {args.rounds} interleaved rounds; load {load:.2f}; "
        "cumulative import time, median [min-max] µs"
    )
    rows = []
    base = statistics.median(times[(sys.executable, "logging")])
    for case in cases:
        python, module = case
        values = times[case]
        loaded, callbacks = seen[case]
        watched = [m for m in WATCHED if m in loaded]
        median = statistics.median(values)
        label = module if python == sys.executable else f"{module} ({python})"
        print(
            f"{label:60s} {median:8.0f} [{min(values):6d}-{max(values):6d}]"
            f"  ×{median / base:5.1f} logging  modules {len(loaded):4d}  atexit {callbacks}"
            f"  loads {' '.join(watched) or '-'}"
        )
        rows.append(
            {
                "python": python,
                "module": module,
                "median_us": median,
                "min_us": min(values),
                "max_us": max(values),
                "modules_loaded": len(loaded),
                "atexit_callbacks": callbacks,
                "watched_loaded": watched,
            }
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"rounds": args.rounds, "load": load, "rows": rows}, indent=2))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
