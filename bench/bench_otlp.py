"""What OTLP export costs the application's thread, per span, and its memory with a dead collector.

Writes span start/end pairs, in bursts of 500, through a trace session (``dspy`` format, buffered,
so the file is not what is measured) with no exporter, with the OTLP exporter sending to a local receiver that accepts
every request (a small OTLP/HTTP sink on 127.0.0.1, in another process), and with the exporter
pointed at a port where nothing listens. Rounds are interleaved; medians. The dead-collector run
also reports the peak of traced Python memory over 100,000 spans. Run::

    .venv/bin/python bench/bench_otlp.py          # bench/results/otlp.json
    .venv/bin/python bench/bench_otlp.py --quick
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from peers import start_receiver

import llmlog
from llmlog_exporter_otlp import OtlpExporter, OtlpOptions

SINK = """
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Sink(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

server = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


BURST = 500


def run(
    directory: Path, pairs: int, endpoint: str | None, paced: bool = True
) -> tuple[float, dict[str, int]]:
    """Microseconds per span on this thread, and the exporter's counters.

    Spans come in bursts of 500 and, when ``paced``, the exporter is let catch up between bursts
    (not timed): a program's spans come with its own work in between. The export thread runs during
    the bursts too, so its competition for the GIL is in the figure.
    """
    exporter = None
    if endpoint is not None:
        exporter = OtlpExporter(
            OtlpOptions(endpoint=endpoint, timeout=2.0, flush_timeout=10.0, schedule_delay=0.2)
        )
        exporter.start()
    session = llmlog.new_trace_session(directory, format="dspy", buffer_size=1 << 20)
    start, end = session.emit_span_start, session.emit_span_end
    elapsed = 0
    for burst in range(0, pairs, BURST):
        began = time.perf_counter_ns()
        for n in range(burst, min(pairs, burst + BURST)):
            span_id = f"{n:016x}"
            start(span_id, None, "Predict:qa", {"question": "What is 2+2?"})
            end(span_id, {"answer": "4"}, None, 1)
        elapsed += time.perf_counter_ns() - began
        if paced and exporter is not None:
            exporter.flush(10.0)
    session.close()
    stats: dict[str, int] = {}
    if exporter is not None:
        exporter.stop()
        stats = exporter.stats()
    return elapsed / 1000 / pairs, stats


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pairs", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--output", default=str(Path(__file__).parent / "results" / "otlp.json"))
    args = parser.parse_args()
    if args.quick:
        args.pairs, args.rounds = 5_000, 2
    sink, base = start_receiver(SINK)
    live = f"{base}/v1/traces"
    dead = f"http://127.0.0.1:{_free_port()}/v1/traces"
    llmlog.configure({"outputs": {}})
    variants = {"no exporter": None, "OTLP, live receiver": live, "OTLP, dead receiver": dead}
    samples: dict[str, list[float]] = {name: [] for name in variants}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for _ in range(args.rounds):
                for name, endpoint in variants.items():
                    # A dead collector never catches up: its bursts come back to back.
                    per_span, stats = run(Path(tmp), args.pairs, endpoint, paced=endpoint != dead)
                    samples[name].append(per_span)
                    if endpoint == live and (stats["exported"], stats["dropped"]) != (
                        args.pairs,
                        0,
                    ):
                        raise SystemExit(f"the live receiver did not get every span: {stats}")
            tracemalloc.start()
            per_span, stats = run(Path(tmp), 100_000, dead, paced=False)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
    finally:
        sink.terminate()
    med = {name: statistics.median(values) for name, values in samples.items()}
    base = med["no exporter"]
    print(
        f"Python {sys.version.split()[0]}; {args.rounds} rounds x {args.pairs} span pairs; medians\n"
    )
    for name, value in med.items():
        extra = (
            f"   +{value - base:.2f} µs per span on the app thread" if name != "no exporter" else ""
        )
        print(f"  {name:22} {value:7.2f} µs per span{extra}")
    print(
        f"\n  dead receiver, 100,000 spans: peak traced memory {peak / 2**20:.1f} MiB; "
        f"dropped {stats['dropped']}, exported {stats['exported']}"
    )
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(
        json.dumps(
            {"us_per_span": med, "dead_peak_mib": peak / 2**20, "dead_stats": stats}, indent=2
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
