"""Reading runs and writing pages, without a browser: every input kind, several files and
directories, redaction before embedding, ``--no-content``, ``--max-size`` and size caps, and
``file:line`` messages for bad input."""

from __future__ import annotations

import base64
import json
import re
import zlib
from pathlib import Path
from typing import Any

import pytest

from llmlog.testing import fed_pipe
from llmlog_report_html import ReportInputError, ReportOptions, load_run, render_html
from llmlog_report_html.page import report_data


def decoded(html: str) -> tuple[dict[str, Any], list[Any]]:
    """The page's skeleton and its contents (every chunk), decoded as the page does."""

    def unpack(text: str) -> Any:
        return json.loads(zlib.decompress(base64.b64decode(text)))

    skeleton = unpack(re.search(r'id="llmlog-skeleton">([^<]*)<', html).group(1))  # type: ignore[union-attr]
    contents: list[Any] = []
    for chunk in re.findall(r'class="llmlog-chunk" data-n="\d+">([^<]*)<', html):
        contents += unpack(chunk)
    return skeleton, contents


def names(skeleton: dict[str, Any]) -> list[str]:
    return [skeleton["strings"][i] for i in skeleton["nodes"]["name"]]


def test_a_trace_becomes_a_tree_with_calls_tokens_cost_and_errors(trace_file):
    run = load_run([trace_file])
    by_name = {n.name: n for n in run.nodes}
    evaluate, predict, search = by_name["evaluate"], by_name["Predict:qa"], by_name["tool:search"]
    assert run.nodes[predict.parent] is evaluate and run.nodes[search.parent] is evaluate
    call = by_name["gpt-4o-mini"]
    assert run.nodes[call.parent] is predict
    assert (call.input_tokens, call.output_tokens, call.cost) == (12, 3, 0.00001)
    assert call.content["messages"][1] == {
        "role": "user",
        "content": "What is the capital of France?",
    }
    other = by_name["selfhosted-qa-7b"]
    assert other.cost is None  # unknown, never 0
    assert search.error is not None and "search backend down" in search.error
    stats = {s.model: s for s in run.model_stats()}
    assert stats["*"].calls == 2 and stats["*"].cost == 0.00001 and stats["*"].unknown_cost == 1
    assert stats["gpt-4o-mini"].p50_ms == 120


def test_several_files_and_a_directory_make_one_run(make_trace, tmp_path):
    make_trace(tmp_path / "runs" / "a.jsonl")
    make_trace(tmp_path / "runs" / "b.jsonl", "Capital of Italy?")
    run = load_run([tmp_path / "runs"])
    assert len(run.traces) == 2
    assert len(run.sources) == 2
    assert sum(1 for n in run.nodes if n.kind == "llm") == 4


def test_a_run_split_across_files_joins_its_spans(trace_file, tmp_path):
    """A rotated run: the span starts in one file and ends in the next (read in either order)."""
    lines = trace_file.read_bytes().splitlines(keepends=True)
    (tmp_path / "part2.jsonl").write_bytes(lines[0] + b"".join(lines[len(lines) // 2 :]))
    (tmp_path / "part1.jsonl").write_bytes(b"".join(lines[: len(lines) // 2]))
    whole = load_run([trace_file])
    for order in (["part1.jsonl", "part2.jsonl"], ["part2.jsonl", "part1.jsonl"]):
        split = load_run([tmp_path / name for name in order])
        assert sorted((n.name, n.parent >= 0) for n in split.nodes) == sorted(
            (n.name, n.parent >= 0) for n in whole.nodes
        )
        assert {n.name: n.duration_ms for n in split.nodes if n.kind == "span"} == {
            n.name: n.duration_ms for n in whole.nodes if n.kind == "span"
        }


def test_json_log_lines_join_the_spans_they_were_logged_in(tmp_path):
    import llmlog

    log_file = tmp_path / "app.log"
    llmlog.configure(
        {
            "outputs": {"file": {"type": "file", "path": str(log_file), "formatter": "json"}},
            "level": "info",
        }
    )
    log = llmlog.get_logger("app")
    with llmlog.new_trace_session(tmp_path / "t.jsonl", format="dspy") as session:
        with llmlog.span("answer"):
            log.info("inside the span", docs=3)
        log.error("outside any span")
    llmlog.shutdown()
    assert session.path is not None
    run = load_run([session.path, log_file])
    by_name = {n.name: n for n in run.nodes}
    inside = by_name["inside the span"]
    assert inside.kind == "log" and run.nodes[inside.parent].name == "answer"
    assert inside.content["docs"] == 3
    outside = by_name["outside any span"]
    assert run.nodes[outside.parent].kind == "trace" and outside.error


def test_secrets_are_redacted_before_anything_is_embedded(tmp_path):
    import llmlog

    llmlog.configure({"redact": False})  # the trace file itself holds the secrets
    with (
        llmlog.new_trace_session(tmp_path / "t.jsonl", format="dspy"),
        llmlog.span("call", inputs={"api_key": "sk-live-0123456789abcdef0123456789"}),
    ):
        llmlog.record_llm_call(
            model="m", prompt="my token is ghp_0123456789abcdefABCDEF0123456789abcd", response="ok"
        )
    assert b"ghp_0123456789" in (tmp_path / "t.jsonl").read_bytes()
    html, _ = render_html(load_run([tmp_path / "t.jsonl"]))
    skeleton, contents = decoded(html)
    text = json.dumps([skeleton, contents])
    assert "sk-live-0123" not in text and "ghp_0123456789" not in text
    assert "[REDACTED]" in text


def test_no_content_keeps_tokens_cost_latency_and_errors_only(trace_file):
    html, _ = render_html(load_run([trace_file]), ReportOptions(no_content=True))
    skeleton, contents = decoded(html)
    assert skeleton["noContent"] is True
    assert all(c is None for c in contents)
    assert "What is the capital" not in html and "Paris" not in json.dumps(skeleton)
    nodes = skeleton["nodes"]
    i = names(skeleton).index("gpt-4o-mini")
    assert (nodes["tin"][i], nodes["tout"][i], nodes["cost"][i], nodes["dur"][i]) == (
        12,
        3,
        1e-05,
        120,
    )
    assert any(e and "search backend down" in e for e in nodes["err"])


def test_long_fields_are_cut_with_an_explicit_marker(tmp_path):
    import llmlog

    llmlog.configure({"max_string_length": 0})
    with llmlog.new_trace_session(tmp_path / "t.jsonl", format="dspy"), llmlog.span("s"):
        llmlog.record_llm_call(model="m", prompt="x" * 5000, response="ok")
    html, _ = render_html(load_run([tmp_path / "t.jsonl"]), ReportOptions(max_field=1000))
    _, contents = decoded(html)
    (call,) = [c for c in contents if c and "prompt" in c]
    assert call["prompt"] == "x" * 1000 + "…[truncated 4000 chars]"


def test_max_size_cuts_the_largest_contents_and_says_so(tmp_path):
    import os

    import llmlog

    llmlog.configure({"max_string_length": 0})
    with llmlog.new_trace_session(tmp_path / "t.jsonl", format="dspy"):
        for n in range(20):
            with llmlog.span(f"step {n}"):
                # Incompressible text: each prompt costs its size in the page.
                llmlog.record_llm_call(model="m", prompt=os.urandom(30_000).hex(), response=str(n))
    run = load_run([tmp_path / "t.jsonl"])
    _full, result = render_html(run)
    assert result.cut_contents == 0 and result.size > 600_000
    cut, result = render_html(run, ReportOptions(max_size=300_000))
    assert result.size <= 300_000 and not result.over_budget
    assert result.cut_contents > 0
    skeleton, contents = decoded(cut)
    assert skeleton["cut"]["contents"] == result.cut_contents
    markers = [c for c in contents if c and "_cut" in c]
    assert len(markers) == result.cut_contents
    assert "left out to meet --max-size" in markers[0]["_cut"]
    # Every span and call is still there, with its numbers.
    assert names(skeleton).count("m") == 20


def test_the_page_is_the_same_bytes_for_the_same_input(trace_file):
    first, _ = render_html(load_run([trace_file]))
    again, _ = render_html(load_run([trace_file]))
    assert first == again


def test_the_page_loads_nothing_and_embeds_no_raw_text(trace_file):
    html, _ = render_html(load_run([trace_file]))
    assert "default-src 'none'" in html
    assert "unsafe-inline" not in html and "unsafe-eval" not in html
    assert "http://" not in html and "https://" not in html
    assert "What is the capital" not in html  # only inside the compressed base64 data
    skeleton, _contents = report_data(load_run([trace_file]))[:2]
    assert skeleton["chunkStarts"] == [0]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"", ":1: empty file"),
        (b"\x00\x01binary", ":1: a binary file"),
        (b"hello world\n", ":1: not a trace (installed formats: dspy, rlm"),
        (
            b'{"level":"INFO","message":"ok","timestamp":"2026-12-06T10:00:00Z"}\n[1,2]\n',
            ":2: expected a JSON object",
        ),
        (
            b'{"level":"INFO","message":"ok","timestamp":"2026-12-06T10:00:00Z"}\n'
            b'{"level":"INFO","message":5}\n',
            ':2: expected "message" to be a string',
        ),
        (
            b'{"level":"INFO","message":"ok","timestamp":"yesterday"}\n',
            ':1: expected "timestamp" to be an RFC 3339 time',
        ),
    ],
)
def test_bad_input_is_named_by_file_and_line(tmp_path, body, expected):
    path = tmp_path / "input.jsonl"
    path.write_bytes(body)
    with pytest.raises(ReportInputError) as caught:
        load_run([path])
    assert str(caught.value).startswith(str(path))
    assert expected in str(caught.value)


def test_a_bad_trace_line_is_named_by_the_format_reader(trace_file):
    with trace_file.open("ab") as fh:
        fh.write(b'{"type":"span","timestamp":"not a time","trace_id":"x"}\n')
    lines = trace_file.read_bytes().count(b"\n")
    with pytest.raises(ReportInputError, match=rf"{re.escape(str(trace_file))}:{lines}: "):
        load_run([trace_file])
    run = load_run([trace_file], lenient=True)
    assert len(run.problems) == 1 and f":{lines}:" in run.problems[0]


def test_missing_and_empty_inputs(tmp_path):
    with pytest.raises(ReportInputError, match="no such file or directory"):
        load_run([tmp_path / "nope.jsonl"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ReportInputError, match="no file in this directory"):
        load_run([tmp_path / "empty"])


def test_a_directory_keeps_its_runs_and_skips_other_files_saying_so(trace_file, tmp_path):
    # A run's directory may hold a README, a screenshot or an earlier report: skipped, each named.
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "trace.jsonl").write_bytes(trace_file.read_bytes())
    (run_dir / "README.md").write_text("# notes\n")
    (run_dir / "shot.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (run_dir / "empty.log").write_text("")
    run = load_run([run_dir])
    assert run.sources == [str(run_dir / "trace.jsonl")]
    assert any(n.name == "gpt-4o-mini" for n in run.nodes)
    skipped = sorted(p.split(":", 1)[0] for p in run.problems)
    assert skipped == [str(run_dir / n) for n in ("README.md", "empty.log", "shot.png")]
    assert all(p.endswith("(skipped)") for p in run.problems)
    # Named on the command line, the same file is an error; a directory with no run in it too.
    with pytest.raises(ReportInputError, match=r"README\.md:1: not a trace"):
        load_run([run_dir / "README.md"])
    (run_dir / "trace.jsonl").unlink()
    with pytest.raises(ReportInputError, match="no trace, flight-recorder snapshot or llmlog"):
        load_run([run_dir])


def test_a_flight_snapshot_of_the_corpus_keeps_its_trigger():
    corpus = Path(__file__).parents[2] / "engine-flight" / "tests" / "flight_corpus"
    run = load_run([corpus / "valid.jsonl"])
    assert run.flight[0]["reason"] == "error"
    assert run.chrome and run.chrome[0]["traceEvents"]
    with pytest.raises(ReportInputError, match=r"truncated\.jsonl:\d+: "):
        load_run([corpus / "truncated.jsonl"])


def test_compressed_rotated_parts_are_read_and_named_as_given(trace_file, tmp_path):
    import gzip

    import zstandard

    lines = trace_file.read_bytes().splitlines(keepends=True)
    half = len(lines) // 2
    (tmp_path / "run.jsonl.1.gz").write_bytes(gzip.compress(b"".join(lines[:half])))
    (tmp_path / "run.jsonl.2.zst").write_bytes(
        zstandard.ZstdCompressor().compress(lines[0] + b"".join(lines[half:]))
    )
    run = load_run([tmp_path / "run.jsonl.1.gz", tmp_path / "run.jsonl.2.zst"])
    whole = load_run([trace_file])
    assert sorted(n.name for n in run.nodes) == sorted(n.name for n in whole.nodes)
    # The same parts through pipes (`llmlog report <(cat run.jsonl.1.gz) <(cat ...)`).
    pipes = [
        fed_pipe(tmp_path / f"pipe{i}", (tmp_path / name).read_bytes())
        for i, name in enumerate(["run.jsonl.1.gz", "run.jsonl.2.zst"])
    ]
    piped = load_run(pipes)
    assert sorted(n.name for n in piped.nodes) == sorted(n.name for n in whole.nodes)
    assert piped.sources == [str(p) for p in pipes] and not piped.problems
    assert run.sources == [str(tmp_path / "run.jsonl.1.gz"), str(tmp_path / "run.jsonl.2.zst")]
    assert run.formats == [
        f"{tmp_path / 'run.jsonl.1.gz'}: dspy",
        f"{tmp_path / 'run.jsonl.2.zst'}: dspy",
    ]
    bad = tmp_path / "bad.jsonl.gz"
    bad.write_bytes(gzip.compress(b'{"type":"span","timestamp":"x","trace_id":"t"}\n'))
    with pytest.raises(ReportInputError, match=rf"^{re.escape(str(bad))}:1: "):
        load_run([bad])
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(gzip.compress(b"".join(lines))[:-20])
    with pytest.raises(ReportInputError, match=rf"^{re.escape(str(cut))}: cannot decompress"):
        load_run([cut])
    # Lenient, a truncated part gives what decompressed before the cut, and says where it stopped.
    cut.write_bytes(gzip.compress(b"".join(lines))[: -len(lines[-1]) // 2])
    partial = load_run([cut], lenient=True)
    assert partial.nodes and partial.sources == [str(cut)]
    assert any(
        p.startswith(f"{cut}: cannot decompress: ") and p.endswith(" bytes before it")
        for p in partial.problems
    )
    # A truncated zstd trace is no flight snapshot (whose reader would say its header is cut).
    cut_zstd = tmp_path / "cut.jsonl.zst"
    cut_zstd.write_bytes(zstandard.ZstdCompressor().compress(b"".join(lines))[:-30])
    with pytest.raises(ReportInputError, match=rf"^{re.escape(str(cut_zstd))}: cannot decompress"):
        load_run([cut_zstd])
    # A truncated part through a pipe is named as the pipe, never as a private copy.
    pipe = fed_pipe(tmp_path / "cut-pipe", cut.read_bytes())
    with pytest.raises(ReportInputError, match=rf"^{re.escape(str(pipe))}: cannot decompress"):
        load_run([pipe])


def test_a_text_prompt_that_only_joins_the_messages_is_not_kept_twice(tmp_path):
    import llmlog

    llmlog.configure({})
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi?"}]
    with (
        llmlog.new_trace_session(tmp_path / "t.jsonl", format="dspy") as session,
        llmlog.span("s") as span,
    ):
        llmlog.record_llm_call(model="m", prompt=messages, response="Hello")
        session.emit_llm_call(
            span.span_id, "", "m", "Be brief. Also: say please. Hi?", "ok", messages=messages
        )
    first, second = [n for n in load_run([tmp_path / "t.jsonl"]).nodes if n.kind == "llm"]
    assert first.content["messages"] == messages and "prompt" not in first.content
    assert second.content["prompt"] == "Be brief. Also: say please. Hi?"  # it says more


PLUGINS = Path(__file__).parents[2]
CORPORA = [
    PLUGINS / "engine-flight" / "tests" / "flight_corpus",
    PLUGINS / "trace-dspy" / "tests" / "corpus",
    PLUGINS / "trace-rlm" / "tests" / "corpus",
]


@pytest.mark.parametrize(
    "path",
    sorted(p for corpus in CORPORA for p in corpus.rglob("*") if p.is_file() and p.suffix != ".py"),
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
@pytest.mark.parametrize("lenient", [False, True])
def test_every_file_of_the_readers_corpora_is_reported_or_refused_by_name(path, lenient):
    try:
        run = load_run([path], lenient=lenient)
    except ReportInputError as exc:
        refused = str(exc)
    else:
        refused = None
    if refused is not None:
        assert refused.startswith(f"{path}"), refused
        return
    html, _ = render_html(run)
    assert html.startswith("<!DOCTYPE html>")


def test_cached_and_reasoning_tokens_as_llmlog_records_them(tmp_path):
    # The provider's shape in, llmlog's TokenUsage fields in the trace, the split in the report.
    import llmlog

    with (
        llmlog.new_trace_session(tmp_path / "t.jsonl", format="dspy") as session,
        llmlog.span("answer"),
    ):
        llmlog.record_llm_call(
            model="gpt-4o-mini",
            provider="openai",
            prompt="p",
            response="r",
            usage={
                "prompt_tokens": 100,
                "completion_tokens": 20,
                "prompt_tokens_details": {"cached_tokens": 60},
                "completion_tokens_details": {"reasoning_tokens": 5},
            },
            latency_ms=3,
        )
    assert session.path is not None
    (call,) = [n for n in load_run([session.path]).nodes if n.kind == "llm"]
    assert (call.input_tokens, call.output_tokens) == (100, 20)
    assert (call.cached_tokens, call.reasoning_tokens) == (60, 5)
