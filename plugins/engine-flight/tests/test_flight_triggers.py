"""The flight recorder's watching triggers: a slow span by name, a costly LLM call, an error
burst, an ERROR record from a captured standard-library logger, a predicate registered in code;
each rate-limited, named in the snapshot header and listed by ``llmlog flight list``."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import llmlog
from llmlog import ConfigError
from llmlog.ext import TraceEvent, TraceEventType, global_flight_recorder
from llmlog.testing import run_cli
from llmlog_engine_flight import add_trigger, remove_trigger, set_global_flight_recorder
from llmlog_engine_flight import plugin as engine_plugin

ENGINE = [("engine_flight", engine_plugin)]


@pytest.fixture
def snaps(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "snaps"
    llmlog.shutdown()
    set_global_flight_recorder(None)  # a configured recorder stays global until replaced
    remove_trigger("huge_input")


def start(snaps: Path, **options: Any) -> Any:
    tables = options.pop("_tables", {})
    llmlog.configure(
        {
            "outputs": {},
            "flight_recorder": {"enabled": True, "snapshot_dir": str(snaps), **options},
            **tables,
        },
        plugins=ENGINE,
        autoload=False,
    )
    return global_flight_recorder()


def headers(snaps: Path) -> list[dict[str, Any]]:
    assert global_flight_recorder().wait_for_triggers(30)  # type: ignore[attr-defined]
    found = [json.loads(p.read_text().splitlines()[0]) for p in sorted(snaps.glob("*.jsonl"))]
    return sorted(found, key=lambda h: h["created_ns"])


def span_end(span: str, ms: int, error: str | None = None) -> TraceEvent:
    data: dict[str, Any] = {"event": "end", "duration_ms": ms}
    if error is not None:
        data["error"] = error
    return TraceEvent(TraceEventType.SPAN, 2, "t" * 32, span, None, data)


def span_start(span: str, name: str) -> TraceEvent:
    data = {"event": "start", "operation": name}
    return TraceEvent(TraceEventType.SPAN, 1, "t" * 32, span, None, data)


def test_a_slow_span_by_name_pattern_snapshots_once_per_interval(snaps):
    recorder = start(snaps, slow_spans={"retrieve*": 2000})
    recorder.on_event(span_start("a", "retrieve-docs"))
    recorder.on_event(span_end("a", 1999))  # under the threshold
    recorder.on_event(span_start("b", "generate"))
    recorder.on_event(span_end("b", 9000))  # slow, but not a watched name
    recorder.on_event(span_start("c", "retrieve-docs"))
    recorder.on_event(span_end("c", 2300))
    recorder.on_event(span_start("d", "retrieve"))
    recorder.on_event(span_end("d", 5000))  # within min_snapshot_interval: skipped, counted
    (header,) = headers(snaps)
    assert header["reason"] == "slow_span"
    assert header["trigger_detail"] == "span 'retrieve-docs' took 2300 ms (>= 2000 ms)"
    assert recorder.stats()["snapshots_skipped_slow_span"] == 1


def test_a_real_span_slower_than_its_threshold(snaps):
    start(snaps, slow_spans={"step": 0})
    with llmlog.span("other"):
        pass
    with llmlog.span("step"):
        pass
    (header,) = headers(snaps)
    assert header["reason"] == "slow_span" and "'step'" in header["trigger_detail"]


def test_an_llm_call_over_the_cost_or_token_threshold(snaps):
    start(snaps, call_cost=0.10, call_tokens=50_000, min_snapshot_interval=0)
    with llmlog.span("work"):
        llmlog.record_llm_call(
            model="m", usage={"prompt_tokens": 10, "completion_tokens": 5, "cost": 0.01}
        )
        llmlog.record_llm_call(
            model="big", usage={"prompt_tokens": 10, "completion_tokens": 5, "cost": 0.25}
        )
        llmlog.record_llm_call(
            model="long", usage={"prompt_tokens": 60_000, "completion_tokens": 1}
        )
    # each snapshot is written on its own thread: their order on disk is not the calls' order
    details = sorted(h["trigger_detail"] for h in headers(snaps))
    assert details == [
        "LLM call to 'big' cost 0.25 USD (>= 0.1)",
        "LLM call to 'long' used 60001 tokens (>= 50000)",
    ]


def test_n_errors_within_the_window_one_exception_through_nested_spans_counting_once(snaps):
    start(snaps, error_burst=3, error_window=60)
    for n in range(2):
        with pytest.raises(ValueError), llmlog.span("outer"), llmlog.span("inner"):
            raise ValueError(f"failure {n}")
    assert headers(snaps) == []  # two errors (four failed spans): not yet a burst
    with pytest.raises(ValueError), llmlog.span("again"):
        raise ValueError("failure 2")
    (header,) = headers(snaps)
    assert header["reason"] == "error_burst"
    assert header["trigger_detail"] == "3 errors within 60 s (>= 3)"


def test_an_error_record_of_a_captured_stdlib_logger(snaps):
    start(
        snaps,
        triggers=["fatal", "stdlib_error"],
        _tables={"stdlib": {"capture": True, "loggers": ["payments"]}},
    )
    logging.getLogger("payments").warning("slow answer")
    logging.getLogger("payments").error("card declined for %s", "order 7")
    (header,) = headers(snaps)
    assert header["reason"] == "stdlib_error"
    assert header["trigger_detail"] == "payments: card declined for order 7"


def test_stdlib_errors_snapshot_only_when_the_trigger_is_listed(snaps):
    start(snaps, _tables={"stdlib": {"capture": True, "loggers": ["payments"]}})
    logging.getLogger("payments").error("card declined")
    assert headers(snaps) == []


def test_a_predicate_registered_in_code(snaps):
    start(snaps)
    add_trigger("huge_input", lambda event: len(str(event.data.get("inputs", ""))) > 1000)
    with llmlog.span("small", inputs={"q": "x"}):
        pass
    with llmlog.span("large", inputs={"q": "x" * 2000}):
        pass
    (header,) = headers(snaps)
    assert header["reason"] == "huge_input"
    with pytest.raises(ValueError, match="built-in trigger"):
        add_trigger("slow_span", lambda event: True)


def test_flight_list_names_the_triggers_and_why_each_snapshot_was_taken(snaps, tmp_path, capsys):
    config = tmp_path / "llmlog.toml"
    config.write_text(
        f'[flight_recorder]\nenabled = true\nsnapshot_dir = "{snaps}"\n'
        'triggers = ["fatal", "budget"]\nerror_burst = 5\nerror_window = "30s"\n'
        '[flight_recorder.slow_spans]\n"retrieve*" = 2000\n'
    )
    recorder = start(snaps, slow_spans={"retrieve*": 2000}, error_burst=5, error_window=30)
    recorder.on_event(span_start("a", "retrieve"))
    recorder.on_event(span_end("a", 2500))
    headers(snaps)
    capsys.readouterr()
    assert run_cli(["flight", "list", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == (
        "Triggers: fatal, budget, slow_span (retrieve* >= 2000 ms), error_burst (5 in 30 s)"
    )
    assert " slow_span " in out
    assert "span 'retrieve' took 2500 ms (>= 2000 ms)" in out
    assert "(1, newest first)" in out


def test_bad_trigger_options_are_errors_at_their_path(tmp_path):
    config = tmp_path / "llmlog.toml"
    config.write_text(
        '[flight_recorder]\nerror_burst = -1\ntriggers = ["budget", "sometimes"]\n'
        '[flight_recorder.slow_spans]\n"x" = -5\n'
    )
    with pytest.raises(ConfigError) as caught:
        llmlog.configure(config, plugins=ENGINE, autoload=False)
    text = str(caught.value)
    assert "must be 0 or more, got -1 @ $.flight_recorder.error_burst" in text
    assert "@ $.flight_recorder.slow_spans" in text and "must be 0 or more, got -5" in text
    assert "unknown trigger 'sometimes'" in text and "@ $.flight_recorder.triggers" in text
