"""The ``otlp`` output: log entries as OpenTelemetry log records, received by a real OTLP/HTTP
receiver (an HTTP server on 127.0.0.1 decoding ``ExportLogsServiceRequest`` protobuf), the output
conformance suite, and a dead collector."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import llmlog
from llmlog import Severity, TokenUsage
from llmlog.testing import check_output, isolated_environment, make_entry
from llmlog_exporter_otlp import OtlpLogOptions, OtlpLogOutput
from llmlog_exporter_otlp.logs import severity_number
from llmlog_exporter_otlp.testing import faulty_collector


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path) -> Iterator[Path]:
    with isolated_environment(tmp_path):
        yield tmp_path


def test_entries_arrive_as_log_records_linked_to_their_spans(receiver):
    llmlog.configure(
        {
            "level": "debug",
            # the user's price: the record says so (a price table's would name the table)
            "prices": {"gpt-4o-mini": {"input": 0.15, "output": 0.6}},
            "outputs": {
                "otel": {
                    "type": "otlp",
                    "level": "info",
                    "endpoint": receiver.endpoint,
                    "schedule_delay": "50ms",
                    "compression": "gzip",
                    "headers": {"x-team": "qa"},
                    "service_name": "qa-service",
                }
            },
        }
    )
    log = llmlog.get_logger("app.rag")
    log.debug("not exported: below the output's level")
    with (
        llmlog.new_trace_session() as session,
        llmlog.span("Predict:qa") as span,
        llmlog.with_model_id("gpt-4o-mini"),
    ):
        log.info(
            "answered",
            docs=3,
            scores=[0.5, 0.25],
            meta={"source": "wiki", "api_key": "sk-secret"},
            token_info=TokenUsage(12, 5),
            latency_ms=41.5,
        )
    try:
        raise TimeoutError("provider timed out")
    except TimeoutError:
        log.exception("gave up")
    llmlog.shutdown()  # closes the output: everything is sent
    records = receiver.records()
    assert len(records) == 2
    (resource, scope, answered), (_, _, failed) = records
    assert resource["service.name"] == "qa-service" and scope == "app.rag"
    assert receiver.headers[0]["x-team"] == "qa"
    assert answered["body"]["stringValue"] == "answered"
    assert (
        answered["severityNumber"] == "SEVERITY_NUMBER_INFO" and answered["severityText"] == "INFO"
    )
    # The trace and span ids are the llmlog span's (base64 in the JSON form of the protobuf).
    assert bytes.fromhex(session.trace_id) == _b64(answered["traceId"])
    assert bytes.fromhex(span.span_id) == _b64(answered["spanId"])
    attributes = receiver.attributes(answered)
    assert attributes["docs"] == 3 and attributes["scores"] == [0.5, 0.25]
    assert attributes["meta"] == {"source": "wiki", "api_key": "[REDACTED]"}
    assert attributes["code.file.path"] == "test_otlp_logs.py"
    assert attributes["code.function.name"].endswith("linked_to_their_spans")
    assert attributes["gen_ai.request.model"] == "gpt-4o-mini"
    assert attributes["gen_ai.usage.input_tokens"] == 12
    assert attributes["llmlog.cost.usd"] == pytest.approx((12 * 0.15 + 5 * 0.6) / 1e6)
    assert attributes["llmlog.cost.source"] == "override"
    assert "llmlog.cost.unknown" not in attributes
    assert attributes["llmlog.latency_ms"] == 41.5
    assert failed["severityNumber"] == "SEVERITY_NUMBER_ERROR" and "traceId" not in failed
    assert "TimeoutError: provider timed out" in receiver.attributes(failed)["exception.stacktrace"]


def test_a_custom_trace_id_maps_as_the_span_exporter_maps_it(receiver):
    # A session started with an id from upstream (not 32 hex digits): its entries still name the
    # trace the span exporter sends, which hashes such ids.
    from llmlog_exporter_otlp.ids import otel_id

    output = OtlpLogOutput(OtlpLogOptions(endpoint=receiver.endpoint, schedule_delay=0.02))
    output.write(make_entry("inside", trace_id="req-7f3c-upstream", span_id="0000000000000abc"))
    output.close()
    ((_, _, record),) = receiver.records()
    assert _b64(record["traceId"]) == otel_id("req-7f3c-upstream", 16).to_bytes(16, "big")
    assert _b64(record["spanId"]) == (0xABC).to_bytes(8, "big")


def _b64(text: str) -> bytes:
    import base64

    return base64.b64decode(text)


def test_severities_map_to_opentelemetry_numbers():
    assert [severity_number(s) for s in Severity] == [5, 9, 13, 17, 21]
    assert severity_number(5) == 1 and severity_number(25) == 9 and severity_number(99) == 21


def test_the_output_conformance_suite(receiver):
    def make() -> OtlpLogOutput:
        receiver.requests.clear()
        return OtlpLogOutput(OtlpLogOptions(endpoint=receiver.endpoint, schedule_delay=0.02))

    def read_lines() -> list[str]:
        # One line per record received: its body and attributes as JSON.
        return [
            json.dumps({"body": r["body"], "attributes": receiver.attributes(r)}, default=str)
            for _, _, r in receiver.records()
        ]

    check_output(make, read_lines)


def _until(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """Wait for ``condition`` (polled) rather than for a time a loaded machine may overrun."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"still waiting after {timeout} s: {what}"
        time.sleep(0.01)


def test_a_dead_or_refusing_collector_never_blocks_and_is_reported_once(receiver, capfd):
    with faulty_collector("dead") as base:
        dead = OtlpLogOutput(
            OtlpLogOptions(
                endpoint=f"{base}/v1/logs",
                timeout=0.5,
                max_queue_size=1_000,
                schedule_delay=0.05,
                flush_timeout=2.0,
            )
        )
        entry = make_entry("into the void", fields={"n": 1})
        started = time.perf_counter()
        for _ in range(50_000):
            dead.write(entry)
        writing = time.perf_counter() - started
        _until(lambda: dead.stats()["failed_exports"] >= 1, "the first attempt fails")
        flushing = time.perf_counter()
        dead.flush()  # returns at once while the collector is failing (not its 2 s window)
        assert time.perf_counter() - flushing < 1.0
        dead.close()
    stats = dead.stats()
    assert stats["dropped"] == 50_000 and stats["exported"] == 0 and stats["waiting"] == 0
    assert writing < 10  # only appends ran on this thread
    # A collector answering 503 is retried; once it accepts, the records arrive.
    receiver.status = 503
    flaky = OtlpLogOutput(
        OtlpLogOptions(endpoint=receiver.endpoint, schedule_delay=0.05, flush_timeout=5.0)
    )
    for n in range(3):
        flaky.write(make_entry(f"retried {n}"))
    _until(lambda: flaky.stats()["failed_exports"] >= 1, "a 503 answered")
    receiver.status = 200
    flaky.close()
    assert [r["body"]["stringValue"] for _, _, r in receiver.records()] == [
        "retried 0",
        "retried 1",
        "retried 2",
    ]
    assert flaky.stats()["failed_exports"] >= 1 and flaky.stats()["dropped"] == 0
    err = capfd.readouterr().err
    assert err.count("dropping log entries") == 1
    assert err.count("did not accept log records") == 2  # once per output
    assert "50000 of 50000 log records were not sent" in err, err
