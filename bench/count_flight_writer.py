"""Instructions the flight recorder's writer thread spends per event, counted by valgrind's
callgrind: a figure that does not move with the machine's load, for comparing two checkouts when
the machine is not quiet (the timed figure is ``bench_flight.py``'s "zstd writer ns/event").

Usage (each checkout with its own environment)::

    python bench/count_flight_writer.py [--python .venv/bin/python] [--events 10000]

It runs a recorder with the zstd backend and its ring full (evicting, the steady state) under
callgrind twice, writing ``events`` and ``2 * events`` events of ``bench_flight.py``'s mix, and
prints the main thread's instruction difference divided by ``events``: the per-event cost on the
writer's thread, setup and the background sealing thread excluded. Needs valgrind (Debian's
``valgrind``).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

#: What runs under callgrind: the recorder fills its ring, then records ``argv[1]`` events.
PROGRAM = r"""
import sys, time
try:
    from llmlog_engine_flight import FlightRecorder
except ImportError:  # a checkout from before the engine left the core
    from llmlog.flight import FlightRecorder
from llmlog import TraceEvent, TraceEventType

TEXT = "The quick brown fox answers questions about retrieval-augmented generation. " * 3
def mix(n):
    out = []
    for i in range(n):
        k = i % 3
        if k == 0:
            out.append(("span", {"event": "start", "operation": f"Predict:qa{i % 7}",
                                 "inputs": {"question": TEXT[:150]}}))
        elif k == 1:
            out.append(("span", {"event": "end", "duration_ms": i % 900,
                                 "outputs": {"answer": "Paris."}}))
        else:
            out.append(("log", {"level": "DEBUG", "msg": TEXT[: 120 + i % 80],
                                "logger": "app.pipeline", "fields": {"attempt": i % 4}}))
    return out
fr = FlightRecorder(min_age=3600, max_bytes=256 << 10, backend="zstd")
fr.start()
ts = time.time_ns()
prepared = [TraceEvent(TraceEventType.SPAN, ts, "ab" * 16, f"{i // 3:016x}", None, d)
            if k == "span" else d for i, (k, d) in enumerate(mix(3000))]
record, record_trace = fr.record, fr.record_trace_event
def write(count):
    done = 0
    while done < count:
        for event in prepared[: count - done]:
            if type(event) is TraceEvent:
                record_trace(event)
            else:
                record("log", **event)
        done += min(len(prepared), count - done)
# A fixed fill, the same in every run (filling "until it evicts" would depend on the sealing
# thread's timing and leave a different count of events in each run's total).
for _ in range(20):
    write(3000)
    fr.ring.seal_now(wait=30)
assert fr.ring.evicted_events, "the ring never filled"
write(int(sys.argv[1]))
fr.ring.seal_now(wait=30)
fr.stop()
"""


def main_thread_instructions(python: str, events: int, work: Path) -> int:
    """The main thread's instruction count of one run with ``events`` events."""
    script = work / "program.py"
    script.write_text(PROGRAM)
    out = work / f"callgrind.{events}"
    subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--separate-threads=yes",
            f"--callgrind-out-file={out}.%p",
            python,
            str(script),
            str(events),
        ],
        check=True,
        capture_output=True,
    )
    (main,) = list(work.glob(f"callgrind.{events}.*-01"))
    found = re.search(r"^summary: (\d+)", main.read_text(errors="replace"), re.MULTILINE)
    if found is None:
        raise SystemExit(f"no summary line in {main}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--events", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        once = main_thread_instructions(args.python, args.events, work)
        twice = main_thread_instructions(args.python, 2 * args.events, work)
    print(f"zstd writer instructions/event (main thread): {(twice - once) / args.events:,.0f}")


if __name__ == "__main__":
    main()
