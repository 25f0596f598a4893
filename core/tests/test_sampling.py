"""Tail sampling (llmlog.sampling): whole traces kept or left out by the policy's rules, the
bounds deciding the oldest early, every decision counted, and trace sessions writing through it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import llmlog
from llmlog.records import TraceEvent, TraceEventType
from llmlog.sampling import (
    SamplingOptions,
    TailSampler,
    TraceFacts,
    add_sampling_rule,
    head_sampled,
    remove_sampling_rule,
)

SPAN = TraceEventType.SPAN


def start(trace: str, span: str, parent: str | None, name: str) -> TraceEvent:
    return TraceEvent(SPAN, 1, trace, span, parent, {"event": "start", "operation": name})


def end(trace: str, span: str, ms: int = 1, error: str | None = None) -> TraceEvent:
    data: dict[str, Any] = {"event": "end", "duration_ms": ms}
    if error is not None:
        data["error"] = error
    return TraceEvent(SPAN, 2, trace, span, None, data)


def call(trace: str, span: str, tokens: int = 10, cost: float | None = None) -> TraceEvent:
    usage: dict[str, Any] = {
        "prompt_tokens": tokens,
        "completion_tokens": 0,
        "total_tokens": tokens,
    }
    if cost is not None:
        usage["cost"] = cost
    return TraceEvent(TraceEventType.LLM_CALL, 3, trace, span, None, {"model": "m", "usage": usage})


def tid(n: int) -> str:
    return f"{n:032x}"


def sid(n: int) -> str:
    return f"{n + 1:016x}"


def trace(
    n: int,
    *,
    ms: int = 5,
    error: bool = False,
    tokens: int = 10,
    cost: float | None = None,
    child: str = "child",
) -> list[TraceEvent]:
    """A root with one child that makes one LLM call."""
    t, root, kid = tid(n), sid(2 * n), sid(2 * n + 1)
    return [
        start(t, root, None, f"request-{n}"),
        start(t, kid, root, child),
        call(t, kid, tokens, cost),
        end(t, kid, ms, "boom" if error else None),
        end(t, root, ms),
    ]


class Sink:
    def __init__(self, options: SamplingOptions, **kwargs: Any) -> None:
        self.kept: list[TraceEvent] = []
        self.summaries: list[tuple[TraceFacts, str]] = []
        self.sampler = TailSampler(
            options, self.kept.append, lambda f, o: self.summaries.append((f, o)), **kwargs
        )

    def feed(self, events: list[TraceEvent]) -> None:
        for event in events:
            self.sampler.offer(event)

    def kept_traces(self) -> set[str]:
        return {e.trace_id for e in self.kept}


@pytest.fixture(autouse=True)
def _no_rules() -> Iterator[None]:
    yield
    for name in ("vip", "broken"):
        remove_sampling_rule(name)


def test_each_rule_keeps_its_traces_in_full_and_the_rest_become_summaries():
    sink = Sink(
        SamplingOptions(
            enabled=True,
            min_duration_ms=1000,
            min_tokens=500,
            min_cost=0.5,
            span_names=["refund*"],
            slow_spans={"retrieve": 300},
            attributes={"model": "gpt-4o*"},
        )
    )
    sink.feed(trace(1))  # nothing: summary
    sink.feed(trace(2, error=True))
    sink.feed(trace(3, ms=1500))
    sink.feed(trace(4, tokens=900))
    sink.feed(trace(5, cost=0.75))
    sink.feed(trace(6, child="refund-order"))
    sink.feed(trace(7, ms=400, child="retrieve"))
    sink.feed(trace(8, ms=400, child="other"))  # slow but not a watched name, root under 1 s
    events = trace(9)
    events[2] = TraceEvent(
        TraceEventType.LLM_CALL, 3, tid(9), sid(19), None, {"model": "gpt-4o-mini"}
    )
    sink.feed(events)
    assert sink.kept_traces() == {tid(n) for n in (2, 3, 4, 5, 6, 7, 9)}
    assert len(sink.kept) == 7 * 5  # each one whole
    counts = sink.sampler.counts()
    for rule in ("error", "duration", "tokens", "cost", "span_name", "slow_span", "attribute"):
        assert counts[f"kept_{rule}"] == 1, rule
    assert counts["sampled_out"] == 2 and counts["summarised"] == 2
    facts, outcome = sink.summaries[0]
    assert outcome == "sampled_out"
    assert facts.summary() == {
        "root_span_id": sid(2),
        "root": "request-1",
        "duration_ms": 5,
        "status": "ok",
        "spans": 2,
        "llm_calls": 1,
        "total_tokens": 10,
    }
    assert llmlog.stats()["trace_sampling"]["trace"]["kept_error"] >= 1


def test_a_predicate_registered_in_code_keeps_traces_and_one_that_raises_is_reported_once(capsys):
    add_sampling_rule("vip", lambda facts: facts.name == "request-3")
    add_sampling_rule("broken", lambda facts: 1 / 0)
    sink = Sink(SamplingOptions(enabled=True, not_kept="drop"))
    for n in range(5):
        sink.feed(trace(n))
    assert sink.kept_traces() == {tid(3)}
    assert sink.summaries == []
    assert sink.sampler.counts()["kept_rule_vip"] == 1
    assert sink.sampler.counts()["rule_broken_failed"] == 4  # not asked once vip kept
    assert capsys.readouterr().err.count("the sampling rule 'broken' failed") == 1


def test_head_sampling_is_by_trace_id_as_trace_id_ratio_based():
    ratio = 0.25
    sink = Sink(SamplingOptions(enabled=True, ratio=ratio))
    ids = [(n * 0x9E3779B97F4A7C15) & (2**64 - 1) for n in range(1, 401)]
    for n, low in enumerate(ids):
        sink.feed(
            [start(f"{n:016x}{low:016x}", sid(n), None, "r"), end(f"{n:016x}{low:016x}", sid(n))]
        )
    kept = {int(t[-16:], 16) for t in sink.kept_traces()}
    assert kept == {low for low in ids if low < ratio * 2**64}
    assert 60 < len(kept) < 140  # a quarter, give or take
    # A second sampler (another sink, another process) agrees.
    again = Sink(SamplingOptions(enabled=True, ratio=ratio))
    for n, low in enumerate(ids):
        again.feed(
            [start(f"{n:016x}{low:016x}", sid(n), None, "r"), end(f"{n:016x}{low:016x}", sid(n))]
        )
    assert again.kept_traces() == sink.kept_traces()
    assert head_sampled(0, 0.0) is False and head_sampled(2**64 - 1, 1.0) is True


def test_over_the_bound_the_oldest_is_decided_early_an_error_one_kept_and_streaming_on():
    sink = Sink(SamplingOptions(enabled=True, max_open_traces=2))
    failing = trace(1, error=True)
    plain = trace(2)
    sink.feed(failing[:4])  # the child failed; the root is still open
    sink.feed(plain[:2])
    sink.feed(trace(3)[:1])  # a third trace: the oldest (1) is decided early, kept
    assert sink.kept_traces() == {tid(1)}
    sink.feed(failing[4:])  # the rest of it follows the decision
    assert [e for e in sink.kept if e.trace_id == tid(1)] == failing
    sink.feed(trace(4)[:1])  # now 2 is the oldest: nothing known against it, dropped early
    sink.feed(plain[2:])  # its error-free rest is dropped too
    counts = sink.sampler.counts()
    assert counts["decided_early"] == 2
    assert counts["late_kept"] == 1 and counts["late_dropped"] == 3
    assert tid(2) not in sink.kept_traces()
    assert [o for _, o in sink.summaries] == ["decided_early"]


def test_an_error_in_a_trace_dropped_early_is_never_silent():
    sink = Sink(SamplingOptions(enabled=True, max_open_traces=1))
    t = trace(1, error=True)
    sink.feed(t[:2])
    sink.feed(trace(2)[:1])  # 1 decided early: no error yet, dropped
    sink.feed(t[2:])
    assert sink.sampler.counts()["errors_after_drop"] == 1
    assert [o for _, o in sink.summaries] == ["decided_early", "error_after_drop"]
    assert sink.summaries[-1][0].status == "error"


def test_the_byte_bound_decides_early_too():
    sink = Sink(SamplingOptions(enabled=True, max_bytes=5_000))
    for n in range(10):
        events = trace(n)
        events[2].data = {"prompt": "x" * 2_000}
        sink.feed(events[:3])
        assert sink.sampler.held_bytes <= 5_000
    assert sink.sampler.counts()["decided_early"] >= 7


def test_close_flushes_the_open_traces_in_full_marked_unfinished_and_later_events_pass():
    sink = Sink(SamplingOptions(enabled=True))
    events = trace(1)
    sink.feed(events[:3])
    sink.sampler.close()
    assert sink.kept == events[:3]
    assert [o for _, o in sink.summaries] == ["unfinished"]
    assert sink.summaries[0][0].status == "unfinished"
    assert sink.sampler.counts()["unfinished"] == 1
    sink.feed(events[3:])
    assert sink.kept == events


def test_events_outside_any_span_pass_straight_through():
    sink = Sink(SamplingOptions(enabled=True))
    line = TraceEvent(TraceEventType.SESSION, 0, tid(1), None, None, {"start_time": "x"})
    sink.feed([line])
    assert sink.kept == [line]


def _shapes() -> st.SearchStrategy[list[tuple[int, bool]]]:
    # (number of children, fails) for each trace
    return st.lists(st.tuples(st.integers(0, 3), st.booleans()), min_size=1, max_size=8)


@settings(max_examples=150, deadline=None)
@given(
    shapes=_shapes(), data=st.data(), bound=st.integers(1, 10), ratio=st.sampled_from([0.0, 0.5])
)
def test_any_interleaving_keeps_each_trace_whole_or_not_at_all(shapes, data, bound, ratio):
    """Whatever the order the traces' events interleave in and whatever the bound, each trace
    reaches the sink whole and in order, or not at all; a failing one always whole."""
    streams: list[list[TraceEvent]] = []
    for n, (children, fails) in enumerate(shapes):
        t, root = tid(n + 1), sid(100 * n)
        events = [start(t, root, None, "root")]
        ends = []
        for c in range(children):
            kid = sid(100 * n + c + 1)
            events.append(start(t, kid, root, "child"))
            events.append(call(t, kid))
            ends.append(end(t, kid, error="x" if fails and c == 0 else None))
        events += ends
        if fails and not children:
            events.append(TraceEvent(TraceEventType.ERROR, 4, t, root, None, {"message": "x"}))
        events.append(end(t, root))
        streams.append(events)
    order = data.draw(
        st.permutations([i for i, s in enumerate(streams) for _ in s]), label="interleaving"
    )
    sink = Sink(SamplingOptions(enabled=True, max_open_traces=bound, ratio=ratio))
    positions = [0] * len(streams)
    for i in order:
        sink.sampler.offer(streams[i][positions[i]])
        positions[i] += 1
    sink.sampler.close()
    for n, events in enumerate(streams):
        got = [e for e in sink.kept if e.trace_id == events[0].trace_id]
        early_error = any(
            f.trace_id == events[0].trace_id and o == "error_after_drop" for f, o in sink.summaries
        )
        assert got in ([], events), n
        if shapes[n][1] and not early_error:
            assert got == events


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_session_writes_only_the_kept_root_spans_plus_summary_and_count_lines(tmp_path):
    pytest.importorskip("llmlog_trace_dspy")  # the file read back: not in the core alone
    path = tmp_path / "t.jsonl"
    options = SamplingOptions(enabled=True)
    with llmlog.new_trace_session(path, sampling=options):
        with llmlog.span("fine"):
            llmlog.record_llm_call(model="m", usage={"prompt_tokens": 3, "completion_tokens": 4})
        with pytest.raises(ValueError), llmlog.span("broken"), llmlog.span("step"):
            raise ValueError("no")
        open_span = llmlog.span("never-ends")  # a crashed task's span
        open_span.__enter__()
        open_span._context.__exit__(None, None, None)
    lines = _lines(path)
    assert lines[0]["type"] == "session" and "sampling" not in lines[0]["data"]
    spans = {line["data"]["operation"] for line in lines if line["data"].get("event") == "start"}
    assert spans == {"broken", "step", "never-ends"}
    summaries = [line["data"] for line in lines[1:] if line["type"] == "session"]
    assert [s["sampling"] for s in summaries] == ["sampled_out", "unfinished", "counts"]
    assert summaries[0]["root"] == "fine" and summaries[0]["total_tokens"] == 7
    assert summaries[0]["status"] == "ok"
    assert summaries[1]["root"] == "never-ends" and summaries[1]["status"] == "unfinished"
    assert summaries[2]["kept_error"] == 1 and summaries[2]["kept_unfinished"] == 1
    assert summaries[2]["sampled_out"] == 1


def test_the_trace_table_turns_sampling_on_for_sessions(tmp_path):
    pytest.importorskip("llmlog_trace_dspy")  # the file read back: not in the core alone
    config = tmp_path / "llmlog.toml"
    config.write_text(
        '[trace]\ndir = "traces"\n[trace.sampling]\nenabled = true\nnot_kept = "drop"\n'
        'span_names = ["keep-*"]\n'
    )
    llmlog.configure(config)
    try:
        with llmlog.new_trace_session() as session:
            with llmlog.span("keep-me"):
                pass
            with llmlog.span("drop-me"):
                pass
        assert session.path is not None
        lines = _lines(session.path)
        assert [line["data"].get("operation") for line in lines if line["type"] == "span"] == [
            "keep-me",
            None,
        ]
        assert lines[-1]["data"]["kept_span_name"] == 1
    finally:
        llmlog.shutdown()


def test_a_bad_sampling_option_is_an_error_at_its_path(tmp_path):
    config = tmp_path / "llmlog.toml"
    config.write_text("[trace.sampling]\nratio = 2\n")
    with pytest.raises(llmlog.ConfigError) as caught:
        llmlog.configure(config)
    assert "$.trace.sampling.ratio" in str(caught.value)
    assert "must be from 0 to 1" in str(caught.value)


def test_log_entries_follow_their_traces_decision(tmp_path):
    pytest.importorskip("llmlog_output_file")  # the file output and JSON formatter: plugins
    pytest.importorskip("llmlog_formatter_json")
    log = tmp_path / "app.log"
    config = tmp_path / "llmlog.toml"
    config.write_text(
        'level = "debug"\n'
        f'[outputs.file]\ntype = "file"\npath = "{log}"\nformatter = "json"\n'
        "follow_trace_sampling = true\nbuffer_size = 0\n"
        '[trace]\ndir = "traces"\n[trace.sampling]\nenabled = true\nspan_names = ["keep-*"]\n'
    )
    llmlog.configure(config)
    logger = llmlog.get_logger()
    try:
        logger.debug("before any trace")
        with llmlog.new_trace_session():
            with llmlog.span("keep-me"):
                logger.debug("inside a kept trace")
            with llmlog.span("drop-me"):
                logger.debug("inside a dropped trace")
                logger.error("an error is never hidden")
            with llmlog.span("keep-open"):
                logger.debug("inside a trace flushed unfinished")
                llmlog.get_trace_session().close()
        output = llmlog.runtime.state.dispatcher.outputs[0]
        stats = output.stats()
    finally:
        llmlog.shutdown()
    messages = [json.loads(line)["message"] for line in log.read_text().splitlines()]
    assert messages == [
        "before any trace",
        "inside a kept trace",
        "an error is never hidden",
        "inside a trace flushed unfinished",
    ]
    assert stats["sampling_dropped"] == 1 and stats["sampling_released"] == 2


def test_follow_trace_sampling_must_be_a_boolean(tmp_path):
    config = tmp_path / "llmlog.toml"
    config.write_text('[outputs.err]\ntype = "stderr"\nfollow_trace_sampling = "yes"\n')
    with pytest.raises(llmlog.ConfigError) as caught:
        llmlog.configure(config)
    assert "expected true or false, got 'yes' @ $.outputs.err.follow_trace_sampling" in str(
        caught.value
    )


def test_a_session_left_open_at_exit_writes_its_open_traces_marked_unfinished(tmp_path):
    pytest.importorskip("llmlog_trace_dspy")  # the file read back: not in the core alone
    import subprocess
    import sys

    path = tmp_path / "t.jsonl"
    program = (
        "import llmlog\n"
        "from llmlog.sampling import SamplingOptions\n"
        f"session = llmlog.new_trace_session({str(path)!r}, sampling=SamplingOptions(enabled=True))\n"
        "with llmlog.with_trace_session(session):\n"
        "    with llmlog.span('finished'):\n"
        "        pass\n"
        "    crashed = llmlog.span('still-running')\n"
        "    llmlog.get_logger().info('exiting without closing anything')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    lines = _lines(path)
    spans = [line["data"]["operation"] for line in lines if line["data"].get("event") == "start"]
    assert spans == ["still-running"]
    outcomes = [line["data"]["sampling"] for line in lines if "sampling" in line["data"]]
    assert outcomes == ["sampled_out", "unfinished", "counts"]
