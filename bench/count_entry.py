"""Instructions per log entry, llmlog against its honest floor, counted by valgrind's callgrind: a
figure that does not move with the machine's load (the timed figures are ``bench_file.py``'s and
``bench_flight.py``'s).

Usage (each checkout with its own environment)::

    python bench/count_entry.py [--python .venv/bin/python] [--entries 3000] [--simulate]

One process under callgrind runs every case: it sets the case up, warms it up (caches of base
names, clean strings and the formatted second filled, as in a long run), then writes ``entries``
entries inside a ``functools.reduce`` call, the only code collected (``--toggle-collect``), and
dumps the count when that call returns (``--dump-after``): setup, imports and closing are not
counted. The cases, each an enabled ``info("answer ready", user=…, attempt=…, model=…)``:

* ``json``, ``text``, ``logfmt`` to a file, one ``write()`` per entry and buffered (64 KiB),
  llmlog's ``file`` output with that formatter against ``floors.py``'s by-hand entry written the
  same way (``os.write`` on an ``O_APPEND`` descriptor; a buffered file's ``write``);
* a DEBUG entry only the flight recorder takes (every other output at INFO) against
  ``floors.flight_emitter``, from an unnamed and from a named logger (whose events carry the
  ``logger`` key, which the floor does not write);
* an INFO entry a JSON file and the flight recorder both take, against the JSON file's floor
  (the ratio includes the recorder's work, which that floor does not do);
* with no floor (their lines hold what the floors do not write): each formatter's entry logged
  inside a trace (a trace and a span id in the context), and the JSON entry from a logger with a
  bound field and with the dispatcher's default field;
* a filtered DEBUG call with three keyword fields, llmlog against structlog's filtering logger.

``--simulate`` turns on callgrind's cache and branch-prediction simulation and prints, per entry,
the misses of each case beside its floor's: where two paths run about as many instructions and
take unlike times, these say why (a larger code footprint misses the instruction cache; more
distinct bytecodes in a row mispredict the interpreter's dispatch). The model is valgrind's (a
32 KiB first level, a simple predictor), not the machine's: read it for differences, not cycles.

Needs valgrind (Debian's ``valgrind``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from common import SIMULATED, callgrind_events, callgrind_reduce

BENCH = Path(__file__).resolve().parent

#: What runs under callgrind; argv: bench directory, work directory, entries.
PROGRAM = r"""
import functools, io, os, sys
sys.path.insert(0, sys.argv[1])
work, n = sys.argv[2], int(sys.argv[3])
only = sys.argv[4].split(",") if len(sys.argv) > 4 and sys.argv[4] else None
import floors
import peers
from llmlog import Logger, Output, Severity
from llmlog_engine_flight import FlightRecorder
from llmlog_engine_flight.recorder import RecorderOutput
from llmlog_formatter_json import JsonFormatter
from llmlog_formatter_logfmt import LogfmtFormatter
from llmlog_formatter_text import TextFormatter
from llmlog_output_file import FileOptions, FileOutput

FORMATTERS = {"json": JsonFormatter, "text": TextFormatter, "logfmt": LogfmtFormatter}
names = []

def measure(name, emit, finish):
    if only is not None and not any(name.startswith(prefix) for prefix in only):
        finish()
        return
    for i in range(300):  # warm-up, not counted
        emit("answer ready", user="alice", attempt=i, model="gpt-4o-mini")
    def loop(_a, _b):
        for i in range(n):
            emit("answer ready", user="alice", attempt=i, model="gpt-4o-mini")
    functools.reduce(loop, [0, 0])  # collected: this call only, dumped when it returns
    finish()
    names.append(name)

for fmt, formatter in FORMATTERS.items():
    for buffered in (False, True):
        how = "buffered" if buffered else "write"
        path = os.path.join(work, f"{fmt}-{how}.floor")
        if buffered:
            fh = open(path, "ab", buffering=65536)
            emit = floors.FORMATS[fmt](io.BufferedWriter.write, fh)
            measure(f"{fmt} {how} floor", emit, fh.close)
        else:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            emit = floors.FORMATS[fmt](os.write, fd)
            measure(f"{fmt} {how} floor", emit, lambda fd=fd: os.close(fd))
        out = FileOutput(os.path.join(work, f"{fmt}-{how}.log"), formatter(),
                         FileOptions(buffer_size=65536 if buffered else 0))
        log = Logger(Severity.INFO, [out])
        measure(f"{fmt} {how} llmlog", log.info, out.close)

# The JSON entry from a logger with a bound field (log.bind(request_id=…)): a field more than
# the floor writes (no ratio).
out = FileOutput(os.path.join(work, "json-bound.log"), JsonFormatter(), FileOptions())
log = Logger(Severity.INFO, [out]).bind(request_id="req-7f3a")
measure("json bound llmlog", log.info, out.close)

# The JSON entry with the dispatcher's default fields (configure(default_fields=…)): a field
# more than the floor writes (no ratio).
out = FileOutput(os.path.join(work, "json-defaults.log"), JsonFormatter(), FileOptions())
log = Logger(Severity.INFO, [out], default_fields={"service": "qa"})
measure("json defaults llmlog", log.info, out.close)

# The entry logged inside a trace (a trace and a span id in the context): the line has the ids,
# which the floors do not write (no ratio).
from llmlog.context import with_span_id, with_trace_id
for fmt, formatter in FORMATTERS.items():
    out = FileOutput(os.path.join(work, f"{fmt}-trace.log"), formatter(), FileOptions())
    log = Logger(Severity.INFO, [out])
    with with_trace_id("4bf92f3577b34da6a3ce929d0e0e4736"), with_span_id("00f067aa0ba902b7"):
        measure(f"{fmt} trace llmlog", log.info, out.close)

# A DEBUG entry only the flight recorder takes.

class InfoOnly(Output):
    def write(self, entry):
        pass

fr = FlightRecorder(min_age=3600, max_bytes=1 << 30, backend="zstd", level=Severity.DEBUG)
fr.start()
info_only = InfoOnly()
info_only.level = Severity.INFO
log = Logger(Severity.INFO, [info_only, RecorderOutput(fr)])
measure("flight debug floor", floors.flight_emitter(), lambda: None)
measure("flight debug llmlog", log.debug, lambda: None)
# The same from a named logger (get_logger(__name__)): the event carries "logger".
measure("flight debug named llmlog", log.named("app.module").debug, fr.stop)

# An INFO entry that a JSON file and the flight recorder both take (a common production setup).
fr = FlightRecorder(min_age=3600, max_bytes=1 << 30, backend="zstd", level=Severity.DEBUG)
fr.start()
out = FileOutput(os.path.join(work, "json-recorder.log"), JsonFormatter(), FileOptions())
log = Logger(Severity.INFO, [out, RecorderOutput(fr)])
measure("json + recorder llmlog", log.info, lambda: (out.close(), fr.stop()))

# A filtered call.
class Nothing(Output):
    def write(self, entry):
        pass

log = Logger(Severity.INFO, [Nothing()])
measure("filtered llmlog", log.debug, lambda: None)
class Sink:
    def msg(self, message):
        pass
    info = debug = msg
slog = peers.structlog_logger(Sink())
measure("filtered structlog", slog.debug, lambda: None)
with open(os.path.join(work, "names"), "w") as f:
    f.write("\n".join(names))
"""

FORMATS = ("json", "text", "logfmt")
PAIRS = [
    *[
        (f"{fmt} {how}", f"{fmt} {how} llmlog", f"{fmt} {how} floor")
        for fmt in FORMATS
        for how in ("write", "buffered")
    ],
    ("flight DEBUG only", "flight debug llmlog", "flight debug floor"),
    ("flight DEBUG, named logger", "flight debug named llmlog", "flight debug floor"),
    ("json write + recorder", "json + recorder llmlog", "json write floor"),
    *[(f"{fmt} write, in a trace", f"{fmt} trace llmlog", "(no floor)") for fmt in FORMATS],
    ("json write, bound logger", "json bound llmlog", "(no floor)"),
    ("json write, default fields", "json defaults llmlog", "(no floor)"),
    ("filtered (vs structlog)", "filtered llmlog", "filtered structlog"),
]


def counts(
    python: str, entries: int, work: Path, only: str = "", simulate: bool = False
) -> dict[str, dict[str, float]]:
    """Events per entry of each case: instructions (``Ir``), and with ``simulate`` callgrind's
    cache and branch-prediction misses (``common.SIMULATED``)."""
    script = work / "program.py"
    script.write_text(PROGRAM)
    out = work / "callgrind.out"
    subprocess.run(
        [
            *callgrind_reduce(out, simulate),
            python,
            str(script),
            str(BENCH),
            str(work),
            str(entries),
            only,
        ],
        check=True,
        capture_output=True,
        # Set lookups cost what their collisions cost: one hash seed, the same count every run.
        env=dict(os.environ, PYTHONHASHSEED="0"),
    )
    names = (work / "names").read_text().splitlines()
    # Libraries call functools.reduce too (at import, at setup): those calls are short.
    dumps = [dump for dump in callgrind_events(out) if dump["Ir"] > 50 * entries]
    if len(dumps) != len(names):
        raise SystemExit(f"{len(dumps)} measured calls for {len(names)} cases")
    return {
        name: {event: value / entries for event, value in dump.items()}
        for name, dump in zip(names, dumps, strict=True)
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--entries", type=int, default=3000)
    parser.add_argument(
        "--only", default="", help="cases whose name starts with one of these (comma-separated)"
    )
    parser.add_argument(
        "--simulate",
        action="store_true",
        help="also callgrind's cache and branch-prediction misses per entry (slower)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = counts(args.python, args.entries, Path(tmp), args.only, args.simulate)
    print(f"instructions per entry ({args.entries} entries per case, callgrind)")
    print(f"  {'case':26} {'llmlog':>10} {'floor':>10} {'ratio':>7}")
    for label, ours, floor in PAIRS:
        if ours in result and floor not in result:
            print(f"  {label:26} {result[ours]['Ir']:10,.0f}")
        if ours in result and floor in result:
            mine, base = result[ours]["Ir"], result[floor]["Ir"]
            print(f"  {label:26} {mine:10,.0f} {base:10,.0f} {mine / base:6.2f}x")
    if args.simulate:
        # Where the time goes beside the instructions: an instruction-cache miss costs some ten
        # cycles, a mispredicted branch some fifteen, an instruction about a third of one.
        print("\nsimulated misses per entry, llmlog (floor): callgrind's model of a 32 KiB L1,")
        print("the machine's last level and a simple branch predictor")
        print(f"  {'case':26} " + " ".join(f"{event:>15}" for event in SIMULATED))
        for label, ours, floor in PAIRS:
            if ours in result:
                cells = [
                    f"{result[ours][event]:,.1f}"
                    + (f" ({result[floor][event]:,.1f})" if floor in result else "")
                    for event in SIMULATED
                ]
                print(f"  {label:26} " + " ".join(f"{cell:>15}" for cell in cells))


if __name__ == "__main__":
    main()
