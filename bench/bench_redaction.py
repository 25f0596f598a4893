"""What scanning values for secrets costs: the same work with value scanning off and on, one run.

Issue 15 sets two bounds: scanning adds at most 1 µs to an enabled entry with ordinary short
fields, and at most 20 µs to a 10 KB prompt. "Off" is ``redact_values = false`` (secrets found by
key name only, as before issue 15); "on" is the default. Everything else is the same: the same
logger, JSON formatter and in-memory sink as ``bench_core.py``, key redaction and size caps on.

Cases:

1. **entry, literal**: ``log.info("answer ready", user="alice", attempt=i)``, bench_core's entry
   (the message and value are the same string objects every call, as literals are).
2. **entry, fresh strings**: the message and the value are new strings every call
   (``f"answer {i} ready"``, ``f"user-{i}"``): no cache can help.
3. **10 KB prompt**: ``Sanitizer.fields({"prompt": p})`` for a new 10,240-character string each
   call, made of ordinary LLM-app text (prompts, answers, a little code and JSON: the
   false-positive corpus of the tests); also 10 KB of prose only, of Python code and of JSON.

Method: ``--rounds`` interleaved rounds of ``--calls`` calls per case (a tenth for the 10 KB
cases); per case the median CPU time per call (``time.process_time_ns``) and the range over
rounds; the difference on - off is what scanning adds. Run::

    .venv/bin/python bench/bench_redaction.py            # writes bench/results/redaction.json
    .venv/bin/python bench/bench_redaction.py --quick
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import llmlog
from llmlog import Logger, Output, Severity
from llmlog.sanitize import Sanitizer
from llmlog_formatter_json import JsonFormatter

ROOT = Path(__file__).resolve().parents[1]
CORPUS = json.loads((ROOT / "core" / "tests" / "data" / "secrets_corpus.json").read_text())
SIZE = 10_240

Case = Callable[[int], None]


class MemorySink(Output):
    """Renders JSON and keeps the last line (as bench_core's)."""

    def __init__(self) -> None:
        self.last = b""
        self._format = JsonFormatter().format_bytes

    def write(self, entry: llmlog.LogEntry) -> None:
        self.last = self._format(entry)


def _ten_kb(text: str) -> str:
    return (text * (SIZE // max(1, len(text)) + 1))[:SIZE]


def texts() -> dict[str, str]:
    prose = "\n\n".join(
        t for t in CORPUS["ordinary"] if not t.startswith(("{", "def ", "class ", "import"))
    )
    return {
        "prompt": _ten_kb("\n\n".join(CORPUS["ordinary"])),
        "prose": _ten_kb(prose),
        "code": _ten_kb((ROOT / "core" / "src" / "llmlog" / "logger.py").read_text()),
        "json": _ten_kb(
            json.dumps([{"id": i, "title": f"doc {i}", "score": i / 7} for i in range(200)])
        ),
    }


def cases(scan: bool) -> dict[str, Case]:
    sink = MemorySink()
    sink.level = Severity.DEBUG
    log = Logger(level=Severity.INFO, outputs=[sink])
    log.dispatcher.sanitizer = Sanitizer(redact_values=scan)
    sanitizer = Sanitizer(redact_values=scan)

    def literal(n: int) -> None:
        info = log.info
        for i in range(n):
            info("answer ready", user="alice", attempt=i)

    def fresh(n: int) -> None:
        info = log.info
        for i in range(n):
            info(f"answer {i} ready", user=f"user-{i}", attempt=i)

    found: dict[str, Case] = {"entry, literal": literal, "entry, fresh strings": fresh}
    for name, text in texts().items():

        def prompt(n: int, text: str = text) -> None:
            fields = sanitizer.fields
            for i in range(n):
                # A new string object each call (what an application passes), same length.
                fields({"prompt": text[: SIZE - 6] + f"{i % 999_999:06d}"})

        found[f"10 KB {name}"] = prompt
    return found


def measure(fn: Case, calls: int) -> float:
    # CPU time of this (single-threaded) process: on a shared machine wall time mostly measures
    # the other processes; the cases compared run interleaved all the same.
    start = time.process_time_ns()
    fn(calls)
    return (time.process_time_ns() - start) / calls


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--output", default=str(Path(__file__).parent / "results" / "redaction.json")
    )
    args = parser.parse_args()
    if args.quick:
        args.calls, args.rounds = 2_000, 3
    sides = {"off": cases(False), "on": cases(True)}
    samples: dict[tuple[str, str], list[float]] = {}
    for side in sides.values():  # warm-up
        for fn in side.values():
            fn(min(args.calls, 1_000))
    for _ in range(args.rounds):
        for side, side_cases in sides.items():
            for case, fn in side_cases.items():
                calls = args.calls if case.startswith("entry") else max(1, args.calls // 10)
                samples.setdefault((case, side), []).append(measure(fn, calls))
    print(
        f"Python {sys.version.split()[0]} on {platform.machine()}; {args.rounds} interleaved "
        f"rounds; median ns per call [min-max]\n"
    )
    print(f"{'case':24} {'scanning off':>26} {'scanning on':>26} {'added':>9}")
    rows = {}
    for case in sides["off"]:
        off, on = samples[(case, "off")], samples[(case, "on")]
        m_off, m_on = statistics.median(off), statistics.median(on)
        rows[case] = {
            "off_ns": round(m_off, 1),
            "on_ns": round(m_on, 1),
            "added_ns": round(m_on - m_off, 1),
            "off_range": [round(min(off), 1), round(max(off), 1)],
            "on_range": [round(min(on), 1), round(max(on), 1)],
        }
        print(
            f"{case:24} {m_off:9.0f} [{min(off):6.0f}-{max(off):6.0f}] "
            f"{m_on:9.0f} [{min(on):6.0f}-{max(on):6.0f}] {m_on - m_off:9.0f}"
        )
    result = {
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "calls": args.calls,
        "rounds": args.rounds,
        "cases": rows,
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.output}")


if __name__ == "__main__":
    main()
