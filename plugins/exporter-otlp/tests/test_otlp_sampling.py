"""Tail sampling end to end: a real program runs 1,000 traces concurrently in threads and asyncio
tasks, 3% failing and 2% slow, configured from llmlog.toml; its trace file and a real OTLP
receiver on loopback each get exactly the failing and slow traces plus the head-sampled share,
every one whole, and nothing else."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import textwrap
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from llmlog.sampling import head_sampled

RATIO = 0.1

PROGRAM = textwrap.dedent(
    """
    import asyncio, json, sys, threading, time
    from concurrent.futures import ThreadPoolExecutor

    import llmlog

    llmlog.configure(sys.argv[1])
    SLOW = 3.0  # seconds; the policy keeps roots of 2 s and more
    made = []
    lock = threading.Lock()

    def kind(i):
        return "failing" if i % 100 < 3 else "slow" if i % 100 < 5 else "plain"

    def body(i, s):
        with llmlog.span("retrieve", inputs={"i": i}):
            llmlog.record_llm_call(
                model="gpt-4o-mini", prompt=f"q{i}", response="a",
                usage={"prompt_tokens": 5, "completion_tokens": 7},
            )
            if kind(i) == "failing":
                raise RuntimeError(f"request {i} failed")

    def note(i, s):
        with lock:
            made.append({"i": i, "kind": kind(i), "trace_id": s.trace_id, "span_id": s.span_id})

    def in_thread(i):
        try:
            with llmlog.span(f"request-{i}") as s:
                note(i, s)
                if kind(i) == "slow":
                    time.sleep(SLOW)
                body(i, s)
        except RuntimeError:
            pass

    async def in_task(i, slots):
        # At most 50 requests in flight, as a server's worker limit: a request's time is its
        # own, not that of 500 others queued on one loop.
        async with slots:
            try:
                with llmlog.span(f"request-{i}") as s:
                    note(i, s)
                    await asyncio.sleep(SLOW if kind(i) == "slow" else 0)
                    body(i, s)
            except RuntimeError:
                pass

    async def tasks():
        slots = asyncio.Semaphore(50)
        await asyncio.gather(*(in_task(i, slots) for i in range(500, 1000)))

    with llmlog.new_trace_session(sys.argv[2]):
        with ThreadPoolExecutor(16) as pool:
            for i in range(500):
                pool.submit(llmlog.bind_current(in_thread), i)
            asyncio.run(tasks())
    json.dump(made, open(sys.argv[3], "w"))
    llmlog.shutdown()
    """
)


def _hex(text: str) -> str:
    return base64.b64decode(text).hex()


def test_a_thousand_concurrent_traces_are_sampled_alike_in_the_file_and_over_otlp(
    receiver, tmp_path: Path
) -> None:
    config = tmp_path / "llmlog.toml"
    policy = f"enabled = true\nmin_duration_ms = 2000\nratio = {RATIO}\n"
    config.write_text(
        "[outputs]\n[trace]\ncontent = true\n[trace.sampling]\n"
        + policy
        + "[integrations.otlp]\nenabled = true\n"
        + f'endpoint = "{receiver.base}/v1/traces"\nschedule_delay = 0.05\n'
        + "[integrations.otlp.sampling]\n"
        + policy
    )
    program = tmp_path / "service.py"
    program.write_text(PROGRAM)
    trace_file, made_file = tmp_path / "trace.jsonl", tmp_path / "made.json"
    done = subprocess.run(
        [sys.executable, str(program), str(config), str(trace_file), str(made_file)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    made = json.loads(made_file.read_text())
    assert len(made) == 1000
    (trace_id,) = {m["trace_id"] for m in made}  # one session: one trace id, 1,000 root spans
    key = int(trace_id[-16:], 16)
    kinds = Counter(m["kind"] for m in made)
    assert kinds == {"plain": 950, "failing": 30, "slow": 20}
    lines = [json.loads(line) for line in trace_file.read_text().splitlines()]

    # Each root's duration as the sampler saw it: its end event if kept, its summary line if not.
    # On a loaded machine an ordinary request can take 2 s too (threads waiting for the GIL):
    # it is then slow, and kept as such; the 20 made slow always are.
    duration = {
        line["span_id"]: line["data"]["duration_ms"]
        for line in lines
        if line["type"] == "span"
        and line["data"]["event"] == "end"
        and line["span_id"] in {m["span_id"] for m in made}
    }
    summaries = [line["data"] for line in lines[1:] if line["type"] == "session"]
    duration.update({s["root_span_id"]: s["duration_ms"] for s in summaries if "root" in s})
    assert len(duration) == 1000
    slow = {root for root, ms in duration.items() if ms >= 2000}
    assert {m["span_id"] for m in made if m["kind"] == "slow"} <= slow
    failing = {m["span_id"] for m in made if m["kind"] == "failing"}
    expected = (
        failing
        | slow
        | {m["span_id"] for m in made if head_sampled(key ^ int(m["span_id"], 16), RATIO)}
    )
    assert 50 < len(expected) - 50 < 150 + len(slow)  # the head share of 950, give or take

    # The trace file: the kept roots, each whole (root, child, call, ends; errors for the failing).
    root_of: dict[str, str] = {}
    events: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
    for line in lines:
        if line["type"] == "session":
            continue
        span, parent = line["span_id"], line.get("parent_id")
        if line["type"] == "span" and line["data"]["event"] == "start":
            root_of[span] = root_of[parent] if parent else span
        events[root_of[span]].append(line)
    assert set(events) == expected
    for root, got in events.items():
        kinds_of = Counter((e["type"], e["data"].get("event")) for e in got)
        assert kinds_of[("span", "start")] == kinds_of[("span", "end")] == 2, root
        assert kinds_of[("llm_call", None)] == 1, root
        assert kinds_of[("error", None)] == (2 if root in failing else 0), root
    outcomes = Counter(s["sampling"] for s in summaries)
    assert outcomes == {"sampled_out": 1000 - len(expected), "counts": 1}
    counts = summaries[-1]
    assert counts["kept_error"] == 30
    assert counts["kept_duration"] == len(slow - failing)
    assert counts["kept_ratio"] == len(expected - failing - slow)
    assert counts["sampled_out"] == 1000 - len(expected)
    assert "decided_early" not in counts and "unfinished" not in counts

    # The receiver: the same roots, each with its child span, and nothing else.
    spans = receiver.spans
    by_id = {_hex(s["spanId"]): s for s in spans}
    roots = {sid for sid, s in by_id.items() if s["name"].startswith("request-")}
    assert roots == expected
    children = Counter(_hex(s["parentSpanId"]) for s in spans if s["name"] == "retrieve")
    assert set(children) == expected and set(children.values()) == {1}
    assert {_hex(s["traceId"]) for s in spans} == {trace_id}
    failed = {
        sid for sid in roots if by_id[sid].get("status", {}).get("code") == "STATUS_CODE_ERROR"
    }
    assert len(failed) == 30


def test_a_trace_open_at_shutdown_is_exported_as_far_as_it_went_and_counted(
    receiver, tmp_path: Path
) -> None:
    import llmlog
    from llmlog.testing import isolated_environment

    with isolated_environment(tmp_path):
        llmlog.configure(
            {
                "outputs": {},
                "integrations": {
                    "otlp": receiver.traces_options(
                        sampling={"enabled": True, "span_names": ["kept-*"]}
                    ),
                },
            }
        )
        try:
            with llmlog.span("dropped"), llmlog.span("dropped-child"):
                pass
            with llmlog.span("kept-1"):
                pass
            crashed = llmlog.span("crashed-task")  # a task that never ends its span
            crashed._context.__enter__()
            with llmlog.span("inside-crashed"):
                pass
            crashed._context.__exit__(None, None, None)
            before = llmlog.stats()["trace_sampling"]["otlp"]
        finally:
            llmlog.shutdown()
        after = llmlog.stats()["trace_sampling"]["otlp"]
    names = sorted(s["name"] for s in receiver.spans)
    assert names == ["crashed-task", "inside-crashed", "kept-1"]
    assert after["unfinished"] - before.get("unfinished", 0) == 1
    assert after["sampled_out"] >= 1 and after["kept_span_name"] >= 1


def test_flush_exports_what_was_handed_to_the_sampling_worker(receiver, tmp_path: Path) -> None:
    # The application's thread hands events over; flush decides them first, then exports.
    import llmlog
    from llmlog.ext import flush_trace_sinks
    from llmlog.testing import isolated_environment

    with isolated_environment(tmp_path):
        llmlog.configure(
            {
                "outputs": {},
                "integrations": {
                    "otlp": receiver.traces_options(
                        schedule_delay=5, sampling={"enabled": True, "span_names": ["kept-*"]}
                    ),
                },
            }
        )
        try:
            for i in range(20):
                with llmlog.span(f"kept-{i}"), llmlog.span("child"):
                    pass
                with llmlog.span("dropped"):
                    pass
            assert flush_trace_sinks() is True
            names = sorted(s["name"] for s in receiver.spans)
        finally:
            llmlog.shutdown()
    assert names == sorted([f"kept-{i}" for i in range(20)] + ["child"] * 20)
