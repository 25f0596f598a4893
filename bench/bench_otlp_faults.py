"""What a failing collector costs an application at exit: time, memory and what it is told.

For each collector fault (``llmlog_exporter_otlp.testing``: a dead port, a black hole that
accepts and never answers, an HTTP server answering 503 after 2 s) and each of spans, log records
and both, a child process configures llmlog with the OTLP span exporter (``[integrations.otlp]``)
and/or the ``otlp`` log output, makes ``--count`` spans (each with a log entry inside when both)
and returns from ``main``. Measured from outside:

* exit time: from the last log call to the end of the process (the child prints
  ``time.monotonic()``, the parent notes when it reaps the child);
* peak RSS of the child (``wait4``), and its growth over the RSS after ``configure()``;
* the ``llmlog:`` lines on stderr, and the drop totals they report.

``--large`` logs entries with a 30,000-character field (a long prompt) instead, to see what bounds
the queue's memory. Run::

    .venv/bin/python bench/bench_otlp_faults.py                  # bench/results/otlp_faults.json
    .venv/bin/python bench/bench_otlp_faults.py --quick          # 20,000 spans/entries
    .venv/bin/python bench/bench_otlp_faults.py --large --modes logs --count 20000
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from llmlog_exporter_otlp.testing import FAULTS, faulty_collector, run_program

PROGRAM = """
import json, resource, sys, time
import llmlog

settings = json.loads(sys.argv[1])
base, mode, count = settings["base"], settings["mode"], settings["count"]
options = settings["options"]
config = {"outputs": {}, "integrations": {}}
if mode in ("logs", "both"):
    config["outputs"]["otel"] = {"type": "otlp", "endpoint": base + "/v1/logs", **options}
if mode in ("spans", "both"):
    config["integrations"]["otlp"] = {"enabled": True, "endpoint": base + "/v1/traces", **options}
llmlog.configure(config)
log = llmlog.get_logger("app")
payload = "p" * settings["payload"]
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, flush=True)
for n in range(count):
    if mode == "logs":
        log.info("step done", n=n, payload=payload)
    elif mode == "spans":
        with llmlog.span("step"):
            pass
    else:
        with llmlog.span("step"):
            log.info("step done", n=n, payload=payload)
print(time.monotonic(), flush=True)
"""

MODES = ("spans", "logs", "both")
_DROPS = re.compile(r"(\d+) (?:trace events or spans|log entries|spans|log records)[^\n]*dropped")


def measure(fault: str, mode: str, count: int, payload: int, options: dict[str, object]) -> dict:
    """One child run against one fault."""
    with faulty_collector(fault) as base:  # type: ignore[arg-type]
        settings = {
            "base": base,
            "mode": mode,
            "count": count,
            "payload": payload,
            "options": options,
        }
        run = run_program(PROGRAM, [json.dumps(settings)], timeout=300)
    lines = run.stdout.split()
    base_rss = int(lines[0]) * 1024 if lines else 0
    reports = [line for line in run.stderr.splitlines() if line.startswith("llmlog:")]
    return {
        "fault": fault,
        "mode": mode,
        "exit_s": run.exit_seconds,
        "peak_rss_mib": run.peak_rss / 2**20,
        "growth_mib": (run.peak_rss - base_rss) / 2**20,
        "returncode": run.returncode,
        "reports": reports,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--large", action="store_true", help="30,000-character field per entry")
    parser.add_argument("--faults", nargs="+", default=list(FAULTS), choices=FAULTS)
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=JSON",
        help="an option of both components, e.g. flush_timeout=2 or max_queue_bytes='\"16MiB\"'",
    )
    parser.add_argument(
        "--output", default=str(Path(__file__).parent / "results" / "otlp_faults.json")
    )
    args = parser.parse_args()
    if args.quick:
        args.count = 20_000
    options = {}
    for item in args.option:
        key, _, value = item.partition("=")
        options[key] = json.loads(value)
    payload = 30_000 if args.large else 0
    results = []
    print(
        f"Python {sys.version.split()[0]}; {args.count} spans/entries per run"
        f"{', 30,000-character field per entry' if args.large else ''}; options {options or 'default'}\n"
    )
    print(f"  {'fault':10} {'mode':6} {'exit s':>7} {'peak RSS':>9} {'growth':>8}  reports")
    for fault in args.faults:
        for mode in args.modes:
            result = measure(fault, mode, args.count, payload, options)
            results.append(result)
            exit_s = result["exit_s"]
            print(
                f"  {fault:10} {mode:6} {exit_s if exit_s is not None else float('nan'):7.2f} "
                f"{result['peak_rss_mib']:6.0f} MiB {result['growth_mib']:5.0f} MiB  "
                f"{len(result['reports'])} lines, drop totals: "
                f"{[int(n) for line in result['reports'] for n in _DROPS.findall(line)]}"
            )
            for line in result["reports"]:
                print(f"      {line}")
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
