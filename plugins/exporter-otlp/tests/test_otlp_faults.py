"""A collector that is dead, a black hole or slow to refuse, with the span exporter and the log
output both active: exit within ``flush_timeout`` in total, every drop counted in what would have
been sent and reported once, memory bounded in bytes. Real collectors on 127.0.0.1
(``llmlog_exporter_otlp.testing``), real child processes, real exits."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

import llmlog
from llmlog.ext import ConfigError
from llmlog.testing import isolated_environment, make_entry
from llmlog_exporter_otlp import OtlpLogOptions, OtlpLogOutput
from llmlog_exporter_otlp.sizes import VALUE_OVERHEAD, fields_size, value_size
from llmlog_exporter_otlp.testing import FAULTS, faulty_collector, run_program

FLUSH_TIMEOUT = 2.0
#: Hang guard for the exit: the flush timeout plus room for the interpreter to exit on a busy
#: machine. Not a benchmark (bench/bench_otlp_faults.py measures).
EXIT_GUARD = FLUSH_TIMEOUT + 3.0
COUNT = 5_000

PROGRAM = """
import json, resource, sys, time
import llmlog

settings = json.loads(sys.argv[1])
base, mode = settings["base"], settings["mode"]
options = settings["options"]
config = {"outputs": {}, "integrations": {}}
if mode in ("logs", "both"):
    config["outputs"]["otel"] = {"type": "otlp", "endpoint": base + "/v1/logs", **options}
if mode in ("spans", "both"):
    config["integrations"]["otlp"] = {"enabled": True, "endpoint": base + "/v1/traces", **options}
llmlog.configure(config)
log = llmlog.get_logger("app")
payload = "p" * settings.get("payload", 0)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, flush=True)
for n in range(settings["count"]):
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

TOTALS = re.compile(
    r"OTLP exporter: (?P<dropped>\d+) of (?P<total>\d+) (?P<what>spans|log records) were not sent "
    r"to \S+: (?P<full>\d+) dropped at a full queue, (?P<failed>\d+) after failed exports, "
    r"(?P<unsent>\d+) unsent at exit; (?P<sent>\d+) sent"
)


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path) -> Iterator[Path]:
    with isolated_environment(tmp_path):
        yield tmp_path


def _run(base: str, mode: str, count: int = COUNT, **options: Any) -> tuple[Any, dict[str, Any]]:
    """Run the program against ``base``; returns the run and the drop totals it reported."""
    settings = {
        "base": base,
        "mode": mode,
        "count": count,
        "payload": options.pop("payload", 0),
        "options": {"flush_timeout": FLUSH_TIMEOUT, **options},
    }
    run = run_program(PROGRAM, [json.dumps(settings)], timeout=120)
    assert run.returncode == 0, run.stderr
    totals: dict[str, Any] = {}
    for match in TOTALS.finditer(run.stderr):
        what = match["what"]
        assert what not in totals, f"{what} reported twice:\n{run.stderr}"
        totals[what] = {k: int(v) for k, v in match.groupdict().items() if k != "what"}
    return run, totals


def _check(totals: dict[str, Any], what: str, produced: int, sent: int, stderr: str) -> None:
    assert what in totals, f"no drop total for {what}:\n{stderr}"
    found = totals[what]
    assert found["full"] + found["failed"] + found["unsent"] == found["dropped"], found
    assert found["sent"] == sent, found
    # Nothing lost silently: what was sent and what was dropped make up what was produced.
    assert found["dropped"] + found["sent"] == found["total"] == produced, found


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize(
    "mode",
    [
        "both",
        pytest.param("spans", marks=pytest.mark.slow),
        pytest.param("logs", marks=pytest.mark.slow),
    ],
)
@pytest.mark.slow
def test_exit_is_bounded_and_every_drop_is_reported(fault, mode):
    with faulty_collector(fault) as base:  # type: ignore[arg-type]
        # A small queue, so that the queue also fills; the default request timeout (10 s), longer
        # than the flush timeout: a request in flight must not hold the exit.
        run, totals = _run(base, mode, max_queue_size=1_000, schedule_delay=0.05)
    assert run.exit_seconds is not None and run.exit_seconds < EXIT_GUARD, (
        run.exit_seconds,
        run.stderr,
    )
    for what, active in (("spans", mode != "logs"), ("log records", mode != "spans")):
        if active:
            _check(totals, what, COUNT, 0, run.stderr)
        else:
            assert what not in totals
    assert "Traceback" not in run.stderr, run.stderr


class StallingCollector:
    """Answers 200 to the first ``accept`` requests of each signal, counting what they carried,
    then reads every later request and never answers (a collector that hangs mid-run)."""

    def __init__(self, accept: int) -> None:
        self.received = {"/v1/traces": 0, "/v1/logs": 0}
        self.answered = {"/v1/traces": 0, "/v1/logs": 0}
        self.release = threading.Event()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if collector.answered[self.path] >= accept:
                    collector.release.wait(60)
                    return
                collector.answered[self.path] += 1
                if self.path == "/v1/logs":
                    request: Any = ExportLogsServiceRequest.FromString(body)
                    n = sum(len(s.log_records) for r in request.resource_logs for s in r.scope_logs)
                else:
                    request = ExportTraceServiceRequest.FromString(body)
                    n = sum(len(s.spans) for r in request.resource_spans for s in r.scope_spans)
                collector.received[self.path] += n
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.slow
def test_what_was_sent_and_what_was_dropped_make_up_what_was_produced():
    # The collector takes 3 batches of each signal, then hangs: the totals must say exactly how
    # many records and spans it took (a batch in flight at the deadline counts as unsent).
    collector = StallingCollector(accept=3)
    try:
        run, totals = _run(collector.base, "both", max_export_batch_size=100, schedule_delay=0.05)
    finally:
        collector.close()
    assert run.exit_seconds is not None and run.exit_seconds < EXIT_GUARD, run.stderr
    spans, records = collector.received["/v1/traces"], collector.received["/v1/logs"]
    assert 0 < spans <= 300 and 0 < records <= 300, collector.received  # 3 batches of <= 100
    _check(totals, "spans", COUNT, spans, run.stderr)
    _check(totals, "log records", COUNT, records, run.stderr)


def test_threads_writing_while_the_output_closes_lose_nothing_silently(capfd):
    # Four threads write before, while and after the output closes, with a collector that takes
    # 5 batches and then hangs: every entry is sent (and received) or counted, whichever path it
    # took.
    collector = StallingCollector(accept=5)
    output = OtlpLogOutput(
        OtlpLogOptions(
            endpoint=f"{collector.base}/v1/logs",
            max_queue_size=2_000,
            max_export_batch_size=100,
            schedule_delay=0.01,
            flush_timeout=1.0,
        )
    )
    entry = make_entry("racing", fields={"n": 1})
    closed = threading.Event()
    written = [0] * 4

    def write(slot: int) -> None:
        after = 0
        while after < 1_000:  # until closed, and 1,000 more
            output.write(entry)
            written[slot] += 1
            after += closed.is_set()
            if written[slot] % 100 == 0:
                time.sleep(0.001)  # let the export thread and the closing run in between

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    try:
        for thread in threads:
            thread.start()
        waited = time.monotonic() + 30
        while collector.answered["/v1/logs"] < 2 and time.monotonic() < waited:
            time.sleep(0.01)  # the collector has taken some
        output.close()  # while they write
        closed.set()
        for thread in threads:
            thread.join(60)
    finally:
        collector.close()
    stats = output.stats()
    assert stats["exported"] + stats["dropped"] == sum(written), (stats, written)
    # A batch the collector took as the close's deadline passed, its answer still on the way,
    # counts as unsent: at most one (one export thread), of at most 100 records.
    received = collector.received["/v1/logs"]
    assert 0 < stats["exported"] <= received <= stats["exported"] + 100, (stats, received)
    err = capfd.readouterr().err
    assert err.count("were not sent") == 1 and err.count("made after the exporter closed") == 1


@pytest.mark.slow
def test_a_healthy_collector_gets_everything_at_exit_and_nothing_is_reported():
    collector = StallingCollector(accept=10**9)
    try:
        run, totals = _run(collector.base, "both")
    finally:
        collector.close()
    assert collector.received == {"/v1/traces": COUNT, "/v1/logs": COUNT}
    assert totals == {} and "llmlog:" not in run.stderr, run.stderr


def test_large_records_with_a_dead_collector_keep_memory_bounded():
    # 20,000 entries with a 30,000-character field (a long prompt): about 600 MB if the queue
    # held them all (the previous item-bounded queue grew by 740 MiB). With the default byte bound
    # (32 MiB) the process grows by about 50 MiB; 200 MiB is a generous guard.
    with faulty_collector("dead") as base:
        run, totals = _run(base, "logs", count=20_000, payload=30_000)
    baseline = int(run.stdout.split()[0])
    growth = run.peak_rss - baseline
    assert growth < 200 * 2**20, f"grew by {growth / 2**20:.0f} MiB"
    _check(totals, "log records", 20_000, 0, run.stderr)
    assert totals["log records"]["full"] > 0


def test_the_queue_is_bounded_in_bytes(capfd, dead):
    output = OtlpLogOutput(
        OtlpLogOptions(
            endpoint=f"{dead}/v1/logs",
            max_queue_bytes=2**20,
            schedule_delay=60.0,  # the export thread stays asleep: only the queue holds them
        )
    )
    entry = make_entry("long prompt", fields={"prompt": "x" * 30_000})
    for _ in range(200):  # about 6 MB
        output.write(entry)
    stats = output.stats()
    assert stats["waiting_bytes"] <= 2**20, stats
    assert 20 <= stats["waiting"] <= 40 and stats["dropped_queue_full"] == 200 - stats["waiting"]
    output.close()
    assert output.stats()["dropped"] == 200 and output.stats()["waiting"] == 0
    err = capfd.readouterr().err
    assert err.count("the queue is full (20000 items or 1 MiB") == 1, err
    assert "200 of 200 log records were not sent" in err, err


def test_a_value_whose_size_cannot_be_taken_is_still_queued(dead):
    class Broken(dict):  # type: ignore[type-arg]
        def __len__(self) -> int:
            raise RuntimeError("no length")

    output = OtlpLogOutput(OtlpLogOptions(endpoint=f"{dead}/v1/logs", schedule_delay=60.0))
    output.write(make_entry("odd", fields={"state": Broken(a=1)}))  # never raises
    assert output.stats()["waiting"] == 1
    output.close()
    assert output.stats()["dropped"] == 1


@pytest.mark.slow
def test_shutdown_of_the_exporter_and_the_output_shares_one_flush_timeout(capfd):
    # llmlog.shutdown() flushes and closes the log output, then stops the span exporter: one
    # flush_timeout in all, not one per step, with both stuck on a black hole.
    with faulty_collector("black_hole") as base:
        llmlog.configure(
            {
                "outputs": {
                    "otel": {"type": "otlp", "endpoint": f"{base}/v1/logs", "flush_timeout": 3}
                },
                "integrations": {
                    "otlp": {"enabled": True, "endpoint": f"{base}/v1/traces", "flush_timeout": 3}
                },
            }
        )
        log = llmlog.get_logger("app")
        for n in range(100):
            with llmlog.span("step"):
                log.info("step", n=n)
        time.sleep(0.3)  # both export threads are now waiting on the black hole
        started = time.monotonic()
        llmlog.shutdown()
        took = time.monotonic() - started
    assert took < 3 + 3, f"shutdown took {took:.1f} s"  # a hang guard: 3 s each took 9 s
    err = capfd.readouterr().err
    assert "100 of 100 spans were not sent" in err and "unsent at close" in err, err
    assert "100 of 100 log records were not sent" in err, err


def test_entries_after_close_are_counted_and_reported_once(capfd, dead):
    output = OtlpLogOutput(OtlpLogOptions(endpoint=f"{dead}/v1/logs", schedule_delay=0.05))
    output.close()
    for _ in range(3):
        output.write(make_entry("too late"))
    stats = output.stats()
    assert stats["dropped_unsent"] == 3 and stats["waiting"] == 0, stats
    assert capfd.readouterr().err.count("made after the exporter closed") == 1


def test_reports_never_show_the_endpoints_password(capfd, dead):
    output = OtlpLogOutput(
        OtlpLogOptions(
            endpoint=dead.replace("//", "//user:S3CRETPASS@") + "/v1/logs",
            schedule_delay=0.05,
            flush_timeout=1.0,
        )
    )
    output.write(make_entry("m"))
    time.sleep(0.3)
    output.close()
    err = capfd.readouterr().err
    assert "1 of 1 log records were not sent to http://127.0.0.1:" in err, err
    assert "S3CRETPASS" not in err, err


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("lots", "expected an integer number of bytes or a size"),
        (1000, "must be >= 65536"),
        (True, "expected an integer number of bytes"),
    ],
)
def test_max_queue_bytes_is_validated(value, problem):
    for table in (
        {"outputs": {"otel": {"type": "otlp", "max_queue_bytes": value}}},
        {"integrations": {"otlp": {"enabled": True, "max_queue_bytes": value}}},
    ):
        with pytest.raises(ConfigError) as caught:
            llmlog.configure(table)
        assert problem in str(caught.value) and ".max_queue_bytes" in str(caught.value)


def test_max_queue_bytes_takes_a_size():
    llmlog.configure({"outputs": {"otel": {"type": "otlp", "max_queue_bytes": "16MiB"}}})
    (output,) = [o for o in llmlog.logger.global_dispatcher().outputs if o.name == "otel"]
    assert output.options.max_queue_bytes == 16 * 2**20


# -- the size estimate: any value, cheap and never failing ------------------------------------------

_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text() | st.binary(),
    lambda children: (
        st.lists(children, max_size=8)
        | st.tuples(children, children)
        | st.dictionaries(st.text(max_size=8), children, max_size=8)
    ),
    max_leaves=200,
)


def _strings(value: Any) -> int:
    if isinstance(value, str | bytes):
        return len(value)
    if isinstance(value, dict):
        return sum(_strings(v) for v in value.values())
    if isinstance(value, list | tuple):
        return sum(_strings(v) for v in value)
    return 0


def _nodes(value: Any) -> int:
    if isinstance(value, dict):
        return len(value) + sum(_nodes(v) for v in value.values())
    if isinstance(value, list | tuple):
        return len(value) + sum(_nodes(v) for v in value)
    return 0


@settings(max_examples=300)
@given(_VALUES, st.booleans())
def test_the_size_estimate_takes_any_value(value, cyclic):
    if cyclic:  # a value that holds itself, twice
        value = {"a": value, "self": None}
        value["self"] = [value, value]
    size = value_size(value)
    assert size >= VALUE_OVERHEAD
    if not cyclic and _nodes(value) <= 64:  # within the walk's budget every text is counted
        assert size >= _strings(value)
    if isinstance(value, dict):
        assert fields_size(value) >= VALUE_OVERHEAD


def test_the_size_estimate_of_a_huge_value_looks_at_a_bounded_part():
    calls = 0

    class Counting(dict):  # type: ignore[type-arg]
        def values(self) -> Any:
            nonlocal calls
            calls += 1
            return super().values()

    huge = [Counting(content="x" * 100) for _ in range(100_000)]
    assert value_size(huge) >= 100_000 * VALUE_OVERHEAD  # every slot, by the length alone
    assert calls <= 64
