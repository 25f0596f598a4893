"""Cost in real trace files: the pricing chain's provenance written by a traced program,
``llmlog view --stats`` showing cost and source per model, ``llmlog reprice`` (what changed, the
lines it keeps byte for byte, the property that the same table changes nothing), and the
``genai-prices`` table against genai-prices' own calculation."""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import llmlog
from llmlog import TokenUsage, hookimpl
from llmlog.cli import main
from llmlog.default_plugins.pricing import reprice_lines
from llmlog.flight import global_flight_recorder
from llmlog.logger import global_dispatcher
from llmlog.pricing import Rates
from llmlog.testing import ListOutput, fed_pipe
from llmlog_trace_dspy.reprice import reprice as _dspy_reprice


class FixedTable:
    """A price table knowing two models."""

    name = "fixed"
    version = "1"

    def lookup(self, provider: str, model: str) -> Rates:
        if model == "gpt-4o-mini":
            return Rates(0.15, 0.60, cached=0.075)
        if model == "o3":
            return Rates(2.0, 8.0, reasoning=8.0)
        raise LookupError(f"fixed 1 has no price for {provider}/{model}")


class PricingPlugin:
    @hookimpl
    def llmlog_register_pricing(self, register: Any) -> None:
        register("fixed", lambda options, context: FixedTable(), description="test prices")


def _configure(prices: Mapping[str, Any] | None = None) -> None:
    llmlog.configure(
        {"outputs": {}, "prices": {"table": "fixed", **(prices or {})}},
        plugins=[("fixed", PricingPlugin())],
    )


def _calls(path: Path) -> list[dict[str, Any]]:
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    return [r["data"]["usage"] for r in lines if r["type"] == "llm_call"]


def _trace(path: Path, calls: list[tuple[str, TokenUsage]]) -> list[dict[str, Any]]:
    with llmlog.new_trace_session(path) as session, llmlog.span("agent") as span:
        for model, usage in calls:
            session.emit_llm_call(span.span_id, "openai", model, "q", "a", usage, 5)
    return _calls(path)


def test_stats_show_cost_and_its_source_per_model(tmp_path, capsys):
    _configure()
    trace = tmp_path / "t.jsonl"
    _trace(
        trace,
        [
            ("gpt-4o-mini", TokenUsage(1000, 100, cache_read_tokens=200)),
            ("gpt-4o-mini", TokenUsage(10, 10, cost=0.5)),
            ("mystery", TokenUsage(5, 5)),
        ],
    )
    assert main(["view", "--stats", str(trace)]) == 0
    out = capsys.readouterr().out
    assert "openai/gpt-4o-mini: 2 calls, 1120 tokens (input 1010, output 110, cached 200)" in out
    assert "cost $0.500195 from reported 1, table:fixed@1 1" in out
    assert "openai/mystery: 1 call" in out
    assert "price unknown for 1 call: fixed 1 has no price for openai/mystery" in out
    assert "$0 " not in out


def test_reprice_says_what_changed_and_writes_only_with_o(tmp_path, capsys):
    _configure()
    trace = tmp_path / "old.jsonl"
    _trace(
        trace,
        [
            ("gpt-4o-mini", TokenUsage(1_000_000, 0)),  # table: $0.15
            ("gpt-4o-mini", TokenUsage(10, 10, cost=0.5)),  # reported: kept
            ("mystery", TokenUsage(5, 5)),  # unknown
        ],
    )
    llmlog.shutdown()
    config = tmp_path / "llmlog.toml"
    config.write_text('[prices]\ntable = "none"\n[prices."mystery"]\ninput = 2.0\noutput = 2.0\n')
    os.environ["LLMLOG_CONFIG"] = str(config)
    assert main(["reprice", str(trace)]) == 0
    out = capsys.readouterr().out
    assert "2 of 3 LLM calls changed" in out and "nothing written" in out
    assert "unknown price: 1 → 1" in out  # the table's call became unknown, the mystery priced
    out_path = tmp_path / "new.jsonl"
    assert main(["reprice", str(trace), "-o", str(out_path)]) == 0
    usages = _calls(out_path)
    assert "cost" not in usages[0] and "none" in usages[0]["cost_unknown"]
    assert usages[1] == {**usages[1], "cost": 0.5, "cost_source": "reported"}
    assert usages[2]["cost"] == pytest.approx(20 / 1e6) and usages[2]["cost_source"] == "override"
    assert "known cost $0.65 → $0.50002 (-$0.14998)" in capsys.readouterr().out
    # every other line is kept byte for byte
    old_lines, new_lines = trace.read_bytes().splitlines(), out_path.read_bytes().splitlines()
    assert [x for x in old_lines if b'"llm_call"' not in x] == [
        x for x in new_lines if b'"llm_call"' not in x
    ]
    # A rotated part the file output compressed reprices the same, written plain.
    part = tmp_path / "old.jsonl.1.gz"
    part.write_bytes(gzip.compress(trace.read_bytes()))
    from_part = tmp_path / "from-part.jsonl"
    assert main(["reprice", str(part), "-o", str(from_part)]) == 0
    assert from_part.read_bytes() == out_path.read_bytes()
    pipe = fed_pipe(tmp_path / "pipe", part.read_bytes())  # `llmlog reprice <(cat …)`
    from_pipe = tmp_path / "from-pipe.jsonl"
    assert main(["reprice", str(pipe), "-o", str(from_pipe)]) == 0
    assert from_pipe.read_bytes() == out_path.read_bytes()
    part.write_bytes(part.read_bytes()[:-12])
    assert main(["reprice", str(part), "-o", str(from_part)]) == 1
    assert f"{part}: cannot decompress: " in capsys.readouterr().err


def test_reprice_refuses_what_it_cannot_read_without_a_traceback(tmp_path, capsys):
    odd = tmp_path / "odd.jsonl"
    odd.write_text("not a trace\n")
    assert main(["reprice", str(odd)]) == 1
    assert main(["reprice", str(tmp_path / "missing.jsonl")]) == 1
    assert main(["reprice", str(odd), "--table", "nope"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "unknown price table 'nope'" in err


_counts = st.integers(min_value=0, max_value=10**9)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["gpt-4o-mini", "o3", "mystery"]),
            _counts,
            _counts,
            st.none() | st.floats(min_value=0, max_value=100, allow_nan=False),
            st.booleans(),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_repricing_with_the_same_table_is_the_identity(calls):
    with tempfile.TemporaryDirectory() as directory:
        _configure()
        path = Path(directory) / "t.jsonl"
        usages = []
        for model, prompt, completion, cost, cached in calls:
            usages.append(
                (
                    model,
                    TokenUsage(
                        prompt,
                        completion,
                        cost=cost,
                        cache_read_tokens=prompt // 3 if cached else 0,
                    ),
                )
            )
        _trace(path, usages)
        before = path.read_bytes().splitlines(keepends=True)
        _configure()  # the same table, built afresh (an empty cache)
        result = reprice_lines(before, _dspy_reprice)
        assert result.changed == 0 and result.lines == before
        assert result.calls == len(calls)


def test_the_genai_prices_table_agrees_with_genai_prices_own_calculation(tmp_path):
    from genai_prices import Usage, calc_price

    llmlog.configure({"outputs": {}})  # [prices] table defaults to genai-prices when installed
    usages = _trace(
        tmp_path / "t.jsonl",
        [
            ("gpt-4o-mini", TokenUsage(1000, 100, cache_read_tokens=200)),
            ("claude-sonnet-4-5", TokenUsage(5000, 300, cache_read_tokens=3000)),
            ("no-such-model", TokenUsage(1, 1)),
        ],
    )
    expected = calc_price(
        Usage(input_tokens=1000, cache_read_tokens=200, output_tokens=100),
        "gpt-4o-mini",
        provider_id="openai",
    ).total_price
    assert usages[0]["cost"] == pytest.approx(float(expected), rel=1e-12)
    assert usages[0]["cost"] == pytest.approx(0.000195)
    assert usages[0]["cost_source"].startswith("table:genai-prices@")
    assert (
        "cost" not in usages[2] and "no price for openai/no-such-model" in usages[2]["cost_unknown"]
    )


def test_configuring_does_not_import_the_price_data(tmp_path):
    program = (
        "import sys, llmlog\n"
        "llmlog.configure({'outputs': {}})\n"
        "print('genai_prices' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert done.stdout.strip() == "False", done.stderr


# -- cost on log entries ---------------------------------------------------------------------


def _configure_files(tmp_path: Path, *, flight: bool = False) -> dict[str, Path]:
    paths = {name: tmp_path / f"app.{name}" for name in ("json", "text", "logfmt")}
    config: dict[str, Any] = {
        "level": "debug",
        "prices": {"table": "fixed", "openai/o3": {"input": 1.0, "output": 1.0}},
        "outputs": {
            name: {"type": "file", "path": str(path), "formatter": name}
            for name, path in paths.items()
        },
    }
    if flight:
        config["flight_recorder"] = {"enabled": True, "snapshot_dir": str(tmp_path / "flight")}
    llmlog.configure(config, plugins=[("fixed", PricingPlugin())])
    return paths


def test_log_entries_carry_the_cost_and_its_source_in_every_formatter(tmp_path):
    """An entry with usage is priced by the same chain as a traced call: the table's price with
    the table named, the caller's reported cost, the user's override, or unknown with the
    reason, in the JSON, text and logfmt formatters alike; never $0 for unknown."""
    paths = _configure_files(tmp_path)
    log = llmlog.get_logger()
    log.info("table", model_id="gpt-4o-mini", token_info=TokenUsage(1_000_000, 0))
    log.info("reported", model_id="gpt-4o-mini", token_info=TokenUsage(10, 10, cost=0.5))
    log.info("override", model_id="o3", provider="openai", token_info=TokenUsage(500_000, 0))
    log.info("unknown", model_id="mystery\x1b[31m", token_info=TokenUsage(5, 5))
    log.prompt_completion("q", "a", TokenUsage(2_000_000, 0), model_id="gpt-4o-mini")
    llmlog.shutdown()

    records = [json.loads(x) for x in paths["json"].read_text().splitlines()]
    infos = {r["message"]: r["tokenInfo"] for r in records}
    assert infos["table"]["cost"] == pytest.approx(0.15)
    assert infos["table"]["costSource"] == "table:fixed@1"
    assert (infos["reported"]["cost"], infos["reported"]["costSource"]) == (0.5, "reported")
    assert infos["override"]["cost"] == pytest.approx(0.5)
    assert infos["override"]["costSource"] == "override"
    assert "cost" not in infos["unknown"]
    assert infos["unknown"]["costUnknown"].startswith("fixed 1 has no price for /mystery")
    assert infos["LLM interaction"]["cost"] == pytest.approx(0.30)

    text = paths["text"].read_text()
    assert "[cost=$0.15 table:fixed@1]" in text and "[cost=$0.5 reported]" in text
    assert "[cost=$0.5 override]" in text
    unknown_line = next(x for x in text.splitlines() if "unknown [" in x)
    assert "[cost=unknown]" in unknown_line and "$0" not in unknown_line
    assert "\x1b" not in text

    pairs = {}
    from llmlog_formatter_logfmt import parse_line

    for line in paths["logfmt"].read_text().splitlines():
        fields = parse_line(line)
        pairs[fields["msg"]] = fields
    assert (
        pairs["table"]["token_cost"] == "0.15" and pairs["table"]["cost_source"] == "table:fixed@1"
    )
    assert "token_cost" not in pairs["unknown"]
    assert pairs["unknown"]["cost_unknown"].startswith("fixed 1 has no price")


def test_a_context_usage_is_priced_once_for_all_its_entries(tmp_path):
    _configure_files(tmp_path)
    out = ListOutput()
    global_dispatcher().add_output(out)
    log = llmlog.get_logger()
    usage = TokenUsage(1000, 10)
    with llmlog.with_model_id("gpt-4o-mini"), llmlog.with_token_info(usage):
        log.info("one")
        log.info("two")
    first, second = (e.token_info for e in out.entries)
    assert first is second and first is not None
    assert first.cost_source == "table:fixed@1" and usage.cost_source is None
    _configure_files(tmp_path)  # a new chain in force: priced again, not the old answer
    global_dispatcher().add_output(out)
    with llmlog.with_model_id("gpt-4o-mini"), llmlog.with_token_info(usage):
        log.info("three")
    assert out.entries[-1].token_info is not first
    assert out.entries[-1].token_info == first


def test_the_flight_recorder_keeps_an_entrys_cost_source(tmp_path, capsys):
    _configure_files(tmp_path, flight=True)
    log = llmlog.get_logger()
    log.info("table", model_id="gpt-4o-mini", token_info=TokenUsage(1_000_000, 0))
    log.info("unknown", model_id="mystery", token_info=TokenUsage(5, 5))
    snapshot = global_flight_recorder().snapshot(reason="test")
    assert main(["flight", "view", str(snapshot)]) == 0
    out = capsys.readouterr().out
    assert "cost=$0.15 (table:fixed@1)" in out
    unknown_line = next(x for x in out.splitlines() if "unknown" in x and "mystery" in x)
    assert "cost=unknown" in unknown_line and "$0" not in unknown_line


# -- repricing RLM files ---------------------------------------------------------------------


def _rlm_trace(directory: Path, calls: list[tuple[str, TokenUsage]]) -> Path:
    """An RLM file whose iteration holds ``calls``: the first as its own call, the others made
    from a code block."""
    with llmlog.new_trace_session(directory, format="rlm") as session:
        with llmlog.span("RLM"):
            with llmlog.span("Predict:generate_action") as predict:
                model, usage = calls[0]
                session.emit_llm_call(predict.span_id, "openai", model, "q", "x = 1", usage, 5)
            with llmlog.span("interpreter", inputs={"code": "llm_query('sub')"}) as block:
                for model, usage in calls[1:]:
                    session.emit_llm_call(block.span_id, "openai", model, "sub", "a", usage, 3)
                block.set_outputs(stdout="")
        path: Path = session.writer.path
    return path


def _rlm_costs(path: Path) -> list[tuple[Any, Any, Any]]:
    """Per call of the file: (total_cost, cost_source, cost_unknown), in the order written."""
    found = []
    for line in path.read_text().splitlines():
        record = json.loads(line)
        if record.get("type") != "iteration":
            continue
        calls = [record["root_call"]] if "root_call" in record else []
        for block in record["code_blocks"]:
            calls += block["result"]["rlm_calls"]
        for call in calls:
            summary = call["usage_summary"]
            found.append(
                (summary.get("total_cost"), call.get("cost_source"), call.get("cost_unknown"))
            )
    return found


def test_reprice_reads_rlm_files_and_writes_their_costs_where_readers_find_them(tmp_path, capsys):
    from llmlog_trace_rlm import read_rlm

    _configure()
    trace = _rlm_trace(
        tmp_path,
        [
            ("gpt-4o-mini", TokenUsage(1_000_000, 0)),  # the table's $0.15
            ("mystery", TokenUsage(5, 5)),  # unknown
            ("gpt-4o-mini", TokenUsage(10, 10, cost=0.5)),  # reported: kept
        ],
    )
    assert _rlm_costs(trace) == [
        (pytest.approx(0.15), "table:fixed@1", None),
        (None, None, "fixed 1 has no price for openai/mystery"),
        (0.5, "reported", None),
    ]
    llmlog.shutdown()
    config = tmp_path / "llmlog.toml"
    config.write_text('[prices]\ntable = "none"\n[prices."mystery"]\ninput = 2.0\noutput = 2.0\n')
    os.environ["LLMLOG_CONFIG"] = str(config)
    out_path = tmp_path / "new.jsonl"
    assert main(["reprice", str(trace), "-o", str(out_path)]) == 0
    out = capsys.readouterr().out
    assert "2 of 3 LLM calls changed" in out and "unknown price: 1 → 1" in out
    costs = _rlm_costs(out_path)
    assert costs[0][0] is None and "none" in costs[0][2]
    assert costs[1] == (pytest.approx(20 / 1e6), "override", None)
    assert costs[2] == (0.5, "reported", None)
    # the readers see the new costs; lines without calls are kept byte for byte
    (iteration,) = read_rlm(out_path).iterations
    assert [c.cost for c in iteration.calls] == [None, pytest.approx(20 / 1e6), 0.5]
    old_lines, new_lines = trace.read_bytes().splitlines(), out_path.read_bytes().splitlines()
    assert old_lines[0] == new_lines[0] and len(old_lines) == len(new_lines)


def test_reprice_prices_python_rlm_files_and_counts_a_repeated_call_once(tmp_path, capsys):
    """Python rlm writes costs only in ``usage_summary`` (tokens there too, sometimes as
    floats); rlm-go repeats one list of calls in every block of an iteration."""
    call = {
        "root_model": "gpt-4o-mini",
        "prompt": "sub",
        "response": "s",
        "usage_summary": {
            "model_usage_summaries": {
                "gpt-4o-mini": {
                    "total_calls": 1,
                    "total_input_tokens": 1_000_000.0,
                    "total_output_tokens": 0,
                }
            }
        },
        "execution_time": 0.2,
    }
    block = {"code": "c", "result": {"stdout": "", "stderr": "", "locals": {}, "rlm_calls": [call]}}
    iteration = {
        "type": "iteration",
        "iteration": 1,
        "timestamp": "2026-01-02T03:04:06.5",
        "prompt": "p",
        "response": "r",
        "code_blocks": [block, block],
        "final_answer": None,
    }
    metadata = '{"type": "metadata", "timestamp": "2026-01-02T03:04:05", "root_model": "gpt"}\n'
    trace = tmp_path / "py.jsonl"
    trace.write_text(metadata + json.dumps(iteration) + "\n")
    config = tmp_path / "llmlog.toml"
    config.write_text('[prices]\ntable = "none"\n[prices."gpt-4o-mini"]\ninput = 0.2\noutput = 1\n')
    os.environ["LLMLOG_CONFIG"] = str(config)
    out_path = tmp_path / "new.jsonl"
    assert main(["reprice", str(trace), "-o", str(out_path)]) == 0
    assert "1 of 1 LLM call changed" in capsys.readouterr().out
    record = json.loads(out_path.read_text().splitlines()[1])
    for written in (b["result"]["rlm_calls"][0] for b in record["code_blocks"]):
        summary = written["usage_summary"]
        assert summary["total_cost"] == pytest.approx(0.2)
        assert summary["model_usage_summaries"]["gpt-4o-mini"]["total_cost"] == pytest.approx(0.2)
        assert written["cost_source"] == "override"


def test_reprice_names_the_formats_that_can_when_one_cannot(tmp_path, capsys):
    from llmlog.ext import TraceFormat

    class Plain:
        @hookimpl
        def llmlog_register_trace_formats(self, register: Any) -> None:
            register(
                TraceFormat(
                    name="plain",
                    writer=lambda options, context: None,
                    detect=lambda first: first.startswith(b"PLAIN"),
                )
            )

    trace = tmp_path / "t.plain"
    trace.write_text("PLAIN\n")
    llmlog.configure({"outputs": {}}, plugins=[("plain", Plain())])
    from llmlog.default_plugins.pricing import _reprice_arguments, run_reprice
    from llmlog.ext import plugin_host

    parser = argparse.ArgumentParser()
    _reprice_arguments(parser)
    assert run_reprice(plugin_host(), parser.parse_args([str(trace)])) == 1
    err = capsys.readouterr().err
    assert "a plain trace, which its format cannot reprice" in err
    assert "formats that can: dspy, rlm" in err and "Traceback" not in err


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["gpt-4o-mini", "o3", "mystery"]),
            _counts,
            _counts,
            st.none() | st.floats(min_value=0, max_value=100, allow_nan=False),
        ),
        min_size=1,
        max_size=5,
    )
)
def test_repricing_an_rlm_file_with_the_same_table_is_the_identity(calls):
    from llmlog_trace_rlm.reprice import reprice as rlm_reprice

    with tempfile.TemporaryDirectory() as directory:
        _configure()
        path = _rlm_trace(
            Path(directory),
            [(model, TokenUsage(p, c, cost=cost)) for model, p, c, cost in calls],
        )
        before = path.read_bytes().splitlines(keepends=True)
        _configure()
        result = reprice_lines(before, rlm_reprice)
        assert result.changed == 0 and result.lines == before
        assert result.calls == len(calls)


def test_a_format_whose_reprice_fails_keeps_the_rest_of_the_file_and_says_so(capsys):
    """A third-party format's ``reprice`` that raises half-way never raises out of the command:
    the lines it gave back are used, the rest kept byte for byte, the failure said once."""

    def breaks_on_the_third(lines: Any, price: Any) -> Any:
        for number, _ in enumerate(lines):
            if number == 2:
                raise RuntimeError("format bug")
            yield b"new" if number == 0 else None

    lines = [b"a\n", b"b\r\n", b"c\n", b"d"]
    result = reprice_lines(lines, breaks_on_the_third)
    assert result.lines == [b"new\n", b"b\r\n", b"c\n", b"d"]
    assert result.failed == 2
    err = capsys.readouterr().err
    assert err.count("repricing failed (RuntimeError: format bug)") == 1
    assert "Traceback" not in err
