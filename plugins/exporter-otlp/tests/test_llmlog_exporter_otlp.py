"""The OTLP exporter: spans built from llmlog's events, a dead collector, and a real receiver
(an MLflow tracking server on 127.0.0.1 accepting OTLP/HTTP) read back through its own client."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import tracemalloc
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import llmlog
from llmlog import TokenUsage
from llmlog.testing import isolated_environment
from llmlog_exporter_otlp import OtlpExporter, OtlpOptions
from llmlog_exporter_otlp.exporter import _span_exporter
from llmlog_fake_provider import FakeOpenAI


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path) -> Iterator[Path]:
    with isolated_environment(tmp_path):
        llmlog.configure({"outputs": {}, "trace": {"dir": "traces"}})
        yield tmp_path


def _program(session: llmlog.TraceSession) -> None:
    """A small agent: a module calling an LM (own span) and a tool, an LLM call recorded directly
    in a module span, and a failing step."""
    with llmlog.span("ReAct", inputs={"question": "Weather in Paris?"}) as agent:
        with llmlog.span("Predict:react") as predict:
            with llmlog.span("LM:gpt-4o-mini") as lm:
                session.emit_llm_call(
                    lm.span_id,
                    "openai",
                    "gpt-4o-mini",
                    "Weather?",
                    "call the tool",
                    TokenUsage(12, 5, cost=0.0002),
                    30,
                    messages=[{"role": "user", "content": "Weather?"}],
                    params={"temperature": 0.2, "max_tokens": 100, "stop": "\n", "tools": []},
                    replayed=True,
                )
            session.emit_module(
                predict.span_id,
                "Predict",
                "react",
                "question -> answer",
                None,
                None,
                31,
                1,
                17,
                True,
            )
        with llmlog.span("Tool:get_weather", inputs={"city": "Paris"}) as tool:
            session.emit_tool_call(tool.span_id, "get_weather", {"city": "Paris"}, "Sunny", 4)
        session.emit_llm_call(
            agent.span_id, "anthropic", "claude-x", "inline", "ok", TokenUsage(3, 1), 9
        )
        with pytest.raises(TimeoutError), llmlog.span("Tool:search"):
            raise TimeoutError("search timed out")
        agent.set_outputs(answer="Sunny")


def _export(options: OtlpOptions | None = None) -> tuple[list[Any], str]:
    memory = InMemorySpanExporter()
    exporter = OtlpExporter(options or OtlpOptions(schedule_delay=0.05), span_exporter=memory)
    exporter.start()
    with llmlog.new_trace_session() as session:
        _program(session)
    exporter.stop()
    return list(memory.get_finished_spans()), session.trace_id


def test_spans_carry_llmlogs_ids_parents_and_the_genai_conventions():
    spans, trace_id = _export()
    by_name = {s.name: s for s in spans}
    assert set(by_name) == {
        "invoke_agent ReAct",
        "Predict:react",
        "chat gpt-4o-mini",
        "execute_tool get_weather",
        "text_completion claude-x",
        "Tool:search",
    }
    assert {format(s.context.trace_id, "032x") for s in spans} == {trace_id}
    agent = by_name["invoke_agent ReAct"]
    assert agent.parent is None and agent.attributes["gen_ai.agent.name"] == "ReAct"
    predict, chat = by_name["Predict:react"], by_name["chat gpt-4o-mini"]
    assert predict.parent.span_id == agent.context.span_id
    assert chat.parent.span_id == predict.context.span_id and chat.kind is SpanKind.CLIENT
    assert {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.usage.input_tokens": 12,
        "gen_ai.usage.output_tokens": 5,
        "llmlog.cost.usd": 0.0002,
        "gen_ai.request.temperature": 0.2,
        "gen_ai.request.max_tokens": 100,
        "llmlog.replayed": True,
    }.items() <= {
        k: v for k, v in chat.attributes.items() if k != "gen_ai.request.stop_sequences"
    }.items()
    assert list(chat.attributes["gen_ai.request.stop_sequences"]) == ["\n"]
    assert "llmlog.replayed" not in by_name["text_completion claude-x"].attributes
    # Tokens only on inference spans: wrappers do not repeat them.
    assert not any("gen_ai.usage.input_tokens" in s.attributes for s in (agent, predict))
    assert predict.attributes["llmlog.module.signature"] == "question -> answer"
    inline = by_name["text_completion claude-x"]  # an LLM call recorded in the agent's own span
    assert (
        inline.parent.span_id == agent.context.span_id
        and inline.attributes["llmlog.cost.unknown"] is True
    )
    assert inline.end_time - inline.start_time == 9_000_000
    tool = by_name["execute_tool get_weather"]
    assert (
        tool.attributes["gen_ai.tool.name"] == "get_weather"
        and tool.status.status_code is StatusCode.UNSET
    )
    failed = by_name["Tool:search"]
    assert (
        failed.status.status_code is StatusCode.ERROR
        and failed.attributes["error.type"] == "TimeoutError"
    )
    assert [e.name for e in failed.events] == ["exception"]
    # No content unless asked for.
    assert not any(
        key in s.attributes
        for s in spans
        for key in ("gen_ai.input.messages", "input.value", "gen_ai.tool.call.arguments")
    )


def test_content_and_openinference_mirror_on_request(monkeypatch):
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "SPAN_ONLY")
    spans, _ = _export(OtlpOptions(schedule_delay=0.05, openinference=True))
    chat = next(s for s in spans if s.name == "chat gpt-4o-mini")
    assert '"content":"Weather?"' in chat.attributes["gen_ai.input.messages"]
    assert chat.attributes["openinference.span.kind"] == "LLM"
    assert (
        chat.attributes["llm.token_count.total"] == 17
        and chat.attributes["llm.cost.total"] == 0.0002
    )
    tool = next(s for s in spans if s.name == "execute_tool get_weather")
    assert tool.attributes["openinference.span.kind"] == "TOOL"
    assert tool.attributes["gen_ai.tool.call.result"] == "Sunny"


def test_spans_without_a_session_and_unfinished_spans_at_close():
    memory = InMemorySpanExporter()
    exporter = OtlpExporter(OtlpOptions(schedule_delay=0.05), span_exporter=memory)
    exporter.start()
    with llmlog.span("no session"):
        pass
    never_ended = llmlog.span("still running")
    exporter.stop()
    names = {s.name: s for s in memory.get_finished_spans()}
    assert "no session" in names
    assert names["still running"].attributes["llmlog.unfinished"] is True
    never_ended.end()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_a_dead_collector_never_blocks_and_memory_stays_bounded(capfd, dead):
    options = OtlpOptions(
        endpoint=f"{dead}/v1/traces",
        timeout=0.5,
        max_queue_size=5_000,
        schedule_delay=0.05,
        flush_timeout=2.0,
    )
    sending = Noting(_span_exporter(options))  # the SDK's exporter, as the exporter makes it
    exporter = OtlpExporter(options, span_exporter=sending)
    exporter.start()
    tracemalloc.start()
    session = llmlog.new_trace_session(format="dspy", buffer_size=1 << 20)
    for n in range(100_000):
        session.emit_span_start(f"{n:016x}", None, "step")
        session.emit_span_end(f"{n:016x}", None, None, 0)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    session.close()
    stopping = time.perf_counter()
    exporter.stop()
    assert time.perf_counter() - stopping < 30  # a hang guard: flush_timeout bounds it (2 s)
    # Never blocked: every export attempt ran on the exporter's thread, none on this one.
    assert sending.threads and threading.get_ident() not in sending.threads
    stats = exporter.stats()
    # Events beyond the queue, and spans beyond the bound while the collector is down, are dropped.
    assert stats["dropped"] > 50_000 and stats["exported"] == 0 and stats["waiting"] == 0
    assert peak < 60 << 20, f"peak {peak >> 20} MiB"
    err = capfd.readouterr().err
    # Each kind of problem once, then one total in spans, by cause.
    assert "Transient error" not in err, err
    assert err.count("did not accept spans") == 1 and err.count("dropping spans") <= 1, err
    assert err.count("dropping trace events") <= 1, err
    assert err.count("100000 of 100000 spans were not sent") == 1, err


class Noting:
    """A span exporter around another, noting the threads its exports run on."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.threads: set[int] = set()

    def export(self, spans: Any) -> Any:
        self.threads.add(threading.get_ident())
        return self.inner.export(spans)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _receiver(on_body: Callable[[bytes], None], status: int = 200) -> tuple[Any, str]:
    """A local OTLP/HTTP endpoint answering ``status`` to every request, after handing its body
    to ``on_body``; returns the server (shut it down) and the traces endpoint."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            on_body(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/v1/traces"


def test_a_rejecting_collector_is_retried_then_given_up_on_and_reported_once(capfd):
    requests: list[bytes] = []
    # 400: a permanent refusal, not retried by the SDK itself.
    server, endpoint = _receiver(requests.append, status=400)
    try:
        exporter = OtlpExporter(
            OtlpOptions(endpoint=endpoint, schedule_delay=0.05, flush_timeout=3.0)
        )
        exporter.start()
        with llmlog.new_trace_session() as session:
            _program(session)
        deadline = time.monotonic() + 60
        # A refusal, then the retry after the pause (1 s). Waiting for the retry, not for stop()
        # to make it: stop() gives up at once when the attempt in flight fails while it closes.
        while len(requests) < 2:
            assert time.monotonic() < deadline, "the collector did not get a retry"
            time.sleep(0.01)
        stopping = time.perf_counter()
        exporter.stop()
        assert time.perf_counter() - stopping < 5.0
    finally:
        server.shutdown()
    stats = exporter.stats()
    assert len(requests) >= 2 and stats["failed_exports"] >= 2 and stats["exported"] == 0
    assert stats["dropped"] == 6  # the program's spans, counted when the exporter gave up
    err = capfd.readouterr().err
    assert err.count("did not accept spans") == 1
    assert "6 of 6 spans were not sent" in err and "; 0 sent" in err, err


def test_an_exporter_can_be_stopped_and_started_again():
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    names: list[str] = []

    def received(body: bytes) -> None:
        request = ExportTraceServiceRequest.FromString(body)
        names.extend(
            span.name for r in request.resource_spans for s in r.scope_spans for span in s.spans
        )

    server, endpoint = _receiver(received)
    try:
        exporter = OtlpExporter(OtlpOptions(endpoint=endpoint, schedule_delay=0.05))
        for run in ("first", "second"):
            exporter.start()
            with llmlog.span(run):
                pass
            exporter.stop()
            assert exporter.stats()["exported"] == 1  # this run's, after stop()
    finally:
        server.shutdown()
    assert names == ["first", "second"]


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An MLflow tracking server (SQLite) on 127.0.0.1: a real OTLP/HTTP receiver."""
    root = tmp_path_factory.mktemp("mlflow")
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    deadline = time.monotonic() + 180
    ready = False
    for attempt in range(3):
        # A port found free may be taken by another test's server before this one binds it:
        # a server that exits before it answers is started again on another.
        port = _free_port()
        process = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("mlflow")),
                "server",
                "--backend-store-uri",
                f"sqlite:///{root / 'mlflow.db'}",
                "--default-artifact-root",
                str(root / "artifacts"),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "1",
            ],
            stdout=subprocess.DEVNULL,
            stderr=(root / f"server{attempt}.log").open("w"),
            env=env,
        )
        url = f"http://127.0.0.1:{port}"
        while process.poll() is None and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                    ready = response.status == 200
            except OSError:
                pass
            if ready:
                break
            time.sleep(0.5)
        if process.poll() is None:  # ready, or out of time
            break
    try:
        if not ready:
            raise RuntimeError((root / f"server{attempt}.log").read_text()[-3000:])
        yield url
    finally:
        process.terminate()
        process.wait(30)


@pytest.mark.slow
def test_a_traced_dspy_program_reaches_a_real_receiver(mlflow_server, tmp_path, monkeypatch):
    import dspy
    import mlflow

    # Endpoint and headers from the standard variables, as a deployment would set them.
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", f"{mlflow_server}/v1/traces")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-mlflow-experiment-id=0")
    llmlog.configure(
        {
            "outputs": {},
            "trace": {"dir": "traces"},
            "integrations": {
                "dspy": {"enabled": True},
                "otlp": {
                    "enabled": True,
                    "timeout": 60.0,
                    "flush_timeout": 120.0,
                    "service_name": "e2e",
                },
            },
        }
    )
    reply = "[[ ## reasoning ## ]]\nthink\n\n[[ ## answer ## ]]\nParis\n\n[[ ## completed ## ]]"
    with FakeOpenAI(lambda request: reply) as server:
        lm = dspy.LM(
            "openai/gpt-4o-mini", api_base=server.base_url, api_key="sk-e2e-secret", cache=False
        )
        with dspy.context(lm=lm):
            assert (
                dspy.ChainOfThought("question -> answer")(question="Capital of France?").answer
                == "Paris"
            )
        usage = lm.history[-1]["usage"]
    (local,) = (tmp_path / "traces").glob(
        "trace_*.jsonl"
    )  # the local file, written beside the export
    trace_id = local.read_text().split('"trace_id":"', 1)[1][:32]
    llmlog.shutdown()  # flushes the exporter

    mlflow.set_tracking_uri(mlflow_server)
    traces = mlflow.search_traces(locations=["0"], return_type="list")
    (trace,) = [t for t in traces if trace_id in t.info.trace_id]
    spans = {s.name: s for s in trace.data.spans}
    assert set(spans) >= {
        "ChainOfThought",
        "Predict:predict",
        "chat gpt-4o-mini",
        "ChatAdapter.format",
    }
    assert spans["ChainOfThought"].parent_id is None
    assert spans["Predict:predict"].parent_id == spans["ChainOfThought"].span_id
    chat = spans["chat gpt-4o-mini"]
    assert chat.parent_id == spans["Predict:predict"].span_id
    assert chat.attributes["gen_ai.usage.input_tokens"] == usage["prompt_tokens"]
    assert chat.attributes["gen_ai.usage.output_tokens"] == usage["completion_tokens"]
    assert chat.attributes["gen_ai.provider.name"] == "openai"
    assert "sk-e2e-secret" not in str([s.attributes for s in trace.data.spans])
