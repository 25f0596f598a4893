"""The flight recorder end to end: recording, retention, backends, triggers, snapshots, the CLI,
and the Chrome export checked with Perfetto's real trace processor."""

import asyncio
import io
import json
import subprocess
import sys
import textwrap
import threading
import time

import pytest
import zstandard

import llmlog
from llmlog import Severity, TraceEvent, TraceEventType
from llmlog.flight import (
    FlightRecorder,
    SnapshotInProgress,
    global_flight_recorder,
    init_global_flight_recorder,
    trace_log,
    trace_region,
    trace_task,
)
from llmlog.flight.chrome import to_chrome
from llmlog.flight.snapshot import SnapshotError, read_snapshot
from llmlog.flight.view import render_view


@pytest.fixture
def recorder(request):
    backend = getattr(request, "param", "memory")
    fr = FlightRecorder(min_age=60, max_bytes=1 << 20, backend=backend, chunk_events=64)
    fr.start()
    yield fr
    fr.stop()


def span(kind, span_id, phase=None, parent=None, **data):
    payload = dict(data)
    if phase:
        payload["event"] = phase
    return TraceEvent(TraceEventType(kind), time.time_ns(), "ab" * 16, span_id, parent, payload)


@pytest.mark.parametrize("recorder", ["memory", "zstd"], indirect=True)
def test_records_logs_annotations_and_trace_events_and_reads_them_back(recorder, tmp_path):
    llmlog.configure({"level": "info", "outputs": {}})
    llmlog.get_logger().dispatcher.add_output(
        __import__("llmlog.flight", fromlist=["x"]).RecorderOutput(recorder)
    )
    log = llmlog.get_logger("app")
    with trace_task("request") as task:
        with trace_region("retrieve"):
            log.debug("debug entry no output shows", docs=3)
        recorder.record_trace_event(span("span", "s1", "start", operation="Predict:qa"))
        recorder.record_trace_event(
            span("llm_call", "s1", model="gpt-4o", latency_ms=12, usage={"total_tokens": 30})
        )
        recorder.record_trace_event(span("span", "s1", "end", duration_ms=15))
        trace_log("retry", "rate limited")
    path = recorder.snapshot(tmp_path / f"snap{recorder.backend.suffix}")
    snap = read_snapshot(path)
    kinds = [e["kind"] for e in snap.events]
    assert kinds[:1] == ["recorder_start"]
    for expected in (
        "task_begin",
        "region",
        "log",
        "span",
        "llm_call",
        "annotation",
        "task_end",
    ):
        assert expected in kinds
    (debug,) = [e for e in snap.events if e["kind"] == "log"]
    assert (
        debug["msg"] == "debug entry no output shows"
        and debug["level"] == "DEBUG"
        and debug["task"] == task.id
    )
    assert (
        snap.header["format"] == "llmlog-flight"
        and snap.header["config"]["backend"] == recorder.backend.name
    )
    assert snap.header["drops"]["events"] == 0
    if recorder.backend.name == "zstd":
        # Concatenated frames: any zstd tool reads them as one JSON Lines stream.
        lines = (
            zstandard.ZstdDecompressor()
            .stream_reader(path.open("rb"), read_across_frames=True)
            .read()
            .splitlines()
        )
        assert json.loads(lines[0])["kind"] == "header"
        done = (
            subprocess.run(["zstd", "-dc", str(path)], capture_output=True)
            if __import__("shutil").which("zstd")
            else None
        )
        if done is not None:
            assert done.stdout.splitlines() == lines


def test_a_log_entry_is_recorded_the_same_with_or_without_a_log_entry_object(recorder, tmp_path):
    # An entry only the recorder takes reaches it as parts (no LogEntry is built); one another
    # output takes too reaches it as a LogEntry. Both must give the same record.
    from llmlog.flight import RecorderOutput
    from llmlog.testing import ListOutput

    log = llmlog.Logger(Severity.DEBUG, [ListOutput(Severity.INFO), RecorderOutput(recorder)])
    assert log.dispatcher.direct_below == Severity.INFO

    def entry():
        with (
            llmlog.with_model_id("m"),
            llmlog.with_trace_id("t" * 32),
            llmlog.with_span_id("s" * 16),
        ):
            log.debug("step %d", 1, api_key="sk-1", latency_ms=5, n=1)

    entry()
    log.dispatcher.add_output(ListOutput(Severity.DEBUG))
    assert log.dispatcher.direct_below == 0
    entry()
    snap = read_snapshot(recorder.snapshot(tmp_path / "s.jsonl"))
    first, second = [
        {k: v for k, v in e.items() if k != "ts"} for e in snap.events if e["kind"] == "log"
    ]
    assert first == second
    assert first["fields"] == {"api_key": "[REDACTED]", "n": 1}
    assert (first["model"], first["trace_id"], first["span_id"], first["latency_ms"]) == (
        "m",
        "t" * 32,
        "s" * 16,
        5,
    )


def test_retention_follows_gos_rule(tmp_path):
    now = [0]
    from llmlog.builtin.memory_recorder import MemoryBackend
    from llmlog.flight.ring import ChunkRing

    ring = ChunkRing(
        MemoryBackend(), min_age=1000.0, max_bytes=10_000, chunk_events=10, clock=lambda: now[0]
    )
    line = b"x" * 99 + b"\n"  # 100 bytes: a chunk of 10 is 1,000 bytes
    for second in range(100):
        now[0] = second * 1_000_000_000
        for _ in range(10):
            ring.append(line)
    # max_bytes wins: 10 chunks reach 10,000 bytes; the one crossing it is kept too.
    assert len(ring.chunks) == 11
    assert ring.stored_bytes <= ring.max_bytes + 1_000
    ring2 = ChunkRing(
        MemoryBackend(), min_age=5.0, max_bytes=1 << 30, chunk_events=10, clock=lambda: now[0]
    )
    for second in range(100):
        now[0] = second * 1_000_000_000
        for _ in range(10):
            ring2.append(line)
    # min_age: the window reaches back at least 5 s, plus the chunk that crosses it.
    assert len(ring2.chunks) == 7
    assert ring2.chunks[-1].t_max - ring2.chunks[0].t_min >= 5 * 1_000_000_000
    assert ring2.evicted_events == 1000 - 70


def test_open_spans_started_before_the_window_are_reemitted(tmp_path):
    fr = FlightRecorder(min_age=0.001, max_bytes=500, backend="memory", chunk_events=5)
    fr.start()
    fr.record_trace_event(span("span", "long-running", "start", operation="Evaluate"))
    fr.record_trace_event(span("span", "finished", "start", operation="Predict"))
    fr.record_trace_event(span("span", "finished", "end", duration_ms=1))
    for i in range(200):
        fr.record("annotation", category="noise", message=f"n{i}")
    snap = read_snapshot(fr.snapshot(tmp_path / "s.jsonl"))
    fr.stop()
    reemitted = [e for e in snap.events if e.get("started_before_window")]
    assert [e["span_id"] for e in reemitted] == ["long-running"]
    assert snap.header["window"]["open_spans_before_window"] == 1
    assert snap.header["drops"]["evicted_events"] > 0


def test_snapshot_fails_fast_when_one_is_running_and_needs_a_running_recorder(recorder, tmp_path):
    assert recorder._writing.acquire(blocking=False)
    try:
        with pytest.raises(SnapshotInProgress):
            recorder.snapshot(tmp_path / "x.jsonl")
        assert list(tmp_path.glob("*x.jsonl*")) == []  # no half file, no temporary left
    finally:
        recorder._writing.release()
    stopped = FlightRecorder()
    with pytest.raises(RuntimeError, match="not running"):
        stopped.snapshot(tmp_path / "y.jsonl")


def test_snapshot_on_error_returns_the_exception_and_is_rate_limited(tmp_path):
    fr = FlightRecorder(snapshot_dir=tmp_path, min_snapshot_interval=60)
    fr.start()
    errors = [ValueError(f"bad {i}") for i in range(5)]
    for exc in errors:
        assert fr.snapshot_on_error(exc) is exc
    fr.stop()
    files = list(tmp_path.glob("flight-*-error.jsonl"))
    assert len(files) == 1
    assert fr.stats()["snapshots_skipped"] == 4
    assert any(
        e["kind"] == "exception" and e["message"] == "bad 0" for e in read_snapshot(files[0]).events
    )


def test_annotations_are_near_free_without_a_recorder_and_work_as_decorators():
    assert llmlog.flight.annotations.active is None
    with trace_region("nothing") as region, trace_task("nothing"):
        trace_log("c", "m")
    assert region is trace_region("nothing")  # the shared no-op: nothing is allocated

    @trace_region("decorated")
    def work(x):
        return x * 2

    @trace_region("decorated-async")
    async def awork(x):
        return x + 1

    fr = FlightRecorder()
    fr.start()
    try:
        assert work(2) == 4
        assert asyncio.run(awork(1)) == 2
    finally:
        fr.stop()
    regions = [
        event
        for chunk in fr.ring.chunks
        for event in map(json.loads, chunk.data.splitlines())
        if event["kind"] == "region"
    ]
    # One event per region, written when it ends, stamped with its start.
    assert sorted(r["name"] for r in regions) == ["decorated", "decorated-async"]
    assert all(r["dur"] >= 0 for r in regions)
    assert not fr._open_regions


def test_a_snapshot_inside_a_running_region_shows_it_open(tmp_path):
    fr = FlightRecorder(snapshot_dir=tmp_path)
    fr.start()
    try:
        with trace_region("outer"):
            with trace_region("inner"):
                pass
            with trace_region("hangs here"), trace_task("job"):
                path = fr.snapshot(tmp_path / "inside.jsonl")
        with pytest.raises(ValueError), trace_region("fails"):
            raise ValueError("bad input")
        after = fr.snapshot(tmp_path / "after.jsonl")
    finally:
        fr.stop()
    inside = read_snapshot(path)
    assert inside.header["window"]["open_regions"] == 2
    open_ = {e["name"]: e for e in inside.events if e["kind"] == "region_begin"}
    assert set(open_) == {"outer", "hangs here"} and all(e["open"] for e in open_.values())
    assert "task" not in open_["outer"]  # entered before the task began
    finished = [e["name"] for e in inside.events if e["kind"] == "region"]
    assert finished == ["inner"]
    done = read_snapshot(after)
    regions = {e["name"]: e for e in done.events if e["kind"] == "region"}
    assert set(regions) == {"outer", "inner", "hangs here", "fails"}
    assert regions["fails"]["error"] == "ValueError: bad input"
    # Stamped with their start: the outer region sorts before the inner one it contains.
    assert regions["outer"]["ts"] <= regions["inner"]["ts"]
    assert regions["outer"]["ts"] + regions["outer"]["dur"] >= regions["hangs here"]["ts"]
    assert not [e for e in done.events if e["kind"] == "region_begin"]
    text = io.StringIO()
    render_view(inside, text)
    assert "region_begin hangs here (still running)" in text.getvalue()
    chrome = to_chrome(done)["traceEvents"]
    slices = {e["name"]: e for e in chrome if e.get("ph") == "X"}
    assert set(slices) >= {"outer", "inner"} and slices["outer"]["dur"] >= slices["inner"]["dur"]


def test_trace_task_follows_asyncio_tasks_and_threads(recorder):
    async def child(i):
        await asyncio.sleep(0)
        trace_log("child", f"c{i}")

    async def main():
        with trace_task("batch") as task:
            await asyncio.gather(*(child(i) for i in range(3)))
            thread = threading.Thread(target=llmlog.bind_current(lambda: trace_log("thread", "t")))
            thread.start()
            thread.join()
            return task.id

    task_id = asyncio.run(main())
    recorder.ring.seal_now()
    notes = [json.loads(line) for chunk in recorder.ring.chunks for line in chunk.data.splitlines()]
    notes = [n for n in notes if n["kind"] == "annotation"]
    assert len(notes) == 4 and all(n["task"] == task_id for n in notes)


def test_configured_from_toml_with_debug_only_in_the_recorder_and_a_fatal_snapshot(tmp_path):
    program = textwrap.dedent(
        f"""
        import llmlog
        llmlog.configure({{"outputs": {{"stderr": {{"level": "info"}}}},
                          "flight_recorder": {{"enabled": True, "backend": "zstd", "snapshot_dir": {str(tmp_path)!r}}}}})
        log = llmlog.get_logger("job")
        for i in range(50):
            log.debug("step %d", i)
        log.fatal("giving up")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert "step" not in done.stderr  # DEBUG went to the recorder only
    assert "fatal snapshot written to" in done.stderr
    (path,) = tmp_path.glob("flight-*-fatal.jsonl.zst")
    snap = read_snapshot(path)
    messages = [e["msg"] for e in snap.events if e["kind"] == "log"]
    assert messages[:50] == [f"step {i}" for i in range(50)]
    assert messages[-1] == "giving up"


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_unhandled_exceptions_in_threads_trigger_a_snapshot(tmp_path):
    fr = FlightRecorder(snapshot_dir=tmp_path, triggers=["unhandled"], min_snapshot_interval=0)
    fr.start()
    try:

        def boom():
            raise RuntimeError("worker died")

        thread = threading.Thread(target=boom, name="worker-1")
        thread.start()
        thread.join()
    finally:
        fr.stop()
    (path,) = tmp_path.glob("flight-*-unhandled.jsonl")
    (exc,) = [e for e in read_snapshot(path).events if e["kind"] == "exception"]
    assert exc["message"] == "worker died" and exc["where"] == "thread worker-1"
    assert (
        sys.excepthook is sys.__excepthook__
        or sys.excepthook.__module__ != "llmlog.flight.recorder"
    )


def test_signal_trigger(tmp_path):
    program = textwrap.dedent(
        f"""
        import os, signal, time, llmlog
        from llmlog.flight import FlightRecorder
        fr = FlightRecorder(snapshot_dir={str(tmp_path)!r}, triggers=["signal"])
        fr.start()
        fr.record("annotation", category="before", message="signal")
        os.kill(os.getpid(), signal.SIGUSR1)
        for _ in range(100):
            time.sleep(0.05)
            if any(n.endswith("-signal.jsonl") for n in os.listdir({str(tmp_path)!r})):
                break
        """
    )
    subprocess.run([sys.executable, "-c", program], check=True, timeout=60)
    assert len(list(tmp_path.glob("flight-*-signal.jsonl"))) == 1


def test_global_recorder_first_call_wins_and_failure_is_reported(capsys):
    from llmlog.flight.recorder import set_global_flight_recorder

    try:
        first = init_global_flight_recorder(min_age=1)
        second = init_global_flight_recorder(min_age=99)
        assert first is second is global_flight_recorder()
        assert first.min_age == 1
    finally:
        set_global_flight_recorder(None)
    assert init_global_flight_recorder(backend="no-such-backend") is None
    assert "flight recorder could not start, continuing without it" in capsys.readouterr().err
    assert global_flight_recorder() is None


def test_cli_view_and_convert(cli, tmp_path, recorder):
    log = llmlog.Logger(
        Severity.DEBUG, [__import__("llmlog.flight", fromlist=["x"]).RecorderOutput(recorder)]
    )
    log.info("working")
    try:
        raise KeyError("missing")
    except KeyError:
        log.exception("step failed")
    path = recorder.snapshot(tmp_path / "s.jsonl")
    view = cli("flight", "view", str(path))
    assert view.returncode == 0
    out = view.stdout
    assert out.index("Errors (1):") < out.index("ERROR step failed") < out.index("Timeline")
    assert "KeyError: 'missing'" in out
    convert = cli("flight", "convert", str(path), "-o", str(tmp_path / "s.json"))
    assert convert.returncode == 0
    assert json.loads((tmp_path / "s.json").read_text())["traceEvents"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"kind":"header","format":"llmlog-flight"}\n{not json\n')
    failed = cli("flight", "view", str(bad))
    assert failed.returncode == 1
    assert f"{bad}:2: not a JSON line" in failed.stderr


def test_cli_lists_snapshots_and_filters_the_timeline(cli, tmp_path, recorder):
    from llmlog.flight import RecorderOutput

    log = llmlog.Logger(Severity.DEBUG, [RecorderOutput(recorder)])
    log.debug("cache miss", item="k1")
    log.warn("slow provider", ms=900)
    log.error("quota exceeded")
    recorder.record_trace_event(span("span", "s1", "start", operation="Predict:qa"))
    snaps = tmp_path / "snaps"
    path = recorder.snapshot(snaps / "flight-1-20261125T000000-0-manual.jsonl")
    (snaps / "notes.jsonl").write_text('{"a": 1}\n')
    config = tmp_path / "llmlog.toml"
    config.write_text('[flight_recorder]\nsnapshot_dir = "snaps"\n')  # next to the config file
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # The configured directory, or one named on the command line.
    listed = cli("flight", "list", "--config", str(config), cwd=elsewhere)
    assert listed.returncode == 0
    assert f"Snapshots in {snaps} (1, newest first)" in listed.stdout
    assert path.name in listed.stdout and " manual " in listed.stdout
    assert "(1 other .jsonl files that are not snapshots)" in listed.stdout
    assert cli("flight", "list", str(snaps)).stdout == listed.stdout

    def timeline(*options):
        done = cli("flight", "view", str(path), *options)
        assert done.returncode == 0, done.stderr
        return done.stdout.split("\nTimeline", 1)[1]

    shown = timeline("--kind", "log", "--level", "warn")
    assert "slow provider" in shown and "quota exceeded" in shown
    assert "cache miss" not in shown and "Predict:qa" not in shown
    shown = timeline("--grep", "K1")  # fields count, any case
    assert "cache miss" in shown and "slow provider" not in shown
    shown = timeline("--kind", "span")
    assert "Predict:qa" in shown and "cache miss" not in shown
    unknown = cli("flight", "view", str(path), "--level", "loud")
    assert unknown.returncode == 2
    assert "unknown severity 'loud'; expected one of debug" in unknown.stderr


def test_reader_errors_name_the_file(tmp_path):
    plain = tmp_path / "x.jsonl"
    plain.write_text('{"kind":"log"}\n')
    with pytest.raises(SnapshotError, match=r"x\.jsonl:1: not an llmlog flight-recorder snapshot"):
        read_snapshot(plain)


def test_chrome_export_loads_in_perfetto_with_async_slices_instants_and_counters(
    perfetto, tmp_path
):
    fr = FlightRecorder(backend="zstd", chunk_events=32)
    fr.start()
    log = llmlog.Logger(
        Severity.DEBUG, [__import__("llmlog.flight", fromlist=["x"]).RecorderOutput(fr)]
    )

    def call(i):
        # Overlapping LLM calls from 4 threads: thread-scoped slices would drop these.
        fr.record_trace_event(span("span", f"s{i}", "start", operation=f"Predict:{i}"))
        time.sleep(0.01)
        fr.record_trace_event(
            span("llm_call", f"s{i}", model="gpt-4o", latency_ms=8, usage={"total_tokens": 10})
        )
        log.info("call %d done", i, token_info=llmlog.TokenUsage(7, 3))
        fr.record_trace_event(span("span", f"s{i}", "end", duration_ms=10))

    with trace_task("evaluate"):
        with trace_region("setup"):
            log.debug("prepared")
        threads = [threading.Thread(target=llmlog.bind_current(call), args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    snap = read_snapshot(fr.snapshot(tmp_path / "s.jsonl.zst"))
    fr.stop()
    perfetto.load(json.dumps(to_chrome(snap)).encode())
    spans = perfetto.query("select name, dur from slice where category = 'span' order by name")
    assert [r["name"] for r in spans] == [f"Predict:{i}" for i in range(8)]
    assert all(r["dur"] > 0 for r in spans)
    calls = perfetto.query(
        "select count(*) as n from slice where category = 'llm_call' and dur > 0"
    )
    assert calls[0]["n"] == 8
    task = perfetto.query("select name, dur from slice where category = 'task'")
    assert task == [{"name": "evaluate", "dur": task[0]["dur"]}] and task[0]["dur"] > 0
    region = perfetto.query("select name, depth from slice where name = 'setup'")
    assert region == [{"name": "setup", "depth": 0}]
    instants = perfetto.query(
        "select count(*) as n from slice where dur = 0 and name like 'INFO call%'"
    )
    assert instants[0]["n"] == 8
    counter = perfetto.query(
        "select max(c.value) as v from counter c join counter_track t on c.track_id = t.id where t.name like '%tokens%'"
    )
    assert counter[0]["v"] == 160
    problems = perfetto.query(
        "select name, value from stats where severity in ('error', 'data_loss') and value > 0"
    )
    assert problems == []


def test_memory_stays_bounded_under_four_threads_writing_at_full_speed():
    """max_bytes is never exceeded by more than one chunk plus the open chunk.

    Runs for FLIGHT_SOAK_SECONDS (default 90) with four writer threads and the zstd sealer."""
    seconds = float(__import__("os").environ.get("FLIGHT_SOAK_SECONDS", "90"))
    chunk_bytes = 64 << 10
    fr = FlightRecorder(
        min_age=3600,
        max_bytes=512 << 10,
        backend="zstd",
        chunk_events=10_000,
        chunk_bytes=chunk_bytes,
    )
    fr.start()
    log = llmlog.Logger(
        Severity.DEBUG, [__import__("llmlog.flight", fromlist=["x"]).RecorderOutput(fr)]
    )
    stop = time.monotonic() + seconds
    written = [0] * 4

    def writer(n):
        i = 0
        while time.monotonic() < stop:
            log.debug("event %d from writer %d", i, n, payload="p" * (i % 500), model="m")
            i += 1
        written[n] = i

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    worst = 0
    biggest_chunk = 0
    while any(t.is_alive() for t in threads):
        chunks = fr.ring.chunks
        if chunks:
            biggest_chunk = max(biggest_chunk, max(len(c.data) for c in chunks))
        worst = max(worst, fr.ring.stored_bytes)
        time.sleep(0.05)
    for t in threads:
        t.join()
    fr.stop()
    assert sum(written) > 10_000
    # Stored (compressed) bytes: at most max_bytes plus the chunk that crosses it.
    assert worst <= fr.max_bytes + biggest_chunk
    # The open chunk is bounded by chunk_bytes (raw), and the sealer's backlog is bounded too.
    assert fr.ring._pending_bytes <= 2 * max(fr.max_bytes, chunk_bytes)
    assert fr.ring.evicted_events > 0


def test_reconfiguring_replaces_and_then_stops_the_configured_recorder(tmp_path):
    first = llmlog.configure({"outputs": {}, "flight_recorder": {"enabled": True}})
    recorder = global_flight_recorder()
    assert recorder is not None and recorder.enabled
    assert first.flight_recorder.enabled
    llmlog.configure({"outputs": {}, "flight_recorder": {"enabled": True, "backend": "zstd"}})
    replacement = global_flight_recorder()
    assert (
        replacement is not recorder and not recorder.enabled and replacement.backend.name == "zstd"
    )
    llmlog.configure({"outputs": {}})
    assert global_flight_recorder() is None
    assert not replacement.enabled
    assert llmlog.flight.annotations.active is None
