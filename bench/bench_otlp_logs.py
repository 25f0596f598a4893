"""Log records over OTLP: llmlog's ``otlp`` output against the OpenTelemetry SDK's logging handler.

Each variant logs ``info("answered", docs=3, ...)`` in bursts of 500 on the application's thread
and sends every entry to the same local OTLP/HTTP receiver (another process, decoding each
``ExportLogsServiceRequest`` and counting its records); between bursts the variant is flushed,
untimed, as a program's own work would let its export thread catch up. Variants, interleaved per
round, medians:

* llmlog ``Logger`` with an output that does nothing (the logging call itself), and with the
  ``otlp`` output;
* standard ``logging`` with a ``NullHandler``, and with the SDK's ``LoggingHandler`` feeding a
  ``BatchLogRecordProcessor`` and the SDK's ``OTLPLogExporter`` (what OpenTelemetry documents for
  Python logs).

Every variant is checked to have delivered every record. Run::

    .venv/bin/python bench/bench_otlp_logs.py           # bench/results/otlp_logs.json
    .venv/bin/python bench/bench_otlp_logs.py --quick
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from peers import start_receiver

import llmlog
from llmlog import Severity

SINK = """
import sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

count = 0
lock = threading.Lock()

class Sink(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        global count
        request = ExportLogsServiceRequest.FromString(
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
        )
        n = sum(len(s.log_records) for r in request.resource_logs for s in r.scope_logs)
        with lock:
            count += n
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):
        body = str(count).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

server = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
print(server.server_address[1], flush=True)
server.serve_forever()
"""

BURST = 500


def received(base: str) -> int:
    with urllib.request.urlopen(base, timeout=5) as response:
        return int(response.read())


def setup(variant: str, endpoint: str) -> tuple[Callable[[int], None], Callable[[], None], Any]:
    """``(log one entry, flush, close)`` for a variant."""
    if variant.startswith("llmlog"):
        outputs: list[Any] = []
        if variant == "llmlog, null output":

            class Null(llmlog.Output):
                def write(self, entry: llmlog.LogEntry) -> None:
                    pass

            outputs.append(Null())
        if variant == "llmlog otlp output":
            from llmlog_exporter_otlp import OtlpLogOptions, OtlpLogOutput

            output = OtlpLogOutput(OtlpLogOptions(endpoint=endpoint, schedule_delay=0.2))
            output.level = Severity.INFO
            outputs.append(output)
        log = llmlog.Logger(Severity.INFO, outputs, name="bench")

        def write(i: int) -> None:
            log.info("answered", docs=3, request=i, model="gpt-4o-mini")

        def flush() -> None:
            for output in outputs:
                output.flush()

        def close() -> None:
            for output in outputs:
                output.close()

        return write, flush, close
    logger = logging.getLogger(f"bench.{variant}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    if variant == "stdlib + OTel SDK LoggingHandler":
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
        from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
        from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

        provider = LoggerProvider()
        provider.add_log_record_processor(
            BatchLogRecordProcessor(OTLPLogExporter(endpoint=endpoint), schedule_delay_millis=200)
        )
        handler: logging.Handler = LoggingHandler(level=logging.INFO, logger_provider=provider)

        def flush() -> None:
            provider.force_flush()

        def close() -> None:
            provider.shutdown()
    else:
        handler = logging.NullHandler()

        def flush() -> None:
            pass

        def close() -> None:
            pass

    logger.handlers[:] = [handler]

    def write(i: int) -> None:
        logger.info("answered", extra={"docs": 3, "request": i, "model": "gpt-4o-mini"})

    return write, flush, close


def run(variant: str, endpoint: str, base: str, entries: int) -> float:
    """Microseconds per entry on this thread; checks every record arrived."""
    write, flush, close = setup(variant, endpoint)
    before = received(base)
    elapsed = 0
    for burst in range(0, entries, BURST):
        began = time.perf_counter_ns()
        for i in range(burst, min(entries, burst + BURST)):
            write(i)
        elapsed += time.perf_counter_ns() - began
        flush()
    close()
    if variant in ("llmlog otlp output", "stdlib + OTel SDK LoggingHandler"):
        got = received(base) - before
        if got != entries:
            raise SystemExit(f"{variant}: the receiver got {got} of {entries} records")
    return elapsed / 1000 / entries


VARIANTS = [
    "llmlog, null output",
    "llmlog otlp output",
    "stdlib, NullHandler",
    "stdlib + OTel SDK LoggingHandler",
]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entries", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--output", default=str(Path(__file__).parent / "results" / "otlp_logs.json")
    )
    args = parser.parse_args()
    if args.quick:
        args.entries, args.rounds = 5_000, 2
    sink, base = start_receiver(SINK)
    endpoint = f"{base}/v1/logs"
    llmlog.configure({"outputs": {}})
    samples: dict[str, list[float]] = {name: [] for name in VARIANTS}
    try:
        for r in range(args.rounds):
            for variant in VARIANTS[r % len(VARIANTS) :] + VARIANTS[: r % len(VARIANTS)]:
                samples[variant].append(run(variant, endpoint, base, args.entries))
    finally:
        sink.terminate()
    med = {name: statistics.median(values) for name, values in samples.items()}
    ours = med["llmlog otlp output"] - med["llmlog, null output"]
    theirs = med["stdlib + OTel SDK LoggingHandler"] - med["stdlib, NullHandler"]
    print(f"Python {sys.version.split()[0]}; {args.rounds} rounds x {args.entries} entries\n")
    for name, value in med.items():
        print(f"  {name:34} {value:7.2f} µs per entry")
    print(
        f"\n  added by the OTLP log path: llmlog {ours:.2f} µs, OTel SDK handler {theirs:.2f} µs "
        f"(llmlog's is {ours / theirs:.2f}× the SDK's)\n"
        f"  whole call: llmlog {med['llmlog otlp output']:.2f} µs, stdlib + SDK "
        f"{med['stdlib + OTel SDK LoggingHandler']:.2f} µs "
        f"({med['stdlib + OTel SDK LoggingHandler'] / med['llmlog otlp output']:.1f}× llmlog's)"
    )
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps({"medians": med, "samples": samples}, indent=2) + "\n")


if __name__ == "__main__":
    main()
