"""The flight recorder end to end: recording, retention, backends, triggers, snapshots, the CLI,
and the Chrome export checked with Perfetto's real trace processor."""

import asyncio
import contextlib
import io
import json
import re
import subprocess
import sys
import textwrap
import threading
import time

import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

import llmlog
from llmlog import Severity, TraceEvent, TraceEventType
from llmlog.ext import global_flight_recorder, trace_log, trace_region, trace_task
from llmlog_engine_flight import FlightRecorder, SnapshotInProgress, init_global_flight_recorder
from llmlog_engine_flight.chrome import to_chrome
from llmlog_engine_flight.snapshot import SnapshotError, read_snapshot
from llmlog_engine_flight.view import render_view


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
        __import__("llmlog_engine_flight", fromlist=["x"]).RecorderOutput(recorder)
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
    from llmlog.testing import ListOutput
    from llmlog_engine_flight import RecorderOutput

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
    from llmlog_engine_flight.memory import MemoryBackend
    from llmlog_engine_flight.ring import ChunkRing

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


def walked(chunks, max_bytes, min_age_ns):
    """Go's rule as a walk back from the newest chunk (the ring's former code): the reference."""
    keep = [chunks[-1]]
    size = len(chunks[-1].data)
    now = chunks[-1].t_max
    for chunk in reversed(chunks[:-1]):
        if size > max_bytes or now - keep[-1].t_min > min_age_ns:
            break
        keep.append(chunk)
        size += len(chunk.data)
    return tuple(reversed(keep))


@settings(max_examples=300, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=0, max_value=50), min_size=1, max_size=40),
    gaps=st.lists(st.integers(min_value=0, max_value=5), min_size=40, max_size=40),
    max_bytes=st.integers(min_value=0, max_value=300),
    min_age=st.integers(min_value=0, max_value=20),
)
def test_retention_after_every_seal_is_what_walking_back_from_the_newest_keeps(
    sizes, gaps, max_bytes, min_age
):
    from llmlog_engine_flight.memory import MemoryBackend
    from llmlog_engine_flight.ring import ChunkRing, SealedChunk

    ring = ChunkRing(MemoryBackend(), max_bytes=max_bytes)
    ring.min_age_ns = min_age  # in nanoseconds: no float on the way
    sealed, t = [], 0
    for seq, (size, gap) in enumerate(zip(sizes, gaps[: len(sizes)], strict=True)):
        t_min, t = t, t + gap
        chunk = SealedChunk(seq, t_min, t, 1, size, b"x" * size)
        expected = walked([*ring.chunks, chunk], max_bytes, min_age)
        ring._retain(chunk)
        sealed.append(chunk)
        assert ring.chunks == expected
        assert ring.stored_bytes == sum(len(c.data) for c in expected)
        assert ring.evicted_events == len(sealed) - len(expected)


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
    assert llmlog.state.annotating_recorder is None
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
        or sys.excepthook.__module__ != "llmlog_engine_flight.recorder"
    )


def test_signal_trigger(tmp_path):
    program = textwrap.dedent(
        f"""
        import os, signal, time, llmlog
        from llmlog_engine_flight import FlightRecorder
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
    from llmlog_engine_flight.recorder import set_global_flight_recorder

    try:
        first = init_global_flight_recorder(min_age=1)
        second = init_global_flight_recorder(min_age=99)
        assert first is second is global_flight_recorder()
        assert first.min_age == 1
    finally:
        set_global_flight_recorder(None)
    assert init_global_flight_recorder(backend="no-such-backend") is None
    assert "flight recorder could not start, continuing without it" in capsys.readouterr().err
    assert not global_flight_recorder().enabled


@pytest.mark.slow
def test_cli_view_and_convert(cli, tmp_path, recorder):
    log = llmlog.Logger(
        Severity.DEBUG,
        [__import__("llmlog_engine_flight", fromlist=["x"]).RecorderOutput(recorder)],
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


@pytest.mark.slow
def test_cli_lists_snapshots_and_filters_the_timeline(cli, tmp_path, recorder):
    from llmlog_engine_flight import RecorderOutput

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


@pytest.mark.slow
def test_chrome_export_loads_in_perfetto_with_async_slices_instants_and_counters(
    perfetto, tmp_path
):
    fr = FlightRecorder(backend="zstd", chunk_events=32)
    fr.start()
    log = llmlog.Logger(
        Severity.DEBUG, [__import__("llmlog_engine_flight", fromlist=["x"]).RecorderOutput(fr)]
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


@pytest.mark.slow
def test_memory_stays_bounded_under_four_threads_writing_at_full_speed():
    """max_bytes is never exceeded by more than one chunk plus the open chunk.

    Runs for FLIGHT_SOAK_SECONDS (default 20; 90 or more for a soak) with four writer threads
    and the zstd sealer."""
    seconds = float(__import__("os").environ.get("FLIGHT_SOAK_SECONDS", "20"))
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
        Severity.DEBUG, [__import__("llmlog_engine_flight", fromlist=["x"]).RecorderOutput(fr)]
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
    assert first.table("flight_recorder").options.enabled
    llmlog.configure({"outputs": {}, "flight_recorder": {"enabled": True, "backend": "zstd"}})
    replacement = global_flight_recorder()
    assert (
        replacement is not recorder and not recorder.enabled and replacement.backend.name == "zstd"
    )
    llmlog.configure({"outputs": {}})
    assert not global_flight_recorder().enabled
    assert not replacement.enabled
    assert llmlog.state.annotating_recorder is None


def test_without_a_recorder_the_global_one_is_a_no_op_that_never_replaces_the_exception(tmp_path):
    # The documented pattern must keep the application's own exception when no recorder runs
    # (the default), not raise AttributeError instead.
    recorder = global_flight_recorder()
    assert not recorder.enabled
    error = TimeoutError("the model did not answer")

    def evaluate():
        try:
            raise error
        except Exception as exc:
            raise global_flight_recorder().snapshot_on_error(exc)  # noqa: B904 (as documented)

    with pytest.raises(TimeoutError) as raised:
        evaluate()
    assert raised.value is error
    assert recorder.snapshot_on_error(error, tmp_path / "x.jsonl", min_interval=0) is error
    assert recorder.snapshot(tmp_path / "x.jsonl") is None
    assert recorder.write_to(io.BytesIO()) == 0
    recorder.record("annotation", category="c", message="m")
    recorder.record_exception(error)
    recorder.start()
    recorder.stop()
    assert recorder.stats() == {} and list(tmp_path.iterdir()) == []


def test_the_python_blocks_of_the_guide_run_as_written_with_and_without_a_recorder(
    repo, tmp_path, capsys
):
    import re

    blocks = re.findall(
        r"```python\n(.*?)```", (repo / "docs" / "flight-recorder.md").read_text(), re.S
    )
    assert blocks
    for block in blocks:
        exec(compile(block, "flight-recorder.md", "exec"), {})
    init_global_flight_recorder(snapshot_dir=tmp_path / "snaps")
    try:
        for block in blocks:
            exec(compile(block, "flight-recorder.md", "exec"), {})
    finally:
        from llmlog_engine_flight.recorder import set_global_flight_recorder

        set_global_flight_recorder(None)
    (path,) = (tmp_path / "snaps").glob("flight-*-error.jsonl")
    kinds = {e["kind"] for e in read_snapshot(path).events}
    assert {"task_begin", "region", "annotation", "exception"} <= kinds


def test_chrome_export_shows_each_thread_as_its_own_named_thread_in_perfetto(perfetto, tmp_path):
    # Thread ids as Python reports them (~1.4e14) made Perfetto merge every thread into one; the
    # export numbers threads 1, 2, ... and names them, and async slices keep their overlap.
    threads = 5
    fr = FlightRecorder(backend="zstd", chunk_events=16)
    fr.start()
    barrier = threading.Barrier(threads)

    def call(i):
        trace_log("note", f"from worker {i}")
        barrier.wait()  # every call below ends after all of them began: they overlap
        fr.record_trace_event(span("llm_call", f"s{i}", model=f"m{i}", latency_ms=200))

    workers = [threading.Thread(target=call, args=(i,), name=f"worker-{i}") for i in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    snap = read_snapshot(fr.snapshot(tmp_path / "s.jsonl.zst"))
    fr.stop()
    chrome = to_chrome(snap)["traceEvents"]
    assert all(0 <= e["tid"] < 1 << 16 for e in chrome)
    perfetto.load(json.dumps({"traceEvents": chrome}).encode())
    named = perfetto.query("select tid, name from thread where name like 'worker-%' order by name")
    assert [r["name"] for r in named] == [f"worker-{i}" for i in range(threads)]
    assert len({r["tid"] for r in named}) == threads
    notes = perfetto.query(
        "select s.name as note, t.name as thread from slice s join thread_track tt"
        " on s.track_id = tt.id join thread t using (utid) where s.name like 'from worker %'"
    )
    assert sorted((r["note"], r["thread"]) for r in notes) == [
        (f"from worker {i}", f"worker-{i}") for i in range(threads)
    ]
    calls = perfetto.query("select ts, dur from slice where category = 'llm_call'")
    assert len(calls) == threads
    latest_start = max(r["ts"] for r in calls)
    assert all(r["ts"] + r["dur"] > latest_start for r in calls)  # all overlap
    problems = perfetto.query(
        "select name, value from stats where severity in ('error', 'data_loss') and value > 0"
    )
    assert problems == []


def test_the_thread_table_is_bounded_and_names_threads_by_their_current_name(tmp_path, monkeypatch):
    monkeypatch.setattr("llmlog_engine_flight.recorder.MAX_THREADS", 8)
    fr = FlightRecorder()
    fr.start()
    release = threading.Event()
    recorded = threading.Barrier(13)

    def work():
        fr.record("tick")
        recorded.wait()
        release.wait()

    threads = [threading.Thread(target=work, name=f"t{i}-" + "x" * 300) for i in range(12)]
    try:
        for thread in threads:
            thread.start()
        recorded.wait()
        threads[-1].name = "renamed"
        header = read_snapshot(fr.snapshot(tmp_path / "s.jsonl")).header
    finally:
        release.set()
        for thread in threads:
            thread.join()
        fr.stop()
    names = list(header["threads"].values())
    assert len(names) == 8
    assert names[-1] == "renamed" and all(len(n) <= 200 for n in names)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_crash_snapshot_is_not_skipped_after_a_signal_snapshot_and_skips_are_counted(tmp_path):
    import os
    import signal

    fr = FlightRecorder(
        snapshot_dir=tmp_path, triggers=["signal", "unhandled"], min_snapshot_interval=3600
    )
    fr.start()
    try:
        os.kill(os.getpid(), signal.SIGUSR1)  # an operator asks for a snapshot
        for _ in range(400):
            if list(tmp_path.glob("flight-*-signal.jsonl")):
                break
            time.sleep(0.05)
        assert list(tmp_path.glob("flight-*-signal.jsonl"))

        def crash(n):
            raise RuntimeError(f"worker died {n}")

        for n in range(3):  # the first one snapshots: the signal one is another kind
            thread = threading.Thread(target=crash, args=(n,))
            thread.start()
            thread.join()
        for n in range(2):
            fr.snapshot_on_error(ValueError(f"bad {n}"))  # first snapshots, second is skipped
        stats = fr.stats()
        last = read_snapshot(fr.snapshot(tmp_path / "manual.jsonl"))
    finally:
        fr.stop()
    (crashed,) = tmp_path.glob("flight-*-unhandled.jsonl")
    assert any(e.get("message") == "worker died 0" for e in read_snapshot(crashed).events)
    assert len(list(tmp_path.glob("flight-*-error.jsonl"))) == 1
    assert stats["snapshots_skipped"] == 3
    assert (stats["snapshots_skipped_unhandled"], stats["snapshots_skipped_error"]) == (2, 1)
    # Skipped since the previous snapshot: in the next snapshot's header and its timeline.
    assert last.header["skipped_snapshots"] == {"error": 1}
    skipped = [e["reason"] for e in last.events if e["kind"] == "snapshot_skipped"]
    assert skipped == ["unhandled", "unhandled", "error"]


def test_snapshot_files_are_0600_from_their_first_byte_and_new_directories_0700(tmp_path, cli):
    import os
    import stat

    modes = []

    class Watched(FlightRecorder):
        def write_to(self, fileobj, *, reason="manual"):
            modes.append(stat.S_IMODE(os.fstat(fileobj.fileno()).st_mode))  # before any byte
            return super().write_to(fileobj, reason=reason)

    previous = os.umask(0)  # what a permissive environment gives
    try:
        fr = Watched(snapshot_dir=tmp_path / "a" / "b" / "snaps", backend="zstd")
        fr.start()
        try:
            path = fr.snapshot(reason="../../escape attempt")
            explicit = fr.snapshot(tmp_path / "c" / "d" / "s.jsonl.zst")
        finally:
            fr.stop()
        converted = tmp_path / "e" / "out.json"
        done = cli("flight", "convert", str(path), "-o", str(converted))
        assert done.returncode == 0, done.stderr
    finally:
        os.umask(previous)
    assert modes == [0o600, 0o600]
    assert path.parent == tmp_path / "a" / "b" / "snaps" and path.name.endswith(
        "-______escape_attempt.jsonl.zst"
    )
    for file in (path, explicit, converted):
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, file
    for directory in ("a", "a/b", "a/b/snaps", "c", "c/d", "e"):
        assert stat.S_IMODE((tmp_path / directory).stat().st_mode) == 0o700, directory
    leftovers = [p.name for p in tmp_path.rglob(".*") if p.is_file()]
    assert leftovers == []


def busy_snapshot(path, backend="memory"):
    """A snapshot with one of each thing the viewers show: spans, an LLM call, a log entry with
    model/tokens/latency/cost, a failed tool call, an error event, an exception, a region."""
    from llmlog_engine_flight import RecorderOutput

    fr = FlightRecorder(backend=backend, chunk_events=8)
    fr.start()
    log = llmlog.Logger(Severity.DEBUG, [RecorderOutput(fr)])
    with trace_task("evaluate"):
        with trace_region("retrieve"):
            log.debug("cache miss", key="k1")
        fr.record_trace_event(span("span", "s1", "start", operation="Predict:qa"))
        fr.record_trace_event(
            span(
                "llm_call",
                "s1",
                provider="openai",
                model="gpt-4o",
                latency_ms=12,
                usage={
                    "prompt_tokens": 20,
                    "completion_tokens": 10,
                    "total_tokens": 30,
                    "cost": 0.0001,
                },
            )
        )
        log.info(
            "answered",
            model_id="gpt-4o-mini",
            token_info=llmlog.TokenUsage(7, 3, cost=0.00002),
            latency_ms=8.5,
        )
        fr.record_trace_event(
            span(
                "tool_call", "s1", tool_name="search", duration_ms=5, success=False, error="timeout"
            )
        )
        fr.record_trace_event(span("error", "s1", error_type="ValueError", message="bad answer"))
        fr.record_trace_event(
            span("span", "s1", "end", duration_ms=15, error="ValueError: bad answer")
        )
        fr.record_exception(RuntimeError("boom"), where="worker")
    path = fr.snapshot(path)
    fr.stop()
    return path


def flight_cli(*args):
    """``llmlog flight ...`` run in-process: (exit status, stdout, stderr)."""
    from contextlib import redirect_stderr, redirect_stdout

    from llmlog.testing import run_cli

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        status = run_cli(["flight", *map(str, args)])
    return status, out.getvalue(), err.getvalue()


def test_flight_view_pairs_spans_shows_calls_and_reads_errors_as_text(tmp_path):
    path = busy_snapshot(tmp_path / "s.jsonl")
    status, out, err = flight_cli("view", path, "--last", "0")
    assert (status, err) == (0, "")
    timeline = out.split("\nTimeline", 1)[1]
    lines = timeline.splitlines()

    def line_with(text):
        (found,) = [line for line in lines if text in line]
        return found

    assert "Predict:qa [s1]" in line_with("span start")
    assert "Predict:qa [s1] 15 ms" in line_with("span end")
    assert "ValueError: bad answer" in line_with("span end")
    assert "llm gpt-4o (openai) 12 ms tokens=30(20↑10↓) $0.0001 [s1]" in line_with("llm gpt-4o")
    assert (
        "INFO  answered model=gpt-4o-mini tokens=10(7↑3↓) latency=8.5ms cost=$0.00002"
        in line_with("answered")
    )
    assert "tool search failed 5 ms error: timeout [s1]" in line_with("tool search")
    assert "error ValueError: bad answer [s1]" in line_with("error ValueError")
    assert "exception RuntimeError: boom (worker)" in line_with("exception RuntimeError")
    errors = out.split("\nErrors (", 1)[1].split("\nTimeline", 1)[0]
    assert errors.startswith("4):")  # the tool call, the error, the span end, the exception
    assert "{'" not in out and '{"' not in out  # nothing printed as a Python dict or raw JSON


def test_flight_view_rejects_an_unknown_kind_and_a_negative_last(tmp_path):
    path = busy_snapshot(tmp_path / "s.jsonl")
    status, out, err = flight_cli("view", path, "--kind", "spam")
    assert status == 2 and out == ""
    assert err.startswith(
        "llmlog: --kind: unknown kind 'spam'; known kinds: session, span, llm_call"
    )
    # A kind the program recorded itself (FlightRecorder.record) is known in its snapshot.
    fr = FlightRecorder()
    fr.start()
    fr.record("cache_stats", hits=3)
    custom = fr.snapshot(tmp_path / "c.jsonl")
    fr.stop()
    status, out, err = flight_cli("view", custom, "--kind", "cache_stats")
    assert status == 0 and "cache_stats hits=3" in out.split("\nTimeline", 1)[1]
    status, out, err = flight_cli("view", path, "--kind", "cache_stats")
    assert status == 2 and "unknown kind 'cache_stats'" in err
    assert flight_cli("view", path, "--last", "-1")[0] == 2


def test_flight_view_colours_on_a_terminal_only(tmp_path):
    import os
    import pty

    path = busy_snapshot(tmp_path / "s.jsonl")
    llmlog_bin = str(__import__("pathlib").Path(sys.executable).with_name("llmlog"))

    without = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}

    def on_terminal(env):
        leader, follower = pty.openpty()
        done = subprocess.run(
            [llmlog_bin, "flight", "view", str(path)],
            stdout=follower,
            stderr=subprocess.PIPE,
            env={**without, **env},
            timeout=60,
        )
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        os.close(leader)
        assert done.returncode == 0, done.stderr
        return b"".join(chunks).decode()

    coloured = on_terminal({})
    assert "\x1b[31mexception RuntimeError: boom" in coloured
    assert "\x1b[36mllm gpt-4o" in coloured
    assert "\x1b[" not in on_terminal({"NO_COLOR": "1"})
    piped = subprocess.run(
        [llmlog_bin, "flight", "view", str(path)],
        capture_output=True,
        text=True,
        env=without,
        timeout=60,
    )
    assert piped.returncode == 0 and "\x1b[" not in piped.stdout


CORPUS = __import__("pathlib").Path(__file__).parent / "flight_corpus"

#: Each bad file of the corpus and the message a strict read gives (after "llmlog: FILE").
BAD_FILES = {
    "no-ts.jsonl": ":5: 'ts': expected an integer of nanoseconds since the epoch (0 to 2**63-1), got no ts",
    "mixed-ts.jsonl": ":6: 'ts': expected an integer of nanoseconds since the epoch (0 to 2**63-1), got a string",
    "huge-ts.jsonl": ":4: 'ts': expected an integer of nanoseconds since the epoch (0 to 2**63-1), got a number out of range",
    "float-ts.jsonl": ":4: 'ts': expected an integer of nanoseconds since the epoch (0 to 2**63-1), got a number",
    "kind-list.jsonl": ":5: 'kind': expected a string, got a list",
    "region-dur-x.jsonl": ":4: region event: 'dur': expected an integer, got a string",
    "data-string.jsonl": ":6: llm_call event: 'data': expected an object, got a string",
    "usage-list.jsonl": ":6: llm_call event: 'data' > 'usage': expected an object, got a list",
    "not-utf8.jsonl": ":7: not UTF-8 text (byte 0xff at column 90)",
    "truncated.jsonl": ":9: the last line is cut short (a truncated file)",
    "deep-fields.jsonl": ":7: not a JSON line (depth limit exceeded",
    "corrupt-frame.jsonl.zst": ": after line 5: cannot decode (zstd): byte 642: a damaged frame (zstd decompress error: Data corruption detected)",
    "garbage-after.jsonl.zst": ": after line 9: cannot decode (zstd): byte 1045: not a zstd frame (damaged data, or not a snapshot)",
    "truncated.jsonl.zst": ": after line 5: cannot decode (zstd): byte 642: a frame cut short (a truncated file)",
    "window-list.jsonl": ":1: header: 'window': expected an object, got a list",
    "threads-list.jsonl": ":1: header: 'threads': expected an object of thread names by thread id, got a list",
    "not-a-snapshot.jsonl": ":1: not an llmlog flight-recorder snapshot (no header line)",
    "empty.jsonl": ":1: empty: not an llmlog flight-recorder snapshot",
}
#: Read without complaint (zstd frames without checksums are what earlier versions wrote).
GOOD_FILES = ["valid.jsonl", "valid.jsonl.zst", "lone-surrogate.jsonl", "old-no-checksum.jsonl.zst"]


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_snapshots_get_file_line_messages_from_view_and_convert(name, tmp_path):
    path = CORPUS / name
    for command in (["view"], ["convert", "-o", tmp_path / "out.json"]):
        status, out, err = flight_cli(*command, path)
        assert status == 1, (command, out, err)
        assert err.startswith(f"llmlog: {path}{BAD_FILES[name]}"), err
        assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "out.json").exists()
    with pytest.raises(SnapshotError, match=re.escape(f"{path}{BAD_FILES[name]}")):
        read_snapshot(path)
    header_problem = BAD_FILES[name].startswith(":1:")
    status, out, err = flight_cli("view", "--lenient", path)
    assert status == (1 if header_problem else 0), err
    if not header_problem:
        assert "unreadable line" in out or "cannot decode" in out


@pytest.mark.parametrize("name", GOOD_FILES)
def test_good_corpus_snapshots_are_read(name, tmp_path):
    path = CORPUS / name
    status, out, err = flight_cli("view", path)
    assert (status, err) == (0, "")
    assert "ERROR step" in out and "span end   Predict:qa [s1] 15 ms" in out
    assert "events the header counts are missing" not in out and "skipped" not in out
    status, out, err = flight_cli("convert", path, "-o", tmp_path / "out.json")
    assert status == 0 and json.loads((tmp_path / "out.json").read_text())["traceEvents"]


def test_flight_list_reads_headers_only_and_lists_damaged_snapshots_with_the_reason(tmp_path):
    import shutil

    for name in [*BAD_FILES, *GOOD_FILES]:
        shutil.copy(CORPUS / name, tmp_path / name)
    status, out, err = flight_cli("list", tmp_path)
    assert (status, err) == (0, "")
    assert f"Snapshots in {tmp_path} (" in out
    for name in GOOD_FILES + [n for n, m in BAD_FILES.items() if not m.startswith(":1:")]:
        assert out.count(f"  {name}\n") == 1, name  # a readable header: listed
    assert f"unreadable: {tmp_path / 'window-list.jsonl'}:1: header: 'window'" in out
    assert f"unreadable: {tmp_path / 'threads-list.jsonl'}:1: header: 'threads'" in out
    assert "(2 other .jsonl files that are not snapshots)" in out  # not-a-snapshot, empty
    # Neither a directory nor a FIFO (whose read would block) is taken for a snapshot.
    (tmp_path / "folder.jsonl").mkdir()
    __import__("os").mkfifo(tmp_path / "pipe.jsonl")
    import signal

    def hung(signum, frame):
        raise TimeoutError("flight list blocked on the FIFO")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(30)
    try:
        assert flight_cli("list", tmp_path) == (status, out, err)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


#: Everything a hostile string may try on a terminal or a log reader.
HOSTILE = (
    "x\x1b[2J\x1b[H"  # clear the screen
    "\x1b]52;c;cm0gLXJmIH4=\x07"  # OSC 52: write the clipboard
    "\x1b]8;;https://evil.example/\x1b\\link\x1b]8;;\x1b\\"  # OSC 8: a hidden link
    "\x9b31m\x7f\x85"  # C1 CSI, DEL, NEL
    "\u202egnp.exe\u202c\u200b\u2028\U000e0041"  # bidi override, zero-width, separator, tag
    "\ud800"  # a lone surrogate (an escape in the JSON)
    "\r\n2026-01-01 00:00:00.000 INFO  forged log line\x00y"
)


def hostile_snapshot(directory):
    """A snapshot whose every string is :data:`HOSTILE` (and whose file name is hostile too):
    header fields, kinds, messages, field keys and values, span, region, task and thread names."""
    import os

    h = HOSTILE
    ts = 1_796_500_000_000_000_000
    header = {
        "kind": "header",
        "format": "llmlog-flight",
        "version": 1,
        "reason": h,
        "pid": 4242,
        "host": h,
        "created_ns": ts,
        "clock": {"wall_ns": ts, "monotonic_ns": 1},
        "config": {"backend": h, "min_age": 10.0, "max_bytes": 1024, "level": h},
        "window": {"chunks": 1, "events": 10, "raw_bytes": 1, "stored_bytes": 1},
        "drops": {h: 3},
        "threads": {"7": h, "8": h},
        "skipped_snapshots": {h: 2},
        h: h,
    }
    data = {"event": "start", "operation": h, "inputs": {h: h}}
    events = [
        {
            "kind": "log",
            "level": h,
            "msg": h,
            "logger": h,
            "file": h,
            "line": 1,
            "fn": h,
            "model": h,
            "fields": {h: h, "n": [h, {h: h}]},
            "exception": f"Traceback\n{h}\n{h}",
            "trace_id": h,
            "span_id": h,
        },
        {"kind": "log", "level": "ERROR", "msg": h, "exception": h},
        {"kind": "span", "trace_id": h, "span_id": h, "parent_id": h, "data": data},
        {
            "kind": "span",
            "trace_id": h,
            "span_id": h,
            "data": {"event": "end", "error": h, "outputs": {h: h}},
        },
        {
            "kind": "llm_call",
            "trace_id": h,
            "span_id": h,
            "data": {
                "model": h,
                "provider": h,
                "prompt": h,
                "response": h,
                "latency_ms": 5,
                "usage": {"total_tokens": 3, "cost": 0.1},
            },
        },
        {
            "kind": "tool_call",
            "span_id": h,
            "data": {"tool_name": h, "success": False, "error": h, "duration_ms": 1},
        },
        {"kind": "error", "span_id": h, "data": {"error_type": h, "message": h}},
        {"kind": "module", "data": {"module_type": h, "module_name": h, "success": False}},
        {"kind": "region", "name": h, "region": 1, "dur": 5, "error": h},
        {"kind": "region_begin", "name": h, "region": 2, "open": True},
        {"kind": "task_begin", "name": h, "task_id": 3},
        {"kind": "task_end", "name": h, "task_id": 3, "error": h},
        {"kind": "annotation", "category": h, "message": h},
        {"kind": "exception", "type": h, "message": h, "traceback": h, "where": h},
        {"kind": "snapshot_skipped", "reason": h, "why": h},
        {"kind": "snapshot", "path": h, "reason": h},
        {"kind": h, h: h, "message": h},
    ]
    for i, event in enumerate(events):
        event.update(ts=ts + i * 1000, tid=7 + i % 2)
    # The header as raw UTF-8 (only the lone surrogate escaped), the events all \u escapes.
    lines = [json.dumps(header, ensure_ascii=False).replace("\ud800", "\\ud800").encode()]
    lines += [json.dumps(event).encode() for event in events]
    name = os.fsdecode(b"snap-\xff\x1b[2J\x1b]52;c;eA==\x07\xe2\x80\xae\nINFO forged.jsonl")
    path = directory / name
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def assert_printable(text):
    bad = sorted({f"U+{ord(c):04X}" for c in text if not (c.isprintable() or c == "\n")})
    assert not bad, f"non-printable characters reached the output: {bad}"


def test_viewers_print_hostile_snapshots_safely(tmp_path):
    import os

    path = hostile_snapshot(tmp_path)
    status, out, err = flight_cli("view", path, "--last", "0")
    assert (status, err) == (0, "")
    assert_printable(out)
    assert "forged log line" in out and "\nINFO forged" not in out
    assert "\n2026-01-01" not in out
    # Every event is shown, hostile kind included.
    assert out.count("\n  20") == 17 + 7  # 17 events in the timeline, 7 of them errors
    status, out, err = flight_cli("list", tmp_path)
    assert (status, err) == (0, "")
    assert_printable(out)
    assert "snap-\\udcff\\x1b[2J" in out  # the file name, escaped
    target = tmp_path / "out.json"
    status, out, err = flight_cli("convert", path, "-o", target)
    assert (status, err) == (0, "")
    assert_printable(out)
    text = target.read_bytes().decode("utf-8")  # valid UTF-8
    assert_printable(text)
    document = json.loads(text)  # valid JSON, the hostile text kept as data
    assert document["otherData"]["header"]["host"] == HOSTILE.replace("\ud800", "\\ud800")
    names = {e["args"]["name"] for e in document["traceEvents"] if e["name"] == "thread_name"}
    assert names == {HOSTILE.replace("\ud800", "\\ud800")}
    # Errors about a hostile file are escaped too (the message names the file).
    broken = tmp_path / os.fsdecode(b"bad-\x1b]52;c;eA==\x07\n.jsonl")
    broken.write_bytes(path.read_bytes() + b'{"ts": "\x1b[2J"}\n')
    for command in ("view", "convert"):
        status, out, err = flight_cli(command, broken)
        assert status == 1 and err.startswith("llmlog: ") and err.count("\n") == 1
        assert_printable(err)
    # The real command, bytes as the terminal gets them.
    done = subprocess.run(
        [
            str(__import__("pathlib").Path(sys.executable).with_name("llmlog")),
            "flight",
            "view",
            str(path),
        ],
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0 and done.stderr == b""
    assert_printable(done.stdout.decode("utf-8"))


def test_a_snapshot_of_more_events_than_max_events_keeps_the_newest(tmp_path):
    fr = FlightRecorder(chunk_events=16)
    fr.start()
    for i in range(100):
        fr.record("tick", i=i)
    path = fr.snapshot(tmp_path / "s.jsonl")
    fr.stop()
    snap = read_snapshot(path, max_events=10)
    assert [e["i"] for e in snap.events] == list(range(90, 100))
    assert snap.dropped == 91 and snap.missing_events == 0  # 100 ticks and recorder_start
    status, out, err = flight_cli("view", path, "--max-events", "10")
    assert err == ""
    assert status == 0 and "the oldest 91 were dropped (more than 10)" in out
    assert flight_cli("view", path, "--max-events", "0")[0] == 2


def test_flight_view_quotes_field_values_as_the_console_does(tmp_path):
    from llmlog_engine_flight import RecorderOutput

    fr = FlightRecorder()
    fr.start()
    llmlog.Logger(Severity.DEBUG, [RecorderOutput(fr)]).info(
        "asked", question="Which tool? level=ERROR"
    )
    path = fr.snapshot(tmp_path / "s.jsonl")
    fr.stop()
    out = flight_cli("view", path)[1]
    assert 'INFO  asked question="Which tool? level=ERROR"' in out


SIGNALLED = textwrap.dedent(
    """
    import json, signal, sys, llmlog
    from llmlog.flight import global_flight_recorder
    from llmlog_engine_flight.snapshot import read_snapshot
    llmlog.configure({"level": "info", "outputs": {"console": {"type": "console", "level": "error"}},
        "flight_recorder": {"enabled": True, "backend": sys.argv[1], "level": "debug",
                            "max_bytes": 1 << 30, "min_age": 600}})
    log = llmlog.get_logger()
    ticks = 0
    def handler(signum, frame):  # logs every 2 ms, often while the main thread is appending
        global ticks
        ticks += 1
        log.debug("tick", n=ticks)
    signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, 0.002, 0.002)
    for i in range(100_000):
        log.debug("main", i=i)
    signal.setitimer(signal.ITIMER_REAL, 0, 0)
    events = read_snapshot(global_flight_recorder().snapshot(reason="t")).events
    print(json.dumps({
        "ticks": ticks,
        "main": sorted(e["fields"]["i"] for e in events if e.get("msg") == "main") == list(range(100_000)),
        "tick": sorted(e["fields"]["n"] for e in events if e.get("msg") == "tick"),
    }))
    """
)


@pytest.mark.parametrize("backend", ["memory", "zstd"])
@pytest.mark.slow
def test_a_signal_handler_that_logs_into_the_recorder_never_deadlocks_or_loses(tmp_path, backend):
    # The handler interrupts the main thread inside the ring's append lock: its line is left for
    # the next append to take, in order (before: the process hung).
    done = subprocess.run(
        [sys.executable, "-c", SIGNALLED, backend],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["ticks"] > 10 and result["main"]
    assert result["tick"] == list(range(1, result["ticks"] + 1))


def test_session_less_spans_and_record_are_redacted_and_capped(tmp_path):
    # Spans opened without a trace session and FlightRecorder.record() reached the recorder raw:
    # an api_key, a URL password, a password output and a 100,000-character output as given.
    from llmlog_engine_flight.recorder import set_global_flight_recorder

    llmlog.configure({"outputs": {}}, autoload=False)
    recorder = FlightRecorder(snapshot_dir=tmp_path)
    recorder.start()
    set_global_flight_recorder(recorder)
    try:
        llmlog.configure({"outputs": {}}, autoload=False)
        with llmlog.span(
            "s", inputs={"api_key": "k-0001", "q": "postgres://u:hunter2pass@db/x"}
        ) as s:
            s.set_outputs(password="p4ssw0rd", text="x" * 100_000)
        recorder.record("custom", api_key="k-0002", note="Authorization: Bearer abcdefghijklmnop12")
        text = json.dumps(read_snapshot(recorder.snapshot(reason="t")).events)
    finally:
        set_global_flight_recorder(None)
        recorder.stop()
    for secret in ("k-0001", "hunter2pass", "p4ssw0rd", "k-0002", "abcdefghijklmnop12"):
        assert secret not in text
    assert "[truncated 67232 chars]" in text


def test_a_running_recorder_is_the_trace_sink_of_the_recorder_started_last():
    from llmlog import state

    first = FlightRecorder(min_age=60)
    second = FlightRecorder(min_age=60)
    first.start()
    assert first in state.trace_sinks
    second.start()  # takes the trace events and the annotations over
    assert second in state.trace_sinks and first not in state.trace_sinks
    with llmlog.span("seen by the second"):
        pass
    second.stop()
    first.stop()
    assert not any(isinstance(s, FlightRecorder) for s in state.trace_sinks)
    buffer = io.BytesIO()
    first.start()
    first.write_to(buffer)
    first.stop()
    assert b"seen by the second" not in buffer.getvalue()


def test_llmlog_shutdown_stops_a_recorder_started_by_hand():
    fr = FlightRecorder(min_age=60)
    fr.start()
    llmlog.shutdown()  # the trace sinks are flushed and shut down
    assert not fr.enabled
    assert llmlog.state.annotating_recorder is None


def _debug_to_the_recorder_alone(fr):
    """A logger whose DEBUG entries only ``fr`` takes, through its flat function."""
    from llmlog.testing import ListOutput
    from llmlog_engine_flight import RecorderOutput

    log = llmlog.Logger(Severity.DEBUG, [ListOutput(Severity.INFO), RecorderOutput(fr)])
    assert log.dispatcher.emit_debug is not None
    return log


def _logged(fr):
    fr.ring.seal_now()
    lines = b"".join(c.data for c in fr.ring.chunks) + bytes(fr.ring._active)
    return [json.loads(line)["msg"] for line in lines.splitlines() if b'"kind":"log"' in line]


def test_a_stopped_recorder_takes_no_entry_from_the_thread_that_logged_last():
    # The flat function passes the thread that logged last on one comparison: stopping the
    # recorder must forget it, or that thread's entries would still go in.
    fr = FlightRecorder()
    fr.start()
    log = _debug_to_the_recorder_alone(fr)
    for n in range(3):  # the first teaches the sanitizer the message: the others take the code
        log.debug("entry", n=n)
    fr.stop()
    log.debug("entry", n=3)
    assert _logged(fr) == ["entry"] * 3
    fr.start()
    log.debug("entry", n=4)
    fr.stop()
    assert len(_logged(fr)) == 4


def test_a_thread_evicted_from_the_thread_table_is_named_again_when_it_logs(tmp_path, monkeypatch):
    # The thread that logged last is cached by the flat function; when another thread pushes it
    # out of the (bounded) thread table, its next entry must note its name again.
    monkeypatch.setattr("llmlog_engine_flight.recorder.MAX_THREADS", 1)
    fr = FlightRecorder()
    fr.start()
    try:
        log = _debug_to_the_recorder_alone(fr)
        log.debug("entry", n=1)
        log.debug("entry", n=2)
        other = threading.Thread(target=log.debug, args=("entry",), name="other-thread")
        other.start()
        other.join()
        assert threading.get_ident() not in fr._threads
        log.debug("entry", n=3)
        header = read_snapshot(fr.snapshot(tmp_path / "s.jsonl")).header
    finally:
        fr.stop()
    assert header["threads"] == {str(threading.get_ident()): threading.current_thread().name}


def named_loggers(name):
    """A specialised and a reference logger named ``name``, each with a started recorder taking
    DEBUG alone (another output shows INFO)."""
    from llmlog.dispatch import Dispatcher
    from llmlog.testing import ListOutput
    from llmlog_engine_flight import RecorderOutput

    made = []
    for specialise in (True, False):
        fr = FlightRecorder()
        fr.start()
        dispatcher = Dispatcher(
            [ListOutput(Severity.INFO), RecorderOutput(fr)],
            level=Severity.INFO,
            specialise=specialise,
        )
        made.append((fr, llmlog.Logger(Severity.DEBUG, dispatcher=dispatcher).named(name)))
    return made


@pytest.mark.parametrize("traced", [False, True], ids=["outside a trace", "inside a trace"])
def test_a_named_loggers_entries_take_the_flat_function_and_are_recorded_as_by_record_log(
    traced,
):
    # The logger's name goes in after "msg", as record_log writes it; without fields too.
    made = named_loggers("app.db")
    context = (llmlog.with_trace_id("ab" * 16), llmlog.with_span_id("cd" * 8)) if traced else ()
    generic = []

    def profile(frame, what, arg):
        if what == "call" and frame.f_code is llmlog.Logger._log.__code__:
            generic.append(frame)

    try:
        with contextlib.ExitStack() as stack:
            for manager in context:
                stack.enter_context(manager)
            for n in range(3):
                for _, log in made:
                    if n:
                        sys.setprofile(profile)
                    log.debug("query done", rows=n, table="users")
                    log.debug("query done")
                    sys.setprofile(None)
    finally:
        sys.setprofile(None)
        for fr, _ in made:
            fr.stop()
    fast, reference = (
        [{k: v for k, v in json.loads(line).items() if k != "ts"} for line in lines]
        for lines in (
            [
                line
                for c in fr.ring.chunks
                for line in c.data.splitlines()
                if b'"kind":"log"' in line
            ]
            for fr, _ in made
        )
    )
    assert fast == reference and len(fast) == 6
    assert list(fast[0])[:7] == ["kind", "tid", "level", "msg", "logger", "file", "line"]
    assert fast[0]["logger"] == "app.db" and fast[0]["fields"] == {"rows": 0, "table": "users"}
    assert "fields" not in fast[1]
    assert ("trace_id" in fast[0]) is traced
    # After the first round (which teaches the sanitizer the strings), only the reference's
    # entries take the generic path.
    assert len(generic) == 4


@settings(max_examples=40, deadline=None)
@given(
    name=st.one_of(st.sampled_from(["app", "app.db", "a b", "x=1"]), st.text(max_size=12)),
    fields=st.dictionaries(
        st.sampled_from(["n", "user", "ok"]),
        st.one_of(st.integers(), st.text(max_size=8), st.none(), st.booleans()),
        max_size=3,
    ),
)
def test_a_named_loggers_entries_are_recorded_alike_on_both_paths(name, fields):
    made = named_loggers(name)
    try:
        for _ in range(3):
            for _, log in made:
                log.debug("step", **fields)
    finally:
        for fr, _ in made:
            fr.stop()
    fast, reference = (
        [
            {k: v for k, v in json.loads(line).items() if k != "ts"}
            for c in fr.ring.chunks
            for line in c.data.splitlines()
            if b'"kind":"log"' in line
        ]
        for fr, _ in made
    )
    assert fast == reference and len(fast) == 3
