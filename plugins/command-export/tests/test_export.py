"""``llmlog export``: a real DSPy run recorded through the integration, exported as DSPy examples
(evaluated by ``dspy.Evaluate``), JSONL rows and OTLP JSON (parsed by the real protobuf classes);
redaction as configured; bad input refused with ``file:line``."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from llmlog.testing import fed_pipe, run_cli, run_llmlog
from llmlog_command_export import ROW_COLUMNS, load_examples


def test_dspy_examples_load_and_evaluate(run_file, tmp_path, capsys, questions, secret) -> None:
    import dspy
    from dspy.utils import DummyLM

    out = tmp_path / "devset.json"
    assert run_cli(["export", str(run_file), "--to", "dspy-examples", "-o", str(out)]) == 0
    assert "3 examples (1 failed call left out)" in capsys.readouterr().out
    examples = load_examples(out)
    assert [e.answer for e in examples] == list(questions.values())
    assert all(set(e.inputs().keys()) == {"question"} for e in examples)
    assert examples[0].question == "What is the capital of France?"
    # The secret in the third question was redacted on the way out.
    assert secret not in out.read_text()
    assert out.stat().st_mode & 0o077 == 0

    # Evaluate takes them as they are: a program answering right on two of three (answers by
    # question: Evaluate runs the examples in threads, in any order).
    program = dspy.Predict("question -> answer")
    answers = {"France": {"answer": "Paris"}, "Italy": {"answer": "Rome"}, "key": {"answer": "?"}}
    with dspy.context(lm=DummyLM(answers)):
        result = dspy.Evaluate(devset=examples, metric=lambda e, p, t=None: e.answer == p.answer)(
            program
        )
    assert float(result.score) == pytest.approx(200 / 3, abs=0.01)


def test_dspy_examples_of_a_named_module(run_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "inner.json"
    assert (
        run_cli(
            ["export", str(run_file), "--to", "dspy-examples", "--module", "qa", "-o", str(out)]
        )
        == 0
    )
    document = json.loads(out.read_text())
    assert [e["module"] for e in document["examples"]] == ["Predict:qa"] * 3
    missing = run_llmlog(
        "export",
        str(run_file),
        "--to",
        "dspy-examples",
        "--module",
        "Nope",
        "-o",
        str(tmp_path / "x.json"),
    )
    assert missing.returncode == 1
    assert "no module call of module 'Nope'" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_jsonl_rows_per_llm_call_and_per_span(run_file, tmp_path, secret) -> None:
    calls = tmp_path / "calls.jsonl"
    spans = tmp_path / "spans.jsonl"
    assert run_cli(["export", str(run_file), "--to", "jsonl", "-o", str(calls)]) == 0
    assert (
        run_cli(["export", str(run_file), "--to", "jsonl", "--rows", "span", "-o", str(spans)]) == 0
    )
    rows = [json.loads(line) for line in calls.read_text().splitlines()]
    assert len(rows) == 4  # three answers and the call whose reply did not parse
    for row in rows:
        assert tuple(row) == ROW_COLUMNS
        assert row["kind"] == "llm"
        assert row["model"] == "dummy"
        assert len(row["trace_id"]) == 32
        assert row["start"].endswith("Z")
        assert isinstance(row["duration_ms"], float)
    assert "capital of France" in rows[0]["prompt"]
    assert rows[0]["prompt"].startswith("system: ")
    assert "Paris" in rows[0]["response"]
    assert not any(secret in (r["prompt"] or "") for r in rows)
    assert any("[REDACTED:openai-key]" in (r["prompt"] or "") for r in rows)

    every = [json.loads(line) for line in spans.read_text().splitlines()]
    by_id = {r["span_id"]: r for r in every}
    qa = [r for r in every if r["name"] == "QA"]
    assert len(qa) == 4
    assert qa[0]["parent"] is None and qa[0]["depth"] == 0
    assert json.loads(qa[0]["input"]) == {"question": "What is the capital of France?"}
    assert json.loads(qa[0]["output"]) == {"answer": "Paris"}
    assert qa[3]["status"] == "error" and qa[3]["error"]
    # Every parent is a row of the file, parents before children.
    seen: set[str] = set()
    for row in every:
        assert row["parent"] is None or row["parent"] in seen
        seen.add(row["span_id"])
    assert by_id[rows[0]["parent"]]["name"] == "LM:dummy"


def test_no_content_keeps_numbers_and_drops_texts(run_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "calls.jsonl"
    assert (
        run_cli(
            [
                "export",
                str(run_file),
                "--to",
                "jsonl",
                "--rows",
                "span",
                "--no-content",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert all(r["prompt"] is r["response"] is r["input"] is r["output"] is None for r in rows)
    assert "capital" not in out.read_text()
    assert sum(1 for r in rows if r["kind"] == "llm") == 4
    refused = run_llmlog(
        "export", str(run_file), "--to", "dspy-examples", "--no-content", "-o", str(tmp_path / "x")
    )
    assert refused.returncode == 2


def _parse_otlp_line(line: str):
    """One line as the real ``ExportTraceServiceRequest``: OTLP JSON's hex ids turned back into
    protobuf JSON's base64 first (what the collector's OTLP JSON unmarshaler does)."""
    from google.protobuf import json_format
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    document = json.loads(line)
    for resource in document["resourceSpans"]:
        for scope in resource["scopeSpans"]:
            for span in scope["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        hex_id = span[key]
                        assert len(hex_id) in (16, 32) and int(hex_id, 16) >= 0
                        span[key] = base64.b64encode(bytes.fromhex(hex_id)).decode()
    return json_format.Parse(json.dumps(document), ExportTraceServiceRequest())


def test_otlp_json_is_export_trace_service_requests(run_file, tmp_path, secret) -> None:
    out = tmp_path / "run.otlp.jsonl"
    assert run_cli(["export", str(run_file), "--to", "otlp-json", "-o", str(out)]) == 0
    requests = [_parse_otlp_line(line) for line in out.read_text().splitlines()]
    spans = [
        span
        for request in requests
        for resource in request.resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    ]
    trace_id = json.loads(run_file.read_text().splitlines()[0])["trace_id"]
    assert {span.trace_id.hex() for span in spans} == {trace_id}
    names = [span.name for span in spans]
    assert names.count("chat dummy") == 4  # the exporter's GenAI mapping: LM spans are chats
    assert names.count("QA") == 4
    ids = {span.span_id for span in spans}
    assert all(not span.parent_span_id or span.parent_span_id in ids for span in spans)
    chat = next(s for s in spans if s.name == "chat dummy")
    attributes = {a.key: a.value for a in chat.attributes}
    assert attributes["gen_ai.request.model"].string_value == "dummy"
    assert chat.kind == 3  # CLIENT
    failed = [s for s in spans if s.status.code == 2]
    assert failed  # the call that did not parse
    text = out.read_text()
    assert secret not in text
    assert "capital of France" in text  # content is exported unless --no-content
    resource = requests[0].resource_spans[0].resource
    assert {a.key: a.value.string_value for a in resource.attributes}["service.name"] == "llmlog"

    bare = tmp_path / "bare.jsonl"
    assert (
        run_cli(["export", str(run_file), "--to", "otlp-json", "--no-content", "-o", str(bare)])
        == 0
    )
    assert "capital of France" not in bare.read_text()
    assert len([_parse_otlp_line(line) for line in bare.read_text().splitlines()]) >= 1


def test_configured_redaction_applies(run_file: Path, tmp_path: Path) -> None:
    (tmp_path / "llmlog.toml").write_text('redact_patterns = ["capital of \\\\w+"]\n')
    for to in ("jsonl", "otlp-json", "dspy-examples"):
        out = tmp_path / f"out.{to}"
        done = run_llmlog("export", str(run_file), "--to", to, "-o", str(out), cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        text = out.read_text()
        assert "capital of France" not in text and "capital of Italy" not in text, to
        assert "[REDACTED" in text


def test_existing_output_needs_force(run_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "calls.jsonl"
    out.write_text("keep")
    done = run_llmlog("export", str(run_file), "--to", "jsonl", "-o", str(out))
    assert done.returncode == 1 and "--force" in done.stderr
    assert out.read_text() == "keep"


@pytest.mark.parametrize("to", ["jsonl", "dspy-examples", "otlp-json"])
def test_a_bad_line_is_named_by_file_and_line(run_file: Path, tmp_path: Path, to: str) -> None:
    lines = run_file.read_text().splitlines()
    lines.insert(3, '{"type": "span", "trace_id": ')
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(lines) + "\n")
    done = run_llmlog("export", str(bad), "--to", to, "-o", str(tmp_path / "out"))
    assert done.returncode == 1
    assert done.stderr.startswith(f"llmlog: {bad}:4: "), done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()
    lenient = run_llmlog("export", str(bad), "--to", to, "--lenient", "-o", str(tmp_path / "out"))
    assert lenient.returncode == 0, lenient.stderr
    assert f"{bad}:4:" in lenient.stderr


def test_a_flight_snapshot_exports_its_spans(tmp_path: Path) -> None:
    import llmlog
    from llmlog.ext import global_flight_recorder
    from llmlog_engine_flight.snapshot import read_snapshot

    llmlog.configure({"flight_recorder": {"enabled": True, "snapshot_dir": str(tmp_path)}})
    try:
        with llmlog.new_trace_session(tmp_path / "t.jsonl"), llmlog.span("outer", inputs={"q": 1}):
            llmlog.record_llm_call(
                model="m",
                provider="p",
                prompt="hi",
                response="yo",
                usage={"prompt_tokens": 3, "completion_tokens": 1},
            )
        snapshot = Path(global_flight_recorder().snapshot(tmp_path / "snap.jsonl", reason="test"))
    finally:
        llmlog.configure({})
    assert read_snapshot(snapshot).events
    out = tmp_path / "snap.otlp.jsonl"
    assert run_cli(["export", str(snapshot), "--to", "otlp-json", "-o", str(out)]) == 0
    names = {
        span.name
        for line in out.read_text().splitlines()
        for resource in _parse_otlp_line(line).resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    }
    assert names == {"outer", "text_completion m"}
    rows = tmp_path / "snap-rows.jsonl"
    assert run_cli(["export", str(snapshot), "--to", "jsonl", "-o", str(rows)]) == 0
    (row,) = [json.loads(line) for line in rows.read_text().splitlines()]
    assert (row["model"], row["input_tokens"], row["output_tokens"]) == ("m", 3, 1)


def test_otlp_json_skips_json_logs_and_says_so(run_file: Path, tmp_path: Path, capsys) -> None:
    log = tmp_path / "app.log"
    log.write_text('{"timestamp": "2026-12-06T10:00:00Z", "level": "INFO", "message": "hi"}\n')
    out = tmp_path / "run.otlp.jsonl"
    assert run_cli(["export", str(run_file), str(log), "--to", "otlp-json", "-o", str(out)]) == 0
    assert f"{log}: llmlog JSON log lines hold no spans, skipped" in capsys.readouterr().err
    assert out.read_text().count("\n") >= 1


def test_an_error_message_is_redacted_in_otlp_json(tmp_path: Path, secret) -> None:
    import llmlog

    llmlog.configure({})
    trace = tmp_path / "run.jsonl"
    with llmlog.new_trace_session(trace, format="dspy"):
        try:
            with llmlog.span("call"):
                raise PermissionError(f"rejected key {secret}")
        except PermissionError:
            pass
    # As a tool that does not redact would have written it.
    trace.write_text(trace.read_text().replace("[REDACTED:openai-key]", secret))
    assert secret in trace.read_text()
    out = tmp_path / "run.otlp.jsonl"
    assert run_cli(["export", str(trace), "--to", "otlp-json", "--no-content", "-o", str(out)]) == 0
    text = out.read_text()
    assert "rejected key" in text and secret not in text
    (span,) = [
        s
        for line in text.splitlines()
        for r in _parse_otlp_line(line).resource_spans
        for sc in r.scope_spans
        for s in sc.spans
    ]
    assert span.status.code == 2 and "[REDACTED" in span.status.message


def test_an_rlm_trace_is_read_as_any_format(tmp_path: Path) -> None:
    import llmlog

    llmlog.configure({})
    with (
        llmlog.new_trace_session(tmp_path / "rlm.jsonl", format="rlm") as session,
        llmlog.span("RLM", inputs={"question": "q"}),
        llmlog.span("iteration 1"),
    ):
        llmlog.record_llm_call(
            model="gpt-x",
            provider="openai",
            prompt="hello",
            response="print(1)",
            usage={"prompt_tokens": 5, "completion_tokens": 3},
        )
    out = tmp_path / "calls.jsonl"
    assert run_cli(["export", str(session.path), "--to", "jsonl", "-o", str(out)]) == 0
    (row,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert (row["model"], row["input_tokens"], row["output_tokens"]) == ("gpt-x", 5, 3)
    assert (row["prompt"], row["response"]) == ("hello", "print(1)")
    otlp = tmp_path / "rlm.otlp.jsonl"
    assert run_cli(["export", str(session.path), "--to", "otlp-json", "-o", str(otlp)]) == 0
    assert [_parse_otlp_line(line) for line in otlp.read_text().splitlines()]


def test_an_evaluate_run_gives_the_program_calls_not_the_evaluate(tmp_path: Path) -> None:
    """Evaluate's own span has inputs and outputs too (the devset size, the score); the examples
    are the calls of the program it evaluated, and they feed an optimizer."""
    import dspy
    from dspy.utils import DummyLM

    import llmlog

    answers = {"France": {"answer": "Paris"}, "Italy": {"answer": "Rome"}}
    devset = [
        dspy.Example(question=f"What is the capital of {country}?", answer=a["answer"]).with_inputs(
            "question"
        )
        for country, a in answers.items()
    ]
    llmlog.configure({"integrations": {"dspy": {"enabled": True}}})
    try:
        with (
            llmlog.new_trace_session(tmp_path / "eval.jsonl", format="dspy") as session,
            dspy.context(lm=DummyLM(answers)),
        ):
            dspy.Evaluate(
                devset=devset, metric=lambda e, p, t=None: e.answer == p.answer, num_threads=2
            )(dspy.Predict("question -> answer"))
    finally:
        llmlog.configure({})
    out = tmp_path / "set.json"
    assert run_cli(["export", str(session.path), "--to", "dspy-examples", "-o", str(out)]) == 0
    examples = load_examples(out)
    assert sorted((e.question, e.answer) for e in examples) == sorted(
        (e.question, e.answer) for e in devset
    )
    # An optimizer takes them as its trainset.
    with dspy.context(lm=DummyLM(answers)):
        compiled = dspy.BootstrapFewShot(
            metric=lambda e, p, t=None: e.answer == p.answer, max_bootstrapped_demos=2
        ).compile(dspy.Predict("question -> answer"), trainset=examples)
    assert len(compiled.demos) == 2


def test_a_compressed_rotated_part_exports_as_the_plain_file(
    run_file: Path, tmp_path: Path
) -> None:
    import gzip

    part = tmp_path / "run.jsonl.1.gz"
    part.write_bytes(gzip.compress(run_file.read_bytes()))
    plain, packed = tmp_path / "plain.jsonl", tmp_path / "packed.jsonl"
    for source, out in ((run_file, plain), (part, packed)):
        assert run_cli(["export", str(source), "--to", "otlp-json", "-o", str(out)]) == 0

    def names(path: Path) -> list[str]:
        return sorted(
            span.name
            for line in path.read_text().splitlines()
            for r in _parse_otlp_line(line).resource_spans
            for sc in r.scope_spans
            for span in sc.spans
        )

    assert names(packed) == names(plain)
    # Through a pipe (`llmlog export <(cat run.jsonl.1.gz)`): its first line is not lost.
    piped = tmp_path / "piped.jsonl"
    pipe = fed_pipe(tmp_path / "pipe", part.read_bytes())
    assert run_cli(["export", str(pipe), "--to", "otlp-json", "-o", str(piped)]) == 0
    assert names(piped) == names(plain)
    broken = tmp_path / "broken.jsonl.gz"
    broken.write_bytes(gzip.compress(b'{"type": "span", "trace_id": \n')[:-8])
    done = run_llmlog("export", str(broken), "--to", "otlp-json", "-o", str(tmp_path / "x"))
    assert done.returncode == 1 and done.stderr.startswith(f"llmlog: {broken}")
    assert "Traceback" not in done.stderr
